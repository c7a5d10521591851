// Every Prometheus family queryscaler exports, in one registry per queryscaler instance (tests run
// several in one process), and the small named calls the controller, the metric cache, the metrics
// API and the MySQL pools make. The KEDA families keep KEDA's names, types, help and labels
// (pkg/metricscollector/prommetrics.go), so a KEDA user's dashboards and alerts keep working; the
// queryscaler_* families say what only queryscaler knows. Every series that names a ScaledObject is
// removed when the ScaledObject goes (forgetScaledObject), and a trigger's when the trigger does.
//
// Where we differ from KEDA, and why:
// - keda_scaler_metrics_value is removed while a trigger fails and fallback is not in force (KEDA
//   keeps the last good value, which a graph then shows as current), and is the fallback value
//   while fallback is in force (KEDA sets that only when the HPA asks): it is what the HPA is served.
// - keda_internal_scale_loop_latency_seconds is the poll scheduler's lag against its grid, the same
//   deviation KEDA measures for its scale loop.
// - keda_trigger_registered_total and keda_resource_registered_total are counted from the
//   informer caches at each scrape instead of kept by increments, so they cannot drift.
// - keda_build_info keeps KEDA's labels: goversion holds the Node.js version (there is no Go),
//   goos and goarch the platform in Go's words (linux, amd64, arm64), git_commit is empty.
import type { ShardingObserver } from '../sharding/observer.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DataSourceObserver, ReadingSource } from '../scalers/scaler.js';

/** The labels of KEDA's per-trigger families (keda_scaler_*). */
export interface TriggerSeries {
  namespace: string;
  scaledObject: string;
  /** The external metric name, e.g. s0-mysql-testdb. */
  metric: string;
  /** KEDA's `scaler` label: the trigger's name, or the scaler's KEDA type name (mySQLScaler). */
  scaler: string;
  triggerIndex: number;
}

export interface TriggerReadingFigures {
  /** The value the HPA is served: the reading, or the fallback value; undefined when there is none. */
  value?: number;
  active: boolean;
  failed: boolean;
  /** How long the scaler took, in ms. */
  latencyMs: number;
}

/** What the controller's caches hold, counted at each scrape. */
export interface RegisteredResources {
  /** Triggers of every ScaledObject, by trigger type (mysql, cron). */
  triggersByType: ReadonlyMap<string, number>;
  /** KEDA's resource types (scaled_object, trigger_authentication, cluster_trigger_authentication) per namespace. */
  resources: ReadonlyArray<{ type: string; namespace: string; count: number }>;
}

/** One connection pool as /metrics shows it; the label carries no password. */
export interface PoolFigures {
  label: string;
  open: number;
  idle: number;
  waiting: number;
  maxConnections: number;
  leases: number;
}

export const POLL_LAG_METRIC = 'queryscaler_poll_lag_seconds';
export const POLL_SKIPPED_METRIC = 'queryscaler_poll_ticks_skipped_total';
export const KUBE_API_REQUESTS_METRIC = 'queryscaler_kube_api_requests_total';

/** Bucket bounds in seconds: fine below 100 ms, where a healthy event loop lands. */
export const POLL_LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** From a cached primary-key lookup to a query near the longest queryTimeout. */
export const QUERY_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const KEDA_TRIGGER_LABELS = ['namespace', 'metric', 'scaledObject', 'scaler', 'triggerIndex', 'type'] as const;
type KedaTriggerLabel = (typeof KEDA_TRIGGER_LABELS)[number];
const SCALED_OBJECT_TYPE = 'scaledobject';

export interface QueryscalerMetricsOptions {
  /** Node.js and process families (prom-client's default metrics); on for a served /metrics. */
  processMetrics?: boolean;
  /** queryscaler's version, for keda_build_info. */
  version?: string;
}

