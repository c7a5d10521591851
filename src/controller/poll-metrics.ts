// Prometheus figures of the poll loop: how late each poll started against its ideal time (the
// benchmark's poll lag p50/p99 come from this histogram) and how many ticks were dropped.
import { Counter, Histogram, register } from 'prom-client';

export const POLL_LAG_METRIC = 'queryscaler_poll_lag_seconds';
export const POLL_SKIPPED_METRIC = 'queryscaler_poll_ticks_skipped_total';

/** Bucket bounds in seconds: fine below 100 ms, where a healthy event loop lands. */
export const POLL_LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface PollMetrics {
  observeLag(lagMs: number): void;
  countSkipped(ticks: number): void;
}

export function pollMetrics(): PollMetrics {
  // Tests start several controllers in one process; each metric must be registered once.
  const lag =
    (register.getSingleMetric(POLL_LAG_METRIC) as Histogram | undefined) ??
    new Histogram({
      name: POLL_LAG_METRIC,
      help: 'How late each poll started against its ideal time on the pollingInterval grid, in seconds.',
      buckets: POLL_LAG_BUCKETS,
    });
  const skipped =
    (register.getSingleMetric(POLL_SKIPPED_METRIC) as Counter | undefined) ??
    new Counter({
      name: POLL_SKIPPED_METRIC,
      help: 'Poll ticks dropped because the previous poll of the same ScaledObject was still running or the event loop stalled.',
    });
  return {
    observeLag: (lagMs) => lag.observe(lagMs / 1000),
    countSkipped: (ticks) => skipped.inc(ticks),
  };
}
