// THE reconcile: level-triggered, idempotent, one ScaledObject at a time. It reads the ScaledObject
// and what it points at, and converges the world on it: scalers registered and polled, the HPA as
// desiredHpa says, status as desiredStatus says. Anything wrong with the user's input ends in a
// Ready=False condition and a Warning Event that name the field and the fix; it never throws
// those, so nothing else (other ScaledObjects, this one's existing HPA) is disturbed.
import { formatProblems, validateScaledObject } from '../api/validation.js';
import { SCALED_OBJECT_LABEL, type ScaledObject } from '../api/types.js';
import { ScalerConfigError } from '../scalers/scaler.js';
import {
  involved,
  readyTrue,
  splitKey,
  stateOf,
  writeStatus,
  type ControllerContext,
  type ObjectState,
} from './context.js';
import { CredentialError, References, resolveTriggerCredentials, type Lookup } from './credentials.js';
import { desiredHpa, hpaName, hpaNeedsUpdate, type HorizontalPodAutoscaler } from './desired-hpa.js';
import { ensureFinalizer, finalize } from './finalizer.js';
import { guardRailWarnings } from './guard-rails.js';
import { isConflict, isForbidden, isNotFound, type KubeApiError } from './kube-api.js';
import { hpaNameProblem } from './object-names.js';
import { pauseState } from './pause.js';
import { pollOnce } from './poll.js';
import type { ObjectData } from './referenced-objects/referenced-objects.js';
import { ScaleTargetError, type ResolvedTarget, type TargetObject } from './scale-target.js';
import { parseTriggers, pollingIntervalMs, scalerConfigMessage, type ParsedTrigger, type ResolvedTriggerCredentials } from './scaler-set.js';
import { adoptedHpaName, targetConflict } from './target-claims.js';
import type { ReconcileResult } from './work-queue.js';
import { scalingSettings } from '../api/defaults.js';

/** How soon a ScaledObject that is not ready is looked at again without any event (a safety net). */
export const NOT_READY_RECHECK_MS = 30_000;
/** A missing target is not watched (it can be any kind), so it is checked for more often. */
export const TARGET_RECHECK_MS = 5_000;

/** The user's input is wrong; reconcile turns this into Ready=False plus a Warning Event. */
export class NotReady extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly requeueAfterMs = NOT_READY_RECHECK_MS,
  ) {
    super(message);
    this.name = 'NotReady';
  }
}

export function createReconcile(context: ControllerContext): (key: string, signal: AbortSignal) => Promise<ReconcileResult> {
  return async (key, signal) => {
    const { namespace, name } = splitKey(key);
    const so = context.caches.scaledObjects.get(namespace, name);
    if (!so) {
      await forget(context, key);
      return {};
    }
    let state = stateOf(context, key);
    if (state.uid !== undefined && state.uid !== so.metadata.uid) {
      // Deleted and created again under the same name: nothing learned about the old one applies.
      await forget(context, key);
      state = stateOf(context, key);
    }
    state.uid = so.metadata.uid;
    if (so.metadata.deletionTimestamp) return finalize(context, key, so, signal);
    await ensureFinalizer(context, so, signal);

    try {
      await converge(context, key, so, state, signal);
    } catch (caught) {
      const error = isForbidden(caught) ? forbiddenAsNotReady(caught) : caught;
      if (!(error instanceof NotReady)) throw error;
      await notReady(context, key, so, state, error, signal);
      return { requeueAfterMs: error.requeueAfterMs };
    }
    await writeStatus(context, key, signal);
    return {};
  };
}

