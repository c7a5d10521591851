// Validates keda.sh objects against the CRD schemas in crds/ (through ajv, so there is one source of
// truth) and against the cross-field rules KEDA's admission webhook enforces. Each problem names the
// field as the user wrote it and says how to fix it; the controller puts them in the Ready condition.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import {
  KEDA_API_VERSION,
  PAUSED_REPLICAS_ANNOTATION,
  type ScaledObject,
  type TriggerAuthentication,
} from './types.js';
import { openApiSchema, type KedaKind, type OpenApiV3Schema } from './schema.js';
import { DEFAULT_MAX_REPLICA_COUNT, DEFAULT_MIN_REPLICA_COUNT } from './defaults.js';

export interface Problem {
  /** The field as the user wrote it, e.g. `spec.triggers[0].metricType`. */
  field: string;
  /** What is wrong and what to do about it. */
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** KEDA's defaults, which the replica-count rules compare against when a field is left out. */

/** Kinds that need no apiVersion because KEDA knows where they are served. */
const KNOWN_SCALE_TARGETS: Readonly<Record<string, string>> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  ReplicationController: 'v1',
};

/** KEDA rejects useCachedMetrics for these: their value is computed, never queried. */
const UNCACHEABLE_TRIGGER_TYPES = new Set(['cpu', 'memory', 'cron']);
const RESOURCE_TRIGGER_TYPES = new Set(['cpu', 'memory']);

const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/**
 * The CRD schema as ajv reads it. Kubernetes prunes or rejects fields a structural schema does not
 * declare; JSON Schema allows them. So every declared object is closed, except where the CRD says
 * x-kubernetes-preserve-unknown-fields. The x-kubernetes-* keywords themselves mean nothing to ajv.
 */
export function toAjvSchema(schema: OpenApiV3Schema): OpenApiV3Schema {
  const out: OpenApiV3Schema = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword.startsWith('x-kubernetes-')) continue;
    if (keyword === 'properties' && isRecord(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, toAjvSchema(sub as OpenApiV3Schema)]),
      );
    } else if ((keyword === 'items' || keyword === 'additionalProperties') && isRecord(value)) {
      out[keyword] = toAjvSchema(value as OpenApiV3Schema);
    } else if (keyword === 'anyOf' && Array.isArray(value)) {
      out.anyOf = value.map((sub: OpenApiV3Schema) => toAjvSchema(sub));
    } else {
      out[keyword] = value;
    }
  }
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (schema.properties !== undefined && schema.additionalProperties === undefined && !open) {
    out.additionalProperties = false;
  }
  return out;
}

let ajv: Ajv | undefined;
const validators = new Map<KedaKind, ValidateFunction>();

function validatorFor(kind: KedaKind): ValidateFunction {
  let validate = validators.get(kind);
  if (validate === undefined) {
    // verbose: errors carry the offending value and schema, which the messages quote.
    // strictTypes off: the CRD's int-or-string fields put `pattern` beside an anyOf of types, which is
    // valid JSON Schema that strictTypes would refuse.
    ajv ??= formats.default(new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false }));
    validate = ajv.compile(toAjvSchema(openApiSchema(kind)));
    validators.set(kind, validate);
  }
  return validate;
}

/** Checks a ScaledObject against its CRD schema and KEDA's admission rules. */
export function validateScaledObject(obj: unknown): Validated<ScaledObject> {
  const envelope = envelopeProblems(obj, ['ScaledObject']);
  if (envelope.length > 0) return { ok: false, problems: envelope };
  const validate = validatorFor('ScaledObject');
  if (!validate(obj)) return { ok: false, problems: schemaProblems(validate.errors ?? []) };
  const so = obj as ScaledObject;
  const problems = scaledObjectRuleProblems(so);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: so };
}

