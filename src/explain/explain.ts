// `queryscaler explain`: one ScaledObject, read from the cluster or from files, taken through the
// controller's own code (validation, credential resolution, trigger parsing, the scalers, one read
// through a MetricCache as a poll does), and what the HPA would make of the value. The facts come
// from a ScaledObjectSource (sources.ts); what is printed from renderExplanation (render.ts).
import type { Logger } from 'pino';
import { scalingSettings, type ScalingSettings } from '../api/defaults.js';
import { formatProblems, validateScaledObject } from '../api/validation.js';
import type { HpaBehavior, ScaledObject } from '../api/types.js';
import type { ContainerSpec } from '../controller/credentials.js';
import { hpaName } from '../controller/desired-hpa.js';
import { pauseState, type PauseState } from '../controller/pause.js';
import { decideScale, hpaMinReplicas } from '../controller/scale-decision.js';
import { parseTriggers, pollingIntervalMs, ScalerSets, type ParsedTrigger, type ResolvedTriggerCredentials } from '../controller/scaler-set.js';
import { MetricCache } from '../metric-cache/metric-cache.js';
import type { PollOutcome, TriggerReading } from '../metric-cache/types.js';
import { ScalerConfigError, type MetricSpec } from '../scalers/scaler.js';
import { hpaReplicas, type ExternalMetric, type HpaOutcome, type ReplicaCounts } from './hpa-replicas.js';

/** What a script can tell from the exit code. */
export const EXIT_CODES = {
  ok: 0,
  /** A bug or an environment failure nothing else covers. */
  internal: 1,
  /** The command line is wrong: a flag, a value, a file that cannot be read or parsed. */
  usage: 2,
  /** The ScaledObject, its target or its credentials are missing or invalid. */
  invalid: 3,
  /** A trigger's read failed: the database refused, timed out, or returned no number. */
  queryFailed: 4,
  /** The Kubernetes API could not be reached or refused a read. */
  cluster: 5,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export class ExplainError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'ExplainError';
  }
}

export interface TargetFacts {
  kind: string;
  namespace: string;
  name: string;
  /** /scale spec.replicas. */
  specReplicas: number;
  /** /scale status.replicas: the pods there are. */
  statusReplicas: number;
  /** Running and Ready pods, counted only when a Value trigger needs them. */
  readyPods?: number;
  /** Where a count was assumed rather than read, said so in the output. */
  assumptions: string[];
}

export interface TargetWithContainers extends TargetFacts {
  /** The pod template's containers, whose environment `*FromEnv` parameters read. */
  containers: ContainerSpec[];
}

/** Where explain reads a ScaledObject and everything it points at: the cluster, or files. */
export interface ScaledObjectSource {
  /** The ScaledObject as written; throws ExplainError (invalid) when it is not there. */
  scaledObject(): Promise<ScaledObject>;
  target(so: ScaledObject, needReadyPods: boolean): Promise<TargetWithContainers>;
  /** Resolves every trigger's credentials with the controller's code; throws ExplainError (invalid) naming the field. */
  credentials(so: ScaledObject, target: TargetWithContainers): Promise<ResolvedTriggerCredentials[]>;
  /** What the HPA in the cluster says now, when there is one. */
  hpaStatus?(namespace: string, name: string): Promise<{ currentReplicas?: number; desiredReplicas?: number } | undefined>;
  close(): void;
}

export interface WhatIf {
  triggerIndex: number;
  /** Candidates as the user wrote them; each is checked by the trigger type's own parse. */
  queryValues: string[];
  activationQueryValues: string[];
}

export interface TriggerExplanation {
  index: number;
  type: string;
  spec: MetricSpec;
  query?: string;
  /** The activation threshold the trigger reads (activationQueryValue, default 0). */
  activation?: number;
  reading?: TriggerReading;
}

export interface WhatIfRow {
  queryValue: number;
  activationQueryValue: number;
  active: boolean;
  /** What the controller and the HPA together settle on from the current count; see replicasFor. */
  replicas: number;
  note: string;
  current: boolean;
}

export interface Explanation {
  so: ScaledObject;
  settings: ScalingSettings;
  pause: PauseState;
  target: TargetFacts;
  hpa: { name: string; minReplicas: number; maxReplicas: number; behavior?: HpaBehavior; status?: { currentReplicas?: number; desiredReplicas?: number } };
  triggers: TriggerExplanation[];
  active: boolean;
  /** What queryscaler itself would write to /scale now (activation, minimum, cooldown), if anything. */
  controllerStep?: ControllerStep;
  /** What the HPA recommends at the current count, or at the count the controller step leads to. */
  outcome: HpaOutcome;
  /** The count the outcome was computed at. */
  computedAt: number;
  whatIf?: { triggerIndex: number; value?: number; rows: WhatIfRow[] };
}

