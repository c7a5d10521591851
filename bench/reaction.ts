// How soon a change in the data moves the scale target, against the ideal, and what answering the
// HPA with fresh values costs (issue 17). One run starts a throwaway MariaDB (the seed table) and
// the local control plane with the HPA controller syncing every 15 s, its default. Then for each
// build of queryscaler (the tree of --baseline <git ref> first, when given, then this worktree),
// run as its own process with its debug log read line by line (each metric request's arrival):
//
// 1. Reaction: the seed scenario (manifests/examples: pollingInterval 1, the seed query, queryValue
//    3; the scale-down window set to 0 so each sample can start from 1 replica again) at 1 row,
//    value 1, 1 replica. For each offset, the INSERT of rows 2..500 (value 84) is committed that long
//    before the HPA's predicted next metric request (predicted from the arrivals of its earlier
//    ones), and the sample is: from the commit to the StatefulSet's spec.replicas changing (a
//    watch), against the ideal: from the commit to the HPA's first metric request after it. Then
//    back to 1 row and 1 replica.
// 2. Latency: the metric through kube-apiserver and the aggregator (HTTPS with the admin client
//    certificate, as kubectl get --raw does), 1 and 8 clients.
// 3. Load: N ScaledObjects on the seed query (pollingInterval 1), MySQL query runs and HPA metric
//    requests per second over two HPA periods (MariaDB's general log, queryscaler's log).
//
//   node --import tsx bench/reaction.ts [--baseline <git ref>] [--offsets 14,12,...] [--n 300] [--queryscaler-flags="--metric-freshness-ms 1000"] (with =: the value starts with a dash)
//
// A run with the default offsets and N rewrites its block in bench/RESULTS.md.
// Everything it starts is stopped on the way out, also after an error or Ctrl-C.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AppsV1Api,
  AutoscalingV2Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  VersionApi,
  Watch,
  type KubernetesObject,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import type { ScaledObject } from '../src/api/types.js';
