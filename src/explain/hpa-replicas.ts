// The HPA controller's arithmetic for External metrics, as a pure function, following
// kube-controller-manager v1.37 (pkg/controller/podautoscaler): replica_calculator.go's
// GetExternalPerPodMetricReplicas (AverageValue) and GetExternalMetricReplicas (Value), in
// milli-units as the HPA reads the served quantities, with its tolerance (0.1 unless the
// behavior's scaleUp/scaleDown tolerance says otherwise); then horizontal.go: the largest
// proposal of all metrics wins, a target at 0 replicas is not scaled (ScalingDisabled), one
// outside minReplicas..maxReplicas is brought inside without reading metrics.
//
// What depends on history is explained, not simulated: the stabilization windows (the HPA keeps
// the highest recommendation of the scale-down window, the lowest of the scale-up window) and the
// rate policies, which count the scaling of the last period. nextStep() is the exact next count
// only for an HPA that has not scaled within its policies' periods and whose recent
// recommendations were no lower (scale up) or have aged out of the window (scale down).
import type { HpaBehavior, HpaScalingRules } from '../api/types.js';
import { normalizedHpaSpec } from '../controller/desired-hpa.js';
import { parseQuantity } from '../quantity.js';

/** kube-controller-manager's --horizontal-pod-autoscaler-tolerance default. */
export const DEFAULT_TOLERANCE = 0.1;
/** kube-controller-manager's --horizontal-pod-autoscaler-downscale-stabilization default, in seconds. */
export const DEFAULT_DOWNSCALE_STABILIZATION_SECONDS = 300;
/** horizontal.go's scale-up limit without a behavior: max(2 x current, 4). */
const SCALE_UP_LIMIT_FACTOR = 2;
const SCALE_UP_LIMIT_MINIMUM = 4;
const MAX_INT32 = 2 ** 31 - 1;

export interface Tolerances {
  scaleUp: number;
  scaleDown: number;
}

export interface ExternalMetric {
  targetType: 'AverageValue' | 'Value';
  /** Target per pod (AverageValue) or in total (Value), as the HPA spec holds it. */
  target: number;
  /** The value the metrics API serves. */
  value: number;
}

export interface ReplicaCounts {
  /** The target's /scale spec.replicas: the HPA's currentReplicas. */
  specReplicas: number;
  /** The target's /scale status.replicas: what AverageValue divides by. */
  statusReplicas: number;
  /** Running and Ready pods: what a Value target multiplies by. */
  readyPods: number;
}

export interface MetricProposal {
  replicas: number;
  /** value / (target x pods) for AverageValue, value / target for Value. */
  usageRatio: number;
  /** The ratio is within the tolerance, so the count stays. */
  withinTolerance: boolean;
}

export type HpaOutcome =
  | { kind: 'disabled' }
  | { kind: 'out-of-bounds'; replicas: number; bound: 'minReplicas' | 'maxReplicas' }
  | { kind: 'metrics'; proposals: MetricProposal[]; recommended: number; replicas: number; bound?: 'minReplicas' | 'maxReplicas' };

export interface HpaInput extends ReplicaCounts {
  minReplicas: number;
  maxReplicas: number;
  behavior?: HpaBehavior;
  metrics: readonly ExternalMetric[];
}

/** The served value as the HPA reads it: a quantity in whole milli-units, truncated as queryscaler serves it. */
export function milliUnits(value: number): number {
  const milli = Math.trunc(value * 1000);
  return Number.isFinite(milli) ? milli : Math.sign(milli) * Number.MAX_SAFE_INTEGER;
}

/** The tolerances the HPA applies: the behavior's, where it sets them (GA in 1.37), else 0.1. */
export function tolerances(behavior: HpaBehavior | undefined): Tolerances {
  const read = (rules: HpaScalingRules | undefined): number => (rules?.tolerance === undefined ? DEFAULT_TOLERANCE : parseQuantity(rules.tolerance));
  return { scaleUp: read(behavior?.scaleUp), scaleDown: read(behavior?.scaleDown) };
}

function isWithin(ratio: number, t: Tolerances): boolean {
  return 1 - t.scaleDown <= ratio && ratio <= 1 + t.scaleUp;
}

