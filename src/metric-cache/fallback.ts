// What the metrics API serves for one trigger's latest reading, with KEDA's fallback rules
// (pkg/fallback): after more than failureThreshold consecutive failures of an AverageValue trigger,
// serve fallback.replicas x target so the HPA computes exactly fallback.replicas; below that, serve
// the error so the HPA keeps the current replica count. Pure: no clock, no I/O.

import type { Fallback } from '../api/types.js';
import type { MetricSpec } from '../scalers/scaler.js';
import type { ServedMetric, TriggerReading } from './types.js';

/**
 * KEDA falls back only when the failure count is strictly above failureThreshold (its counter is
 * incremented before the `>` test), so failureThreshold 3 falls back on the 4th failure in a row.
 * Only AverageValue targets: for a Value target no single value yields a fixed replica count.
 */
export function isFallbackInForce(consecutiveFailures: number, spec: MetricSpec, fallback: Fallback | undefined): boolean {
  if (fallback === undefined || spec.targetType !== 'AverageValue') {
    return false;
  }
  if (fallback.failureThreshold < 0 || fallback.replicas < 0) {
    return false;
  }
  return consecutiveFailures > fallback.failureThreshold;
}

/**
 * target x replicas, so the HPA's ceil(value / target) is exactly replicas. Counted in milli-units as
 * KEDA's doFallback does (target x 1000 x replicas): truncating the target to a whole number instead
 * would serve 0 for a target of 0.5.
 */
export function fallbackValue(spec: MetricSpec, fallback: Fallback): number {
  return (Math.round(spec.targetValue * 1000) * fallback.replicas) / 1000;
}

export function servedMetric(reading: TriggerReading, spec: MetricSpec, fallback: Fallback | undefined, now: Date): ServedMetric {
  if (reading.value !== undefined) {
    return { kind: 'value', value: reading.value, timestamp: reading.readAt, fallback: false };
  }
  if (fallback !== undefined && isFallbackInForce(reading.consecutiveFailures, spec, fallback)) {
    return { kind: 'value', value: fallbackValue(spec, fallback), timestamp: now, fallback: true };
  }
  const error = reading.error ?? { reason: 'BadResult' as const, message: `reading of metric ${reading.metricName} has neither a value nor an error` };
  return { kind: 'error', reason: error.reason, message: error.message };
}
