// Wiring of the controller: informers whose events only enqueue `namespace/name` keys, the work
// queue that runs reconcile for those keys, and the poll scheduler that reconcile fills. Stopping
// reverses the order: no new events, no new reconciles, no polls, then scalers and sockets closed.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { FINALIZER, SCALED_OBJECT_LABEL, type ScaledObject, type ScaleTargetRef, type TriggerAuthentication } from '../api/types.js';
import type { MetricCache } from '../metric-cache/metric-cache.js';
import { QueryscalerMetrics, type RegisteredResources } from '../observability/prometheus-metrics.js';
import { splitKey, type Caches, type ControllerContext, type WorkloadMetadata } from './context.js';
import type { Reference } from './credentials.js';
import { MANAGED_BY, type HorizontalPodAutoscaler } from './desired-hpa.js';
import { EventRecorder } from './events.js';
import { Informer, type InformerHandlers, type KubeObject } from './informers.js';
import { KubeApi } from './kube-api.js';
import { PollScheduler } from './poll-scheduler.js';
import { NamedObjects } from './referenced-objects/named-objects.js';
import type { ReferencedObjects } from './referenced-objects/referenced-objects.js';
import { watchedObjects } from './referenced-objects/watched-objects.js';
import { createReconcile, forget } from './reconcile.js';
import { OWNS_EVERYTHING, type Ownership } from '../sharding/ownership.js';
import { ScaleTargets } from './scale-target.js';
import { ScalerSets } from './scaler-set.js';
import { sameTarget, targetIdentity } from './target-claims.js';
import { TargetWatches } from './target-watches.js';
import { watchedCollection, type WatchedCollection } from './watch-scope.js';
import { WorkQueue, type ReconcileFn } from './work-queue.js';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  metricCache: MetricCache;
  logger: Logger;
  /** Namespace whose Secrets and ConfigMaps ClusterTriggerAuthentications read. */
  clusterTriggerAuthenticationNamespace: string;
  workers?: number;
  /** Sustained API requests per second, and the burst above it; defaults 20 and 40. */
  apiQps?: number;
  apiBurst?: number;
  /** How often every ScaledObject is reconciled even without an event; default 5 minutes. */
  resyncIntervalMs?: number;
  /** Server-side limit of each watch; default 240 s (each gets up to 25 % jitter). */
  watchTimeoutSeconds?: number;
  /** How long start waits for the caches' first lists before reconciling anyway; default 30 s. */
  cacheSyncTimeoutMs?: number;
  /** Namespaces to list and watch (watch-scope.ts); empty or absent: the whole cluster. */
  watchNamespaces?: readonly string[];
  /** Read only the Secrets and ConfigMaps credentials name, by name (referenced-objects/named-objects.ts). */
  restrictSecretAccess?: boolean;
  /** Which ScaledObjects this replica works on; default all of them (a single replica). */
  ownership?: Ownership;
  /** Where the controller's Prometheus families live; a registry of its own when absent. */
  metrics?: QueryscalerMetrics;
}

export interface RunningController {
  metrics: QueryscalerMetrics;
  /** Every cache has had its first list. */
  readonly synced: boolean;
  /** What the controller's caches hold, for the admission webhook to judge by the same view (and for forwarding). */
  caches: Pick<Caches, 'scaledObjects' | 'hpas'>;
  stop(): Promise<void>;
}

type SoObject = ScaledObject & KubeObject;

