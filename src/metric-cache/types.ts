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
  /** spec.pollingInterval in ms: a cached value younger than this is served without a query. */
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

export type ServedMetric =
  | { kind: 'value'; value: number; timestamp: Date; fallback: boolean }
  | { kind: 'unknown-scaledobject' }
  | { kind: 'unknown-metric' }
  | { kind: 'error'; reason: ScalerFailureReason; message: string };
