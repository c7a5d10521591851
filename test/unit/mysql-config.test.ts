import { expect } from 'chai';
import { ScalerConfigError, type TriggerInput } from '../../src/scalers/scaler.js';
import { mysqlMetricName, parseMySqlConfig, type MySqlConfig } from '../../src/scalers/mysql/mysql-config.js';

const PASSWORD = 's3cr3t-PW';
const SEED_QUERY = "SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'";

function input(overrides: Partial<TriggerInput> = {}): TriggerInput {
  return {
    namespace: 'default',
    scaledObjectName: 'mycluster',
    triggerIndex: 0,
    metadata: { query: SEED_QUERY, queryValue: '3', host: 'mysql', port: '3306', username: 'scaler', dbName: 'testdb' },
    authParams: { password: PASSWORD },
    resolvedEnv: {},
    metricType: 'AverageValue',
    ...overrides,
  };
}

function withMetadata(metadata: Record<string, string | undefined>, rest: Partial<TriggerInput> = {}): TriggerInput {
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...input().metadata, ...metadata })) if (value !== undefined) merged[key] = value;
  return input({ ...rest, metadata: merged });
}

/** The config with secrets revealed, so a table can state every field. */
function summary(config: MySqlConfig): Record<string, unknown> {
  return {
    endpoint: config.target.endpoint,
    user: config.target.user,
    password: config.target.password.reveal(),
    database: config.target.database,
    tls: { mode: config.tls.mode, ca: config.tls.ca, cert: config.tls.cert, key: config.tls.key?.reveal() },
    queryValue: config.queryValue,
    activationQueryValue: config.activationQueryValue,
    queryTimeoutMs: config.queryTimeoutMs,
    nullAsZero: config.nullAsZero,
    metricName: config.metricName,
    metricType: config.metricType,
  };
}

const SEED = {
  endpoint: { kind: 'tcp', host: 'mysql', port: 3306 },
  user: 'scaler',
  password: PASSWORD,
  database: 'testdb',
  tls: { mode: 'disable', ca: undefined, cert: undefined, key: undefined },
  queryValue: 3,
  activationQueryValue: 0,
  queryTimeoutMs: 5000,
  nullAsZero: false,
  metricName: 's0-mysql-testdb',
  metricType: 'AverageValue',
};

