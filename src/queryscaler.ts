// Wiring only: one metric cache shared by the controller (which fills it) and the external
// metrics API (which serves it), the admission webhook reading the controller's caches, one
// serving certificate for both HTTPS servers, with sharding the replica's part in the replica set,
// and one set of Prometheus families for all of them, started and stopped together. main.ts and
// the tests call this.
import type { KubeConfig } from '@kubernetes/client-node';
import { startWebhookServer } from './admission/webhook-server.js';
import { startController } from './controller/controller.js';
import { KubeApi } from './controller/kube-api.js';
import { createLogger, type Logger } from './log.js';
import { MetricCache } from './metric-cache/metric-cache.js';
import { startMetricsApiServer } from './metrics-api/server.js';
import { QueryscalerMetrics } from './observability/prometheus-metrics.js';
import { startPrometheusServer, type PrometheusServer } from './observability/prometheus-server.js';
import { mysqlPoolStats, setMySqlPoolOptions } from './scalers/mysql/pool-registry.js';
import { queryscalerVersion } from './version.js';
import { startCaBundleInjection, type CaBundleTargets } from './serving/ca-bundles.js';
import { obtainServingCertificate, type ServingCertificateSource } from './serving/serving-certificate.js';
import { cacheMetricSource } from './metrics-api/metric-answer.js';
import { shardedReplica, type ShardingOptions } from './sharding/sharded-replica.js';

export interface QueryscalerOptions {
  kubeConfig: KubeConfig;
  /** Where the external metrics API listens; false runs the controller alone. */
  metricsApi?: { host: string; port: number } | false;
  /** Where the ScaledObject admission webhook listens; false (the default) serves none. */
  webhook?: { host: string; port: number } | false;
  /** The certificate both HTTPS servers present. Default: self-signed for localhost, made at start. */
  serving?: ServingCertificateSource;
  /** Whose caBundle gets the serving certificate's CA (when it is known), at start and whenever changed. Default: nobody's. */
  caBundles?: CaBundleTargets;
  /** Where Prometheus scrapes /metrics; false (the default in tests) serves nothing. */
  prometheus?: { host: string; port: number } | false;
  /** Namespace whose Secrets and ConfigMaps ClusterTriggerAuthentications read. */
  clusterTriggerAuthenticationNamespace?: string;
  /** List and watch only in these namespaces; empty or absent: the whole cluster. */
  watchNamespaces?: readonly string[];
  /** Read only the Secrets and ConfigMaps credentials name, by name. */
  restrictSecretAccess?: boolean;
  mysqlPoolSize?: number;
  apiQps?: number;
  apiBurst?: number;
  workers?: number;
  logLevel?: string;
  logger?: Logger;
  /**
   * Several active replicas sharing the ScaledObjects through Leases; absent, this process does all
   * the work alone. Needs the metrics API and a serving certificate whose CA is known (the shared
   * Secret's, or given files with their CA): peers forward metric requests to each other with it.
   */
  sharding?: ShardingOptions;
  /** How old a value may be to answer a metric request without a read of its own (MetricCache freshnessMs); default 250 ms. */
  metricFreshnessMs?: number;
  /** How long a metric request waits for its own read before the cached value is served (MetricCache latencyBudgetMs); default 250 ms. */
  metricLatencyBudgetMs?: number;
  /**
   * On stop, /readyz says "shutting down" for this long before anything stops, while everything
   * still serves: the time it takes Kubernetes to take a terminating pod out of its Service.
   */
  shutdownDelayMs?: number;
}

export interface RunningQueryscaler {
  /** This instance's Prometheus families, as /metrics serves them. */
  metrics: QueryscalerMetrics;
  metricsApiPort?: number;
  webhookPort?: number;
  /** CA of the serving certificate, for a caBundle; absent for given files without a CA. */
  servingCaPem?: string;
  prometheusPort?: number;
  stop(): Promise<void>;
}