async function converge(context: ControllerContext, key: string, so: ScaledObject, state: ObjectState, signal: AbortSignal): Promise<void> {
  const namespace = so.metadata.namespace ?? '';
  const validated = validateScaledObject(so);
  if (!validated.ok) throw new NotReady('ScaledObjectCheckFailed', formatProblems(validated.problems));
  const pause = pauseState(so.metadata.annotations);
  if (pause.kind === 'invalid') throw new NotReady('ScaledObjectCheckFailed', pause.message);
  const nameProblem = hpaNameProblem(so);
  if (nameProblem !== undefined) throw new NotReady('ScaledObjectCheckFailed', nameProblem);
  // Before anything about the target is read or remembered: a ScaledObject that may not scale it
  // must not record an original replica count that its deletion would then "restore".
  await refuseSharedTarget(context, so, signal);

  const target = await withTargetErrors(() => context.targets.resolve(so.spec.scaleTargetRef, namespace, signal));
  // Before /scale is read: a target that does not exist yet is then seen the moment it is created.
  await context.targetWatches.watch(key, target);
  const scale = await withTargetErrors(() => context.targets.getScale(target, signal));
  const object = await withTargetErrors(() => context.targets.describe(target, signal));
  state.target = target;
  // Remembered once: what the target had before we first touched it, for restoreToOriginalReplicaCount.
  state.currentReplicas ??= scale.replicas;

  const credentials = await context.referencedObjects.read((objects) => resolveCredentials(context, key, so, target, object, objects), signal);
  const parsed = parsedTriggers(so, credentials);

  const warnings: Array<{ reason: string; message: string }> = guardRailWarnings({
    namespace,
    targetKind: target.kind,
    targetName: target.name,
    targetLabels: object.labels,
    podTemplateLabels: object.podTemplateLabels,
    containerNames: object.containers.map((c) => c.name),
    minReplicaCount: scalingSettings(so.spec).minReplicaCount,
    ...(so.spec.idleReplicaCount !== undefined && { idleReplicaCount: so.spec.idleReplicaCount }),
    maxReplicaCount: scalingSettings(so.spec).maxReplicaCount,
    ...(object.serviceName !== undefined && { serviceName: object.serviceName }),
    // As each trigger type parsed it: host parameter, connection string or *FromEnv alike.
    triggerHosts: parsed.map((p) => p.type.dataSourceHost?.(p.config)).filter((host): host is string => host !== undefined),
  });
  if (pause.kind === 'paused' && pause.warning !== undefined) warnings.push({ reason: 'PausedAnnotationNotBoolean', message: pause.warning });
  for (const warning of warnings) await context.events.record(involved(so), 'Warning', warning.reason, warning.message);
  if (context.metrics.setGuardRailWarnings(namespace, so.metadata.name, warnings.map((w) => w.reason))) {
    for (const warning of warnings) context.logger.warn({ scaledObject: key, reason: warning.reason, warning: warning.message }, 'guard rail');
  }
  context.metrics.setPaused(namespace, so.metadata.name, pause.kind !== 'none');

  if (pause.kind === 'paused' || pause.kind === 'paused-replicas') {
    await context.polls.unschedule(key);
    await context.scalerSets.remove(namespace, so.metadata.name);
    state.activity = undefined;
    await deleteOwnedHpas(context, so, undefined, signal);
    if (pause.kind === 'paused-replicas' && scale.replicas !== pause.replicas) {
      await context.targets.setReplicas(target, pause.replicas, signal);
      await context.events.record(
        involved(so),
        'Normal',
        'KEDAScaleTargetPaused',
        `Scaled ${target.kind} ${namespace}/${target.name} from ${scale.replicas} to ${pause.replicas} replicas as annotation autoscaling.keda.sh/paused-replicas asks`,
      );
    }
    state.paused = pause.kind === 'paused' ? { paused: true } : { paused: true, replicas: pause.replicas };
    state.ready = readyTrue(warnings.map((w) => w.message));
    return;
  }
  state.paused = { paused: false };

  const intervalMs = pollingIntervalMs(so);
  const specs = await context.scalerSets.apply(namespace, so.metadata.name, parsed, {
    pollingIntervalMs: intervalMs,
    ...(so.spec.fallback !== undefined && { fallback: so.spec.fallback }),
  });
  await ensureHpa(context, so, desiredHpa(so, specs, target), signal);
  state.hpaName = hpaName(so);
  state.externalMetricNames = specs.map((s) => s.metricName);
  context.polls.schedule(key, intervalMs, (pollSignal) => pollOnce(context, key, pollSignal));
  state.ready = readyTrue(warnings.map((w) => w.message));
}

