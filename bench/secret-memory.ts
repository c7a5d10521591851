// queryscaler's memory against Secrets that have nothing to do with it (issue 16). For each mode,
// queryscaler runs as its own process on the local control plane with the seed scenario in one
// namespace (one Secret its credentials name) and Ready with its value; RSS is read from /proc once
// settled ("before"), then 300 Secrets of 100 KB each are created in another namespace and RSS is
// read once settled again ("after"); then a second process is started with those Secrets in place
// and its RSS read once settled ("started with them"). Modes: the default (every Secret of the cluster listed and
// watched), --watch-namespaces <the seed's namespace>, and --restrict-secret-access (by name).
//
//   npm run build && node --import tsx bench/secret-memory.ts [--no-write]     (npm run bench:secret-memory)
//
// Prints a table and rewrites its block in bench/RESULTS.md. Everything it starts is stopped on the
// way out, also after an error or Ctrl-C.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import type { ScaledObject } from '../src/api/types.js';
import { KubeApi } from '../src/controller/kube-api.js';
import { createSelfSignedServing } from '../src/tls/certificates.js';
import type { ControlPlane } from '../test/support/control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, installCrds } from '../test/support/kube.js';
import type { MariaDb } from '../test/support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../test/support/seed-scenario.js';
import { runBenchmark, startTestBed, type Cleanup } from './support/harness.js';
import { sampleProcess } from './support/proc-stats.js';
import { counterGrowth } from './support/prometheus-text.js';
import { startQueryscalerProcess } from './support/queryscaler-process.js';
import { sleep, until } from './support/waiting.js';
import { withGeneratedBlock } from './support/results-file.js';
import { forEachLimited } from './support/scale-fixtures.js';
import { markdownTable } from './support/stats.js';

const CRDS_DIR = fileURLToPath(new URL('../crds/', import.meta.url));
const RESULTS_PATH = fileURLToPath(new URL('RESULTS.md', import.meta.url));
const RESULTS_HEADING = '## secret-memory';
const UNRELATED_SECRETS = 300;
/** 75 KiB of random bytes: 100 KiB of base64 in the Secret's data. */
const SECRET_BYTES = 75 * 1024;
const CREATE_CONCURRENCY = 10;
const SETTLE_MS = 15_000;
const MEMORY_PROBE = fileURLToPath(new URL('../dist/bench/support/memory-probe.js', import.meta.url));
/** Compiled, so tsx's own garbage at start does not dwarf the figure (npm run build first). */
const COMPILED_MAIN = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
const READY_GIVE_UP_MS = 120_000;
const SEED = 'mysql-scaledobject';

interface Mode {
  name: string;
  /** For the log file's name. */
  slug: string;
  args: (seedNamespace: string) => string[];
}

const MODES: Mode[] = [
  { name: 'default (every Secret listed and watched)', slug: 'default', args: () => [] },
  { name: '--watch-namespaces <the seed\'s namespace>', slug: 'watch-namespaces', args: (seedNamespace) => ['--watch-namespaces', seedNamespace] },
  { name: '--restrict-secret-access', slug: 'restrict-secret-access', args: () => ['--restrict-secret-access'] },
];
const NAMESPACE_GONE_GIVE_UP_MS = 180_000;

/** RSS and V8 heap in use, in MiB, right after two full garbage collections. */
interface Memory {
  rss: number;
  heapUsed: number;
}

interface CellResult {
  mode: string;
  before: Memory;
  after: Memory;
  /** A second process, started once the unrelated Secrets exist. */
  startedWith: Memory;
  /** Requests on secrets by verb over the whole run of the process, from its own counter. */
  secretRequests: Record<string, number>;
  valueAfter: string | undefined;
}

