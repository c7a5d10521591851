// A list+watch cache of one resource, written for the failure modes the client library's informer
// leaves to its caller: a watch that errors is restarted here with jittered exponential backoff; a
// watch is bounded by timeoutSeconds (and a silence limit in KubeApi.watch) so a half-dead
// connection cannot hold it forever; 410 Gone (our resourceVersion was compacted away) re-lists;
// and a periodic re-list repairs anything a watch might have missed. Handlers only see changes.
import type { Logger } from 'pino';
import { KubeApiError, type KubeApi, type WatchEvent } from './kube-api.js';

export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

export interface InformerHandlers<T> {
  onChange?: (object: T, previous: T | undefined) => void;
  onDelete?: (object: T) => void;
}

export interface InformerOptions<T> extends InformerHandlers<T> {
  api: KubeApi;
  /** Collection path across namespaces, e.g. `/apis/keda.sh/v1alpha1/scaledobjects`. */
  path: string;
  labelSelector?: string;
  /**
   * Lists and watches only metadata (PartialObjectMetadata): for kinds whose existence matters but
   * not their content, so the cache does not grow with pod templates.
   */
  metadataOnly?: boolean;
  logger: Logger;
  /** Server-side watch limit; each watch gets a little jitter so many informers do not renew together. */
  watchTimeoutSeconds?: number;
  relistIntervalMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

export function objectKey(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

/** Jittered exponential backoff for the nth consecutive failure (n >= 1). */
export function informerBackoffMs(failures: number, minMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private syncedResolve: (() => void) | undefined;
  private readonly syncedPromise: Promise<void>;
  private isSynced = false;

  constructor(private readonly options: InformerOptions<T>) {
    this.syncedPromise = new Promise((resolve) => (this.syncedResolve = resolve));
  }

  get synced(): boolean {
    return this.isSynced;
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Starts listing and watching; resolves once the first list is in the cache (or on stop). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return Promise.race([this.syncedPromise, this.loop]);
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    this.syncedResolve?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { api, path, logger } = this.options;
    const signal = this.stopController.signal;
    const random = this.options.random ?? Math.random;
    const relistEvery = this.options.relistIntervalMs ?? 10 * 60_000;
    let resourceVersion: string | undefined;
    let listedAt = 0;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (resourceVersion === undefined || performance.now() - listedAt > relistEvery) {
          resourceVersion = await this.relist(signal);
          listedAt = performance.now();
          if (!this.isSynced) {
            this.isSynced = true;
            this.syncedResolve?.();
          }
        }
        const timeoutSeconds = Math.round((this.options.watchTimeoutSeconds ?? 240) * (1 + random() * 0.25));
        let gone = false;
        await api.watch(
          path,
          {
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            ...(this.options.labelSelector !== undefined && { labelSelector: this.options.labelSelector }),
          },
          (event) => {
            const next = this.apply(event);
            if (next === 'gone') gone = true;
            else if (next !== undefined) resourceVersion = next;
          },
          signal,
          this.options.metadataOnly === true ? 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1' : undefined,
        );
        if (gone) resourceVersion = undefined;
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof KubeApiError && error.statusCode === 410) {
          resourceVersion = undefined;
          continue;
        }
        failures += 1;
        resourceVersion = undefined;
        if (error instanceof KubeApiError && error.statusCode === 404 && !this.isSynced) {
          // The resource is not served (its CRD is not installed yet): there is nothing to cache,
          // so count as synced and keep asking, rather than hold the controller's start.
          this.isSynced = true;
          this.syncedResolve?.();
        }
        const delay = informerBackoffMs(failures, this.options.minBackoffMs ?? 250, this.options.maxBackoffMs ?? 30_000, random);
        logger.warn({ path, failures, retryInMs: delay, err: error instanceof Error ? error.message : String(error) }, 'list/watch failed; retrying');
        await sleep(delay, signal);
      }
    }
  }

  /** Lists everything, diffs it against the cache, and returns the list's resourceVersion. */
  private async relist(signal: AbortSignal): Promise<string> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.options.api.request<{ items: T[] | null; metadata: { resourceVersion: string; continue?: string } }>('list', this.options.path, {
        query: { limit: 500, continue: continueToken, labelSelector: this.options.labelSelector },
        signal,
        timeoutMs: 60_000,
        ...(this.options.metadataOnly === true && { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' }),
      });
      // A PartialObjectMetadataList with nothing in it says `items: null`.
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata.resourceVersion;
      continueToken = page.metadata.continue || undefined;
    } while (continueToken !== undefined);

    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      const previous = this.cache.get(key);
      this.cache.set(key, item);
      if (previous?.metadata.resourceVersion !== item.metadata.resourceVersion) this.notify(() => this.options.onChange?.(item, previous));
    }
    for (const [key, previous] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.notify(() => this.options.onDelete?.(previous));
    }
    return resourceVersion;
  }

  /** Applies one watch event; returns the new resourceVersion, or 'gone' when a re-list is needed. */
  private apply(event: WatchEvent): string | 'gone' | undefined {
    if (event.type === 'ERROR') {
      const status = event.object as { code?: number; message?: string };
      if (status.code === 410) return 'gone';
      throw new Error(`watch ${this.options.path} sent an error: ${status.code ?? '?'} ${status.message ?? ''}`);
    }
    const object = event.object as unknown as T;
    const resourceVersion = object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') return resourceVersion;
    const key = objectKey(object);
    const previous = this.cache.get(key);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      this.notify(() => this.options.onDelete?.(object));
    } else {
      this.cache.set(key, object);
      this.notify(() => this.options.onChange?.(object, previous));
    }
    return resourceVersion;
  }

  private notify(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.options.logger.error({ path: this.options.path, err: error }, 'informer handler threw');
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
