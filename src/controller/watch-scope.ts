// Where the controller lists and watches. By default the whole cluster: one list+watch per
// resource, which takes a ClusterRole. With --watch-namespaces (KEDA's WATCH_NAMESPACE) only the
// namespaces named: one list+watch per resource and namespace, each authorized by a RoleBinding in
// that namespace, so no cluster-wide right on a namespaced resource is needed, and an object in
// any other namespace is never seen. ClusterTriggerAuthentications are cluster-scoped: their watch
// stays cluster-wide whatever the scope.
import type { Informer, KubeObject } from './informers.js';

/** What reconcile and the event handlers read: a cache of one resource, across its namespaces. */
export interface WatchedCollection<T extends KubeObject> {
  get(namespace: string, name: string): T | undefined;
  list(): T[];
  /** Resolves once every list is in the cache (or on stop). */
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly synced: boolean;
}

/** Lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 (RFC 1123 label). */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `ns1,ns2` as the namespaces to watch, in order and without repeats; empty (or only commas and
 * spaces) is the whole cluster, as KEDA reads an empty WATCH_NAMESPACE. `source` names the flag or
 * variable the text came from, for the error.
 */
export function parseWatchNamespaces(text: string, source: string): string[] {
  const namespaces: string[] = [];
  for (const part of text.split(',')) {
    const name = part.trim();
    if (name === '') continue;
    if (!NAMESPACE_NAME.test(name)) {
      throw new Error(
        `${source}: "${name}" is not a namespace name (lower-case letters, digits and "-", at most 63 characters); ` +
          'give a comma-separated list such as team-a,team-b, or leave it empty to watch the whole cluster',
      );
    }
    if (!namespaces.includes(name)) namespaces.push(name);
  }
  return namespaces;
}

/**
 * The path of a resource's collection in one namespace, from its cluster-wide path:
 * `/apis/apps/v1/statefulsets` in `team-a` is `/apis/apps/v1/namespaces/team-a/statefulsets`.
 */
export function namespacedCollectionPath(clusterPath: string, namespace: string): string {
  const slash = clusterPath.lastIndexOf('/');
  return `${clusterPath.slice(0, slash)}/namespaces/${encodeURIComponent(namespace)}${clusterPath.slice(slash)}`;
}

/**
 * One informer for the whole cluster (`namespaces` empty), or one per namespace behind the same
 * reads. `make` builds the informer of one collection path.
 */
export function watchedCollection<T extends KubeObject>(
  clusterPath: string,
  namespaces: readonly string[],
  make: (path: string) => Informer<T>,
): WatchedCollection<T> {
  if (namespaces.length === 0) return make(clusterPath);
  return new NamespacedInformers(new Map(namespaces.map((ns) => [ns, make(namespacedCollectionPath(clusterPath, ns))])));
}

class NamespacedInformers<T extends KubeObject> implements WatchedCollection<T> {
  constructor(private readonly informers: ReadonlyMap<string, Informer<T>>) {}

  get synced(): boolean {
    return [...this.informers.values()].every((i) => i.synced);
  }

  get(namespace: string, name: string): T | undefined {
    return this.informers.get(namespace)?.get(namespace, name);
  }

  list(): T[] {
    return [...this.informers.values()].flatMap((i) => i.list());
  }

  async start(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}
