import { expect } from 'chai';
import { ConnectionPool } from '../../src/scalers/mysql/connection-pool.js';

// Slow queries share at most maxConnections - 1 connections, so a quick query always finds one.
describe('ConnectionPool keeps a connection for quick queries', () => {
  function pool(maxConnections: number): ConnectionPool<string> {
    let dials = 0;
    return new ConnectionPool<string>(
      'u@127.0.0.1:3306/db',
      { open: () => Promise.resolve(`s${(dials += 1)}`), close: () => Promise.resolve(), usable: () => true },
      { maxConnections, acquireTimeoutMs: 1_000, idleTimeoutMs: 60_000, backoff: { initialMs: 1_000, maxMs: 1_000 } },
    );
  }

  /** Settles within a turn of the event loop, or says it is still waiting. */
  async function now<T>(promise: Promise<T>): Promise<T | 'waiting'> {
    return Promise.race([promise, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 20))]);
  }

  it('lets slow queries hold 3 of 4 connections and gives the 4th to a quick one', async () => {
    const p = pool(4);
    const slow = [await p.acquire(undefined, Infinity, true), await p.acquire(undefined, Infinity, true), await p.acquire(undefined, Infinity, true)];
    const fourthSlow = p.acquire(undefined, Infinity, true);
    expect(await now(fourthSlow)).to.equal('waiting');
    const quick = await now(p.acquire());
    expect([slow, quick, p.stats.slowInUse, p.stats.waiting]).to.deep.equal([['s1', 's2', 's3'], 's4', 3, 1]);

    // A quick query's connection coming back does not go to the slow waiter: it would take the last one.
    p.release('s4', true);
    expect(await now(fourthSlow)).to.equal('waiting');
    // A slow query's connection coming back does.
    p.release('s1', true);
    expect(await now(fourthSlow)).to.equal('s1');
    expect(p.stats.slowInUse).to.equal(3);
    for (const session of ['s1', 's2', 's3']) p.release(session, true);
    expect(p.stats.slowInUse).to.equal(0);
    await p.close();
  });

  it('serves a quick waiter queued behind a slow one first when only the kept connection is free', async () => {
    const p = pool(2);
    const held = [await p.acquire(undefined, Infinity, true), await p.acquire()];
    const slowWaiter = p.acquire(undefined, Infinity, true);
    const quickWaiter = p.acquire();
    p.release(held[1]!, true);
    expect([await now(quickWaiter), await now(slowWaiter)]).to.deep.equal(['s2', 'waiting']);
    p.release(held[0]!, true);
    expect(await now(slowWaiter)).to.equal('s1');
    p.release('s1', true);
    p.release('s2', true);
    await p.close();
  });

  it('lets a slow query use a pool of one, which has nothing to keep', async () => {
    const p = pool(1);
    expect(await now(p.acquire(undefined, Infinity, true))).to.equal('s1');
    p.release('s1', true);
    await p.close();
  });
});
