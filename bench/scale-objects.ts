// Hundreds of ScaledObjects on one small machine (issue 9). One run starts a throwaway MariaDB (the
// seed table with one row, so the seed query gives 1) and the local control plane with the HPA
// controller, then for each cell (N, mode) runs queryscaler as a separate process (so its RSS and
// CPU can be read from /proc), applies N StatefulSets at 2 replicas and N ScaledObjects at once, and
// measures: time to all Ready with their HPAs; at steady state (every HPA has moved its target to 1)
// over a window, poll lag p50/p99, API requests per second by verb, status writes, MySQL server
// connections and statements of queryscaler's user, RSS and CPU of queryscaler and kube-apiserver;
// then deletes all N at once and counts the StatefulSets back at 2 after two HPA syncs.
//
//   node --import tsx bench/scale-objects.ts [--n 100,300,1000] [--mode seed,distinct] [--qps 100 --burst 200]
//
// `seed`: every ScaledObject runs the seed query; `distinct`: each its own (same value). Prints a table
// and rewrites its block in bench/RESULTS.md. Everything it starts is stopped on the way out, also
// after an error or Ctrl-C.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AppsV1Api, AutoscalingV2Api, CustomObjectsApi, KubernetesObjectApi, VersionApi, type KubernetesObject } from '@kubernetes/client-node';
import type { ScaledObject } from '../src/api/types.js';
import { createSelfSignedServing } from '../src/tls/certificates.js';
import type { ControlPlane } from '../test/support/control-plane.js';
import { createTestNamespace, installCrds, registerExternalMetricsApi, unregisterExternalMetricsApi } from '../test/support/kube.js';
import type { MariaDb } from '../test/support/mariadb.js';
import { createSeedReader, createSeedTable, setSeedRowCount } from '../test/support/seed-scenario.js';
import { cpuShare, findPid, sampleProcess, type ProcessSample } from './support/proc-stats.js';
import { counterGrowth, histogramWindow, type Sample } from './support/prometheus-text.js';
import { startQueryscalerProcess, type QueryscalerProcess } from './support/queryscaler-process.js';
import { withGeneratedBlock } from './support/results-file.js';
import {
  credentialObjects,
  forEachLimited,
  scaledObjectName,
  scaledObjectObject,
  statefulSetName,
  statefulSetObject,
  type ScaleFixtureOptions,
} from './support/scale-fixtures.js';
import { markdownTable } from './support/stats.js';
import { DEFAULT_API_BURST, DEFAULT_API_QPS } from '../src/controller/kube-api.js';
import { runBenchmark, startTestBed, type Cleanup } from './support/harness.js';
import { deleteNamespaceAndWait } from './support/namespaces.js';
import { sleep, until } from './support/waiting.js';