import { DEFAULT_FRESHNESS_MS } from '../src/metric-cache/metric-cache.js';
import { createSelfSignedServing } from '../src/tls/certificates.js';
import type { ControlPlane } from '../test/support/control-plane.js';
import { queriesSentBy } from '../test/support/general-log.js';
import { applyYaml, createTestNamespace, installCrds, registerExternalMetricsApi, unregisterExternalMetricsApi } from '../test/support/kube.js';
import type { MariaDb } from '../test/support/mariadb.js';
import { createSeedReader, createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../test/support/seed-scenario.js';
import { runBenchmark, startTestBed, type Cleanup } from './support/harness.js';
import type { CellRequest } from './support/load-client.js';
import { awaitWorkerMessage, startLoadClient } from './support/load-worker.js';
import { startQueryscalerProcess } from './support/queryscaler-process.js';
import { firstAfter, metricRequestArrival, nextSyncAt, sampleVerdict, syncPeriodMs, type ReactionSample } from './support/reaction-timing.js';
import { withGeneratedBlock } from './support/results-file.js';
import { credentialObjects, forEachLimited, scaledObjectObject, statefulSetObject } from './support/scale-fixtures.js';
import { formatMs, markdownTable, summarize, type LatencySummary } from './support/stats.js';
import { deleteNamespaceAndWait } from './support/namespaces.js';
import { sleep, until } from './support/waiting.js';
import type { Worker } from 'node:worker_threads';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CRDS_DIR = fileURLToPath(new URL('../crds/', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const RESULTS_PATH = fileURLToPath(new URL('RESULTS.md', import.meta.url));
const RESULTS_HEADING = '## reaction';
const METRICS_SERVICE = { serviceName: 'queryscaler-metrics-apiserver', serviceNamespace: 'default' };
const HPA_SYNC_SECONDS = 15;
const METRIC = 's0-mysql-testdb';
const SEED_SO = 'mysql-scaledobject';
/** Seconds before the HPA's predicted request: spread over its period, three within the last second, one inside the freshness bound. */
const DEFAULT_OFFSETS_S = [14, 12, 10, 8, 6, 4, 2, 1, 0.6, 0.35, 0.1];
const DEFAULT_N = 300;
const TARGET_BEHIND_MS = 500;
/** Rows 1..500 give CEIL(500 / 6) = 84; the HPA wants 28 replicas and its default scale-up policy allows 5 from 1. */
const HIGH_ROWS = 500;
/** The INSERT may land no sooner than this after the bench decided where it goes. */
const COMMIT_LEAD_MS = 300;
const DB_USER = 'qs_reaction';
const DB_PASSWORD = 'qs-reaction-pw-4417';
const LOAD_WINDOW_MS = 2 * HPA_SYNC_SECONDS * 1000;
const SETTLE_GIVE_UP_MS = 120_000;
const REACTION_GIVE_UP_MS = 3 * HPA_SYNC_SECONDS * 1000;
const LOG_LINE_GIVE_UP_MS = 10_000;
const READY_GIVE_UP_MS = 300_000;
const CREATE_CONCURRENCY = 20;
const LATENCY_CONCURRENCIES = [1, 8];

interface Options {
  baseline?: string;
  offsetsMs: number[];
  n: number;
  /** More queryscaler flags, e.g. --metric-freshness-ms 1000. */
  flags: string[];
  write: boolean;
}

interface Build {
  label: string;
  main: string;
}

interface LatencyRow {
  concurrency: number;
  summary: LatencySummary;
}

interface LoadResult {
  n: number;
  requestsPerSecond: number;
  queriesPerSecond: number;
}

interface BuildResult {
  build: Build;
  periodMs: number;
  samples: ReactionSample[];
  latency: LatencyRow[];
  load: LoadResult;
}

function options(): Options {
  const { values } = parseArgs({
    options: { baseline: { type: 'string' }, offsets: { type: 'string' }, n: { type: 'string' }, 'queryscaler-flags': { type: 'string' } },
    strict: true,
  });
  const offsets = values.offsets === undefined ? DEFAULT_OFFSETS_S : values.offsets.split(',').map((s) => Number(s.trim()));
  if (offsets.some((o) => !(o > 0 && o < HPA_SYNC_SECONDS))) {
    throw new Error(`--offsets: give seconds before the HPA's sync, each above 0 and below ${HPA_SYNC_SECONDS}, separated by commas; got "${values.offsets}"`);
  }
  const n = Number(values.n ?? DEFAULT_N);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n: give a whole number >= 1, got "${values.n}"`);
  return {
    ...(values.baseline !== undefined && { baseline: values.baseline }),
    offsetsMs: offsets.map((o) => o * 1000),
    n,
    flags: (values['queryscaler-flags'] ?? '').split(/\s+/).filter((f) => f !== ''),
    write: values.offsets === undefined && values.n === undefined && values['queryscaler-flags'] === undefined,
  };
}

async function main(): Promise<void> {
  const chosen = options();
  await runBenchmark((cleanup, interrupted) => run(chosen, cleanup, interrupted));
}

async function run(chosen: Options, cleanup: Cleanup, interrupted: AbortSignal): Promise<void> {
  const startedAt = new Date();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'queryscaler-bench-reaction-'));
  cleanup.add('the temporary directory', () => rm(dir, { recursive: true, force: true }));
  const builds: Build[] = [];
  if (chosen.baseline !== undefined) builds.push(await baselineBuild(chosen.baseline, dir));
  builds.push({ label: 'this tree', main: MAIN });

  const { db, cp } = await startTestBed(cleanup, { hpaSyncPeriodSeconds: HPA_SYNC_SECONDS });
  interrupted.throwIfAborted();
  await installCrds(cp, CRDS_DIR);
  await createSeedTable(db);
  await setSeedRowCount(db, 1);
  await createSeedReader(db, DB_USER, DB_PASSWORD);
  const serving = createSelfSignedServing([`${METRICS_SERVICE.serviceName}.${METRICS_SERVICE.serviceNamespace}.svc`]);
  await writeFile(path.join(dir, 'tls.crt'), serving.certPem);
  await writeFile(path.join(dir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  const worker = startLoadClient();
  cleanup.add('the load client worker', async () => {
    await worker.terminate();
  });
  await awaitWorkerMessage(worker, 'ready', interrupted);

  const results: BuildResult[] = [];
  for (const [index, build] of builds.entries()) {
    console.log(`\nbuild: ${build.label}`);
    const context: BuildContext = { cp, db, dir, caPem: serving.caPem, build, index, flags: chosen.flags, cleanup, interrupted, arrivals: new Map() };
    results.push(await measureBuild(context, chosen, worker));
  }

  const block = await report(results, chosen, db, cp, startedAt);
  console.log(`\n${block}`);
  if (!chosen.write) {
    console.log('\n(bench/RESULTS.md is written only by a run with the default offsets and N)');
    return;
  }
  const document = await readFile(RESULTS_PATH, 'utf8').catch(() => '# Benchmark results\n');
  await writeFile(RESULTS_PATH, withGeneratedBlock(document, RESULTS_HEADING, 'reaction', block));
  console.log(`\nwrote ${RESULTS_PATH}`);
}

/** The tree of `ref` (git archive), with this worktree's node_modules, so its src/main.ts runs as it is. */
async function baselineBuild(ref: string, dir: string): Promise<Build> {
  const commit = (await command('git', ['-C', REPO, 'rev-parse', '--verify', `${ref}^{commit}`])).trim();
  const tree = path.join(dir, `baseline-${commit.slice(0, 12)}`);
  await command('mkdir', ['-p', tree]);
  await command('sh', ['-c', `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, 'sh', REPO, commit, tree]);
  await symlink(path.join(REPO, 'node_modules'), path.join(tree, 'node_modules'));
  return { label: `${ref} (${commit.slice(0, 7)})`, main: path.join(tree, 'src', 'main.ts') };
}

function command(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${file} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`))));
  });
}

interface BuildContext {
  cp: ControlPlane;
  db: MariaDb;
  dir: string;
  caPem: string;
  build: Build;
  index: number;
  flags: string[];
  cleanup: Cleanup;
  interrupted: AbortSignal;
  /** Metric request arrivals (epoch ms) per namespace, from queryscaler's log. */
  arrivals: Map<string, number[]>;
}

async function measureBuild(context: BuildContext, chosen: Options, worker: Worker): Promise<BuildResult> {
  const { cp, cleanup } = context;
  const reactionNs = await createTestNamespace(cp, `reaction-${context.index}`);
  const loadNs = await createTestNamespace(cp, `load-${context.index}`);
  const watched = [reactionNs, loadNs];
  const app = await startQueryscalerProcess({
    main: context.build.main,
    kubeconfigPath: cp.kubeconfigPath,
    tlsCertFile: path.join(context.dir, 'tls.crt'),
    tlsKeyFile: path.join(context.dir, 'tls.key'),
    flags: ['--log-level', 'debug', ...context.flags],
    logPath: path.join(context.dir, `queryscaler-${context.index}.log`),
    onLine: (line) => {
      for (const namespace of watched) {
        const at = metricRequestArrival(line, namespace, METRIC);
        if (at === undefined) continue;
        const list = context.arrivals.get(namespace) ?? [];
        list.push(at);
        context.arrivals.set(namespace, list);
      }
    },
    interrupted: context.interrupted,
  });
  const stopApp = cleanup.add('the queryscaler process', () => app.stop());
  await registerExternalMetricsApi(cp, { port: app.metricsPort, caBundlePem: context.caPem, ...METRICS_SERVICE });
  const unregister = cleanup.add('the external metrics APIService', () => unregisterExternalMetricsApi(cp, METRICS_SERVICE));
  const dropReaction = cleanup.add(`namespace ${reactionNs}`, () => deleteNamespaceAndWait(cp, reactionNs));
  const dropLoad = cleanup.add(`namespace ${loadNs}`, () => deleteNamespaceAndWait(cp, loadNs));

  const { periodMs, samples } = await measureReaction(context, reactionNs, chosen.offsetsMs);
  const latency = await measureLatency(context, reactionNs, worker);
  await dropReaction();
  const load = await measureLoad(context, loadNs, chosen.n);
  await dropLoad();
  await unregister();
  await stopApp();
  return { build: context.build, periodMs, samples, latency, load };
}

async function measureReaction(context: BuildContext, namespace: string, offsetsMs: readonly number[]): Promise<{ periodMs: number; samples: ReactionSample[] }> {
  const { cp, db } = context;
  await setSeedRowCount(db, 1);
  await applyYaml(cp, toYaml(seedStatefulSetObjects()), namespace);
  await applyYaml(cp, toYaml(seedKedaObjects(db, { scaleDownStabilizationSeconds: 0 })), namespace);
  const replicas = await watchReplicas(cp, namespace, 'mycluster');
  const stopWatch = context.cleanup.add(`the watch of ${namespace}/mycluster`, () => replicas.stop());
  try {
    return await reactionSamples(context, namespace, offsetsMs, replicas);
  } finally {
    await stopWatch();
  }
}

async function reactionSamples(context: BuildContext, namespace: string, offsetsMs: readonly number[], replicas: ReplicaWatch): Promise<{ periodMs: number; samples: ReactionSample[] }> {
  const { db, interrupted } = context;
  const arrivals = (): number[] => context.arrivals.get(namespace) ?? [];
  console.log('  reaction: waiting for the HPA to ask for the metric three times at 1 replica...');
  await until(async () => replicas.current() === 1 && arrivals().length >= 3, SETTLE_GIVE_UP_MS, 'the seed StatefulSet at 1 replica and 3 HPA requests', interrupted);

  const samples: ReactionSample[] = [];
  for (const plannedOffsetMs of offsetsMs) {
    interrupted.throwIfAborted();
    const period = syncPeriodMs(arrivals(), HPA_SYNC_SECONDS * 1000);
    const sync = nextSyncAt(arrivals().at(-1) ?? Date.now(), period, Date.now(), plannedOffsetMs, COMMIT_LEAD_MS);
    await sleep(sync - plannedOffsetMs - Date.now(), interrupted);
    await db.query(`INSERT INTO testdb.testtable VALUES ${Array.from({ length: HIGH_ROWS - 1 }, (_, i) => `(${i + 2}, 'none')`).join(',')}`);
    // Autocommit: the statement has committed when it returns.
    const commit = Date.now();
    const changedAt = await replicas.changeAfter(commit, 1, REACTION_GIVE_UP_MS, interrupted);
    // The request's log line may reach us after the watch event its answer caused.
    await until(
      () => Promise.resolve(firstAfter(arrivals(), commit) !== undefined),
      LOG_LINE_GIVE_UP_MS,
      `the log line of the HPA's metric request after the commit (the replicas changed at ${new Date(changedAt).toISOString()})`,
      interrupted,
    );
    const next = firstAfter(arrivals(), commit) as number;
    const sample: ReactionSample = { plannedOffsetMs, idealMs: next - commit, reactionMs: changedAt - commit };
    samples.push(sample);
    console.log(`    offset ${plannedOffsetMs / 1000} s: ideal ${(sample.idealMs / 1000).toFixed(3)} s, reaction ${(sample.reactionMs / 1000).toFixed(3)} s`);
    await setSeedRowCount(db, 1);
    await until(async () => replicas.current() === 1, SETTLE_GIVE_UP_MS, 'the seed StatefulSet back at 1 replica', interrupted);
  }
  return { periodMs: syncPeriodMs(arrivals(), HPA_SYNC_SECONDS * 1000), samples };
}