/** Checks a TriggerAuthentication or ClusterTriggerAuthentication against its CRD schema. */
export function validateTriggerAuthentication(obj: unknown): Validated<TriggerAuthentication> {
  const envelope = envelopeProblems(obj, ['TriggerAuthentication', 'ClusterTriggerAuthentication']);
  if (envelope.length > 0) return { ok: false, problems: envelope };
  const kind = (obj as { kind: 'TriggerAuthentication' | 'ClusterTriggerAuthentication' }).kind;
  const validate = validatorFor(kind);
  if (!validate(obj)) return { ok: false, problems: schemaProblems(validate.errors ?? []) };
  return { ok: true, value: obj as TriggerAuthentication };
}

/** Problems for a condition message: the first few in order, then how many more there are. */
export function formatProblems(problems: readonly Problem[], limit = 3): string {
  const shown = problems.slice(0, limit).map((p) => `${p.field}: ${p.message}`);
  const rest = problems.length - shown.length;
  return rest > 0 ? `${shown.join('; ')} (and ${rest} more)` : shown.join('; ');
}

/** apiVersion, kind and metadata.name, checked first: the schema is chosen by kind. */
function envelopeProblems(obj: unknown, kinds: readonly KedaKind[]): Problem[] {
  if (!isRecord(obj)) {
    return [{ field: '(object)', message: `must be an object with apiVersion, kind, metadata and spec; got ${describe(obj)}` }];
  }
  const problems: Problem[] = [];
  if (obj.apiVersion !== KEDA_API_VERSION) {
    problems.push({ field: 'apiVersion', message: `must be ${KEDA_API_VERSION}; got ${describe(obj.apiVersion)}` });
  }
  if (typeof obj.kind !== 'string' || !(kinds as readonly string[]).includes(obj.kind)) {
    problems.push({ field: 'kind', message: `must be ${kinds.join(' or ')}; got ${describe(obj.kind)}` });
  }
  const name = isRecord(obj.metadata) ? obj.metadata.name : undefined;
  if (typeof name !== 'string' || name === '') {
    problems.push({ field: 'metadata.name', message: 'is required; give the object a name' });
  }
  return problems;
}

/** KEDA's admission rules that a structural schema cannot express. Assumes the schema passed. */
export function scaledObjectRuleProblems(so: ScaledObject): Problem[] {
  return [
    ...scaleTargetProblems(so),
    ...replicaCountProblems(so),
    ...fallbackProblems(so),
    ...pausedReplicasProblems(so),
    ...triggerProblems(so),
  ];
}