await runBenchmark(async (cleanup, interrupted) => {
  const write = !parseArgs({ options: { 'no-write': { type: 'boolean', default: false } } }).values['no-write'];
  const startedAt = new Date();
  const { db, cp } = await startTestBed(cleanup);
  await installCrds(cp, CRDS_DIR);
  await createSeedTable(db);
  await setSeedRowCount(db, 12);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'queryscaler-bench-secrets-'));
  cleanup.add('the temporary directory', () => rm(dir, { recursive: true, force: true }));
  const serving = createSelfSignedServing(['queryscaler-metrics-apiserver.default.svc']);
  await writeFile(path.join(dir, 'tls.crt'), serving.certPem);
  await writeFile(path.join(dir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  const api = new KubeApi(cp.kubeConfig);
  cleanup.add('the API client', () => api.close());

  const results: CellResult[] = [];
  for (const mode of MODES) {
    interrupted.throwIfAborted();
    console.log(`\nmode ${mode.name}`);
    results.push(await runCell({ cp, db, api, dir, mode, cleanup, interrupted }));
    console.log(JSON.stringify(results.at(-1)));
  }
  const block = await report(results, cp, startedAt);
  console.log(`\n${block}`);
  if (write) {
    const document = await readFile(RESULTS_PATH, 'utf8').catch(() => '# Benchmark results\n');
    await writeFile(RESULTS_PATH, withGeneratedBlock(document, RESULTS_HEADING, 'secret-memory', block));
    console.log(`\nwrote ${RESULTS_PATH}`);
  }
});

interface CellContext {
  cp: ControlPlane;
  db: MariaDb;
  api: KubeApi;
  dir: string;
  mode: Mode;
  cleanup: Cleanup;
  interrupted: AbortSignal;
}

