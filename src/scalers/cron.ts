// KEDA's cron scaler: between `start` and `end` (cron expressions in `timezone`) the metric is
// desiredReplicas and the trigger is active; outside it the metric is 0 and the trigger inactive,
// so the HPA falls back to minReplicaCount (and KEDA's idle logic to idleReplicaCount or 0).
// The metric target is 1 per pod, so the HPA asks for exactly desiredReplicas pods.

import { parse as parseCronFields, validateDetailed } from 'node-cron';
import { ScalerConfigError, ScalerError, type MetricSpec, type Scaler, type ScalerType, type TriggerInput } from './scaler.js';
import { metricNameWithIndex } from './metric-name.js';

export interface CronConfig {
  timezone: string;
  start: string;
  end: string;
  desiredReplicas: number;
  metricName: string;
  targetType: 'AverageValue' | 'Value';
}

const CRON_FORMAT = 'minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"';
const TIMEZONE_EXAMPLE = 'an IANA time zone such as Etc/UTC or Europe/Berlin';

export const cronScalerType: ScalerType<CronConfig> = {
  type: 'cron',
  kedaScalerName: 'cronScaler',
  parse: parseCronConfig,
  metricSpecs: cronMetricSpecs,
  // A cron trigger reads no credentials: the whole parse holds at admission too.
  checkWithoutCredentials: (input) => void parseCronConfig(input),
  create: (config) => createCronScaler(config),
};

// Target 1 (per pod for AverageValue): a metric of desiredReplicas then asks the HPA for exactly
// desiredReplicas pods, as KEDA's cron scaler does.
export function cronMetricSpecs(config: CronConfig): MetricSpec[] {
  return [{ metricName: config.metricName, targetType: config.targetType, targetValue: 1 }];
}

export function parseCronConfig(input: TriggerInput): CronConfig {
  const field = (name: string): string => `triggers[${input.triggerIndex}].metadata.${name}`;
  const required = (name: string, what: string): string => {
    const value = input.metadata[name]?.trim() ?? '';
    if (value === '') throw new ScalerConfigError(field(name), `is required: ${what}`);
    return value;
  };
  if (input.metricType === 'Utilization') {
    throw new ScalerConfigError(
      `triggers[${input.triggerIndex}].metricType`,
      'Utilization is only for cpu and memory triggers; use AverageValue (the default) or Value',
    );
  }
  const timezone = required('timezone', TIMEZONE_EXAMPLE);
  if (!isTimeZone(timezone)) {
    throw new ScalerConfigError(field('timezone'), `"${timezone}" is not a time zone; use ${TIMEZONE_EXAMPLE}`);
  }
  const start = required('start', `a cron expression with 5 fields: ${CRON_FORMAT}`);
  const startProblem = cronExpressionProblem(start);
  if (startProblem !== undefined) throw new ScalerConfigError(field('start'), startProblem);
  const end = required('end', `a cron expression with 5 fields: ${CRON_FORMAT}`);
  const endProblem = cronExpressionProblem(end);
  if (endProblem !== undefined) throw new ScalerConfigError(field('end'), endProblem);
  if (start === end) {
    throw new ScalerConfigError(field('end'), `must differ from start ("${start}"), or the window never opens`);
  }
  const replicasText = required('desiredReplicas', 'a positive whole number of replicas such as "10"');
  const desiredReplicas = Number(replicasText);
  if (!/^[0-9]+$/.test(replicasText) || desiredReplicas < 1 || desiredReplicas > 2 ** 31 - 1) {
    throw new ScalerConfigError(
      field('desiredReplicas'),
      `must be a positive whole number of replicas such as "10"; got "${replicasText}"`,
    );
  }
  const metricName = cronMetricName(input.triggerIndex, timezone, start, end);
  return { timezone, start, end, desiredReplicas, metricName, targetType: input.metricType };
}

/** Builds the scaler; `now` is injectable so tests can stand anywhere in the week. */
export function createCronScaler(config: CronConfig, now: () => Date = () => new Date()): Scaler {
  return {
    metricSpecs: cronMetricSpecs(config),
    metricsAndActivity: (signal) => {
      if (signal.aborted) return Promise.reject(new ScalerError('Aborted', `cron ${config.metricName}: read aborted`));
      const { inside } = cronWindowState(config.start, config.end, config.timezone, now());
      return Promise.resolve({
        samples: [{ metricName: config.metricName, value: inside ? config.desiredReplicas : 0 }],
        active: inside,
      });
    },
    close: () => Promise.resolve(),
  };
}

