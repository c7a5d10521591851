// The controller started in the test process against the shared control plane, with its own
// namespace and the clients a test reads through: what the controller-level tests each need.
// With `metricsApi`, the external metrics API serves the same metric cache and is registered as
// the cluster's APIService, so the real HPA controller reads the values the controller polls.
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startController, type ControllerOptions, type RunningController } from '../../src/controller/controller.js';
import { KubeApi } from '../../src/controller/kube-api.js';
import { MetricCache } from '../../src/metric-cache/metric-cache.js';
import { createSelfSignedServing } from '../../src/tls/certificates.js';
import { startMetricsApiServer, type MetricsApiServer } from '../../src/metrics-api/server.js';
import type { ControlPlane } from './control-plane.js';
import { createTestNamespace, deleteTestNamespace, installCrds, registerExternalMetricsApi, unregisterExternalMetricsApi } from './kube.js';

const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));
const METRICS_SERVICE = 'queryscaler-metrics-apiserver';

export interface InProcessController {
  controller: RunningController;
  api: KubeApi;
  cache: MetricCache;
  namespace: string;
  /** Stops the controller (and the metrics API), closes the clients and deletes the namespace. */
  stop(): Promise<void>;
}

export interface InProcessControllerOptions
  extends Partial<
    Pick<ControllerOptions, 'watchTimeoutSeconds' | 'kubeConfig' | 'watchNamespaces' | 'restrictSecretAccess' | 'clusterTriggerAuthenticationNamespace' | 'logger'>
  > {
  /** An existing namespace to use (and delete on stop) instead of a new one. */
  namespace?: string;
  /** Serve the external metrics API from the controller's cache and register it as the APIService. */
  metricsApi?: boolean;
}

/** kubeConfig: whom the controller acts as (the admin by default); the test's own `api` stays the admin. */
export async function startInProcessController(
  cp: ControlPlane,
  namespacePrefix: string,
  options: InProcessControllerOptions = {},
): Promise<InProcessController> {
  const { namespace: given, metricsApi, ...controllerOptions } = options;
  await installCrds(cp, CRDS);
  const api = new KubeApi(cp.kubeConfig);
  const cache = new MetricCache();
  const namespace = given ?? (await createTestNamespace(cp, namespacePrefix));
  const logger = controllerOptions.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const controller = await startController({
    kubeConfig: cp.kubeConfig,
    metricCache: cache,
    logger,
    clusterTriggerAuthenticationNamespace: 'queryscaler',
    ...controllerOptions,
  });
  let server: MetricsApiServer | undefined;
  if (metricsApi === true) {
    const serving = createSelfSignedServing([`${METRICS_SERVICE}.default.svc`]);
    server = await startMetricsApiServer({ cache, kubeConfig: cp.kubeConfig, host: '127.0.0.1', port: 0, tls: serving, logger });
    await registerExternalMetricsApi(cp, { port: server.port, caBundlePem: serving.caPem, serviceName: METRICS_SERVICE });
  }
  return {
    controller,
    api,
    cache,
    namespace,
    stop: async () => {
      if (server) {
        await unregisterExternalMetricsApi(cp, { serviceName: METRICS_SERVICE });
        await server.close();
      }
      await controller.stop();
      cache.close();
      api.close();
      await deleteTestNamespace(cp, namespace);
    },
  };
}