export async function startController(options: ControllerOptions): Promise<RunningController> {
  const { logger } = options;
  const metrics = options.metrics ?? new QueryscalerMetrics();
  const api = new KubeApi(options.kubeConfig, {
    metrics,
    ...(options.apiQps !== undefined && { qps: options.apiQps }),
    ...(options.apiBurst !== undefined && { burst: options.apiBurst }),
  });
  const references = new Map<string, Set<Reference>>();
  const ownership = options.ownership ?? OWNS_EVERYTHING;
  // The queue exists before the informers that feed it; its reconcile is bound once the context is.
  let reconcile: ReconcileFn = () => Promise.resolve({});
  const workQueue = new WorkQueue({
    workers: options.workers ?? 4,
    // Asked again at the start: a retry or delayed add may outlive the ownership that queued it.
    reconcile: (key, signal) => (ownership.owns(key) ? reconcile(key, signal) : Promise.resolve({})),
    onError: (key, error, attempt) =>
      logger.warn({ scaledObject: key, attempt, err: error instanceof Error ? error.message : String(error) }, 'reconcile failed; retrying with backoff'),
  });
  const enqueue = (key: string): void => {
    if (ownership.owns(key)) workQueue.add(key);
  };
  const enqueueReferencing = (ref: Reference): void => {
    for (const [key, refs] of references) if (refs.has(ref)) enqueue(key);
  };
  const watchNamespaces = options.watchNamespaces ?? [];
  /** The informer(s) of a resource, given its cluster-wide path: one per watched namespace, or one for the cluster. */
  const informer = <T extends KubeObject>(
    path: string,
    handlers: InformerHandlers<T> & { labelSelector?: string; metadataOnly?: boolean },
    namespaces: readonly string[] = watchNamespaces,
  ): WatchedCollection<T> =>
    watchedCollection(path, namespaces, (scopedPath) => new Informer<T>({
      api,
      path: scopedPath,
      logger,
      ...(options.watchTimeoutSeconds !== undefined && { watchTimeoutSeconds: options.watchTimeoutSeconds }),
      ...handlers,
    }));

  const states: ControllerContext['states'] = new Map();
  const caches: ControllerContext['caches'] = {
    scaledObjects: informer<SoObject>('/apis/keda.sh/v1alpha1/scaledobjects', {
      onChange: (so, previous) => {
        const key = `${so.metadata.namespace}/${so.metadata.name}`;
        const state = states.get(key);
        if (state && state.uid === so.metadata.uid) state.observedStatus = so.status;
        // Our own status writes come back as events too; only what the user changes matters here.
        if (!previous || userVisibleChange(previous, so)) enqueue(key);
        // Moved to another target: whoever waited behind it on the old one may own that now.
        if (previous?.spec?.scaleTargetRef !== undefined && JSON.stringify(previous.spec.scaleTargetRef) !== JSON.stringify(so.spec?.scaleTargetRef)) {
          enqueueTargeting(so.metadata.namespace, previous.spec.scaleTargetRef);
        }
      },
      onDelete: (so) => {
        enqueue(`${so.metadata.namespace}/${so.metadata.name}`);
        if (so.spec?.scaleTargetRef !== undefined) enqueueTargeting(so.metadata.namespace, so.spec.scaleTargetRef);
      },
    }),
    triggerAuthentications: informer<TriggerAuthentication & KubeObject>('/apis/keda.sh/v1alpha1/triggerauthentications', {
      onChange: (ta) => enqueueReferencing(`TriggerAuthentication/${ta.metadata.namespace}/${ta.metadata.name}`),
      onDelete: (ta) => enqueueReferencing(`TriggerAuthentication/${ta.metadata.namespace}/${ta.metadata.name}`),
    }),
    // Cluster-scoped: watched cluster-wide whatever the scope.
    clusterTriggerAuthentications: informer<TriggerAuthentication & KubeObject>('/apis/keda.sh/v1alpha1/clustertriggerauthentications', {
      onChange: (cta) => enqueueReferencing(`ClusterTriggerAuthentication/${cta.metadata.name}`),
      onDelete: (cta) => enqueueReferencing(`ClusterTriggerAuthentication/${cta.metadata.name}`),
    }, []),
    statefulSets: targetInformer('/apis/apps/v1/statefulsets', 'apps/v1', 'StatefulSet'),
    deployments: targetInformer('/apis/apps/v1/deployments', 'apps/v1', 'Deployment'),
    // Every HPA, not only ours: one that queryscaler does not manage on a ScaledObject's target is a conflict.
    hpas: informer<HorizontalPodAutoscaler & KubeObject & { metadata: { generation?: number } }>('/apis/autoscaling/v2/horizontalpodautoscalers', {
      // The HPA controller rewrites status every sync; only spec, labels and owners are ours to guard.
      onChange: (hpa, previous) => {
        if (hpa.metadata.labels?.['app.kubernetes.io/managed-by'] !== MANAGED_BY) {
          if (!previous || JSON.stringify(previous.spec?.scaleTargetRef) !== JSON.stringify(hpa.spec?.scaleTargetRef)) {
            if (previous?.spec?.scaleTargetRef) enqueueTargeting(hpa.metadata.namespace, previous.spec.scaleTargetRef);
            if (hpa.spec?.scaleTargetRef) enqueueTargeting(hpa.metadata.namespace, hpa.spec.scaleTargetRef);
          }
          return;
        }
        if (previous ? hpaOwnedPartsChanged(previous, hpa) : !isOwnEcho(hpa)) enqueueOwner(hpa);
      },
      onDelete: (hpa) => {
        enqueueOwner(hpa);
        if (hpa.spec?.scaleTargetRef) enqueueTargeting(hpa.metadata.namespace, hpa.spec.scaleTargetRef);
      },
    }),
  };
  /** The HPA a reconcile of its owner just created coming back: nothing to look at (300 objects, 600 GETs saved). */
  function isOwnEcho(hpa: HorizontalPodAutoscaler): boolean {
    const owner = hpa.metadata.labels?.[SCALED_OBJECT_LABEL];
    return owner !== undefined && states.get(`${hpa.metadata.namespace}/${owner}`)?.hpaName === hpa.metadata.name;
  }
  /**
   * A scale target appearing, disappearing or re-created under a new uid: its ScaledObjects are
   * reconciled at once instead of when a remembered /scale expires (up to a minute).
   */
  function targetInformer(path: string, apiVersion: string, kind: string): WatchedCollection<WorkloadMetadata> {
    const wake = (object: WorkloadMetadata) => enqueueTargeting(object.metadata.namespace, { apiVersion, kind, name: object.metadata.name });
    return informer<WorkloadMetadata>(path, {
      metadataOnly: true,
      onChange: (object, previous) => {
        if (previous === undefined || previous.metadata.uid !== object.metadata.uid) wake(object);
      },
      onDelete: wake,
    });
  }

  /** Every ScaledObject of `namespace` whose scaleTargetRef names the same target as `ref`. */
  function enqueueTargeting(namespace: string | undefined, ref: Pick<ScaleTargetRef, 'apiVersion' | 'kind' | 'name'> | ScaleTargetRef): void {
    const target = targetIdentity(ref);
    for (const so of caches.scaledObjects.list()) {
      if (so.metadata.namespace !== namespace || so.spec?.scaleTargetRef?.name === undefined) continue;
      if (sameTarget(targetIdentity(so.spec.scaleTargetRef), target)) enqueue(`${so.metadata.namespace}/${so.metadata.name}`);
    }
  }
  function enqueueOwner(hpa: HorizontalPodAutoscaler): void {
    const owner = hpa.metadata.labels?.[SCALED_OBJECT_LABEL];
    if (owner) enqueue(`${hpa.metadata.namespace}/${owner}`);
  }

  const referencedObjects: ReferencedObjects = options.restrictSecretAccess
    ? new NamedObjects({
      api,
      logger,
      onChange: enqueueReferencing,
      inUse: () => [...references.values()].flatMap((refs) => [...refs]),
      ...(options.watchTimeoutSeconds !== undefined && { watchTimeoutSeconds: options.watchTimeoutSeconds }),
    })
    : watchedObjects(
      // ClusterTriggerAuthentications read theirs in their own namespace, watched or not.
      (path, handlers) => informer(path, handlers, watchNamespaces.length === 0 ? [] : [...new Set([...watchNamespaces, options.clusterTriggerAuthenticationNamespace])]),
      enqueueReferencing,
    );

  const polls = new PollScheduler({
    onLag: (key, lagMs) => {
      const { namespace, name } = splitKey(key);
      metrics.observePollLag(namespace, name, lagMs);
    },
    onSkip: (_key, ticks) => metrics.countSkippedTicks(ticks),
    onError: (key, error) => logger.warn({ scaledObject: key, err: error }, 'poll failed'),
  });
  const scalerSets = new ScalerSets(options.metricCache, logger, metrics.dataSource);
  metrics.countResourcesWith(() => registeredResources(caches));
  // Targets of other kinds (a custom resource with /scale) are watched while some ScaledObject targets them.
  const targetWatches = new TargetWatches({
    watchOf: (r) => targetInformer(`${r.group === '' ? '/api' : `/apis/${r.group}`}/${r.version}/${r.resource}`, r.group === '' ? r.version : `${r.group}/${r.version}`, r.kind),
    alwaysWatched: (r) => r.group === 'apps' && (r.resource === 'statefulsets' || r.resource === 'deployments'),
    enqueue,
  });
  const context: ControllerContext = {
    api,
    caches,
    referencedObjects,
    targets: new ScaleTargets(api),
    events: new EventRecorder(api, logger),
    scalerSets,
    targetWatches,
    metricCache: options.metricCache,
    polls,
    logger,
    metrics,
    clusterTriggerAuthenticationNamespace: options.clusterTriggerAuthenticationNamespace,
    references,
    states,
    enqueue,
    now: () => new Date(),
  };
  reconcile = createReconcile(context);
  ownership.listen({
    gained: (owned) => {
      for (const so of caches.scaledObjects.list()) {
        const key = `${so.metadata.namespace}/${so.metadata.name}`;
        if (owned(key)) enqueue(key);
      }
    },
    // Another replica takes these over: stop their work and drop what this process learned of them,
    // but leave their HPAs, finalizers and status alone (they are the new owner's to keep).
    lost: async (lost) => {
      const keys = caches.scaledObjects.list().map((so) => `${so.metadata.namespace}/${so.metadata.name}`);
      await Promise.all(keys.filter(lost).map((key) => workQueue.cancel(key)));
      // Deleted ScaledObjects may still have state here; only keys worked on have any to drop.
      await Promise.all([...states.keys()].filter(lost).map((key) => forget(context, key)));
    },
  });

  const allInformers = [...(Object.values(caches) as Array<WatchedCollection<KubeObject>>), referencedObjects];
  const synced = Promise.all(allInformers.map((i) => i.start()));
  let syncTimer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    syncTimer = setTimeout(() => resolve('timeout'), options.cacheSyncTimeoutMs ?? 30_000);
  });
  if ((await Promise.race([synced, timedOut])) === 'timeout') {
    logger.warn({ notSynced: allInformers.filter((i) => !i.synced).length }, 'caches not synced in time; reconciling anyway (events will catch up)');
  }
  clearTimeout(syncTimer);
  workQueue.start();
  // The informers enqueued every ScaledObject while listing; this catches any listed before the queue existed.
  for (const so of caches.scaledObjects.list()) enqueue(`${so.metadata.namespace}/${so.metadata.name}`);
  const resyncIntervalMs = options.resyncIntervalMs ?? 5 * 60_000;
  // Spread over the interval, not all at once: 3,000 objects resynced together spent a minute of the
  // whole API rate on GETs every five minutes (bench/replicas), starving whatever else came then.
  const resync = setInterval(() => {
    for (const so of caches.scaledObjects.list()) {
      const key = `${so.metadata.namespace}/${so.metadata.name}`;
      if (ownership.owns(key)) workQueue.addAfter(key, Math.random() * resyncIntervalMs);
    }
  }, resyncIntervalMs);
  logger.info(
    { workers: options.workers ?? 4, watchNamespaces: watchNamespaces.length === 0 ? 'all' : watchNamespaces, restrictSecretAccess: options.restrictSecretAccess === true },
    'controller started',
  );

  let stopping: Promise<void> | undefined;
  return {
    metrics,
    get synced() {
      return allInformers.every((i) => i.synced);
    },
    caches,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(resync);
        await Promise.all([...allInformers.map((i) => i.stop()), targetWatches.stopAll()]);
        await workQueue.stop();
        await polls.stop();
        await scalerSets.closeAll();
        api.close();
        logger.info('controller stopped');
      })()),
  };
}

