// What reconcile, the poll loop and the finalizer share: the API door, the caches, and per
// ScaledObject the facts this process learned (last reconcile's verdict, last poll's readings).
// Status is written from those facts by one function, one write at a time per object, so the
// reconcile (Ready, Paused, target) and the poll (Active, Fallback, health) never race each other.
import type { Logger } from 'pino';
import type { ScaledObject, ScaledObjectStatus, TriggerAuthentication } from '../api/types.js';
import type { MetricCache } from '../metric-cache/metric-cache.js';
import type { QueryscalerMetrics } from '../observability/prometheus-metrics.js';
import type { Reference } from './credentials.js';
import type { EventRecorder } from './events.js';
import type { HorizontalPodAutoscaler } from './desired-hpa.js';
import type { KubeObject } from './informers.js';
import type { KubeApi } from './kube-api.js';
import type { PollScheduler } from './poll-scheduler.js';
import type { ReferencedObjects } from './referenced-objects/referenced-objects.js';
import type { ResolvedTarget, ScaleTargets } from './scale-target.js';
import type { ScalerSets } from './scaler-set.js';
import type { TargetWatches } from './target-watches.js';
import type { WatchedCollection } from './watch-scope.js';
import {
  desiredStatus,
  FAILURE_COUNT_WRITE_INTERVAL_MS,
  onlyFailureCountsChanged,
  READY_MESSAGE,
  statusPatch,
  type ActivityInput,
  type ConditionValue,
} from './status.js';

export interface WorkloadMetadata extends KubeObject {
  metadata: KubeObject['metadata'] & { uid?: string };
}

/** Lists and watches, in the controller's scope (watch-scope.ts). Secrets and ConfigMaps are not here: see referencedObjects. */
export interface Caches {
  scaledObjects: WatchedCollection<ScaledObject & KubeObject>;
  triggerAuthentications: WatchedCollection<TriggerAuthentication & KubeObject>;
  clusterTriggerAuthentications: WatchedCollection<TriggerAuthentication & KubeObject>;
  /** Metadata only: their coming and going (and re-creation under a new uid) re-checks the ScaledObjects on them. */
  statefulSets: WatchedCollection<WorkloadMetadata>;
  deployments: WatchedCollection<WorkloadMetadata>;
  hpas: WatchedCollection<HorizontalPodAutoscaler & KubeObject>;
}

export interface ObjectState {
  uid?: string;
  ready: ConditionValue;
  paused: { paused: false } | { paused: true; replicas?: number };
  target?: ResolvedTarget;
  hpaName?: string;
  externalMetricNames?: string[];
  /** Replicas seen by the reconcile that first recorded originalReplicaCount. */
  currentReplicas?: number;
  activity?: ActivityInput;
  /** The newest status we know the server holds (from our own patches or the informer). */
  observedStatus?: ScaledObjectStatus;
  /** Serializes status writes of this object. */
  statusWrite: Promise<void>;
  /** When this process last wrote the status (performance.now()), for the failure-count throttle. */
  statusWrittenAt?: number;
}

export interface ControllerContext {
  api: KubeApi;
  caches: Caches;
  /** The Secrets and ConfigMaps credentials name: all of them watched, or only those named fetched by name. */
  referencedObjects: ReferencedObjects;
  targets: ScaleTargets;
  events: EventRecorder;
  scalerSets: ScalerSets;
  /** Watches of the resources targets of other kinds than StatefulSet and Deployment are made of. */
  targetWatches: TargetWatches;
  metricCache: MetricCache;
  polls: PollScheduler;
  logger: Logger;
  /** This instance's Prometheus families. */
  metrics: QueryscalerMetrics;
  clusterTriggerAuthenticationNamespace: string;
  /** ScaledObject key -> the objects its credentials were read from. */
  references: Map<string, Set<Reference>>;
  states: Map<string, ObjectState>;
  /** Asks the work queue to reconcile a key again (the poll loop uses it when a target vanishes). */
  enqueue: (key: string) => void;
  now: () => Date;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function stateOf(context: ControllerContext, key: string): ObjectState {
  let state = context.states.get(key);
  if (!state) {
    state = {
      ready: { status: 'Unknown', reason: 'NotReconciledYet', message: 'The controller has not looked at this ScaledObject yet' },
      paused: { paused: false },
      statusWrite: Promise.resolve(),
    };
    context.states.set(key, state);
  }
  return state;
}

export function readyTrue(warnings: readonly string[]): ConditionValue {
  return {
    status: 'True',
    reason: 'ScaledObjectReady',
    message: warnings.length === 0 ? READY_MESSAGE : `${READY_MESSAGE}; warning: ${warnings.join('; ')}`,
  };
}

export function scaledObjectPath(namespace: string, name: string): string {
  return `/apis/keda.sh/v1alpha1/namespaces/${encodeURIComponent(namespace)}/scaledobjects/${encodeURIComponent(name)}`;
}

/** Brings the object's status to what its state says, patching only the fields that differ. */
export function writeStatus(context: ControllerContext, key: string, signal?: AbortSignal): Promise<void> {
  const state = stateOf(context, key);
  const next = state.statusWrite.then(async () => {
    const { namespace, name } = splitKey(key);
    const so = context.caches.scaledObjects.get(namespace, name);
    if (!so || (state.uid !== undefined && so.metadata.uid !== state.uid)) return;
    const observed = state.observedStatus ?? so.status;
    const desired = desiredStatus({
      observed,
      now: context.now(),
      ready: state.ready,
      paused: state.paused,
      ...(state.activity && { activity: state.activity }),
      ...(state.target && {
        target: {
          kind: state.target.kind,
          gvkr: { group: state.target.group, version: state.target.version, kind: state.target.kind, resource: state.target.resource },
        },
      }),
      ...(state.hpaName !== undefined && { hpaName: state.hpaName }),
      ...(state.externalMetricNames !== undefined && { externalMetricNames: state.externalMetricNames }),
      ...(state.currentReplicas !== undefined && { currentReplicas: state.currentReplicas }),
    });
    const patch = statusPatch(observed, desired);
    if (!patch) return;
    if (onlyFailureCountsChanged(observed, desired) && state.statusWrittenAt !== undefined &&
      performance.now() - state.statusWrittenAt < FAILURE_COUNT_WRITE_INTERVAL_MS) return;
    const updated = await context.api.request<ScaledObject>('patch', `${scaledObjectPath(namespace, name)}/status`, {
      body: { status: patch },
      patchType: 'merge',
      signal,
    });
    state.observedStatus = updated.status;
    state.statusWrittenAt = performance.now();
    // Once per transition, as the status the server holds says: a restart that finds it Ready says nothing.
    const wasReady = observed?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (!wasReady && desired.conditions?.find((c) => c.type === 'Ready')?.status === 'True') {
      await context.events.record(involved(so), 'Normal', 'ScaledObjectReady', 'ScaledObject is ready for scaling');
    }
  });
  // The chain must survive a failed write; the caller still sees the failure.
  state.statusWrite = next.catch(() => undefined);
  return next;
}

export function involved(so: ScaledObject): { namespace: string; name: string; uid?: string } {
  return { namespace: so.metadata.namespace ?? '', name: so.metadata.name, ...(so.metadata.uid !== undefined && { uid: so.metadata.uid }) };
}
