// How fast the external metrics API answers the HPA, against the physical floor of one MySQL round
// trip. One run starts a throwaway MariaDB (the seed table with 500 rows, so the seed query gives
// 84) and a real kube-apiserver (for the SubjectAccessReview every request is authorized by), our
// server on 127.0.0.1 in this process, and a load client in a worker thread that talks to it
// directly, as kube-apiserver's aggregator would: mutual TLS with a front-proxy client certificate,
// X-Remote-User/X-Remote-Group headers, keep-alive connections.
//
//   node --import tsx bench/metrics-api.ts
//
// Prints the tables and rewrites its block in bench/RESULTS.md. Everything it starts is stopped on
// the way out, also after an error or Ctrl-C.

import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { VersionApi } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import { createLogger } from '../src/log.js';
import { MetricCache } from '../src/metric-cache/metric-cache.js';
import type { RegisteredScaledObject } from '../src/metric-cache/types.js';
import { startMetricsApiServer, type MetricsApiServer } from '../src/metrics-api/server.js';
import { findScalerType } from '../src/scalers/registry.js';
import type { Scaler, TriggerInput } from '../src/scalers/scaler.js';
import { createSelfSignedServing, issueCertificate, type KeyPairPem } from '../src/tls/certificates.js';
import { FRONT_PROXY_CLIENT_NAME } from '../test/support/control-plane.js';
import type { MariaDb } from '../test/support/mariadb.js';
import { createSeedTable, SEED_QUERY, seedMetricForRows, setSeedRowCount } from '../test/support/seed-scenario.js';
import type { CellRequest } from './support/load-client.js';
import { awaitWorkerMessage, startLoadClient } from './support/load-worker.js';
import { withGeneratedBlock } from './support/results-file.js';
import { formatMs, markdownTable, summarize, type LatencySummary } from './support/stats.js';
import { hitOverFloorVerdict, hitVerdict, missVerdict, type Verdict } from './support/targets.js';
import { runBenchmark, startTestBed, type Cleanup } from './support/harness.js';

const SEED_ROWS = 500;
const EXPECTED_VALUE = seedMetricForRows(SEED_ROWS);
const NAMESPACE = 'bench';
const METRIC_NAME = 's0-mysql-testdb';
const HIT_OBJECT = 'so-hit';
const MISS_OBJECT = 'so-miss';
const POLLING_INTERVAL_MS = 1_000;
const CONCURRENCIES = [1, 8, 64];
const SEQUENTIAL_RUNS = 2_000;
const SEQUENTIAL_WARMUP_RUNS = 200;
const CELL_WARMUP_MS = 500;
const CELL_MAX_REQUESTS = 5_000;
const CELL_MAX_MS = 3_000;
const REQUEST_TIMEOUT_MS = 10_000;
const RESULTS_PATH = fileURLToPath(new URL('RESULTS.md', import.meta.url));
const RESULTS_HEADING = '## metrics-api';

interface SequentialRow {
  name: string;
  summary: LatencySummary;
}

/**
 * floor: a bare node:https server with the same TLS set-up answering a fixed body, i.e. what TLS,
 * HTTP and the load client cost on this machine before any of our code runs.
 */
type HttpCase = 'floor' | 'hit' | 'miss';
const HTTP_CASES: readonly HttpCase[] = ['floor', 'hit', 'miss'];

interface HttpRow {
  kind: HttpCase;
  concurrency: number;
  summary: LatencySummary;
  /** SELECTs MariaDB ran (Com_select) per request answered, warm-up included. */
  selectsPerRequest: number;
}

interface Environment {
  date: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  loadAtStart: string;
  loadAtEnd: string;
  node: string;
  mariaDb: string;
  kubernetes: string;
}

interface Options {
  cases: readonly HttpCase[];
  /** RESULTS.md gets a complete run only. */
  write: boolean;
}

/** `--cases hit` runs only the hit cells (e.g. under --cpu-prof) and leaves RESULTS.md alone. */
function options(): Options {
  const { values } = parseArgs({ options: { cases: { type: 'string' } }, strict: true });
  if (values.cases === undefined) return { cases: HTTP_CASES, write: true };
  const cases = values.cases.split(',').map((c) => c.trim());
  const unknown = cases.filter((c) => !(HTTP_CASES as readonly string[]).includes(c));
  if (unknown.length > 0) throw new Error(`--cases: unknown case ${unknown.join(', ')}; give a comma-separated list of ${HTTP_CASES.join(', ')}`);
  return { cases: cases as HttpCase[], write: false };
}