function parsedTriggers(so: ScaledObject, credentials: ResolvedTriggerCredentials[]): ParsedTrigger[] {
  try {
    return parseTriggers(so, credentials);
  } catch (error) {
    if (!(error instanceof ScalerConfigError)) throw error;
    throw new NotReady('ScaledObjectCheckFailed', scalerConfigMessage(error));
  }
}

/**
 * A 403 is not a passing fault to retry in silence but a missing RBAC rule, typically `get` on a
 * custom resource used as a scale target, which the shipped ClusterRole cannot know in advance.
 */
function forbiddenAsNotReady(error: KubeApiError): NotReady {
  return new NotReady(
    'Forbidden',
    `${error.message}. Grant queryscaler's ServiceAccount that verb on that resource (a rule in the queryscaler ClusterRole)`,
  );
}

async function withTargetErrors<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof ScaleTargetError)) throw error;
    throw new NotReady(error.reason, error.message, error.reason === 'ScaleTargetNotFound' ? TARGET_RECHECK_MS : NOT_READY_RECHECK_MS);
  }
}

function resolveCredentials(
  context: ControllerContext,
  key: string,
  so: ScaledObject,
  target: ResolvedTarget,
  object: TargetObject,
  objects: ObjectData,
): ResolvedTriggerCredentials[] {
  const references = new References();
  try {
    return resolveTriggerCredentials({
      so,
      target: { kind: target.kind, namespace: so.metadata.namespace ?? '', name: target.name },
      containers: object.containers,
      lookup: cacheLookup(context, objects),
      clusterNamespace: context.clusterTriggerAuthenticationNamespace,
      references,
    });
  } catch (error) {
    if (!(error instanceof CredentialError)) throw error;
    // envSourceContainerName is part of scaleTargetRef: the fault is in the target reference, not the auth.
    throw new NotReady(error.field.startsWith('scaleTargetRef.') ? 'ScaleTargetContainerNotFound' : 'TriggerAuthenticationFailed', error.message);
  } finally {
    // Recorded even on failure: creating the missing Secret must bring this object back.
    context.references.set(key, references.refs);
  }
}

export function cacheLookup(context: ControllerContext, objects: ObjectData): Lookup {
  const { caches } = context;
  return {
    secret: objects.secret,
    configMap: objects.configMap,
    triggerAuthentication: (namespace, name) => caches.triggerAuthentications.get(namespace, name),
    clusterTriggerAuthentication: (name) => caches.clusterTriggerAuthentications.get('', name),
    triggerAuthenticationNamespaces: (name) =>
      caches.triggerAuthentications
        .list()
        .filter((t) => t.metadata.name === name)
        .map((t) => t.metadata.namespace ?? '')
        .sort(),
  };
}

/** Refuses a ScaledObject whose target another ScaledObject owns or a foreign HPA scales; its own HPAs go. */
async function refuseSharedTarget(context: ControllerContext, so: ScaledObject, signal: AbortSignal): Promise<void> {
  const conflict = targetConflict(so, context.caches.scaledObjects.list(), context.caches.hpas.list());
  if (conflict === undefined) return;
  await deleteOwnedHpas(context, so, undefined, signal);
  throw new NotReady('ScaleTargetConflict', conflict);
}

