// What the controller itself writes to the target's /scale after a poll. The HPA scales between
// max(minReplicaCount, 1) and maxReplicaCount; it cannot scale from or to 0 and knows nothing of
// idleReplicaCount or cooldownPeriod, so those moves are ours. Modelled on KEDA's scale executor
// (pkg/scaling/executor/scale_scaledobjects.go, RequestScale) with two deliberate differences:
//
// 1. Fallback at zero. KEDA serves fallback values through the metrics API, which the HPA never
//    reads while the target sits at 0 (it disables itself there), so a target at 0 stays at 0
//    through an outage however `fallback` is set. We scale it to fallback.replicas instead, which is
//    what `fallback` promises: "when you cannot measure, run this many".
// 2. initialCooldownPeriod. KEDA only honours it until the first activation; we never scale in
//    before createdAt + initialCooldownPeriod, as its documentation describes.
//
// As in KEDA, a poll with a failed trigger never scales in: a database outage must not look like
// an empty queue. Unlike KEDA, it does not block raising a target to minReplicaCount either.

export interface ScaleDecisionInput {
  currentReplicas: number;
  minReplicaCount: number;
  maxReplicaCount: number;
  idleReplicaCount?: number;
  cooldownPeriodSeconds: number;
  initialCooldownPeriodSeconds: number;
  active: boolean;
  /** every trigger failed this poll */
  allFailed: boolean;
  /** Some trigger failed this poll; defaults to allFailed. Any failure blocks scale-in, as in KEDA. */
  anyFailed?: boolean;
  fallback?: { replicas: number };
  fallbackActive: boolean;
  lastActiveTime?: Date;
  createdAt: Date;
  now: Date;
}

export type ScaleDecision =
  | {
      action: 'none';
      /** Set while inactive and waiting out the cooldown: when scale-in would happen (for requeueAfter and the Active condition). */
      coolingDownUntil?: Date;
    }
  | { action: 'scale'; to: number; reason: 'Activated' | 'CooledDown' | 'BelowMinimum' | 'Fallback'; detail: string };


/** The HPA's minReplicas: the HPA cannot hold 0 replicas, so 0 (scale to zero) becomes 1. */
export function hpaMinReplicas(minReplicaCount: number): number {
  return Math.max(minReplicaCount, 1);
}

export function decideScale(input: ScaleDecisionInput): ScaleDecision {
  const { currentReplicas: current, minReplicaCount: min, maxReplicaCount: max, idleReplicaCount: idle } = input;
  const floor = hpaMinReplicas(min);

  if (input.active) {
    if (current === 0 || (idle !== undefined && current < min)) {
      return {
        action: 'scale',
        to: floor,
        reason: 'Activated',
        detail: `a trigger is active and the target is at ${current} replicas; scaling to ${floor} so the HPA takes over`,
      };
    }
    // Between the HPA's bounds: its job, not ours.
    return { action: 'none' };
  }

  if (input.fallbackActive && input.fallback !== undefined && current === 0 && input.fallback.replicas > 0) {
    return fallbackScale(input.fallback.replicas, floor, max);
  }
  // Raising a target to its minimum is safe whatever the triggers say, so failures do not block it.
  if (idle === undefined && current < min) {
    return {
      action: 'scale',
      to: min,
      reason: 'BelowMinimum',
      detail: `the target has ${current} replicas, fewer than minReplicaCount ${min}`,
    };
  }
  if (input.anyFailed ?? input.allFailed) return { action: 'none' };

  if ((idle !== undefined && current > idle) || (current > 0 && min === 0)) {
    const to = idle ?? min;
    const target = idle !== undefined ? `idleReplicaCount ${to}` : `minReplicaCount ${to}`;
    const initialEnd = addSeconds(input.createdAt, input.initialCooldownPeriodSeconds);
    const cooldownEnd =
      input.lastActiveTime !== undefined ? addSeconds(input.lastActiveTime, input.cooldownPeriodSeconds) : undefined;
    const readyAt = cooldownEnd !== undefined && cooldownEnd > initialEnd ? cooldownEnd : initialEnd;
    // Strictly after, as KEDA's `Before(now)`: at the instant itself we still wait.
    if (readyAt.getTime() >= input.now.getTime()) return { action: 'none', coolingDownUntil: readyAt };
    const since =
      input.lastActiveTime !== undefined
        ? `since ${input.lastActiveTime.toISOString()} and cooldownPeriod ${input.cooldownPeriodSeconds}s has passed`
        : `since the ScaledObject was created at ${input.createdAt.toISOString()} and initialCooldownPeriod ${input.initialCooldownPeriodSeconds}s has passed`;
    return {
      action: 'scale',
      to,
      reason: 'CooledDown',
      detail: `no trigger has been active ${since}; scaling in to ${target}`,
    };
  }

  return { action: 'none' };
}

function fallbackScale(replicas: number, floor: number, max: number): ScaleDecision {
  const to = Math.min(Math.max(replicas, floor), max);
  const bound = to > replicas ? ` (raised to the HPA's minimum ${to})` : to < replicas ? ` (capped at maxReplicaCount ${max})` : '';
  return {
    action: 'scale',
    to,
    reason: 'Fallback',
    detail:
      `fallback is in force because triggers keep failing, and the HPA cannot scale a target at 0 replicas; ` +
      `scaling to fallback.replicas ${replicas}${bound}`,
  };
}

function addSeconds(at: Date, seconds: number): Date {
  return new Date(at.getTime() + seconds * 1_000);
}
