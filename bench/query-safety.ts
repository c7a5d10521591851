// What one tenant's bad query costs everybody else, against a real MariaDB (no control plane):
// 1. Memory: a trigger whose query returns a million rows, polled 30 times through the mysql
//    scaler, next to the same query read once the way a plain client reads it (all rows buffered).
// 2. Isolation: eight ScaledObjects running SELECT SLEEP(4.5) + i and one running the seed query,
//    all on the same credentials (one pool of 4), each polled every second without overlap as the
//    poll scheduler does; the quick one's poll lag (tick to value) with the pool's slow-query lanes
//    on, and with them off (slowQueryMs Infinity) for comparison.
// Prints the tables and rewrites its block in bench/RESULTS.md. Run with --expose-gc (npm script).
import os from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { mysqlScalerType } from '../src/scalers/mysql/mysql-scaler.js';
import { DEFAULT_MYSQL_POOL_OPTIONS, setMySqlPoolOptions } from '../src/scalers/mysql/pool-registry.js';
import type { Scaler, TriggerInput } from '../src/scalers/scaler.js';
import { startMariaDb, type MariaDb } from '../test/support/mariadb.js';
import { runBenchmark, type Cleanup } from './support/harness.js';
import { withGeneratedBlock } from './support/results-file.js';
import { formatMs, markdownTable, percentile } from './support/stats.js';

const RESULTS_PATH = fileURLToPath(new URL('RESULTS.md', import.meta.url));
const RESULTS_HEADING = '## query-safety';
const USER = 'qs_bench';
const PASSWORD = 'qs-Bench-pw-4242';
const SEED_QUERY = "SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'";
const MILLION = 'SELECT seq FROM seq_1_to_1000000';
const MEMORY_POLLS = 30;
const ISOLATION_SECONDS = 60;
/** The first polls teach the pool which queries are slow; they are reported apart. */
const WARM_UP_SECONDS = 10;

const MB = 1024 * 1024;

function input(db: MariaDb, query: string): TriggerInput {
  return {
    namespace: 'bench',
    scaledObjectName: 'tenant',
    triggerIndex: 0,
    metadata: { query, queryValue: '3', host: db.host, port: String(db.port), username: USER, dbName: 'testdb' },
    authParams: { password: PASSWORD },
    resolvedEnv: {},
    metricType: 'AverageValue',
  };
}

function scaler(db: MariaDb, query: string): Scaler {
  const trigger = input(db, query);
  return mysqlScalerType.create(mysqlScalerType.parse(trigger), trigger);
}

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / MB;
}

interface MemoryResult {
  before: number;
  peakDuringPolls: number;
  afterPolls: number;
  rawPeak: number;
  error: string;
}

async function measureMemory(db: MariaDb): Promise<MemoryResult> {
  const tenant = scaler(db, MILLION);
  const before = rssMb();
  let peak = before;
  let error = '';
  for (let i = 0; i < MEMORY_POLLS; i += 1) {
    try {
      await tenant.metricsAndActivity(AbortSignal.timeout(30_000));
    } catch (err) {
      error = (err as Error).message;
    }
    peak = Math.max(peak, process.memoryUsage().rss / MB);
  }
  await tenant.close();
  const afterPolls = rssMb();
  // What the same query costs a client that reads the whole result, as the scaler once did.
  const raw = await mysql.createConnection({ host: db.host, port: db.port, user: USER, password: PASSWORD, database: 'testdb' });
  let rawPeak = afterPolls;
  const sampler = setInterval(() => {
    rawPeak = Math.max(rawPeak, process.memoryUsage().rss / MB);
  }, 20);
  await raw.query({ sql: MILLION, rowsAsArray: true });
  rawPeak = Math.max(rawPeak, process.memoryUsage().rss / MB);
  clearInterval(sampler);
  await raw.end();
  return { before, peakDuringPolls: peak, afterPolls, rawPeak, error };
}

interface IsolationResult {
  lanes: boolean;
  warmUpLagMs: number[];
  steadyLagMs: number[];
  quickErrors: number;
  slowValues: number;
  slowErrors: Map<string, number>;
  peakConnections: number;
}

async function measureIsolation(db: MariaDb, lanes: boolean, interrupted: AbortSignal): Promise<IsolationResult> {
  setMySqlPoolOptions({ ...DEFAULT_MYSQL_POOL_OPTIONS, slowQueryMs: lanes ? DEFAULT_MYSQL_POOL_OPTIONS.slowQueryMs : Infinity });
  // Each run gets a pool of its own: a new pool is made for the first lease after the last one closed.
  const slow = Array.from({ length: 8 }, (_, i) => scaler(db, `SELECT SLEEP(4.5) + ${i}`));
  const quick = scaler(db, SEED_QUERY);
  const result: IsolationResult = { lanes, warmUpLagMs: [], steadyLagMs: [], quickErrors: 0, slowValues: 0, slowErrors: new Map(), peakConnections: 0 };
  const started = performance.now();
  const end = started + ISOLATION_SECONDS * 1000;

  const pollEverySecond = async (s: Scaler, onDone: (tick: number, ok: boolean, error?: Error) => void): Promise<void> => {
    for (let tick = started; tick < end && !interrupted.aborted; tick += 1000) {
      const wait = tick - performance.now();
      // A poll still running when its next tick comes makes that tick skip, as in the poll scheduler.
      if (wait < 0) continue;
      await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        await s.metricsAndActivity(AbortSignal.timeout(30_000));
        onDone(tick, true);
      } catch (error) {
        onDone(tick, false, error as Error);
      }
    }
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      result.peakConnections = Math.max(result.peakConnections, await db.threadsConnected(USER));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  await Promise.all([
    ...slow.map((s) => pollEverySecond(s, (_tick, ok, error) => {
      if (ok) result.slowValues += 1;
      else {
        const reason = (error as { reason?: string }).reason ?? 'Error';
        result.slowErrors.set(reason, (result.slowErrors.get(reason) ?? 0) + 1);
      }
    })),
    pollEverySecond(quick, (tick, ok) => {
      if (!ok) result.quickErrors += 1;
      const lag = performance.now() - tick;
      (tick - started < WARM_UP_SECONDS * 1000 ? result.warmUpLagMs : result.steadyLagMs).push(lag);
    }),
  ]);
  sampling = false;
  await sampler;
  await Promise.all([...slow, quick].map((s) => s.close()));
  return result;
}

