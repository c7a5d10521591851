// The latest reading of every registered trigger. The controller's poll loop fills it every
// pollingInterval; the metrics API answers each HPA request from it with a value read at most
// freshnessMs (250 ms) before the request arrived, reading the trigger itself when the cached value
// is older. One read per trigger at a time: concurrent callers (poll and any number of HPA
// requests) share the read in flight instead of each querying the database. Every read it records,
// it also reports to /metrics (the keda_scaler_* families).
//
// Where this differs from KEDA, and why. KEDA queries the data source on every HPA request (unless
// useCachedMetrics). Ours shares: a request takes a value read up to 250 ms before it arrived, by
// this trigger or (through the scaler) by any other with the identical query, so one query serves
// every request of those 250 ms whatever the number of ScaledObjects: at most 4 request-driven
// queries a second per distinct query, and the polls take those results instead of querying too. A
// change committed more than 250 ms before the HPA asks is always seen; one in those last 250 ms may
// wait for the HPA's next sync, as with KEDA a change committed while its query runs. The HPA
// waits at most latencyBudgetMs (250 ms, the line the MySQL pool draws between quick and slow
// queries) for the fresh read; past that, or when the last read already took longer, it gets the
// cached value, and the answer says how old it is (ServedMetric.stale). useCachedMetrics keeps
// KEDA's meaning: the last poll's value, no query.

import type { TriggerHealth } from '../api/types.js';
import { QueryscalerMetrics, type TriggerSeries } from '../observability/prometheus-metrics.js';
import { ScalerError, type MetricsAndActivity } from '../scalers/scaler.js';
import { fallbackValue, isFallbackInForce, servedMetric } from './fallback.js';
import type { PollOutcome, RegisteredScaledObject, RegisteredTrigger, ServedMetric, StaleReason, TriggerReading } from './types.js';

export const DEFAULT_READ_TIMEOUT_MS = 10_000;
export const DEFAULT_FRESHNESS_MS = 250;
export const DEFAULT_LATENCY_BUDGET_MS = 250;
/** Reads one request may make: one joined from a poll (its value may be older) and a fresh one, and one spare. */
const MAX_READS_PER_REQUEST = 3;

export interface MetricCacheOptions {
  /** Upper bound on one scaler read; the scaler's signal is aborted then. Default 10 s. */
  readTimeoutMs?: number;
  /** An HPA request is answered with a value read at most this long before it arrived (0: after). Default 250 ms. */
  freshnessMs?: number;
  /** How long an HPA request waits for a fresh read before it is answered with the cached value. Default 250 ms. */
  latencyBudgetMs?: number;
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
  /** performance.now() when the read began. */
  startedAt: number;
}

interface TriggerState {
  trigger: RegisteredTrigger;
  reading?: TriggerReading;
  consecutiveFailures: number;
  inFlight?: SharedRead;
  /** How long the last recorded read took, in ms. */
  lastReadMs?: number;
  /** What the last poll returned: a newer reading was made for an HPA request. */
  polled?: TriggerReading;
}

interface Entry {
  registered: RegisteredScaledObject;
  /** Keyed by lower-cased metric name: the HPA lower-cases the names it asks for. */
  triggers: Map<string, TriggerState>;
}

export class MetricCache {
  private readonly entries = new Map<string, Entry>();
  private readonly readTimeoutMs: number;
  private readonly freshnessMs: number;
  private readonly latencyBudgetMs: number;
  private readonly now: () => number;
  private readonly metrics: QueryscalerMetrics;

