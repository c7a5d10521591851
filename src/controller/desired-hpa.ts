// The HPA a ScaledObject asks for, as a pure function, and the comparison that decides whether the
// HPA in the cluster must be rewritten. Mirrors KEDA's hpa.go: one External metric per trigger,
// selected by the ScaledObject's name label, owned by the ScaledObject.
import {
  KEDA_API_VERSION,
  SCALED_OBJECT_LABEL,
  type HpaBehavior,
  type HpaScalingRules,
  type ScaledObject,
} from '../api/types.js';
import { toQuantity } from '../quantity.js';
import type { MetricSpec } from '../scalers/scaler.js';
import { scalingSettings } from '../api/defaults.js';
import { hpaMinReplicas } from './scale-decision.js';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface HpaMetricTarget {
  type: 'AverageValue' | 'Value' | 'Utilization';
  averageValue?: string;
  value?: string;
  averageUtilization?: number;
}

export interface HpaExternalMetric {
  type: 'External';
  external: {
    metric: { name: string; selector?: { matchLabels?: Record<string, string> } };
    target: HpaMetricTarget;
  };
}

export interface HpaSpec {
  scaleTargetRef: { apiVersion: string; kind: string; name: string };
  minReplicas: number;
  maxReplicas: number;
  metrics: HpaExternalMetric[];
  behavior?: HpaBehavior;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface HorizontalPodAutoscaler {
  apiVersion: 'autoscaling/v2';
  kind: 'HorizontalPodAutoscaler';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    resourceVersion?: string;
  };
  spec: HpaSpec;
}

export const MANAGED_BY = 'queryscaler';

export const HPA_NAME_PREFIX = 'keda-hpa-';

export function hpaName(so: ScaledObject): string {
  return so.spec.advanced?.horizontalPodAutoscalerConfig?.name ?? `${HPA_NAME_PREFIX}${so.metadata.name}`;
}

export function hpaLabels(so: ScaledObject): Record<string, string> {
  // The ScaledObject's own labels first, so ours win on a clash, as KEDA does.
  return {
    ...so.metadata.labels,
    'app.kubernetes.io/name': hpaName(so),
    'app.kubernetes.io/part-of': so.metadata.name,
    'app.kubernetes.io/managed-by': MANAGED_BY,
    [SCALED_OBJECT_LABEL]: so.metadata.name,
  };
}

export function desiredHpa(so: ScaledObject, metricSpecs: readonly MetricSpec[], target: GroupVersionKind): HorizontalPodAutoscaler {
  const namespace = so.metadata.namespace ?? 'default';
  const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  const settings = scalingSettings(so.spec);
  const spec: HpaSpec = {
    scaleTargetRef: {
      apiVersion: target.group === '' ? target.version : `${target.group}/${target.version}`,
      kind: target.kind,
      name: so.spec.scaleTargetRef.name,
    },
    // The HPA cannot hold 0; scaling to and from zero is the controller's own job.
    minReplicas: hpaMinReplicas(settings.minReplicaCount),
    maxReplicas: settings.maxReplicaCount,
    metrics: metricSpecs.map((m) => externalMetric(so.metadata.name, m)),
    ...(behavior !== undefined && { behavior: structuredClone(behavior) }),
  };
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: {
      name: hpaName(so),
      namespace,
      labels: hpaLabels(so),
      ownerReferences: [
        {
          apiVersion: KEDA_API_VERSION,
          kind: 'ScaledObject',
          name: so.metadata.name,
          uid: so.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
  };
}

function externalMetric(scaledObjectName: string, m: MetricSpec): HpaExternalMetric {
  const quantity = toQuantity(m.targetValue);
  const target: HpaMetricTarget =
    m.targetType === 'Value' ? { type: 'Value', value: quantity } : { type: 'AverageValue', averageValue: quantity };
  return {
    type: 'External',
    external: {
      metric: { name: m.metricName, selector: { matchLabels: { [SCALED_OBJECT_LABEL]: scaledObjectName } } },
      target,
    },
  };
}

// The API server's defaults for autoscaling/v2 (pkg/apis/autoscaling/v2/defaults.go). Applying them
// to both sides makes "what we asked for" comparable with "what the server stored".
const DEFAULT_SCALE_UP: HpaScalingRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
const DEFAULT_SCALE_DOWN: HpaScalingRules = {
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

function defaultedRules(rules: HpaScalingRules | undefined, defaults: HpaScalingRules): HpaScalingRules {
  const out: HpaScalingRules = { ...structuredClone(defaults), ...(rules && structuredClone(rules)) };
  for (const key of Object.keys(out) as Array<keyof HpaScalingRules>) {
    if (out[key] === undefined) delete out[key];
  }
  return out;
}

/** The spec as the API server would store it: defaults filled in, keys in one order. */
export function normalizedHpaSpec(spec: Partial<HpaSpec>): HpaSpec {
  const behavior = spec.behavior
    ? { scaleUp: defaultedRules(spec.behavior.scaleUp, DEFAULT_SCALE_UP), scaleDown: defaultedRules(spec.behavior.scaleDown, DEFAULT_SCALE_DOWN) }
    : undefined;
  return sortedKeys({
    scaleTargetRef: spec.scaleTargetRef ?? { apiVersion: '', kind: '', name: '' },
    minReplicas: spec.minReplicas ?? 1,
    maxReplicas: spec.maxReplicas ?? 0,
    metrics: spec.metrics ?? [],
    ...(behavior && { behavior }),
  });
}

/** True when the observed HPA must be rewritten: its spec differs or it lacks our labels or owner. */
export function hpaNeedsUpdate(observed: HorizontalPodAutoscaler, desired: HorizontalPodAutoscaler): boolean {
  if (JSON.stringify(normalizedHpaSpec(observed.spec)) !== JSON.stringify(normalizedHpaSpec(desired.spec))) return true;
  const labels = observed.metadata.labels ?? {};
  if (Object.entries(desired.metadata.labels ?? {}).some(([k, v]) => labels[k] !== v)) return true;
  const owner = desired.metadata.ownerReferences?.[0];
  return !(observed.metadata.ownerReferences ?? []).some((o) => o.uid === owner?.uid && o.controller === true);
}

function sortedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortedKeys) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]),
    ) as T;
  }
  return value;
}
