import { expect } from 'chai';
import { DsnError, endpointLabel, parseConnectionString, redactConnectionString, type Endpoint } from '../../src/scalers/mysql/dsn.js';
import type { TlsMode } from '../../src/scalers/mysql/tls-settings.js';

const PASSWORD = 's3cr3t-PW';

describe('parseConnectionString', () => {
  const cases: Array<{ dsn: string; endpoint: Endpoint; user: string; password: string; database: string; tls?: TlsMode }> = [
    {
      dsn: `scaler:${PASSWORD}@tcp(db.example:3307)/testdb`,
      endpoint: { kind: 'tcp', host: 'db.example', port: 3307 }, user: 'scaler', password: PASSWORD, database: 'testdb',
    },
    {
      dsn: `scaler:${PASSWORD}@tcp(10.0.0.5)/testdb`,
      endpoint: { kind: 'tcp', host: '10.0.0.5', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb',
    },
    {
      // The driver splits at the last '/' and the last '@' before it, so both may appear in a password.
      dsn: 'scaler:p@ss/w:rd@tcp(db:3306)/testdb',
      endpoint: { kind: 'tcp', host: 'db', port: 3306 }, user: 'scaler', password: 'p@ss/w:rd', database: 'testdb',
    },
    {
      dsn: `scaler:${PASSWORD}@unix(/run/mysqld/mysqld.sock)/testdb`,
      endpoint: { kind: 'socket', path: '/run/mysqld/mysqld.sock' }, user: 'scaler', password: PASSWORD, database: 'testdb',
    },
    {
      dsn: 'scaler@tcp([::1]:3310)/testdb?tls=true',
      endpoint: { kind: 'tcp', host: '::1', port: 3310 }, user: 'scaler', password: '', database: 'testdb', tls: 'verify-identity',
    },
    {
      dsn: `scaler:${PASSWORD}@tcp(db)/testdb?charset=utf8mb4&tls=skip-verify&parseTime=true`,
      endpoint: { kind: 'tcp', host: 'db', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb', tls: 'required',
    },
    {
      dsn: `scaler:${PASSWORD}@tcp(db)/testdb?tls=false`,
      endpoint: { kind: 'tcp', host: 'db', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb', tls: 'disable',
    },
    {
      dsn: `scaler:${PASSWORD}@tcp(db)/testdb?tls=verify-ca`,
      endpoint: { kind: 'tcp', host: 'db', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb', tls: 'verify-ca',
    },
    {
      dsn: `scaler:${PASSWORD}@/testdb`,
      endpoint: { kind: 'tcp', host: '127.0.0.1', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb',
    },
    {
      dsn: '@/testdb',
      endpoint: { kind: 'tcp', host: '127.0.0.1', port: 3306 }, user: '', password: '', database: 'testdb',
    },
    {
      dsn: `mysql://scaler:p%40ss%2Fword@db.example:3307/testdb?ssl-mode=VERIFY_CA`,
      endpoint: { kind: 'tcp', host: 'db.example', port: 3307 }, user: 'scaler', password: 'p@ss/word', database: 'testdb', tls: 'verify-ca',
    },
    {
      dsn: `mysql://scaler:${PASSWORD}@db.example/testdb`,
      endpoint: { kind: 'tcp', host: 'db.example', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb',
    },
    {
      dsn: `mysql://scaler:${PASSWORD}@localhost/testdb?socket=/run/mysqld/mysqld.sock`,
      endpoint: { kind: 'socket', path: '/run/mysqld/mysqld.sock' }, user: 'scaler', password: PASSWORD, database: 'testdb',
    },
    {
      dsn: `mysql://scaler:${PASSWORD}@[::1]:3306/testdb?tls=required`,
      endpoint: { kind: 'tcp', host: '::1', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb', tls: 'required',
    },
    {
      dsn: `  mariadb://scaler:${PASSWORD}@db:3306/testdb?sslmode=disabled  `,
      endpoint: { kind: 'tcp', host: 'db', port: 3306 }, user: 'scaler', password: PASSWORD, database: 'testdb', tls: 'disable',
    },
  ];
  for (const c of cases) {
    it(`parses ${c.dsn.trim()}`, () => {
      const target = parseConnectionString(c.dsn);
      expect(target.endpoint).to.deep.equal(c.endpoint);
      expect(target.user).to.equal(c.user);
      expect(target.password.reveal()).to.equal(c.password);
      expect(target.database).to.equal(c.database);
      expect(target.tls).to.equal(c.tls);
    });
  }

  const errors: Array<[string, string]> = [
    [`user:${PASSWORD}@10.0.0.5:3306/db`,
      'connection string "user:***@10.0.0.5:3306/db" gives the address 10.0.0.5:3306 without a network, which the Go MySQL ' +
      'driver (and KEDA) reject as an unknown network; write it as user:***@tcp(10.0.0.5:3306)/db'],
    [`user:${PASSWORD}@mysql.prod.svc/db?tls=true`,
      'connection string "user:***@mysql.prod.svc/db?tls=true" gives the address mysql.prod.svc without a network, which the ' +
      'Go MySQL driver (and KEDA) reject as an unknown network; write it as user:***@tcp(mysql.prod.svc)/db?tls=true'],
    [`user:${PASSWORD}@udp(db:3306)/db`,
      'connection string "user:***@udp(db:3306)/db" has an unknown network in "udp(db:3306)"; use tcp(host:port) or unix(/path/to/mysqld.sock)'],
    [`user:${PASSWORD}@tcp(db:99999)/db`,
      'connection string "user:***@tcp(db:99999)/db" has port "99999"; a port is a number from 1 to 65535'],
    [`user:${PASSWORD}@tcp(db:3306)`,
      'connection string "user:***@tcp(db:3306)" has no "/" before the database name; write it as user:password@tcp(host:3306)/dbname'],
    [`user:${PASSWORD}@unix()/db`,
      'connection string "user:***@unix()/db" has unix() without a socket path; write unix(/run/mysqld/mysqld.sock)'],
    [`user:${PASSWORD}@tcp(::1)/db`,
      'connection string "user:***@tcp(::1)/db" has the IPv6 address ::1 without brackets; write [::1]:3306'],
    [`user:${PASSWORD}@tcp(db)/db?tls=preferred`,
      'connection string "user:***@tcp(db)/db?tls=preferred": tls=preferred (TLS only if the server offers it) is not supported: ' +
      'it silently falls back to plain text. Use tls=skip-verify (always encrypted) or tls=false'],
    [`user:${PASSWORD}@tcp(db)/db?tls=custom`,
      'connection string "user:***@tcp(db)/db?tls=custom" has tls=custom; use one of disable, required, verify-ca, verify-identity ' +
      '(or the Go DSN values true, skip-verify, false) (named TLS configs registered in Go code do not exist here: give the CA as the "ca" auth parameter)'],
    [`postgres://user:${PASSWORD}@db/db`,
      'connection string "postgres://user:***@db/db" has the scheme postgres://; use mysql://'],
    [`mysql://user:${PASSWORD}@/db`,
      'connection string "mysql://user:***@/db" is not a valid URL; write mysql://user:password@host:3306/dbname'],
    [`mysql://user:${PASSWORD}@/db`.replace('@/', '@:3306/'),
      'connection string "mysql://user:***@:3306/db" is not a valid URL; write mysql://user:password@host:3306/dbname'],
    ['mysql://user@[]/db', 'connection string "mysql://***@[]/db" is not a valid URL; write mysql://user:password@host:3306/dbname'],
    // Without an '@' any part may be the password (these two once went verbatim into status, Events and logs).
    [PASSWORD, 'the connection string has no "@" between user:password and the address (it is not shown: without the "@" queryscaler ' +
      'cannot tell the password from the rest); write it as user:password@tcp(host:3306)/dbname or mysql://user:password@host:3306/dbname'],
    [`u:${PASSWORD}/db`, 'the connection string has no "@" between user:password and the address (it is not shown: without the "@" queryscaler ' +
      'cannot tell the password from the rest); write it as user:password@tcp(host:3306)/dbname or mysql://user:password@host:3306/dbname'],
    [`mysql://u:${PASSWORD}/db`, 'the connection string has no "@" between user:password and the address (it is not shown: without the "@" queryscaler ' +
      'cannot tell the password from the rest); write it as user:password@tcp(host:3306)/dbname or mysql://user:password@host:3306/dbname'],
    // A '?' or '/' inside the password must not stop the masking (both once leaked the password).
    [`mysql://user:se?${PASSWORD}@db/testdb`,
      'connection string "mysql://user:***@db/testdb" is not a valid URL; write mysql://user:password@host:3306/dbname'],
    [`user:pa/${PASSWORD}@tcp(db:3306)`,
      'connection string "user:***@tcp(db:3306)" has no "/dbname" after the address; write it as user:password@tcp(host:3306)/dbname'],
    ['   ', 'the connection string is empty'],
  ];
  for (const [dsn, message] of errors) {
    it(`rejects ${dsn.trim() || 'an empty string'} without showing the password`, () => {
      expect(() => parseConnectionString(dsn)).to.throw(DsnError, message);
      try {
        parseConnectionString(dsn);
      } catch (err) {
        expect((err as Error).message).to.equal(message);
        expect((err as Error).message).not.to.include(PASSWORD);
      }
    });
  }
});

describe('redactConnectionString', () => {
  const cases: Array<[string, string]> = [
    [`user:${PASSWORD}@tcp(db:3306)/testdb`, 'user:***@tcp(db:3306)/testdb'],
    ['user:p@ss@tcp(db)/testdb', 'user:***@tcp(db)/testdb'],
    ['user@tcp(db)/testdb', '***@tcp(db)/testdb'],
    [`mysql://user:${PASSWORD}@db:3306/testdb?tls=true`, 'mysql://user:***@db:3306/testdb?tls=true'],
    ['mysql://user:p@ss/w@db/testdb', 'mysql://user:***@db/testdb'],
    ['mysql://db/testdb', '***'],
    ['S3CRET-noat', '***'],
    ['mysql://user:se?cret@db/testdb', 'mysql://user:***@db/testdb'],
    ['mysql://user:se#cret@db/testdb', 'mysql://user:***@db/testdb'],
    ['user:pa/ss@tcp(db:3306)', 'user:***@tcp(db:3306)'],
  ];
  for (const [dsn, expected] of cases) {
    it(`shows ${dsn} as ${expected}`, () => {
      expect(redactConnectionString(dsn)).to.equal(expected);
    });
  }
});

describe('endpointLabel', () => {
  const cases: Array<[Endpoint, string]> = [
    [{ kind: 'tcp', host: 'db', port: 3306 }, 'db:3306'],
    [{ kind: 'tcp', host: '::1', port: 3306 }, '[::1]:3306'],
    [{ kind: 'socket', path: '/run/mysqld/mysqld.sock' }, 'unix socket /run/mysqld/mysqld.sock'],
  ];
  for (const [endpoint, expected] of cases) {
    it(`labels ${JSON.stringify(endpoint)} as ${expected}`, () => {
      expect(endpointLabel(endpoint)).to.equal(expected);
    });
  }
});
