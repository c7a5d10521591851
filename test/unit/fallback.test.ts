import { expect } from 'chai';
import type { Fallback } from '../../src/api/types.js';
import { fallbackValue, isFallbackInForce, servedMetric } from '../../src/metric-cache/fallback.js';
import type { TriggerReading } from '../../src/metric-cache/types.js';
import type { MetricSpec } from '../../src/scalers/scaler.js';

const averageValue3: MetricSpec = { metricName: 's0-mysql-testdb', targetType: 'AverageValue', targetValue: 3 };
const value3: MetricSpec = { metricName: 's0-mysql-testdb', targetType: 'Value', targetValue: 3 };

describe('isFallbackInForce', () => {
  const cases: Array<{ failures: number; spec: MetricSpec; fallback: Fallback | undefined; expected: boolean }> = [
    { failures: 5, spec: averageValue3, fallback: undefined, expected: false },
    { failures: 0, spec: averageValue3, fallback: { failureThreshold: 3, replicas: 5 }, expected: false },
    { failures: 3, spec: averageValue3, fallback: { failureThreshold: 3, replicas: 5 }, expected: false },
    { failures: 4, spec: averageValue3, fallback: { failureThreshold: 3, replicas: 5 }, expected: true },
    { failures: 1, spec: averageValue3, fallback: { failureThreshold: 0, replicas: 5 }, expected: true },
    { failures: 0, spec: averageValue3, fallback: { failureThreshold: 0, replicas: 5 }, expected: false },
    { failures: 9, spec: value3, fallback: { failureThreshold: 3, replicas: 5 }, expected: false },
    { failures: 9, spec: averageValue3, fallback: { failureThreshold: -1, replicas: 5 }, expected: false },
    { failures: 9, spec: averageValue3, fallback: { failureThreshold: 3, replicas: -1 }, expected: false },
  ];
  for (const { failures, spec, fallback, expected } of cases) {
    it(`${failures} failures, ${spec.targetType}, fallback ${JSON.stringify(fallback)} -> ${expected}`, () => {
      expect(isFallbackInForce(failures, spec, fallback)).to.equal(expected);
    });
  }
});

describe('fallbackValue', () => {
  const cases: Array<[number, number, number]> = [
    [3, 5, 15],
    [3, 0, 0],
    // Fractional targets count in milli-units, so ceil(value / target) is still exactly replicas.
    [2.5, 4, 10],
    [0.5, 3, 1.5],
    [0.001, 7, 0.007],
    [100, 1, 100],
  ];
  for (const [target, replicas, expected] of cases) {
    it(`target ${target} x ${replicas} replicas -> ${expected}`, () => {
      const spec: MetricSpec = { ...averageValue3, targetValue: target };
      expect(fallbackValue(spec, { failureThreshold: 3, replicas })).to.equal(expected);
    });
  }
});

describe('servedMetric', () => {
  const readAt = new Date('2026-01-01T00:00:00Z');
  const now = new Date('2026-01-01T00:00:05Z');
  const ok: TriggerReading = { metricName: 's0-mysql-testdb', triggerIndex: 0, value: 17, active: true, consecutiveFailures: 0, readAt };
  const failed = (consecutiveFailures: number): TriggerReading => ({
    metricName: 's0-mysql-testdb',
    triggerIndex: 0,
    active: false,
    error: { reason: 'ConnectionFailed', message: 'cannot reach mysql at db:3306' },
    consecutiveFailures,
    readAt,
  });
  const fallback: Fallback = { failureThreshold: 2, replicas: 5 };

  const cases = [
    { name: 'a value is served as read', reading: ok, spec: averageValue3, fallback, expected: { kind: 'value', value: 17, timestamp: readAt, fallback: false } },
    {
      name: 'a failure without fallback is an error',
      reading: failed(10),
      spec: averageValue3,
      fallback: undefined,
      expected: { kind: 'error', reason: 'ConnectionFailed', message: 'cannot reach mysql at db:3306' },
    },
    {
      name: 'a failure at the threshold is still an error',
      reading: failed(2),
      spec: averageValue3,
      fallback,
      expected: { kind: 'error', reason: 'ConnectionFailed', message: 'cannot reach mysql at db:3306' },
    },
    { name: 'a failure above the threshold serves replicas x target', reading: failed(3), spec: averageValue3, fallback, expected: { kind: 'value', value: 15, timestamp: now, fallback: true } },
    {
      name: 'a Value target never falls back',
      reading: failed(3),
      spec: value3,
      fallback,
      expected: { kind: 'error', reason: 'ConnectionFailed', message: 'cannot reach mysql at db:3306' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(servedMetric(c.reading, c.spec, c.fallback, now)).to.deep.equal(c.expected);
    });
  }
});
