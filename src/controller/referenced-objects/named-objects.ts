// --restrict-secret-access: queryscaler reads only the Secrets and ConfigMaps that ScaledObjects'
// credentials name, and only by name: a GET, then a watch with fieldSelector metadata.name=<name>,
// which kube-apiserver authorizes as a request for that one name, so RBAC needs no list and may
// confine get and watch with resourceNames. Memory holds the named objects' data only, however
// many other Secrets the cluster stores.
//
// Reads are synchronous (credentials.ts is pure), fetches are not. A read of a name not fetched yet
// is a miss and answers "absent"; `read` then fetches the misses and runs again, until a run misses
// nothing new. A run stops at its first missing Secret, so N unknown names take at most N + 1 runs
// (pure and cheap) and only the first reconcile that names an object waits for its GET.
//
// How soon a change is seen: the watch delivers it at once (well under a second in the tests). A
// watch ends after its timeoutSeconds (240 s plus up to 25 %) and is renewed from the last
// resourceVersion; one that stays silent 30 s beyond that is dropped (KubeApi.watch), and after any
// failure the object is read again (GET) before the next watch, with backoff capped at 30 s. So no
// change waits longer than about 5.5 minutes, even on a half-dead connection; and with `get` but no
// `watch` right the object is read again about every 30 s. An object that no ScaledObject names
// any more is dropped (its watch stopped) within two sweep intervals.
//
// Where we differ from KEDA: KEDA's restricted mode (chart value permissions.operator.restrict.secret)
// lets its operator read Secrets only in its own namespace, so TriggerAuthentications elsewhere
// cannot use secretTargetRef. Here credentials keep working in every namespace; what is restricted
// is which objects are read: only those named.
import type { Logger } from 'pino';
import type { Reference } from '../credentials.js';
import { informerBackoffMs, sleep } from '../informers.js';
import { isNotFound, KubeApiError, type KubeApi } from '../kube-api.js';
import {
  decodedSecretData,
  type ConfigMapObject,
  type ObjectData,
  type ReferencedObjects,
  type SecretObject,
} from './referenced-objects.js';

export interface NamedObjectsOptions {
  api: KubeApi;
  logger: Logger;
  /** Called when a fetched object's data changes, appears or goes. */
  onChange: (ref: Reference) => void;
  /** What the ScaledObjects' last reconciles read; an object outside it is dropped by the sweep. */
  inUse: () => Iterable<Reference>;
  /** Server-side watch limit; default 240 s, each watch with up to 25 % jitter. */
  watchTimeoutSeconds?: number;
  /** How often unused objects are dropped; default 60 s. */
  sweepIntervalMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

type Kind = 'Secret' | 'ConfigMap';
type Data = Readonly<Record<string, string>>;

interface Entry {
  kind: Kind;
  namespace: string;
  name: string;
  ref: Reference;
  /** Undefined until the first GET answered; null while the object does not exist. */
  data: Data | null | undefined;
  fetching?: Promise<void>;
  watching?: Promise<void>;
  /** Ends this entry's GET and watch when it is dropped or the controller stops. */
  abort: AbortController;
  lastReadAt: number;
}

const RESOURCE: Record<Kind, string> = { Secret: 'secrets', ConfigMap: 'configmaps' };

export class NamedObjects implements ReferencedObjects {
  private readonly entries = new Map<Reference, Entry>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Set by stop: a reconcile still running may read, but starts no watch that nothing would end. */
  private stopped = false;
  /** Nothing is listed, so there is nothing to wait for at start. */
  readonly synced = true;

  constructor(private readonly options: NamedObjectsOptions) {}

  async read<T>(read: (objects: ObjectData) => T, _signal: AbortSignal): Promise<T> {
    const fetched = new Set<Reference>();
    for (;;) {
      const missed = new Set<Entry>();
      let outcome: { value: T } | { error: unknown };
      try {
        outcome = { value: read(this.view(missed)) };
      } catch (error) {
        outcome = { error };
      }
      const fresh = [...missed].filter((entry) => !fetched.has(entry.ref));
      if (fresh.length === 0) {
        if ('error' in outcome) throw outcome.error;
        return outcome.value;
      }
      for (const entry of fresh) fetched.add(entry.ref);
      // Shared with any other reconcile waiting for the same object; bounded by the request timeout.
      await Promise.all(fresh.map((entry) => (entry.fetching ??= this.load(entry).finally(() => (entry.fetching = undefined)))));
    }
  }

  start(): Promise<void> {
    this.sweepTimer ??= setInterval(() => this.sweep(), this.options.sweepIntervalMs ?? 60_000);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    const watches = [...this.entries.values()].map((entry) => {
      entry.abort.abort();
      return entry.watching;
    });
    this.entries.clear();
    await Promise.all(watches);
  }

  /** The objects held now, as `Kind/namespace/name`: what a sweep kept or a read fetched. */
  held(): Reference[] {
    return [...this.entries.keys()].sort();
  }