function lagCells(lags: readonly number[]): string[] {
  const sorted = [...lags].sort((a, b) => a - b);
  if (sorted.length === 0) return ['0', '-', '-', '-'];
  return [String(sorted.length), formatMs(percentile(sorted, 50)), formatMs(percentile(sorted, 99)), formatMs(sorted[sorted.length - 1]!)];
}

function report(db: string, memory: MemoryResult, isolation: readonly IsolationResult[]): string {
  const cpus = os.cpus();
  const lines = [
    `Run ${new Date().toISOString()}. Machine: ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB. ` +
      `Node ${process.version}, ${db}.`,
    '',
    `Memory: \`${MILLION}\` through the mysql scaler, ${MEMORY_POLLS} polls (each refused: "${memory.error}"), then the same query once ` +
      'through a plain mysql2 connection that reads the whole result. RSS of this process after a forced GC, in MB.',
    '',
    markdownTable(['what', 'RSS MB'], [
      ['before the polls', memory.before.toFixed(1)],
      [`highest during ${MEMORY_POLLS} polls`, memory.peakDuringPolls.toFixed(1)],
      ['after the polls', memory.afterPolls.toFixed(1)],
      ['highest while a plain client reads the same result once', memory.rawPeak.toFixed(1)],
    ]),
    '',
    `Isolation: 8 ScaledObjects running \`SELECT SLEEP(4.5) + i\` and 1 running the seed query, one account, one pool of ` +
      `${DEFAULT_MYSQL_POOL_OPTIONS.maxConnections} connections, each polled every second for ${ISOLATION_SECONDS} s without overlap. ` +
      `Poll lag of the seed query: from its tick to its value, in ms; the first ${WARM_UP_SECONDS} s apart (the pool learns there which ` +
      `queries are slow). Lanes off: slowQueryMs Infinity, every query may take every connection.`,
    '',
    markdownTable(['lanes', 'window', 'polls', 'p50 ms', 'p99 ms', 'max ms', 'seed query errors', 'slow polls ok / failed', 'peak connections'],
      isolation.flatMap((r) => [
        [r.lanes ? 'on' : 'off', `first ${WARM_UP_SECONDS} s`, ...lagCells(r.warmUpLagMs), '', '', ''],
        [r.lanes ? 'on' : 'off', `after ${WARM_UP_SECONDS} s`, ...lagCells(r.steadyLagMs), String(r.quickErrors),
          `${r.slowValues} / ${[...r.slowErrors.values()].reduce((a, b) => a + b, 0)} (${[...r.slowErrors].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`,
          String(r.peakConnections)],
      ])),
  ];
  return lines.join('\n');
}

await runBenchmark(async (cleanup: Cleanup, interrupted: AbortSignal) => {
  console.log('starting MariaDB...');
  const db = await startMariaDb();
  cleanup.add('MariaDB', () => db.stop());
  await db.query('CREATE DATABASE IF NOT EXISTS testdb');
  await db.query('CREATE TABLE IF NOT EXISTS testdb.testtable (testcolumn1 INT PRIMARY KEY, testcolumn2 TEXT NOT NULL)');
  await db.query("INSERT IGNORE INTO testdb.testtable SELECT seq, 'none' FROM testdb.seq_1_to_100");
  await db.query(`CREATE OR REPLACE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await db.query(`GRANT SELECT ON testdb.* TO '${USER}'@'%'`);
  cleanup.add('the pool options', () => setMySqlPoolOptions(DEFAULT_MYSQL_POOL_OPTIONS));

  console.log(`memory: ${MEMORY_POLLS} polls of a million-row query...`);
  const memory = await measureMemory(db);
  const isolation: IsolationResult[] = [];
  for (const lanes of [true, false]) {
    console.log(`isolation, lanes ${lanes ? 'on' : 'off'}: ${ISOLATION_SECONDS} s...`);
    isolation.push(await measureIsolation(db, lanes, interrupted));
  }
  const version = String((await db.query<Array<{ v: string }>>('SELECT VERSION() AS v'))[0]?.v);
  const block = report(`MariaDB ${version}`, memory, isolation);
  console.log(`\n${block}`);
  if (interrupted.aborted) return;
  const previous = await readFile(RESULTS_PATH, 'utf8');
  await writeFile(RESULTS_PATH, withGeneratedBlock(previous, RESULTS_HEADING, 'query-safety', block));
  console.log(`\nwritten to ${RESULTS_PATH}`);
});