export class QueryscalerMetrics {
  readonly registry = new Registry();
  readonly #kubeRequests: Counter<'verb' | 'resource'>;
  readonly #pollLag: Histogram;
  readonly #pollSkipped: Counter;
  readonly #loopLatency: Gauge<'namespace' | 'type' | 'resource'>;
  readonly #value: Gauge<KedaTriggerLabel>;
  readonly #latency: Gauge<KedaTriggerLabel>;
  readonly #active: Gauge<KedaTriggerLabel>;
  readonly #target: Gauge<KedaTriggerLabel>;
  readonly #scalerErrors: Counter<KedaTriggerLabel>;
  readonly #objectErrors: Counter<'namespace' | 'scaledObject'>;
  readonly #paused: Gauge<'namespace' | 'scaledObject'>;
  readonly #fallback: Gauge<'namespace' | 'scaledObject'>;
  readonly #guardRails: Gauge<'namespace' | 'scaledObject' | 'reason'>;
  readonly #cacheAnswers: Counter<'result'>;
  readonly #apiAnswers: Counter<'code'>;
  readonly #queryDuration: Histogram<'pool' | 'outcome'>;
  readonly #readings: Counter<'pool' | 'source'>;
  readonly #shardsHeld: Gauge;
  readonly #shardMoves: Counter<'step'>;
  readonly #metricRoutes: Counter<'route'>;
  /** Per ScaledObject (`ns/name`), the trigger series it has, keyed by their label values. */
  readonly #triggers = new Map<string, Map<string, Record<KedaTriggerLabel, string>>>();
  /** Per ScaledObject, the guard-rail reasons in force. */
  readonly #warnings = new Map<string, Set<string>>();
  #resources: () => RegisteredResources = () => ({ triggersByType: new Map(), resources: [] });
  #pools: () => readonly PoolFigures[] = () => [];