interface ReplicaWatch {
  current(): number | undefined;
  /** When spec.replicas first differed from `from` after `after` (epoch ms). */
  changeAfter(after: number, from: number, timeoutMs: number, signal: AbortSignal): Promise<number>;
  stop(): void;
}

/** spec.replicas of one StatefulSet as a watch delivers it, each change stamped on arrival. */
async function watchReplicas(cp: ControlPlane, namespace: string, name: string): Promise<ReplicaWatch> {
  const changes: Array<{ replicas: number; at: number }> = [];
  const initial = await cp.kubeConfig.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name, namespace });
  changes.push({ replicas: initial.spec?.replicas ?? 0, at: Date.now() });
  let stopped = false;
  let controller: AbortController | undefined;
  const start = async (resourceVersion: string | undefined): Promise<void> => {
    if (stopped) return;
    controller = await new Watch(cp.kubeConfig).watch(
      `/apis/apps/v1/namespaces/${namespace}/statefulsets`,
      { fieldSelector: `metadata.name=${name}`, ...(resourceVersion !== undefined && { resourceVersion }) },
      (_phase, object: V1StatefulSet) => {
        const replicas = object.spec?.replicas ?? 0;
        if (changes.at(-1)?.replicas !== replicas) changes.push({ replicas, at: Date.now() });
      },
      // A watch ends every few minutes by design; start another from now.
      () => void start(undefined).catch(() => undefined),
    );
  };
  await start(initial.metadata?.resourceVersion);
  return {
    current: () => changes.at(-1)?.replicas,
    changeAfter: async (after, from, timeoutMs, signal) => {
      let found: number | undefined;
      await until(
        () => {
          found = changes.find((c) => c.at > after && c.replicas !== from)?.at;
          return Promise.resolve(found !== undefined);
        },
        timeoutMs,
        `${namespace}/${name} to leave ${from} replicas`,
        signal,
      );
      return found as number;
    },
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}

