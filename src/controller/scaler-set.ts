// The scalers of each ScaledObject. Parsing is pure and runs every reconcile (it is where metadata
// errors surface); building opens pools, so a ScaledObject keeps its scalers while the parsed
// inputs (metadata, resolved credentials, environment) hash the same, and only a change replaces
// them: the new set is registered with the MetricCache first, then the old one is closed.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Fallback, ScaledObject } from '../api/types.js';
import type { MetricCache } from '../metric-cache/metric-cache.js';
import type { RegisteredScaledObject, RegisteredTrigger } from '../metric-cache/types.js';
import { findScalerType, knownScalerTypes } from '../scalers/registry.js';
import {
  ScalerConfigError,
  type DataSourceObserver,
  type MetricSpec,
  type Scaler,
  type ScalerType,
  type TriggerInput,
} from '../scalers/scaler.js';
import { scalingSettings } from '../api/defaults.js';
import { readsContainerEnv } from './credentials.js';
import { metricNameProblem } from './object-names.js';

export interface ParsedTrigger {
  index: number;
  /** KEDA's `scaler` label: the trigger's name, or the type's KEDA scaler name. */
  scalerName: string;
  type: ScalerType<unknown>;
  config: unknown;
  input: TriggerInput;
  useCachedMetrics: boolean;
}

export interface ResolvedTriggerCredentials {
  authParams: Readonly<Record<string, string>>;
  resolvedEnv: Readonly<Record<string, string>>;
}

export function pollingIntervalMs(so: ScaledObject): number {
  return scalingSettings(so.spec).pollingIntervalSeconds * 1000;
}

/** Validates every trigger through its type's parse; throws ScalerConfigError naming the field. */
export function parseTriggers(so: ScaledObject, credentials: readonly ResolvedTriggerCredentials[]): ParsedTrigger[] {
  return so.spec.triggers.map((trigger, index) => {
    const type = scalerTypeOf(trigger.type, index);
    const input = triggerInput(so, index, credentials[index] ?? NO_CREDENTIALS);
    const config = type.parse(input);
    refuseLongMetricNames(type, config, index);
    return { index, scalerName: trigger.name ?? type.kedaScalerName, type, config, input, useCachedMetrics: trigger.useCachedMetrics ?? false };
  });
}

/**
 * parseTriggers for the admission webhook, which reads no credentials: a trigger that takes none (no
 * authenticationRef, no `*FromEnv`) gets the very parse reconcile gives it; one that does is checked
 * only for what its credentials cannot change (ScalerType.checkWithoutCredentials), the rest at reconcile.
 */
export function checkTriggersWithoutCredentials(so: ScaledObject): void {
  so.spec.triggers.forEach((trigger, index) => {
    const type = scalerTypeOf(trigger.type, index);
    const input = triggerInput(so, index, NO_CREDENTIALS);
    if (trigger.authenticationRef !== undefined || readsContainerEnv(trigger)) type.checkWithoutCredentials?.(input);
    else refuseLongMetricNames(type, type.parse(input), index);
  });
}

/** A ScalerConfigError as the user reads it: scalers write messages that already start with the field; others get it in front. */
export function scalerConfigMessage(error: ScalerConfigError): string {
  return error.message.startsWith(error.field) ? error.message : `${error.field}: ${error.message}`;
}

const NO_CREDENTIALS: ResolvedTriggerCredentials = { authParams: {}, resolvedEnv: {} };

function scalerTypeOf(name: string, index: number): ScalerType<unknown> {
  const type = findScalerType(name);
  if (!type) {
    throw new ScalerConfigError(
      `triggers[${index}].type`,
      `unknown trigger type "${name}"; this autoscaler knows: ${knownScalerTypes().join(', ')}.`,
    );
  }
  return type;
}

function triggerInput(so: ScaledObject, index: number, credentials: ResolvedTriggerCredentials): TriggerInput {
  const trigger = so.spec.triggers[index]!;
  return {
    namespace: so.metadata.namespace ?? 'default',
    scaledObjectName: so.metadata.name,
    triggerIndex: index,
    metadata: trigger.metadata ?? {},
    authParams: credentials.authParams,
    resolvedEnv: credentials.resolvedEnv,
    metricType: trigger.metricType ?? 'AverageValue',
    pollingIntervalMs: pollingIntervalMs(so),
  };
}

