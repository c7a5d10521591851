// The latest reading of every registered trigger. The controller's poll loop fills it every
// pollingInterval; the metrics API serves from it and reads a trigger itself only when the cached
// reading is older than pollingInterval. One read per trigger at a time: concurrent callers (poll
// and any number of HPA requests) share the read in flight instead of each querying the database.
// Every read it records, it also reports to /metrics (the keda_scaler_* families).

import type { TriggerHealth } from '../api/types.js';
import { QueryscalerMetrics, type TriggerSeries } from '../observability/prometheus-metrics.js';
import { ScalerError, type MetricsAndActivity } from '../scalers/scaler.js';
import { fallbackValue, isFallbackInForce, servedMetric } from './fallback.js';
import type { PollOutcome, RegisteredScaledObject, RegisteredTrigger, ServedMetric, TriggerReading } from './types.js';

export const DEFAULT_READ_TIMEOUT_MS = 10_000;

export interface MetricCacheOptions {
  /** Upper bound on one scaler read; the scaler's signal is aborted then. Default 10 s. */
  readTimeoutMs?: number;
  /** Milliseconds since the epoch; injectable so tests can age readings without waiting. */
  now?: () => number;
  /** Where readings and cache answers are counted; a private registry when absent. */
  metrics?: QueryscalerMetrics;
}

export interface ScaledObjectHealth {
  /** Keyed by metric name, like KEDA's status.health; only triggers read at least once. */
  health: Record<string, TriggerHealth>;
  /** The newest reading of each trigger read at least once, in trigger order. */
  readings: TriggerReading[];
}

/** Why the cache aborted a read; only a timeout counts as a failure of the data source. */
type AbortCause = 'timeout' | 'abandoned' | 'unregistered' | 'closed';

interface SharedRead {
  promise: Promise<TriggerReading>;
  controller: AbortController;
  waiters: number;
}

interface TriggerState {
  trigger: RegisteredTrigger;
  reading?: TriggerReading;
  consecutiveFailures: number;
  inFlight?: SharedRead;
}

interface Entry {
  registered: RegisteredScaledObject;
  /** Keyed by lower-cased metric name: the HPA lower-cases the names it asks for. */
  triggers: Map<string, TriggerState>;
}

export class MetricCache {
  private readonly entries = new Map<string, Entry>();
  private readonly readTimeoutMs: number;
  private readonly now: () => number;
  private readonly metrics: QueryscalerMetrics;

  constructor(options: MetricCacheOptions = {}) {
    this.readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    if (!Number.isFinite(this.readTimeoutMs) || this.readTimeoutMs <= 0) {
      throw new RangeError(`MetricCache readTimeoutMs must be a positive number of milliseconds, got ${this.readTimeoutMs}`);
    }
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics ?? new QueryscalerMetrics();
  }

  /**
   * Adds or replaces a ScaledObject. Failure counts carry over for metric names that stay (KEDA keeps
   * status.health across scaler rebuilds); a cached reading or read in flight carries over only when
   * the trigger keeps the same scaler instance, because a new scaler may query something else.
   * Scalers are not closed here: the controller owns their lifetimes.
   */
  register(entry: RegisteredScaledObject): void {
    const key = objectKey(entry.namespace, entry.name);
    const previous = this.entries.get(key);
    const triggers = new Map<string, TriggerState>();
    for (const trigger of entry.triggers) {
      const metricKey = trigger.spec.metricName.toLowerCase();
      if (triggers.has(metricKey)) {
        throw new Error(
          `ScaledObject ${key}: triggers ${triggers.get(metricKey)?.trigger.triggerIndex} and ${trigger.triggerIndex} both serve metric "${trigger.spec.metricName}"; give each trigger a distinct name`,
        );
      }
      const old = previous?.triggers.get(metricKey);
      if (old !== undefined && old.trigger.scaler === trigger.scaler) {
        // Same state object, so a read in flight records into it when it lands.
        old.trigger = trigger;
        triggers.set(metricKey, old);
      } else {
        triggers.set(metricKey, { trigger, consecutiveFailures: old?.consecutiveFailures ?? 0 });
      }
    }
    this.entries.set(key, { registered: entry, triggers });
    this.metrics.keepTriggers(entry.namespace, entry.name, entry.triggers.map((trigger) => triggerSeries(entry, trigger)));
    for (const trigger of entry.triggers) this.metrics.setTriggerTarget(triggerSeries(entry, trigger), trigger.spec.targetValue);
  }

  unregister(namespace: string, name: string): void {
    const key = objectKey(namespace, name);
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    abortReads(entry, 'unregistered');
    this.metrics.keepTriggers(namespace, name, []);
  }

  has(namespace: string, name: string): boolean {
    return this.entries.has(objectKey(namespace, name));
  }

