// What `queryscaler explain` prints: the facts, the HPA's arithmetic for each trigger, where the
// replicas go and why, and the what-if table. Pure: an Explanation in, text out.
import { PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION, type HpaScalingPolicy } from '../api/types.js';
import { effectiveBehavior, milliUnits, nextStep, scaleDownWindowSeconds, tolerances, type MetricProposal } from './hpa-replicas.js';
import { objectName, type Explanation, type TriggerExplanation } from './explain.js';

const LABEL_WIDTH = 13;

function line(label: string, text: string): string {
  return `  ${label.padEnd(LABEL_WIDTH)}${text}`;
}

/** A number as a person writes it: 17, 2.5, 0.333. */
export function formatNumber(n: number): string {
  return String(Number(n.toPrecision(12)));
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function renderExplanation(e: Explanation): string {
  const out: string[] = [`ScaledObject ${objectName(e.so)}`];
  const { target, hpa, settings } = e;
  out.push(line('target', `${target.kind} ${target.namespace}/${target.name} at ${plural(target.specReplicas, 'replica')} (${plural(target.statusReplicas, 'pod')})`));
  for (const assumption of target.assumptions) out.push(line('assumed', assumption));
  out.push(line('HPA', `${hpa.name}: ${hpa.minReplicas} to ${hpa.maxReplicas} replicas (minReplicaCount ${settings.minReplicaCount}, maxReplicaCount ${settings.maxReplicaCount})`));
  if (hpa.status !== undefined) {
    out.push(line('HPA now', `current ${hpa.status.currentReplicas ?? '-'}, desired ${hpa.status.desiredReplicas ?? '-'}`));
  }
  const t = tolerances(hpa.behavior);
  out.push(
    line(
      'tolerance',
      t.scaleUp === t.scaleDown
        ? `${formatNumber(t.scaleUp)}: a usage ratio from ${formatNumber(1 - t.scaleDown)} to ${formatNumber(1 + t.scaleUp)} keeps the count`
        : `down ${formatNumber(t.scaleDown)}, up ${formatNumber(t.scaleUp)}: a usage ratio from ${formatNumber(1 - t.scaleDown)} to ${formatNumber(1 + t.scaleUp)} keeps the count`,
    ),
  );
  out.push(...behaviorLines(e));
  out.push(line('polling', `every ${settings.pollingIntervalSeconds} s; cooldownPeriod ${settings.cooldownPeriodSeconds} s`));
  if (e.pause.kind === 'paused') out.push(line('paused', `annotation ${PAUSED_ANNOTATION}: no HPA, the target stays at ${target.specReplicas}`));
  if (e.pause.kind === 'paused-replicas') out.push(line('paused', `annotation ${PAUSED_REPLICAS_ANNOTATION}: no HPA, the target is held at ${e.pause.replicas}`));

  for (const trigger of e.triggers) out.push('', ...triggerLines(e, trigger));
  // Without every value there is nothing to compute replicas from; the error says why.
  if (e.triggers.every((tr) => tr.reading?.value !== undefined)) {
    out.push('', 'Replicas', ...replicaLines(e));
    if (e.whatIf !== undefined) out.push('', ...whatIfLines(e));
  }
  return `${out.join('\n')}\n`;
}

function behaviorLines(e: Explanation): string[] {
  const rules = effectiveBehavior(e.hpa.behavior);
  if (rules === undefined) {
    return [
      line('scale up', `at once; at most to max(2 x current, 4) per sync (no behavior set)`),
      line('scale down', `after ${scaleDownWindowSeconds(undefined)} s of lower recommendations (the controller's default stabilization window)`),
    ];
  }
  const policies = (sign: '+' | '-', list: readonly HpaScalingPolicy[], select: string): string => {
    if (select === 'Disabled') return 'never (selectPolicy Disabled)';
    if (list.length === 0) return 'no policy allows a step';
    const each = list.map((p) => `${sign}${p.type === 'Pods' ? plural(p.value, 'pod') : `${p.value} %`} per ${p.periodSeconds} s`);
    if (each.length === 1) return `at most ${each[0] ?? ''}`;
    return `at most ${each.join(' or ')}, whichever is ${select === 'Min' ? 'less' : 'more'} (selectPolicy ${select})`;
  };
  const window = (seconds: number, direction: string): string => (seconds === 0 ? 'at once' : `after ${seconds} s of ${direction} recommendations (stabilization window)`);
  return [
    line('scale up', `${window(rules.scaleUp.stabilizationWindowSeconds, 'higher')}; ${policies('+', rules.scaleUp.policies, rules.scaleUp.selectPolicy)}`),
    line('scale down', `${window(rules.scaleDown.stabilizationWindowSeconds, 'lower')}; ${policies('-', rules.scaleDown.policies, rules.scaleDown.selectPolicy)}`),
  ];
}

function triggerLines(e: Explanation, trigger: TriggerExplanation): string[] {
  const { spec, reading } = trigger;
  const per = spec.targetType === 'Value' ? 'in total' : 'per pod';
  const out = [`triggers[${trigger.index}] ${trigger.type}: metric ${spec.metricName}, ${spec.targetType} target ${formatNumber(spec.targetValue)} ${per}`];
  if (trigger.query !== undefined) out.push(line('query', trigger.query));
  if (reading?.error !== undefined) {
    out.push(line('value', `none: ${reading.error.reason}: ${reading.error.message}`));
    return out;
  }
  const value = reading?.value ?? 0;
  out.push(line('value', formatNumber(value)));
  out.push(
    line(
      'active',
      trigger.activation === undefined
        ? reading?.active === true ? 'yes' : 'no'
        : reading?.active === true
          ? `yes: ${formatNumber(value)} > activationQueryValue ${formatNumber(trigger.activation)}`
          : `no: ${formatNumber(value)} <= activationQueryValue ${formatNumber(trigger.activation)}`,
    ),
  );
  if (reading?.accountAudit?.excessMessage !== undefined) out.push(line('account', reading.accountAudit.excessMessage));
  const proposal = e.outcome.kind === 'metrics' ? e.outcome.proposals[e.triggers.indexOf(trigger)] : undefined;
  if (proposal !== undefined) out.push(line('HPA', proposalText(e, trigger, proposal)));
  return out;
}

/** The HPA's arithmetic for one metric, with the numbers it used (values in milli-units, as it reads them). */
function proposalText(e: Explanation, trigger: TriggerExplanation, p: MetricProposal): string {
  const value = formatNumber(milliUnits(trigger.reading?.value ?? 0) / 1000);
  const target = formatNumber(milliUnits(trigger.spec.targetValue) / 1000);
  const counts = e.computedAt === e.target.specReplicas ? e.target : { statusReplicas: e.computedAt, readyPods: e.computedAt, specReplicas: e.computedAt };
  const ratio = p.usageRatio.toFixed(2);
  if (trigger.spec.targetType === 'Value') {
    const ready = counts.readyPods ?? counts.statusReplicas;
    if (p.withinTolerance) return `usage ratio ${value} / ${target} = ${ratio}: within tolerance, keeps ${p.replicas}`;
    return `usage ratio ${value} / ${target} = ${ratio}, x ${plural(ready, 'ready pod')}: ${p.replicas}`;
  }
  const usage = `${value} / (${target} x ${plural(counts.statusReplicas, 'pod')}) = ${ratio}`;
  if (p.withinTolerance) return `usage ratio ${usage}: within tolerance, keeps ${p.replicas}`;
  return `usage ratio ${usage}: ceil(${value} / ${target}) = ${p.replicas}`;
}

function replicaLines(e: Explanation): string[] {
  const { target, hpa, settings, outcome } = e;
  const current = target.specReplicas;
  if (e.pause.kind !== 'none') {
    return [`  paused: queryscaler neither polls for scaling nor keeps an HPA; the target stays at ${e.pause.kind === 'paused-replicas' ? e.pause.replicas : current}`];
  }
  const out: string[] = [];
  const step = e.controllerStep;
  if (step?.reason === 'Activated') {
    out.push(`  a trigger is active and the target is at ${plural(current, 'replica')}: queryscaler scales it to ${step.to} at the next poll, and the HPA takes over`);
  }
  if (step?.reason === 'BelowMinimum') {
    out.push(`  the target has fewer replicas than minReplicaCount ${settings.minReplicaCount}: queryscaler scales it to ${step.to} at the next poll`);
  }
  if (current === 0 && step === undefined) {
    return [`  the target is at 0 replicas and no trigger is active: it stays at 0 until one is (the HPA does not scale from 0)`];
  }
  const at = e.computedAt;
  if (outcome.kind === 'out-of-bounds') {
    out.push(`  ${plural(at, 'replica')} is ${outcome.bound === 'maxReplicas' ? 'above maxReplicas' : 'below minReplicas'} ${outcome.replicas}: the HPA scales to ${outcome.replicas} without reading the metrics`);
  } else if (outcome.kind === 'metrics') {
    const capped = outcome.bound === undefined ? '' : ` (${outcome.recommended}, ${outcome.bound === 'maxReplicas' ? 'capped at maxReplicas' : 'raised to minReplicas'} ${outcome.replicas})`;
    const head = `  the HPA recommends ${outcome.replicas}${capped} at ${plural(at, 'replica')}`;
    if (outcome.replicas === at) {
      out.push(`${head}: ${at === current ? 'that is the count now' : 'it stays there'}`);
    } else {
      const next = nextStep(at, outcome.replicas, hpa, hpa.behavior);
      const steps = next === outcome.replicas ? 'in one step' : `first to ${next}, as far as the policies allow in one period, then on to ${outcome.replicas}`;
      if (outcome.replicas > at) {
        out.push(`${head}: it scales up ${steps}`);
      } else {
        const windowSeconds = effectiveBehavior(hpa.behavior)?.scaleDown.stabilizationWindowSeconds ?? scaleDownWindowSeconds(undefined);
        const wait = windowSeconds === 0 ? '' : ` once every recommendation of the last ${windowSeconds} s is this low`;
        out.push(`${head}: it scales down${wait}, ${steps}`);
      }
    }
  }
  if (step?.reason === 'CooledDown') {
    const to = e.so.spec.idleReplicaCount === undefined ? '0' : `idleReplicaCount ${step.to}`;
    out.push(`  no trigger is active: queryscaler scales the target to ${to} once cooldownPeriod ${settings.cooldownPeriodSeconds} s has passed since the last active poll`);
  }
  return out;
}

function whatIfLines(e: Explanation): string[] {
  const whatIf = e.whatIf;
  if (whatIf === undefined) return [];
  const value = `value ${formatNumber(whatIf.value ?? 0)}`;
  const header = ['queryValue', 'activationQueryValue', 'active', 'replicas', ''];
  const rows = whatIf.rows.map((r) => [
    formatNumber(r.queryValue),
    formatNumber(r.activationQueryValue),
    r.active ? 'yes' : 'no',
    String(r.replicas),
    [r.current ? 'as now' : '', r.note].filter((text) => text !== '').join('; '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]): string => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 2))).join('')}`.trimEnd();
  return [`What if (triggers[${whatIf.triggerIndex}] at ${value}, from ${plural(e.target.specReplicas, 'replica')}): replicas after queryscaler's next poll and the HPA's next sync`, format(header), ...rows.map(format)];
}
