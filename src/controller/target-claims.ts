// One autoscaler per scale target. Two HPAs on one workload make the HPA controller give up
// (AmbiguousSelector) while each ScaledObject would still look healthy, so exactly one ScaledObject
// may own a target: the oldest by creationTimestamp, then by name. Both are fixed once an object
// exists, so every replica of queryscaler and every restart decides the same. Any other
// ScaledObject on the target is refused with the owner's name, and so is every ScaledObject on a
// target that an HPA queryscaler does not manage already scales, unless it adopts that HPA with
// KEDA's annotation `scaledobject.keda.sh/transfer-hpa-ownership: "true"` and
// `advanced.horizontalPodAutoscalerConfig.name` naming it. An HPA whose controller ownerReference is
// the ScaledObject itself (same uid) is that ScaledObject's own, whoever created it: KEDA's
// keda-hpa-<name>, found in place when queryscaler replaces KEDA, is adopted as it stands. Pure.

import type { ScaledObject, ScaleTargetRef } from '../api/types.js';
import { MANAGED_BY, type HorizontalPodAutoscaler } from './desired-hpa.js';

export const TRANSFER_HPA_OWNERSHIP_ANNOTATION = 'scaledobject.keda.sh/transfer-hpa-ownership';

/** A scale target as the API identifies it: the version does not matter, the group does. */
export interface TargetIdentity {
  group: string;
  kind: string;
  name: string;
}

/** scaleTargetRef with KEDA's defaults (apps/v1 Deployment). */
export function targetIdentity(ref: Pick<ScaleTargetRef, 'apiVersion' | 'kind' | 'name'>): TargetIdentity {
  const apiVersion = ref.apiVersion ?? 'apps/v1';
  const slash = apiVersion.indexOf('/');
  return { group: slash < 0 ? '' : apiVersion.slice(0, slash), kind: ref.kind ?? 'Deployment', name: ref.name };
}

export function sameTarget(a: TargetIdentity, b: TargetIdentity): boolean {
  return a.group === b.group && a.kind === b.kind && a.name === b.name;
}

export interface Claimant {
  name: string;
  creationTimestamp?: string;
}

/** The ScaledObject that owns a target among those (of one namespace) that name it. */
export function targetOwner(claimants: readonly Claimant[]): Claimant | undefined {
  const created = (c: Claimant) => (c.creationTimestamp === undefined ? Infinity : new Date(c.creationTimestamp).getTime());
  return [...claimants].sort((a, b) => created(a) - created(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0];
}

export function ownerConflictMessage(target: TargetIdentity, namespace: string, owner: Claimant): string {
  return `${target.kind} ${namespace}/${target.name} is already scaled by ScaledObject ${owner.name}, created earlier` +
    `${owner.creationTimestamp === undefined ? '' : ` (${owner.creationTimestamp})`}; a scale target takes one ScaledObject: ` +
    `delete this one, or move its triggers into ${owner.name}`;
}

export interface HpaOnTarget {
  name: string;
  managedByQueryscaler: boolean;
  /** The uid its controller ownerReference names, if it has one. */
  controllerUid?: string;
  target: TargetIdentity;
}

/**
 * The first HPA not managed by queryscaler that scales `target`, leaving out the one this
 * ScaledObject adopts (`adopt`: the HPA named by horizontalPodAutoscalerConfig.name when the
 * transfer annotation is "true") and any whose controller is this ScaledObject (`ownUid`).
 */
export function foreignHpa(hpas: readonly HpaOnTarget[], target: TargetIdentity, adopt: string | undefined, ownUid?: string): HpaOnTarget | undefined {
  return hpas.find((hpa) => !hpa.managedByQueryscaler && !(ownUid !== undefined && hpa.controllerUid === ownUid) && hpa.name !== adopt &&
    sameTarget(hpa.target, target));
}

export function foreignHpaMessage(target: TargetIdentity, namespace: string, hpa: HpaOnTarget): string {
  return `${target.kind} ${namespace}/${target.name} is already scaled by HorizontalPodAutoscaler ${namespace}/${hpa.name}, ` +
    'which queryscaler does not manage, and two autoscalers on one target make the HPA controller stop scaling it: ' +
    `delete that HPA, or let this ScaledObject take it over with the annotation ${TRANSFER_HPA_OWNERSHIP_ANNOTATION}: "true" ` +
    `and spec.advanced.horizontalPodAutoscalerConfig.name: ${hpa.name}`;
}

/** The HPA name this ScaledObject adopts, when it asks to. */
export function adoptedHpaName(annotations: Readonly<Record<string, string>> | undefined, configuredName: string | undefined): string | undefined {
  return annotations?.[TRANSFER_HPA_OWNERSHIP_ANNOTATION] === 'true' ? configuredName : undefined;
}

/**
 * Why `so` may not scale its target, in the words reconcile writes, or undefined: another
 * ScaledObject of its namespace owns the target, or an HPA queryscaler does not manage scales it.
 * `scaledObjects` and `hpas` are what the caches hold (any namespace); an entry with `so`'s own name
 * stands for an older version of it and is replaced by `so`, so an object not stored yet (admission)
 * is judged as the one that arrives last.
 */
export function targetConflict(
  so: ScaledObject,
  scaledObjects: readonly ScaledObject[],
  hpas: ReadonlyArray<Pick<HorizontalPodAutoscaler, 'metadata' | 'spec'>>,
): string | undefined {
  const namespace = so.metadata.namespace ?? '';
  const identity = targetIdentity(so.spec.scaleTargetRef);
  const claimants = [so, ...scaledObjects.filter((other) => other.metadata.namespace === namespace && other.metadata.name !== so.metadata.name)]
    .filter((claimant) => claimant.spec?.scaleTargetRef?.name !== undefined && sameTarget(targetIdentity(claimant.spec.scaleTargetRef), identity))
    .map((claimant) => ({
      name: claimant.metadata.name,
      ...(claimant.metadata.creationTimestamp !== undefined && { creationTimestamp: claimant.metadata.creationTimestamp }),
    }));
  const owner = targetOwner(claimants);
  if (owner !== undefined && owner.name !== so.metadata.name) return ownerConflictMessage(identity, namespace, owner);
  const onTarget = hpas
    .filter((hpa) => hpa.metadata.namespace === namespace && hpa.spec?.scaleTargetRef?.name !== undefined)
    .map((hpa) => ({
      name: hpa.metadata.name,
      managedByQueryscaler: hpa.metadata.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY,
      controllerUid: hpa.metadata.ownerReferences?.find((o) => o.controller === true)?.uid,
      target: targetIdentity(hpa.spec.scaleTargetRef),
    }));
  const foreign = foreignHpa(onTarget, identity, adoptedHpaName(so.metadata.annotations, so.spec.advanced?.horizontalPodAutoscalerConfig?.name), so.metadata.uid);
  return foreign === undefined ? undefined : foreignHpaMessage(identity, namespace, foreign);
}