  private view(missed: Set<Entry>): ObjectData {
    const lookup = (kind: Kind, namespace: string, name: string): Data | undefined => {
      const entry = this.entry(kind, namespace, name);
      entry.lastReadAt = performance.now();
      if (entry.data === undefined) missed.add(entry);
      return entry.data ?? undefined;
    };
    return {
      secret: (namespace, name) => lookup('Secret', namespace, name),
      configMap: (namespace, name) => lookup('ConfigMap', namespace, name),
    };
  }

  private entry(kind: Kind, namespace: string, name: string): Entry {
    const ref: Reference = `${kind}/${namespace}/${name}`;
    let entry = this.entries.get(ref);
    if (!entry) {
      entry = { kind, namespace, name, ref, data: undefined, abort: new AbortController(), lastReadAt: performance.now() };
      this.entries.set(ref, entry);
    }
    return entry;
  }

  /** The first GET; the watch starts once it answered (404 included). */
  private async load(entry: Entry): Promise<void> {
    await this.refresh(entry);
    if (!this.stopped) entry.watching ??= this.watch(entry);
  }

  private async refresh(entry: Entry): Promise<void> {
    const path = `${collectionPath(entry)}/${encodeURIComponent(entry.name)}`;
    try {
      this.update(entry, await this.options.api.request<SecretObject | ConfigMapObject>('get', path, { signal: entry.abort.signal }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      this.update(entry, null);
    }
  }

  private update(entry: Entry, object: SecretObject | ConfigMapObject | null): void {
    const data = object === null ? null : entry.kind === 'Secret' ? decodedSecretData(object.data) : { ...object.data };
    const known = entry.data !== undefined;
    const changed = JSON.stringify(entry.data) !== JSON.stringify(data);
    entry.data = data;
    // The first answer is no change: the reconcile that asked for it is about to read it.
    if (known && changed) this.options.onChange(entry.ref);
  }

  /**
   * Watches one name until the entry is dropped. The first watch, and every one after a failure or
   * a 410, starts without a resourceVersion: the server then begins with the object as it is now
   * (an ADDED event), so an object's old resourceVersion, long compacted away, is never asked for.
   */
  private async watch(entry: Entry): Promise<void> {
    const { api, logger } = this.options;
    const signal = entry.abort.signal;
    const random = this.options.random ?? Math.random;
    let resourceVersion: string | undefined;
    let failures = 0;
    let reread = false;
    while (!signal.aborted) {
      try {
        // Without a resourceVersion the watch cannot report a deletion that happened meanwhile.
        if (reread) await this.refresh(entry);
        reread = false;
        let gone = false;
        await api.watch(
          collectionPath(entry),
          {
            fieldSelector: `metadata.name=${entry.name}`,
            allowWatchBookmarks: true,
            timeoutSeconds: Math.round((this.options.watchTimeoutSeconds ?? 240) * (1 + random() * 0.25)),
            ...(resourceVersion !== undefined && { resourceVersion }),
          },
          (event) => {
            if (event.type === 'ERROR') {
              const status = event.object as { code?: number; message?: string };
              if (status.code === 410) {
                gone = true;
                return;
              }
              throw new Error(`watch sent an error: ${status.code ?? '?'} ${status.message ?? ''}`);
            }
            const object = event.object as unknown as SecretObject | ConfigMapObject;
            resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
            if (event.type !== 'BOOKMARK') this.update(entry, event.type === 'DELETED' ? null : object);
          },
          signal,
        );
        if (gone) {
          resourceVersion = undefined;
          reread = true;
        }
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        resourceVersion = undefined;
        reread = true;
        if (error instanceof KubeApiError && error.statusCode === 410) continue;
        failures += 1;
        const delay = informerBackoffMs(failures, this.options.minBackoffMs ?? 250, this.options.maxBackoffMs ?? 30_000, random);
        logger.warn(
          { object: `${entry.kind} ${entry.namespace}/${entry.name}`, failures, retryInMs: delay, err: error instanceof Error ? error.message : String(error) },
          'watch by name failed; reading the object again and retrying',
        );
        await sleep(delay, signal);
      }
    }
  }

  /** Drops what no ScaledObject read at its last reconcile and nothing read for a sweep interval. */
  private sweep(): void {
    const inUse = new Set(this.options.inUse());
    const idleSince = performance.now() - (this.options.sweepIntervalMs ?? 60_000);
    for (const [ref, entry] of this.entries) {
      if (inUse.has(ref) || entry.lastReadAt > idleSince || entry.fetching) continue;
      entry.abort.abort();
      this.entries.delete(ref);
    }
  }
}

function collectionPath(entry: Pick<Entry, 'kind' | 'namespace'>): string {
  return `/api/v1/namespaces/${encodeURIComponent(entry.namespace)}/${RESOURCE[entry.kind]}`;
}