/** KEDA's keda_trigger_registered_total and keda_resource_registered_total, counted from the caches. */
function registeredResources(caches: ControllerContext['caches']): RegisteredResources {
  const triggersByType = new Map<string, number>();
  const resources = new Map<string, { type: string; namespace: string; count: number }>();
  const count = (type: string, objects: ReadonlyArray<{ metadata: { namespace?: string } }>): void => {
    for (const object of objects) {
      // KEDA counts cluster-scoped resources under "default".
      const namespace = object.metadata.namespace ?? 'default';
      const entry = resources.get(`${type}/${namespace}`) ?? { type, namespace, count: 0 };
      entry.count += 1;
      resources.set(`${type}/${namespace}`, entry);
    }
  };
  const scaledObjects = caches.scaledObjects.list();
  count('scaled_object', scaledObjects);
  count('trigger_authentication', caches.triggerAuthentications.list());
  count('cluster_trigger_authentication', caches.clusterTriggerAuthentications.list());
  for (const trigger of scaledObjects.flatMap((so) => so.spec?.triggers ?? [])) {
    triggersByType.set(trigger.type, (triggersByType.get(trigger.type) ?? 0) + 1);
  }
  return { triggersByType, resources: [...resources.values()] };
}

function userVisibleChange(previous: SoObject, next: SoObject): boolean {
  const a = previous.metadata as SoObject['metadata'];
  const b = next.metadata as SoObject['metadata'];
  return (
    a.generation !== b.generation ||
    a.uid !== b.uid ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.annotations) !== JSON.stringify(b.annotations) ||
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    finalizersChanged(a.finalizers, b.finalizers)
  );
}

/** Our own finalizer being added is no news (the reconcile that added it goes on); anything else is. */
function finalizersChanged(before: string[] | undefined, after: string[] | undefined): boolean {
  const others = (list: string[] | undefined): string => JSON.stringify((list ?? []).filter((f) => f !== FINALIZER));
  const removed = (before ?? []).includes(FINALIZER) && !(after ?? []).includes(FINALIZER);
  return removed || others(before) !== others(after);
}

function hpaOwnedPartsChanged(
  previous: HorizontalPodAutoscaler & { metadata: { generation?: number } },
  next: HorizontalPodAutoscaler & { metadata: { generation?: number } },
): boolean {
  return (
    previous.metadata.generation !== next.metadata.generation ||
    JSON.stringify(previous.metadata.labels) !== JSON.stringify(next.metadata.labels) ||
    JSON.stringify(previous.metadata.ownerReferences) !== JSON.stringify(next.metadata.ownerReferences)
  );
}
