import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { ScalerConfigError, ScalerError, type Scaler, type TriggerInput } from '../../src/scalers/scaler.js';
import { mysqlScalerType } from '../../src/scalers/mysql/mysql-scaler.js';
import { MAX_QUANTITY_VALUE, toQuantity } from '../../src/quantity.js';
import { sharedMariaDb } from '../support/shared.js';
import type { MariaDb } from '../support/mariadb.js';

// Every attack runs as an account that holds ALL PRIVILEGES WITH GRANT OPTION, as the blog post's
// root does: what stops it must be queryscaler, not the account's grants.
const ATTACKER = 'qs_all_privileges';
const VICTIM = 'qs_victim';
const PASSWORD = 'qs-Attack-pw-5519';
const OUTFILE = join(tmpdir(), `qs-outfile-${process.pid}`);
const ONE_SELECT = 'a trigger query must be one SELECT that returns one number';

describe('trigger-query safety against MariaDB, as an account with ALL PRIVILEGES @integration', function () {
  this.timeout(60_000);
  let db: MariaDb;
  let victim: mysql.Connection;
  const opened: Scaler[] = [];

  function input(query: string): TriggerInput {
    return {
      namespace: 'default',
      scaledObjectName: 'attacker',
      triggerIndex: 0,
      metadata: { query, queryValue: '3', host: db.host, port: String(db.port), username: ATTACKER, dbName: 'testdb' },
      authParams: { password: PASSWORD },
      resolvedEnv: {},
      metricType: 'AverageValue',
    };
  }

  function scaler(query: string): Scaler {
    const trigger = input(query);
    const created = mysqlScalerType.create(mysqlScalerType.parse(trigger), trigger);
    opened.push(created);
    return created;
  }

  function refusal(query: string): string {
    try {
      mysqlScalerType.parse(input(query));
    } catch (err) {
      expect(err).to.be.instanceOf(ScalerConfigError);
      return (err as Error).message;
    }
    throw new Error(`expected ${JSON.stringify(query)} to be refused`);
  }

  async function globalBytesSent(): Promise<number> {
    const rows = await db.query<Array<{ Value: string }>>("SHOW GLOBAL STATUS LIKE 'Bytes_sent'");
    return Number(rows[0]?.Value);
  }

  before(async () => {
    db = await sharedMariaDb();
    await db.query('CREATE DATABASE IF NOT EXISTS testdb');
    for (const user of [ATTACKER, VICTIM]) await db.query(`CREATE OR REPLACE USER '${user}'@'%' IDENTIFIED BY '${PASSWORD}'`);
    await db.query(`GRANT ALL PRIVILEGES ON *.* TO '${ATTACKER}'@'%' WITH GRANT OPTION`);
    await db.query(`GRANT SELECT ON testdb.* TO '${VICTIM}'@'%'`);
    victim = await mysql.createConnection({ host: db.host, port: db.port, user: VICTIM, password: PASSWORD });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  after(async () => {
    await victim.end();
    for (const user of [ATTACKER, VICTIM]) await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
  });

  it('refuses each attack before sending anything, and the server shows no trace of any', async () => {
    const maxConnections = await db.query<Array<{ m: number }>>('SELECT @@GLOBAL.max_connections AS m');
    const attacks: Array<[string, string]> = [
      ['SHUTDOWN', `the query is a SHUTDOWN statement, which may change data or server state; ${ONE_SELECT}`],
      ['SET GLOBAL max_connections=1', `the query is a SET statement, which may change data or server state; ${ONE_SELECT}`],
      [`KILL USER ${VICTIM}`, `the query is a KILL statement, which may change data or server state; ${ONE_SELECT}`],
      ['CREATE TEMPORARY TABLE qs_t (a INT)', `the query is a CREATE statement, which may change data or server state; ${ONE_SELECT}`],
      ['SELECT 1; SHUTDOWN', `the query holds more than one statement (a ";" at position 9); ${ONE_SELECT}`],
      [`SELECT 1 INTO OUTFILE '${OUTFILE}'`, "the query uses SELECT ... INTO OUTFILE, which writes outside the query's result; " +
        'remove the INTO clause: queryscaler reads the result itself'],
      ["SELECT GET_LOCK('qs_lock', 100)", 'the query calls GET_LOCK(), which works on named locks, which outlive the query on the ' +
        'pooled connection and block other sessions; remove it: a trigger query only reads'],
      ["SELECT COUNT(*) FROM (SELECT GET_LOCK('qs_lock', 100) AS l) AS hidden", 'the query calls GET_LOCK(), which works on named ' +
        'locks, which outlive the query on the pooled connection and block other sessions; remove it: a trigger query only reads'],
      ["SELECT 1 /*!99999 + GET_LOCK('qs_lock', 100) */", 'the comment at position 10 starts with /*!, which MariaDB and MySQL ' +
        'execute as SQL; write its content as plain SQL or remove it'],
      ["SELECT 1 --GET_LOCK('qs_lock', 100)", '"--" at position 10 is not followed by a space, so MySQL reads it as two minus signs ' +
        'where a comment was perhaps meant; write "-- " for a comment or "- -" for two minus signs'],
      ['SELECT @qs := 5', 'the query assigns a user variable (:=), which outlives the query on the pooled connection; compute the value inline instead'],
      ["SELECT LENGTH(LOAD_FILE('/etc/passwd'))", 'the query calls LOAD_FILE(), which reads a file on the database host; remove it: a trigger query only reads'],
    ];
    const seen = attacks.map(([query]) => refusal(query));
    expect(seen).to.deep.equal(attacks.map(([, message]) => `triggers[0].metadata.query is refused: ${message}`));

    expect(await db.threadsConnected(ATTACKER)).to.equal(0);
    expect(await db.query<Array<{ m: number }>>('SELECT @@GLOBAL.max_connections AS m')).to.deep.equal(maxConnections);
    expect(existsSync(OUTFILE)).to.equal(false);
    expect(await db.query("SELECT IS_USED_LOCK('qs_lock') AS holder")).to.deep.equal([{ holder: null }]);
    const [alive] = await victim.query<mysql.RowDataPacket[]>('SELECT 1 AS ok');
    expect(alive).to.deep.equal([{ ok: 1 }]);
  });

  it('sends at most two rows of a million, and a bounded part of a megabyte value', async () => {
    const million = scaler('SELECT seq FROM seq_1_to_1000000');
    const huge = scaler("SELECT REPEAT('7', 1000000)");
    const errors: Array<[string, string]> = [];
    const before = await globalBytesSent();
    for (const s of [million, huge]) {
      try {
        await s.metricsAndActivity(AbortSignal.timeout(30_000));
      } catch (err) {
        expect(err).to.be.instanceOf(ScalerError);
        errors.push([(err as ScalerError).reason, (err as Error).message]);
      }
    }
    const sent = (await globalBytesSent()) - before;
    expect(errors).to.deep.equal([
      ['BadResult', 'query "SELECT seq FROM seq_1_to_1000000" returned more than one row; it must return exactly one row ' +
        '(use an aggregate such as COUNT(*), SUM() or MAX(), or LIMIT 1)'],
      ['BadResult', 'query "SELECT REPEAT(\'7\', 1000000)" returned a value longer than 100 characters, which is not a number'],
    ]);
    // Connecting, the session setup and both answers; either result in full would be megabytes.
    console.log(`      bytes sent by the server for a million rows and a 1 MB value, connection setup included: ${sent}`);
    expect(sent).to.be.below(8_192);
  });

  it('reads every huge number as the one clamped value the metrics API serves as 9223372036854775807m', async () => {
    const values = [];
    for (const query of ['SELECT 1.7976931348623157e308', 'SELECT 18446744073709551615', 'SELECT 1e30', `SELECT ${'9'.repeat(65)}`]) {
      const result = await scaler(query).metricsAndActivity(AbortSignal.timeout(30_000));
      values.push(result.samples[0]?.value);
    }
    expect(values).to.deep.equal([MAX_QUANTITY_VALUE, MAX_QUANTITY_VALUE, MAX_QUANTITY_VALUE, MAX_QUANTITY_VALUE]);
    expect(toQuantity(MAX_QUANTITY_VALUE)).to.equal('9223372036854775807m');
  });

  it('reads strings as the check did even when the server defaults to NO_BACKSLASH_ESCAPES and ANSI_QUOTES', async () => {
    const [original] = await db.query<Array<{ mode: string }>>('SELECT @@GLOBAL.sql_mode AS mode');
    await db.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES,ANSI_QUOTES')");
    try {
      // Under the server's default these would be a 4-character string and an unknown column "ab".
      const lengths = [];
      for (const query of ["SELECT LENGTH('a\\'b')", 'SELECT LENGTH("ab")']) {
        lengths.push((await scaler(query).metricsAndActivity(AbortSignal.timeout(30_000))).samples[0]?.value);
      }
      expect(lengths).to.deep.equal([3, 2]);
    } finally {
      await db.query('SET GLOBAL sql_mode = ?', [original?.mode ?? '']);
    }
  });

  it('keeps a connection for a quick query while eight slow ones share the rest of the pool', async () => {
    const slowQueries = Array.from({ length: 8 }, (_, i) => `SELECT SLEEP(1) + ${i}`);
    const slow = slowQueries.map((query) => scaler(query));
    const quick = scaler('SELECT 7');
    const read = async (s: Scaler) => (await s.metricsAndActivity(AbortSignal.timeout(30_000))).samples[0]?.value;
    // The first round teaches the pool which queries are slow (each took about a second).
    await Promise.all(slow.map(read));

    const finished: string[] = [];
    let peak = 0;
    const watching = (async () => {
      while (finished.length < 9) {
        peak = Math.max(peak, await db.threadsConnected(ATTACKER));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const slowReads = slow.map(async (s, i) => {
      await read(s);
      finished.push(`slow ${i}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const quickValue = await read(quick);
    finished.push('quick');
    await Promise.all(slowReads);
    await watching;
    // With all four connections held by slow queries the quick one would come after the first of them.
    expect([quickValue, finished.indexOf('quick')]).to.deep.equal([7, 0]);
    expect(peak).to.be.at.most(4);
  });

  it('audits the account on first connect: ALL PRIVILEGES is named with the GRANT for a SELECT-only account, SELECT alone is not', async () => {
    const powerful = await scaler('SELECT 1').metricsAndActivity(AbortSignal.timeout(30_000));
    const selectOnly = mysqlScalerType.parse({ ...input('SELECT 1'), metadata: { ...input('SELECT 1').metadata, username: VICTIM } });
    const limited = mysqlScalerType.create(selectOnly, input('SELECT 1'));
    opened.push(limited);
    expect([powerful.accountAudit, (await limited.metricsAndActivity(AbortSignal.timeout(30_000))).accountAudit]).to.deep.equal([
      {
        account: `'${ATTACKER}'@'%'`,
        excessMessage: `the MySQL account '${ATTACKER}'@'%' that the trigger uses holds more than SELECT: ALL PRIVILEGES ON *.*; ` +
          "WITH GRANT OPTION ON *.*. A trigger query only reads: give it an account of its own that can do nothing else, e.g. " +
          "CREATE USER 'queryscaler'@'%' IDENTIFIED BY '<password>'; GRANT SELECT ON `testdb`.* TO 'queryscaler'@'%'; " +
          "and put that user and password in the TriggerAuthentication's Secret",
      },
      { account: `'${VICTIM}'@'%'` },
    ]);
  });
});
