// One connection pool per distinct (endpoint, user, password, database, TLS) across every MySQL
// trigger in the process, reference-counted by the scalers that lease it and closed when the last
// one lets go. On top of each pool, single-flight: a query already running on that pool with the
// same time limit is joined rather than run again, and the last result of each query is kept for as
// long as some caller's polls would take it (their polling interval), so 300 ScaledObjects with the
// same query cost one query per polling interval. Each caller says per read how old a kept result
// may be: a poll takes one up to its interval, a read for an HPA request only one from the last
// moments; a read run for either refreshes the kept result for all. A query whose last run took
// slowQueryMs or more asks the pool for a connection as a slow one, so slow queries cannot take the
// last free connection from quick ones. Each lease may bring a DataSourceObserver: it hears how each
// of its readings was served, and every query sent on the pool while it holds a lease.

import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'mysql2';
import { ScalerError, type DataSourceObserver, type ReadingSource } from '../scaler.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { ConnectionPool, type PoolStats } from './connection-pool.js';
import { endpointLabel, type ConnectionTarget } from './dsn.js';
import { isQueryTimeout, toScalerError, type ErrorContext } from './mysql-errors.js';
import { queryForMessage, type QueryOutcome } from './query-result.js';
import { closeSession, openSession, readAccountGrants, runReadOnlyQuery, type MySqlSession } from './query-runner.js';
import { excessPrivileges } from '../../query-safety/account-grants.js';
import { mysql2Ssl, type TlsSettings } from './tls-settings.js';

export interface MySqlPoolOptions {
  /** Connections per pool, open or being opened. */
  maxConnections: number;
  /** How long a read waits for a busy pool before PoolExhausted. */
  acquireTimeoutMs: number;
  idleTimeoutMs: number;
  /** TCP connect + handshake + session setup. */
  connectTimeoutMs: number;
  backoff: BackoffOptions;
  /** A run this long marks its query slow until a later run is quicker (Infinity: no query is ever slow). */
  slowQueryMs: number;
}

export const DEFAULT_MYSQL_POOL_OPTIONS: Readonly<MySqlPoolOptions> = {
  maxConnections: 4,
  acquireTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  connectTimeoutMs: 5_000,
  backoff: DEFAULT_BACKOFF,
  slowQueryMs: 250,
};

let poolOptions: MySqlPoolOptions = { ...DEFAULT_MYSQL_POOL_OPTIONS };

/** Options for pools created from now on (main wires them from CLI flags before any scaler exists). */
export function setMySqlPoolOptions(options: Partial<MySqlPoolOptions>): void {
  const next = { ...poolOptions, ...options };
  if (!Number.isInteger(next.maxConnections) || next.maxConnections < 1) {
    throw new RangeError(`MySQL pool size must be a whole number of at least 1, got ${next.maxConnections}`);
  }
  poolOptions = next;
}

export function mysqlPoolOptions(): Readonly<MySqlPoolOptions> {
  return poolOptions;
}

/** How a read may share the results of identical queries, in milliseconds. */
export interface ResultSharing {
  /** A kept result of an identical query sent less than this long ago is good enough for this read. */
  acceptAgeMs: number;
  /**
   * How long this caller's polls take a result (its polling interval): the result of this read is
   * kept that long for everyone, and a dead server is redialed at least that often for this caller.
   */
  keepMs: number;
}

/** A query's outcome and when it was sent to the server: a shared result keeps the time of its own run. */
export interface TimedOutcome {
  outcome: QueryOutcome;
  readAt: Date;
}

/** A scaler's hold on a shared pool. */
export interface PoolLease {
  /**
   * Runs the query, or joins the identical one already running on this pool, or (with `sharing`)
   * returns the kept result of an identical query sent less than `sharing.acceptAgeMs` ago.
   * Rejects with a ScalerError.
   */
  query(query: string, timeoutMs: number, signal: AbortSignal, sharing?: ResultSharing): Promise<TimedOutcome>;
  /** What the pool's account may do beyond SELECT, once its first connection could tell. */
  accountGrants(): AccountGrants | undefined;
  /** Lets go of the pool; the last lease closes it. Safe to call twice. */
  release(): Promise<void>;
}

export interface AccountGrants {
  /** 'user'@'host' as the server matched the login. */
  account: string;
  /** Privileges beyond SELECT, each as "PRIVILEGE ON object"; empty for a SELECT-only account. */
  excess: string[];
}

