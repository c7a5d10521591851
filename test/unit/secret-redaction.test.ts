// Property: whatever a user writes as a connection string or password, no message queryscaler
// builds from it (a ScalerConfigError for status and Events, a ScalerError from the driver, which
// is what logs carry too) holds the password. Generated from a fixed seed, so a failure replays.
import { expect } from 'chai';
import { mysqlScalerType } from '../../src/scalers/mysql/mysql-scaler.js';
import { toScalerError } from '../../src/scalers/mysql/mysql-errors.js';
import { ScalerConfigError, type TriggerInput } from '../../src/scalers/scaler.js';

/** mulberry32: small, fast, and the same sequence on every machine. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', ...'@:/?#%&=+()[]\'"\\ ;,.!$*-_~', 'é', '中', '🔑', 'ß'];
const LENGTHS = [1, 2, 3, 4, 5, 8, 13, 32, 200, 2000];

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)]!;
}

function password(next: () => number): string {
  const length = pick(next, LENGTHS);
  let text = '';
  for (let i = 0; i < length; i += 1) text += pick(next, ALPHABET);
  return text;
}

/**
 * Connection strings as users write them, right and wrong. Where the string lacks its own '@', a
 * password holding one would make the string read as user:password@address, and no parser could
 * tell; there the generated password holds no '@' (see README, Troubleshooting).
 */
const withoutAt = (pw: string) => pw.replace(/@/g, 'a');
const SHAPES: ReadonlyArray<(pw: string, next: () => number) => string> = [
  (pw) => `scaler:${pw}@tcp(db.prod:3306)/orders`,
  (pw) => `scaler:${pw}@10.0.0.5:3306/orders`,
  (pw) => `scaler:${pw}@tcp(db:99999)/orders`,
  (pw) => `scaler:${pw}@udp(db:3306)/orders?tls=bogus`,
  (pw) => `scaler:${pw}@tcp(db:3306)/orders?tls=${encodeURIComponent(pw)}`,
  (pw) => `scaler:${pw}@tcp(db:3306)`,
  (pw) => `scaler:${withoutAt(pw)}/orders`,
  (pw) => withoutAt(pw),
  (pw) => `${pw}@tcp(db:3306)/orders`,
  (pw) => `mysql://scaler:${encodeURIComponent(pw)}@db.prod:3306/orders`,
  (pw) => `mysql://scaler:${pw}@db.prod:3306/orders`,
  (pw) => `mysql://scaler:${pw}@db.prod:port/orders`,
  (pw) => `mysql://scaler:${withoutAt(pw)}/orders`,
  (pw, next) => `${pick(next, ['postgres', 'mysql', 'mariadb'])}://scaler:${pw}@[::1]:3306/orders`,
];

function input(connectionString: string): TriggerInput {
  return {
    namespace: 'default',
    scaledObjectName: 'orders',
    triggerIndex: 0,
    metadata: { query: 'SELECT COUNT(*) FROM orders', queryValue: '3' },
    authParams: { connectionString },
    resolvedEnv: {},
    metricType: 'AverageValue',
  };
}

/**
 * A password of four characters or more must not appear at all. A shorter one may match an
 * ordinary word of the message by chance, so for those the credentials must not appear as written.
 */
function leaks(message: string, pw: string): boolean {
  if ([...pw].length >= 4) return message.includes(pw);
  return message.includes(`scaler:${pw}@`) || message.includes(`:${pw}/`) || message.includes(`"${pw}"`);
}

describe('no secret reaches a message, for any connection string or password', () => {
  const CASES = 4_000;

  it(`holds for ${CASES} generated connection strings (parse errors go to status, Events and logs)`, () => {
    const next = random(20261202);
    const leaked: string[] = [];
    let refused = 0;
    for (let i = 0; i < CASES; i += 1) {
      let pw = password(next);
      const shape = pick(next, SHAPES);
      const dsn = shape(pw, next);
      if (!dsn.includes(pw)) pw = withoutAt(pw);
      try {
        mysqlScalerType.parse(input(dsn));
      } catch (err) {
        expect(err).to.be.instanceOf(ScalerConfigError);
        refused += 1;
        if (leaks((err as Error).message, pw)) leaked.push(`${JSON.stringify(dsn)} -> ${(err as Error).message}`);
      }
    }
    expect(leaked.slice(0, 5)).to.deep.equal([]);
    // The generator must exercise the error paths, or the property says nothing.
    expect(refused).to.be.above(CASES / 4);
  });

  it(`holds for ${CASES} driver errors that echo the password`, () => {
    const next = random(7);
    const leaked: string[] = [];
    for (let i = 0; i < CASES; i += 1) {
      const pw = password(next);
      const driverError = Object.assign(new Error(`Access denied for user 'scaler' (password ${pw}) near '${pw}'`), {
        code: pick(next, ['ER_ACCESS_DENIED_ERROR', 'ECONNREFUSED', 'ER_PARSE_ERROR', '']),
        errno: pick(next, [1045, 1064, 0]),
      });
      const message = toScalerError(driverError, { endpoint: 'db:3306', user: 'scaler', query: 'SELECT 1', secrets: [pw] }).message;
      if (leaks(message, pw)) leaked.push(`${JSON.stringify(pw)} -> ${message}`);
    }
    expect(leaked.slice(0, 5)).to.deep.equal([]);
  });
});
