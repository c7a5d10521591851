import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { ScalerError, type Scaler, type TriggerInput } from '../../src/scalers/scaler.js';
import { mysqlScalerType } from '../../src/scalers/mysql/mysql-scaler.js';
import { DEFAULT_MYSQL_POOL_OPTIONS, setMySqlPoolOptions } from '../../src/scalers/mysql/pool-registry.js';
import { startMariaDb, type MariaDb } from '../support/mariadb.js';

const PASSWORD = 'qs-Outage-pw-4410';

// This test is about the server going away and coming back, so it stops and starts its own MariaDB
// rather than the shared one.
describe('mysql scaler through a MariaDB outage @integration', function () {
  this.timeout(120_000);
  let db: MariaDb;
  let scaler: Scaler;

  before(async () => {
    db = await startMariaDb();
    await db.query(`CREATE USER 'qs_outage'@'%' IDENTIFIED BY '${PASSWORD}'`);
    await db.query(`GRANT SELECT ON *.* TO 'qs_outage'@'%'`);
    setMySqlPoolOptions({ backoff: { initialMs: 300, maxMs: 600 } });
    const input: TriggerInput = {
      namespace: 'default', scaledObjectName: 'mycluster', triggerIndex: 0, metricType: 'AverageValue', resolvedEnv: {},
      metadata: { query: 'SELECT 42', queryValue: '3' },
      authParams: { connectionString: `mysql://qs_outage:${PASSWORD}@127.0.0.1:${db.port}/mysql` },
    };
    scaler = mysqlScalerType.create(mysqlScalerType.parse(input), input);
  });

  after(async () => {
    await scaler?.close();
    setMySqlPoolOptions(DEFAULT_MYSQL_POOL_OPTIONS);
    await db?.stop();
  });

  async function read(): Promise<number | undefined> {
    return (await scaler.metricsAndActivity(AbortSignal.timeout(30_000))).samples[0]?.value;
  }

  it('fails with ConnectionFailed while the server is down and recovers once it is back, keeping its data', async () => {
    expect(await read()).to.equal(42);

    await db.stop({ keepData: true });
    const refused = `cannot connect to MySQL at 127.0.0.1:${db.port}: connection refused (ECONNREFUSED); check host and port in ` +
      'the trigger (or its connection string) and that the server is running and reachable';
    const errors: Array<[string, string]> = [];
    for (let i = 0; i < 2; i += 1) {
      try {
        await read();
        errors.push(['none', 'read succeeded']);
      } catch (err) {
        errors.push([(err as ScalerError).reason, (err as Error).message]);
      }
    }
    expect(errors).to.deep.equal([['ConnectionFailed', refused], ['ConnectionFailed', refused]]);

    await db.start();
    const deadline = Date.now() + 5_000;
    let value: number | undefined;
    while (value === undefined) {
      try {
        value = await read();
      } catch (err) {
        // Inside the backoff window the pool answers with the last error without dialing.
        expect((err as Error).message).to.equal(refused);
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // The login worked again, so the user created before the outage survived it.
    expect(value).to.equal(42);
  });

  it('removes the datadir on the final stop', async () => {
    const dataDir = db.dataDir;
    expect(existsSync(dataDir)).to.equal(true);
    await scaler.close();
    await db.stop();
    expect(existsSync(dataDir)).to.equal(false);
    let message = '';
    try {
      await db.start();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).to.equal(`MariaDB datadir ${dataDir} was removed by a final stop(); start a new instance`);
  });
});