/** One of queryscaler's own moves: to max(min, 1) when a trigger activates, up to minReplicaCount, or down after cooldown. */
export interface ControllerStep {
  to: number;
  reason: 'Activated' | 'BelowMinimum' | 'CooledDown';
}

/**
 * What the controller's decideScale would do at `current` replicas with the triggers `active`,
 * for an object created long ago and not seen active since: a cooldown is then due, which the
 * output words as "once cooldownPeriod has passed since the last active poll".
 */
export function controllerStep(so: ScaledObject, current: number, active: boolean): ControllerStep | undefined {
  const settings = scalingSettings(so.spec);
  const createdAt = new Date(0);
  const decision = decideScale({
    currentReplicas: current,
    minReplicaCount: settings.minReplicaCount,
    maxReplicaCount: settings.maxReplicaCount,
    ...(so.spec.idleReplicaCount !== undefined && { idleReplicaCount: so.spec.idleReplicaCount }),
    cooldownPeriodSeconds: settings.cooldownPeriodSeconds,
    initialCooldownPeriodSeconds: settings.initialCooldownPeriodSeconds,
    active,
    allFailed: false,
    fallbackActive: false,
    createdAt,
    now: new Date(createdAt.getTime() + (settings.cooldownPeriodSeconds + settings.initialCooldownPeriodSeconds + 1) * 1000),
  });
  if (decision.action !== 'scale' || decision.reason === 'Fallback') return undefined;
  return { to: decision.to, reason: decision.reason };
}

/** The count the HPA works from: where the controller's step leads, unless it leads down after a cooldown. */
function hpaStart(current: number, step: ControllerStep | undefined): number {
  return step !== undefined && step.reason !== 'CooledDown' ? step.to : current;
}

export interface ExplainOptions {
  whatIf?: WhatIf;
  /** Overrides the target's replica count: "what if it had N". */
  currentReplicas?: number;
  logger: Logger;
}

export async function explainScaledObject(source: ScaledObjectSource, options: ExplainOptions): Promise<Explanation> {
  const so = await source.scaledObject();
  const validated = validateScaledObject(so);
  if (!validated.ok) throw new ExplainError(EXIT_CODES.invalid, `ScaledObject ${objectName(so)} is invalid: ${formatProblems(validated.problems)}`);
  const pause = pauseState(so.metadata.annotations);
  if (pause.kind === 'invalid') throw new ExplainError(EXIT_CODES.invalid, `ScaledObject ${objectName(so)}: ${pause.message}`);
  const settings = scalingSettings(so.spec);
  const needsReadyPods = so.spec.triggers.some((t) => t.metricType === 'Value');
  const targetFacts = await source.target(so, needsReadyPods);
  const target: TargetFacts = { ...targetFacts, assumptions: [...targetFacts.assumptions] };
  if (options.currentReplicas !== undefined) {
    target.specReplicas = options.currentReplicas;
    target.statusReplicas = options.currentReplicas;
    target.readyPods = options.currentReplicas;
    target.assumptions = [`${options.currentReplicas} replicas as --current-replicas says (pods assumed ready)`];
  }
  const credentials = await source.credentials(so, targetFacts);
  const parsed = parseOrExplain(so, credentials);
  const whatIf = options.whatIf && whatIfCandidates(so, credentials, parsed, options.whatIf);

  // The controller's path for one poll: scalers built and registered as reconcile does, read as a poll does.
  const metricCache = new MetricCache();
  const scalerSets = new ScalerSets(metricCache, options.logger);
  const namespace = so.metadata.namespace ?? 'default';
  let polled: { specs: readonly MetricSpec[]; outcome: PollOutcome | undefined };
  try {
    const specs = await scalerSets.apply(namespace, so.metadata.name, parsed, { pollingIntervalMs: pollingIntervalMs(so) });
    polled = { specs, outcome: await metricCache.poll(namespace, so.metadata.name, new AbortController().signal) };
  } finally {
    await scalerSets.closeAll();
    metricCache.close();
  }
  const { specs } = polled;
  const readings = polled.outcome?.readings ?? [];
  const active = polled.outcome?.active ?? false;

  const triggers: TriggerExplanation[] = readings.map((reading) => {
    const p = parsed.find((candidate) => candidate.index === reading.triggerIndex);
    const spec = specs.find((candidate) => candidate.metricName === reading.metricName);
    const { query, activationQueryValue } = thresholdsOf(p);
    return {
      index: reading.triggerIndex,
      type: p?.type.type ?? '',
      spec: spec ?? { metricName: reading.metricName, targetType: 'AverageValue', targetValue: 0 },
      ...(query !== undefined && { query }),
      ...(activationQueryValue !== undefined && { activation: activationQueryValue }),
      reading,
    };
  });
  const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  const hpa = {
    name: hpaName(so),
    minReplicas: hpaMinReplicas(settings.minReplicaCount),
    maxReplicas: settings.maxReplicaCount,
    ...(behavior !== undefined && { behavior }),
  };
  const status = await source.hpaStatus?.(namespace, hpa.name);
  const step = pause.kind === 'none' ? controllerStep(so, target.specReplicas, active) : undefined;
  const computedAt = hpaStart(target.specReplicas, step);
  const metrics = triggers.map((t) => metricOf(t));
  const explanation: Explanation = {
    so,
    settings,
    pause,
    target,
    hpa: { ...hpa, ...(status !== undefined && { status }) },
    triggers,
    active,
    ...(step !== undefined && { controllerStep: step }),
    computedAt,
    outcome: hpaReplicas({ ...countsAt(target, computedAt), minReplicas: hpa.minReplicas, maxReplicas: hpa.maxReplicas, ...(behavior !== undefined && { behavior }), metrics }),
  };
  if (whatIf !== undefined) explanation.whatIf = whatIfTable(explanation, whatIf);
  const failed = triggers.filter((t) => t.reading?.error !== undefined);
  if (failed.length > 0) throw new QueryFailed(explanation, failed);
  return explanation;
}