  constructor(options: QueryscalerMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'keda_build_info',
      help: 'Info metric, with static information about KEDA build like: version, git commit and Golang runtime info.',
      labelNames: ['version', 'git_commit', 'goversion', 'goos', 'goarch'],
      registers,
    }).set({ version: options.version ?? '', git_commit: '', goversion: `node${process.version}`, goos: process.platform, goarch: goArch(process.arch) }, 1);
    this.#value = new Gauge({
      name: 'keda_scaler_metrics_value',
      help: "The current value for each scaler's metric that would be used by the HPA in computing the target average.",
      labelNames: KEDA_TRIGGER_LABELS,
      registers,
    });
    this.#latency = new Gauge({
      name: 'keda_scaler_metrics_latency_seconds',
      help: 'The latency of retrieving current metric from each scaler, in seconds.',
      labelNames: KEDA_TRIGGER_LABELS,
      registers,
    });
    this.#active = new Gauge({
      name: 'keda_scaler_active',
      help: 'Indicates whether a scaler is active (1), or not (0).',
      labelNames: KEDA_TRIGGER_LABELS,
      registers,
    });
    this.#scalerErrors = new Counter({
      name: 'keda_scaler_detail_errors_total',
      help: 'The total number of errors encountered for each scaler.',
      labelNames: KEDA_TRIGGER_LABELS,
      registers,
    });
    this.#objectErrors = new Counter({
      name: 'keda_scaled_object_errors_total',
      help: 'The number of errors that have occurred for each ScaledObject.',
      labelNames: ['namespace', 'scaledObject'],
      registers,
    });
    this.#paused = new Gauge({
      name: 'keda_scaled_object_paused',
      help: 'Indicates whether a ScaledObject is paused (1), or not (0).',
      labelNames: ['namespace', 'scaledObject'],
      registers,
    });
    const resources = (): RegisteredResources => this.#resources();
    new Gauge({
      name: 'keda_trigger_registered_total',
      help: 'Total number of triggers per trigger type registered.',
      labelNames: ['type'],
      registers,
      collect() {
        this.reset();
        for (const [type, count] of resources().triggersByType) this.set({ type }, count);
      },
    });
    new Gauge({
      name: 'keda_resource_registered_total',
      help: 'Total number of KEDA custom resources per namespace for each custom resource type (CRD) registered.',
      labelNames: ['type', 'namespace'],
      registers,
      collect() {
        this.reset();
        for (const { type, namespace, count } of resources().resources) this.set({ type, namespace }, count);
      },
    });
    this.#loopLatency = new Gauge({
      name: 'keda_internal_scale_loop_latency_seconds',
      help: 'Total deviation (in seconds) between the expected execution time and the actual execution time for the scaling loop.',
      labelNames: ['namespace', 'type', 'resource'],
      registers,
    });

    this.#target = new Gauge({
      name: 'queryscaler_scaler_metrics_target',
      help: "The target each trigger's metric is scaled towards (a mysql trigger's queryValue): per pod for AverageValue, in total for Value.",
      labelNames: KEDA_TRIGGER_LABELS,
      registers,
    });
    this.#kubeRequests = new Counter({
      name: KUBE_API_REQUESTS_METRIC,
      help: 'Requests the controller sent to the Kubernetes API server, by verb and resource.',
      labelNames: ['verb', 'resource'],
      registers,
    });
    this.#pollLag = new Histogram({
      name: POLL_LAG_METRIC,
      help: 'How late each poll started against its ideal time on the pollingInterval grid, in seconds.',
      buckets: POLL_LAG_BUCKETS,
      registers,
    });
    this.#pollSkipped = new Counter({
      name: POLL_SKIPPED_METRIC,
      help: 'Poll ticks dropped because the previous poll of the same ScaledObject was still running or the event loop stalled.',
      registers,
    });
    this.#fallback = new Gauge({
      name: 'queryscaler_fallback_active',
      help: 'Whether fallback is in force for a ScaledObject (1): a trigger failed more than fallback.failureThreshold times in a row.',
      labelNames: ['namespace', 'scaledObject'],
      registers,
    });
    this.#guardRails = new Gauge({
      name: 'queryscaler_guard_rail_warnings',
      help: 'Guard-rail warnings in force for a ScaledObject (1 per reason), e.g. ScaleToZeroOwnDatabase or InnoDBClusterMemberLimit.',
      labelNames: ['namespace', 'scaledObject', 'reason'],
      registers,
    });
    this.#cacheAnswers = new Counter({
      name: 'queryscaler_metrics_api_cache_requests_total',
      help: 'External metric requests by how the metric cache answered: hit (a reading younger than pollingInterval) or miss (read anew).',
      labelNames: ['result'],
      registers,
    });
    this.#apiAnswers = new Counter({
      name: 'queryscaler_metrics_api_requests_total',
      help: 'External metric requests the metrics API answered, by HTTP status code.',
      labelNames: ['code'],
      registers,
    });
    this.#queryDuration = new Histogram({
      name: 'queryscaler_mysql_query_duration_seconds',
      help: 'How long each trigger query sent to MySQL took, by pool and outcome (success or failure); one observation per query sent, however many pollers it served.',
      labelNames: ['pool', 'outcome'],
      buckets: QUERY_DURATION_BUCKETS,
      registers,
    });
    this.#readings = new Counter({
      name: 'queryscaler_mysql_readings_total',
      help: 'Readings of MySQL triggers by source: query (sent a query), joined (shared a query in flight), recent (took a result younger than its pollingInterval).',
      labelNames: ['pool', 'source'],
      registers,
    });
    this.#shardsHeld = new Gauge({
      name: 'queryscaler_shards_held',
      help: 'Shard Leases this replica holds and works on (with --shards; 0 otherwise).',
      registers,
    });
    this.#shardMoves = new Counter({
      name: 'queryscaler_shard_moves_total',
      help: 'Shard Lease steps this replica took: acquire, create, release, drop (another took it), lapse (renewal deadline passed).',
      labelNames: ['step'],
      registers,
    });
    this.#metricRoutes = new Counter({
      name: 'queryscaler_metric_routes_total',
      help: 'How external metric requests were answered with --shards: local (this replica owns the object), forwarded (by its owner), published (from status while no owner answered), unavailable.',
      labelNames: ['route'],
      registers,
    });
    const pools = (): readonly PoolFigures[] => this.#pools();
    const poolGauge = (name: string, help: string, figure: (pool: PoolFigures) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers,
        collect() {
          this.reset();
          for (const pool of pools()) this.set({ pool: pool.label }, figure(pool));
        },
      });
    };
    poolGauge('queryscaler_mysql_pool_open_connections', 'Connections of a MySQL pool that are open or being opened.', (p) => p.open);
    poolGauge('queryscaler_mysql_pool_in_use_connections', 'Connections of a MySQL pool running a query now.', (p) => p.open - p.idle);
    poolGauge('queryscaler_mysql_pool_waiting_requests', 'Reads queued for a connection of a MySQL pool because all are busy.', (p) => p.waiting);
    poolGauge('queryscaler_mysql_pool_max_connections', 'The most connections a MySQL pool may hold (--mysql-pool-size).', (p) => p.maxConnections);
    poolGauge('queryscaler_mysql_pool_leases', 'Triggers sharing a MySQL pool.', (p) => p.leases);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition, as /metrics serves it. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /** Where keda_trigger_registered_total and keda_resource_registered_total are counted from. */
  countResourcesWith(source: () => RegisteredResources): void {
    this.#resources = source;
  }

  /** Where the queryscaler_mysql_pool_* gauges read the pools from. */
  readPoolsWith(source: () => readonly PoolFigures[]): void {
    this.#pools = source;
  }

  countKubeRequest(verb: string, resource: string): void {
    this.#kubeRequests.inc({ verb, resource });
  }

  /** A poll started `lagMs` after its ideal time. */
  observePollLag(namespace: string, name: string, lagMs: number): void {
    this.#pollLag.observe(lagMs / 1000);
    this.#loopLatency.set({ namespace, type: SCALED_OBJECT_TYPE, resource: name }, lagMs / 1000);
  }

  countSkippedTicks(ticks: number): void {
    this.#pollSkipped.inc(ticks);
  }

  /** One read of one trigger, from a poll or a metrics-API miss. */
  recordReading(series: TriggerSeries, figures: TriggerReadingFigures): void {
    const labels = this.#remember(series);
    if (figures.value === undefined) this.#value.remove(labels);
    else this.#value.set(labels, figures.value);
    this.#active.set(labels, figures.active ? 1 : 0);
    this.#latency.set(labels, figures.latencyMs / 1000);
    // As KEDA: the error series exist (at 0) from the first read on, so rate() sees the first error.
    this.#scalerErrors.inc(labels, figures.failed ? 1 : 0);
    this.#objectErrors.inc({ namespace: series.namespace, scaledObject: series.scaledObject }, figures.failed ? 1 : 0);
  }

  /** The target the HPA is given for a trigger's metric. */
  setTriggerTarget(series: TriggerSeries, target: number): void {
    this.#target.set(this.#remember(series), target);
  }

  /** The ScaledObject's triggers are now `current`: series of any other trigger of it go. */
  keepTriggers(namespace: string, name: string, current: readonly TriggerSeries[]): void {
    const known = this.#triggers.get(objectKey(namespace, name));
    if (known === undefined) return;
    const keep = new Set(current.map((series) => seriesKey(kedaLabels(series))));
    for (const [key, labels] of known) {
      if (keep.has(key)) continue;
      this.#removeTrigger(labels);
      known.delete(key);
    }
    if (known.size === 0) this.#triggers.delete(objectKey(namespace, name));
  }

  /** The ScaledObject could not be made ready (bad input, missing target or credentials). */
  countScaledObjectError(namespace: string, name: string): void {
    this.#objectErrors.inc({ namespace, scaledObject: name });
  }

  setPaused(namespace: string, name: string, paused: boolean): void {
    this.#paused.set({ namespace, scaledObject: name }, paused ? 1 : 0);
  }

  setFallbackActive(namespace: string, name: string, active: boolean): void {
    this.#fallback.set({ namespace, scaledObject: name }, active ? 1 : 0);
  }

  /** The guard-rail reasons in force now; returns whether they differ from the last call's. */
  setGuardRailWarnings(namespace: string, name: string, reasons: readonly string[]): boolean {
    const key = objectKey(namespace, name);
    const before = this.#warnings.get(key) ?? new Set<string>();
    const now = new Set(reasons);
    for (const reason of before) if (!now.has(reason)) this.#guardRails.remove({ namespace, scaledObject: name, reason });
    for (const reason of now) this.#guardRails.set({ namespace, scaledObject: name, reason }, 1);
    if (now.size === 0) this.#warnings.delete(key);
    else this.#warnings.set(key, now);
    return before.size !== now.size || [...now].some((reason) => !before.has(reason));
  }

  /** Removes every series that names the ScaledObject: it was deleted. */
  forgetScaledObject(namespace: string, name: string): void {
    this.keepTriggers(namespace, name, []);
    this.setGuardRailWarnings(namespace, name, []);
    const labels = { namespace, scaledObject: name };
    this.#objectErrors.remove(labels);
    this.#paused.remove(labels);
    this.#fallback.remove(labels);
    this.#loopLatency.remove({ namespace, type: SCALED_OBJECT_TYPE, resource: name });
  }

  /** How the metric cache answered an external metric request. */
  countCacheAnswer(hit: boolean): void {
    this.#cacheAnswers.inc({ result: hit ? 'hit' : 'miss' });
  }

  countMetricsApiAnswer(code: number): void {
    this.#apiAnswers.inc({ code: String(code) });
  }

  /** What the shard coordinator reports: shards held after each change, and each step it took. */
  readonly sharding: ShardingObserver = {
    shardsHeld: (count) => this.#shardsHeld.set(count),
    shardMoved: (step) => this.#shardMoves.inc({ step }),
    metricRouted: (route) => this.#metricRoutes.inc({ route }),
  };

  /** What the MySQL pools report, for the queryscaler_mysql_* families. */
  readonly dataSource: DataSourceObserver = {
    queryRan: (pool: string, durationMs: number, ok: boolean) =>
      this.#queryDuration.observe({ pool, outcome: ok ? 'success' : 'failure' }, durationMs / 1000),
    readingServed: (pool: string, source: ReadingSource) => this.#readings.inc({ pool, source }),
  };

  #remember(series: TriggerSeries): Record<KedaTriggerLabel, string> {
    const labels = kedaLabels(series);
    const key = objectKey(series.namespace, series.scaledObject);
    let known = this.#triggers.get(key);
    if (known === undefined) {
      known = new Map();
      this.#triggers.set(key, known);
    }
    known.set(seriesKey(labels), labels);
    return labels;
  }

  #removeTrigger(labels: Record<KedaTriggerLabel, string>): void {
    this.#value.remove(labels);
    this.#latency.remove(labels);
    this.#active.remove(labels);
    this.#target.remove(labels);
    this.#scalerErrors.remove(labels);
  }
}

function kedaLabels(series: TriggerSeries): Record<KedaTriggerLabel, string> {
  return {
    namespace: series.namespace,
    metric: series.metric,
    scaledObject: series.scaledObject,
    scaler: series.scaler,
    triggerIndex: String(series.triggerIndex),
    type: SCALED_OBJECT_TYPE,
  };
}

function seriesKey(labels: Record<KedaTriggerLabel, string>): string {
  return KEDA_TRIGGER_LABELS.map((name) => labels[name]).join('\n');
}

function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Node's process.arch in Go's GOARCH words, as KEDA's goarch label has them. */
function goArch(arch: string): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[arch] ?? arch;
}