async function ensureHpa(context: ControllerContext, so: ScaledObject, desired: HorizontalPodAutoscaler, signal: AbortSignal): Promise<void> {
  const namespace = desired.metadata.namespace;
  const collection = `/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers`;
  await deleteOwnedHpas(context, so, desired.metadata.name, signal);
  let observed = context.caches.hpas.get(namespace, desired.metadata.name);
  if (!observed) {
    try {
      await context.api.request('create', collection, { body: desired, signal });
      return;
    } catch (error) {
      if (!isConflict(error)) throw error;
      // The cache lags behind the server; read the one that is there and compare below.
      observed = await context.api.request<HorizontalPodAutoscaler>('get', `${collection}/${desired.metadata.name}`, { signal });
    }
  }
  const owners = observed.metadata.ownerReferences ?? [];
  const ownedByOther = owners.some((o) => o.controller === true && !(o.kind === 'ScaledObject' && o.name === so.metadata.name));
  const ours = observed.metadata.labels?.['app.kubernetes.io/managed-by'] === 'queryscaler';
  // KEDA's transfer-hpa-ownership: the user asks this ScaledObject to take the named HPA over.
  const adopted = adoptedHpaName(so.metadata.annotations, so.spec.advanced?.horizontalPodAutoscalerConfig?.name) === observed.metadata.name;
  if (!adopted && (ownedByOther || (!ours && !owners.some((o) => o.uid === so.metadata.uid)))) {
    throw new NotReady(
      'HPAConflict',
      `HorizontalPodAutoscaler ${namespace}/${desired.metadata.name} already exists and is not managed by this ScaledObject. ` +
        'Delete it, or set spec.advanced.horizontalPodAutoscalerConfig.name to another name.',
    );
  }
  if (!hpaNeedsUpdate(observed, desired)) return;
  context.logger.info({ scaledObject: `${namespace}/${so.metadata.name}`, hpa: desired.metadata.name }, 'HPA differs from the wanted one; rewriting it');
  await context.api.request('patch', `${collection}/${desired.metadata.name}`, {
    patchType: 'json',
    body: [
      { op: 'test', path: '/metadata/resourceVersion', value: observed.metadata.resourceVersion },
      { op: 'replace', path: '/spec', value: desired.spec },
      { op: 'add', path: '/metadata/labels', value: { ...observed.metadata.labels, ...desired.metadata.labels } },
      {
        op: 'add',
        path: '/metadata/ownerReferences',
        value: [...owners.filter((o) => o.controller !== true), ...(desired.metadata.ownerReferences ?? [])],
      },
    ],
    signal,
  });
}

/** Deletes the HPAs this ScaledObject owns, except `keep` (a renamed HPA leaves its old one behind otherwise). */
async function deleteOwnedHpas(context: ControllerContext, so: ScaledObject, keep: string | undefined, signal: AbortSignal): Promise<void> {
  const namespace = so.metadata.namespace ?? '';
  const owned = context.caches.hpas
    .list()
    .filter(
      (h) =>
        h.metadata.namespace === namespace &&
        h.metadata.name !== keep &&
        h.metadata.labels?.[SCALED_OBJECT_LABEL] === so.metadata.name &&
        (h.metadata.ownerReferences ?? []).some((o) => o.uid === so.metadata.uid),
    );
  for (const hpa of owned) {
    try {
      await context.api.request('delete', `/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers/${hpa.metadata.name}`, { signal });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

async function notReady(context: ControllerContext, key: string, so: ScaledObject, state: ObjectState, error: NotReady, signal: AbortSignal): Promise<void> {
  // Stop polling what cannot be polled correctly; an HPA that exists is left as it is, so the
  // workload keeps its size while the user fixes the input.
  await context.polls.unschedule(key);
  await context.scalerSets.remove(so.metadata.namespace ?? '', so.metadata.name);
  state.activity = undefined;
  state.ready = { status: 'False', reason: error.reason, message: error.message };
  context.logger.warn({ scaledObject: key, reason: error.reason, problem: error.message }, 'ScaledObject is not ready');
  context.metrics.countScaledObjectError(so.metadata.namespace ?? '', so.metadata.name);
  await context.events.record(involved(so), 'Warning', error.reason, error.message);
  await writeStatus(context, key, signal);
}

/** Drops everything this process knows and runs for `key`; the objects in the cluster stay as they are. */
export async function forget(context: ControllerContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  await context.polls.unschedule(key);
  await context.scalerSets.remove(namespace, name);
  const target = context.states.get(key)?.target;
  if (target) context.targets.forget(target);
  await context.targetWatches.release(key);
  context.states.delete(key);
  context.references.delete(key);
  context.events.forget(namespace, name);
  context.metrics.forgetScaledObject(namespace, name);
}