function scaleTargetProblems(so: ScaledObject): Problem[] {
  const { apiVersion, kind } = so.spec.scaleTargetRef;
  if (apiVersion !== undefined) {
    return /^([a-z0-9]([a-z0-9.-]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)
      ? []
      : [{ field: 'spec.scaleTargetRef.apiVersion', message: `must be "version" or "group/version", e.g. apps/v1; got "${apiVersion}"` }];
  }
  if (kind === undefined || kind in KNOWN_SCALE_TARGETS) return [];
  return [
    {
      field: 'spec.scaleTargetRef.apiVersion',
      message:
        `is required for kind ${kind}: set it to the group/version that serves ${kind} ` +
        `(kubectl api-resources lists it); only ${Object.keys(KNOWN_SCALE_TARGETS).join(', ')} can leave it out`,
    },
  ];
}

function replicaCountProblems(so: ScaledObject): Problem[] {
  const { minReplicaCount, maxReplicaCount, idleReplicaCount } = so.spec;
  const min = minReplicaCount ?? DEFAULT_MIN_REPLICA_COUNT;
  const max = maxReplicaCount ?? DEFAULT_MAX_REPLICA_COUNT;
  const problems: Problem[] = [];
  if (min > max) {
    problems.push({
      field: 'spec.minReplicaCount',
      message:
        maxReplicaCount === undefined
          ? `must not exceed maxReplicaCount, which defaults to ${DEFAULT_MAX_REPLICA_COUNT}: ${min} > ${max}; set maxReplicaCount to at least ${min}`
          : `must not exceed maxReplicaCount: ${min} > ${max}; lower minReplicaCount or raise maxReplicaCount`,
    });
  }
  if (idleReplicaCount !== undefined && idleReplicaCount >= min) {
    problems.push({
      field: 'spec.idleReplicaCount',
      message:
        minReplicaCount === undefined
          ? `must be less than minReplicaCount, which defaults to ${DEFAULT_MIN_REPLICA_COUNT}; set minReplicaCount above ${idleReplicaCount} or remove idleReplicaCount`
          : `must be less than minReplicaCount: ${idleReplicaCount} >= ${min}; lower idleReplicaCount or raise minReplicaCount`,
    });
  }
  return problems;
}

/**
 * KEDA's fallback feeds the HPA `replicas x target` so that an AverageValue target lands on exactly
 * `replicas`; with a Value or Utilization target that arithmetic means nothing, so KEDA refuses it.
 */
function fallbackProblems(so: ScaledObject): Problem[] {
  if (so.spec.fallback === undefined || usesScalingModifiers(so)) return [];
  const someAverageValue = so.spec.triggers.some(
    (t) => !RESOURCE_TRIGGER_TYPES.has(t.type) && (t.metricType ?? 'AverageValue') === 'AverageValue',
  );
  if (someAverageValue) return [];
  return [
    {
      field: 'spec.fallback',
      message:
        'needs at least one trigger (other than cpu or memory) with metricType AverageValue; ' +
        'fallback does not work with Value or Utilization targets. Set metricType: AverageValue on a trigger or remove fallback',
    },
  ];
}

function usesScalingModifiers(so: ScaledObject): boolean {
  // scalingModifiers is accepted by the CRD but not part of the typed API; read it untyped.
  const advanced = so.spec.advanced as { scalingModifiers?: Record<string, unknown> } | undefined;
  return advanced?.scalingModifiers !== undefined && Object.keys(advanced.scalingModifiers).length > 0;
}

function pausedReplicasProblems(so: ScaledObject): Problem[] {
  const value = so.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION];
  if (value === undefined || (/^[0-9]+$/.test(value) && Number(value) <= 2 ** 31 - 1)) return [];
  return [
    {
      field: `metadata.annotations["${PAUSED_REPLICAS_ANNOTATION}"]`,
      message: `must be a non-negative integer number of replicas, such as "0"; got "${value}"`,
    },
  ];
}

function triggerProblems(so: ScaledObject): Problem[] {
  const problems: Problem[] = [];
  const firstWithName = new Map<string, number>();
  so.spec.triggers.forEach((trigger, index) => {
    if (trigger.useCachedMetrics === true && UNCACHEABLE_TRIGGER_TYPES.has(trigger.type)) {
      problems.push({
        field: `spec.triggers[${index}].useCachedMetrics`,
        message: `is not supported for the ${trigger.type} scaler; remove it`,
      });
    }
    if (trigger.name === undefined || trigger.name === '') return;
    const first = firstWithName.get(trigger.name);
    if (first === undefined) {
      firstWithName.set(trigger.name, index);
    } else {
      problems.push({
        field: `spec.triggers[${index}].name`,
        message: `"${trigger.name}" is already the name of spec.triggers[${first}]; trigger names must be unique`,
      });
    }
  });
  return problems;
}