  /** Names of the registered ScaledObjects' metrics, as registered (for error messages and discovery). */
  metricNames(namespace: string, name: string): string[] {
    const entry = this.entries.get(objectKey(namespace, name));
    return entry === undefined ? [] : [...entry.triggers.values()].map((s) => s.trigger.spec.metricName);
  }

  /**
   * Reads every trigger now (joining a read already in flight) and reports the outcome, or undefined
   * when the ScaledObject is not registered. Rejects with the signal's reason when it aborts.
   */
  async poll(namespace: string, name: string, signal: AbortSignal): Promise<PollOutcome | undefined> {
    signal.throwIfAborted();
    const entry = this.entries.get(objectKey(namespace, name));
    if (entry === undefined) return undefined;
    const states = [...entry.triggers.values()];
    const readings = await Promise.all(states.map((state) => this.read(entry, state, signal)));
    signal.throwIfAborted();
    const { fallback } = entry.registered;
    return {
      readings: readings.sort((a, b) => a.triggerIndex - b.triggerIndex),
      active: readings.some((r) => r.active),
      fallbackActive: states.some((s) => isFallbackInForce(s.consecutiveFailures, s.trigger.spec, fallback)),
    };
  }

  /** The value the metrics API should answer with for one metric of one ScaledObject. */
  async serve(namespace: string, name: string, metricName: string, signal: AbortSignal): Promise<ServedMetric> {
    const entry = this.entries.get(objectKey(namespace, name));
    if (entry === undefined) return { kind: 'unknown-scaledobject' };
    const state = entry.triggers.get(metricName.toLowerCase());
    if (state === undefined) return { kind: 'unknown-metric' };

    let reading = state.reading;
    const hit = reading !== undefined && this.isServable(reading, state, entry.registered.pollingIntervalMs);
    this.metrics.countCacheAnswer(hit);
    if (reading === undefined || !hit) {
      try {
        reading = await this.read(entry, state, signal);
      } catch {
        return { kind: 'error', reason: 'Aborted', message: `request for metric ${metricName} of ScaledObject ${namespace}/${name} was cancelled` };
      }
    }
    return servedMetric(reading, state.trigger.spec, entry.registered.fallback, new Date(this.now()));
  }

  health(namespace: string, name: string): ScaledObjectHealth | undefined {
    const entry = this.entries.get(objectKey(namespace, name));
    if (entry === undefined) return undefined;
    const health: Record<string, TriggerHealth> = {};
    const readings: TriggerReading[] = [];
    for (const state of entry.triggers.values()) {
      if (state.reading === undefined) continue;
      health[state.trigger.spec.metricName] = {
        numberOfFailures: state.consecutiveFailures,
        status: state.consecutiveFailures === 0 ? 'Happy' : 'Failing',
      };
      readings.push({ ...state.reading });
    }
    return { health, readings: readings.sort((a, b) => a.triggerIndex - b.triggerIndex) };
  }

  /** Aborts every read in flight and forgets every ScaledObject. Scalers stay open (the controller closes them). */
  close(): void {
    for (const entry of this.entries.values()) abortReads(entry, 'closed');
    this.entries.clear();
  }

  private isServable(reading: TriggerReading, state: TriggerState, pollingIntervalMs: number): boolean {
    return state.trigger.useCachedMetrics || this.now() - reading.readAt.getTime() < pollingIntervalMs;
  }

  /** Joins the trigger's read in flight or starts one; the caller's abort only detaches the caller. */
  private read(entry: Entry, state: TriggerState, signal: AbortSignal): Promise<TriggerReading> {
    const shared = state.inFlight ?? this.startRead(entry, state);
    shared.waiters += 1;
    return new Promise<TriggerReading>((resolve, reject) => {
      let waiting = true;
      const leave = (): boolean => {
        if (!waiting) return false;
        waiting = false;
        shared.waiters -= 1;
        signal.removeEventListener('abort', detach);
        return true;
      };
      const detach = (): void => {
        if (!leave()) return;
        // Nobody waits any more: stop the query rather than let it run to the timeout.
        if (shared.waiters === 0) shared.controller.abort('abandoned' satisfies AbortCause);
        reject(signal.reason);
      };
      if (signal.aborted) {
        detach();
        return;
      }
      signal.addEventListener('abort', detach, { once: true });
      // startRead's chain turns every failure into a reading, so this promise never rejects.
      void shared.promise.then((reading) => {
        if (leave()) resolve(reading);
      });
    });
  }