function refuseLongMetricNames(type: ScalerType<unknown>, config: unknown, index: number): void {
  for (const spec of type.metricSpecs(config)) {
    const problem = metricNameProblem(index, spec.metricName);
    if (problem !== undefined) throw new ScalerConfigError(`triggers[${index}]`, problem);
  }
}

interface Held {
  hash: string;
  triggers: RegisteredTrigger[];
}

export class ScalerSets {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly metricCache: MetricCache,
    private readonly logger: Logger,
    /** Hears what the scalers' data sources do (queries sent, readings shared), for /metrics. */
    private readonly observer?: DataSourceObserver,
  ) {}

  /** Registers the ScaledObject's scalers with the cache, building new ones only when inputs changed. */
  async apply(
    namespace: string,
    name: string,
    parsed: readonly ParsedTrigger[],
    options: { pollingIntervalMs: number; fallback?: Fallback },
  ): Promise<readonly MetricSpec[]> {
    const key = `${namespace}/${name}`;
    const hash = inputsHash(parsed);
    const previous = this.held.get(key);
    let triggers = previous?.triggers;
    if (!previous || previous.hash !== hash) {
      const built: RegisteredTrigger[] = [];
      try {
        for (const p of parsed) {
          const scaler: Scaler = p.type.create(p.config, p.input, this.observer);
          for (const spec of scaler.metricSpecs) {
            built.push({ triggerIndex: p.index, scalerName: p.scalerName, spec, scaler, useCachedMetrics: p.useCachedMetrics });
          }
          if (scaler.metricSpecs.length === 0) await scaler.close();
        }
      } catch (error) {
        await closeAll(uniqueScalers(built), this.logger, key);
        throw error;
      }
      triggers = built;
    }
    const entry: RegisteredScaledObject = {
      namespace,
      name,
      pollingIntervalMs: options.pollingIntervalMs,
      ...(options.fallback !== undefined && { fallback: options.fallback }),
      triggers: triggers ?? [],
    };
    try {
      this.metricCache.register(entry);
    } catch (error) {
      if (triggers !== previous?.triggers) await closeAll(uniqueScalers(triggers ?? []), this.logger, key);
      throw error;
    }
    if (previous && triggers !== previous.triggers) {
      this.logger.info({ scaledObject: key }, 'trigger inputs changed: scalers rebuilt');
      await closeAll(uniqueScalers(previous.triggers), this.logger, key);
    }
    this.held.set(key, { hash, triggers: triggers ?? [] });
    return (triggers ?? []).map((t) => t.spec);
  }

  has(namespace: string, name: string): boolean {
    return this.held.has(`${namespace}/${name}`);
  }

  /** Unregisters and closes the ScaledObject's scalers; a no-op for one that holds none. */
  async remove(namespace: string, name: string): Promise<void> {
    const key = `${namespace}/${name}`;
    const held = this.held.get(key);
    this.metricCache.unregister(namespace, name);
    if (!held) return;
    this.held.delete(key);
    await closeAll(uniqueScalers(held.triggers), this.logger, key);
  }

  async closeAll(): Promise<void> {
    const keys = [...this.held.keys()];
    for (const key of keys) {
      const [namespace = '', name = ''] = key.split('/');
      await this.remove(namespace, name);
    }
  }
}

// A hash, never the inputs themselves: they hold passwords.
function inputsHash(parsed: readonly ParsedTrigger[]): string {
  const hash = createHash('sha256');
  for (const p of parsed) {
    hash.update(JSON.stringify([p.type.type, p.scalerName, p.useCachedMetrics, p.input, sortedEntries(p.input.authParams), sortedEntries(p.input.resolvedEnv)]));
  }
  return hash.digest('hex');
}

function sortedEntries(record: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

function uniqueScalers(triggers: readonly RegisteredTrigger[]): Scaler[] {
  return [...new Set(triggers.map((t) => t.scaler))];
}

async function closeAll(scalers: readonly Scaler[], logger: Logger, key: string): Promise<void> {
  const results = await Promise.allSettled(scalers.map((s) => s.close()));
  for (const result of results) {
    if (result.status === 'rejected') logger.warn({ scaledObject: key, err: result.reason }, 'closing a scaler failed');
  }
}
