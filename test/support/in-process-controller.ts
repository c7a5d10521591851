// The controller started in the test process against the shared control plane, with its own
// namespace and the clients a test reads through: what the controller-level tests each need.
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startController, type ControllerOptions, type RunningController } from '../../src/controller/controller.js';
import { KubeApi } from '../../src/controller/kube-api.js';
import { MetricCache } from '../../src/metric-cache/metric-cache.js';
import type { ControlPlane } from './control-plane.js';
import { createTestNamespace, deleteTestNamespace, installCrds } from './kube.js';

const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));

export interface InProcessController {
  controller: RunningController;
  api: KubeApi;
  cache: MetricCache;
  namespace: string;
  /** Stops the controller, closes the clients and deletes the namespace. */
  stop(): Promise<void>;
}

export async function startInProcessController(
  cp: ControlPlane,
  namespacePrefix: string,
  options: Partial<Pick<ControllerOptions, 'watchTimeoutSeconds'>> = {},
): Promise<InProcessController> {
  await installCrds(cp, CRDS);
  const api = new KubeApi(cp.kubeConfig);
  const cache = new MetricCache();
  const namespace = await createTestNamespace(cp, namespacePrefix);
  const controller = await startController({
    kubeConfig: cp.kubeConfig,
    metricCache: cache,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    clusterTriggerAuthenticationNamespace: 'queryscaler',
    ...options,
  });
  return {
    controller,
    api,
    cache,
    namespace,
    stop: async () => {
      await controller.stop();
      cache.close();
      api.close();
      await deleteTestNamespace(cp, namespace);
    },
  };
}
