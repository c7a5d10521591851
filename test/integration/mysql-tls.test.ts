import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ScalerError, type Scaler, type TriggerInput } from '../../src/scalers/scaler.js';
import { mysqlScalerType } from '../../src/scalers/mysql/mysql-scaler.js';
import { startMariaDb, type MariaDb } from '../support/mariadb.js';

const PASSWORD = 'qs-Tls-pw-9052';
// 1 when this session is encrypted.
const ENCRYPTED = "SELECT COUNT(*) FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_VERSION' AND VARIABLE_VALUE LIKE 'TLS%'";

async function otherCaPem(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'queryscaler-other-ca-'));
  try {
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=some other CA',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.pem')], { timeout: 30_000 });
    return await readFile(join(dir, 'ca.pem'), 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Needs a TLS-enabled server, which the shared instance is not.
describe('mysql scaler over TLS @integration', function () {
  this.timeout(120_000);
  let db: MariaDb;
  const opened: Scaler[] = [];

  function scaler(authParams: Record<string, string>, host = '127.0.0.1'): Scaler {
    const input: TriggerInput = {
      namespace: 'default', scaledObjectName: 'mycluster', triggerIndex: 0, metricType: 'AverageValue', resolvedEnv: {},
      metadata: { query: ENCRYPTED, queryValue: '3', host, port: String(db.port), username: 'qs_tls', dbName: 'mysql' },
      authParams: { password: PASSWORD, ...authParams },
    };
    const created = mysqlScalerType.create(mysqlScalerType.parse(input), input);
    opened.push(created);
    return created;
  }

  async function outcome(s: Scaler): Promise<string> {
    try {
      const result = await s.metricsAndActivity(AbortSignal.timeout(30_000));
      return `value ${result.samples[0]?.value}`;
    } catch (err) {
      return `${(err as ScalerError).reason}: ${(err as Error).message}`;
    }
  }

  before(async () => {
    db = await startMariaDb({ tls: true });
    await db.query(`CREATE USER 'qs_tls'@'%' IDENTIFIED BY '${PASSWORD}' REQUIRE SSL`);
    await db.query(`GRANT SELECT ON *.* TO 'qs_tls'@'%'`);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  after(async () => {
    await db?.stop();
  });

  it('connects with verify-ca, verify-identity and required when the CA is right', async () => {
    const ca = db.tlsCaPem!;
    expect(ca).to.match(/^-----BEGIN CERTIFICATE-----/);
    const results = [
      await outcome(scaler({ tls: 'verify-ca', ca })),
      await outcome(scaler({ tls: 'verify-identity', ca })),
      await outcome(scaler({ tls: 'verify-identity', ca }, 'localhost')),
      await outcome(scaler({ tls: 'required' })),
    ];
    expect(results).to.deep.equal(['value 1', 'value 1', 'value 1', 'value 1']);
  });

  it('fails clearly with the wrong CA, and without TLS for a user that requires it', async () => {
    const results = [
      await outcome(scaler({ tls: 'verify-ca', ca: await otherCaPem() })),
      await outcome(scaler({ tls: 'disable' })),
    ];
    expect(results).to.deep.equal([
      `ConnectionFailed: cannot connect to MySQL at 127.0.0.1:${db.port}: TLS handshake failed: self-signed certificate in certificate chain ` +
        '(HANDSHAKE_SSL_ERROR); check that the ca auth parameter holds the CA that signed the server certificate ' +
        '(or use tls: required to encrypt without checking)',
      `AccessDenied: MySQL at 127.0.0.1:${db.port} refused the login of user 'qs_tls': Access denied for user 'qs_tls'@'127.0.0.1' ` +
        '(using password: YES). Check the username and password that the TriggerAuthentication supplies (its Secret) against the database user',
    ]);
  });
});
