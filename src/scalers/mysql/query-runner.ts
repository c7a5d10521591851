// One MySQL/MariaDB connection as the pool holds it, and the one thing we do with it: run a
// trigger's query read-only, time-limited and bounded in what it can send back. The query was
// already checked (src/query-safety) to be one SELECT that only reads; what follows is the second
// wall, for anything that check might miss:
// - The session is read-only (SET SESSION TRANSACTION READ ONLY), so every statement on it runs as
//   a read-only transaction and even DDL, which commits implicitly, is refused.
// - The session's sql_mode never holds NO_BACKSLASH_ESCAPES or ANSI_QUOTES, so the server splits
//   strings and comments exactly as the check did.
// - The query runs inside `WITH queryscaler_result (v) AS (<query>) SELECT LEFT(v, 101) ... LIMIT 2`:
//   nothing but a single-column SELECT fits there, and at most two rows of at most 101 characters
//   cross the wire however many rows the query produces (two, so that "more than one row" can still
//   be told apart from one). This needs common table expressions: MariaDB 10.2 or MySQL 8.0.
// - The server stops the statement at the limit (MariaDB: SET STATEMENT max_statement_time=... FOR;
//   MySQL: session max_execution_time); the client gives up a little later and drops the connection
//   if the server did not.
// A statement that returns no result set (which could have changed session state) retires the connection.

import mysql from 'mysql2/promise';
import type { ConnectionOptions, TypeCast } from 'mysql2';
import { CLIENT_TIMEOUT_CODE } from './mysql-errors.js';
import { MAX_VALUE_CHARS, type QueryOutcome } from './query-result.js';

export type ServerFlavor = 'mariadb' | 'mysql';

export interface MySqlSession {
  readonly connection: mysql.Connection;
  /** Learnt from VERSION() right after connecting. */
  flavor: ServerFlavor;
  /** Set once the connection failed or ran a statement that may have changed session state. */
  broken: boolean;
  /** Queries run on this session so far; a stale reused session earns one retry on a fresh one. */
  uses: number;
  /** MySQL only: the session max_execution_time last set, to skip re-setting it. */
  maxExecutionTimeMs?: number;
}

/** How long after the server-side limit the client stops waiting. */
export const CLIENT_GRACE_MS = 1_000;

// Everything as the server's text: DECIMAL, BIGINT and DOUBLE parse exactly in query-result.ts,
// and a text column stays text instead of being guessed at by the driver.
const asText: TypeCast = (field) => field.string();

/** Rows that cross the wire: one more than a valid result has, to tell "more than one" apart. */
const MAX_ROWS = 2;
/** sql_mode flags that would make the server read strings and comments unlike the query check. */
const LEXING_MODES = new Set(['NO_BACKSLASH_ESCAPES', 'ANSI_QUOTES', 'ANSI']);

export async function openSession(options: ConnectionOptions, timeoutMs: number): Promise<MySqlSession> {
  const connection = await mysql.createConnection({
    ...options,
    connectTimeout: timeoutMs,
    typeCast: asText,
    dateStrings: true,
    multipleStatements: false,
    charset: 'utf8mb4',
    enableKeepAlive: true,
  });
  const session: MySqlSession = { connection, flavor: 'mysql', broken: false, uses: 0 };
  const markBroken = () => {
    session.broken = true;
  };
  connection.on('error', markBroken);
  connection.on('end', markBroken);
  try {
    const [rows] = await withDeadline(connection.query<mysql.RowDataPacket[]>({ sql: 'SELECT VERSION(), @@SESSION.sql_mode',
      rowsAsArray: true }), timeoutMs, session);
    const [version, sqlMode] = (rows[0] as unknown[] | undefined)?.map((cell) => String(cell ?? '')) ?? [];
    session.flavor = /mariadb/i.test(version ?? '') ? 'mariadb' : 'mysql';
    const modes = (sqlMode ?? '').split(',').filter((mode) => mode !== '');
    const kept = modes.filter((mode) => !LEXING_MODES.has(mode.toUpperCase()));
    if (kept.length !== modes.length) {
      await withDeadline(connection.query('SET SESSION sql_mode = ?', [kept.join(',')]), timeoutMs, session);
    }
    await withDeadline(connection.query('SET SESSION TRANSACTION READ ONLY'), timeoutMs, session);
    return session;
  } catch (err) {
    connection.destroy();
    throw err;
  }
}