/** KEDA's metric name: `s<index>-cron-<timezone>-<start>-<end>` with cron symbols spelled out. */
export function cronMetricName(triggerIndex: number, timezone: string, start: string, end: string): string {
  const spelled = (expr: string): string =>
    expr.replace(/ /g, '').replace(/\*/g, 'x').replace(/\//g, 'Sl').replace(/\?/g, 'Qm').replace(/,/g, 'Cm');
  return metricNameWithIndex(triggerIndex, `cron-${timezone}-${spelled(start)}-${spelled(end)}`);
}

/** Why `expr` is not a 5-field cron expression KEDA would accept, or undefined when it is one. */
export function cronExpressionProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `"${expr}" has ${fields.length} field(s); use 5 (no seconds): ${CRON_FORMAT}`;
  }
  const detailed = validateDetailed(expr);
  if (!detailed.valid) {
    const where = detailed.errors.map((e) => `${e.field} "${e.value ?? ''}"`).join(', ');
    return `"${expr}" is not a valid cron expression (${where} out of range or malformed); use ${CRON_FORMAT}`;
  }
  const parsed = parseCronFields(expr);
  if ([...parsed.dayOfMonth, ...parsed.dayOfWeek].some((v) => typeof v !== 'number')) {
    return `"${expr}" uses L, W or # which KEDA's cron scaler does not accept; use ${CRON_FORMAT}`;
  }
  return undefined;
}

export interface CronWindowState {
  /** The most recent start is later than the most recent end. */
  inside: boolean;
  /** Most recent start, wall clock in the time zone (`2024-03-04 06:00`), if any in the last 8 years. */
  lastStart: string | undefined;
  lastEnd: string | undefined;
}

/**
 * Whether `now` falls in the window that opens at each `start` and closes at each `end`, both read
 * in `timezone`. A window whose end is earlier in the day than its start crosses midnight. Times
 * compare by wall clock, so in the hour a DST change repeats the answer may be off by that hour.
 */
export function cronWindowState(start: string, end: string, timezone: string, now: Date): CronWindowState {
  const local = wallClock(now, timezone);
  const lastStart = lastMatch(scheduleOf(start), local);
  const lastEnd = lastMatch(scheduleOf(end), local);
  const inside = lastStart !== undefined && (lastEnd === undefined || lastStart.key > lastEnd.key);
  return { inside, lastStart: lastStart?.text, lastEnd: lastEnd?.text };
}

interface Schedule {
  minutes: number[];
  hours: number[];
  daysOfMonth: Set<number>;
  months: Set<number>;
  daysOfWeek: Set<number>;
  /** Cron's rule: when both day fields are restricted a day matches either; otherwise both. */
  eitherDay: boolean;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

function scheduleOf(expr: string): Schedule {
  const problem = cronExpressionProblem(expr);
  if (problem !== undefined) throw new Error(problem);
  const parsed = parseCronFields(expr);
  const [, , domText = '*', , dowText = '*'] = expr.trim().split(/\s+/);
  const restricted = (text: string): boolean => !/^[*?]/.test(text);
  return {
    minutes: [...parsed.minute].sort((a, b) => b - a),
    hours: [...parsed.hour].sort((a, b) => b - a),
    daysOfMonth: new Set(parsed.dayOfMonth as number[]),
    months: new Set(parsed.month),
    daysOfWeek: new Set((parsed.dayOfWeek as number[]).map((d) => d % 7)),
    eitherDay: restricted(domText) && restricted(dowText),
  };
}

// Long enough for "29 February" schedules across a century year that is not a leap year.
const MAX_DAYS_BACK = 8 * 366;

/** The latest minute at or before `now` (wall clock) that `schedule` matches. */
function lastMatch(schedule: Schedule, now: WallClock): { key: number; text: string } | undefined {
  for (let back = 0; back <= MAX_DAYS_BACK; back++) {
    const date = new Date(Date.UTC(now.year, now.month - 1, now.day - back));
    const month = date.getUTCMonth() + 1;
    const day = date.getUTCDate();
    if (!schedule.months.has(month)) continue;
    const domMatch = schedule.daysOfMonth.has(day);
    const dowMatch = schedule.daysOfWeek.has(date.getUTCDay());
    if (schedule.eitherDay ? !(domMatch || dowMatch) : !(domMatch && dowMatch)) continue;
    const latest = back === 0 ? now.hour * 60 + now.minute : 24 * 60 - 1;
    for (const hour of schedule.hours) {
      const minute = schedule.minutes.find((m) => hour * 60 + m <= latest);
      if (minute === undefined) continue;
      const year = date.getUTCFullYear();
      const key = ((year * 100 + month) * 100 + day) * 10000 + hour * 100 + minute;
      const text = `${year}-${pad(month)}-${pad(day)} ${pad(hour)}:${pad(minute)}`;
      return { key, text };
    }
  }
  return undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(now: Date, timezone: string): WallClock {
  let formatter = formatters.get(timezone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timezone, formatter);
  }
  const parts = Object.fromEntries(formatter.formatToParts(now).map((p) => [p.type, p.value]));
  const part = (type: string): number => Number(parts[type]);
  return { year: part('year'), month: part('month'), day: part('day'), hour: part('hour'), minute: part('minute') };
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
