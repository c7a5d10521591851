import { expect } from 'chai';
import { parseExposition } from '../../bench/support/prometheus-text.js';
import { MetricCache } from '../../src/metric-cache/metric-cache.js';
import { QueryscalerMetrics } from '../../src/observability/prometheus-metrics.js';
import type { RegisteredScaledObject, ServedMetric } from '../../src/metric-cache/types.js';
import { ScalerError, type MetricSpec, type MetricsAndActivity, type Scaler } from '../../src/scalers/scaler.js';

// A Scaler of our own interface whose answers the test scripts step by step; the real MySQL scaler
// is tested against MariaDB elsewhere. Each step answers one call, in order.
type Step =
  /** readAt: the value was shared from an identical read made then. */
  | { value: number; active?: boolean; readAt?: Date }
  | { error: ScalerError | Error }
  | { samples: MetricsAndActivity['samples'] }
  /** Settles only when the test calls release(), or rejects when the signal aborts. */
  | 'held'
  /** Never settles and ignores its signal: only the cache's own bound can end the read. */
  | 'deaf';

interface ScriptedScaler extends Scaler {
  calls: number;
  signals: AbortSignal[];
  /** The maxAgeMs of each call, undefined for a poll's. */
  maxAges: Array<number | undefined>;
  /** Settles the oldest held read; `readAt` as a scaler that shares another ScaledObject's read says it. */
  release(value: number, readAt?: Date): void;
}

const SPEC: MetricSpec = { metricName: 's0-mysql-testdb', targetType: 'AverageValue', targetValue: 3 };

function scriptedScaler(steps: Step[], spec: MetricSpec = SPEC): ScriptedScaler {
  const held: Array<(value: number, readAt?: Date) => void> = [];
  const scaler: ScriptedScaler = {
    metricSpecs: [spec],
    calls: 0,
    signals: [],
    maxAges: [],
    release(value: number, readAt?: Date) {
      const resolve = held.shift();
      if (resolve === undefined) throw new Error('scriptedScaler.release: no read is held');
      resolve(value, readAt);
    },
    metricsAndActivity(signal: AbortSignal, maxAgeMs?: number): Promise<MetricsAndActivity> {
      const step = steps[scaler.calls];
      scaler.calls += 1;
      scaler.signals.push(signal);
      scaler.maxAges.push(maxAgeMs);
      if (step === undefined) return Promise.reject(new Error(`scriptedScaler: no step scripted for call ${scaler.calls}`));
      if (step === 'deaf') return new Promise(() => undefined);
      if (step === 'held') {
        return new Promise((resolve, reject) => {
          signal.addEventListener('abort', () => reject(new ScalerError('Aborted', 'read aborted')), { once: true });
          held.push((value, readAt) => resolve({ samples: [{ metricName: spec.metricName, value }], active: value > 0, ...(readAt && { readAt }) }));
        });
      }
      if ('error' in step) return Promise.reject(step.error);
      if ('samples' in step) return Promise.resolve({ samples: step.samples, active: true });
      return Promise.resolve({
        samples: [{ metricName: spec.metricName, value: step.value }],
        active: step.active ?? step.value > 0,
        ...(step.readAt && { readAt: step.readAt }),
      });
    },
    close: () => Promise.resolve(),
  };
  return scaler;
}

function registered(scaler: Scaler, overrides: Partial<RegisteredScaledObject> = {}, useCachedMetrics = false): RegisteredScaledObject {
  return {
    namespace: 'ns1',
    name: 'so1',
    pollingIntervalMs: 1000,
    triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: scaler.metricSpecs[0] ?? SPEC, scaler, useCachedMetrics }],
    ...overrides,
  };
}

