import type { Context } from 'mocha';
import { startedControlPlane, stopShared } from './shared.js';

export async function mochaGlobalTeardown(): Promise<void> {
  await stopShared();
}

export const mochaHooks = {
  /** A failing test shows what etcd, kube-apiserver and kube-controller-manager said meanwhile. */
  async afterEach(this: Context): Promise<void> {
    const started = startedControlPlane();
    if (this.currentTest?.state !== 'failed' || started === undefined) return;
    console.error((await started).logTail(40));
  },
};
