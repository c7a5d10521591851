// Wiring only: one metric cache shared by the controller (which fills it) and the external
// metrics API (which serves it), started and stopped together. main.ts and the tests call this.
import type { KubeConfig } from '@kubernetes/client-node';
import { startController } from './controller/controller.js';
import { createLogger, type Logger } from './log.js';
import { MetricCache } from './metric-cache/metric-cache.js';
import { startMetricsApiServer } from './metrics-api/server.js';
import { startPrometheusServer, type PrometheusServer } from './prometheus.js';
import { setMySqlPoolOptions } from './scalers/mysql/pool-registry.js';

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
      logger: logger.child({ component: 'controller' }),
      clusterTriggerAuthenticationNamespace: options.clusterTriggerAuthenticationNamespace ?? 'queryscaler',
      ...(options.workers !== undefined && { workers: options.workers }),
      ...(options.watchNamespaces !== undefined && { watchNamespaces: options.watchNamespaces }),
      ...(options.restrictSecretAccess !== undefined && { restrictSecretAccess: options.restrictSecretAccess }),
      ...(options.apiQps !== undefined && { apiQps: options.apiQps }),
      ...(options.apiBurst !== undefined && { apiBurst: options.apiBurst }),
    });
    stops.push(() => controller.stop());

    const running: RunningQueryscaler = { stop: stopAll };
    if (options.metricsApi !== false) {
      const api = await startMetricsApiServer({
        cache: metricCache,
        kubeConfig: options.kubeConfig,
        host: options.metricsApi?.host ?? '0.0.0.0',
        port: options.metricsApi?.port ?? 6443,
        ...(options.metricsApi?.tls && { tls: options.metricsApi.tls }),
        ...(options.metricsApi?.selfSignedDnsNames && { selfSignedDnsNames: options.metricsApi.selfSignedDnsNames }),
        logger: logger.child({ component: 'metrics-api' }),
      });
      stops.push(() => api.close());
      running.metricsApiPort = api.port;
      if (api.caPem !== undefined) running.metricsApiCaPem = api.caPem;
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