async function measureLatency(context: BuildContext, namespace: string, worker: Worker): Promise<LatencyRow[]> {
  const user = context.cp.kubeConfig.getCurrentUser();
  if (user?.certData === undefined || user.keyData === undefined) throw new Error('the admin kubeconfig has no client certificate data');
  const rows: LatencyRow[] = [];
  for (const concurrency of LATENCY_CONCURRENCIES) {
    const cell: CellRequest = {
      port: Number(new URL(context.cp.server).port),
      path: `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${METRIC}?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${SEED_SO}`)}`,
      headers: {},
      caPem: context.cp.clusterCaPem,
      certPem: Buffer.from(user.certData, 'base64').toString('utf8'),
      keyPem: Buffer.from(user.keyData, 'base64').toString('utf8'),
      concurrency,
      warmupMs: 500,
      maxRequests: 2_000,
      maxMs: 3_000,
      expectInBody: '"value":"1"',
      requestTimeoutMs: 10_000,
    };
    worker.postMessage(cell);
    const result = await awaitWorkerMessage(worker, 'done', context.interrupted);
    if (result.errors > 0) throw new Error(`latency with ${concurrency} clients: ${result.errors} requests failed; first: ${result.firstError ?? 'unknown'}`);
    const row = { concurrency, summary: summarize(result.latenciesMs, result.elapsedMs) };
    rows.push(row);
    console.log(`  latency through the aggregator, ${concurrency} clients: p50 ${formatMs(row.summary.p50Ms)} ms, p99 ${formatMs(row.summary.p99Ms)} ms`);
  }
  return rows;
}

async function measureLoad(context: BuildContext, namespace: string, n: number): Promise<LoadResult> {
  const { cp, db, interrupted } = context;
  const indexes = Array.from({ length: n }, (_, i) => i);
  const client = KubernetesObjectApi.makeApiClient(cp.kubeConfig);
  const create = async (object: KubernetesObject): Promise<void> => {
    interrupted.throwIfAborted();
    await client.create(object);
  };
  await setSeedRowCount(db, 1);
  for (const object of credentialObjects(namespace, { host: db.host, port: db.port, user: DB_USER, password: DB_PASSWORD })) await create(object);
  console.log(`  load: ${n} StatefulSets and ScaledObjects on the seed query...`);
  await forEachLimited(indexes, CREATE_CONCURRENCY, (i) => create(statefulSetObject(namespace, i, 1)));
  await forEachLimited(indexes, CREATE_CONCURRENCY, (i) => create(scaledObjectObject({ namespace, mode: 'seed', originalReplicas: 1 }, i)));
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const ready = async (): Promise<number> =>
    ((await custom.listNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects' })) as { items: ScaledObject[] }).items.filter(
      (so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  const hpas = async (): Promise<number> => (await cp.kubeConfig.makeApiClient(AutoscalingV2Api).listNamespacedHorizontalPodAutoscaler({ namespace })).items.length;
  await until(async () => (await ready()) === n && (await hpas()) === n, READY_GIVE_UP_MS, `all ${n} ScaledObjects Ready with their HPAs`, interrupted);
  // Every HPA has synced once a whole period after the last was created.
  const requests = (): number => context.arrivals.get(namespace)?.length ?? 0;
  await until(async () => Promise.resolve(requests() >= n), READY_GIVE_UP_MS, `${n} HPA metric requests`, interrupted, () => `(${requests()} so far)`);
  await sleep(HPA_SYNC_SECONDS * 1000, interrupted);

  let seconds = 0;
  let requestsInWindow = 0;
  const sent = await queriesSentBy(db, DB_USER, async () => {
    const requestsBefore = requests();
    const windowStart = performance.now();
    await sleep(LOAD_WINDOW_MS, interrupted);
    seconds = (performance.now() - windowStart) / 1000;
    requestsInWindow = requests() - requestsBefore;
  });
  const runs = sent.filter((text) => text.includes('SELECT CEIL(COUNT(*) / 6)')).length;
  const result = { n, requestsPerSecond: requestsInWindow / seconds, queriesPerSecond: runs / seconds };
  console.log(`  load: ${result.requestsPerSecond.toFixed(1)} HPA requests/s, ${result.queriesPerSecond.toFixed(2)} query runs/s`);
  return result;
}

async function report(results: readonly BuildResult[], chosen: Options, db: MariaDb, cp: ControlPlane, startedAt: Date): Promise<string> {
  const mariaDb = String((await db.query<Array<{ v: string }>>('SELECT VERSION() AS v'))[0]?.v);
  const kubernetes = (await cp.kubeConfig.makeApiClient(VersionApi).getCode()).gitVersion;
  const seconds = (ms: number): string => (ms / 1000).toFixed(3);
  const reactionRows = results.flatMap((r) =>
    r.samples.map((sample) => {
      const verdict = sampleVerdict(sample, DEFAULT_FRESHNESS_MS, TARGET_BEHIND_MS);
      const judged = verdict.judged ? (verdict.met ? 'met' : 'NOT met') : `inside the ${DEFAULT_FRESHNESS_MS} ms bound: not judged`;
      return [r.build.label, String(sample.plannedOffsetMs / 1000), seconds(sample.idealMs), seconds(sample.reactionMs), seconds(verdict.behindMs), judged];
    }),
  );
  const verdictLines = results.map((r) => {
    const verdicts = r.samples.map((s) => sampleVerdict(s, DEFAULT_FRESHNESS_MS, TARGET_BEHIND_MS)).filter((v) => v.judged);
    const worst = Math.max(...verdicts.map((v) => v.behindMs));
    const met = verdicts.every((v) => v.met);
    return `- ${r.build.label}: ${verdicts.filter((v) => v.met).length} of ${verdicts.length} judged samples within ${TARGET_BEHIND_MS / 1000} s of the ideal, worst ${seconds(worst)} s behind: ${met ? 'met' : 'NOT met'}. HPA period measured ${seconds(r.periodMs)} s.`;
  });
  return [
    `Run ${startedAt.toISOString()}. Machine: ${os.availableParallelism()} CPUs, load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}. ` +
      `Node ${process.version}, MariaDB ${mariaDb}, Kubernetes ${kubernetes}; HPA sync period ${HPA_SYNC_SECONDS} s; builds: ${results.map((r) => r.build.label).join(', ')}.`,
    '',
    `Reaction: the seed scenario (pollingInterval 1, the seed query, queryValue 3) at 1 row; the INSERT of rows 2..${HIGH_ROWS} (value 1 -> 84) committed the offset before the HPA's predicted metric request. ` +
      'Ideal: from the commit to the HPA\'s next metric request (its arrival at queryscaler). Reaction: from the commit to the StatefulSet\'s spec.replicas changing (1 -> 5, a watch). ' +
      `Target: never more than ${TARGET_BEHIND_MS / 1000} s behind the ideal; a commit less than the freshness bound (${DEFAULT_FRESHNESS_MS} ms) before the request may be missed by design and is not judged.`,
    '',
    markdownTable(['build', 'planned offset s', 'ideal s', 'reaction s', 'behind s', 'target'], reactionRows),
    '',
    ...verdictLines,
    '',
    'Metric request latency through kube-apiserver and the aggregator (HTTPS with the admin client certificate, keep-alive, closed loop; 500 ms warm-up, then 2,000 requests or 3 s):',
    '',
    markdownTable(
      ['build', 'clients', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'req/s'],
      results.flatMap((r) =>
        r.latency.map((l) => [r.build.label, String(l.concurrency), String(l.summary.count), formatMs(l.summary.p50Ms), formatMs(l.summary.p99Ms), formatMs(l.summary.maxMs), l.summary.throughput.toFixed(0)]),
      ),
    ),
    '',
    `Load: ${chosen.n} ScaledObjects on the seed query (pollingInterval 1, one database user), over ${LOAD_WINDOW_MS / 1000} s once every HPA has synced: query runs from MariaDB's general log, HPA metric requests from queryscaler's log.`,
    '',
    markdownTable(
      ['build', 'N', 'HPA requests/s', 'query runs/s', 'query runs per HPA request'],
      results.map((r) => [r.build.label, String(r.load.n), r.load.requestsPerSecond.toFixed(1), r.load.queriesPerSecond.toFixed(2), (r.load.queriesPerSecond / r.load.requestsPerSecond).toFixed(3)]),
    ),
  ].join('\n');
}

await main();