/** A read failed: the explanation so far goes with it, so the user sees what was resolved. */
export class QueryFailed extends ExplainError {
  constructor(
    readonly explanation: Explanation,
    failed: readonly TriggerExplanation[],
  ) {
    super(EXIT_CODES.queryFailed, failed.map((t) => `triggers[${t.index}] (metric ${t.spec.metricName}): ${t.reading?.error?.message ?? ''}`).join('\n'));
    this.name = 'QueryFailed';
  }
}

function parseOrExplain(so: ScaledObject, credentials: readonly ResolvedTriggerCredentials[]): ParsedTrigger[] {
  try {
    return parseTriggers(so, credentials);
  } catch (error) {
    if (!(error instanceof ScalerConfigError)) throw error;
    // As reconcile words it: scalers' messages already start with the field, others get it in front.
    const message = error.message.startsWith(error.field) ? error.message : `${error.field}: ${error.message}`;
    throw new ExplainError(EXIT_CODES.invalid, `ScaledObject ${objectName(so)}: ${message}`);
  }
}

/**
 * The query and thresholds a trigger type parsed (mysql's queryValue, activationQueryValue and the
 * query as checked and sent), read from its config: only the type knows its config's shape, so
 * fields of another shape are absent and the what-if refuses such a trigger.
 */
function thresholdsOf(p: ParsedTrigger | undefined): { query?: string; queryValue?: number; activationQueryValue?: number } {
  const config = (p?.config ?? {}) as { query?: unknown; queryValue?: unknown; activationQueryValue?: unknown };
  return {
    ...(typeof config.query === 'string' && { query: config.query }),
    ...(typeof config.queryValue === 'number' && { queryValue: config.queryValue }),
    ...(typeof config.activationQueryValue === 'number' && { activationQueryValue: config.activationQueryValue }),
  };
}

function metricOf(t: TriggerExplanation, target = t.spec.targetValue): ExternalMetric {
  return { targetType: t.spec.targetType === 'Value' ? 'Value' : 'AverageValue', target, value: t.reading?.value ?? 0 };
}

function countsAt(target: TargetFacts, replicas: number): ReplicaCounts {
  if (replicas === target.specReplicas) {
    return { specReplicas: replicas, statusReplicas: target.statusReplicas, readyPods: target.readyPods ?? target.statusReplicas };
  }
  // Activating from 0: the pods queryscaler asks for are assumed to be there.
  return { specReplicas: replicas, statusReplicas: replicas, readyPods: replicas };
}

interface Candidates {
  triggerIndex: number;
  queryValues: number[];
  activationQueryValues: number[];
}