interface PoolEntry {
  key: string;
  label: string;
  refs: number;
  pool: ConnectionPool<MySqlSession>;
  context: ErrorContext;
  inFlight: Map<string, Promise<RanQuery>>;
  /** The newest successful result per query, stamped with when it was sent. */
  recent: Map<string, RecentResult>;
  /** How long each query's last run took, failed runs included; the key is its flight key. */
  lastRunMs: Map<string, number>;
  /** Read on the first connection that could read it; grants rarely change, and a new pool reads them again. */
  account: { grants?: AccountGrants };
  slowQueryMs: number;
  maxConnections: number;
  /** The observers of the leases holding the pool, with how many leases brought each. */
  observers: Map<DataSourceObserver, number>;
}

/** One run of a query: its outcome, and when it was sent on the monotonic and the wall clock. */
interface RanQuery extends TimedOutcome {
  sentAt: number;
}

interface RecentResult extends RanQuery {
  /** The longest keepMs any caller asked for; the entry is dropped once older than that. */
  keepMs: number;
}

const pools = new Map<string, PoolEntry>();

export function leasePool(target: ConnectionTarget, tls: TlsSettings, observer?: DataSourceObserver): PoolLease {
  const key = poolKey(target, tls);
  let entry = pools.get(key);
  if (entry === undefined) {
    entry = createEntry(key, target, tls);
    pools.set(key, entry);
  }
  entry.refs += 1;
  if (observer !== undefined) entry.observers.set(observer, (entry.observers.get(observer) ?? 0) + 1);
  const leased = entry;
  let released = false;
  // A lease never gets the same shared result twice: its next poll comes one interval after the
  // read it got started, a hair under the interval by the clock, and would otherwise reuse it.
  let lastReceived: RanQuery | undefined;
  return {
    async query(query, timeoutMs, signal, sharing = { acceptAgeMs: 0, keepMs: 0 }) {
      if (released) throw new ScalerError('Aborted', `the scaler for ${leased.label} is closed`);
      const { reading, source } = joinOrRun(leased, query, timeoutMs, signal, sharing, lastReceived);
      const ran = await reading;
      lastReceived = ran;
      observer?.readingServed(leased.label, source);
      return { outcome: ran.outcome, readAt: ran.readAt };
    },
    accountGrants: () => leased.account.grants,
    async release() {
      if (released) return;
      released = true;
      leased.refs -= 1;
      if (observer !== undefined) {
        const held = (leased.observers.get(observer) ?? 1) - 1;
        if (held > 0) leased.observers.set(observer, held);
        else leased.observers.delete(observer);
      }
      if (leased.refs > 0) return;
      if (pools.get(leased.key) === leased) pools.delete(leased.key);
      await leased.pool.close();
    },
  };
}

/** Pools alive now, for tests and the /metrics endpoint. Labels carry no password. */
export function mysqlPoolStats(): Array<PoolStats & { label: string; leases: number; maxConnections: number }> {
  return [...pools.values()].map((entry) => ({ label: entry.label, leases: entry.refs, maxConnections: entry.maxConnections, ...entry.pool.stats }));
}

function createEntry(key: string, target: ConnectionTarget, tls: TlsSettings): PoolEntry {
  const endpoint = endpointLabel(target.endpoint);
  const label = `${target.user}@${endpoint}/${target.database}`;
  const context: ErrorContext = {
    endpoint,
    user: target.user,
    secrets: [target.password.reveal(), tls.key?.reveal() ?? ''].filter((secret) => secret !== ''),
  };
  const options = poolOptions;
  const connection: ConnectionOptions = {
    user: target.user,
    password: target.password.reveal(),
  };
  if (target.database !== '') connection.database = target.database;
  if (target.endpoint.kind === 'socket') {
    connection.socketPath = target.endpoint.path;
  } else {
    connection.host = target.endpoint.host;
    connection.port = target.endpoint.port;
  }
  const ssl = mysql2Ssl(tls);
  if (ssl !== undefined) connection.ssl = ssl;

  const account: PoolEntry['account'] = {};
  const pool = new ConnectionPool<MySqlSession>(label, {
    open: async () => {
      let session: MySqlSession;
      try {
        session = await openSession(connection, options.connectTimeoutMs);
      } catch (err) {
        throw toScalerError(err, context);
      }
      if (account.grants === undefined) {
        try {
          const { account: name, lines } = await readAccountGrants(session, options.connectTimeoutMs);
          account.grants = { account: name, excess: excessPrivileges(lines) };
        } catch {
          // Not knowing the grants leaves the audit for the next connection; the session may still serve.
        }
      }
      return session;
    },
    close: closeSession,
    usable: (session) => !session.broken,
  }, options);
  return { key, label, refs: 0, pool, context, inFlight: new Map(), recent: new Map(), lastRunMs: new Map(), account,
    slowQueryMs: options.slowQueryMs, maxConnections: options.maxConnections, observers: new Map() };
}

