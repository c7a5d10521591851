// The TypeScript types in src/api/types.ts and the CRD schemas in crds/ describe the same objects.
// Each direction of drift fails here:
// - a field in the schema but not in the types: the DeepRequired fixtures below cannot carry it
//   (excess property), so "every schema field has a typed counterpart" lists it;
// - a field in the types but not in the schema: DeepRequired makes the fixture carry it, and the
//   schema (closed objects) rejects the fixture;
// - a field of another type or enum: the fixture fails the schema, or the enum lists differ.
// The "compiles" test runs the TypeScript checker on this file, since mocha (tsx) only strips types.

import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import ts from 'typescript';
import { openApiSchema, type KedaKind, type OpenApiV3Schema } from '../../src/api/schema.js';
import type {
  AuthenticationRef,
  ConditionStatus,
  ConditionType,
  HpaScalingPolicy,
  HpaScalingRules,
  MetricTargetType,
  ScaledObject,
  TriggerAuthentication,
  TriggerHealth,
} from '../../src/api/types.js';
import { validateScaledObject, validateTriggerAuthentication } from '../../src/api/validation.js';

/** Every optional field made required, all the way down: a fixture of this type covers the type. */
type DeepRequired<T> = T extends readonly (infer U)[]
  ? DeepRequired<U>[]
  : T extends object
    ? { [K in keyof T]-?: DeepRequired<T[K]> }
    : T;

/** Compiles only when `List` names every member of `Union`. */
type Exhaustive<Union, List extends readonly Union[]> = [Exclude<Union, List[number]>] extends [never] ? List : never;

const FULL_RULES: DeepRequired<HpaScalingRules> = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  tolerance: '0.05',
};

const FULL_SCALED_OBJECT: DeepRequired<ScaledObject> = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: {
    name: 'mysql-scaledobject',
    namespace: 'mysql-cluster',
    uid: '8d7c6b5a-0000-4000-8000-000000000001',
    resourceVersion: '42',
    generation: 3,
    labels: { app: 'mycluster' },
    annotations: { 'autoscaling.keda.sh/paused-replicas': '2' },
    finalizers: ['finalizer.keda.sh'],
    deletionTimestamp: '2024-03-05T12:00:00Z',
    creationTimestamp: '2024-03-01T08:00:00Z',
  },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster', envSourceContainerName: 'mysql' },
    pollingInterval: 1,
    cooldownPeriod: 10,
    initialCooldownPeriod: 30,
    idleReplicaCount: 0,
    minReplicaCount: 1,
    maxReplicaCount: 10,
    advanced: {
      restoreToOriginalReplicaCount: true,
      horizontalPodAutoscalerConfig: { name: 'keda-hpa-mysql-scaledobject', behavior: { scaleUp: FULL_RULES, scaleDown: FULL_RULES } },
    },
    fallback: { failureThreshold: 3, replicas: 2 },
    triggers: [
      {
        type: 'mysql',
        name: 'rows',
        metadata: { queryValue: '3', query: "SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'" },
        authenticationRef: { name: 'keda-trigger-auth-mysql-secret', kind: 'TriggerAuthentication' },
        metricType: 'AverageValue',
        useCachedMetrics: false,
      },
    ],
  },
  status: {
    scaleTargetKind: 'apps/v1.StatefulSet',
    scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets' },
    originalReplicaCount: 1,
    lastActiveTime: '2024-03-05T11:59:00Z',
    externalMetricNames: ['s0-mysql-testdb'],
    hpaName: 'keda-hpa-mysql-scaledobject',
    health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } },
    conditions: [{ type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is ready for scaling', lastTransitionTime: '2024-03-01T08:00:05Z' }],
    pausedReplicaCount: 2,
    value: '17',
    lastMetricValue: '17',
    lastMetricTime: '2024-03-05T12:00:00Z',
  },
};

const FULL_TRIGGER_AUTHENTICATION: DeepRequired<TriggerAuthentication> = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'TriggerAuthentication',
  metadata: { ...FULL_SCALED_OBJECT.metadata, name: 'keda-trigger-auth-mysql-secret', annotations: {} },
  spec: {
    secretTargetRef: [{ parameter: 'password', name: 'mysql-secrets', key: 'mysql_password' }],
    configMapTargetRef: [{ parameter: 'host', name: 'mysql-config', key: 'host' }],
    env: [{ parameter: 'username', name: 'MYSQL_USER', containerName: 'mysql' }],
  },
};