/** Checks every candidate with the trigger type's own parse, so a bad one reads as the controller would say it. */
function whatIfCandidates(so: ScaledObject, credentials: readonly ResolvedTriggerCredentials[], parsed: readonly ParsedTrigger[], whatIf: WhatIf): Candidates {
  const trigger = so.spec.triggers[whatIf.triggerIndex];
  if (trigger === undefined) {
    throw new ExplainError(EXIT_CODES.usage, `--trigger ${whatIf.triggerIndex}: ScaledObject ${objectName(so)} has ${so.spec.triggers.length} trigger(s), triggers[0] to triggers[${so.spec.triggers.length - 1}]`);
  }
  const current = thresholdsOf(parsed.find((p) => p.index === whatIf.triggerIndex));
  if (current.queryValue === undefined || current.activationQueryValue === undefined) {
    throw new ExplainError(
      EXIT_CODES.usage,
      `--query-value and --activation-query-value apply to a trigger that reads queryValue and activationQueryValue (mysql); triggers[${whatIf.triggerIndex}] is a ${trigger.type} trigger`,
    );
  }
  const check = (parameter: 'queryValue' | 'activationQueryValue', text: string): number => {
    const changed: ScaledObject = structuredClone(so);
    const metadata = changed.spec.triggers[whatIf.triggerIndex]?.metadata;
    if (metadata !== undefined) metadata[parameter] = text;
    try {
      parseTriggers(changed, credentials);
    } catch (error) {
      if (!(error instanceof ScalerConfigError)) throw error;
      throw new ExplainError(EXIT_CODES.usage, `--${parameter === 'queryValue' ? 'query-value' : 'activation-query-value'} ${text}: ${error.message}`);
    }
    return Number(text);
  };
  return {
    triggerIndex: whatIf.triggerIndex,
    queryValues: whatIf.queryValues.length > 0 ? whatIf.queryValues.map((q) => check('queryValue', q)) : [current.queryValue],
    activationQueryValues: whatIf.activationQueryValues.length > 0 ? whatIf.activationQueryValues.map((a) => check('activationQueryValue', a)) : [current.activationQueryValue],
  };
}

function whatIfTable(explanation: Explanation, candidates: Candidates): NonNullable<Explanation['whatIf']> {
  const trigger = explanation.triggers.find((t) => t.index === candidates.triggerIndex);
  const value = trigger?.reading?.value;
  const rows: WhatIfRow[] = [];
  for (const queryValue of candidates.queryValues) {
    for (const activationQueryValue of candidates.activationQueryValues) {
      const active = explanation.triggers.some((t) => (t.index === candidates.triggerIndex ? (value ?? 0) > activationQueryValue : t.reading?.active === true));
      const { replicas, note } = replicasFor(explanation, candidates.triggerIndex, queryValue, active);
      rows.push({
        queryValue,
        activationQueryValue,
        active,
        replicas,
        note,
        current: queryValue === trigger?.spec.targetValue && activationQueryValue === trigger.activation,
      });
    }
  }
  return { triggerIndex: candidates.triggerIndex, ...(value !== undefined && { value }), rows };
}

/**
 * Where the target settles with trigger `index` at target `queryValue`: the controller's own step
 * first (activation, minimum, or to 0 after the cooldown, which is where it ends), then the HPA's
 * recommendation from there; a target at 0 that nothing activates stays there.
 */
export function replicasFor(explanation: Explanation, index: number, queryValue: number, active: boolean): { replicas: number; note: string } {
  const { target, hpa, settings } = explanation;
  if (explanation.pause.kind !== 'none') return { replicas: target.specReplicas, note: 'paused' };
  const step = controllerStep(explanation.so, target.specReplicas, active);
  if (step?.reason === 'CooledDown') return { replicas: step.to, note: `after cooldownPeriod ${settings.cooldownPeriodSeconds} s` };
  const at = hpaStart(target.specReplicas, step);
  if (at === 0) return { replicas: 0, note: 'stays: inactive' };
  const outcome = hpaReplicas({
    ...countsAt(target, at),
    minReplicas: hpa.minReplicas,
    maxReplicas: hpa.maxReplicas,
    ...(hpa.behavior !== undefined && { behavior: hpa.behavior }),
    metrics: explanation.triggers.map((t) => metricOf(t, t.index === index ? queryValue : t.spec.targetValue)),
  });
  const notes: string[] = [];
  if (step?.reason === 'Activated') notes.push(`activated to ${at} first`);
  if (step?.reason === 'BelowMinimum') notes.push(`raised to minReplicaCount ${at} first`);
  if (outcome.kind !== 'disabled' && outcome.bound !== undefined) notes.push(`${outcome.bound} ${outcome.replicas}`);
  return { replicas: outcome.kind === 'disabled' ? 0 : outcome.replicas, note: notes.join('; ') };
}

export function objectName(so: ScaledObject): string {
  return `${so.metadata.namespace ?? 'default'}/${so.metadata.name}`;
}
