// What the admission webhook refuses in a ScaledObject: everything reconcile would refuse that can
// be known without reading credentials or the scale target, in the very words reconcile writes in
// its Ready condition, because it calls the same checks: the schema and KEDA's rules
// (api/validation.ts), the pause annotations (pause.ts), names too long for the HPA they become
// (object-names.ts), a target another ScaledObject owns or a foreign HPA scales (target-claims.ts),
// and trigger metadata the scaler's own parse refuses (scaler-set.ts). Reconcile keeps every one of
// these checks for clusters without the webhook. Pure.
//
// An UPDATE is refused only for problems the object did not have before it: the controller's own
// writes (its finalizer) and fixes made one at a time must pass on an object stored before the
// webhook was there, or when the world around it changed (a foreign HPA appeared).
import { formatProblems, validateScaledObject, type Problem } from '../api/validation.js';
import type { ScaledObject } from '../api/types.js';
import type { HorizontalPodAutoscaler } from '../controller/desired-hpa.js';
import { hpaNameProblem } from '../controller/object-names.js';
import { pauseState } from '../controller/pause.js';
import { checkTriggersWithoutCredentials, scalerConfigMessage } from '../controller/scaler-set.js';
import { targetConflict } from '../controller/target-claims.js';
import { ScalerConfigError } from '../scalers/scaler.js';

/** What the controller's caches hold, which the checks of target ownership read. */
export interface AdmissionWorld {
  scaledObjects(): readonly ScaledObject[];
  hpas(): ReadonlyArray<Pick<HorizontalPodAutoscaler, 'metadata' | 'spec'>>;
}

export interface Findings {
  /** Schema and KEDA-rule problems; reconcile shows them together (formatProblems). */
  invalid: Problem[];
  /** Every other refusal, as reconcile words it. */
  refusals: string[];
  /** Accepted, but said at apply (kubectl prints them as `Warning: ...`). */
  warnings: string[];
}

export type Operation = 'CREATE' | 'UPDATE';

export interface AdmissionDecision {
  allowed: boolean;
  /** Why not, when not allowed. */
  message?: string;
  warnings: string[];
}

/** Everything wrong with `object` (a ScaledObject as the API server is about to store it). */
export function scaledObjectFindings(object: unknown, world: AdmissionWorld): Findings {
  const validated = validateScaledObject(object);
  // The other checks read a well-formed object: they wait until the schema is satisfied, as in reconcile.
  if (!validated.ok) return { invalid: validated.problems, refusals: [], warnings: [] };
  const so = validated.value;
  const refusals: string[] = [];
  const warnings: string[] = [];
  const pause = pauseState(so.metadata.annotations);
  if (pause.kind === 'invalid') refusals.push(pause.message);
  if (pause.kind === 'paused' && pause.warning !== undefined) warnings.push(pause.warning);
  const nameProblem = hpaNameProblem(so);
  if (nameProblem !== undefined) refusals.push(nameProblem);
  const conflict = targetConflict(so, world.scaledObjects(), world.hpas());
  if (conflict !== undefined) refusals.push(conflict);
  try {
    checkTriggersWithoutCredentials(so);
  } catch (error) {
    if (!(error instanceof ScalerConfigError)) throw error;
    refusals.push(scalerConfigMessage(error));
  }
  return { invalid: [], refusals, warnings };
}

/** The verdict on a CREATE or UPDATE of a ScaledObject; `oldObject` is the stored one on UPDATE. */
export function admitScaledObject(operation: Operation, object: unknown, oldObject: unknown, world: AdmissionWorld): AdmissionDecision {
  const found = scaledObjectFindings(object, world);
  let { invalid, refusals } = found;
  if (operation === 'UPDATE' && oldObject !== undefined && oldObject !== null) {
    const before = scaledObjectFindings(oldObject, world);
    const had = new Set(before.invalid.map(problemKey));
    invalid = invalid.filter((p) => !had.has(problemKey(p)));
    refusals = refusals.filter((r) => !before.refusals.includes(r));
  }
  if (invalid.length === 0 && refusals.length === 0) return { allowed: true, warnings: found.warnings };
  const message = [...(invalid.length > 0 ? [formatProblems(invalid)] : []), ...refusals].join('; ');
  return { allowed: false, message, warnings: found.warnings };
}

function problemKey(problem: Problem): string {
  return `${problem.field}\n${problem.message}`;
}