export async function startQueryscaler(options: QueryscalerOptions): Promise<RunningQueryscaler> {
  const logger = options.logger ?? createLogger(options.logLevel ?? 'info');
  if (options.mysqlPoolSize !== undefined) setMySqlPoolOptions({ maxConnections: options.mysqlPoolSize });
  // Node.js and process figures only where someone can scrape them.
  const metrics = new QueryscalerMetrics({ processMetrics: options.prometheus !== undefined && options.prometheus !== false, version: queryscalerVersion() });
  // The pools are the process's: two instances in one process share them.
  metrics.readPoolsWith(() =>
    mysqlPoolStats().map((pool) => ({ label: pool.label, open: pool.open, idle: pool.idle, waiting: pool.waiting, maxConnections: pool.maxConnections, leases: pool.leases })),
  );
  const metricCache = new MetricCache({
    metrics,
    ...(options.metricFreshnessMs !== undefined && { freshnessMs: options.metricFreshnessMs }),
    ...(options.metricLatencyBudgetMs !== undefined && { latencyBudgetMs: options.metricLatencyBudgetMs }),
  });
  if (options.sharding !== undefined && options.metricsApi === false) {
    throw new Error('several replicas need the metrics API: the replicas forward metric requests to each other through it');
  }

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    // Reverse order: stop serving before the controller closes the scalers the cache reads.
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    }
  };

  try {
    const servingLogger = logger.child({ component: 'serving-certificate' });
    const api = new KubeApi(options.kubeConfig, { metrics });
    stops.push(() => Promise.resolve(api.close()));
    const serving =
      options.metricsApi !== false || options.webhook
        ? await obtainServingCertificate(options.serving ?? { kind: 'self-signed', dnsNames: ['localhost'] }, api, servingLogger)
        : undefined;
    const tls = serving && { certPem: serving.certPem, keyPem: serving.keyPem };
    if (options.sharding !== undefined && serving?.caPem === undefined) {
      throw new Error(
        'several replicas (--shards) need a serving certificate whose CA is known, shared by every replica: the certificate Secret ' +
          '(the default), or --tls-cert-file and --tls-key-file with --tls-ca-file; peers forward metric requests to each other with it',
      );
    }

    const local = cacheMetricSource(metricCache);
    // Built before the controller, which asks it what it owns (the status lookup runs only once both
    // exist); started after it, once the controller listens.
    const replica =
      options.sharding !== undefined && serving?.caPem !== undefined
        ? shardedReplica({
            kubeConfig: options.kubeConfig,
            sharding: options.sharding,
            serving: { certPem: serving.certPem, keyPem: serving.keyPem, caPem: serving.caPem },
            local,
            scaledObject: (namespace, name) => controller.caches.scaledObjects.get(namespace, name),
            logger,
            metrics,
          })
        : undefined;
    const controller = await startController({
      kubeConfig: options.kubeConfig,
      metricCache,
      metrics,
      logger: logger.child({ component: 'controller' }),
      clusterTriggerAuthenticationNamespace: options.clusterTriggerAuthenticationNamespace ?? 'queryscaler',
      ...(options.workers !== undefined && { workers: options.workers }),
      ...(options.watchNamespaces !== undefined && { watchNamespaces: options.watchNamespaces }),
      ...(options.restrictSecretAccess !== undefined && { restrictSecretAccess: options.restrictSecretAccess }),
      ...(options.apiQps !== undefined && { apiQps: options.apiQps }),
      ...(options.apiBurst !== undefined && { apiBurst: options.apiBurst }),
      ...(replica && { ownership: replica.coordinator }),
    });
    stops.push(() => controller.stop());

    let terminating = false;
    const running: RunningQueryscaler = {
      metrics,
      stop: async () => {
        terminating = true;
        if ((options.shutdownDelayMs ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
        await stopAll();
      },
    };
    if (serving?.caPem !== undefined) running.servingCaPem = serving.caPem;
    if (options.metricsApi !== false && tls) {
      const metricsApi = await startMetricsApiServer({
        cache: metricCache,
        kubeConfig: options.kubeConfig,
        host: options.metricsApi?.host ?? '0.0.0.0',
        port: options.metricsApi?.port ?? 6443,
        tls,
        logger: logger.child({ component: 'metrics-api' }),
        metrics,
        ...(replica && { metricSource: replica.metricSource, peerRequests: replica.peerRequests }),
        notReadyReason: () =>
          terminating
            ? 'shutting down'
            : !controller.synced
              ? 'the controller caches are not synced yet'
              : replica && !replica.coordinator.ready
                ? 'not a member of the replica set yet'
                : undefined,
      });
      stops.push(() => metricsApi.close());
      running.metricsApiPort = metricsApi.port;
    }
    if (options.webhook && tls) {
      const webhook = await startWebhookServer({
        ...options.webhook,
        tls,
        world: { scaledObjects: () => controller.caches.scaledObjects.list(), hpas: () => controller.caches.hpas.list() },
        logger: logger.child({ component: 'admission-webhook' }),
      });
      stops.push(() => webhook.close());
      running.webhookPort = webhook.port;
    }
    if (options.caBundles !== undefined && serving?.caPem !== undefined) {
      const injection = await startCaBundleInjection(api, serving.caPem, options.caBundles, servingLogger);
      stops.push(() => injection.stop());
    }
    if (replica) {
      // Last to start and first to stop: its stop hands every shard over while the rest still runs.
      await replica.start();
      stops.push(() => replica.stop());
    }
    if (options.prometheus) {
      const prometheus: PrometheusServer = await startPrometheusServer(metrics, options.prometheus.host, options.prometheus.port);
      stops.push(() => prometheus.close());
      running.prometheusPort = prometheus.port;
    }
    return running;
  } catch (error) {
    await stopAll();
    throw error;
  }
}
