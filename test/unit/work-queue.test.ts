import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';

import { backoffDelayMs, WorkQueue, type ReconcileResult } from '../../src/controller/work-queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(2);
  }
}

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Timers alive now; awaited because mocha arms its own test timer only once the test body yields. */
async function baselineTimeouts(): Promise<number> {
  await null;
  return activeTimeouts();
}

describe('backoffDelayMs', () => {
  const table: Array<[failures: number, base: number, max: number, expected: number]> = [
    [0, 5, 60_000, 0],
    [1, 5, 60_000, 5],
    [2, 5, 60_000, 10],
    [3, 5, 60_000, 20],
    [10, 5, 60_000, 2_560],
    [14, 5, 60_000, 40_960],
    [15, 5, 60_000, 60_000],
    [53, 5, 60_000, 60_000],
    [10_000, 5, 60_000, 60_000],
    [4, 5, 30, 30],
  ];
  for (const [failures, base, max, expected] of table) {
    it(`${failures} failures, base ${base} ms, max ${max} ms -> ${expected} ms`, () => {
      expect(backoffDelayMs(failures, base, max)).to.equal(expected);
    });
  }
});

describe('WorkQueue', () => {
  const queues: WorkQueue[] = [];
  function queue(options: ConstructorParameters<typeof WorkQueue>[0]): WorkQueue {
    const q = new WorkQueue(options);
    queues.push(q);
    return q;
  }
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.stop()));
  });

  it('collapses repeated adds of a key into one reconcile, in FIFO order', async () => {
    const seen: string[] = [];
    const q = queue({ workers: 1, reconcile: async (key) => (seen.push(key), {}) });
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    q.add('ns/c');
    q.add('ns/b');
    expect(q.length).to.equal(3);
    q.start();
    await waitUntil(() => seen.length === 3);
    await sleep(20);
    expect(seen).to.deep.equal(['ns/a', 'ns/b', 'ns/c']);
    expect(q.length).to.equal(0);
  });

  it('never reconciles one key twice at once; adds during a reconcile run it exactly once more', async () => {
    const gate = deferred();
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const q = queue({
      workers: 4,
      reconcile: async () => {
        calls += 1;
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        if (calls === 1) await gate.promise;
        running -= 1;
        return {};
      },
    });
    q.start();
    q.add('ns/a');
    await waitUntil(() => calls === 1);
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/a');
    await sleep(20);
    expect(calls).to.equal(1);
    expect(q.length).to.equal(0);
    gate.resolve();
    await waitUntil(() => calls === 2);
    await sleep(30);
    expect(calls).to.equal(2);
    expect(maxRunning).to.equal(1);
  });

  it('runs at most `workers` reconciles at once', async () => {
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    const q = queue({
      workers: 3,
      reconcile: async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await sleep(15);
        running -= 1;
        done += 1;
        return {};
      },
    });
    for (let i = 0; i < 10; i++) q.add(`ns/k${i}`);
    q.start();
    await waitUntil(() => done === 10);
    expect(maxRunning).to.equal(3);
  });

  it('retries a failing key with doubling backoff, capped at maxBackoffMs', async () => {
    const attempts: number[] = [];
    const startedAt: number[] = [];
    const errors: unknown[] = [];
    const failure = new Error('apiserver said no');
    const q = queue({
      workers: 1,
      maxBackoffMs: 40,
      reconcile: async () => {
        startedAt.push(performance.now());
        throw failure;
      },
      onError: (key, error, attempt) => {
        expect(key).to.equal('ns/a');
        errors.push(error);
        attempts.push(attempt);
      },
    });
    q.add('ns/a');
    q.start();
    await waitUntil(() => attempts.length === 8);
    await q.stop();
    expect(attempts).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(errors.every((e) => e === failure)).to.equal(true);
    const gaps = startedAt.slice(1).map((t, i) => t - (startedAt[i] as number));
    const expected = [5, 10, 20, 40, 40, 40, 40];
    gaps.forEach((gap, i) => {
      const want = expected[i] as number;
      // A timer never fires early (1 ms for its rounding); a loaded machine may fire it late.
      expect(gap, `gap ${i + 1}`).to.be.at.least(want - 2);
      expect(gap, `gap ${i + 1}`).to.be.below(want + 250);
    });
  });

  it('forget resets the backoff of a key', async () => {
    const attempts: number[] = [];
    const q = queue({
      workers: 1,
      reconcile: async () => {
        throw new Error('still broken');
      },
      onError: (key, _error, attempt) => {
        attempts.push(attempt);
        if (attempts.length === 4) q.forget(key);
      },
    });
    q.add('ns/a');
    q.start();
    await waitUntil(() => attempts.length === 6);
    expect(attempts).to.deep.equal([1, 2, 3, 4, 1, 2]);
  });

  it('a success resets the backoff', async () => {
    const attempts: number[] = [];
    let calls = 0;
    const q = queue({
      workers: 1,
      reconcile: async () => {
        calls += 1;
        if (calls === 3) return { requeueAfterMs: 1 };
        throw new Error('flaky');
      },
      onError: (_key, _error, attempt) => attempts.push(attempt),
    });
    q.add('ns/a');
    q.start();
    await waitUntil(() => attempts.length === 4);
    expect(attempts).to.deep.equal([1, 2, 1, 2]);
  });

  it('requeueAfterMs brings the key back after the delay', async () => {
    const startedAt: number[] = [];
    const q = queue({
      workers: 1,
      reconcile: async (): Promise<ReconcileResult> => {
        startedAt.push(performance.now());
        return startedAt.length === 1 ? { requeueAfterMs: 40 } : {};
      },
    });
    q.add('ns/a');
    q.start();
    await waitUntil(() => startedAt.length === 2);
    await sleep(80);
    expect(startedAt).to.have.length(2);
    expect((startedAt[1] as number) - (startedAt[0] as number)).to.be.at.least(38);
  });

  it('addAfter: the earliest pending delay wins, and only one add results', async () => {
    const startedAt: Array<[string, number]> = [];
    const t0 = performance.now();
    const q = queue({ workers: 2, reconcile: async (key) => (startedAt.push([key, performance.now() - t0]), {}) });
    q.start();
    q.addAfter('ns/later-first', 300);
    q.addAfter('ns/later-first', 30);
    q.addAfter('ns/sooner-first', 30);
    q.addAfter('ns/sooner-first', 300);
    await sleep(450);
    expect(startedAt.map(([key]) => key).sort()).to.deep.equal(['ns/later-first', 'ns/sooner-first']);
    for (const [, at] of startedAt) {
      expect(at).to.be.at.least(28);
      expect(at).to.be.below(280);
    }
  });

  it('addAfter with a delay of 0 or less adds at once', async () => {
    const seen: string[] = [];
    const q = queue({ workers: 1, reconcile: async (key) => (seen.push(key), {}) });
    q.addAfter('ns/a', 0);
    q.addAfter('ns/b', -5);
    expect(q.length).to.equal(2);
    q.start();
    await waitUntil(() => seen.length === 2);
    expect(seen).to.deep.equal(['ns/a', 'ns/b']);
  });

  it('a key that keeps failing does not starve 100 healthy keys', async () => {
    const healthy = new Set<string>();
    let badAttempts = 0;
    // One worker: a queue that put retries ahead of waiting keys would never reach the healthy ones.
    const q = queue({
      workers: 1,
      baseBackoffMs: 0,
      maxBackoffMs: 1,
      reconcile: async (key) => {
        await sleep(1);
        if (key === 'ns/bad') {
          badAttempts += 1;
          throw new Error('bad');
        }
        healthy.add(key);
        return {};
      },
    });
    q.add('ns/bad');
    q.start();
    await waitUntil(() => badAttempts >= 3);
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) q.add(`ns/ok-${i}`);
    await waitUntil(() => healthy.size === 100, 3_000);
    const elapsed = performance.now() - t0;
    const before = badAttempts;
    await waitUntil(() => badAttempts > before + 2);
    // 100 keys of ~1 ms each on one worker: about 100-300 ms; a starved queue would never finish.
    expect(elapsed).to.be.below(1_500);
  });

  it('stop() aborts in-flight reconciles, waits for them, and drops pending and delayed work', async () => {
    let cleanedUp = false;
    let abortReason: unknown;
    let calls = 0;
    const baseline = await baselineTimeouts();
    const q = queue({
      workers: 1,
      reconcile: async (key, signal) => {
        calls += 1;
        if (key !== 'ns/slow') return {};
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        abortReason = signal.reason;
        await sleep(30);
        cleanedUp = true;
        return {};
      },
    });
    q.add('ns/slow');
    q.start();
    await waitUntil(() => calls === 1);
    q.add('ns/waiting');
    q.addAfter('ns/delayed', 60_000);
    expect(activeTimeouts()).to.equal(baseline + 1);
    await q.stop();
    expect(cleanedUp).to.equal(true);
    expect((abortReason as Error).message).to.equal('work queue stopped');
    expect(q.length).to.equal(0);
    expect(activeTimeouts()).to.equal(baseline);
    q.add('ns/after-stop');
    await sleep(20);
    expect(calls).to.equal(1);
  });

  it('a failure during stop() is not retried nor reported', async () => {
    const reported: string[] = [];
    let calls = 0;
    const q = queue({
      workers: 1,
      reconcile: async (_key, signal) => {
        calls += 1;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        throw signal.reason;
      },
      onError: (key) => reported.push(key),
    });
    q.add('ns/a');
    q.start();
    await waitUntil(() => calls === 1);
    await q.stop();
    await sleep(20);
    expect(reported).to.deep.equal([]);
    expect(calls).to.equal(1);
  });

  it('holds no timers while idle and one per key waiting on a delay', async () => {
    const baseline = await baselineTimeouts();
    let calls = 0;
    const q = queue({
      workers: 2,
      reconcile: async (key) => {
        calls += 1;
        if (key.startsWith('ns/fail')) throw new Error('x');
        return {};
      },
    });
    q.start();
    for (let i = 0; i < 20; i++) q.add(`ns/ok-${i}`);
    await waitUntil(() => calls === 20);
    await sleep(10);
    expect(activeTimeouts()).to.equal(baseline);
    q.addAfter('ns/d1', 60_000);
    q.addAfter('ns/d1', 50_000);
    q.addAfter('ns/d2', 60_000);
    expect(activeTimeouts()).to.equal(baseline + 2);
    await q.stop();
    expect(activeTimeouts()).to.equal(baseline);
  });

  it('a throwing onError does not stop the retries', async () => {
    let calls = 0;
    const q = queue({
      workers: 1,
      reconcile: async () => {
        calls += 1;
        throw new Error('x');
      },
      onError: () => {
        throw new Error('logger broke');
      },
    });
    q.add('ns/a');
    q.start();
    await waitUntil(() => calls === 3);
  });

  it('rejects a worker count below 1 and a start after stop', async () => {
    const reconcile = async (): Promise<ReconcileResult> => ({});
    expect(() => new WorkQueue({ workers: 0, reconcile })).to.throw(
      RangeError,
      'WorkQueue: workers must be a whole number of at least 1, got 0',
    );
    const q = queue({ workers: 1, reconcile });
    await q.stop();
    expect(() => q.start()).to.throw('WorkQueue.start: this queue was stopped; create a new WorkQueue to start again');
  });

  it('cancel() aborts the running reconcile, waits for it, and neither retries it nor runs a pending add', async () => {
    const runs: string[] = [];
    const release = deferred();
    let sawAbort = false;
    const q = queue({
      workers: 2,
      reconcile: async (key, signal) => {
        runs.push(key);
        if (key === 'ns/a') {
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          sawAbort = signal.aborted;
          await release.promise;
          throw new Error('aborted reconcile fails');
        }
        return {};
      },
    });
    q.start();
    q.add('ns/a');
    await waitUntil(() => runs.length === 1);
    q.add('ns/a'); // dirty: would run again afterwards
    q.addAfter('ns/b', 20);
    let settled = false;
    const cancelled = q.cancel('ns/a').then(() => (settled = true));
    await sleep(10);
    expect(sawAbort).to.equal(true);
    expect(settled, 'cancel waits for the reconcile to end').to.equal(false);
    release.resolve();
    await cancelled;
    await sleep(40);
    expect(runs).to.deep.equal(['ns/a', 'ns/b']);
  });

  it('cancel() of a key that waits for a worker or a delay drops it', async () => {
    const runs: string[] = [];
    const q = queue({ workers: 1, reconcile: (key) => (runs.push(key), Promise.resolve({})) });
    q.add('ns/a');
    q.addAfter('ns/b', 5);
    await q.cancel('ns/a');
    await q.cancel('ns/b');
    q.start();
    await sleep(30);
    expect(runs).to.deep.equal([]);
  });
});
