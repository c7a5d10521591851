// A benchmark's namespace deleted, waiting until it is gone (its ScaledObjects finalized by the
// queryscaler still running), so the next cell starts from a quiet control plane.
import { CoreV1Api } from '@kubernetes/client-node';
import type { ControlPlane } from '../../test/support/control-plane.js';
import { sleep } from './waiting.js';

const NAMESPACE_GONE_GIVE_UP_MS = 180_000;

export async function deleteNamespaceAndWait(cp: ControlPlane, namespace: string): Promise<void> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  const deadline = performance.now() + NAMESPACE_GONE_GIVE_UP_MS;
  while (performance.now() < deadline) {
    try {
      await core.readNamespace({ name: namespace });
    } catch {
      return;
    }
    await sleep(1_000);
  }
  console.error(`namespace ${namespace} still exists after ${NAMESPACE_GONE_GIVE_UP_MS / 1000} s; going on`);
}