/** Schema fields accepted so KEDA manifests apply unchanged, deliberately absent from the types. */
const UNTYPED: Readonly<Record<KedaKind, readonly string[]>> = {
  ScaledObject: ['spec.advanced.scalingModifiers', 'spec.fallback.behavior'],
  TriggerAuthentication: KEDA_OTHER_PROVIDERS(),
  ClusterTriggerAuthentication: KEDA_OTHER_PROVIDERS(),
};
function KEDA_OTHER_PROVIDERS(): string[] {
  return ['podIdentity', 'hashiCorpVault', 'azureKeyVault', 'awsSecretManager', 'gcpSecretManager', 'oauth2', 'boundServiceAccountToken', 'filePath'].map(
    (p) => `spec.${p}`,
  );
}

/** Every field path the schema declares under spec and status: `a.b`, `a[].b` for lists, `a{}.b` for maps. */
function schemaPaths(schema: OpenApiV3Schema, prefix: string): string[] {
  const paths: string[] = [];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    paths.push(path, ...schemaPaths(sub, path));
  }
  if (schema.items !== undefined) paths.push(...schemaPaths(schema.items, `${prefix}[]`));
  if (typeof schema.additionalProperties === 'object') paths.push(...schemaPaths(schema.additionalProperties, `${prefix}{}`));
  return paths;
}

/** The fixture's value at a schemaPaths path (the first element of lists and maps), or undefined. */
function valueAt(root: unknown, path: string): unknown {
  let value = root;
  for (const step of path.match(/[^.[\]{}]+|\[\]|\{\}/g) ?? []) {
    if (typeof value !== 'object' || value === null) return undefined;
    if (step === '[]') value = (value as unknown[])[0];
    else if (step === '{}') value = Object.values(value)[0];
    else value = (value as Record<string, unknown>)[step];
  }
  return value;
}

function untypedSchemaPaths(kind: KedaKind, fixture: unknown): string[] {
  const schema = openApiSchema(kind);
  return ['spec', 'status']
    .flatMap((top) => {
      const sub = schema.properties?.[top];
      return sub === undefined ? [] : [top, ...schemaPaths(sub, top)];
    })
    .filter((path) => !UNTYPED[kind].some((allowed) => path === allowed || path.startsWith(`${allowed}.`) || path.startsWith(`${allowed}[]`)))
    .filter((path) => valueAt(fixture, path) === undefined);
}

function enumAt(kind: KedaKind, path: string): unknown[] | undefined {
  let schema: OpenApiV3Schema | undefined = openApiSchema(kind);
  for (const step of path.split('.')) {
    if (schema === undefined) return undefined;
    if (step === '[]') schema = schema.items;
    else if (step === '{}') schema = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    else schema = schema.properties?.[step];
  }
  return schema?.enum;
}

const METRIC_TYPES = ['AverageValue', 'Value', 'Utilization'] as const;
const AUTH_KINDS = ['TriggerAuthentication', 'ClusterTriggerAuthentication'] as const;
const POLICY_TYPES = ['Pods', 'Percent'] as const;
const SELECT_POLICIES = ['Max', 'Min', 'Disabled'] as const;
const CONDITION_TYPES = ['Ready', 'Active', 'Fallback', 'Paused', 'LeastPrivilege'] as const;
const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
const HEALTH_STATUSES = ['Happy', 'Failing'] as const;

