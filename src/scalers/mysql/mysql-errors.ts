// A driver or network error → a ScalerError whose reason is a stable word and whose message tells
// the user what to fix. Pure. Every message is scrubbed of the password as a last line of defence,
// though neither mysql2 nor Node put it in their messages.

import { ScalerError } from '../scaler.js';
import { queryForMessage } from './query-result.js';
import { scrubSecrets } from './secret-value.js';

export interface ErrorContext {
  /** host:port or the socket, from endpointLabel(). */
  endpoint: string;
  user: string;
  /** Present when the error came from running the query rather than connecting. */
  query?: string;
  queryTimeoutMs?: number;
  /** Values that must never appear in a message (the password, the client key). */
  secrets: readonly string[];
}

interface DriverErrorShape {
  message: string;
  code?: string;
  errno?: number;
  sqlMessage?: string;
}

/** The client-side deadline fired; raised by the query runner, mapped like the server's own limit. */
export const CLIENT_TIMEOUT_CODE = 'QUERYSCALER_CLIENT_TIMEOUT';

const NETWORK_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'no answer within the connect timeout',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ENOENT: 'no such socket file',
  EACCES: 'permission denied on the socket file',
  PROTOCOL_CONNECTION_LOST: 'the server closed the connection',
};

const TLS_HINT = 'check that the ca auth parameter holds the CA that signed the server certificate ' +
  '(or use tls: required to encrypt without checking)';

/** The server stopped the statement at its time limit, or the client gave up on it a little later. */
export function isQueryTimeout(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { errno, code } = err as { errno?: unknown; code?: unknown };
  // 1969: MariaDB's max_statement_time; 3024: MySQL's max_execution_time.
  return errno === 1969 || errno === 3024 || code === CLIENT_TIMEOUT_CODE;
}

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

export function toScalerError(err: unknown, context: ErrorContext): ScalerError {
  if (err instanceof ScalerError) return err;
  const shaped = shape(err);
  const mapped = classify(shaped, context);
  return new ScalerError(mapped.reason, scrubSecrets(mapped.message, context.secrets), { cause: err });
}

function classify(err: DriverErrorShape, context: ErrorContext): Pick<ScalerError, 'reason' | 'message'> {
  const { endpoint, user } = context;
  const server = err.sqlMessage ?? err.message;
  const q = context.query === undefined ? undefined : `query "${queryForMessage(context.query)}"`;
  const code = err.code ?? '';

  switch (err.errno) {
    case 1045: // ER_ACCESS_DENIED_ERROR
    case 1698: // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
      return { reason: 'AccessDenied', message: `MySQL at ${endpoint} refused the login of user '${user}': ${server}. ` +
        'Check the username and password that the TriggerAuthentication supplies (its Secret) against the database user' };
    case 1044: // ER_DBACCESS_DENIED_ERROR
    case 1142: // ER_TABLEACCESS_DENIED_ERROR
    case 1143: // ER_COLUMNACCESS_DENIED_ERROR
      return { reason: 'AccessDenied', message: `${q ?? `MySQL at ${endpoint}`}: ${server}. Grant user '${user}' SELECT on what the query reads` };
    case 1040: // ER_CON_COUNT_ERROR
    case 1203: // ER_TOO_MANY_USER_CONNECTIONS
      return { reason: 'TooManyConnections', message: `MySQL at ${endpoint} has no free connection for user '${user}' (${server}): ` +
        "raise the server's max_connections / the user's max_user_connections, or lower queryscaler's MySQL pool size" };
    case 4002: // MariaDB ER_WITH_COL_WRONG_LIST: the query runs as WITH queryscaler_result (v) AS (...)
    case 1353: // MySQL ER_VIEW_WRONG_LIST, the same for a common table expression
      return { reason: 'BadResult', message: `${q ?? 'the query'} returned more than one column; it must return exactly one ` +
        'column with one number' };
    case 1792: // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
      return { reason: 'QueryFailed', message: `${q ?? 'the query'} tried to write: queryscaler runs it in a read-only transaction, ` +
        'so the query must only read (a SELECT returning one number)' };
  }
  if (isQueryTimeout(err)) return timeout(q, context);

  const network = NETWORK_CODES[code];
  if (network !== undefined) {
    const during = q === undefined ? '' : ` while running ${q}`;
    return { reason: 'ConnectionFailed', message: `cannot connect to MySQL at ${endpoint}${during}: ${network} (${code}); ` +
      'check host and port in the trigger (or its connection string) and that the server is running and reachable' };
  }
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return { reason: 'ConnectionFailed', message: `MySQL at ${endpoint} does not offer TLS, but the trigger requires it: ` +
      'enable TLS on the server or set tls: disable' };
  }
  if (code === 'HANDSHAKE_SSL_ERROR' || /CERT|SIGNATURE|ERR_TLS|ERR_SSL/.test(code)) {
    return { reason: 'ConnectionFailed', message: `cannot connect to MySQL at ${endpoint}: TLS handshake failed: ${err.message} (${code}); ${TLS_HINT}` };
  }
  if (q === undefined) {
    return { reason: 'ConnectionFailed', message: `cannot connect to MySQL at ${endpoint}: ${server}${code === '' ? '' : ` (${code})`}` };
  }
  const detail = [code, err.errno].filter((part) => part !== undefined && part !== '').join(' ');
  return { reason: 'QueryFailed', message: `${q} failed on MySQL at ${endpoint}: ${server}${detail === '' ? '' : ` (${detail})`}` };
}

function timeout(q: string | undefined, context: ErrorContext): Pick<ScalerError, 'reason' | 'message'> {
  const limit = context.queryTimeoutMs === undefined ? 'its time limit' : `its time limit of ${formatSeconds(context.queryTimeoutMs)}`;
  return { reason: 'QueryTimeout', message: `${q ?? 'the query'} ran longer than ${limit} and was stopped; ` +
    'make it cheaper (e.g. an index on the filtered columns) or raise metadata.queryTimeout (seconds)' };
}

function shape(err: unknown): DriverErrorShape {
  if (err instanceof Error) {
    const fields = err as Error & { code?: unknown; errno?: unknown; sqlMessage?: unknown };
    const shaped: DriverErrorShape = { message: err.message };
    if (typeof fields.code === 'string') shaped.code = fields.code;
    if (typeof fields.errno === 'number') shaped.errno = fields.errno;
    if (typeof fields.sqlMessage === 'string') shaped.sqlMessage = fields.sqlMessage;
    return shaped;
  }
  return { message: String(err) };
}