  constructor(options: MetricCacheOptions = {}) {
    this.readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    if (!Number.isFinite(this.readTimeoutMs) || this.readTimeoutMs <= 0) {
      throw new RangeError(`MetricCache readTimeoutMs must be a positive number of milliseconds, got ${this.readTimeoutMs}`);
    }
    this.freshnessMs = options.freshnessMs ?? DEFAULT_FRESHNESS_MS;
    this.latencyBudgetMs = options.latencyBudgetMs ?? DEFAULT_LATENCY_BUDGET_MS;
    for (const [name, value] of [['freshnessMs', this.freshnessMs], ['latencyBudgetMs', this.latencyBudgetMs]] as const) {
      if (!Number.isFinite(value) || value < 0) {
        throw new RangeError(`MetricCache ${name} must be a number of milliseconds >= 0, got ${value}`);
      }
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
   * Reads every trigger now (joining a read already in flight, or taking one made for an HPA request
   * since the last poll and younger than pollingInterval) and reports the outcome, or undefined when
   * the ScaledObject is not registered. Rejects with the signal's reason when it aborts.
   */
  async poll(namespace: string, name: string, signal: AbortSignal): Promise<PollOutcome | undefined> {
    signal.throwIfAborted();
    const entry = this.entries.get(objectKey(namespace, name));
    if (entry === undefined) return undefined;
    const states = [...entry.triggers.values()];
    const readings = await Promise.all(states.map((state) => this.pollRead(entry, state, signal)));
    signal.throwIfAborted();
    const { fallback } = entry.registered;
    return {
      readings: readings.sort((a, b) => a.triggerIndex - b.triggerIndex),
      active: readings.some((r) => r.active),
      fallbackActive: states.some((s) => isFallbackInForce(s.consecutiveFailures, s.trigger.spec, fallback)),
    };
  }

  /**
   * The value the metrics API should answer an HPA request with for one metric of one ScaledObject:
   * one read at most freshnessMs before the call, unless that would take longer than latencyBudgetMs
   * (then the cached one, marked stale with its age), or the last poll's for useCachedMetrics.
   */
  async serve(namespace: string, name: string, metricName: string, signal: AbortSignal): Promise<ServedMetric> {
    const arrivedAt = this.now();
    const entry = this.entries.get(objectKey(namespace, name));
    if (entry === undefined) return { kind: 'unknown-scaledobject' };
    const state = entry.triggers.get(metricName.toLowerCase());
    if (state === undefined) return { kind: 'unknown-metric' };

    const cached = state.reading;
    if (cached !== undefined && (state.trigger.useCachedMetrics || this.isFresh(cached, arrivedAt))) {
      this.metrics.countCacheAnswer(true);
      return this.answer(entry, state, cached, arrivedAt, 'use-cached-metrics');
    }
    const slow = cached !== undefined && this.isSlow(state);
    this.metrics.countCacheAnswer(slow);
    if (slow) return this.answer(entry, state, cached, arrivedAt, 'slow-read');
    let reading: TriggerReading;
    try {
      reading = await this.freshReading(entry, state, arrivedAt, signal);
    } catch {
      return { kind: 'error', reason: 'Aborted', message: `request for metric ${metricName} of ScaledObject ${namespace}/${name} was cancelled` };
    }
    return this.answer(entry, state, reading, arrivedAt, 'over-budget');
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

  private isFresh(reading: TriggerReading, arrivedAt: number): boolean {
    return arrivedAt - reading.readAt.getTime() <= this.freshnessMs;
  }

  /** The last read, or the one in flight so far, took longer than a request may wait. */
  private isSlow(state: TriggerState): boolean {
    const running = state.inFlight === undefined ? 0 : performance.now() - state.inFlight.startedAt;
    return Math.max(state.lastReadMs ?? 0, running) > this.latencyBudgetMs;
  }

  private answer(entry: Entry, state: TriggerState, reading: TriggerReading, arrivedAt: number, reasonIfStale: StaleReason): ServedMetric {
    const now = this.now();
    const served = servedMetric(reading, state.trigger.spec, entry.registered.fallback, new Date(now));
    if (served.kind !== 'value' || served.fallback || this.isFresh(reading, arrivedAt)) return served;
    return { ...served, stale: { reason: reasonIfStale, ageMs: now - reading.readAt.getTime() } };
  }

  /**
   * A reading begun at most freshnessMs before `arrivedAt`, or, once latencyBudgetMs has passed, the
   * newest there is (the read goes on and refreshes the cache for the next caller).
   */
  private async freshReading(entry: Entry, state: TriggerState, arrivedAt: number, signal: AbortSignal): Promise<TriggerReading> {
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.latencyBudgetMs);
    });
    try {
      let reading: TriggerReading | undefined;
      for (let reads = 0; reads < MAX_READS_PER_REQUEST && (reading === undefined || !this.isFresh(reading, arrivedAt)); reads += 1) {
        // A read joined in flight may have begun before the bound (a poll's, which takes older shared
        // values); then another one follows, within what is left of the budget.
        const maxAgeMs = Math.max(0, this.freshnessMs - (this.now() - arrivedAt));
        const pending = this.read(entry, state, signal, maxAgeMs);
        const landed = await Promise.race([pending, budget]);
        if (landed === undefined) {
          // This caller stops waiting; a late cancellation of the read must not surface as unhandled.
          pending.catch(() => undefined);
          return state.reading ?? (await pending);
        }
        reading = landed;
      }
      return reading as TriggerReading;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The poll's reading: one made for an HPA request since the last poll stands in while younger than the interval. */
  private async pollRead(entry: Entry, state: TriggerState, signal: AbortSignal): Promise<TriggerReading> {
    const { reading, polled } = state;
    const young = reading !== undefined && this.now() - reading.readAt.getTime() < entry.registered.pollingIntervalMs;
    const got = young && reading !== polled ? reading : await this.read(entry, state, signal);
    state.polled = got;
    return got;
  }

  /** Joins the trigger's read in flight or starts one; the caller's abort only detaches the caller. */
  private read(entry: Entry, state: TriggerState, signal: AbortSignal, maxAgeMs?: number): Promise<TriggerReading> {
    const shared = state.inFlight ?? this.startRead(entry, state, maxAgeMs);
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

  private startRead(entry: Entry, state: TriggerState, maxAgeMs: number | undefined): SharedRead {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort('timeout' satisfies AbortCause), this.readTimeoutMs);
    const { trigger } = state;
    const startedAt = performance.now();
    const begun = new Date(this.now());
    const run = async (): Promise<TriggerReading> => {
      let reading: TriggerReading;
      try {
        // Called a microtask later, so even a scaler that throws synchronously settles after state.inFlight is set.
        const pending = Promise.resolve().then(() => trigger.scaler.metricsAndActivity(controller.signal, maxAgeMs));
        const result = await untilAborted(pending, controller.signal);
        reading = this.readingFromResult(trigger, result, begun);
      } catch (error) {
        reading = this.readingFromError(entry, trigger, controller.signal, error, begun);
      } finally {
        clearTimeout(timer);
        if (state.inFlight?.controller === controller) delete state.inFlight;
      }
      if (controller.signal.aborted && controller.signal.reason !== 'timeout') {
        // Cancelled by us (no waiter left, unregistered, closed): says nothing about the data source.
        return { ...reading, consecutiveFailures: state.consecutiveFailures };
      }
      return this.record(entry, state, reading, performance.now() - startedAt);
    };
    const shared: SharedRead = { controller, waiters: 0, startedAt, promise: run() };
    state.inFlight = shared;
    return shared;
  }

  /** Stores the reading unless the trigger was unregistered or re-registered with another scaler meanwhile. */
  private record(entry: Entry, state: TriggerState, reading: TriggerReading, durationMs: number): TriggerReading {
    const consecutiveFailures = reading.value === undefined ? state.consecutiveFailures + 1 : 0;
    const recorded = { ...reading, consecutiveFailures };
    const current = this.entries.get(objectKey(entry.registered.namespace, entry.registered.name));
    if (current?.triggers.get(state.trigger.spec.metricName.toLowerCase()) === state) {
      state.consecutiveFailures = consecutiveFailures;
      state.reading = recorded;
      state.lastReadMs = durationMs;
      const { spec } = state.trigger;
      const { fallback } = current.registered;
      const served = recorded.value ?? (fallback !== undefined && isFallbackInForce(consecutiveFailures, spec, fallback) ? fallbackValue(spec, fallback) : undefined);
      this.metrics.recordReading(triggerSeries(current.registered, state.trigger), {
        ...(served !== undefined && { value: served }),
        active: recorded.active,
        failed: recorded.value === undefined,
        latencyMs: durationMs,
      });
    }
    return recorded;
  }

  private readingFromResult(trigger: RegisteredTrigger, result: MetricsAndActivity, begun: Date): TriggerReading {
    const { metricName } = trigger.spec;
    const sample = result.samples.find((s) => s.metricName === metricName);
    const base = { metricName, triggerIndex: trigger.triggerIndex, consecutiveFailures: 0, readAt: result.readAt ?? begun };
    if (sample === undefined) {
      const got = result.samples.map((s) => s.metricName).join(', ') || 'none';
      return { ...base, active: false, error: { reason: 'BadResult', message: `scaler returned no sample for metric ${metricName} (samples: ${got})` } };
    }
    if (!Number.isFinite(sample.value)) {
      return { ...base, active: false, error: { reason: 'BadResult', message: `scaler returned ${sample.value} for metric ${metricName}; a metric value must be a finite number` } };
    }
    return { ...base, value: sample.value, active: result.active, ...(result.accountAudit && { accountAudit: result.accountAudit }) };
  }

  private readingFromError(entry: Entry, trigger: RegisteredTrigger, signal: AbortSignal, error: unknown, begun: Date): TriggerReading {
    const { metricName } = trigger.spec;
    const base = { metricName, triggerIndex: trigger.triggerIndex, active: false, consecutiveFailures: 0, readAt: begun };
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
