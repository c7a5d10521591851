// The keda.sh/v1alpha1 objects as users write them. Written once here and checked against the CRD
// schema in test/unit/api-types.test.ts; every other module imports these, none re-declares them.

export const KEDA_GROUP = 'keda.sh';
export const KEDA_VERSION = 'v1alpha1';
export const KEDA_API_VERSION = `${KEDA_GROUP}/${KEDA_VERSION}`;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface ScaleTargetRef {
  apiVersion?: string;
  kind?: string;
  name: string;
  envSourceContainerName?: string;
}

export interface HpaScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface HpaScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: HpaScalingPolicy[];
  tolerance?: string;
}

export interface HpaBehavior {
  scaleUp?: HpaScalingRules;
  scaleDown?: HpaScalingRules;
}

export interface AdvancedConfig {
  restoreToOriginalReplicaCount?: boolean;
  horizontalPodAutoscalerConfig?: {
    name?: string;
    behavior?: HpaBehavior;
  };
}

export interface Fallback {
  failureThreshold: number;
  replicas: number;
}

export type MetricTargetType = 'AverageValue' | 'Value' | 'Utilization';

export interface AuthenticationRef {
  name: string;
  kind?: 'TriggerAuthentication' | 'ClusterTriggerAuthentication';
}

export interface ScaleTrigger {
  type: string;
  name?: string;
  metadata: Record<string, string>;
  authenticationRef?: AuthenticationRef;
  metricType?: MetricTargetType;
  useCachedMetrics?: boolean;
}

export interface ScaledObjectSpec {
  scaleTargetRef: ScaleTargetRef;
  pollingInterval?: number;
  cooldownPeriod?: number;
  initialCooldownPeriod?: number;
  idleReplicaCount?: number;
  minReplicaCount?: number;
  maxReplicaCount?: number;
  advanced?: AdvancedConfig;
  fallback?: Fallback;
  triggers: ScaleTrigger[];
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';
/** LeastPrivilege is queryscaler's own: present once a trigger's database account could be audited. */
export type ConditionType = 'Ready' | 'Active' | 'Fallback' | 'Paused' | 'LeastPrivilege';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface TriggerHealth {
  numberOfFailures: number;
  status: 'Happy' | 'Failing';
}

export interface ScaledObjectStatus {
  scaleTargetKind?: string;
  scaleTargetGVKR?: { group: string; version: string; kind: string; resource: string };
  originalReplicaCount?: number;
  lastActiveTime?: string;
  externalMetricNames?: string[];
  hpaName?: string;
  health?: Record<string, TriggerHealth>;
  conditions?: Condition[];
  pausedReplicaCount?: number;
  /** The first trigger's current value as a quantity, or 'paused', 'failing', 'not ready': the VALUE column. */
  value?: string;
  /** The newest value the first trigger read successfully, as a Kubernetes quantity, and when. */
  lastMetricValue?: string;
  lastMetricTime?: string;
}

export interface ScaledObject {
  apiVersion: typeof KEDA_API_VERSION;
  kind: 'ScaledObject';
  metadata: ObjectMeta;
  spec: ScaledObjectSpec;
  status?: ScaledObjectStatus;
}

export interface SecretTargetRef {
  parameter: string;
  name: string;
  key: string;
}

export interface ConfigMapTargetRef {
  parameter: string;
  name: string;
  key: string;
}

export interface EnvRef {
  parameter: string;
  name: string;
  containerName?: string;
}

export interface TriggerAuthenticationSpec {
  secretTargetRef?: SecretTargetRef[];
  configMapTargetRef?: ConfigMapTargetRef[];
  env?: EnvRef[];
}

export interface TriggerAuthentication {
  apiVersion: typeof KEDA_API_VERSION;
  kind: 'TriggerAuthentication' | 'ClusterTriggerAuthentication';
  metadata: ObjectMeta;
  spec: TriggerAuthenticationSpec;
}

/** Annotations KEDA users already put on ScaledObjects. */
export const PAUSED_ANNOTATION = 'autoscaling.keda.sh/paused';
export const PAUSED_REPLICAS_ANNOTATION = 'autoscaling.keda.sh/paused-replicas';
/** The label the HPA's External metric selector carries, as KEDA's does. */
export const SCALED_OBJECT_LABEL = 'scaledobject.keda.sh/name';
export const FINALIZER = 'finalizer.keda.sh';
