// KEDA's defaults for the ScaledObject fields users may leave out, in one place: validation,
// the HPA, the scale decisions and the poll loop must all read a missing field the same way.
import type { ScaledObjectSpec } from './types.js';

export const DEFAULT_MIN_REPLICA_COUNT = 0;
export const DEFAULT_MAX_REPLICA_COUNT = 100;
export const DEFAULT_COOLDOWN_PERIOD_SECONDS = 300;
export const DEFAULT_INITIAL_COOLDOWN_PERIOD_SECONDS = 0;
export const DEFAULT_POLLING_INTERVAL_SECONDS = 30;

export interface ScalingSettings {
  minReplicaCount: number;
  maxReplicaCount: number;
  cooldownPeriodSeconds: number;
  initialCooldownPeriodSeconds: number;
  pollingIntervalSeconds: number;
}

export function scalingSettings(spec: ScaledObjectSpec): ScalingSettings {
  return {
    minReplicaCount: spec.minReplicaCount ?? DEFAULT_MIN_REPLICA_COUNT,
    maxReplicaCount: spec.maxReplicaCount ?? DEFAULT_MAX_REPLICA_COUNT,
    cooldownPeriodSeconds: spec.cooldownPeriod ?? DEFAULT_COOLDOWN_PERIOD_SECONDS,
    initialCooldownPeriodSeconds: spec.initialCooldownPeriod ?? DEFAULT_INITIAL_COOLDOWN_PERIOD_SECONDS,
    pollingIntervalSeconds: spec.pollingInterval ?? DEFAULT_POLLING_INTERVAL_SECONDS,
  };
}