function joinOrRun(
  entry: PoolEntry,
  query: string,
  timeoutMs: number,
  signal: AbortSignal,
  sharing: ResultSharing,
  alreadySeen: RanQuery | undefined,
): { reading: Promise<RanQuery>; source: ReadingSource } {
  const flightKey = `${timeoutMs}\n${query}`;
  const recent = entry.recent.get(flightKey);
  if (recent !== undefined) {
    recent.keepMs = Math.max(recent.keepMs, sharing.keepMs);
    if (performance.now() - recent.sentAt < sharing.acceptAgeMs && recent !== alreadySeen) return { reading: Promise.resolve(recent), source: 'recent' };
  }
  // A run in flight is joined whatever its age: a second identical query beside a slow one would
  // only double the load on a server that is already slow to answer.
  let flight = entry.inFlight.get(flightKey);
  const source: ReadingSource = flight === undefined ? 'query' : 'joined';
  if (flight === undefined) {
    // The shared run has no caller's signal: one caller giving up must not cancel it for the others.
    // It is bounded anyway by the acquire timeout and the query's time limit.
    const started = runOnPool(entry, flightKey, query, timeoutMs, sharing.keepMs).then(
      (ran) => {
        const kept: RecentResult = { ...ran, keepMs: Math.max(sharing.keepMs, entry.recent.get(flightKey)?.keepMs ?? 0) };
        remember(entry, flightKey, kept);
        return kept;
      },
    ).finally(() => {
      if (entry.inFlight.get(flightKey) === started) entry.inFlight.delete(flightKey);
    });
    flight = started;
    entry.inFlight.set(flightKey, flight);
  }
  const reading = abortable(flight, signal, () => new ScalerError('Aborted',
    `the read of query "${queryForMessage(query)}" from MySQL at ${entry.context.endpoint} was cancelled`));
  return { reading, source };
}

/** Keeps the result for callers that accept its age, and drops results nobody will accept any more. */
function remember(entry: PoolEntry, flightKey: string, result: RecentResult): void {
  for (const [key, old] of entry.recent) {
    if (result.sentAt - old.sentAt >= old.keepMs) entry.recent.delete(key);
  }
  // Errors are never kept: a failing query is retried by the next poll (the pool's dial backoff
  // already keeps a dead server from being hammered).
  if (result.keepMs > 0) entry.recent.set(flightKey, result);
}

async function runOnPool(
  entry: PoolEntry,
  flightKey: string,
  query: string,
  timeoutMs: number,
  pollingIntervalMs: number,
): Promise<RanQuery> {
  const context: ErrorContext = { ...entry.context, query, queryTimeoutMs: timeoutMs };
  const slow = (entry.lastRunMs.get(flightKey) ?? 0) >= entry.slowQueryMs;
  for (let attempt = 1; ; attempt += 1) {
    // A server that comes back is noticed within one polling interval, whatever the dial backoff says.
    const session = await entry.pool.acquire(undefined, pollingIntervalMs > 0 ? pollingIntervalMs : Infinity, slow);
    const reused = session.uses > 0;
    // Stamped when the statement is sent, not when the read was asked for: a wait for a connection
    // does not make the value older than it is.
    const started = performance.now();
    const readAt = new Date();
    try {
      const outcome = await runReadOnlyQuery(session, query, timeoutMs);
      ran(entry, flightKey, performance.now() - started, true);
      entry.pool.release(session, !session.broken);
      return { outcome, sentAt: started, readAt };
    } catch (err) {
      ran(entry, flightKey, performance.now() - started, false);
      entry.pool.release(session, !session.broken);
      // A pooled connection the server dropped while it sat idle (restart, wait_timeout) fails on
      // first use; that is not the query's fault, so try once more on a fresh connection.
      if (attempt === 1 && reused && session.broken && !isQueryTimeout(err)) continue;
      throw toScalerError(err, context);
    }
  }
}

function ran(entry: PoolEntry, flightKey: string, durationMs: number, ok: boolean): void {
  entry.lastRunMs.set(flightKey, durationMs);
  for (const observer of entry.observers.keys()) observer.queryRan(entry.label, durationMs, ok);
}

function abortable<T>(work: Promise<T>, signal: AbortSignal, error: () => ScalerError): Promise<T> {
  if (signal.aborted) return Promise.reject(error());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(error());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Identifies a pool without holding secrets in the clear: the password and key only as a hash. */
function poolKey(target: ConnectionTarget, tls: TlsSettings): string {
  const secrets = createHash('sha256').update(target.password.reveal()).update('\0').update(tls.key?.reveal() ?? '').digest('hex');
  return JSON.stringify([target.endpoint, target.user, target.database, tls.mode, tls.ca ?? '', tls.cert ?? '', secrets]);
}
