import { expect } from 'chai';
import { ScalerError } from '../../src/scalers/scaler.js';
import { ConnectionPool } from '../../src/scalers/mysql/connection-pool.js';

// The pool's dial backoff against a caller's polling interval: a server that comes back is
// noticed within the interval, yet the pool never dials more often than that.
describe('ConnectionPool redial within the polling interval', () => {
  function pool(downUntilDial: number): { pool: ConnectionPool<string>; dials: () => number } {
    let dials = 0;
    const created = new ConnectionPool<string>(
      'u@127.0.0.1:3306/db',
      {
        open: () => {
          dials += 1;
          return dials <= downUntilDial
            ? Promise.reject(new ScalerError('ConnectionFailed', 'cannot connect to MySQL at 127.0.0.1:3306: connection refused (ECONNREFUSED)'))
            : Promise.resolve(`session-${dials}`);
        },
        close: () => Promise.resolve(),
        usable: () => true,
      },
      { maxConnections: 4, acquireTimeoutMs: 1_000, idleTimeoutMs: 60_000, backoff: { initialMs: 30_000, maxMs: 30_000 } },
    );
    return { pool: created, dials: () => dials };
  }

  const failure = async (promise: Promise<unknown>): Promise<string> => {
    try {
      await promise;
    } catch (error) {
      return (error as Error).message;
    }
    return 'no failure';
  };

  it('without a cap, fails fast with the last error for the whole backoff (no redial)', async () => {
    const { pool: p, dials } = pool(1);
    expect(await failure(p.acquire())).to.equal('cannot connect to MySQL at 127.0.0.1:3306: connection refused (ECONNREFUSED)');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await failure(p.acquire())).to.equal('cannot connect to MySQL at 127.0.0.1:3306: connection refused (ECONNREFUSED)');
    expect(dials()).to.equal(1);
    await p.close();
  });

  it('with redialAfterMs 50, fails fast inside 50 ms and dials again (and connects) after it', async () => {
    const { pool: p, dials } = pool(1);
    expect(await failure(p.acquire(undefined, 50))).to.equal('cannot connect to MySQL at 127.0.0.1:3306: connection refused (ECONNREFUSED)');
    expect(await failure(p.acquire(undefined, 50))).to.equal('cannot connect to MySQL at 127.0.0.1:3306: connection refused (ECONNREFUSED)');
    expect(dials()).to.equal(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const session = await p.acquire(undefined, 50);
    expect([session, dials(), p.stats.consecutiveDialFailures]).to.deep.equal(['session-2', 2, 0]);
    p.release(session, false);
    await p.close();
  });
});
