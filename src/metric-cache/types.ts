// The seam between the controller (which registers ScaledObjects and polls them) and the metrics
// API (which serves their values to the HPA). Neither imports the other; both import this.

import type { Fallback } from '../api/types.js';
import type { AccountAudit, MetricSpec, Scaler, ScalerFailureReason } from '../scalers/scaler.js';

export interface RegisteredTrigger {
  triggerIndex: number;
  /** KEDA's `scaler` label for /metrics: the trigger's name, or its type's KEDA scaler name. */
  scalerName: string;
  spec: MetricSpec;
  scaler: Scaler;
  useCachedMetrics: boolean;
}

export interface RegisteredScaledObject {
  namespace: string;
  name: string;
  /**
   * spec.pollingInterval in ms: a poll takes a value read for an HPA request since the last poll
   * when it is younger than this, instead of reading again.
   */
  pollingIntervalMs: number;
  fallback?: Fallback;
  triggers: RegisteredTrigger[];
}

export interface TriggerReading {
  metricName: string;
  triggerIndex: number;
  /** Raw value the scaler returned; undefined when this read failed. */
  value?: number;
  active: boolean;
  error?: { reason: ScalerFailureReason; message: string };
  /** Consecutive failures, reset by the first success. */
  consecutiveFailures: number;
  /** When the data source was read (the read's start, or the shared read's it was given). */
  readAt: Date;
  /** What the trigger's database account may do, when the scaler could tell. */
  accountAudit?: AccountAudit;
}

export interface PollOutcome {
  readings: TriggerReading[];
  /** Any trigger active (value above its activation threshold). */
  active: boolean;
  /** Fallback is in force: some trigger failed failureThreshold times in a row. */
  fallbackActive: boolean;
}

/**
 * Why an answer holds a value read longer than the freshness bound before the request arrived:
 * the fresh read did not land within the latency budget; the last read took longer than the budget,
 * so none was waited for; or the trigger asks for the last poll's value (KEDA's useCachedMetrics).
 */
export type StaleReason = 'over-budget' | 'slow-read' | 'use-cached-metrics';

export interface Staleness {
  reason: StaleReason;
  /** From the reading's readAt to the answer. */
  ageMs: number;
}

export type ServedMetric =
  | { kind: 'value'; value: number; timestamp: Date; fallback: boolean; stale?: Staleness }
  | { kind: 'unknown-scaledobject' }
  | { kind: 'unknown-metric' }
  | { kind: 'error'; reason: ScalerFailureReason; message: string }
  /** No replica can answer for the object now (sharding: its owner is gone and not yet replaced). */
  | { kind: 'unavailable'; message: string };

/** One metric of one ScaledObject, as the HPA asks for it. */
export interface MetricRequest {
  namespace: string;
  scaledObject: string;
  metricName: string;
}

/** What serving one metric yields: the answer, and the names the object serves (for a "no such metric" message). */
export interface ServedAnswer {
  served: ServedMetric;
  metricNames: string[];
}

/** Where the metrics API gets a metric: this process's cache, or (sharding) whichever replica owns the object. */
export type MetricSource = (request: MetricRequest, signal: AbortSignal) => Promise<ServedAnswer>;
