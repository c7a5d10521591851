// The contract every trigger type implements, modelled on KEDA's pkg/scalers: parse and validate
// metadata once into a typed config, report the External metric specs, return the current values
// and whether the trigger is active, close. Nothing here knows Kubernetes objects or HTTP.

import type { MetricTargetType } from '../api/types.js';

/** Everything a trigger type needs to build a scaler, already resolved by the controller. */
export interface TriggerInput {
  namespace: string;
  scaledObjectName: string;
  /** Position in spec.triggers; part of the metric name (`s0-mysql-testdb`). */
  triggerIndex: number;
  /** trigger.metadata verbatim. */
  metadata: Readonly<Record<string, string>>;
  /** Parameters resolved from a (Cluster)TriggerAuthentication: Secret, ConfigMap and env values. */
  authParams: Readonly<Record<string, string>>;
  /** Environment of the target's container (envSourceContainerName), for `*FromEnv` parameters. */
  resolvedEnv: Readonly<Record<string, string>>;
  /** trigger.metricType, defaulted to AverageValue. */
  metricType: MetricTargetType;
  /**
   * spec.pollingInterval in ms. A scaler may answer a poll with a value read for another
   * ScaledObject when it is younger than this (the same query on the same database). Absent: read
   * afresh every time.
   */
  pollingIntervalMs?: number;
}

export interface MetricSpec {
  /** External metric name the HPA asks for, e.g. `s0-mysql-testdb`. */
  metricName: string;
  targetType: MetricTargetType;
  /** Target per pod (AverageValue) or in total (Value). */
  targetValue: number;
}

export interface MetricSample {
  metricName: string;
  value: number;
}

export interface MetricsAndActivity {
  samples: MetricSample[];
  /** KEDA's activation: the value is above the trigger's activation threshold. */
  active: boolean;
  /** What the account the trigger reads with may do, once the scaler could look. */
  accountAudit?: AccountAudit;
  /**
   * When the data source was read, if not at the call: a value shared from another ScaledObject's
   * identical read keeps the time of that read. Absent: the time of the call.
   */
  readAt?: Date;
}

export interface AccountAudit {
  /** The account as the data source names it, e.g. 'root'@'%'. */
  account: string;
  /** Set when the account may do more than read: what, and how to get an account that cannot. */
  excessMessage?: string;
}

export interface Scaler {
  readonly metricSpecs: readonly MetricSpec[];
  /**
   * Reads the current value(s); rejects with a ScalerError. Must honour the signal. `maxAgeMs`
   * narrows, for this read, how old a value shared from an identical read may be (a read for an
   * HPA request wants one from the last moments); absent, a scaler that shares uses its own bound.
   */
  metricsAndActivity(signal: AbortSignal, maxAgeMs?: number): Promise<MetricsAndActivity>;
  /** Releases what the scaler holds (a pool reference); safe to call twice. */
  close(): Promise<void>;
}

/** How a reading was served: a query sent for it, a query in flight shared, or a recent result reused. */
export type ReadingSource = 'query' | 'joined' | 'recent';

/**
 * What a scaler tells about its data source beyond values, for /metrics. One per queryscaler
 * instance, handed to create(); `source` names the data source without secrets (user@host:port/db).
 */
export interface DataSourceObserver {
  /** A query was sent and answered (or failed) after `durationMs`; once per query, however many readings it served. */
  queryRan(source: string, durationMs: number, ok: boolean): void;
  /** A reading was served, and how. */
  readingServed(source: string, how: ReadingSource): void;
}

/** One trigger type. The registry (registry.ts) is the only place that lists them all. */
export interface ScalerType<Config> {
  readonly type: string;
  /** KEDA's name for the scaler (its Go type, e.g. mySQLScaler): the `scaler` label of the keda_scaler_* metrics. */
  readonly kedaScalerName: string;
  /** Pure: validates metadata and auth into a typed config, or throws ScalerConfigError. No I/O. */
  parse(input: TriggerInput): Config;
  /**
   * Pure: the External metric specs a scaler built from this config reports, so that what they
   * become (names in the HPA and the status) can be checked before anything is built.
   */
  metricSpecs(config: Config): MetricSpec[];
  /**
   * Pure, for the admission webhook, where a trigger's credentials are not read: kubectl apply may
   * send the TriggerAuthentication, its Secrets and the target after the ScaledObject, so authParams
   * and resolvedEnv are empty here though they may not be at reconcile. Throws the ScalerConfigError
   * that parse would throw for what no TriggerAuthentication parameter or env var can change, and
   * nothing else. A type without it is checked at reconcile only when its trigger has credentials.
   */
  checkWithoutCredentials?(input: TriggerInput): void;
  /** Builds the scaler. Must not need the data source to be reachable (lazy connect). */
  create(config: Config, input: TriggerInput, observer?: DataSourceObserver): Scaler;
  /**
   * The host name the trigger reads its data from, for types that have one: the controller warns
   * when a ScaledObject could scale away the very database its trigger queries.
   */
  dataSourceHost?(config: Config): string | undefined;
}

/** A trigger's metadata or credentials are wrong; the user fixes the ScaledObject or its auth. */
export class ScalerConfigError extends Error {
  constructor(
    /** The field as the user wrote it, e.g. `triggers[0].metadata.queryValue`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ScalerConfigError';
  }
}

/** Why a read failed, as a stable word for conditions and events. */
export type ScalerFailureReason =
  | 'ConnectionFailed'
  | 'AccessDenied'
  | 'TooManyConnections'
  | 'QueryFailed'
  | 'QueryTimeout'
  | 'BadResult'
  | 'PoolExhausted'
  | 'Aborted';

/** A read failed at run time. The message says what to do and never holds a password. */
export class ScalerError extends Error {
  constructor(
    readonly reason: ScalerFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ScalerError';
  }
}