const CRDS_DIR = fileURLToPath(new URL('../crds/', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const RESULTS_PATH = fileURLToPath(new URL('RESULTS.md', import.meta.url));
const RESULTS_HEADING = '## scale-objects';
const METRICS_SERVICE = { serviceName: 'queryscaler-metrics-apiserver', serviceNamespace: 'default' };
const DB_USER = 'qs_bench';
const DB_PASSWORD = 'qs-bench-pw-5521';
const POOL_SIZE = 4;
const ORIGINAL_REPLICAS = 2;
const SCALED_REPLICAS = 1;
const READY_TARGET_MS = 30_000;
const POLL_LAG_P99_TARGET_MS = 100;
const READY_GIVE_UP_MS = 300_000;
const STEADY_GIVE_UP_MS = 180_000;
const STEADY_WINDOW_MS = 20_000;
const DELETE_GIVE_UP_MS = 300_000;
const TWO_HPA_SYNCS_MS = 5_000;
const CREATE_CONCURRENCY = 20;
const WRITE_VERBS = ['create', 'update', 'patch', 'delete'];

interface Options {
  ns: number[];
  modes: Array<ScaleFixtureOptions['mode']>;
  qps: number;
  burst: number;
  write: boolean;
}

interface CellResult {
  n: number;
  mode: ScaleFixtureOptions['mode'];
  readyMs: number;
  steadyMs: number;
  lagCount: number;
  lagP50Ms: number;
  lagP99Ms: number;
  requestsPerSecond: Record<string, number>;
  statusWrites: number;
  writesInWindow: Record<string, number>;
  readsInWindow: Record<string, number>;
  mostConnections: number;
  statementsPerSecond: number;
  queryRunsPerSecond: number;
  queryscaler: { rssMiB: number; peakRssMiB: number; cpu: number };
  apiServer: { rssMiB: number; cpu: number };
  deleteMs: number;
  restored: number;
  restoredAfterSyncs: number;
  hpasLeft: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: { n: { type: 'string' }, mode: { type: 'string' }, qps: { type: 'string' }, burst: { type: 'string' } },
    strict: true,
  });
  const ns = (values.n ?? '100,300,1000').split(',').map((s) => Number(s.trim()));
  if (ns.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--n: give whole numbers >= 1 separated by commas, got "${values.n}"`);
  const modes = (values.mode ?? 'seed,distinct').split(',').map((s) => s.trim());
  const unknown = modes.filter((m) => m !== 'seed' && m !== 'distinct');
  if (unknown.length > 0) throw new Error(`--mode: unknown ${unknown.join(', ')}; give seed, distinct or both separated by a comma`);
  const qps = Number(values.qps ?? DEFAULT_API_QPS);
  const burst = Number(values.burst ?? DEFAULT_API_BURST);
  return { ns, modes: modes as Options['modes'], qps, burst, write: true };
}

async function main(): Promise<void> {
  const chosen = options();
  await runBenchmark((cleanup, interrupted) => run(chosen, cleanup, interrupted));
}

async function run(chosen: Options, cleanup: Cleanup, interrupted: AbortSignal): Promise<void> {
  const startedAt = new Date();
  const { db, cp } = await startTestBed(cleanup);
  interrupted.throwIfAborted();

  await installCrds(cp, CRDS_DIR);
  await createSeedTable(db);
  await setSeedRowCount(db, 1);
  await createSeedReader(db, DB_USER, DB_PASSWORD);
  const apiServerPid = await findPid(['kube-apiserver', cp.dir]);
  if (apiServerPid === undefined) throw new Error(`no kube-apiserver process with ${cp.dir} in its command line`);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'queryscaler-bench-scale-'));
  cleanup.add('the temporary directory', () => rm(dir, { recursive: true, force: true }));
  const serving = createSelfSignedServing([`${METRICS_SERVICE.serviceName}.${METRICS_SERVICE.serviceNamespace}.svc`]);
  await writeFile(path.join(dir, 'tls.crt'), serving.certPem);
  await writeFile(path.join(dir, 'tls.key'), serving.keyPem, { mode: 0o600 });

  const results: CellResult[] = [];
  for (const n of chosen.ns) {
    for (const mode of chosen.modes) {
      interrupted.throwIfAborted();
      console.log(`\ncell N=${n} mode=${mode}`);
      results.push(await runCell({ cp, db, n, mode, dir, caPem: serving.caPem, apiServerPid, qps: chosen.qps, burst: chosen.burst, cleanup, interrupted }));
      console.log(JSON.stringify(results.at(-1)));
    }
  }

  const block = await report(results, chosen, db, cp, startedAt);
  console.log(`\n${block}`);
  if (chosen.write) {
    const document = await readFile(RESULTS_PATH, 'utf8').catch(() => '# Benchmark results\n');
    await writeFile(RESULTS_PATH, withGeneratedBlock(document, RESULTS_HEADING, 'scale-objects', block));
    console.log(`\nwrote ${RESULTS_PATH}`);
  }
}

interface CellContext {
  cp: ControlPlane;
  db: MariaDb;
  n: number;
  mode: ScaleFixtureOptions['mode'];
  dir: string;
  /** CA of queryscaler's serving certificate, for the APIService caBundle. */
  caPem: string;
  apiServerPid: number;
  qps: number;
  burst: number;
  cleanup: Cleanup;
  interrupted: AbortSignal;
}

async function runCell(cell: CellContext): Promise<CellResult> {
  const { cp, db, n, mode, cleanup, interrupted } = cell;
  const indexes = Array.from({ length: n }, (_, i) => i);
  const namespace = await createTestNamespace(cp, `scale-${n}-${mode}`);
  const dropNamespace = cleanup.add(`namespace ${namespace}`, () => deleteNamespaceAndWait(cp, namespace));
  const client = KubernetesObjectApi.makeApiClient(cp.kubeConfig);
  const create = async (object: KubernetesObject): Promise<void> => {
    interrupted.throwIfAborted();
    await client.create(object);
  };
  for (const object of credentialObjects(namespace, { host: db.host, port: db.port, user: DB_USER, password: DB_PASSWORD })) await create(object);
  console.log(`  creating ${n} StatefulSets at ${ORIGINAL_REPLICAS} replicas...`);
  await forEachLimited(indexes, CREATE_CONCURRENCY, (i) => create(statefulSetObject(namespace, i, ORIGINAL_REPLICAS)));

  const app = await startQueryscaler(cell);
  const stopApp = cleanup.add('the queryscaler process', () => app.stop());
  await registerExternalMetricsApi(cp, { port: app.metricsPort, caBundlePem: cell.caPem, ...METRICS_SERVICE });
  const unregister = cleanup.add('the external metrics APIService', () => unregisterExternalMetricsApi(cp, METRICS_SERVICE));

  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const listScaledObjects = async (): Promise<ScaledObject[]> =>
    ((await custom.listNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects' })) as { items: ScaledObject[] }).items;
  const hpaCount = async (): Promise<number> =>
    (await cp.kubeConfig.makeApiClient(AutoscalingV2Api).listNamespacedHorizontalPodAutoscaler({ namespace })).items.length;
  const replicas = async (): Promise<number[]> => {
    const list = await cp.kubeConfig.makeApiClient(AppsV1Api).listNamespacedStatefulSet({ namespace });
    const byName = new Map(list.items.map((s) => [s.metadata?.name ?? '', s.spec?.replicas ?? -1]));
    return indexes.map((i) => byName.get(statefulSetName(i)) ?? -1);
  };

  console.log(`  creating ${n} ScaledObjects at once...`);
  const started = performance.now();
  await forEachLimited(indexes, CREATE_CONCURRENCY, (i) => create(scaledObjectObject({ namespace, mode, originalReplicas: ORIGINAL_REPLICAS }, i)));
  await until(
    async () => (await listScaledObjects()).filter((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length === n && (await hpaCount()) === n,
    READY_GIVE_UP_MS,
    `all ${n} ScaledObjects Ready with their HPAs`,
    interrupted,
  );
  const readyMs = performance.now() - started;
  console.log(`  all Ready after ${(readyMs / 1000).toFixed(1)} s; waiting for the HPAs to move every StatefulSet to ${SCALED_REPLICAS}...`);
  await until(async () => (await replicas()).every((r) => r === SCALED_REPLICAS), STEADY_GIVE_UP_MS, `every StatefulSet at ${SCALED_REPLICAS}`, interrupted);
  await until(
    async () => (await listScaledObjects()).every((so) => so.status?.lastMetricValue === '1' && so.status.conditions?.some((c) => c.type === 'Active' && c.status === 'True')),
    STEADY_GIVE_UP_MS,
    'every status showing value 1 and Active=True',
    interrupted,
  );
  const steadyMs = performance.now() - started;

  console.log(`  steady after ${(steadyMs / 1000).toFixed(1)} s; measuring ${STEADY_WINDOW_MS / 1000} s...`);
  const window = await measureSteadyWindow(cell, app);

  console.log(`  deleting all ${n} ScaledObjects at once...`);
  const deleting = performance.now();
  await forEachLimited(indexes, CREATE_CONCURRENCY, async (i) => {
    await custom.deleteNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: scaledObjectName(i) });
  });
  await until(async () => (await listScaledObjects()).length === 0, DELETE_GIVE_UP_MS, `all ${n} ScaledObjects gone`, interrupted);
  const deleteMs = performance.now() - deleting;
  const restored = (await replicas()).filter((r) => r === ORIGINAL_REPLICAS).length;
  const hpasLeft = await hpaCount();
  await sleep(TWO_HPA_SYNCS_MS);
  const restoredAfterSyncs = (await replicas()).filter((r) => r === ORIGINAL_REPLICAS).length;

  await unregister();
  await stopApp();
  await dropNamespace();
  return { n, mode, readyMs, steadyMs, ...window, deleteMs, restored, restoredAfterSyncs, hpasLeft };
}

async function measureSteadyWindow(
  cell: CellContext,
  app: QueryscalerProcess,
): Promise<Omit<CellResult, 'n' | 'mode' | 'readyMs' | 'steadyMs' | 'deleteMs' | 'restored' | 'restoredAfterSyncs' | 'hpasLeft'>> {
  const { db } = cell;
  let most = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, await db.threadsConnected(DB_USER));
      await sleep(250);
    }
  })();
  await db.query('TRUNCATE mysql.general_log');
  await db.query("SET GLOBAL log_output = 'TABLE'");
  const metricsBefore = await app.scrape();
  const qsBefore = await sampleProcess(app.pid);
  const apiBefore = await sampleProcess(cell.apiServerPid);
  await db.query('SET GLOBAL general_log = ON');
  const windowStart = performance.now();
  try {
    await sleep(STEADY_WINDOW_MS, cell.interrupted);
  } finally {
    await db.query('SET GLOBAL general_log = OFF');
    sampling = false;
    await sampler;
  }
  const seconds = (performance.now() - windowStart) / 1000;
  const metricsAfter = await app.scrape();
  const qsAfter = await sampleProcess(app.pid);
  const apiAfter = await sampleProcess(cell.apiServerPid);

  const statements = await db.query<Array<{ n: number }>>(
    "SELECT COUNT(*) AS n FROM mysql.general_log WHERE user_host LIKE ? AND command_type = 'Query'",
    [`${DB_USER}[%`],
  );
  // A query run is one statement: SET STATEMENT max_statement_time=... FOR <the SELECT>.
  const runs = await db.query<Array<{ n: number }>>(
    "SELECT COUNT(*) AS n FROM mysql.general_log WHERE user_host LIKE ? AND command_type = 'Query' AND argument LIKE '%SELECT CEIL(COUNT(*) / 6)%'",
    [`${DB_USER}[%`],
  );
  await db.query('TRUNCATE mysql.general_log');

  const lag = histogramWindow(metricsBefore, metricsAfter, 'queryscaler_poll_lag_seconds');
  const byVerb = counterGrowth(metricsBefore, metricsAfter, 'queryscaler_kube_api_requests_total', 'verb');
  const byResource = counterGrowth(
    metricsBefore.filter((s) => WRITE_VERBS.includes(s.labels.verb ?? '')),
    metricsAfter.filter((s) => WRITE_VERBS.includes(s.labels.verb ?? '')),
    'queryscaler_kube_api_requests_total',
    'resource',
  );
  const reads = (samples: readonly Sample[]): Sample[] => samples.filter((s) => s.labels.verb === 'get' || s.labels.verb === 'list');
  const readsInWindow = counterGrowth(reads(metricsBefore), reads(metricsAfter), 'queryscaler_kube_api_requests_total', 'resource');
  const statusWrites = Object.values(
    counterGrowth(
      metricsBefore.filter((s) => s.labels.resource === 'scaledobjects/status'),
      metricsAfter.filter((s) => s.labels.resource === 'scaledobjects/status'),
      'queryscaler_kube_api_requests_total',
      'verb',
    ),
  ).reduce((a, b) => a + b, 0);
  return {
    lagCount: lag.count,
    lagP50Ms: lag.upperBound(0.5) * 1000,
    lagP99Ms: lag.upperBound(0.99) * 1000,
    requestsPerSecond: Object.fromEntries(Object.entries(byVerb).map(([verb, count]) => [verb, count / seconds])),
    statusWrites,
    writesInWindow: byResource,
    readsInWindow,
    mostConnections: most,
    statementsPerSecond: Number(statements[0]?.n) / seconds,
    queryRunsPerSecond: Number(runs[0]?.n) / seconds,
    queryscaler: { rssMiB: mib(qsAfter), peakRssMiB: qsAfter.peakRssBytes / 2 ** 20, cpu: cpuShare(qsBefore, qsAfter) },
    apiServer: { rssMiB: mib(apiAfter), cpu: cpuShare(apiBefore, apiAfter) },
  };
}

function startQueryscaler(cell: CellContext): Promise<QueryscalerProcess> {
  return startQueryscalerProcess({
    main: MAIN,
    kubeconfigPath: cell.cp.kubeconfigPath,
    tlsCertFile: path.join(cell.dir, 'tls.crt'),
    tlsKeyFile: path.join(cell.dir, 'tls.key'),
    flags: ['--mysql-pool-size', String(POOL_SIZE), '--kube-api-qps', String(cell.qps), '--kube-api-burst', String(cell.burst), '--log-level', 'warn'],
    logPath: path.join(cell.dir, `queryscaler-${cell.n}-${cell.mode}.log`),
    interrupted: cell.interrupted,
  });
}

async function report(results: readonly CellResult[], chosen: Options, db: MariaDb, cp: ControlPlane, startedAt: Date): Promise<string> {
  const cpus = os.cpus();
  const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
  const mariaDb = (await db.query<Array<{ v: string }>>('SELECT VERSION() AS v'))[0]?.v ?? '?';
  const header = [
    `Run ${startedAt.toISOString()}. Machine: ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} at the end. Node ${process.version}, MariaDB ${mariaDb}, Kubernetes ${version.gitVersion}.`,
    '',
    `queryscaler as its own process: --kube-api-qps ${chosen.qps} --kube-api-burst ${chosen.burst} --mysql-pool-size ${POOL_SIZE}, 4 reconcile workers. ` +
      `N StatefulSets at ${ORIGINAL_REPLICAS} replicas, then N ScaledObjects created at once (${CREATE_CONCURRENCY} requests in parallel): pollingInterval 1, ` +
      `min 1, max 10, restoreToOriginalReplicaCount, the seed query on one row (value 1, so every HPA scales its StatefulSet to ${SCALED_REPLICAS}). ` +
      `Steady window ${STEADY_WINDOW_MS / 1000} s once every StatefulSet is at ${SCALED_REPLICAS} and every status shows the value. ` +
      'Poll lag: the upper bound of the histogram bucket holding the percentile. MySQL: statements of queryscaler\'s own user (general log), a query run being one SELECT ' +
      '(with its statement time limit). CPU: share of one core over the window, from /proc.',
  ].join('\n');
  const rows = results.map((r) => [
    String(r.n),
    r.mode,
    (r.readyMs / 1000).toFixed(1),
    `${fmt(r.lagP50Ms)} / ${fmt(r.lagP99Ms)}`,
    Object.entries(r.requestsPerSecond)
      .map(([verb, perSecond]) => `${verb} ${perSecond.toFixed(2)}`)
      .join(', ') || '0',
    String(r.statusWrites),
    String(r.mostConnections),
    r.queryRunsPerSecond.toFixed(1),
    `${r.queryscaler.rssMiB.toFixed(0)} (${r.queryscaler.peakRssMiB.toFixed(0)})`,
    `${(r.queryscaler.cpu * 100).toFixed(0)} %`,
    `${r.apiServer.rssMiB.toFixed(0)} / ${(r.apiServer.cpu * 100).toFixed(0)} %`,
    `${r.restoredAfterSyncs}/${r.n} (${(r.deleteMs / 1000).toFixed(1)} s)`,
  ]);
  const table = markdownTable(
    ['N', 'queries', 'all Ready s', 'poll lag p50 / p99 ms', 'API req/s at steady state', 'status writes in window', 'MySQL conns (max)', 'query runs/s', 'queryscaler RSS MiB (peak)', 'queryscaler CPU', 'kube-apiserver RSS MiB / CPU', 'restored after 2 HPA syncs (delete took)'],
    rows,
  );
  const verdicts = results.map((r) => {
    const checks = [
      `connections ${r.mostConnections} <= ${POOL_SIZE}: ${r.mostConnections <= POOL_SIZE ? 'met' : 'MISSED'}`,
      `status writes while steady ${r.statusWrites}: ${r.statusWrites === 0 ? 'met' : 'MISSED'}`,
      `restored ${r.restoredAfterSyncs}/${r.n}: ${r.restoredAfterSyncs === r.n ? 'met' : 'MISSED'}`,
    ];
    if (r.n === 300) checks.push(`all Ready ${(r.readyMs / 1000).toFixed(1)} s <= ${READY_TARGET_MS / 1000} s: ${r.readyMs <= READY_TARGET_MS ? 'met' : 'MISSED'}`);
    if (r.n >= 1000) checks.push(`poll lag p99 <= ${fmt(r.lagP99Ms)} ms < ${POLL_LAG_P99_TARGET_MS} ms: ${r.lagP99Ms < POLL_LAG_P99_TARGET_MS ? 'met' : 'MISSED'}`);
    return `- N=${r.n} ${r.mode}: ${checks.join('; ')}. Requests in the window by resource: writes ${JSON.stringify(r.writesInWindow)}, reads ${JSON.stringify(r.readsInWindow)}.`;
  });
  return [header, '', table, '', 'Targets:', '', ...verdicts].join('\n');
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? String(Number(ms.toFixed(1))) : '>5000';
}

function mib(sample: ProcessSample): number {
  return sample.rssBytes / 2 ** 20;
}

await main();
