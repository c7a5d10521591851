// Prometheus figures of the metric answers: how old each served value was when it was answered, and
// how many answers held a value older than the freshness bound, by why (src/metric-cache/types.ts
// StaleReason), in the registry of the queryscaler instance they belong to; and each answer's HTTP
// code, told to whoever counts those (the instance's QueryscalerMetrics).
import { Counter, Histogram, register, type Registry } from 'prom-client';
import type { StaleReason } from '../metric-cache/types.js';

export const ANSWER_AGE_METRIC = 'queryscaler_metric_answer_age_seconds';
export const STALE_ANSWERS_METRIC = 'queryscaler_metric_stale_answers_total';

/** Bucket bounds in seconds: the freshness bound (0.25 s) and the polling intervals people choose. */
export const ANSWER_AGE_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface AnswerMetrics {
  observeAge(ageMs: number): void;
  countStale(reason: StaleReason): void;
  countAnswer(code: number): void;
}

export function answerMetrics(registry: Registry = register, countAnswer: (code: number) => void = () => undefined): AnswerMetrics {
  // Several servers may share a registry (tests); each metric is registered once in it.
  const age =
    (registry.getSingleMetric(ANSWER_AGE_METRIC) as Histogram | undefined) ??
    new Histogram({
      registers: [registry],
      name: ANSWER_AGE_METRIC,
      help: 'Age of each metric value served to the HPA (from its read to the answer), in seconds; fallback values are not counted.',
      buckets: ANSWER_AGE_BUCKETS,
    });
  const stale =
    (registry.getSingleMetric(STALE_ANSWERS_METRIC) as Counter<'reason'> | undefined) ??
    new Counter({
      registers: [registry],
      name: STALE_ANSWERS_METRIC,
      help: 'Metric answers whose value was read longer than the freshness bound before the request: over-budget, slow-read or use-cached-metrics.',
      labelNames: ['reason'],
    });
  return {
    observeAge: (ageMs) => age.observe(Math.max(0, ageMs) / 1000),
    countStale: (reason) => stale.inc({ reason }),
    countAnswer,
  };
}
