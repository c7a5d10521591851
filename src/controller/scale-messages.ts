// The text of the Events the controller records when it writes replicas itself. A user reading
// `kubectl describe so` should see why without our logs: from and to, the cause, and the trigger
// reading behind it.

export interface ScaleEventTrigger {
  index: number;
  type: string;
  metricName: string;
  value?: number;
  threshold?: number;
}

const REASON_PHRASES: Record<string, string> = {
  Activated: 'a trigger became active',
  CooledDown: 'no trigger was active for the cooldown period',
  BelowMinimum: 'the target was below minReplicaCount',
  Fallback: 'triggers keep failing, so fallback.replicas applies',
  PausedReplicas: 'the paused-replicas annotation asks for this count',
  Restored: 'the ScaledObject was deleted and restoreToOriginalReplicaCount is set',
};

export function scaleEventMessage(args: { from: number; to: number; reason: string; trigger?: ScaleEventTrigger }): string {
  const direction = args.to > args.from ? 'Scaled up' : args.to < args.from ? 'Scaled down' : 'Scaled';
  const cause = REASON_PHRASES[args.reason] ?? args.reason;
  let message = `${direction} from ${args.from} to ${args.to}: ${cause}`;
  const trigger = args.trigger;
  if (trigger !== undefined) {
    message += `; trigger ${trigger.index} (${trigger.type}, metric ${trigger.metricName})`;
    if (trigger.value !== undefined) message += ` read ${formatNumber(trigger.value)}`;
    if (trigger.threshold !== undefined) message += ` against threshold ${formatNumber(trigger.threshold)}`;
  }
  return message;
}

/** Six significant digits: enough to compare with a threshold, without float noise like 0.30000000000000004. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(6)));
}