  private startRead(entry: Entry, state: TriggerState): SharedRead {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort('timeout' satisfies AbortCause), this.readTimeoutMs);
    const { trigger } = state;
    const run = async (): Promise<TriggerReading> => {
      let reading: TriggerReading;
      const started = performance.now();
      try {
        // Called a microtask later, so even a scaler that throws synchronously settles after state.inFlight is set.
        const pending = Promise.resolve().then(() => trigger.scaler.metricsAndActivity(controller.signal));
        const result = await untilAborted(pending, controller.signal);
        reading = this.readingFromResult(trigger, result);
      } catch (error) {
        reading = this.readingFromError(entry, trigger, controller.signal, error);
      } finally {
        clearTimeout(timer);
        if (state.inFlight?.controller === controller) delete state.inFlight;
      }
      if (controller.signal.aborted && controller.signal.reason !== 'timeout') {
        // Cancelled by us (no waiter left, unregistered, closed): says nothing about the data source.
        return { ...reading, consecutiveFailures: state.consecutiveFailures };
      }
      return this.record(entry, state, reading, performance.now() - started);
    };
    const shared: SharedRead = { controller, waiters: 0, promise: run() };
    state.inFlight = shared;
    return shared;
  }

  /** Stores the reading unless the trigger was unregistered or re-registered with another scaler meanwhile. */
  private record(entry: Entry, state: TriggerState, reading: TriggerReading, latencyMs: number): TriggerReading {
    const consecutiveFailures = reading.value === undefined ? state.consecutiveFailures + 1 : 0;
    const recorded = { ...reading, consecutiveFailures };
    const current = this.entries.get(objectKey(entry.registered.namespace, entry.registered.name));
    if (current?.triggers.get(state.trigger.spec.metricName.toLowerCase()) === state) {
      state.consecutiveFailures = consecutiveFailures;
      state.reading = recorded;
      const { spec } = state.trigger;
      const { fallback } = current.registered;
      const served = recorded.value ?? (fallback !== undefined && isFallbackInForce(consecutiveFailures, spec, fallback) ? fallbackValue(spec, fallback) : undefined);
      this.metrics.recordReading(triggerSeries(current.registered, state.trigger), {
        ...(served !== undefined && { value: served }),
        active: recorded.active,
        failed: recorded.value === undefined,
        latencyMs,
      });
    }
    return recorded;
  }

  private readingFromResult(trigger: RegisteredTrigger, result: MetricsAndActivity): TriggerReading {
    const { metricName } = trigger.spec;
    const sample = result.samples.find((s) => s.metricName === metricName);
    const base = { metricName, triggerIndex: trigger.triggerIndex, consecutiveFailures: 0, readAt: new Date(this.now()) };
    if (sample === undefined) {
      const got = result.samples.map((s) => s.metricName).join(', ') || 'none';
      return { ...base, active: false, error: { reason: 'BadResult', message: `scaler returned no sample for metric ${metricName} (samples: ${got})` } };
    }
    if (!Number.isFinite(sample.value)) {
      return { ...base, active: false, error: { reason: 'BadResult', message: `scaler returned ${sample.value} for metric ${metricName}; a metric value must be a finite number` } };
    }
    return { ...base, value: sample.value, active: result.active, ...(result.accountAudit && { accountAudit: result.accountAudit }) };
  }

  private readingFromError(entry: Entry, trigger: RegisteredTrigger, signal: AbortSignal, error: unknown): TriggerReading {
    const { metricName } = trigger.spec;
    const base = { metricName, triggerIndex: trigger.triggerIndex, active: false, consecutiveFailures: 0, readAt: new Date(this.now()) };
    const object = `${entry.registered.namespace}/${entry.registered.name}`;
    if (signal.aborted && signal.reason === 'timeout') {
      return {
        ...base,
        error: {
          reason: 'QueryTimeout',
          message: `reading metric ${metricName} of ScaledObject ${object} took longer than ${this.readTimeoutMs} ms; check that the data source answers quickly, or simplify the query`,
        },
      };
    }
    if (signal.aborted) {
      return { ...base, error: { reason: 'Aborted', message: `reading metric ${metricName} of ScaledObject ${object} was cancelled (${String(signal.reason)})` } };
    }
    if (error instanceof ScalerError) {
      return { ...base, error: { reason: error.reason, message: error.message } };
    }
    const detail = error instanceof Error ? error.message : String(error);
    return { ...base, error: { reason: 'QueryFailed', message: `reading metric ${metricName} of ScaledObject ${object} failed unexpectedly: ${detail}` } };
  }
}

function triggerSeries(entry: RegisteredScaledObject, trigger: RegisteredTrigger): TriggerSeries {
  return { namespace: entry.namespace, scaledObject: entry.name, metric: trigger.spec.metricName, scaler: trigger.scalerName, triggerIndex: trigger.triggerIndex };
}

function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function abortReads(entry: Entry, cause: AbortCause): void {
  for (const state of entry.triggers.values()) state.inFlight?.controller.abort(cause);
}

/** Settles with the promise, or rejects as soon as the signal aborts: a scaler that ignores its signal cannot hold us. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error(`aborted: ${String(signal.reason)}`));
    if (signal.aborted) {
      onAbort();
    } else {
      signal.addEventListener('abort', onAbort, { once: true });
    }
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
