// One poll of one ScaledObject, run by the PollScheduler every pollingInterval: read the triggers
// through the MetricCache, let decideScale say what the controller itself must do to /scale
// (activate from zero, cool down to zero, fallback), do it with an Event that says why, and let the
// status follow. The HPA does the 1..N scaling on its own from the metrics API.
import { involved, splitKey, writeStatus, type ControllerContext } from './context.js';
import { decideScale } from './scale-decision.js';
import { lastActiveFromStatus } from './status.js';
import { scaleEventMessage } from './scale-messages.js';
import { ScaleTargetError } from './scale-target.js';
import { scalingSettings } from '../api/defaults.js';

/**
 * How long a poll trusts the /scale it last saw. Replicas change under us only by the HPA (never to
 * or from 0, so never in a way a poll acts on) or by hand; every reconcile (at least every resync)
 * reads it afresh.
 */
export const SCALE_MEMORY_MS = 60_000;

/** How long after a cooldown's end the extra poll runs: past the instant, which still waits. */
const COOLDOWN_RECHECK_SLACK_MS = 5;

const SCALE_EVENT_REASONS: Record<string, string> = {
  Activated: 'KEDAScaleTargetActivated',
  CooledDown: 'KEDAScaleTargetDeactivated',
  BelowMinimum: 'KEDAScaleTargetBelowMinimum',
  Fallback: 'KEDAScaleTargetFallback',
};

export async function pollOnce(context: ControllerContext, key: string, signal: AbortSignal): Promise<void> {
  const { namespace, name } = splitKey(key);
  const state = context.states.get(key);
  const so = context.caches.scaledObjects.get(namespace, name);
  if (!state?.target || !so || state.paused.paused || so.metadata.deletionTimestamp) return;
  try {
    // Activity is what the data said when the poll began, not when the answer arrived: cooldown
    // counts from there, as KEDA's does from its poll, so a read's latency does not delay scale-in.
    const startedAt = context.now();
    const outcome = await context.metricCache.poll(namespace, name, signal);
    if (!outcome) return;
    const now = context.now();
    const previous = state.activity;
    const lastSeenActive = outcome.active ? startedAt : (previous?.lastSeenActive ?? lastActiveFromStatus(so.status, now));
    const first = outcome.readings[0];
    const allFailed = outcome.readings.length > 0 && outcome.readings.every((r) => r.error !== undefined);
    context.metrics.setFallbackActive(namespace, name, outcome.fallbackActive);
    state.activity = {
      active: outcome.active,
      fallbackActive: outcome.fallbackActive,
      ...(lastSeenActive !== undefined && { lastSeenActive }),
      health: context.metricCache.health(namespace, name)?.health ?? {},
      ...(first?.value !== undefined && { firstValue: first.value, readAt: first.readAt }),
      failures: outcome.readings.filter((r) => r.error).map((r) => `triggers[${r.triggerIndex}] (metric ${r.metricName}): ${r.error?.message ?? ''}`),
      allFailed,
      accountAudits: outcome.readings.flatMap((r) => (r.accountAudit ? [{ trigger: `triggers[${r.triggerIndex}]`, audit: r.accountAudit }] : [])),
    };
    // Grants stay as they are for as long as the pool lives: say it when it is first seen or changes,
    // not every poll, so a steady object costs no API writes.
    const warnedBefore = new Set((previous?.accountAudits ?? []).map(({ trigger, audit }) => `${trigger}: ${audit.excessMessage ?? ''}`));
    for (const { trigger, audit } of state.activity.accountAudits ?? []) {
      const message = `${trigger}: ${audit.excessMessage ?? ''}`;
      if (audit.excessMessage !== undefined && !warnedBefore.has(message)) {
        await context.events.record(involved(so), 'Warning', 'TriggerAccountExcessPrivileges', message);
        context.logger.warn({ scaledObject: key, reason: 'TriggerAccountExcessPrivileges', warning: message }, 'guard rail');
      }
    }
    for (const reading of outcome.readings) {
      if (!reading.error) continue;
      await context.events.record(
        involved(so),
        'Warning',
        'KEDAScalerFailed',
        `triggers[${reading.triggerIndex}] (metric ${reading.metricName}): ${reading.error.message}`,
      );
    }

    const target = state.target;
    const settings = scalingSettings(so.spec);
    const decide = (currentReplicas: number) => decideScale({
      currentReplicas,
      minReplicaCount: settings.minReplicaCount,
      maxReplicaCount: settings.maxReplicaCount,
      ...(so.spec.idleReplicaCount !== undefined && { idleReplicaCount: so.spec.idleReplicaCount }),
      cooldownPeriodSeconds: settings.cooldownPeriodSeconds,
      initialCooldownPeriodSeconds: settings.initialCooldownPeriodSeconds,
      active: outcome.active,
      allFailed,
      // One trigger failing while the others read inactive must not cool the target down.
      anyFailed: outcome.readings.some((r) => r.error !== undefined),
      ...(so.spec.fallback !== undefined && { fallback: { replicas: so.spec.fallback.replicas } }),
      fallbackActive: outcome.fallbackActive,
      ...(lastSeenActive !== undefined && { lastActiveTime: lastSeenActive }),
      createdAt: parseTime(so.metadata.creationTimestamp) ?? now,
      now,
    });
    // Decided on the remembered /scale (no GET per poll); a write is decided again on a fresh read.
    let scale = await context.targets.getScale(target, signal, SCALE_MEMORY_MS);
    let decision = decide(scale.replicas);
    if (decision.action === 'scale') {
      scale = await context.targets.getScale(target, signal);
      decision = decide(scale.replicas);
    }
    if (decision.action === 'none' && decision.coolingDownUntil !== undefined) {
      // Due before the next tick, perhaps: come back then (a few ms after, as the comparison is strict).
      context.polls.pollAt(key, decision.coolingDownUntil.getTime() - now.getTime() + COOLDOWN_RECHECK_SLACK_MS);
    }
    if (decision.action === 'scale') {
      await context.targets.setReplicas(target, decision.to, signal);
      const trigger = so.spec.triggers[first?.triggerIndex ?? 0];
      await context.events.record(
        involved(so),
        'Normal',
        SCALE_EVENT_REASONS[decision.reason] ?? decision.reason,
        scaleEventMessage({
          from: scale.replicas,
          to: decision.to,
          reason: decision.detail,
          ...(first &&
            trigger && {
              trigger: {
                index: first.triggerIndex,
                type: trigger.type,
                metricName: first.metricName,
                ...(first.value !== undefined && { value: first.value }),
              },
            }),
        }),
      );
      context.logger.info({ scaledObject: key, from: scale.replicas, to: decision.to, reason: decision.reason }, 'scaled target');
    }
    await writeStatus(context, key, signal);
  } catch (error) {
    if (signal.aborted) return;
    if (error instanceof ScaleTargetError) {
      // The target vanished between reconciles: let reconcile say so in the status.
      context.enqueue(key);
      return;
    }
    context.logger.warn({ scaledObject: key, err: error instanceof Error ? error.message : String(error) }, 'poll failed');
  }
}

function parseTime(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const time = new Date(text);
  return Number.isNaN(time.getTime()) ? undefined : time;
}