/** Ends the connection politely (COM_QUIT), or destroys it if the server does not answer quickly. */
export async function closeSession(session: MySqlSession): Promise<void> {
  if (session.broken) {
    session.connection.destroy();
    return;
  }
  session.broken = true;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      session.connection.end(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1_000);
      }),
    ]);
  } catch {
    // already gone: nothing to end
  } finally {
    clearTimeout(timer);
    session.connection.destroy();
  }
}

/** Runs the trigger's query read-only with a time limit. Rejects with the driver's error. */
export async function runReadOnlyQuery(session: MySqlSession, query: string, limitMs: number): Promise<QueryOutcome> {
  session.uses += 1;
  try {
    return await withDeadline(readOnly(session, query, limitMs), limitMs + CLIENT_GRACE_MS, session);
  } catch (err) {
    // A fatal error reaches the query's promise, not always the connection's 'error' event.
    if ((err as { fatal?: unknown }).fatal === true) session.broken = true;
    throw err;
  }
}

async function readOnly(session: MySqlSession, query: string, limitMs: number): Promise<QueryOutcome> {
  const connection = session.connection;
  let sql = `WITH queryscaler_result (v) AS (${query}) ` +
    `SELECT LEFT(v, ${MAX_VALUE_CHARS + 1}) FROM queryscaler_result LIMIT ${MAX_ROWS}`;
  if (session.flavor === 'mariadb') {
    sql = `SET STATEMENT max_statement_time=${(limitMs / 1000).toFixed(3)} FOR ${sql}`;
  } else if (session.maxExecutionTimeMs !== limitMs) {
    await connection.query(`SET SESSION max_execution_time=${Math.max(1, Math.round(limitMs))}`);
    session.maxExecutionTimeMs = limitMs;
  }
  const [result, fields] = await connection.query({ sql, rowsAsArray: true });
  if (!Array.isArray(result) || fields === undefined || fields.length !== 1) {
    // Not a SELECT: whatever it was may have changed session state; never reuse this connection.
    session.broken = true;
    return { kind: 'no-result-set' };
  }
  return { kind: 'rows', values: (result as unknown as Array<[string | null]>).map((row) => row[0]) };
}

/** Races `work` against a deadline; at the deadline the connection is destroyed (the server may be
 * stuck, and a half-read result would poison the next query) and the error carries CLIENT_TIMEOUT_CODE. */
function withDeadline<T>(work: Promise<T>, ms: number, session: MySqlSession): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      session.broken = true;
      session.connection.destroy();
      reject(Object.assign(new Error(`no answer from the server within ${ms} ms`), { code: CLIENT_TIMEOUT_CODE }));
    }, ms);
  });
  // The loser of the race may still reject later (the destroyed connection's query); that is expected.
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** The session's account and its SHOW GRANTS lines, for the audit of what a trigger account may do. */
export async function readAccountGrants(session: MySqlSession, timeoutMs: number): Promise<{ account: string; lines: string[] }> {
  const read = async () => {
    const [user] = await session.connection.query<mysql.RowDataPacket[]>({ sql: 'SELECT CURRENT_USER()', rowsAsArray: true });
    const [grants] = await session.connection.query<mysql.RowDataPacket[]>({ sql: 'SHOW GRANTS', rowsAsArray: true });
    const account = String((user[0] as unknown[] | undefined)?.[0] ?? '');
    const at = account.lastIndexOf('@');
    return {
      account: at < 0 ? `'${account}'` : `'${account.slice(0, at)}'@'${account.slice(at + 1)}'`,
      lines: (grants as unknown[][]).map((row) => String(row[0] ?? '')),
    };
  };
  return withDeadline(read(), timeoutMs, session);
}
