import { expect } from 'chai';
import { ScalerError, type ScalerFailureReason } from '../../src/scalers/scaler.js';
import { CLIENT_TIMEOUT_CODE, formatSeconds, toScalerError, type ErrorContext } from '../../src/scalers/mysql/mysql-errors.js';

const PASSWORD = 's3cr3t-PW';
const CONNECT: ErrorContext = { endpoint: 'mysql:3306', user: 'scaler', secrets: [PASSWORD] };
const QUERY: ErrorContext = { ...CONNECT, query: 'SELECT 1', queryTimeoutMs: 1000 };

function driverError(fields: { message: string; code?: string; errno?: number; sqlMessage?: string }): Error {
  return Object.assign(new Error(fields.message), fields);
}

describe('toScalerError', () => {
  const cases: Array<[string, Error, ErrorContext, ScalerFailureReason, string]> = [
    ['access denied', driverError({ message: 'x', code: 'ER_ACCESS_DENIED_ERROR', errno: 1045,
      sqlMessage: "Access denied for user 'scaler'@'10.1.2.3' (using password: YES)" }), CONNECT, 'AccessDenied',
    "MySQL at mysql:3306 refused the login of user 'scaler': Access denied for user 'scaler'@'10.1.2.3' (using password: YES). " +
      'Check the username and password that the TriggerAuthentication supplies (its Secret) against the database user'],
    ['SELECT denied on a table', driverError({ message: 'x', code: 'ER_TABLEACCESS_DENIED_ERROR', errno: 1142,
      sqlMessage: "SELECT command denied to user 'scaler'@'10.1.2.3' for table `testdb`.`secret`" }), QUERY, 'AccessDenied',
    "query \"SELECT 1\": SELECT command denied to user 'scaler'@'10.1.2.3' for table `testdb`.`secret`. " +
      "Grant user 'scaler' SELECT on what the query reads"],
    ['too many connections', driverError({ message: 'x', code: 'ER_CON_COUNT_ERROR', errno: 1040, sqlMessage: 'Too many connections' }),
      CONNECT, 'TooManyConnections',
    "MySQL at mysql:3306 has no free connection for user 'scaler' (Too many connections): raise the server's max_connections / " +
      "the user's max_user_connections, or lower queryscaler's MySQL pool size"],
    ['connection refused', driverError({ message: 'connect ECONNREFUSED 10.0.0.5:3306', code: 'ECONNREFUSED' }), CONNECT, 'ConnectionFailed',
      'cannot connect to MySQL at mysql:3306: connection refused (ECONNREFUSED); check host and port in the trigger (or its ' +
      'connection string) and that the server is running and reachable'],
    ['a connect timeout', driverError({ message: 'connect ETIMEDOUT', code: 'ETIMEDOUT' }), CONNECT, 'ConnectionFailed',
      'cannot connect to MySQL at mysql:3306: no answer within the connect timeout (ETIMEDOUT); check host and port in the trigger ' +
      '(or its connection string) and that the server is running and reachable'],
    ['an unknown host', driverError({ message: 'getaddrinfo ENOTFOUND mysql', code: 'ENOTFOUND' }), CONNECT, 'ConnectionFailed',
      'cannot connect to MySQL at mysql:3306: host name not found (ENOTFOUND); check host and port in the trigger (or its ' +
      'connection string) and that the server is running and reachable'],
    ['a lost connection during the query', driverError({ message: 'x', code: 'PROTOCOL_CONNECTION_LOST' }), QUERY, 'ConnectionFailed',
      'cannot connect to MySQL at mysql:3306 while running query "SELECT 1": the server closed the connection (PROTOCOL_CONNECTION_LOST); ' +
      'check host and port in the trigger (or its connection string) and that the server is running and reachable'],
    ['a write in the read-only transaction', driverError({ message: 'x', code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', errno: 1792 }),
      QUERY, 'QueryFailed',
    'query "SELECT 1" tried to write: queryscaler runs it in a read-only transaction, so the query must only read (a SELECT returning one number)'],
    ['the MariaDB statement limit', driverError({ message: 'x', errno: 1969 }), QUERY, 'QueryTimeout',
      'query "SELECT 1" ran longer than its time limit of 1 s and was stopped; make it cheaper (e.g. an index on the filtered ' +
      'columns) or raise metadata.queryTimeout (seconds)'],
    ['the MySQL statement limit', driverError({ message: 'x', errno: 3024 }), { ...QUERY, queryTimeoutMs: 2500 }, 'QueryTimeout',
      'query "SELECT 1" ran longer than its time limit of 2.5 s and was stopped; make it cheaper (e.g. an index on the filtered ' +
      'columns) or raise metadata.queryTimeout (seconds)'],
    ['the client deadline', driverError({ message: 'x', code: CLIENT_TIMEOUT_CODE }), QUERY, 'QueryTimeout',
      'query "SELECT 1" ran longer than its time limit of 1 s and was stopped; make it cheaper (e.g. an index on the filtered ' +
      'columns) or raise metadata.queryTimeout (seconds)'],
    ['a syntax error', driverError({ message: 'x', code: 'ER_PARSE_ERROR', errno: 1064,
      sqlMessage: "You have an error in your SQL syntax near 'SELEC 1'" }), QUERY, 'QueryFailed',
    'query "SELECT 1" failed on MySQL at mysql:3306: You have an error in your SQL syntax near \'SELEC 1\' (ER_PARSE_ERROR 1064)'],
    ['a server without TLS', driverError({ message: 'x', code: 'HANDSHAKE_NO_SSL_SUPPORT' }), CONNECT, 'ConnectionFailed',
      'MySQL at mysql:3306 does not offer TLS, but the trigger requires it: enable TLS on the server or set tls: disable'],
    ['a certificate from another CA', driverError({ message: 'self-signed certificate in certificate chain', code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
      CONNECT, 'ConnectionFailed',
    'cannot connect to MySQL at mysql:3306: TLS handshake failed: self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN); ' +
      'check that the ca auth parameter holds the CA that signed the server certificate (or use tls: required to encrypt without checking)'],
    ['an error that repeats the password', driverError({ message: `bad handshake for ${PASSWORD}`, code: 'EWEIRD' }), CONNECT, 'ConnectionFailed',
      'cannot connect to MySQL at mysql:3306: bad handshake for *** (EWEIRD)'],
    ['an error that repeats a short password as a word', driverError({ message: 'bad handshake for pw (pwned)', code: 'EWEIRD' }),
      { ...CONNECT, secrets: ['pw'] }, 'ConnectionFailed', 'cannot connect to MySQL at mysql:3306: bad handshake for *** (pwned) (EWEIRD)'],
  ];
  for (const [name, err, context, reason, message] of cases) {
    it(`maps ${name} to ${reason}`, () => {
      const mapped = toScalerError(err, context);
      expect(mapped).to.be.instanceOf(ScalerError);
      expect(mapped.reason).to.equal(reason);
      expect(mapped.message).to.equal(message);
      expect(mapped.cause).to.equal(err);
    });
  }

  it('passes a ScalerError through unchanged', () => {
    const original = new ScalerError('PoolExhausted', 'busy');
    expect(toScalerError(original, CONNECT)).to.equal(original);
  });
});

describe('formatSeconds', () => {
  const cases: Array<[number, string]> = [[1000, '1 s'], [1500, '1.5 s'], [5000, '5 s'], [1, '0.001 s']];
  for (const [ms, expected] of cases) {
    it(`formats ${ms} ms as ${expected}`, () => {
      expect(formatSeconds(ms)).to.equal(expected);
    });
  }
});