async function runCell({ cp, db, api, dir, mode, cleanup, interrupted }: CellContext): Promise<CellResult> {
  const seedNamespace = await createTestNamespace(cp, 'mem-seed');
  const unrelatedNamespace = await createTestNamespace(cp, 'mem-unrelated');
  const removeNamespaces = cleanup.add('the namespaces of this mode', () => deleteNamespaces(cp, [seedNamespace, unrelatedNamespace], interrupted));
  await applyYaml(cp, toYaml([...seedStatefulSetObjects(), ...seedKedaObjects(db)]), seedNamespace);

  const probeFile = path.join(dir, 'memory.json');
  const start = (run: string) =>
    startQueryscalerProcess({
      main: COMPILED_MAIN,
      kubeconfigPath: cp.kubeconfigPath,
      tlsCertFile: path.join(dir, 'tls.crt'),
      tlsKeyFile: path.join(dir, 'tls.key'),
      flags: ['--log-level', 'warn', ...mode.args(seedNamespace)],
      logPath: path.join(dir, `queryscaler-${mode.slug}-${run}.log`),
      interrupted,
      nodeArgs: ['--expose-gc', '--import', MEMORY_PROBE],
      env: { QUERYSCALER_MEMORY_PROBE: probeFile },
    });
  const value = async (): Promise<string | undefined> => {
    const so = await api.request<ScaledObject>('get', `/apis/keda.sh/v1alpha1/namespaces/${seedNamespace}/scaledobjects/${SEED}`);
    return so.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? so.status.lastMetricValue : undefined;
  };
  const ready = () => until(async () => (await value()) === '2', READY_GIVE_UP_MS, `${SEED} Ready with value 2`, interrupted);

  const app = await start('running');
  const stopApp = cleanup.add('queryscaler', () => app.stop());
  await ready();
  await sleep(SETTLE_MS, interrupted);
  const before = await memoryOf(app.pid, probeFile, interrupted);
  const indexes = Array.from({ length: UNRELATED_SECRETS }, (_, i) => i);
  await forEachLimited(indexes, CREATE_CONCURRENCY, async (i) => {
    interrupted.throwIfAborted();
    await api.request('create', `/api/v1/namespaces/${unrelatedNamespace}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: `unrelated-${i}` }, data: { blob: randomBytes(SECRET_BYTES).toString('base64') } },
    });
  });
  console.log(`  ${UNRELATED_SECRETS} Secrets of ${(SECRET_BYTES * 4) / 3 / 1024} KiB created in ${unrelatedNamespace}`);
  await sleep(SETTLE_MS, interrupted);
  const after = await memoryOf(app.pid, probeFile, interrupted);
  const secretRequests = counterGrowth([], (await app.scrape()).filter((s) => s.labels['resource'] === 'secrets'), 'queryscaler_kube_api_requests_total', 'verb');
  const valueAfter = await value();
  await stopApp();

  const second = await start('started-with');
  const stopSecond = cleanup.add('queryscaler, second start', () => second.stop());
  await ready();
  await sleep(SETTLE_MS, interrupted);
  const startedWith = await memoryOf(second.pid, probeFile, interrupted);
  await stopSecond();
  await removeNamespaces();
  return { mode: mode.name, before, after, startedWith, secretRequests, valueAfter };
}

/** Asks the process's memory probe (SIGUSR2) for its memory after two full collections. */
async function memoryOf(pid: number, probeFile: string, interrupted: AbortSignal): Promise<Memory> {
  await rm(probeFile, { force: true });
  process.kill(pid, 'SIGUSR2');
  let usage: NodeJS.MemoryUsage | undefined;
  await until(async () => {
    usage = JSON.parse(await readFile(probeFile, 'utf8')) as NodeJS.MemoryUsage;
    return true;
  }, 10_000, `the memory probe of process ${pid}`, interrupted);
  // RSS as /proc has it now, after the collections (the probe's own figure is from the same moment).
  const rss = (await sampleProcess(pid)).rssBytes;
  return { rss: rss / 2 ** 20, heapUsed: usage!.heapUsed / 2 ** 20 };
}

/** Deleted and gone, so the next mode's default informer would not list a Secret of this one. */
async function deleteNamespaces(cp: ControlPlane, names: readonly string[], interrupted: AbortSignal): Promise<void> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  // deleteTestNamespace also lets go of the ScaledObjects, whose finalizer no queryscaler removes now.
  for (const name of names) await deleteTestNamespace(cp, name);
  for (const name of names) {
    await until(() => core.readNamespace({ name }).then(() => false, () => true), NAMESPACE_GONE_GIVE_UP_MS, `namespace ${name} gone`, interrupted);
  }
}

async function report(results: readonly CellResult[], cp: ControlPlane, startedAt: Date): Promise<string> {
  const cpus = os.cpus();
  const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
  const header = [
    `Run ${startedAt.toISOString()}. Machine: ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} at the end. Node ${process.version}, Kubernetes ${version.gitVersion}.`,
    '',
    'queryscaler as its own process (dist/src/main.js, as the image runs it) with the seed scenario Ready (one Secret its credentials name). ' +
      'Each figure is taken right after two full garbage collections (bench/support/memory-probe.ts, on SIGUSR2): V8 heap in use ' +
      '(process.memoryUsage().heapUsed) and RSS (/proc VmRSS). ' +
      `"Before": ${SETTLE_MS / 1000} s after the ScaledObject was Ready; "after": ${SETTLE_MS / 1000} s after ${UNRELATED_SECRETS} Secrets of 100 KiB ` +
      'were created in another namespace, same process; "started with them": a second process started with those Secrets in place, ' +
      `${SETTLE_MS / 1000} s after Ready. Requests on secrets: the first process's own counter over its life, by verb.`,
  ].join('\n');
  const table = markdownTable(
    ['mode', 'heap before MiB', 'after', 'started with them', 'RSS before MiB', 'after', 'started with them', 'requests on secrets', 'value after'],
    results.map((r) => [
      r.mode,
      r.before.heapUsed.toFixed(1),
      `${r.after.heapUsed.toFixed(1)} (${signed(r.after.heapUsed - r.before.heapUsed)})`,
      `${r.startedWith.heapUsed.toFixed(1)} (${signed(r.startedWith.heapUsed - r.before.heapUsed)})`,
      r.before.rss.toFixed(1),
      `${r.after.rss.toFixed(1)} (${signed(r.after.rss - r.before.rss)})`,
      `${r.startedWith.rss.toFixed(1)} (${signed(r.startedWith.rss - r.before.rss)})`,
      Object.entries(r.secretRequests).filter(([, n]) => n > 0).map(([verb, n]) => `${verb} ${n}`).join(', ') || 'none',
      r.valueAfter ?? 'not Ready',
    ]),
  );
  return [header, '', table].join('\n');
}

function signed(mib: number): string {
  return `${mib >= 0 ? '+' : ''}${mib.toFixed(1)}`;
}
