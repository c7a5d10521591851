// The one function both ways into the metrics server answer a metric with: what it answers, and how
// it reports an answer older than the freshness bound (a Prometheus counter by reason, the answer
// age histogram, one log line). A real MetricCache over a scaler of our own interface.

import { Writable } from 'node:stream';
import { expect } from 'chai';
import { pino, type Logger } from 'pino';
import { register, type Counter, type Histogram } from 'prom-client';
import { MetricCache } from '../../src/metric-cache/metric-cache.js';
import { ANSWER_AGE_METRIC, STALE_ANSWERS_METRIC } from '../../src/metrics-api/answer-metrics.js';
import { cacheMetricSource, metricServer } from '../../src/metrics-api/metric-answer.js';
import type { MetricSpec, MetricsAndActivity, Scaler } from '../../src/scalers/scaler.js';

const SPEC: MetricSpec = { metricName: 's0-mysql-testdb', targetType: 'AverageValue', targetValue: 3 };
const REQUEST = { namespace: 'ns1', scaledObject: 'so1', metricName: 's0-mysql-testdb' };
const never = new AbortController().signal;

/** Answers `values` in turn; a read marked 'held' waits until release() is called. */
function steppedScaler(values: Array<number | 'held'>): Scaler & { release(value: number): void } {
  let call = 0;
  const held: Array<(value: number) => void> = [];
  const answer = (value: number): MetricsAndActivity => ({ samples: [{ metricName: SPEC.metricName, value }], active: value > 0 });
  return {
    metricSpecs: [SPEC],
    metricsAndActivity: () => {
      const step = values[call++];
      if (step === undefined) return Promise.reject(new Error(`no value scripted for read ${call}`));
      if (step === 'held') return new Promise((resolve) => held.push((value) => resolve(answer(value))));
      return Promise.resolve(answer(step));
    },
    release: (value) => held.shift()?.(value),
    close: () => Promise.resolve(),
  };
}

function capturedLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

async function staleCount(reason: string): Promise<number> {
  const counter = register.getSingleMetric(STALE_ANSWERS_METRIC) as Counter | undefined;
  return (await counter?.get())?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

async function ageCount(): Promise<number> {
  const histogram = register.getSingleMetric(ANSWER_AGE_METRIC) as Histogram | undefined;
  return (await histogram?.get())?.values.find((v) => v.metricName === `${ANSWER_AGE_METRIC}_count`)?.value ?? 0;
}

describe('metricServer', () => {
  it('answers a fresh value without a stale count or log line, and counts its age', async () => {
    const { logger, lines } = capturedLogger();
    const cache = new MetricCache();
    cache.register({ namespace: 'ns1', name: 'so1', pollingIntervalMs: 1000, triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler: steppedScaler([17]), useCachedMetrics: false }] });
    const serve = metricServer(cacheMetricSource(cache), logger);
    const [agesBefore, staleBefore] = [await ageCount(), await staleCount('over-budget')];

    const answer = await serve(REQUEST, never);

    expect(answer.code).to.equal(200);
    expect((answer.body as { items: Array<{ value: string }> }).items[0]?.value).to.equal('17');
    expect([(await ageCount()) - agesBefore, (await staleCount('over-budget')) - staleBefore]).to.deep.equal([1, 0]);
    expect(lines).to.deep.equal([]);
  });

  it('counts an answer past the latency budget as over-budget and says so at warn, with its age', async () => {
    const { logger, lines } = capturedLogger();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const cache = new MetricCache({ now: () => now, latencyBudgetMs: 10 });
    const scaler = steppedScaler([17, 'held']);
    cache.register({ namespace: 'ns1', name: 'so1', pollingIntervalMs: 1000, triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler, useCachedMetrics: false }] });
    await cache.poll('ns1', 'so1', never);
    now += 900;
    const serve = metricServer(cacheMetricSource(cache), logger);
    const before = await staleCount('over-budget');

    const answer = await serve(REQUEST, never);
    scaler.release(84);

    expect((answer.body as { items: Array<{ value: string }> }).items[0]?.value).to.equal('17');
    expect((await staleCount('over-budget')) - before).to.equal(1);
    expect(lines.map(({ level, msg, namespace, scaledObject, metricName, ageMs }) => ({ level, msg, namespace, scaledObject, metricName, ageMs }))).to.deep.equal([
      {
        level: 40,
        msg: 'metric answered with the cached value: the read for this request did not finish within the latency budget',
        namespace: 'ns1',
        scaledObject: 'so1',
        metricName: 's0-mysql-testdb',
        ageMs: 900,
      },
    ]);
  });

  it('says a useCachedMetrics answer at debug and counts it', async () => {
    const { logger, lines } = capturedLogger();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const cache = new MetricCache({ now: () => now });
    cache.register({ namespace: 'ns1', name: 'so1', pollingIntervalMs: 1000, triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler: steppedScaler([5]), useCachedMetrics: true }] });
    await cache.poll('ns1', 'so1', never);
    now += 30_000;
    const before = await staleCount('use-cached-metrics');

    await metricServer(cacheMetricSource(cache), logger)(REQUEST, never);

    expect((await staleCount('use-cached-metrics')) - before).to.equal(1);
    expect(lines.map(({ level, msg, ageMs }) => ({ level, msg, ageMs }))).to.deep.equal([
      { level: 20, msg: "metric answered with the last poll's value (useCachedMetrics)", ageMs: 30_000 },
    ]);
  });

  it('answers an unknown metric with the names the ScaledObject serves', async () => {
    const cache = new MetricCache();
    cache.register({ namespace: 'ns1', name: 'so1', pollingIntervalMs: 1000, triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler: steppedScaler([]), useCachedMetrics: false }] });
    const answer = await metricServer(cacheMetricSource(cache), capturedLogger().logger)({ ...REQUEST, metricName: 's9-nope' }, never);
    expect([answer.code, (answer.body as { message: string }).message]).to.deep.equal([404, 'ScaledObject ns1/so1 has no external metric "s9-nope"; it serves: s0-mysql-testdb']);
  });
});