describe('parseMySqlConfig', () => {
  const cases: Array<{ name: string; input: TriggerInput; expected: Record<string, unknown> }> = [
    { name: 'the seed trigger', input: input(), expected: SEED },
    {
      name: 'fractional values, Value metric type, trigger index 2',
      input: withMetadata({ queryValue: '2.5', activationQueryValue: '1.5' }, { triggerIndex: 2, metricType: 'Value' }),
      expected: { ...SEED, queryValue: 2.5, activationQueryValue: 1.5, metricName: 's2-mysql-testdb', metricType: 'Value' },
    },
    {
      name: 'trimmed values and the default port',
      input: withMetadata({ queryValue: ' 3 ', port: undefined, host: ' mysql ' }),
      expected: SEED,
    },
    {
      name: 'a Go DSN from the TriggerAuthentication, with a dotted database name',
      input: input({ metadata: { query: SEED_QUERY, queryValue: '3' }, authParams: { connectionString: `scaler:${PASSWORD}@tcp(10.0.0.5:3307)/my.db?tls=true` } }),
      expected: { ...SEED, endpoint: { kind: 'tcp', host: '10.0.0.5', port: 3307 }, database: 'my.db', metricName: 's0-mysql-my-db',
        tls: { ...SEED.tls, mode: 'verify-identity' } },
    },
    {
      name: 'connectionStringFromEnv',
      input: input({ metadata: { query: SEED_QUERY, queryValue: '3', connectionStringFromEnv: 'MYSQL_DSN' }, authParams: {},
        resolvedEnv: { MYSQL_DSN: `mysql://scaler:${PASSWORD}@mysql/testdb` } }),
      expected: SEED,
    },
    {
      name: 'the TriggerAuthentication connection string over connectionStringFromEnv',
      input: input({ metadata: { query: SEED_QUERY, queryValue: '3', connectionStringFromEnv: 'MYSQL_DSN' },
        authParams: { connectionString: `scaler:${PASSWORD}@tcp(mysql)/testdb` }, resolvedEnv: { MYSQL_DSN: 'other:x@tcp(elsewhere)/otherdb' } }),
      expected: SEED,
    },
    {
      name: 'passwordFromEnv',
      input: withMetadata({ passwordFromEnv: 'MYSQL_PASSWORD' }, { authParams: {}, resolvedEnv: { MYSQL_PASSWORD: PASSWORD } }),
      expected: SEED,
    },
    {
      name: 'the TriggerAuthentication password over passwordFromEnv',
      input: withMetadata({ passwordFromEnv: 'MYSQL_PASSWORD' }, { resolvedEnv: { MYSQL_PASSWORD: 'from-env' } }),
      expected: SEED,
    },
    {
      name: 'host, username and dbName from the TriggerAuthentication',
      input: withMetadata({ host: undefined, username: undefined, dbName: undefined },
        { authParams: { password: PASSWORD, host: 'mysql', username: 'scaler', dbName: 'testdb' } }),
      expected: SEED,
    },
    {
      name: 'no password at all (an account without one)',
      input: input({ authParams: {} }),
      expected: { ...SEED, password: '' },
    },
    {
      name: 'tls verify-ca with a CA and a client certificate from the TriggerAuthentication',
      input: input({ authParams: { password: PASSWORD, tls: 'verify-ca', ca: 'CA-PEM', cert: 'CERT-PEM', key: 'KEY-PEM' } }),
      expected: { ...SEED, tls: { mode: 'verify-ca', ca: 'CA-PEM', cert: 'CERT-PEM', key: 'KEY-PEM' } },
    },
    {
      name: 'a CA without a mode means verify-ca',
      input: input({ authParams: { password: PASSWORD, ca: 'CA-PEM' } }),
      expected: { ...SEED, tls: { ...SEED.tls, mode: 'verify-ca', ca: 'CA-PEM' } },
    },
    {
      name: 'an explicit tls over the connection string\'s',
      input: input({ metadata: { query: SEED_QUERY, queryValue: '3', tls: 'verify-identity' },
        authParams: { connectionString: `scaler:${PASSWORD}@tcp(mysql)/testdb?tls=skip-verify` } }),
      expected: { ...SEED, tls: { ...SEED.tls, mode: 'verify-identity' } },
    },
    {
      name: 'queryTimeout and nullAsZero',
      input: withMetadata({ queryTimeout: '0.5', nullAsZero: 'TRUE' }),
      expected: { ...SEED, queryTimeoutMs: 500, nullAsZero: true },
    },
  ];
  for (const c of cases) {
    it(`reads ${c.name}`, () => {
      expect(summary(parseMySqlConfig(c.input))).to.deep.equal(c.expected);
    });
  }

  it('keeps the query verbatim', () => {
    expect(parseMySqlConfig(input()).query).to.equal(SEED_QUERY);
  });

  it('never shows the password when the config is serialized', () => {
    const config = parseMySqlConfig(input({ authParams: { password: PASSWORD, key: 'KEY-PEM-SECRET' } ,
      metadata: { ...input().metadata, tls: 'required', cert: 'CERT' } }));
    expect(JSON.stringify(config)).not.to.include(PASSWORD);
    expect(JSON.stringify(config)).not.to.include('KEY-PEM-SECRET');
    expect(`${config.target.password}`).to.equal('***');
  });

  const errors: Array<{ name: string; input: TriggerInput; field: string; message: string }> = [
    {
      name: 'no query', input: withMetadata({ query: undefined }), field: 'triggers[0].metadata.query',
      message: 'triggers[0].metadata.query is required: give the SELECT that returns the number to scale on',
    },
    {
      name: 'no queryValue', input: withMetadata({ queryValue: undefined }), field: 'triggers[0].metadata.queryValue',
      message: 'triggers[0].metadata.queryValue is required: give the target value per replica, e.g. "3" or "2.5"',
    },
    {
      name: 'a queryValue that is not a number', input: withMetadata({ queryValue: '3 pods' }), field: 'triggers[0].metadata.queryValue',
      message: 'triggers[0].metadata.queryValue is "3 pods", which is not a number; write it like "3" or "2.5"',
    },
    {
      name: 'a zero queryValue', input: withMetadata({ queryValue: '0' }), field: 'triggers[0].metadata.queryValue',
      message: 'triggers[0].metadata.queryValue is 0; it must be at least 0.001',
    },
    {
      name: 'a queryValue below the milli-unit of a quantity', input: withMetadata({ queryValue: '0.0004' }), field: 'triggers[0].metadata.queryValue',
      message: 'triggers[0].metadata.queryValue is 0.0004; it must be at least 0.001',
    },
    {
      name: 'an activationQueryValue that is not a number', input: withMetadata({ activationQueryValue: 'Infinity' }),
      field: 'triggers[0].metadata.activationQueryValue',
      message: 'triggers[0].metadata.activationQueryValue is "Infinity", which is not a number; write it like "3" or "2.5"',
    },
    {
      name: 'a queryTimeout of 0', input: withMetadata({ queryTimeout: '0' }), field: 'triggers[0].metadata.queryTimeout',
      message: 'triggers[0].metadata.queryTimeout is 0; it must be greater than 0',
    },
    {
      name: 'a queryTimeout over 300 s', input: withMetadata({ queryTimeout: '301' }), field: 'triggers[0].metadata.queryTimeout',
      message: 'triggers[0].metadata.queryTimeout is 301 seconds; give a number of seconds from 0.001 to 300',
    },
    {
      name: 'nullAsZero that is not a boolean', input: withMetadata({ nullAsZero: 'yes' }), field: 'triggers[0].metadata.nullAsZero',
      message: 'triggers[0].metadata.nullAsZero is "yes"; write "true" or "false"',
    },
    {
      name: 'metricType Utilization', input: input({ metricType: 'Utilization' }), field: 'triggers[0].metricType',
      message: 'triggers[0].metricType is Utilization; a mysql trigger supports AverageValue (default) or Value',
    },
    {
      name: 'no connection', input: withMetadata({ host: undefined }), field: 'triggers[0].metadata.host',
      message: 'triggers[0] has no connection: set host, port, dbName and username in metadata with the password in a ' +
        'TriggerAuthentication, or give connectionString through a TriggerAuthentication (or connectionStringFromEnv)',
    },
    {
      name: 'host without username', input: withMetadata({ username: undefined }), field: 'triggers[0].metadata.username',
      message: 'triggers[0].metadata.username is required with host mysql',
    },
    {
      name: 'host without dbName', input: withMetadata({ dbName: undefined }), field: 'triggers[0].metadata.dbName',
      message: 'triggers[0].metadata.dbName is required with host mysql',
    },
    {
      name: 'a port that is not a number', input: withMetadata({ port: '33o6' }), field: 'triggers[0].metadata.port',
      message: 'triggers[0].metadata.port is "33o6"; a port is a number from 1 to 65535',
    },
    {
      name: 'a password in plain metadata', input: withMetadata({ password: PASSWORD }, { authParams: {} }), field: 'triggers[0].metadata.password',
      message: 'triggers[0].metadata.password must not hold a credential in plain metadata: put it in a Secret and reference it ' +
        'from a TriggerAuthentication (parameter password), or name an env var with passwordFromEnv',
    },
    {
      name: 'a connection string in plain metadata', input: input({ metadata: { query: SEED_QUERY, queryValue: '3', connectionString: 'SQL_CONN_STR' }, authParams: {} }),
      field: 'triggers[0].metadata.connectionString',
      message: 'triggers[0].metadata.connectionString must not hold a credential in plain metadata: put it in a Secret and reference it ' +
        'from a TriggerAuthentication (parameter connectionString), or name an env var with connectionStringFromEnv',
    },
    {
      name: 'passwordFromEnv naming a missing variable', input: withMetadata({ passwordFromEnv: 'MYSQL_PASSWORD' }, { authParams: {} }),
      field: 'triggers[0].metadata.passwordFromEnv',
      message: 'triggers[0].metadata.passwordFromEnv names the env var MYSQL_PASSWORD, which the scale target\'s container does not ' +
        'have (check the variable name and envSourceContainerName)',
    },
    {
      name: 'the seed\'s connection string without a network',
      input: input({ metadata: { query: SEED_QUERY, queryValue: '3' }, authParams: { connectionString: `user:${PASSWORD}@10.0.0.5:3306/db` } }),
      field: 'triggers[0].authenticationRef parameter connectionString',
      message: 'triggers[0].authenticationRef parameter connectionString: connection string "user:***@10.0.0.5:3306/db" gives the ' +
        'address 10.0.0.5:3306 without a network, which the Go MySQL driver (and KEDA) reject as an unknown network; ' +
        'write it as user:***@tcp(10.0.0.5:3306)/db',
    },
    {
      name: 'an unknown tls mode', input: withMetadata({ tls: 'yes-please' }), field: 'triggers[0].metadata.tls',
      message: 'triggers[0].metadata.tls: "yes-please" is not a TLS mode; use one of disable, required, verify-ca, verify-identity ' +
        '(or the Go DSN values true, skip-verify, false)',
    },
    {
      name: 'tls preferred', input: withMetadata({ tls: 'preferred' }), field: 'triggers[0].metadata.tls',
      message: 'triggers[0].metadata.tls: tls=preferred (TLS only if the server offers it) is not supported: it silently falls back ' +
        'to plain text. Use tls=skip-verify (always encrypted) or tls=false',
    },
    {
      name: 'a client certificate without its key', input: input({ authParams: { password: PASSWORD, tls: 'required', cert: 'CERT' } }),
      field: 'triggers[0].authenticationRef parameter cert',
      message: 'triggers[0].authenticationRef parameter cert is set without its pair: a client certificate needs both cert and key in the TriggerAuthentication',
    },
    {
      name: 'a CA with TLS disabled', input: input({ authParams: { password: PASSWORD, tls: 'disable', ca: 'CA' } }),
      field: 'triggers[0].authenticationRef parameter ca',
      message: 'triggers[0].authenticationRef parameter ca is set but TLS is disabled; set tls to verify-ca or verify-identity to use it',
    },
  ];
  for (const c of errors) {
    it(`rejects ${c.name}`, () => {
      let caught: unknown;
      try {
        parseMySqlConfig(c.input);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ScalerConfigError);
      const error = caught as ScalerConfigError;
      expect(error.field).to.equal(c.field);
      expect(error.message).to.equal(c.message);
      expect(error.message).not.to.include(PASSWORD);
    });
  }
});

describe('mysqlMetricName', () => {
  const cases: Array<[number, string, string]> = [
    [0, 'testdb', 's0-mysql-testdb'],
    [3, 'stats_db', 's3-mysql-stats_db'],
    [1, 'a.b:c%d(e)f/g', 's1-mysql-a-b-c-d-e-f-g'],
    [0, '', 's0-mysql-'],
  ];
  for (const [index, database, expected] of cases) {
    it(`names trigger ${index} on "${database}" ${expected}`, () => {
      expect(mysqlMetricName(index, database)).to.equal(expected);
    });
  }
});
