import { expect } from 'chai';
import { createServer } from 'node:net';
import { ScalerConfigError, ScalerError, type Scaler, type TriggerInput } from '../../src/scalers/scaler.js';
import { SecretValue } from '../../src/scalers/mysql/secret-value.js';
import { mysqlScalerType } from '../../src/scalers/mysql/mysql-scaler.js';
import { leasePool, mysqlPoolStats, setMySqlPoolOptions, DEFAULT_MYSQL_POOL_OPTIONS } from '../../src/scalers/mysql/pool-registry.js';
import { sharedMariaDb } from '../support/shared.js';
import type { MariaDb } from '../support/mariadb.js';
import { queriesSentBy } from '../support/general-log.js';
import { SEED_QUERY } from '../support/seed-scenario.js';

const PASSWORD = 'qs-Scaler-pw-7731';
// One user per concern, so connection counts and pools of one test do not see another's.
const USERS = ['qs_scaler', 'qs_pool', 'qs_flight', 'qs_ref', 'qs_busy', 'qs_share'] as const;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function failure(promise: Promise<unknown>): Promise<ScalerError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(ScalerError);
    return err as ScalerError;
  }
  throw new Error('expected the read to fail, but it succeeded');
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('mysql scaler against MariaDB @integration', function () {
  this.timeout(60_000);
  let db: MariaDb;
  const opened: Scaler[] = [];

  function scaler(
    metadata: Record<string, string>,
    options: { user?: string; password?: string; triggerIndex?: number; pollingIntervalMs?: number } = {},
  ): Scaler {
    const input: TriggerInput = {
      namespace: 'default',
      scaledObjectName: 'mycluster',
      triggerIndex: options.triggerIndex ?? 0,
      metadata: { queryValue: '3', host: db.host, port: String(db.port), username: options.user ?? 'qs_scaler', dbName: 'testdb', ...metadata },
      authParams: { password: options.password ?? PASSWORD },
      resolvedEnv: {},
      metricType: 'AverageValue',
      ...(options.pollingIntervalMs !== undefined && { pollingIntervalMs: options.pollingIntervalMs }),
    };
    const created = mysqlScalerType.create(mysqlScalerType.parse(input), input);
    opened.push(created);
    return created;
  }

  async function read(s: Scaler): Promise<{ value: number | undefined; active: boolean }> {
    const result = await s.metricsAndActivity(AbortSignal.timeout(30_000));
    return { value: result.samples[0]?.value, active: result.active };
  }

  /** Runs of the seed query by `user` while `during` runs. */
  async function seedQueriesOf(user: string, during: () => Promise<unknown>): Promise<number> {
    return (await queriesSentBy(db, user, during)).filter((text) => text.includes(`(${SEED_QUERY})`)).length;
  }

  async function setRows(none: number, other: number): Promise<void> {
    await db.query('DELETE FROM testdb.testtable');
    if (none + other === 0) return;
    await db.query(`INSERT INTO testdb.testtable (testcolumn1, testcolumn2)
      WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ${none + other})
      SELECT n, IF(n <= ${none}, 'none', 'busy') FROM s`);
  }

  before(async () => {
    db = await sharedMariaDb();
    await db.query('CREATE DATABASE IF NOT EXISTS testdb');
    await db.query('CREATE TABLE IF NOT EXISTS testdb.testtable (testcolumn1 INT PRIMARY KEY, testcolumn2 TEXT NOT NULL)');
    for (const user of USERS) {
      await db.query(`CREATE OR REPLACE USER '${user}'@'%' IDENTIFIED BY '${PASSWORD}'`);
      // Every privilege on testdb: a refused write must be refused by the read-only transaction, not by grants.
      await db.query(`GRANT ALL PRIVILEGES ON testdb.* TO '${user}'@'%'`);
    }
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    setMySqlPoolOptions(DEFAULT_MYSQL_POOL_OPTIONS);
  });

  after(async () => {
    await db.query('DELETE FROM testdb.testtable');
    await db.query('DROP TABLE IF EXISTS testdb.qs_sneaky');
    for (const user of USERS) await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
  });

  it('serves the seed query: 0, 17 and 84 for 0, 100 and 500 rows, with KEDA\'s metric name and activation', async () => {
    const seed = scaler({ query: SEED_QUERY });
    const withActivation = scaler({ query: SEED_QUERY, activationQueryValue: '20' });
    expect(seed.metricSpecs).to.deep.equal([{ metricName: 's0-mysql-testdb', targetType: 'AverageValue', targetValue: 3 }]);

    const seen: Array<[number, number | undefined, boolean, boolean]> = [];
    for (const rows of [0, 100, 500]) {
      // Rows of another state must not count: the query filters on testcolumn2='none'.
      await setRows(rows, 7);
      const plain = await read(seed);
      const activated = await read(withActivation);
      seen.push([rows, plain.value, plain.active, activated.active]);
    }
    expect(seen).to.deep.equal([
      [0, 0, false, false],
      [100, 17, true, false],
      [500, 84, true, true],
    ]);
  });

  it('parses DECIMAL, BIGINT and DOUBLE exactly, and NULL as 0 only when asked', async () => {
    const cases: Array<[string, number]> = [
      ['SELECT CAST(2.5 AS DECIMAL(10,4))', 2.5],
      ['SELECT CAST(9007199254740991 AS UNSIGNED)', 9007199254740991],
      ['SELECT CAST(1 AS DOUBLE) / 4', 0.25],
      ['SELECT COUNT(*) / 6 FROM testdb.testtable', 0],
    ];
    await setRows(0, 0);
    const values = [];
    for (const [query] of cases) values.push((await read(scaler({ query }))).value);
    expect(values).to.deep.equal(cases.map(([, value]) => value));
    expect((await read(scaler({ query: 'SELECT NULL', nullAsZero: 'true' }))).value).to.equal(0);
  });

  it('rejects every result that is not one non-negative number, naming the query', async () => {
    await setRows(3, 0);
    const cases: Array<[string, string]> = [
      ['SELECT NULL', 'query "SELECT NULL" returned NULL; wrap the value in COALESCE(..., 0), e.g. SELECT COALESCE(SUM(x), 0) ..., ' +
        'or set metadata nullAsZero: "true"'],
      ['SELECT testcolumn1 FROM testdb.testtable WHERE testcolumn1 < 0',
        'query "SELECT testcolumn1 FROM testdb.testtable WHERE testcolumn1 < 0" returned no rows; it must return exactly one row: ' +
        'wrap the value in COALESCE(..., 0), e.g. SELECT COALESCE(SUM(x), 0) ..., or set metadata nullAsZero: "true"'],
      ["SELECT 'abc' AS state", 'query "SELECT \'abc\' AS state" returned \'abc\', which is not a number'],
      // Two columns written out are refused before sending; behind `*` only the server can count them.
      ['SELECT * FROM testdb.testtable', 'query "SELECT * FROM testdb.testtable" returned more than one column; it must return ' +
        'exactly one column with one number'],
      ['SELECT testcolumn1 FROM testdb.testtable WHERE testcolumn1 <= 2',
        'query "SELECT testcolumn1 FROM testdb.testtable WHERE testcolumn1 <= 2" returned more than one row; it must return exactly one row ' +
        '(use an aggregate such as COUNT(*), SUM() or MAX(), or LIMIT 1)'],
      ['SELECT -5', 'query "SELECT -5" returned -5; a metric value must not be negative (wrap it in GREATEST(..., 0) if it can dip below 0)'],
      ["SELECT REPEAT('7', 1000000)", 'query "SELECT REPEAT(\'7\', 1000000)" returned a value longer than 100 characters, which is not a number'],
    ];
    const seen = [];
    for (const [query] of cases) {
      const error = await failure(read(scaler({ query })));
      seen.push([error.reason, error.message]);
    }
    expect(seen).to.deep.equal(cases.map(([, message]) => ['BadResult', message]));
  });

  it('refuses a query that writes before sending it, and behind that check the read-only transaction still stops a write', async () => {
    await setRows(0, 0);
    // The server forgets the last test's closed connections a moment after they close (longer on a busy machine).
    await eventually(async () => (await db.threadsConnected('qs_scaler')) === 0, 'the previous connections of qs_scaler to end');
    expect(() => scaler({ query: "INSERT INTO testdb.testtable VALUES (999999, 'none')" })).to.throw(ScalerConfigError,
      'triggers[0].metadata.query is refused: the query is an INSERT statement, which may change data or server state; ' +
      'a trigger query must be one SELECT that returns one number');
    expect(await db.threadsConnected('qs_scaler')).to.equal(0);

    // The second wall, reached by going around the check: a stored function that writes is refused
    // by the check (it runs with its definer's rights), and if it ran anyway, the read-only
    // transaction would stop its write.
    await db.query('DROP FUNCTION IF EXISTS testdb.qs_writer');
    await db.query("CREATE FUNCTION testdb.qs_writer() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO testdb.testtable VALUES (999999, 'none'); RETURN 1; END");
    try {
      expect(() => scaler({ query: 'SELECT testdb.qs_writer()' })).to.throw(ScalerConfigError,
        'the query calls the stored function testdb.qs_writer()');
      const lease = leasePool({ endpoint: { kind: 'tcp', host: db.host, port: db.port }, user: 'qs_scaler',
        password: new SecretValue(PASSWORD), database: 'testdb' }, { mode: 'disable' });
      try {
        const write = await failure(lease.query('SELECT testdb.qs_writer()', 5_000, AbortSignal.timeout(10_000)));
        expect([write.reason, write.message]).to.deep.equal(['QueryFailed', 'query "SELECT testdb.qs_writer()" tried to write: ' +
          'queryscaler runs it in a read-only transaction, so the query must only read (a SELECT returning one number)']);
        // A statement that is not a SELECT cannot even stand where the runner puts the query.
        const ddl = await failure(lease.query('CREATE TABLE testdb.qs_sneaky (a INT)', 5_000, AbortSignal.timeout(10_000)));
        expect(ddl.reason).to.equal('QueryFailed');
        expect(ddl.message).to.match(/^query "CREATE TABLE testdb.qs_sneaky \(a INT\)" failed on MySQL at .*You have an error in your SQL syntax/);
      } finally {
        await lease.release();
      }
    } finally {
      await db.query('DROP FUNCTION IF EXISTS testdb.qs_writer');
    }
    const rows = await db.query<Array<{ n: number }>>('SELECT COUNT(*) AS n FROM testdb.testtable WHERE testcolumn1 = 999999');
    const tables = await db.query<Array<{ n: number }>>(
      "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'testdb' AND TABLE_NAME = 'qs_sneaky'");
    expect([Number(rows[0]?.n), Number(tables[0]?.n)]).to.deep.equal([0, 0]);
  });

  it('stops SELECT SLEEP(10) at a 1 s limit', async () => {
    const slow = scaler({ query: 'SELECT SLEEP(10)', queryTimeout: '1' });
    const started = Date.now();
    const error = await failure(read(slow));
    const elapsed = Date.now() - started;
    expect([error.reason, error.message]).to.deep.equal(['QueryTimeout',
      'query "SELECT SLEEP(10)" ran longer than its time limit of 1 s and was stopped; make it cheaper (e.g. an index on the ' +
      'filtered columns) or raise metadata.queryTimeout (seconds)']);
    expect(elapsed).to.be.within(900, 2_500);
    // The connection survives a server-side stop and serves the next query.
    expect((await read(scaler({ query: 'SELECT 7', queryTimeout: '1' }))).value).to.equal(7);
  });

  it('reports a wrong password as AccessDenied without the password', async () => {
    const wrong = 'not-the-Password-123';
    const error = await failure(read(scaler({ query: 'SELECT 1' }, { password: wrong })));
    expect([error.reason, error.message]).to.deep.equal(['AccessDenied',
      `MySQL at 127.0.0.1:${db.port} refused the login of user 'qs_scaler': Access denied for user 'qs_scaler'@'127.0.0.1' ` +
      '(using password: YES). Check the username and password that the TriggerAuthentication supplies (its Secret) against the database user']);
    expect(error.message).not.to.include(wrong);
    expect(error.message).not.to.include(PASSWORD);
  });

  it('reports a closed port as ConnectionFailed, connects lazily, and backs off instead of redialing', async () => {
    const port = await freePort();
    const input: TriggerInput = {
      namespace: 'default', scaledObjectName: 'mycluster', triggerIndex: 0, metricType: 'AverageValue', resolvedEnv: {},
      metadata: { query: 'SELECT 1', queryValue: '3' },
      authParams: { connectionString: `qs_scaler:${PASSWORD}@tcp(127.0.0.1:${port})/testdb` },
    };
    const closed = mysqlScalerType.create(mysqlScalerType.parse(input), input);
    opened.push(closed);
    const label = `qs_scaler@127.0.0.1:${port}/testdb`;
    const stats = () => mysqlPoolStats().find((pool) => pool.label === label);
    expect(stats()).to.deep.include({ open: 0, consecutiveDialFailures: 0 });

    const first = await failure(read(closed));
    expect([first.reason, first.message]).to.deep.equal(['ConnectionFailed',
      `cannot connect to MySQL at 127.0.0.1:${port}: connection refused (ECONNREFUSED); check host and port in the trigger ` +
      '(or its connection string) and that the server is running and reachable']);
    expect(first.message).not.to.include(PASSWORD);

    const started = Date.now();
    const second = await failure(read(closed));
    expect(Date.now() - started).to.be.below(100);
    expect(second.message).to.equal(first.message);
    expect(stats()).to.deep.include({ open: 0, consecutiveDialFailures: 1 });
  });

  it('cancels a read when the caller aborts', async () => {
    const slow = scaler({ query: 'SELECT SLEEP(1)' });
    const error = await failure(slow.metricsAndActivity(AbortSignal.timeout(100)));
    expect([error.reason, error.message]).to.deep.equal(['Aborted',
      `the read of query "SELECT SLEEP(1)" from MySQL at 127.0.0.1:${db.port} was cancelled`]);
  });

  it('keeps 200 scalers on one DSN within the pool bound of 4 server connections', async () => {
    const scalers = Array.from({ length: 200 }, (_, i) =>
      scaler({ query: `SELECT ${i} FROM (SELECT SLEEP(0.01)) AS pause` }, { user: 'qs_pool' }));
    expect(await db.threadsConnected('qs_pool')).to.equal(0);

    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, await db.threadsConnected('qs_pool'));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const values = await Promise.all(scalers.map(async (s) => (await read(s)).value));
    sampling = false;
    await sampler;

    expect(values).to.deep.equal(Array.from({ length: 200 }, (_, i) => i));
    expect(most).to.equal(4);
    expect(await db.threadsConnected('qs_pool')).to.equal(4);
    expect(mysqlPoolStats().filter((pool) => pool.label.startsWith('qs_pool@'))).to.deep.equal([
      { label: `qs_pool@127.0.0.1:${db.port}/testdb`, leases: 200, maxConnections: 4, open: 4, idle: 4, waiting: 0, slowInUse: 0, consecutiveDialFailures: 0 },
    ]);
  });

  it('gives up with PoolExhausted when every connection stays busy past the acquire timeout', async () => {
    setMySqlPoolOptions({ maxConnections: 1, acquireTimeoutMs: 200 });
    const slow = scaler({ query: 'SELECT SLEEP(1)' }, { user: 'qs_busy' });
    const quick = scaler({ query: 'SELECT 1' }, { user: 'qs_busy' });
    const slowRead = read(slow);
    await eventually(async () => (await db.threadsConnected('qs_busy')) === 1, 'the slow query to hold the one connection');
    const error = await failure(read(quick));
    expect([error.reason, error.message]).to.deep.equal(['PoolExhausted',
      `no MySQL connection to qs_busy@127.0.0.1:${db.port}/testdb became free within 0.2 s (pool of 1, all busy with other queries): ` +
      "make the queries faster, poll less often, or raise queryscaler's MySQL pool size"]);
    expect((await slowRead).value).to.equal(0);
    expect(await db.threadsConnected('qs_busy')).to.equal(1);
  });

  it('runs one query for 50 concurrent reads of the same query (single-flight)', async () => {
    await setRows(100, 0);
    const scalers = Array.from({ length: 50 }, () => scaler({ query: SEED_QUERY }, { user: 'qs_flight' }));
    await read(scalers[0]!); // connects first, so the window below holds only reads

    const seedQueriesRun = (during: () => Promise<unknown>): Promise<number> => seedQueriesOf('qs_flight', during);

    let values: Array<number | undefined> = [];
    const concurrent = await seedQueriesRun(async () => {
      values = await Promise.all(scalers.map(async (s) => (await read(s)).value));
    });
    expect(values).to.deep.equal(Array.from({ length: 50 }, () => 17));
    expect(concurrent).to.equal(1);

    // Single-flight is not a cache: reads one after the other each run the query.
    const sequential = await seedQueriesRun(async () => {
      await read(scalers[1]!);
      await read(scalers[2]!);
    });
    expect(sequential).to.equal(2);
  });

  it('shares a result between ScaledObjects for as old as each read allows, stamped with the time of its own run', async () => {
    await setRows(6, 0);
    const [a, b, c] = [0, 1, 2].map(() => scaler({ query: SEED_QUERY }, { user: 'qs_share', pollingIntervalMs: 60_000 }));
    await a!.metricsAndActivity(AbortSignal.timeout(30_000)); // connects first, so the windows below hold only reads

    let first: Date | undefined;
    let shared: Date | undefined;
    const polls = await seedQueriesOf('qs_share', async () => {
      first = (await b!.metricsAndActivity(AbortSignal.timeout(30_000))).readAt;
      await new Promise((resolve) => setTimeout(resolve, 50));
      shared = (await c!.metricsAndActivity(AbortSignal.timeout(30_000))).readAt;
    });
    // A poll takes another ScaledObject's result up to its polling interval old, with that run's time.
    expect(polls).to.equal(0);
    expect(shared).to.deep.equal(first);

    let fresh: Date | undefined;
    let afterFresh: Date | undefined;
    const narrowed = await seedQueriesOf('qs_share', async () => {
      await setRows(12, 0);
      // A read for an HPA request takes only a result from its last moments: this one runs the query...
      const read = await b!.metricsAndActivity(AbortSignal.timeout(30_000), 20);
      fresh = read.readAt;
      expect(read.samples[0]?.value).to.equal(2);
      // ...and its result is the one the next poll of another ScaledObject takes: it replaces a query, not adds one.
      const poll = await a!.metricsAndActivity(AbortSignal.timeout(30_000));
      afterFresh = poll.readAt;
      expect(poll.samples[0]?.value).to.equal(2);
    });
    expect(narrowed).to.equal(1);
    expect(afterFresh).to.deep.equal(fresh);
    expect(fresh!.getTime()).to.be.greaterThan(first!.getTime());
  });

  it('closes the shared pool when the last scaler closes', async () => {
    const three = [0, 1, 2].map(() => scaler({ query: 'SELECT 1' }, { user: 'qs_ref' }));
    await Promise.all(three.map(read));
    const label = `qs_ref@127.0.0.1:${db.port}/testdb`;
    const pool = () => mysqlPoolStats().find((p) => p.label === label);
    expect(pool()).to.deep.include({ leases: 3 });
    expect(await db.threadsConnected('qs_ref')).to.be.within(1, 3);

    await three[0]!.close();
    await three[0]!.close(); // twice is harmless and does not release twice
    await three[1]!.close();
    expect(pool()).to.deep.include({ leases: 1 });
    const remaining = await db.threadsConnected('qs_ref');
    expect(remaining).to.be.within(1, 3);

    await three[2]!.close();
    expect(pool()).to.equal(undefined);
    await eventually(async () => (await db.threadsConnected('qs_ref')) === 0, 'qs_ref connections to close');
    const error = await failure(read(three[2]!));
    expect(error.reason).to.equal('Aborted');
  });

  it('keeps a pool per password, so a wrong password does not borrow a good connection', async () => {
    const good = scaler({ query: 'SELECT 1' });
    const bad = scaler({ query: 'SELECT 1' }, { password: 'wrong-password-here' });
    expect((await read(good)).value).to.equal(1);
    expect((await failure(read(bad))).reason).to.equal('AccessDenied');
  });
});