/** One External metric's proposal at the given replica counts. */
export function externalMetricReplicas(metric: ExternalMetric, counts: ReplicaCounts, t: Tolerances): MetricProposal {
  const usage = milliUnits(metric.value);
  const target = milliUnits(metric.target);
  if (metric.targetType === 'AverageValue') {
    const usageRatio = usage / (target * counts.statusReplicas);
    if (isWithin(usageRatio, t)) return { replicas: counts.statusReplicas, usageRatio, withinTolerance: true };
    return { replicas: Math.min(Math.ceil(usage / target), MAX_INT32), usageRatio, withinTolerance: false };
  }
  const usageRatio = usage / target;
  if (counts.specReplicas === 0) return { replicas: Math.ceil(usageRatio), usageRatio, withinTolerance: false };
  if (isWithin(usageRatio, t)) return { replicas: counts.specReplicas, usageRatio, withinTolerance: true };
  return { replicas: Math.min(Math.ceil(usageRatio * counts.readyPods), MAX_INT32), usageRatio, withinTolerance: false };
}

/** What the HPA recommends this sync, within minReplicas..maxReplicas, before stabilization and rate limits. */
export function hpaReplicas(input: HpaInput): HpaOutcome {
  const current = input.specReplicas;
  if (current === 0) return { kind: 'disabled' };
  if (current > input.maxReplicas) return { kind: 'out-of-bounds', replicas: input.maxReplicas, bound: 'maxReplicas' };
  if (current < input.minReplicas) return { kind: 'out-of-bounds', replicas: input.minReplicas, bound: 'minReplicas' };
  const t = tolerances(input.behavior);
  const proposals = input.metrics.map((metric) => externalMetricReplicas(metric, input, t));
  const recommended = proposals.reduce((most, p) => Math.max(most, p.replicas), 0);
  if (recommended < input.minReplicas) return { kind: 'metrics', proposals, recommended, replicas: input.minReplicas, bound: 'minReplicas' };
  if (recommended > input.maxReplicas) return { kind: 'metrics', proposals, recommended, replicas: input.maxReplicas, bound: 'maxReplicas' };
  return { kind: 'metrics', proposals, recommended, replicas: recommended };
}

/** The scaling rules the HPA applies, with the API server's and the controller's defaults filled in. */
export function effectiveBehavior(behavior: HpaBehavior | undefined): { scaleUp: Required<Omit<HpaScalingRules, 'tolerance'>>; scaleDown: Required<Omit<HpaScalingRules, 'tolerance'>> } | undefined {
  if (behavior === undefined) return undefined;
  const filled = normalizedHpaSpec({ behavior }).behavior ?? {};
  const complete = (rules: HpaScalingRules | undefined, window: number): Required<Omit<HpaScalingRules, 'tolerance'>> => ({
    stabilizationWindowSeconds: rules?.stabilizationWindowSeconds ?? window,
    selectPolicy: rules?.selectPolicy ?? 'Max',
    policies: rules?.policies ?? [],
  });
  return { scaleUp: complete(filled.scaleUp, 0), scaleDown: complete(filled.scaleDown, DEFAULT_DOWNSCALE_STABILIZATION_SECONDS) };
}

/**
 * The count of the next rescale from `current` towards `recommended` (already within bounds), for
 * an HPA that has not scaled within its policies' periods: horizontal.go's rate limits.
 */
export function nextStep(current: number, recommended: number, bounds: { minReplicas: number; maxReplicas: number }, behavior: HpaBehavior | undefined): number {
  const rules = effectiveBehavior(behavior);
  if (rules === undefined) {
    const scaleUpLimit = Math.max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM);
    return Math.max(bounds.minReplicas, Math.min(recommended, Math.min(bounds.maxReplicas, scaleUpLimit)));
  }
  if (recommended > current) {
    const { selectPolicy, policies } = rules.scaleUp;
    if (selectPolicy === 'Disabled') return current;
    const proposals = policies.map((p) => (p.type === 'Pods' ? current + p.value : Math.ceil(current * (1 + p.value / 100))));
    const limit = Math.max(current, selectPolicy === 'Min' ? Math.min(...proposals) : Math.max(...proposals));
    return Math.min(recommended, Math.min(bounds.maxReplicas, limit));
  }
  if (recommended < current) {
    const { selectPolicy, policies } = rules.scaleDown;
    if (selectPolicy === 'Disabled') return current;
    const proposals = policies.map((p) => (p.type === 'Pods' ? current - p.value : Math.trunc(current * (1 - p.value / 100))));
    const limit = Math.min(current, selectPolicy === 'Min' ? Math.max(...proposals) : Math.min(...proposals));
    return Math.max(recommended, Math.max(bounds.minReplicas, limit));
  }
  return current;
}

/** The scale-down stabilization window the HPA applies, in seconds. */
export function scaleDownWindowSeconds(behavior: HpaBehavior | undefined): number {
  return effectiveBehavior(behavior)?.scaleDown.stabilizationWindowSeconds ?? DEFAULT_DOWNSCALE_STABILIZATION_SECONDS;
}
