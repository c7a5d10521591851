// The status a ScaledObject should show, as a pure function of what the controller knows, and the
// merge patch that gets the observed status there. Conditions keep their lastTransitionTime while
// their status holds; lastActiveTime and lastMetricTime move only when what they describe moves, so
// a poll every second does not become a status write every second.
import type { Condition, ConditionStatus, ConditionType, ScaledObjectStatus, TriggerHealth } from '../api/types.js';
import { toQuantity } from '../quantity.js';
import type { AccountAudit } from '../scalers/scaler.js';

export interface ConditionValue {
  status: ConditionStatus;
  reason: string;
  message: string;
}

export const READY_MESSAGE = 'ScaledObject is defined correctly and is ready for scaling';

/** What the latest poll saw; absent until the first poll of this process. */
export interface ActivityInput {
  active: boolean;
  fallbackActive: boolean;
  /** The last time this process saw a trigger active (kept in memory, updated every poll). */
  lastSeenActive?: Date;
  health: Record<string, TriggerHealth>;
  /** The first trigger's newest value, when its read succeeded. */
  firstValue?: number;
  readAt?: Date;
  /** Triggers whose latest read failed, each as `triggers[i] (metric m): what went wrong`. */
  failures?: string[];
  /** Every trigger's latest read failed: nobody, the HPA included, knows the metric now. */
  allFailed?: boolean;
  /** Audits of the triggers' database accounts that this poll could report, each with its trigger. */
  accountAudits?: Array<{ trigger: string; audit: AccountAudit }>;
}

export const TRIGGER_ERROR_MESSAGE = 'Triggers defined in ScaledObject are not working correctly';
export const PARTIAL_TRIGGER_ERROR_MESSAGE = 'Some triggers defined in ScaledObject are not working correctly';

export interface StatusInput {
  observed: ScaledObjectStatus | undefined;
  now: Date;
  ready: ConditionValue;
  paused: { paused: false } | { paused: true; replicas?: number };
  activity?: ActivityInput;
  target?: { kind: string; gvkr: { group: string; version: string; kind: string; resource: string } };
  hpaName?: string;
  externalMetricNames?: string[];
  /** The target's replicas as seen now; becomes originalReplicaCount if none is recorded yet. */
  currentReplicas?: number;
}

/** KEDA's conditions, always present; LeastPrivilege follows them when there is something to say. */
const CONDITION_ORDER = ['Ready', 'Active', 'Fallback', 'Paused'] as const;