async function main(): Promise<void> {
  const chosen = options();
  await runBenchmark((cleanup, interrupted) => run(chosen, cleanup, interrupted));
}

async function run(chosen: Options, cleanup: Cleanup, interrupted: AbortSignal): Promise<void> {
  const loadAtStart = loadAverage();
  // The SubjectAccessReview needs kube-apiserver only; one light controller keeps the start-up check meaningful.
  const { db, cp } = await startTestBed(cleanup, { controllers: ['serviceaccount-controller'] });
  interrupted.throwIfAborted();

  await createSeedTable(db);
  await setSeedRowCount(db, SEED_ROWS);

  const raw = await mysql.createConnection({ host: db.host, port: db.port, user: 'root', password: db.rootPassword, database: 'testdb' });
  cleanup.add('the raw MySQL connection', () => raw.end());
  const sequential = await measureSequential(raw, interrupted);

  // Hit: useCachedMetrics, so the value read in warm-up is served for the whole run. Miss: a cache
  // whose freshness bound is 0, so every request waits for a read begun after it arrived.
  const hitCache = new MetricCache();
  cleanup.add('the metric cache of the hits', () => hitCache.close());
  const missCache = new MetricCache({ freshnessMs: 0 });
  cleanup.add('the metric cache of the misses', () => missCache.close());
  const hitScaler = mysqlScaler(db, HIT_OBJECT);
  cleanup.add(`the scaler of ${HIT_OBJECT}`, () => hitScaler.close());
  const missScaler = mysqlScaler(db, MISS_OBJECT);
  cleanup.add(`the scaler of ${MISS_OBJECT}`, () => missScaler.close());
  hitCache.register(registration(HIT_OBJECT, hitScaler, true));
  missCache.register(registration(MISS_OBJECT, missScaler, false));

  // Time a scaler read on its own too: it splits a miss into what MySQL costs and what HTTP adds.
  sequential.push({
    name: 'scaler read (MySqlScaler.metricsAndActivity, pooled)',
    summary: await timeSequential(async () => {
      const result = await missScaler.metricsAndActivity(interrupted);
      expectValue('the scaler read', result.samples[0]?.value);
    }, interrupted),
  });

  // One serving certificate for our server and the bare one, so both pay the same TLS costs.
  const serving = createSelfSignedServing(['localhost'], ['127.0.0.1']);
  const startServer = (cache: MetricCache): Promise<MetricsApiServer> =>
    startMetricsApiServer({
      cache,
      kubeConfig: cp.kubeConfig,
      host: '127.0.0.1',
      port: 0,
      tls: { certPem: serving.certPem, keyPem: serving.keyPem },
      logger: createLogger('warn'),
    });
  const hitServer = await startServer(hitCache);
  cleanup.add('the metrics API server of the hits', () => hitServer.close());
  const missServer = await startServer(missCache);
  cleanup.add('the metrics API server of the misses', () => missServer.close());
  const frontProxyClient = issueCertificate(cp.frontProxyCa, { commonName: FRONT_PROXY_CLIENT_NAME, usage: 'client' });

  const worker = startLoadClient();
  cleanup.add('the load client worker', async () => {
    await worker.terminate();
  });
  await awaitWorkerMessage(worker, 'ready', interrupted);

  const floor = await startFloorServer(serving, cp.frontProxyCa.certPem);
  cleanup.add('the bare HTTPS server', () => floor.close());

  const target = { ports: { floor: floor.port, hit: hitServer.port, miss: missServer.port }, caPem: serving.caPem, client: frontProxyClient };
  const http = await measureHttp(chosen.cases, target, worker, db, interrupted);

  if (!chosen.write) {
    console.log(`\n${sequentialTable(sequential)}\n\n${httpTable(http)}\n\n(a partial run: bench/RESULTS.md left as it was)`);
    return;
  }
  const environment: Environment = {
    date: new Date().toISOString(),
    cpuModel: await cpuModel(),
    cpus: os.availableParallelism(),
    memoryGiB: os.totalmem() / 1024 ** 3,
    loadAtStart,
    loadAtEnd: loadAverage(),
    node: process.version,
    mariaDb: String((await db.query<Array<{ v: string }>>('SELECT VERSION() AS v'))[0]?.v),
    kubernetes: (await cp.kubeConfig.makeApiClient(VersionApi).getCode()).gitVersion,
  };
  const block = report(environment, sequential, http);
  console.log(`\n${block}`);
  const previous = await readFile(RESULTS_PATH, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '# Benchmark results\n';
    throw error;
  });
  await writeFile(RESULTS_PATH, withGeneratedBlock(previous, RESULTS_HEADING, 'metrics-api', block));
  console.log(`\nwritten to ${RESULTS_PATH}`);
}

