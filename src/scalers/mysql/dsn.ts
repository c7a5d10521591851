// Connection strings as KEDA users write them: the Go driver's DSN
// `user:pass@tcp(host:3306)/db?tls=true` (what KEDA's mysql scaler passes to go-sql-driver/mysql),
// the unix-socket form `user:pass@unix(/run/mysqld/mysqld.sock)/db`, and URLs
// `mysql://user:pass@host:3306/db?ssl-mode=VERIFY_CA`. Pure; errors never repeat the password.

import { REDACTED, scrubSecrets, SecretValue } from './secret-value.js';
import { tlsModeFromWord, unsupportedTlsWordHint, TLS_MODE_WORDS, type TlsMode } from './tls-settings.js';

export const DEFAULT_MYSQL_PORT = 3306;

export type Endpoint =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'socket'; path: string };

export interface ConnectionTarget {
  endpoint: Endpoint;
  user: string;
  password: SecretValue;
  database: string;
  /** TLS as the connection string asks for it; undefined when it says nothing. */
  tls?: TlsMode;
}

/** The connection string is malformed. The message is safe to show: the password is masked. */
export class DsnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DsnError';
  }
}

/** host:port or the socket path, for messages. */
export function endpointLabel(endpoint: Endpoint): string {
  if (endpoint.kind === 'socket') return `unix socket ${endpoint.path}`;
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${host}:${endpoint.port}`;
}

export function parseConnectionString(text: string): ConnectionTarget {
  const trimmed = text.trim();
  if (trimmed === '') throw new DsnError('the connection string is empty');
  if (!trimmed.includes('@')) {
    // Without the '@' nothing says which part is the password: the whole string may be one (a
    // Secret key pasted in the wrong place), so none of it may appear in a message.
    throw new DsnError('the connection string has no "@" between user:password and the address (it is not shown: without ' +
      'the "@" queryscaler cannot tell the password from the rest); write it as user:password@tcp(host:3306)/dbname or ' +
      'mysql://user:password@host:3306/dbname');
  }
  try {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? parseUrl(trimmed) : parseGoDsn(trimmed);
  } catch (err) {
    // The credentials are masked where they stand; the same text elsewhere (a parameter, a host) is masked too.
    if (err instanceof DsnError) throw new DsnError(scrubSecrets(err.message, writtenPasswords(trimmed)));
    throw err;
  }
}

/**
 * The password as written between the first ':' and the last '@', and percent-decoded when it
 * decodes. (Credentials without a ':' are masked whole where they are shown, by maskUserinfo.)
 */
function writtenPasswords(text: string): string[] {
  const rest = text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const userinfo = rest.slice(0, rest.lastIndexOf('@'));
  const colon = userinfo.indexOf(':');
  if (colon < 0) return [];
  const written = userinfo.slice(colon + 1);
  let decoded = written;
  try {
    decoded = decodeURIComponent(written);
  } catch {
    // not percent-encoded: the written form is the password
  }
  return [...new Set([written, decoded, encodeURIComponent(decoded)])];
}

/**
 * The connection string with its password replaced by ***, for messages. Everything before the
 * last '@' of the whole string counts as credentials: a password may hold '@', '/', '?' or '#',
 * and masking too much is harmless where masking too little leaks. Without an '@' nothing of it
 * is shown.
 */
export function redactConnectionString(text: string): string {
  const trimmed = text.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(trimmed)?.[0] ?? '';
  const rest = trimmed.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  return at < 0 ? REDACTED : `${scheme}${maskUserinfo(rest.slice(0, at))}@${rest.slice(at + 1)}`;
}

/** `user:***`; credentials without a ':' are masked whole, since they may be a password alone. */
function maskUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon < 0 ? (userinfo === '' ? '' : REDACTED) : `${userinfo.slice(0, colon)}:${REDACTED}`;
}

// go-sql-driver/mysql: [user[:password]@][net[(addr)]]/dbname[?param1=value1&...]. Like the driver,
// the last '/' ends the address (passwords and socket paths may hold '/') and the last '@' before
// it ends the credentials (passwords may hold '@').
function parseGoDsn(dsn: string): ConnectionTarget {
  const shown = redactConnectionString(dsn);
  const slash = dsn.lastIndexOf('/');
  if (slash < 0) {
    throw new DsnError(`connection string "${shown}" has no "/" before the database name; ` +
      'write it as user:password@tcp(host:3306)/dbname');
  }
  if (dsn.lastIndexOf('@') > slash) {
    // The credentials run past the last '/': either the password holds a '/' and "/dbname" is
    // missing, or the DSN has no database. Either way the parts below would be cut in the wrong place.
    throw new DsnError(`connection string "${shown}" has no "/dbname" after the address; ` +
      'write it as user:password@tcp(host:3306)/dbname');
  }
  const head = dsn.slice(0, slash);
  const tail = dsn.slice(slash + 1);
  const question = tail.indexOf('?');
  const database = question < 0 ? tail : tail.slice(0, question);
  const query = question < 0 ? '' : tail.slice(question + 1);

  const at = head.lastIndexOf('@');
  const userinfo = at < 0 ? '' : head.slice(0, at);
  const address = at < 0 ? head : head.slice(at + 1);
  const colon = userinfo.indexOf(':');
  const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const password = colon < 0 ? '' : userinfo.slice(colon + 1);

  const endpoint = goEndpoint(address, () => {
    const credentials = userinfo === '' ? '' : `${maskUserinfo(userinfo)}@`;
    return `${credentials}tcp(${address})/${tail}`;
  }, shown);
  const params = parseQuery(query, shown);
  const target: ConnectionTarget = { endpoint, user, password: new SecretValue(password), database };
  const tls = params.get('tls');
  if (tls !== undefined) target.tls = tlsFromParam('tls', tls, shown);
  return target;
}

function goEndpoint(address: string, suggestion: () => string, shown: string): Endpoint {
  if (address === '') return { kind: 'tcp', host: '127.0.0.1', port: DEFAULT_MYSQL_PORT };
  const parts = /^([A-Za-z0-9]+)(?:\((.*)\))?$/s.exec(address);
  const net = parts?.[1];
  const inner = parts?.[2] ?? '';
  if (parts === null || net === undefined || !['tcp', 'tcp4', 'tcp6', 'unix'].includes(net)) {
    if (!address.includes('(') && /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(:\d+)?$/.test(address)) {
      // The common mistake: the Go driver reads "10.0.0.5:3306" as a network name and fails at dial
      // time ("unknown network"); say how to write it instead.
      throw new DsnError(`connection string "${shown}" gives the address ${address} without a network, which the Go MySQL ` +
        `driver (and KEDA) reject as an unknown network; write it as ${suggestion()}`);
    }
    throw new DsnError(`connection string "${shown}" has an unknown network in "${address}"; ` +
      'use tcp(host:port) or unix(/path/to/mysqld.sock)');
  }
  if (net === 'unix') {
    if (inner === '') throw new DsnError(`connection string "${shown}" has unix() without a socket path; write unix(/run/mysqld/mysqld.sock)`);
    return { kind: 'socket', path: inner };
  }
  if (inner === '') return { kind: 'tcp', host: '127.0.0.1', port: DEFAULT_MYSQL_PORT };
  return { kind: 'tcp', ...hostAndPort(inner, shown) };
}

function hostAndPort(address: string, shown: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(address);
  let host: string;
  let portText: string | undefined;
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else {
    const colon = address.lastIndexOf(':');
    if (colon >= 0 && address.indexOf(':') !== colon) {
      throw new DsnError(`connection string "${shown}" has the IPv6 address ${address} without brackets; write [${address}]:3306`);
    }
    host = colon < 0 ? address : address.slice(0, colon);
    portText = colon < 0 ? undefined : address.slice(colon + 1);
  }
  if (host === '') throw new DsnError(`connection string "${shown}" has no host in "${address}"`);
  return { host, port: portText === undefined ? DEFAULT_MYSQL_PORT : parsePort(portText, shown) };
}

function parsePort(text: string, shown: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new DsnError(`connection string "${shown}" has port "${text}"; a port is a number from 1 to 65535`);
  }
  return port;
}

function parseQuery(query: string, shown: string): Map<string, string> {
  const params = new Map<string, string>();
  if (query === '') return params;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const raw = eq < 0 ? '' : pair.slice(eq + 1);
    try {
      params.set(key, decodeURIComponent(raw.replace(/\+/g, ' ')));
    } catch {
      throw new DsnError(`connection string "${shown}" has a badly escaped value for parameter "${key}"`);
    }
  }
  return params;
}

function tlsFromParam(name: string, value: string, shown: string): TlsMode {
  const mode = tlsModeFromWord(value);
  if (mode !== undefined) return mode;
  const hint = unsupportedTlsWordHint(value);
  if (hint !== undefined) throw new DsnError(`connection string "${shown}": ${hint}`);
  throw new DsnError(`connection string "${shown}" has ${name}=${value}; use one of ${TLS_MODE_WORDS} ` +
    '(named TLS configs registered in Go code do not exist here: give the CA as the "ca" auth parameter)');
}

function parseUrl(text: string): ConnectionTarget {
  const shown = redactConnectionString(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DsnError(`connection string "${shown}" is not a valid URL; write mysql://user:password@host:3306/dbname`);
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new DsnError(`connection string "${shown}" has the scheme ${url.protocol}//; use mysql://`);
  }
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new DsnError(`connection string "${shown}" has a badly percent-escaped ${what}`);
    }
  };
  const params = parseQuery(url.search.replace(/^\?/, ''), shown);
  const socket = params.get('socket') ?? params.get('socketPath');
  let endpoint: Endpoint;
  if (socket !== undefined && socket !== '') {
    endpoint = { kind: 'socket', path: socket };
  } else {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') throw new DsnError(`connection string "${shown}" has no host; write mysql://user:password@host:3306/dbname`);
    endpoint = { kind: 'tcp', host, port: url.port === '' ? DEFAULT_MYSQL_PORT : parsePort(url.port, shown) };
  }
  const database = decode(url.pathname.replace(/^\//, ''), 'database name');
  if (database.includes('/')) {
    throw new DsnError(`connection string "${shown}" has "/" in the database name "${database}"`);
  }
  const target: ConnectionTarget = {
    endpoint,
    user: decode(url.username, 'user name'),
    password: new SecretValue(decode(url.password, 'password')),
    database,
  };
  for (const name of ['tls', 'ssl-mode', 'sslmode', 'ssl_mode']) {
    const value = params.get(name);
    if (value !== undefined) target.tls = tlsFromParam(name, value, shown);
  }
  return target;
}