export function desiredStatus(input: StatusInput): ScaledObjectStatus {
  const { observed, now, activity } = input;
  const wanted: Record<(typeof CONDITION_ORDER)[number], ConditionValue> = {
    Ready: readyWithTriggers(input.ready, activity),
    Active: activity
      ? activity.allFailed === true
        ? {
            status: 'Unknown',
            reason: 'TriggerError',
            message: activity.fallbackActive
              ? 'No trigger could be read, so whether they are active is unknown; the HPA scales on the fallback replicas'
              : 'No trigger could be read, so whether they are active is unknown; the HPA cannot read its metric and keeps the current replica count'
          }
        : activity.active
        ? { status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because triggers are active' }
        : { status: 'False', reason: 'ScalerNotActive', message: 'Scaling is not performed because triggers are not active' }
      : keptOrUnknown(observed, 'Active'),
    Fallback: activity
      ? activity.fallbackActive
        ? { status: 'True', reason: 'FallbackExists', message: 'At least one trigger is falling back on this scaled object' }
        : { status: 'False', reason: 'NoFallbackFound', message: 'No fallbacks are active on this scaled object' }
      : keptOrUnknown(observed, 'Fallback'),
    Paused: input.paused.paused
      ? { status: 'True', reason: 'ScaledObjectPaused', message: pausedMessage(input.paused.replicas) }
      : { status: 'False', reason: 'ScaledObjectNotPaused', message: 'ScaledObject is not paused' },
  };
  const status: ScaledObjectStatus = {
    conditions: CONDITION_ORDER.map((type) => condition(type, wanted[type], observed, now)),
  };
  const leastPrivilege = leastPrivilegeCondition(activity?.accountAudits) ?? kept(observed, 'LeastPrivilege');
  if (leastPrivilege !== undefined) status.conditions!.push(condition('LeastPrivilege', leastPrivilege, observed, now));

  const target = input.target;
  if (target) {
    status.scaleTargetKind = target.kind;
    status.scaleTargetGVKR = target.gvkr;
  } else {
    copy(observed, status, 'scaleTargetKind');
    copy(observed, status, 'scaleTargetGVKR');
  }
  const original = observed?.originalReplicaCount ?? input.currentReplicas;
  if (original !== undefined) status.originalReplicaCount = original;
  if (input.hpaName !== undefined) status.hpaName = input.hpaName;
  else copy(observed, status, 'hpaName');
  if (input.externalMetricNames !== undefined) status.externalMetricNames = input.externalMetricNames;
  else copy(observed, status, 'externalMetricNames');
  if (input.paused.paused && input.paused.replicas !== undefined) status.pausedReplicaCount = input.paused.replicas;

  const value = valueColumn(input);
  if (value !== undefined) status.value = value;

  const lastActive = lastActiveTime(observed, activity, now);
  if (lastActive !== undefined) status.lastActiveTime = lastActive;

  if (activity) {
    status.health = activity.health;
    const value = activity.firstValue === undefined ? observed?.lastMetricValue : toQuantity(activity.firstValue);
    if (value !== undefined) status.lastMetricValue = value;
    const time =
      value !== observed?.lastMetricValue && activity.firstValue !== undefined
        ? (activity.readAt ?? now).toISOString()
        : observed?.lastMetricTime;
    if (time !== undefined) status.lastMetricTime = time;
  } else {
    copy(observed, status, 'health');
    copy(observed, status, 'lastMetricValue');
    copy(observed, status, 'lastMetricTime');
  }
  return status;
}

/**
 * What the VALUE column shows: the first trigger's value while it is current, and otherwise a word
 * that says why there is none, never the last good number as if it were current (that stays in
 * lastMetricValue, with lastMetricTime). Kept from the status until this process's first poll.
 */
function valueColumn(input: StatusInput): string | undefined {
  const { activity } = input;
  if (input.paused.paused) return 'paused';
  if (activity === undefined) return input.ready.status === 'True' ? input.observed?.value : 'not ready';
  if (activity.firstValue !== undefined) return toQuantity(activity.firstValue);
  return (activity.failures ?? []).length > 0 ? 'failing' : input.observed?.value;
}

/**
 * lastActiveTime is what cooldown counts from. It is written when activity flips: on
 * inactive -> active (now), and on active -> inactive (the last poll that saw it active, which is
 * where cooldown starts). In between it stays, so an active object does not rewrite it every poll.
 */
function lastActiveTime(observed: ScaledObjectStatus | undefined, activity: ActivityInput | undefined, now: Date): string | undefined {
  if (!activity) return observed?.lastActiveTime;
  const wasActive = observed?.conditions?.find((c) => c.type === 'Active')?.status === 'True';
  if (activity.active && (!wasActive || observed?.lastActiveTime === undefined)) return now.toISOString();
  if (!activity.active && wasActive) return (activity.lastSeenActive ?? now).toISOString();
  return observed?.lastActiveTime;
}

/**
 * Ready as reconcile decided it, unless the latest poll could not read the triggers: then, as in
 * KEDA, False when none could be read (the HPA is left without a metric; with fallback in force it
 * scales on the fallback, which is still ready) and Unknown when some could not. The message names
 * what failed, so the user sees the fix in `kubectl get so` without reading the Events.
 */
function readyWithTriggers(ready: ConditionValue, activity: ActivityInput | undefined): ConditionValue {
  const failures = activity?.failures ?? [];
  if (ready.status !== 'True' || activity === undefined || failures.length === 0) return ready;
  if (activity.allFailed === true) {
    if (activity.fallbackActive) return ready;
    return { status: 'False', reason: 'TriggerError', message: `${TRIGGER_ERROR_MESSAGE}: ${failures.join('; ')}` };
  }
  return { status: 'Unknown', reason: 'PartialTriggerError', message: `${PARTIAL_TRIGGER_ERROR_MESSAGE}: ${failures.join('; ')}` };
}

/**
 * Whether every audited trigger account can only read. Absent until some trigger's account could
 * be audited (a cron trigger has none): an object shows the condition only where it says something.
 */
function leastPrivilegeCondition(audits: ActivityInput['accountAudits']): ConditionValue | undefined {
  if (audits === undefined || audits.length === 0) return undefined;
  const excessive = audits.filter(({ audit }) => audit.excessMessage !== undefined);
  if (excessive.length === 0) {
    return { status: 'True', reason: 'SelectOnly', message: `The trigger accounts (${[...new Set(audits.map(({ audit }) => audit.account))].join(', ')}) can only read` };
  }
  return { status: 'False', reason: 'ExcessPrivileges', message: excessive.map(({ trigger, audit }) => `${trigger}: ${audit.excessMessage}`).join('; ') };
}

function kept(observed: ScaledObjectStatus | undefined, type: ConditionType): ConditionValue | undefined {
  const found = observed?.conditions?.find((c) => c.type === type);
  return found && { status: found.status, reason: found.reason ?? '', message: found.message ?? '' };
}

function pausedMessage(replicas: number | undefined): string {
  return replicas === undefined ? 'ScaledObject is paused' : `ScaledObject is paused at ${replicas} replicas`;
}

function keptOrUnknown(observed: ScaledObjectStatus | undefined, type: ConditionType): ConditionValue {
  const found = observed?.conditions?.find((c) => c.type === type);
  if (found) return { status: found.status, reason: found.reason ?? '', message: found.message ?? '' };
  return { status: 'Unknown', reason: 'NotObservedYet', message: 'No poll has completed yet' };
}

function condition(type: ConditionType, value: ConditionValue, observed: ScaledObjectStatus | undefined, now: Date): Condition {
  const previous = observed?.conditions?.find((c) => c.type === type);
  const lastTransitionTime =
    previous?.status === value.status && previous.lastTransitionTime !== undefined ? previous.lastTransitionTime : now.toISOString();
  return { type, status: value.status, reason: value.reason, message: value.message, lastTransitionTime };
}

function copy<K extends keyof ScaledObjectStatus>(from: ScaledObjectStatus | undefined, to: ScaledObjectStatus, key: K): void {
  if (from?.[key] !== undefined) to[key] = from[key];
}

/**
 * How often a status whose only change is a growing health.numberOfFailures is written. In an
 * outage every failing poll adds one; written each time, 300 ScaledObjects polling every second
 * would send 300 status writes a second. Conditions, a trigger turning Failing or Happy, and every
 * other field are written at once; only the count waits.
 */
export const FAILURE_COUNT_WRITE_INTERVAL_MS = 600_000;

/** True when `desired` differs from `observed` in nothing but health.*.numberOfFailures. */
export function onlyFailureCountsChanged(observed: ScaledObjectStatus | undefined, desired: ScaledObjectStatus): boolean {
  if (observed?.health === undefined || desired.health === undefined) return false;
  const withoutCounts = (status: ScaledObjectStatus): ScaledObjectStatus => ({
    ...status,
    health: Object.fromEntries(Object.entries(status.health ?? {}).map(([metric, h]) => [metric, { ...h, numberOfFailures: 0 }])),
  });
  return statusPatch(withoutCounts(observed), withoutCounts(desired)) === undefined;
}

/**
 * A JSON merge patch for `.status` that turns `observed` into `desired`, or undefined when they
 * already agree (so nothing is sent). A merge patch merges maps, so a key the desired status drops,
 * at any depth (a metric gone from `health`), is sent as null; lists (conditions) are replaced whole.
 */
export function statusPatch(
  observed: ScaledObjectStatus | undefined,
  desired: ScaledObjectStatus,
): Record<string, unknown> | undefined {
  const patch = mergePatch(observed ?? {}, desired);
  return isPlainObject(patch) && Object.keys(patch).length > 0 ? patch : undefined;
}

function mergePatch(before: unknown, after: unknown): unknown {
  if (canonical(before) === canonical(after)) return undefined;
  if (!isPlainObject(before) || !isPlainObject(after)) return after ?? null;
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const changed = mergePatch(before[key], after[key]);
    if (changed !== undefined) patch[key] = changed;
  }
  return patch;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  ) ?? 'undefined';
}

/**
 * The first poll after a start or a pause knows only the status. status.lastActiveTime is when the
 * object last became inactive, or, while Active=True, when it became active, which can be long ago:
 * counting cooldown from then would scale in at once. An object that was active as far as the
 * status knows counts as active until now.
 */
export function lastActiveFromStatus(status: ScaledObjectStatus | undefined, now: Date): Date | undefined {
  const active = status?.conditions?.find((c) => c.type === 'Active')?.status === 'True';
  if (active) return now;
  const written = status?.lastActiveTime === undefined ? undefined : new Date(status.lastActiveTime);
  return written === undefined || Number.isNaN(written.getTime()) ? undefined : written;
}
