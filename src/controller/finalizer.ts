// finalizer.keda.sh: holds a ScaledObject's deletion until the controller has let go of it. With
// advanced.restoreToOriginalReplicaCount the HPA is deleted first and confirmed gone (so it cannot
// scale the target back), then the target returns to status.originalReplicaCount. A target that is
// already gone is fine; a step that keeps failing gives up after a bound so deletion never hangs.
import { FINALIZER, type ScaledObject } from '../api/types.js';
import { involved, scaledObjectPath, splitKey, type ControllerContext } from './context.js';
import { hpaName } from './desired-hpa.js';
import { isNotFound } from './kube-api.js';
import { ScaleTargetError } from './scale-target.js';
import type { ReconcileResult } from './work-queue.js';

export const FINALIZE_GIVE_UP_MS = 60_000;
const HPA_GONE_RECHECK_MS = 250;

export async function ensureFinalizer(context: ControllerContext, so: ScaledObject, signal: AbortSignal): Promise<void> {
  const finalizers = so.metadata.finalizers ?? [];
  if (finalizers.includes(FINALIZER)) return;
  // resourceVersion makes this a compare-and-swap: a concurrent change of finalizers is a 409, retried.
  await context.api.request('patch', scaledObjectPath(so.metadata.namespace ?? '', so.metadata.name), {
    body: { metadata: { resourceVersion: so.metadata.resourceVersion, finalizers: [...finalizers, FINALIZER] } },
    patchType: 'merge',
    signal,
  });
}

/** Handles a ScaledObject with a deletionTimestamp. */
export async function finalize(context: ControllerContext, key: string, so: ScaledObject, signal: AbortSignal): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  await context.polls.unschedule(key);
  await context.scalerSets.remove(namespace, name);
  if (!(so.metadata.finalizers ?? []).includes(FINALIZER)) return {};

  const deletingForMs = context.now().getTime() - new Date(so.metadata.deletionTimestamp ?? 0).getTime();
  const original = so.status?.originalReplicaCount;
  if (so.spec.advanced?.restoreToOriginalReplicaCount && original !== undefined) {
    try {
      const restored = await restore(context, so, original, signal);
      if (restored === 'waiting') {
        if (deletingForMs < FINALIZE_GIVE_UP_MS) return { requeueAfterMs: HPA_GONE_RECHECK_MS };
        throw new Error(`HPA ${namespace}/${so.status?.hpaName ?? hpaName(so)} still exists after ${Math.round(deletingForMs / 1000)}s`);
      }
    } catch (error) {
      if (deletingForMs < FINALIZE_GIVE_UP_MS) throw error;
      await context.events.record(
        involved(so),
        'Warning',
        'RestoreReplicasFailed',
        `Could not restore ${so.spec.scaleTargetRef.kind ?? 'Deployment'} ${namespace}/${so.spec.scaleTargetRef.name} to ${original} replicas ` +
          `within ${FINALIZE_GIVE_UP_MS / 1000}s (${error instanceof Error ? error.message : String(error)}); deleting the ScaledObject anyway.`,
      );
    }
  }
  else await deleteHpa(context, so, signal);
  await removeFinalizer(context, so, signal);
  context.states.delete(key);
  context.references.delete(key);
  return {};
}

/**
 * Deletes the ScaledObject's HPA now rather than leaving it to the garbage collector, which can take
 * tens of seconds: meanwhile a ScaledObject waiting for the target would put a second HPA on it.
 * An HPA of that name that this ScaledObject does not own (one it was refused over) is left alone;
 * then there is nothing to wait for and undefined is returned.
 */
async function deleteHpa(context: ControllerContext, so: ScaledObject, signal: AbortSignal): Promise<string | undefined> {
  const namespace = so.metadata.namespace ?? '';
  const name = so.status?.hpaName ?? hpaName(so);
  const cached = context.caches.hpas.get(namespace, name);
  if (cached !== undefined && !(cached.metadata.ownerReferences ?? []).some((o) => o.uid === so.metadata.uid)) return undefined;
  const hpaPath = `/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers/${name}`;
  try {
    await context.api.request('delete', hpaPath, { signal });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return hpaPath;
}

async function restore(context: ControllerContext, so: ScaledObject, original: number, signal: AbortSignal): Promise<'done' | 'waiting'> {
  const namespace = so.metadata.namespace ?? '';
  const hpaPath = await deleteHpa(context, so, signal);
  // Confirm with the server, not the cache: until the HPA is gone it may scale the target again.
  if (hpaPath !== undefined) {
    try {
      await context.api.request('get', hpaPath, { signal });
      return 'waiting';
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  try {
    const target = await context.targets.resolve(so.spec.scaleTargetRef, namespace, signal);
    const scale = await context.targets.getScale(target, signal);
    if (scale.replicas !== original) {
      await context.targets.setReplicas(target, original, signal);
      await context.events.record(
        involved(so),
        'Normal',
        'KEDAScaleTargetRestored',
        `Restored ${target.kind} ${namespace}/${target.name} from ${scale.replicas} to its original ${original} replicas`,
      );
    }
  } catch (error) {
    // Nothing to restore when the target (or its kind) is gone.
    if (!(error instanceof ScaleTargetError)) throw error;
  }
  return 'done';
}

async function removeFinalizer(context: ControllerContext, so: ScaledObject, signal: AbortSignal): Promise<void> {
  try {
    await context.api.request('patch', scaledObjectPath(so.metadata.namespace ?? '', so.metadata.name), {
      body: {
        metadata: { resourceVersion: so.metadata.resourceVersion, finalizers: (so.metadata.finalizers ?? []).filter((f) => f !== FINALIZER) },
      },
      patchType: 'merge',
      signal,
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