/** A clock the test moves by hand, so readings age without waiting. */
function manualClock(start = Date.parse('2026-01-01T00:00:00Z')): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const never = new AbortController().signal;
/** Lets every queued promise callback run, so a started read has reached the scaler. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const T0 = new Date('2026-01-01T00:00:00Z');
const connectionFailed = new ScalerError('ConnectionFailed', 'cannot connect to mysql at db:3306: ECONNREFUSED');

function expectValue(served: ServedMetric, value: number, fallback = false): void {
  expect(served.kind).to.equal('value');
  if (served.kind !== 'value') return;
  expect({ value: served.value, fallback: served.fallback }).to.deep.equal({ value, fallback });
}

describe('MetricCache', () => {
  it('poll reads every trigger and reports readings, activity and health', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const s0 = scriptedScaler([{ value: 17 }]);
    const s1 = scriptedScaler([{ value: 0 }], { metricName: 's1-mysql-other', targetType: 'Value', targetValue: 10 });
    cache.register({
      ...registered(s0),
      triggers: [
        { triggerIndex: 1, scalerName: 'testScaler', spec: s1.metricSpecs[0] ?? SPEC, scaler: s1, useCachedMetrics: false },
        { triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler: s0, useCachedMetrics: false },
      ],
    });

    const outcome = await cache.poll('ns1', 'so1', never);

    expect(outcome).to.deep.equal({
      readings: [
        { metricName: 's0-mysql-testdb', triggerIndex: 0, value: 17, active: true, consecutiveFailures: 0, readAt: T0 },
        { metricName: 's1-mysql-other', triggerIndex: 1, value: 0, active: false, consecutiveFailures: 0, readAt: T0 },
      ],
      active: true,
      fallbackActive: false,
    });
    expect(cache.health('ns1', 'so1')?.health).to.deep.equal({
      's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' },
      's1-mysql-other': { numberOfFailures: 0, status: 'Happy' },
    });
  });

  it('serve answers from a reading at most 250 ms older than the request and reads again once it is older', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const scaler = scriptedScaler([{ value: 17 }, { value: 84 }]);
    cache.register(registered(scaler));
    await cache.poll('ns1', 'so1', never);

    clock.advance(250);
    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({ kind: 'value', value: 17, timestamp: T0, fallback: false });
    expect(scaler.calls).to.equal(1);

    clock.advance(1);
    const at = new Date(T0.getTime() + 251);
    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({ kind: 'value', value: 84, timestamp: at, fallback: false });
    // The poll's read may share a value up to its polling interval old; the request's only one up to 250 ms.
    expect(scaler.maxAges).to.deep.equal([undefined, 250]);
  });

  it('serve reads at once when nothing is cached, and stamps the value with the read time', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    cache.register(registered(scriptedScaler([{ value: 2.5 }])));
    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({ kind: 'value', value: 2.5, timestamp: T0, fallback: false });
  });

  it('stamps a value shared from an identical read with the time of that read', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const shared = new Date(T0.getTime() - 700);
    const scaler = scriptedScaler([{ value: 5, readAt: shared }]);
    cache.register(registered(scaler));
    expect((await cache.poll('ns1', 'so1', never))?.readings[0]?.readAt).to.deep.equal(shared);
  });

  it('a request that joins a read whose value is older than the bound reads once more', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const scaler = scriptedScaler(['held', { value: 84 }]);
    cache.register(registered(scaler));
    const polled = cache.poll('ns1', 'so1', never);
    await tick();
    clock.advance(100);
    const served = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    await tick();
    expect(scaler.calls).to.equal(1);
    // The poll's read is handed a value another ScaledObject's identical query read 600 ms before it.
    clock.advance(50);
    scaler.release(17, new Date(T0.getTime() - 600));
    expect((await polled)?.readings[0]?.value).to.equal(17);
    // 700 ms before the request: too old for it, so it read again, allowing what is left of its 250 ms.
    expect(await served).to.deep.equal({ kind: 'value', value: 84, timestamp: new Date(T0.getTime() + 150), fallback: false });
    expect(scaler.maxAges).to.deep.equal([undefined, 200]);
  });

  it('serves the cached value, marked stale with its age, when the fresh read misses the latency budget; the read still refreshes the cache', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now, latencyBudgetMs: 20 });
    const scaler = scriptedScaler([{ value: 17 }, 'held']);
    cache.register(registered(scaler));
    await cache.poll('ns1', 'so1', never);
    clock.advance(800);

    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({
      kind: 'value',
      value: 17,
      timestamp: T0,
      fallback: false,
      stale: { reason: 'over-budget', ageMs: 800 },
    });
    scaler.release(84);
    await tick();
    expect(cache.health('ns1', 'so1')?.readings.map((r) => r.value)).to.deep.equal([84]);
    // The late read was begun when the request came: it is fresh for the next one, and no query is made for it.
    expectValue(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never), 84);
    expect(scaler.calls).to.equal(2);
  });

  it('waits past the latency budget when nothing is cached: there is nothing else to answer with', async () => {
    const cache = new MetricCache({ latencyBudgetMs: 5 });
    const scaler = scriptedScaler(['held']);
    cache.register(registered(scaler));
    const served = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    await new Promise((resolve) => setTimeout(resolve, 30));
    scaler.release(3);
    expect(await served).to.deep.include({ kind: 'value', value: 3 }).and.not.have.property('stale');
  });

  it('after a read that took longer than the latency budget, serves the cached value without reading until a poll is quick again', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now, latencyBudgetMs: 10 });
    const scaler = scriptedScaler(['held', { value: 84 }]);
    cache.register(registered(scaler));
    const polled = cache.poll('ns1', 'so1', never);
    await new Promise((resolve) => setTimeout(resolve, 30));
    scaler.release(17);
    await polled;
    clock.advance(5_000);

    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({
      kind: 'value',
      value: 17,
      timestamp: T0,
      fallback: false,
      stale: { reason: 'slow-read', ageMs: 5_000 },
    });
    expect(scaler.calls).to.equal(1);
    await cache.poll('ns1', 'so1', never);
    clock.advance(200);
    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({
      kind: 'value',
      value: 84,
      timestamp: new Date(T0.getTime() + 5_000),
      fallback: false,
    });
    expect(scaler.calls).to.equal(2);
  });

  it('a request while a read has already run longer than the budget gets the cached value at once', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now, latencyBudgetMs: 10 });
    const scaler = scriptedScaler([{ value: 17 }, 'held']);
    cache.register(registered(scaler));
    await cache.poll('ns1', 'so1', never);
    clock.advance(1_000);
    const polled = cache.poll('ns1', 'so1', never);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const served = await cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    expect(served.kind === 'value' && served.stale).to.deep.equal({ reason: 'slow-read', ageMs: 1_000 });
    scaler.release(84);
    await polled;
    expect(scaler.calls).to.equal(2);
  });

  it('a poll takes the reading an HPA request made since the last poll, while it is younger than pollingInterval', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const scaler = scriptedScaler([{ value: 17 }, { value: 84 }, { value: 90 }, { value: 91 }]);
    cache.register(registered(scaler));
    await cache.poll('ns1', 'so1', never);
    clock.advance(400);
    expectValue(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never), 84);
    clock.advance(600);
    // The next poll comes 600 ms after the request's read: it takes that reading instead of querying.
    expect((await cache.poll('ns1', 'so1', never))?.readings.map((r) => r.value)).to.deep.equal([84]);
    expect(scaler.calls).to.equal(2);
    // Only once: the poll after reads again, as it does when a reading is older than the interval.
    clock.advance(300);
    expect((await cache.poll('ns1', 'so1', never))?.readings.map((r) => r.value)).to.deep.equal([90]);
    clock.advance(100);
    await cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    clock.advance(1_000);
    expect((await cache.poll('ns1', 'so1', never))?.readings.map((r) => r.value)).to.deep.equal([91]);
    expect(scaler.calls).to.equal(4);
  });

  it('with a freshness bound of 0, a request never takes a value read before it arrived', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now, freshnessMs: 0 });
    const scaler = scriptedScaler(['held', { value: 84 }]);
    cache.register(registered(scaler));
    const first = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    await tick();
    clock.advance(1);
    const second = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    scaler.release(17);
    expectValue(await first, 17);
    expectValue(await second, 84);
    expect(scaler.maxAges).to.deep.equal([0, 0]);
  });

  it('useCachedMetrics serves the last reading however old it is, saying how old', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const scaler = scriptedScaler([{ value: 17 }, { value: 84 }]);
    cache.register(registered(scaler, {}, true));
    await cache.poll('ns1', 'so1', never);
    clock.advance(60_000);
    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({
      kind: 'value',
      value: 17,
      timestamp: T0,
      fallback: false,
      stale: { reason: 'use-cached-metrics', ageMs: 60_000 },
    });
    expect(scaler.calls).to.equal(1);
  });

  it('matches the metric name case-insensitively, as the HPA lower-cases it', async () => {
    const spec: MetricSpec = { metricName: 's0-mysql-TestDB', targetType: 'AverageValue', targetValue: 3 };
    const cache = new MetricCache();
    cache.register(registered(scriptedScaler([{ value: 5 }], spec)));
    expectValue(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never), 5);
  });

  it('tells an unknown ScaledObject from an unknown metric', async () => {
    const cache = new MetricCache();
    cache.register(registered(scriptedScaler([])));
    expect(await cache.serve('ns1', 'nope', 's0-mysql-testdb', never)).to.deep.equal({ kind: 'unknown-scaledobject' });
    expect(await cache.serve('ns2', 'so1', 's0-mysql-testdb', never)).to.deep.equal({ kind: 'unknown-scaledobject' });
    expect(await cache.serve('ns1', 'so1', 's9-mysql-testdb', never)).to.deep.equal({ kind: 'unknown-metric' });
    expect(await cache.poll('ns1', 'nope', never)).to.equal(undefined);
  });

  it('concurrent serve calls share one read', async () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler(['held']);
    cache.register(registered(scaler));
    const pending = Array.from({ length: 5 }, () => cache.serve('ns1', 'so1', 's0-mysql-testdb', never));
    await tick();
    scaler.release(17);
    const served = await Promise.all(pending);
    expect(scaler.calls).to.equal(1);
    expect(served.map((s) => (s.kind === 'value' ? s.value : s.kind))).to.deep.equal([17, 17, 17, 17, 17]);
  });

  it('serve joins a read that poll has in flight', async () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler(['held']);
    cache.register(registered(scaler));
    const polled = cache.poll('ns1', 'so1', never);
    const served = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    await tick();
    scaler.release(42);
    expectValue(await served, 42);
    expect((await polled)?.readings.map((r) => r.value)).to.deep.equal([42]);
    expect(scaler.calls).to.equal(1);
  });

  it('counts consecutive failures, reports them as health, and resets them on the first success', async () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler([{ error: connectionFailed }, { error: connectionFailed }, { value: 3 }]);
    cache.register(registered(scaler));

    const first = await cache.poll('ns1', 'so1', never);
    expect(first?.readings[0]?.error).to.deep.equal({ reason: 'ConnectionFailed', message: 'cannot connect to mysql at db:3306: ECONNREFUSED' });
    expect(first?.readings[0]?.consecutiveFailures).to.equal(1);
    await cache.poll('ns1', 'so1', never);
    expect(cache.health('ns1', 'so1')?.health).to.deep.equal({ 's0-mysql-testdb': { numberOfFailures: 2, status: 'Failing' } });

    await cache.poll('ns1', 'so1', never);
    expect(cache.health('ns1', 'so1')?.health).to.deep.equal({ 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } });
  });

  it('serves a failure as an error below the fallback threshold and replicas x target above it', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const scaler = scriptedScaler([{ error: connectionFailed }, { error: connectionFailed }, { error: connectionFailed }, { value: 7 }]);
    cache.register(registered(scaler, { fallback: { failureThreshold: 2, replicas: 5 } }));

    const served: ServedMetric[] = [];
    const fallbackActive: Array<boolean | undefined> = [];
    for (let i = 0; i < 4; i += 1) {
      fallbackActive.push((await cache.poll('ns1', 'so1', never))?.fallbackActive);
      served.push(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never));
      clock.advance(1000);
    }

    const error = { kind: 'error', reason: 'ConnectionFailed', message: 'cannot connect to mysql at db:3306: ECONNREFUSED' };
    expect(served).to.deep.equal([
      error,
      error,
      { kind: 'value', value: 15, timestamp: new Date(T0.getTime() + 2000), fallback: true },
      { kind: 'value', value: 7, timestamp: new Date(T0.getTime() + 3000), fallback: false },
    ]);
    expect(fallbackActive).to.deep.equal([false, false, true, false]);
    // serve answered from each poll's fresh reading: no extra reads.
    expect(scaler.calls).to.equal(4);
  });

  it('bounds a read that never answers with its timeout, aborts the scaler signal and counts a QueryTimeout', async () => {
    const cache = new MetricCache({ readTimeoutMs: 30 });
    const scaler = scriptedScaler(['deaf']);
    cache.register(registered(scaler));
    const started = Date.now();
    const outcome = await cache.poll('ns1', 'so1', never);
    expect(Date.now() - started).to.be.below(1000);
    expect(outcome?.readings[0]?.error).to.deep.equal({
      reason: 'QueryTimeout',
      message: 'reading metric s0-mysql-testdb of ScaledObject ns1/so1 took longer than 30 ms; check that the data source answers quickly, or simplify the query',
    });
    expect(outcome?.readings[0]?.consecutiveFailures).to.equal(1);
    expect(scaler.signals[0]?.aborted).to.equal(true);
  });

  it('a caller that gives up stops the read when nobody else waits, without counting a failure', async () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler(['held']);
    cache.register(registered(scaler));
    const request = new AbortController();
    const served = cache.serve('ns1', 'so1', 's0-mysql-testdb', request.signal);
    await tick();
    request.abort();
    expect(await served).to.deep.equal({ kind: 'error', reason: 'Aborted', message: 'request for metric s0-mysql-testdb of ScaledObject ns1/so1 was cancelled' });
    expect(scaler.signals[0]?.aborted).to.equal(true);
    await tick();
    expect(cache.health('ns1', 'so1')?.health).to.deep.equal({});
  });

  it('a caller that gives up leaves the read running for the others', async () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler(['held']);
    cache.register(registered(scaler));
    const impatient = new AbortController();
    const first = cache.serve('ns1', 'so1', 's0-mysql-testdb', impatient.signal);
    const second = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    await tick();
    impatient.abort();
    expect((await first).kind).to.equal('error');
    expect(scaler.signals[0]?.aborted).to.equal(false);
    scaler.release(9);
    expectValue(await second, 9);
  });

  it('poll rejects with the reason of its aborted signal', async () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler(['held']);
    cache.register(registered(scaler));
    const loop = new AbortController();
    const polled = cache.poll('ns1', 'so1', loop.signal);
    loop.abort(new Error('poll loop stopped'));
    let rejection: unknown;
    await polled.catch((e: unknown) => (rejection = e));
    expect((rejection as Error).message).to.equal('poll loop stopped');
  });

  it('reports a scaler answer without the metric, or with a non-finite value, as BadResult', async () => {
    const cache = new MetricCache();
    cache.register(registered(scriptedScaler([{ samples: [{ metricName: 'other', value: 1 }] }, { value: Number.NaN }])));
    const first = await cache.poll('ns1', 'so1', never);
    expect(first?.readings[0]?.error).to.deep.equal({ reason: 'BadResult', message: 'scaler returned no sample for metric s0-mysql-testdb (samples: other)' });
    const second = await cache.poll('ns1', 'so1', never);
    expect(second?.readings[0]?.error).to.deep.equal({ reason: 'BadResult', message: 'scaler returned NaN for metric s0-mysql-testdb; a metric value must be a finite number' });
    expect(second?.readings[0]?.consecutiveFailures).to.equal(2);
  });

  it('reports an error that is not a ScalerError as QueryFailed with the object named', async () => {
    const cache = new MetricCache();
    cache.register(registered(scriptedScaler([{ error: new TypeError('x is undefined') }])));
    const outcome = await cache.poll('ns1', 'so1', never);
    expect(outcome?.readings[0]?.error).to.deep.equal({ reason: 'QueryFailed', message: 'reading metric s0-mysql-testdb of ScaledObject ns1/so1 failed unexpectedly: x is undefined' });
  });

  it('re-registering keeps failure counts; it keeps the cached reading only for the same scaler', async () => {
    const clock = manualClock();
    const cache = new MetricCache({ now: clock.now });
    const scaler = scriptedScaler([{ error: connectionFailed }, { value: 17 }]);
    cache.register(registered(scaler));
    await cache.poll('ns1', 'so1', never);
    await cache.poll('ns1', 'so1', never);
    cache.register(registered(scaler, { pollingIntervalMs: 5000 }));
    expectValue(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never), 17);
    expect(scaler.calls).to.equal(2);

    const failing = scriptedScaler([{ error: connectionFailed }]);
    cache.register(registered(failing));
    await cache.poll('ns1', 'so1', never);
    const replacement = scriptedScaler([{ error: connectionFailed }, { value: 30 }]);
    cache.register(registered(replacement));
    expect(cache.health('ns1', 'so1')).to.deep.equal({ health: {}, readings: [] });
    expect((await cache.poll('ns1', 'so1', never))?.readings[0]?.consecutiveFailures).to.equal(2);
    expect((await cache.poll('ns1', 'so1', never))?.readings[0]?.value).to.equal(30);
    expect(failing.calls).to.equal(1);
  });

  it('a read of a replaced scaler that lands late is not recorded', async () => {
    const cache = new MetricCache();
    const old = scriptedScaler(['held']);
    cache.register(registered(old));
    const served = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    await tick();
    cache.register(registered(scriptedScaler([{ value: 2 }])));
    old.release(99);
    expectValue(await served, 99);
    expect(cache.health('ns1', 'so1')?.readings).to.deep.equal([]);
  });

  it('unregister forgets the object and aborts its read in flight', async () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler(['held']);
    cache.register(registered(scaler));
    const served = cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
    await tick();
    cache.unregister('ns1', 'so1');
    expect(cache.has('ns1', 'so1')).to.equal(false);
    const answer = await served;
    expect(answer).to.deep.equal({ kind: 'error', reason: 'Aborted', message: 'reading metric s0-mysql-testdb of ScaledObject ns1/so1 was cancelled (unregistered)' });
    expect(scaler.signals[0]?.aborted).to.equal(true);
    expect(await cache.serve('ns1', 'so1', 's0-mysql-testdb', never)).to.deep.equal({ kind: 'unknown-scaledobject' });
  });

  it('rejects two triggers with the same metric name', () => {
    const cache = new MetricCache();
    const scaler = scriptedScaler([]);
    const trigger = { triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler, useCachedMetrics: false };
    expect(() => cache.register({ ...registered(scaler), triggers: [trigger, { ...trigger, triggerIndex: 1 }] })).to.throw(
      'ScaledObject ns1/so1: triggers 0 and 1 both serve metric "s0-mysql-testdb"; give each trigger a distinct name',
    );
  });

  it('rejects a read timeout that is not a positive number', () => {
    expect(() => new MetricCache({ readTimeoutMs: 0 })).to.throw(RangeError, 'MetricCache readTimeoutMs must be a positive number of milliseconds, got 0');
  });

  describe('on /metrics', () => {
    /** `family value` of every keda_scaler_* series and the cache answers, in exposition order. */
    async function figures(metrics: QueryscalerMetrics): Promise<string[]> {
      return parseExposition(await metrics.exposition())
        .filter((s) => (s.name.startsWith('keda_scaler_') && s.name !== 'keda_scaler_metrics_latency_seconds') || s.name === 'queryscaler_metrics_api_cache_requests_total')
        .map((s) => `${s.name}${s.labels.result === undefined ? '' : `{${s.labels.result}}`} ${s.value}`);
    }

    it('reports each read, the fallback value while fallback is in force, and each cache answer', async () => {
      const clock = manualClock();
      const metrics = new QueryscalerMetrics();
      const cache = new MetricCache({ now: clock.now, metrics });
      cache.register(registered(scriptedScaler([{ value: 2 }, { error: connectionFailed }, { error: connectionFailed }]), { fallback: { failureThreshold: 1, replicas: 4 } }));
      await cache.poll('ns1', 'so1', never);
      expect(await figures(metrics)).to.deep.equal(['keda_scaler_metrics_value 2', 'keda_scaler_active 1', 'keda_scaler_detail_errors_total 0']);
      await cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
      clock.advance(1000);
      await cache.serve('ns1', 'so1', 's0-mysql-testdb', never);
      // One failure: no value to serve, so none shown.
      expect(await figures(metrics)).to.deep.equal([
        'keda_scaler_active 0',
        'keda_scaler_detail_errors_total 1',
        'queryscaler_metrics_api_cache_requests_total{hit} 1',
        'queryscaler_metrics_api_cache_requests_total{miss} 1',
      ]);
      clock.advance(1000);
      await cache.poll('ns1', 'so1', never);
      // Two in a row, above failureThreshold 1: the HPA is served 4 x 3.
      expect(await figures(metrics)).to.deep.include.members(['keda_scaler_metrics_value 12', 'keda_scaler_detail_errors_total 2']);
    });

    it('unregister takes the trigger series away, and the read it aborts records nothing', async () => {
      const metrics = new QueryscalerMetrics();
      const cache = new MetricCache({ metrics });
      const scaler = scriptedScaler([{ value: 5 }, 'held']);
      cache.register(registered(scaler));
      await cache.poll('ns1', 'so1', never);
      const late = cache.poll('ns1', 'so1', new AbortController().signal).catch(() => undefined);
      await tick();
      cache.unregister('ns1', 'so1');
      await late;
      expect(await figures(metrics)).to.deep.equal([]);
    });
  });

  it('rejects a negative freshness bound or latency budget', () => {
    expect(() => new MetricCache({ freshnessMs: -1 })).to.throw(RangeError, 'MetricCache freshnessMs must be a number of milliseconds >= 0, got -1');
    expect(() => new MetricCache({ latencyBudgetMs: Number.NaN })).to.throw(RangeError, 'MetricCache latencyBudgetMs must be a number of milliseconds >= 0, got NaN');
  });
});
