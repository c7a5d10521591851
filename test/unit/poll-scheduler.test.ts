import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';

import { PollScheduler, type PollSchedulerOptions } from '../../src/controller/poll-scheduler.js';

/** libuv rounds its clock to whole ms, so a timer can fire up to ~1 ms before performance.now() says. */
const EARLY_MS = 2;

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Timers alive now; awaited because mocha arms its own test timer only once the test body yields. */
async function baselineTimeouts(): Promise<number> {
  await null;
  return activeTimeouts();
}

function untilAborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Holding the event loop on purpose: this is the stall being measured.
  }
}

describe('PollScheduler', () => {
  const schedulers: PollScheduler[] = [];
  function scheduler(options?: PollSchedulerOptions): PollScheduler {
    const s = new PollScheduler(options);
    schedulers.push(s);
    return s;
  }
  afterEach(async () => {
    await Promise.all(schedulers.splice(0).map((s) => s.stop()));
  });

  it('runs one extra poll when pollAt asks for one before the next tick, and none when the tick comes first', async () => {
    const starts: number[] = [];
    const s = scheduler({ random: () => 0 });
    const t0 = performance.now();
    s.schedule('ns/a', 300, async () => {
      starts.push(performance.now() - t0);
    });
    await sleep(20);
    s.pollAt('ns/a', 100);
    s.pollAt('ns/b', 10); // not scheduled: nothing happens
    await sleep(200);
    s.pollAt('ns/a', 1_000); // past the next tick (at 300 ms): that tick decides
    await sleep(200);
    expect(starts.length).to.equal(3);
    expect(starts[1]).to.be.within(120 - EARLY_MS, 200);
    expect(starts[2]).to.be.within(300 - EARLY_MS, 380);
  });

  it('polls at a fixed rate against the ideal time, without drift', async () => {
    const starts: number[] = [];
    const s = scheduler({ random: () => 0 });
    const t0 = performance.now();
    s.schedule('ns/a', 40, async () => {
      starts.push(performance.now() - t0);
      // Work inside the poll must not push later polls back.
      await sleep(5);
    });
    await sleep(40 * 9 + 20);
    await s.stop();
    expect(starts).to.have.length(10);
    starts.forEach((at, i) => {
      expect(at, `poll ${i}`).to.be.at.least(i * 40 - EARLY_MS);
      expect(at, `poll ${i}`).to.be.below(i * 40 + 30);
    });
  });

  it('spreads the first ticks of many keys over the first interval', async () => {
    const firstAt = new Map<string, number>();
    const offsets = [0, 0.25, 0.5, 0.75];
    let call = 0;
    const s = scheduler({ random: () => offsets[call++] as number });
    const t0 = performance.now();
    for (const key of ['ns/a', 'ns/b', 'ns/c', 'ns/d']) {
      s.schedule(key, 200, async () => {
        if (!firstAt.has(key)) firstAt.set(key, performance.now() - t0);
      });
    }
    await sleep(190);
    expect([...firstAt.keys()]).to.deep.equal(['ns/a', 'ns/b', 'ns/c', 'ns/d']);
    ['ns/a', 'ns/b', 'ns/c', 'ns/d'].forEach((key, i) => {
      const at = firstAt.get(key) as number;
      expect(at, key).to.be.at.least(i * 50 - EARLY_MS);
      expect(at, key).to.be.below(i * 50 + 30);
    });
  });

  it('with the default random source, 50 keys do not fire together', async () => {
    const firstAt: number[] = [];
    const s = scheduler();
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      let seen = false;
      s.schedule(`ns/k${i}`, 300, async () => {
        if (!seen) firstAt.push(performance.now() - t0);
        seen = true;
      });
    }
    await sleep(320);
    expect(firstAt).to.have.length(50);
    // 50 uniform draws all inside one half of the interval: probability 2^-49.
    expect(Math.max(...firstAt) - Math.min(...firstAt)).to.be.above(150);
  });

  it('never runs two polls of one key at once: a slow poll makes later ticks skip', async () => {
    let running = 0;
    let maxRunning = 0;
    let polls = 0;
    let skipped = 0;
    const s = scheduler({ random: () => 0, onSkip: (_key, n) => (skipped += n) });
    s.schedule('ns/slow', 20, async () => {
      polls += 1;
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await sleep(70);
      running -= 1;
    });
    await sleep(400);
    await s.stop();
    expect(maxRunning).to.equal(1);
    // Each 70 ms poll covers 3-4 ticks of 20 ms: 4 to 6 polls in 400 ms, the other ticks skipped.
    expect(polls).to.be.within(4, 6);
    expect(skipped).to.be.within(12, 17);
  });

  it('aborts a poll that outlives pollTimeoutMs with a TimeoutError', async () => {
    const reasons: unknown[] = [];
    const s = scheduler({ random: () => 0, pollTimeoutMs: 30 });
    const t0 = performance.now();
    let abortedAfter = 0;
    s.schedule('ns/a', 10_000, async (signal) => {
      reasons.push(await untilAborted(signal));
      abortedAfter = performance.now() - t0;
    });
    await sleep(100);
    expect(reasons).to.have.length(1);
    const reason = reasons[0] as DOMException;
    expect(reason.name).to.equal('TimeoutError');
    expect(reason.message).to.equal('poll of ns/a timed out after 30 ms');
    expect(abortedAfter).to.be.at.least(30 - EARLY_MS);
  });

  it('unschedule aborts the in-flight poll and stops further polls', async () => {
    const reasons: unknown[] = [];
    let polls = 0;
    const s = scheduler({ random: () => 0 });
    s.schedule('ns/a', 30, async (signal) => {
      polls += 1;
      reasons.push(await untilAborted(signal));
    });
    await sleep(10);
    expect(s.has('ns/a')).to.equal(true);
    s.unschedule('ns/a');
    expect(s.has('ns/a')).to.equal(false);
    expect(s.size).to.equal(0);
    await sleep(100);
    expect(polls).to.equal(1);
    expect(reasons).to.have.length(1);
    expect((reasons[0] as DOMException).name).to.equal('AbortError');
    expect((reasons[0] as DOMException).message).to.equal('poll of ns/a was unscheduled');
  });

  it('unschedule resolves only once a poll slow to notice the abort has finished', async () => {
    const events: string[] = [];
    const s = scheduler({ random: () => 0 });
    s.schedule('ns/a', 30, async (signal) => {
      await untilAborted(signal);
      await sleep(40);
      events.push('poll finished');
    });
    await sleep(10);
    await s.unschedule('ns/a');
    events.push('unschedule resolved');
    expect(events).to.deep.equal(['poll finished', 'unschedule resolved']);
    await s.unschedule('ns/a');
  });

  it('a key scheduled again while its aborted poll settles does not overlap with it', async () => {
    let running = 0;
    let maxRunning = 0;
    const s = scheduler({ random: () => 0 });
    const slowToAbort = async (signal: AbortSignal): Promise<void> => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await untilAborted(signal);
      await sleep(50);
      running -= 1;
    };
    let fresh = 0;
    s.schedule('ns/a', 20, slowToAbort);
    await sleep(5);
    s.unschedule('ns/a');
    s.schedule('ns/a', 20, async () => {
      fresh += 1;
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      running -= 1;
    });
    await sleep(120);
    expect(maxRunning).to.equal(1);
    expect(fresh).to.be.at.least(2);
  });

  it('scheduling again with the same interval keeps the phase, even with a new function', async () => {
    const starts: Array<[string, number]> = [];
    const s = scheduler({ random: () => 0 });
    const t0 = performance.now();
    // A reconcile builds a new closure each time; that alone must not move the key's polls.
    const pollNamed = (name: string) => async (): Promise<void> => {
      starts.push([name, performance.now() - t0]);
    };
    s.schedule('ns/a', 100, pollNamed('first'));
    await sleep(150);
    s.schedule('ns/a', 100, pollNamed('second'));
    await sleep(100);
    // A new phase would have polled at once (jitter 0), at about 150 ms.
    expect(starts.map(([name]) => name)).to.deep.equal(['first', 'first', 'second']);
    expect(starts[1]?.[1]).to.be.within(100 - EARLY_MS, 140);
    expect(starts[2]?.[1]).to.be.within(200 - EARLY_MS, 240);
  });

  it('scheduling again lets a running poll finish, unaborted and not doubled', async () => {
    const events: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const s = scheduler({ random: () => 0 });
    const slow = (name: string) => async (signal: AbortSignal): Promise<void> => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      events.push(`${name} start`);
      await sleep(60);
      events.push(`${name} end${signal.aborted ? ' (aborted)' : ''}`);
      running -= 1;
    };
    s.schedule('ns/a', 40, slow('old'));
    await sleep(10);
    s.schedule('ns/a', 40, slow('new'));
    await sleep(100);
    await s.stop();
    expect(events.slice(0, 3)).to.deep.equal(['old start', 'old end', 'new start']);
    expect(maxRunning).to.equal(1);
  });

  it('scheduling again with another interval starts a new phase', async () => {
    const starts: number[] = [];
    const s = scheduler({ random: () => 0 });
    const t0 = performance.now();
    const poll = async (): Promise<void> => {
      starts.push(performance.now() - t0);
    };
    s.schedule('ns/a', 1_000, poll);
    await sleep(50);
    const rescheduledAt = performance.now() - t0;
    s.schedule('ns/a', 30, poll);
    await sleep(75);
    await s.stop();
    // 0 ms (first phase), then at once on the new 30 ms grid (about 50, 80, 110 ms), never before a
    // grid point: the old 1000 ms phase is gone. A loaded machine may run fewer, later ticks.
    expect(starts[0]).to.be.below(rescheduledAt);
    expect(starts.length).to.be.within(3, 4);
    starts.slice(1).forEach((at, i) => expect(at, `poll ${i + 1}`).to.be.at.least(rescheduledAt + i * 30 - EARLY_MS));
    expect(starts[1]! - rescheduledAt, 'the new phase starts at once').to.be.below(40);
  });

  it('reports how late a poll started and the ticks a stalled event loop missed', async () => {
    const lags: number[] = [];
    const skips: Array<[string, number]> = [];
    const s = scheduler({
      random: () => 0,
      onLag: (key, lag) => {
        expect(key).to.equal('ns/a');
        lags.push(lag);
      },
      onSkip: (key, n) => skips.push([key, n]),
    });
    s.schedule('ns/a', 50, async () => {});
    busyWait(70);
    await sleep(20);
    // A loaded machine may stall us longer than the 70 ms we hold the loop, and run later ticks too:
    // what must hold is the first poll's lag and that the ticks it covered were counted as missed.
    expect(lags.length).to.be.at.least(1);
    expect(lags[0]).to.be.at.least(69);
    expect(skips[0]).to.deep.equal(['ns/a', Math.floor(lags[0]! / 50)]);
  });

  it('hands a rejected poll to onError and keeps polling', async () => {
    const errors: unknown[] = [];
    let polls = 0;
    const failure = new Error('database unreachable');
    const s = scheduler({ random: () => 0, onError: (key, error) => errors.push([key, error]) });
    s.schedule('ns/a', 20, async () => {
      polls += 1;
      throw failure;
    });
    await sleep(70);
    expect(polls).to.be.at.least(3);
    expect(errors).to.have.length(polls);
    expect(errors[0]).to.deep.equal(['ns/a', failure]);
  });

  it('stop() aborts in-flight polls, waits for them and leaves no timer behind', async () => {
    const baseline = await baselineTimeouts();
    let draws = 0;
    // The idle keys' first ticks lie far ahead; the busy key's first tick is now.
    const s = scheduler({ random: () => (draws++ < 100 ? 0.999 : 0) });
    for (let i = 0; i < 100; i++) s.schedule(`ns/idle-${i}`, 1_000, async () => {});
    let cleanedUp = false;
    let reason: unknown;
    s.schedule('ns/busy', 1_000, async (signal) => {
      reason = await untilAborted(signal);
      await sleep(20);
      cleanedUp = true;
    });
    await sleep(5);
    expect(s.size).to.equal(101);
    // 101 tick timers plus the busy poll's timeout timer.
    expect(activeTimeouts()).to.equal(baseline + 102);
    await s.stop();
    expect(cleanedUp).to.equal(true);
    expect((reason as DOMException).message).to.equal('poll scheduler stopped');
    expect(activeTimeouts()).to.equal(baseline);
    expect(s.size).to.equal(0);
    expect(() => s.schedule('ns/x', 1_000, async () => {})).to.throw('PollScheduler.schedule(ns/x): the scheduler was stopped');
  });

  it('rejects an interval that is not a positive number', () => {
    const s = scheduler();
    expect(() => s.schedule('ns/a', 0, async () => {})).to.throw(
      RangeError,
      'PollScheduler.schedule(ns/a): intervalMs must be a positive number, got 0',
    );
  });

  it('keeps 1,000 keys at 1 s cheap', async () => {
    const baseline = await baselineTimeouts();
    const polls = new Map<string, number>();
    const lags: number[] = [];
    const s = scheduler({ onLag: (_key, lag) => lags.push(lag) });
    const cpuBefore = process.cpuUsage();
    for (let i = 0; i < 1_000; i++) {
      const key = `ns/so-${i}`;
      s.schedule(key, 1_000, async () => {
        polls.set(key, (polls.get(key) ?? 0) + 1);
      });
    }
    expect(activeTimeouts()).to.equal(baseline + 1_000);
    await sleep(2_100);
    const cpu = process.cpuUsage(cpuBefore);
    await s.stop();
    const counts = [...polls.values()];
    expect(polls.size).to.equal(1_000);
    expect(Math.min(...counts)).to.be.at.least(2);
    expect(Math.max(...counts)).to.be.at.most(3);
    const cpuMs = (cpu.user + cpu.system) / 1_000;
    const sorted = [...lags].sort((a, b) => a - b);
    const p99 = sorted[Math.floor(sorted.length * 0.99)] as number;
    console.log(
      `      1,000 keys at 1 s for 2.1 s: ${lags.length} polls, CPU ${cpuMs.toFixed(0)} ms, lag p99 ${p99.toFixed(1)} ms`,
    );
    expect(cpuMs).to.be.below(1_000);
    expect(activeTimeouts()).to.equal(baseline);
  });
});
