// Metadata-only watches of the resources scale targets are made of, beyond the StatefulSets and
// Deployments the controller always watches: a resource (a custom resource with /scale, say) is
// watched from the first reconcile of a ScaledObject that targets it until no ScaledObject does.
// So a target of any kind deleted or re-created is noticed at once, not when a remembered /scale
// expires. One watch per resource and version, shared by every ScaledObject on it.
import type { ResolvedTarget } from './scale-target.js';

export type WatchedResource = Pick<ResolvedTarget, 'group' | 'version' | 'resource' | 'kind'>;

export interface ResourceWatch {
  /** Resolves once the first list is in (or the watch gave up on it); never rejects. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetWatchesOptions {
  /** Makes (does not start) the watch of one resource; its events enqueue the ScaledObjects on the object. */
  watchOf: (resource: WatchedResource) => ResourceWatch;
  /** Resources watched anyway (StatefulSets, Deployments). */
  alwaysWatched: (resource: WatchedResource) => boolean;
  /**
   * Called with every ScaledObject on a resource once its first list is in: one whose target went
   * between its reconcile and that list saw no event for it.
   */
  enqueue: (key: string) => void;
}

interface Held {
  watch: ResourceWatch;
  keys: Set<string>;
}

export class TargetWatches {
  /** ScaledObject key -> the resource its target is made of. */
  private readonly resourceOf = new Map<string, string>();
  private readonly held = new Map<string, Held>();

  constructor(private readonly options: TargetWatchesOptions) {}

  /** Records that the ScaledObject `key` targets `target`, starting a watch of its resource if none runs. */
  async watch(key: string, target: WatchedResource): Promise<void> {
    if (this.options.alwaysWatched(target)) {
      await this.release(key);
      return;
    }
    const id = `${target.group}/${target.version}/${target.resource}`;
    if (this.resourceOf.get(key) === id) return;
    await this.release(key);
    this.resourceOf.set(key, id);
    let held = this.held.get(id);
    if (held === undefined) {
      const watch = this.options.watchOf(target);
      const keys = new Set<string>();
      held = { watch, keys };
      this.held.set(id, held);
      void watch.start().then(() => {
        for (const waiting of keys) this.options.enqueue(waiting);
      });
    }
    held.keys.add(key);
  }

  /** The ScaledObject no longer targets anything here; the last one out stops its resource's watch. */
  async release(key: string): Promise<void> {
    const id = this.resourceOf.get(key);
    if (id === undefined) return;
    this.resourceOf.delete(key);
    const held = this.held.get(id);
    if (held === undefined) return;
    held.keys.delete(key);
    if (held.keys.size > 0) return;
    this.held.delete(id);
    await held.watch.stop();
  }

  /** `group/version/resource` of every resource watched now, sorted. */
  watchedResources(): string[] {
    return [...this.held.keys()].sort();
  }

  async stopAll(): Promise<void> {
    const all = [...this.held.values()];
    this.held.clear();
    this.resourceOf.clear();
    await Promise.all(all.map((held) => held.watch.stop()));
  }
}