/** Every chosen case at every concurrency, one cell after another, from the load client in `worker`. */
async function measureHttp(
  cases: readonly HttpCase[],
  target: { ports: Record<HttpCase, number>; caPem: string; client: KeyPairPem },
  worker: Worker,
  db: MariaDb,
  interrupted: AbortSignal,
): Promise<HttpRow[]> {
  const http: HttpRow[] = [];
  for (const kind of cases) {
    for (const concurrency of CONCURRENCIES) {
      interrupted.throwIfAborted();
      const scaledObject = kind === 'hit' ? HIT_OBJECT : MISS_OBJECT;
      const cell: CellRequest = {
        port: target.ports[kind],
        path: `/apis/external.metrics.k8s.io/v1beta1/namespaces/${NAMESPACE}/${METRIC_NAME}?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${scaledObject}`)}`,
        // As the aggregator forwards the HPA's request; system:masters makes the SubjectAccessReview allow it.
        headers: { 'X-Remote-User': 'system:kube-controller-manager', 'X-Remote-Group': 'system:masters' },
        caPem: target.caPem,
        certPem: target.client.certPem,
        keyPem: target.client.keyPem,
        concurrency,
        warmupMs: CELL_WARMUP_MS,
        maxRequests: CELL_MAX_REQUESTS,
        maxMs: CELL_MAX_MS,
        expectInBody: `"value":"${EXPECTED_VALUE}"`,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
      };
      const selectsBefore = await comSelect(db);
      worker.postMessage(cell);
      const result = await awaitWorkerMessage(worker, 'done', interrupted);
      const selects = (await comSelect(db)) - selectsBefore;
      if (result.errors > 0) {
        throw new Error(`${kind} with ${concurrency} clients: ${result.errors} of ${result.latenciesMs.length} requests failed; first: ${result.firstError ?? 'unknown'}`);
      }
      const row: HttpRow = {
        kind,
        concurrency,
        summary: summarize(result.latenciesMs, result.elapsedMs),
        selectsPerRequest: selects / (result.latenciesMs.length + result.warmupRequests),
      };
      http.push(row);
      console.log(`  ${kind} c=${concurrency}: p50 ${formatMs(row.summary.p50Ms)} ms, p99 ${formatMs(row.summary.p99Ms)} ms, ${row.summary.throughput.toFixed(0)} req/s`);
    }
  }
  return http;
}

/** The floor: the seed query alone, then the statements the scaler wraps it in, on one connection. */
async function measureSequential(raw: mysql.Connection, signal: AbortSignal): Promise<SequentialRow[]> {
  const seedQuery = async (): Promise<void> => {
    const [rows] = await raw.query<mysql.RowDataPacket[]>({ sql: SEED_QUERY, rowsAsArray: true });
    expectValue('the raw seed query', Number((rows[0] as unknown[] | undefined)?.[0]));
  };
  // What query-runner.ts sends per read on MariaDB: one statement on a read-only session.
  const scalerStatement = async (): Promise<void> => {
    const [rows] = await raw.query<mysql.RowDataPacket[]>({ sql: `SET STATEMENT max_statement_time=5.000 FOR ${SEED_QUERY}`, rowsAsArray: true });
    expectValue('the scaler statement', Number((rows[0] as unknown[] | undefined)?.[0]));
  };
  return [
    { name: 'raw seed query (1 statement, mysql2 connection)', summary: await timeSequential(seedQuery, signal) },
    { name: "the scaler's statement, raw (SET STATEMENT max_statement_time FOR query)", summary: await timeSequential(scalerStatement, signal) },
  ];
}

async function timeSequential(once: () => Promise<void>, signal: AbortSignal): Promise<LatencySummary> {
  for (let i = 0; i < SEQUENTIAL_WARMUP_RUNS; i += 1) await once();
  signal.throwIfAborted();
  const latencies: number[] = [];
  const begun = performance.now();
  for (let i = 0; i < SEQUENTIAL_RUNS; i += 1) {
    const started = performance.now();
    await once();
    latencies.push(performance.now() - started);
  }
  return summarize(latencies, performance.now() - begun);
}

function expectValue(what: string, value: number | undefined): void {
  if (value !== EXPECTED_VALUE) {
    throw new Error(`${what} returned ${value}, expected ${EXPECTED_VALUE} (${SEED_ROWS} rows with testcolumn2='none'); is the seed table intact?`);
  }
}

/** The real MySQL scaler for the seed trigger, as the controller would build it from keda.yaml. */
function mysqlScaler(db: MariaDb, scaledObjectName: string): Scaler {
  const type = findScalerType('mysql');
  if (type === undefined) throw new Error('the scaler registry has no "mysql" trigger type');
  const input: TriggerInput = {
    namespace: NAMESPACE,
    scaledObjectName,
    triggerIndex: 0,
    metadata: { queryValue: '3', query: SEED_QUERY },
    authParams: { host: db.host, port: String(db.port), dbName: 'testdb', username: 'root', password: db.rootPassword },
    resolvedEnv: {},
    metricType: 'AverageValue',
  };
  const scaler = type.create(type.parse(input), input);
  const spec = scaler.metricSpecs[0];
  if (spec?.metricName !== METRIC_NAME) throw new Error(`the mysql scaler names its metric ${spec?.metricName}, expected ${METRIC_NAME}`);
  return scaler;
}

function registration(name: string, scaler: Scaler, useCachedMetrics: boolean): RegisteredScaledObject {
  const spec = scaler.metricSpecs[0]!;
  return { namespace: NAMESPACE, name, pollingIntervalMs: POLLING_INTERVAL_MS, triggers: [{ triggerIndex: 0, scalerName: 'benchScaler', spec, scaler, useCachedMetrics }] };
}

/**
 * The floor: node:https alone, asking for the client certificate and answering every request with
 * the body our server gives on a hit. Nothing of ours runs, so its figures are the best any server
 * in this process could do with this TLS set-up on this machine.
 */
async function startFloorServer(serving: KeyPairPem, clientCaPem: string): Promise<{ port: number; close: () => Promise<void> }> {
  const body = JSON.stringify({
    kind: 'ExternalMetricValueList',
    apiVersion: 'external.metrics.k8s.io/v1beta1',
    metadata: {},
    items: [{ metricName: METRIC_NAME, metricLabels: {}, timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), value: String(EXPECTED_VALUE) }],
  });
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem, ca: clientCaPem, requestCert: true, rejectUnauthorized: false }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * MariaDB's count of SELECT statements run since start. A metric read is one SELECT (SET STATEMENT
 * ... FOR SELECT counts as one; SHOW STATUS counts as none), so its growth over a cell is the number
 * of reads that reached the database.
 */
async function comSelect(db: MariaDb): Promise<number> {
  const rows = await db.query<Array<{ Value: string }>>("SHOW GLOBAL STATUS LIKE 'Com_select'");
  return Number(rows[0]?.Value);
}

async function cpuModel(): Promise<string> {
  const text = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
}

function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' / ');
}

function sequentialTable(sequential: readonly SequentialRow[]): string {
  return markdownTable(
    ['what (sequential, one at a time)', 'runs', 'p50 ms', 'p99 ms', 'max ms', 'per s'],
    sequential.map(({ name, summary }) => [name, String(summary.count), formatMs(summary.p50Ms), formatMs(summary.p99Ms), formatMs(summary.maxMs), summary.throughput.toFixed(0)]),
  );
}

function httpTable(http: readonly HttpRow[]): string {
  return markdownTable(
    ['server', 'clients', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'req/s', 'MySQL SELECTs per request'],
    http.map((r) => [
      r.kind === 'floor' ? 'bare node:https' : `ours, cache ${r.kind}`,
      String(r.concurrency), String(r.summary.count), formatMs(r.summary.p50Ms), formatMs(r.summary.p99Ms), formatMs(r.summary.maxMs),
      r.summary.throughput.toFixed(0), r.selectsPerRequest.toFixed(3),
    ]),
  );
}

function report(env: Environment, sequential: SequentialRow[], http: HttpRow[]): string {
  const find = (kind: HttpCase, concurrency: number): HttpRow => {
    const row = http.find((r) => r.kind === kind && r.concurrency === concurrency);
    if (row === undefined) throw new Error(`no ${kind} measurement with ${concurrency} clients`);
    return row;
  };
  const rawQuery = sequential[0]!.summary;
  const missAlone = find('miss', 1).summary;
  const hitAlone = find('hit', 1).summary;
  const floorAlone = find('floor', 1).summary;
  const verdicts: Verdict[] = [
    hitOverFloorVerdict(hitAlone.p50Ms, floorAlone.p50Ms),
    hitVerdict(hitAlone.p99Ms),
    missVerdict('p50', missAlone.p50Ms, rawQuery.p50Ms),
    missVerdict('p99', missAlone.p99Ms, rawQuery.p99Ms),
  ];
  return [
    `Run ${env.date}. Machine: ${env.cpus} CPUs (${env.cpuModel}), ${env.memoryGiB.toFixed(1)} GiB; load average (1/5/15 min) ${env.loadAtStart} at start, ${env.loadAtEnd} at end. ` +
      `Node ${env.node}, MariaDB ${env.mariaDb}, Kubernetes ${env.kubernetes}.`,
    '',
    `Seed table with ${SEED_ROWS} rows (the seed query gives ${EXPECTED_VALUE}). MySQL over TCP on 127.0.0.1; ${SEQUENTIAL_RUNS} timed runs after ${SEQUENTIAL_WARMUP_RUNS} warm-up runs.`,
    '',
    sequentialTable(sequential),
    '',
    `\`GET /apis/external.metrics.k8s.io/v1beta1/namespaces/${NAMESPACE}/${METRIC_NAME}?labelSelector=scaledobject.keda.sh/name=<so>\` straight to the server on 127.0.0.1 ` +
      '(kube-apiserver only answers the SubjectAccessReview, cached 10 s), mutual TLS with keep-alive, closed loop from a worker thread. ' +
      `Each cell: ${CELL_WARMUP_MS} ms warm-up, then ${CELL_MAX_REQUESTS} requests or ${CELL_MAX_MS / 1000} s, whichever first. ` +
      'Hit: useCachedMetrics, the value read in warm-up served for the whole run (a request whose cached value is at most 250 ms old takes the same path). ' +
      'Miss: a metric cache with freshness bound 0, so every request waits for a MySQL read begun after it arrived; concurrent misses that arrive before a read begins share it ' +
      '(single-flight): with more than one client a request costs less than one SELECT, see the last column. Miss with 1 client is the clean figure. ' +
      'Bare node:https: the same TLS set-up (certificate, client certificate requested) answering a fixed body of the same size, none of our code: ' +
      'the floor for any server in this process on this machine.',
    '',
    httpTable(http),
    '',
    'Targets (a hit with 1 client against the bare node:https answer and in itself; a miss with 1 client against the raw seed query):',
    '',
    ...verdicts.map((v) => `- ${v.text}`),
    '',
    'For scale, with 1 client:',
    '',
    `- bare node:https: p50 ${formatMs(floorAlone.p50Ms)} ms, p99 ${formatMs(floorAlone.p99Ms)} ms; our hit adds ${formatMs(hitAlone.p50Ms - floorAlone.p50Ms)} ms at p50.`,
    `- miss minus hit at p50 (what a read of MySQL adds to a request): ${formatMs(missAlone.p50Ms - hitAlone.p50Ms)} ms = ${((missAlone.p50Ms - hitAlone.p50Ms) / rawQuery.p50Ms).toFixed(2)}x the raw query.`,
  ].join('\n');
}

await main();
