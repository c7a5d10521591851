// Wiring only: one metric cache shared by the controller (which fills it) and the external
// metrics API (which serves it), started and stopped together. main.ts and the tests call this.
import type { KubeConfig } from '@kubernetes/client-node';
import { startController } from './controller/controller.js';
import { createLogger, type Logger } from './log.js';
import { MetricCache } from './metric-cache/metric-cache.js';
import { startMetricsApiServer } from './metrics-api/server.js';
import { startPrometheusServer, type PrometheusServer } from './prometheus.js';
import { setMySqlPoolOptions } from './scalers/mysql/pool-registry.js';
import type { ServeMetric } from './sharding/metric-forwarding.js';
import { shardedReplica, type ShardingOptions } from './sharding/sharded-replica.js';

export interface QueryscalerOptions {
  kubeConfig: KubeConfig;
  /** Where the external metrics API listens; false runs the controller alone. */
  metricsApi?:
    | {
        host: string;
        port: number;
        /** caPem: the CA that signed certPem; needed with sharding (peers verify each other with it). */
        tls?: { certPem: string; keyPem: string; caPem?: string };
        /** Names for the self-signed certificate made when tls is absent: `<service>.<namespace>.svc`. */
        selfSignedDnsNames?: string[];
      }
    | false;
  /** Where Prometheus scrapes /metrics; false (the default in tests) serves nothing. */
  prometheus?: { host: string; port: number } | false;
  /** Namespace whose Secrets and ConfigMaps ClusterTriggerAuthentications read. */
  clusterTriggerAuthenticationNamespace?: string;
  mysqlPoolSize?: number;
  apiQps?: number;
  apiBurst?: number;
  workers?: number;
  logLevel?: string;
  logger?: Logger;
  /**
   * Several active replicas sharing the ScaledObjects through Leases; absent, this process does all
   * the work alone. Needs the metrics API with a serving certificate and CA that every replica
   * shares: peers forward metric requests to each other with it.
   */
  sharding?: ShardingOptions;
  /**
   * On stop, /readyz says "shutting down" for this long before anything stops, while everything
   * still serves: the time it takes Kubernetes to take a terminating pod out of its Service.
   */
  shutdownDelayMs?: number;
}

export interface RunningQueryscaler {
  metricsApiPort?: number;
  /** CA of the self-signed serving certificate, for an APIService caBundle. */
  metricsApiCaPem?: string;
  prometheusPort?: number;
  stop(): Promise<void>;
}

export async function startQueryscaler(options: QueryscalerOptions): Promise<RunningQueryscaler> {
  const logger = options.logger ?? createLogger(options.logLevel ?? 'info');
  if (options.mysqlPoolSize !== undefined) setMySqlPoolOptions({ maxConnections: options.mysqlPoolSize });
  const metricCache = new MetricCache();

  const stops: Array<() => Promise<void>> = [];
  const sharding = options.sharding;
  const tls = options.metricsApi === false ? undefined : options.metricsApi?.tls;
  if (sharding !== undefined && tls?.caPem === undefined) {
    throw new Error(
      'several replicas need a serving certificate they all share, with its CA (--tls-cert-file, --tls-key-file, --tls-ca-file): ' +
        'peers forward metric requests to each other with it',
    );
  }
  const stopAll = async (): Promise<void> => {
    // Reverse order: stop serving before the controller closes the scalers the cache reads.
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    }
  };

  try {
    const local: ServeMetric = async (request, signal) => ({
      served: await metricCache.serve(request.namespace, request.scaledObject, request.metricName, signal),
      metricNames: metricCache.metricNames(request.namespace, request.scaledObject),
    });
    // Built before the controller, which asks it what it owns (the status lookup runs only once both
    // exist); started after it, once the controller listens.
    const replica =
      sharding &&
      tls?.caPem !== undefined &&
      shardedReplica({
        kubeConfig: options.kubeConfig,
        sharding,
        serving: { certPem: tls.certPem, keyPem: tls.keyPem, caPem: tls.caPem },
        local,
        scaledObject: (namespace, name) => controller.scaledObject(namespace, name),
        logger,
      });
    const controller = await startController({
      kubeConfig: options.kubeConfig,
      metricCache,
      logger: logger.child({ component: 'controller' }),
      clusterTriggerAuthenticationNamespace: options.clusterTriggerAuthenticationNamespace ?? 'queryscaler',
      ...(options.workers !== undefined && { workers: options.workers }),
      ...(options.apiQps !== undefined && { apiQps: options.apiQps }),
      ...(options.apiBurst !== undefined && { apiBurst: options.apiBurst }),
      ...(replica && { ownership: replica.coordinator }),
    });
    stops.push(() => controller.stop());

    let terminating = false;
    const running: RunningQueryscaler = {
      stop: async () => {
        terminating = true;
        if ((options.shutdownDelayMs ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
        await stopAll();
      },
    };
    if (options.metricsApi !== false) {
      const api = await startMetricsApiServer({
        cache: metricCache,
        kubeConfig: options.kubeConfig,
        host: options.metricsApi?.host ?? '0.0.0.0',
        port: options.metricsApi?.port ?? 6443,
        ...(options.metricsApi?.tls && { tls: options.metricsApi.tls }),
        ...(options.metricsApi?.selfSignedDnsNames && { selfSignedDnsNames: options.metricsApi.selfSignedDnsNames }),
        logger: logger.child({ component: 'metrics-api' }),
        ...(replica && { serveMetric: replica.serveMetric, peerRequests: replica.peerRequests }),
        notReadyReason: () =>
          terminating
            ? 'shutting down'
            : !controller.synced ? 'the controller caches are not synced yet' : replica && !replica.coordinator.ready ? 'not a member of the replica set yet' : undefined,
      });
      stops.push(() => api.close());
      running.metricsApiPort = api.port;
      if (api.caPem !== undefined) running.metricsApiCaPem = api.caPem;
    }
    if (replica) {
      // Last to start and first to stop: its stop hands every shard over while the rest still runs.
      await replica.start();
      stops.push(() => replica.stop());
    }
    if (options.prometheus) {
      const prometheus: PrometheusServer = await startPrometheusServer(options.prometheus.host, options.prometheus.port);
      stops.push(() => prometheus.close());
      running.prometheusPort = prometheus.port;
    }
    return running;
  } catch (error) {
    await stopAll();
    throw error;
  }
}
