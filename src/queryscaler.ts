// Wiring only: one metric cache shared by the controller (which fills it) and the external
// metrics API (which serves it), and one set of Prometheus families for all three, started and
// stopped together. main.ts and the tests call this.
import type { KubeConfig } from '@kubernetes/client-node';
import { startController } from './controller/controller.js';
import { createLogger, type Logger } from './log.js';
import { MetricCache } from './metric-cache/metric-cache.js';
import { startMetricsApiServer } from './metrics-api/server.js';
import { QueryscalerMetrics } from './observability/prometheus-metrics.js';
import { startPrometheusServer, type PrometheusServer } from './observability/prometheus-server.js';
import { mysqlPoolStats, setMySqlPoolOptions } from './scalers/mysql/pool-registry.js';
import { queryscalerVersion } from './version.js';

export interface QueryscalerOptions {
  kubeConfig: KubeConfig;
  /** Where the external metrics API listens; false runs the controller alone. */
  metricsApi?:
    | {
        host: string;
        port: number;
        tls?: { certPem: string; keyPem: string };
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
}

export interface RunningQueryscaler {
  /** This instance's Prometheus families, as /metrics serves them. */
  metrics: QueryscalerMetrics;
  metricsApiPort?: number;
  /** CA of the self-signed serving certificate, for an APIService caBundle. */
  metricsApiCaPem?: string;
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
  const metricCache = new MetricCache({ metrics });

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    // Reverse order: stop serving before the controller closes the scalers the cache reads.
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    }
  };

  try {
    const controller = await startController({
      kubeConfig: options.kubeConfig,
      metricCache,
      metrics,
      logger: logger.child({ component: 'controller' }),
      clusterTriggerAuthenticationNamespace: options.clusterTriggerAuthenticationNamespace ?? 'queryscaler',
      ...(options.workers !== undefined && { workers: options.workers }),
      ...(options.apiQps !== undefined && { apiQps: options.apiQps }),
      ...(options.apiBurst !== undefined && { apiBurst: options.apiBurst }),
    });
    stops.push(() => controller.stop());

    const running: RunningQueryscaler = { metrics, stop: stopAll };
    if (options.metricsApi !== false) {
      const api = await startMetricsApiServer({
        cache: metricCache,
        kubeConfig: options.kubeConfig,
        host: options.metricsApi?.host ?? '0.0.0.0',
        port: options.metricsApi?.port ?? 6443,
        ...(options.metricsApi?.tls && { tls: options.metricsApi.tls }),
        ...(options.metricsApi?.selfSignedDnsNames && { selfSignedDnsNames: options.metricsApi.selfSignedDnsNames }),
        logger: logger.child({ component: 'metrics-api' }),
        metrics,
      });
      stops.push(() => api.close());
      running.metricsApiPort = api.port;
      if (api.caPem !== undefined) running.metricsApiCaPem = api.caPem;
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