/** ajv's errors in the user's words. Errors inside a failed anyOf are folded into the anyOf's own. */
function schemaProblems(errors: readonly ErrorObject[]): Problem[] {
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath);
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (anyOfPaths.some((p) => error.schemaPath !== p && error.schemaPath.startsWith(`${p}/`))) continue;
    const problem = schemaProblem(error);
    const key = `${problem.field}\n${problem.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      problems.push(problem);
    }
  }
  return problems;
}

function schemaProblem(error: ErrorObject): Problem {
  const field = fieldPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const data: unknown = error.data;
  switch (error.keyword) {
    case 'required': {
      const missing = joinField(field, String(params.missingProperty));
      return { field: missing, message: REQUIRED_HINTS[missing.replace(/\[\d+\]/g, '[]')] ?? 'is required' };
    }
    case 'additionalProperties': {
      const allowed = Object.keys((error.parentSchema as OpenApiV3Schema | undefined)?.properties ?? {});
      return {
        field: joinField(field, String(params.additionalProperty)),
        message: `is not a known field; remove it or fix its spelling (known here: ${allowed.join(', ')})`,
      };
    }
    case 'enum':
      return { field, message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}; got ${describe(data)}` };
    case 'type':
      return { field, message: typeMessage(String(params.type), data) };
    case 'minimum':
      return { field, message: `must be at least ${String(params.limit)}; got ${describe(data)}` };
    case 'maximum':
      return { field, message: `must be at most ${String(params.limit)}; got ${describe(data)}` };
    case 'minItems':
      return { field, message: field === 'spec.triggers' ? 'must list at least one trigger' : `must have at least ${String(params.limit)} item(s)` };
    case 'minLength':
      return { field, message: 'must not be empty' };
    case 'pattern':
      return {
        field,
        message:
          params.pattern === QUANTITY_PATTERN
            ? `must be a Kubernetes quantity such as "0.1" or "100m"; got ${describe(data)}`
            : `must match ${String(params.pattern)}; got ${describe(data)}`,
      };
    case 'format':
      return { field, message: formatMessage(String(params.format), data) };
    case 'anyOf':
      return { field, message: `must be an integer or a string; got ${describe(data)}` };
    default:
      return { field, message: error.message ?? `fails schema rule ${error.keyword}` };
  }
}

const REQUIRED_HINTS: Readonly<Record<string, string>> = {
  spec: 'is required; a ScaledObject needs spec.scaleTargetRef and spec.triggers',
  'spec.scaleTargetRef': 'is required; name the workload to scale, e.g. {kind: StatefulSet, name: mycluster}',
  'spec.scaleTargetRef.name': 'is required; set it to the name of the workload to scale',
  'spec.triggers': 'is required; list at least one trigger, e.g. {type: mysql, metadata: {...}}',
  'spec.triggers[].type': 'is required; set the scaler type, e.g. mysql or cron',
  'spec.triggers[].metadata': 'is required; give the scaler its parameters as strings',
  'spec.triggers[].authenticationRef.name': 'is required; set it to the name of a TriggerAuthentication',
};

function typeMessage(expected: string, data: unknown): string {
  const wanted = expected === 'integer' || expected === 'object' || expected === 'array' ? `an ${expected}` : `a ${expected}`;
  if (expected === 'string' && (typeof data === 'number' || typeof data === 'boolean')) {
    return `must be a string; got ${describe(data)} (quote it: "${String(data)}")`;
  }
  if ((expected === 'integer' || expected === 'number') && typeof data === 'string' && /^-?[0-9]+(\.[0-9]+)?$/.test(data)) {
    return `must be ${wanted}; got ${describe(data)} (write it without quotes: ${data})`;
  }
  return `must be ${wanted}; got ${describe(data)}`;
}

function formatMessage(format: string, data: unknown): string {
  switch (format) {
    case 'int32':
      return `must fit in a 32-bit integer (at most ${2 ** 31 - 1}); got ${describe(data)}`;
    case 'date-time':
      return `must be an RFC 3339 date-time such as "2024-01-31T12:00:00Z"; got ${describe(data)}`;
    default:
      return `must be a valid ${format}; got ${describe(data)}`;
  }
}

/** `/spec/triggers/0/metricType` -> `spec.triggers[0].metricType`. */
export function fieldPath(instancePath: string): string {
  if (instancePath === '') return '';
  return instancePath
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, segment) => (/^[0-9]+$/.test(segment) ? `${path}[${segment}]` : joinField(path, segment)), '');
}

function joinField(path: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `the ${typeof value} ${String(value)}`;
  return Array.isArray(value) ? 'a list' : 'an object';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
