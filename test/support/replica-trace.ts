// The path a StatefulSet's spec.replicas takes, sampled: end-to-end tests assert the exact path the
// HPA arithmetic gives (1 -> 5 -> 6), not only where it ends.
import type { AppsV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';
import { waitFor } from './kube.js';

/** Records every distinct spec.replicas of the StatefulSet, so a test can assert the path taken. */
export class ReplicaTrace {
  readonly seen: number[] = [];
  constructor(
    private readonly apps: AppsV1Api,
    private readonly namespace: string,
    private readonly name = 'mycluster',
  ) {}

  async current(): Promise<number> {
    const sts = await this.apps.readNamespacedStatefulSet({ name: this.name, namespace: this.namespace });
    const replicas = sts.spec?.replicas ?? 0;
    if (this.seen.at(-1) !== replicas) this.seen.push(replicas);
    return replicas;
  }

  /** Waits for `replicas` and returns the path since `from` (inclusive of the value seen then). */
  async waitFor(replicas: number, timeoutMs: number): Promise<number[]> {
    const start = Math.max(this.seen.length - 1, 0);
    await waitFor(async () => (await this.current()) === replicas, {
      what: () => `StatefulSet ${this.name} at ${replicas} replicas (path so far: ${this.seen.join(' -> ')})`,
      timeoutMs,
      intervalMs: 250,
    });
    return this.seen.slice(start);
  }

  /** Asserts the count stays at `replicas` for `ms` (e.g. two HPA syncs plus a policy period). */
  async holds(replicas: number, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      expect(await this.current(), `replicas changed while expected to hold at ${replicas}; path ${this.seen.join(' -> ')}`).to.equal(replicas);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