const ENUMS: [string, readonly string[]][] = [
  ['spec.triggers.[].metricType', METRIC_TYPES satisfies Exhaustive<MetricTargetType, typeof METRIC_TYPES>],
  ['spec.triggers.[].authenticationRef.kind', AUTH_KINDS satisfies Exhaustive<NonNullable<AuthenticationRef['kind']>, typeof AUTH_KINDS>],
  [
    'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.policies.[].type',
    POLICY_TYPES satisfies Exhaustive<HpaScalingPolicy['type'], typeof POLICY_TYPES>,
  ],
  [
    'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.selectPolicy',
    SELECT_POLICIES satisfies Exhaustive<NonNullable<HpaScalingRules['selectPolicy']>, typeof SELECT_POLICIES>,
  ],
  ['status.conditions.[].type', CONDITION_TYPES satisfies Exhaustive<ConditionType, typeof CONDITION_TYPES>],
  ['status.conditions.[].status', CONDITION_STATUSES satisfies Exhaustive<ConditionStatus, typeof CONDITION_STATUSES>],
  ['status.health.{}.status', HEALTH_STATUSES satisfies Exhaustive<TriggerHealth['status'], typeof HEALTH_STATUSES>],
];

describe('src/api/types.ts agrees with crds/', () => {
  it('a ScaledObject using every typed field passes the CRD schema', () => {
    expect(validateScaledObject(FULL_SCALED_OBJECT)).to.deep.equal({ ok: true, value: FULL_SCALED_OBJECT });
  });

  it('a TriggerAuthentication and a ClusterTriggerAuthentication using every typed field pass theirs', () => {
    const cluster = { ...FULL_TRIGGER_AUTHENTICATION, kind: 'ClusterTriggerAuthentication' as const };
    expect(validateTriggerAuthentication(FULL_TRIGGER_AUTHENTICATION)).to.deep.equal({ ok: true, value: FULL_TRIGGER_AUTHENTICATION });
    expect(validateTriggerAuthentication(cluster)).to.deep.equal({ ok: true, value: cluster });
  });

  it('every ScaledObject schema field has a typed counterpart', () => {
    expect(untypedSchemaPaths('ScaledObject', FULL_SCALED_OBJECT)).to.deep.equal([]);
  });

  it('every (Cluster)TriggerAuthentication schema field has a typed counterpart', () => {
    expect(untypedSchemaPaths('TriggerAuthentication', FULL_TRIGGER_AUTHENTICATION)).to.deep.equal([]);
    expect(untypedSchemaPaths('ClusterTriggerAuthentication', FULL_TRIGGER_AUTHENTICATION)).to.deep.equal([]);
  });

  it('notices a schema field the fixture (and so the type) lacks', () => {
    const lacking = structuredClone(FULL_SCALED_OBJECT) as unknown as {
      spec: { fallback: { replicas?: number } };
      status: { health: Record<string, { numberOfFailures?: number }> };
    };
    delete lacking.spec.fallback.replicas;
    delete lacking.status.health['s0-mysql-testdb']?.numberOfFailures;
    expect(untypedSchemaPaths('ScaledObject', lacking)).to.deep.equal(['spec.fallback.replicas', 'status.health{}.numberOfFailures']);
  });

  it('the untyped allowance names only fields the schema has', () => {
    for (const kind of ['ScaledObject', 'TriggerAuthentication', 'ClusterTriggerAuthentication'] as const) {
      const paths = schemaPaths(openApiSchema(kind), '');
      expect(UNTYPED[kind].filter((p) => !paths.includes(p)), kind).to.deep.equal([]);
    }
  });

  for (const [path, values] of ENUMS) {
    it(`enum ${path} matches its TypeScript union`, () => {
      expect(enumAt('ScaledObject', path)).to.deep.equal([...values]);
    });
  }

  it('scaleUp and scaleDown share one schema', () => {
    const behavior = openApiSchema('ScaledObject').properties?.spec?.properties?.advanced?.properties?.horizontalPodAutoscalerConfig?.properties?.behavior;
    expect(behavior?.properties?.scaleUp?.properties).to.not.equal(undefined);
    expect(behavior?.properties?.scaleUp?.properties).to.deep.equal(behavior?.properties?.scaleDown?.properties);
  });

  it('this file type-checks against src/api/types.ts (the fixtures are exhaustive)', function () {
    this.timeout(60_000);
    const file = fileURLToPath(import.meta.url);
    const configPath = fileURLToPath(new URL('../../tsconfig.json', import.meta.url));
    const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    if (config === undefined) throw new Error(`cannot read ${configPath}`);
    const program = ts.createProgram([file], { ...config.options, noEmit: true });
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file || d.file?.fileName.endsWith('/src/api/types.ts'));
    expect(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).to.deep.equal([]);
  });
});
