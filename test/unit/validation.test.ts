import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import {
  fieldPath,
  formatProblems,
  toAjvSchema,
  validateScaledObject,
  validateTriggerAuthentication,
  type Problem,
} from '../../src/api/validation.js';

// The seed's keda.yaml, verbatim: Secret, TriggerAuthentication, ScaledObject.
const SEED = parseAllDocuments(
  readFileSync(fileURLToPath(new URL('../../manifests/examples/keda.yaml', import.meta.url)), 'utf8'),
).map((d) => d.toJS() as Record<string, unknown>);
const seedOf = (kind: string): Record<string, unknown> => {
  const found = SEED.find((d) => d.kind === kind);
  if (found === undefined) throw new Error(`keda.yaml has no ${kind}`);
  return structuredClone(found);
};

type Json = Record<string, unknown>;
/** The seed's ScaledObject with `edit` applied to a copy. */
function seedScaledObject(edit: (so: Json & { spec: Json & { triggers: Json[] }; metadata: Json }) => void = () => {}): unknown {
  const so = seedOf('ScaledObject') as Json & { spec: Json & { triggers: Json[] }; metadata: Json };
  edit(so);
  return so;
}

describe('validateScaledObject', () => {
  it("accepts the seed's ScaledObject as written", () => {
    const so = seedScaledObject();
    expect(validateScaledObject(so)).to.deep.equal({ ok: true, value: so });
  });

  const cases: { name: string; edit: Parameters<typeof seedScaledObject>[0]; problems: Problem[] }[] = [
    {
      name: 'minReplicaCount above maxReplicaCount',
      edit: (so) => Object.assign(so.spec, { minReplicaCount: 12, maxReplicaCount: 10 }),
      problems: [{ field: 'spec.minReplicaCount', message: 'must not exceed maxReplicaCount: 12 > 10; lower minReplicaCount or raise maxReplicaCount' }],
    },
    {
      name: 'minReplicaCount above the default maxReplicaCount',
      edit: (so) => {
        so.spec.minReplicaCount = 120;
        delete so.spec.maxReplicaCount;
      },
      problems: [{ field: 'spec.minReplicaCount', message: 'must not exceed maxReplicaCount, which defaults to 100: 120 > 100; set maxReplicaCount to at least 120' }],
    },
    {
      name: 'idleReplicaCount equal to minReplicaCount',
      edit: (so) => Object.assign(so.spec, { idleReplicaCount: 1 }),
      problems: [{ field: 'spec.idleReplicaCount', message: 'must be less than minReplicaCount: 1 >= 1; lower idleReplicaCount or raise minReplicaCount' }],
    },
    {
      name: 'idleReplicaCount with minReplicaCount left at its default 0',
      edit: (so) => {
        so.spec.idleReplicaCount = 0;
        delete so.spec.minReplicaCount;
      },
      problems: [{ field: 'spec.idleReplicaCount', message: 'must be less than minReplicaCount, which defaults to 0; set minReplicaCount above 0 or remove idleReplicaCount' }],
    },
    {
      name: "KEDA v1's scaleTargetRef.containerName",
      edit: (so) => Object.assign(so.spec.scaleTargetRef as Json, { containerName: 'mysql' }),
      problems: [
        {
          field: 'spec.scaleTargetRef.containerName',
          message: 'is not a known field; remove it or fix its spelling (known here: apiVersion, kind, name, envSourceContainerName)',
        },
      ],
    },
    {
      name: 'a misspelt spec field',
      edit: (so) => Object.assign(so.spec, { pollinginterval: 5 }),
      problems: [
        {
          field: 'spec.pollinginterval',
          message:
            'is not a known field; remove it or fix its spelling (known here: scaleTargetRef, pollingInterval, cooldownPeriod, ' +
            'initialCooldownPeriod, idleReplicaCount, minReplicaCount, maxReplicaCount, advanced, fallback, triggers)',
        },
      ],
    },
    {
      name: 'no triggers field',
      edit: (so) => delete (so.spec as Partial<Json>).triggers,
      problems: [{ field: 'spec.triggers', message: 'is required; list at least one trigger, e.g. {type: mysql, metadata: {...}}' }],
    },
    {
      name: 'an empty triggers list',
      edit: (so) => (so.spec.triggers = []),
      problems: [{ field: 'spec.triggers', message: 'must list at least one trigger' }],
    },
    {
      name: 'a trigger without metadata',
      edit: (so) => delete so.spec.triggers[0]?.metadata,
      problems: [{ field: 'spec.triggers[0].metadata', message: 'is required; give the scaler its parameters as strings' }],
    },
    {
      name: 'a metricType in the wrong case',
      edit: (so) => Object.assign(so.spec.triggers[0] ?? {}, { metricType: 'Averagevalue' }),
      problems: [{ field: 'spec.triggers[0].metricType', message: 'must be one of AverageValue, Value, Utilization; got the string "Averagevalue"' }],
    },
    {
      name: 'an unquoted number in trigger metadata',
      edit: (so) => Object.assign(so.spec.triggers[0]?.metadata as Json, { queryValue: 3 }),
      problems: [{ field: 'spec.triggers[0].metadata.queryValue', message: 'must be a string; got the number 3 (quote it: "3")' }],
    },
    {
      name: 'a quoted pollingInterval',
      edit: (so) => (so.spec.pollingInterval = '5'),
      problems: [{ field: 'spec.pollingInterval', message: 'must be an integer; got the string "5" (write it without quotes: 5)' }],
    },
    {
      name: 'pollingInterval 0',
      edit: (so) => (so.spec.pollingInterval = 0),
      problems: [{ field: 'spec.pollingInterval', message: 'must be at least 1; got the number 0' }],
    },
    {
      name: 'maxReplicaCount beyond int32',
      edit: (so) => (so.spec.maxReplicaCount = 2 ** 31),
      problems: [{ field: 'spec.maxReplicaCount', message: 'must fit in a 32-bit integer (at most 2147483647); got the number 2147483648' }],
    },
    {
      name: 'a paused-replicas annotation that is not a number',
      edit: (so) => (so.metadata.annotations = { 'autoscaling.keda.sh/paused-replicas': 'two' }),
      problems: [{ field: 'metadata.annotations["autoscaling.keda.sh/paused-replicas"]', message: 'must be a non-negative integer number of replicas, such as "0"; got "two"' }],
    },
    {
      name: 'a negative paused-replicas annotation',
      edit: (so) => (so.metadata.annotations = { 'autoscaling.keda.sh/paused-replicas': '-1' }),
      problems: [{ field: 'metadata.annotations["autoscaling.keda.sh/paused-replicas"]', message: 'must be a non-negative integer number of replicas, such as "0"; got "-1"' }],
    },
    {
      name: 'fallback with only a Value trigger',
      edit: (so) => {
        so.spec.fallback = { failureThreshold: 3, replicas: 2 };
        Object.assign(so.spec.triggers[0] ?? {}, { metricType: 'Value' });
      },
      problems: [
        {
          field: 'spec.fallback',
          message:
            'needs at least one trigger (other than cpu or memory) with metricType AverageValue; fallback does not work with Value ' +
            'or Utilization targets. Set metricType: AverageValue on a trigger or remove fallback',
        },
      ],
    },
    {
      name: 'fallback with a negative replicas',
      edit: (so) => (so.spec.fallback = { failureThreshold: 3, replicas: -1 }),
      problems: [{ field: 'spec.fallback.replicas', message: 'must be at least 0; got the number -1' }],
    },
    {
      name: 'two triggers with one name',
      edit: (so) => {
        const [first] = so.spec.triggers;
        so.spec.triggers = [
          { ...first, name: 'rows' },
          { type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 6 * * *', end: '0 18 * * *', desiredReplicas: '2' } },
          { ...first, name: 'rows' },
        ];
      },
      problems: [{ field: 'spec.triggers[2].name', message: '"rows" is already the name of spec.triggers[0]; trigger names must be unique' }],
    },
    {
      name: 'useCachedMetrics on a cron trigger',
      edit: (so) =>
        so.spec.triggers.push({
          type: 'cron',
          useCachedMetrics: true,
          metadata: { timezone: 'Etc/UTC', start: '0 6 * * *', end: '0 18 * * *', desiredReplicas: '2' },
        }),
      problems: [{ field: 'spec.triggers[1].useCachedMetrics', message: 'is not supported for the cron scaler; remove it' }],
    },
    {
      name: 'a custom kind without apiVersion',
      edit: (so) => (so.spec.scaleTargetRef = { kind: 'Rollout', name: 'web' }),
      problems: [
        {
          field: 'spec.scaleTargetRef.apiVersion',
          message:
            'is required for kind Rollout: set it to the group/version that serves Rollout (kubectl api-resources lists it); ' +
            'only Deployment, StatefulSet, ReplicaSet, ReplicationController can leave it out',
        },
      ],
    },
    {
      name: 'an apiVersion without a version',
      edit: (so) => Object.assign(so.spec.scaleTargetRef as Json, { apiVersion: 'apps' }),
      problems: [{ field: 'spec.scaleTargetRef.apiVersion', message: 'must be "version" or "group/version", e.g. apps/v1; got "apps"' }],
    },
    {
      name: 'a policy type in the wrong case and a tolerance that is no quantity',
      edit: (so) => {
        const scaleDown = ((so.spec.advanced as Json).horizontalPodAutoscalerConfig as Json & { behavior: { scaleDown: Json & { policies: Json[] } } }).behavior.scaleDown;
        Object.assign(scaleDown.policies[0] ?? {}, { type: 'percent' });
        scaleDown.tolerance = 'five percent';
      },
      problems: [
        {
          field: 'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.policies[0].type',
          message: 'must be one of Pods, Percent; got the string "percent"',
        },
        {
          field: 'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.tolerance',
          message: 'must be a Kubernetes quantity such as "0.1" or "100m"; got the string "five percent"',
        },
      ],
    },
    {
      name: 'a tolerance that is neither integer nor string',
      edit: (so) => {
        const hpa = (so.spec.advanced as Json).horizontalPodAutoscalerConfig as Json & { behavior: { scaleDown: Json } };
        hpa.behavior.scaleDown.tolerance = true;
      },
      problems: [{ field: 'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.tolerance', message: 'must be an integer or a string; got the boolean true' }],
    },
    {
      name: 'a status time that is not RFC 3339',
      edit: (so) => (so.status = { lastActiveTime: 'yesterday' }),
      problems: [{ field: 'status.lastActiveTime', message: 'must be an RFC 3339 date-time such as "2024-01-31T12:00:00Z"; got the string "yesterday"' }],
    },
    {
      name: "KEDA v1's apiVersion",
      edit: (so) => (so.apiVersion = 'keda.k8s.io/v1alpha1'),
      problems: [{ field: 'apiVersion', message: 'must be keda.sh/v1alpha1; got the string "keda.k8s.io/v1alpha1"' }],
    },
    {
      name: 'no name',
      edit: (so) => delete so.metadata.name,
      problems: [{ field: 'metadata.name', message: 'is required; give the object a name' }],
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      expect(validateScaledObject(seedScaledObject(c.edit))).to.deep.equal({ ok: false, problems: c.problems });
    });
  }

  const accepted: { name: string; edit: Parameters<typeof seedScaledObject>[0] }[] = [
    { name: 'fallback with an AverageValue trigger (the default)', edit: (so) => (so.spec.fallback = { failureThreshold: 3, replicas: 2 }) },
    {
      name: 'fallback with Value triggers when scalingModifiers computes the metric',
      edit: (so) => {
        so.spec.fallback = { failureThreshold: 3, replicas: 2, behavior: 'static' };
        Object.assign(so.spec.triggers[0] ?? {}, { metricType: 'Value' });
        Object.assign(so.spec.advanced as Json, { scalingModifiers: { formula: 'rows / 2', target: '3' } });
      },
    },
    { name: 'idleReplicaCount 0 below minReplicaCount 1', edit: (so) => (so.spec.idleReplicaCount = 0) },
    { name: 'a custom kind with its apiVersion', edit: (so) => (so.spec.scaleTargetRef = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'web' }) },
    { name: 'a scaleTargetRef with only a name', edit: (so) => (so.spec.scaleTargetRef = { name: 'web' }) },
    { name: 'paused-replicas "0"', edit: (so) => (so.metadata.annotations = { 'autoscaling.keda.sh/paused-replicas': '0' }) },
    {
      name: 'an integer tolerance',
      edit: (so) => {
        const hpa = (so.spec.advanced as Json).horizontalPodAutoscalerConfig as Json & { behavior: { scaleDown: Json } };
        hpa.behavior.scaleDown.tolerance = 0;
      },
    },
    { name: 'a status the controller wrote', edit: (so) => (so.status = { hpaName: 'keda-hpa-mysql-scaledobject', lastMetricValue: '17', lastMetricTime: '2024-03-05T12:00:00Z', health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } } }) },
  ];
  for (const c of accepted) {
    it(`accepts ${c.name}`, () => {
      expect(validateScaledObject(seedScaledObject(c.edit)).ok).to.equal(true);
    });
  }

  it('reports every schema problem, in document order, before any cross-field rule', () => {
    const so = seedScaledObject((so) => {
      Object.assign(so.spec, { minReplicaCount: 12, maxReplicaCount: 10, pollingInterval: 0 });
      Object.assign(so.spec.triggers[0] ?? {}, { metricType: 'Values' });
    });
    expect(validateScaledObject(so)).to.deep.equal({
      ok: false,
      problems: [
        { field: 'spec.pollingInterval', message: 'must be at least 1; got the number 0' },
        { field: 'spec.triggers[0].metricType', message: 'must be one of AverageValue, Value, Utilization; got the string "Values"' },
      ],
    });
  });

  it('rejects something that is not an object', () => {
    expect(validateScaledObject('so')).to.deep.equal({
      ok: false,
      problems: [{ field: '(object)', message: 'must be an object with apiVersion, kind, metadata and spec; got the string "so"' }],
    });
  });
});

describe('validateTriggerAuthentication', () => {
  it("accepts the seed's TriggerAuthentication as written", () => {
    const ta = seedOf('TriggerAuthentication');
    expect(validateTriggerAuthentication(ta)).to.deep.equal({ ok: true, value: ta });
  });

  it('accepts a ClusterTriggerAuthentication with env and configMapTargetRef', () => {
    const cta = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ClusterTriggerAuthentication',
      metadata: { name: 'shared-mysql' },
      spec: {
        configMapTargetRef: [{ parameter: 'host', name: 'mysql-config', key: 'host' }],
        env: [{ parameter: 'password', name: 'MYSQL_PASSWORD', containerName: 'mysql' }],
      },
    };
    expect(validateTriggerAuthentication(cta)).to.deep.equal({ ok: true, value: cta });
  });

  it("accepts KEDA's other providers without reading them", () => {
    const ta = seedOf('TriggerAuthentication');
    Object.assign(ta.spec as Json, {
      podIdentity: { provider: 'azure-workload', identityId: 'abc' },
      hashiCorpVault: { address: 'https://vault:8200', authentication: 'token', secrets: [{ parameter: 'password', key: 'p', path: 'secret/db' }] },
      boundServiceAccountToken: [{ parameter: 'token', serviceAccountName: 'reader' }],
    });
    expect(validateTriggerAuthentication(ta).ok).to.equal(true);
  });

  const cases: { name: string; ta: unknown; problems: Problem[] }[] = [
    {
      name: 'a secretTargetRef without key',
      ta: { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 'a' }, spec: { secretTargetRef: [{ parameter: 'password', name: 's' }] } },
      problems: [{ field: 'spec.secretTargetRef[0].key', message: 'is required' }],
    },
    {
      name: 'a misspelt provider list',
      ta: { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 'a' }, spec: { secretTargetRefs: [] } },
      problems: [
        {
          field: 'spec.secretTargetRefs',
          message:
            'is not a known field; remove it or fix its spelling (known here: secretTargetRef, configMapTargetRef, env, podIdentity, ' +
            'hashiCorpVault, azureKeyVault, awsSecretManager, gcpSecretManager, oauth2, boundServiceAccountToken, filePath)',
        },
      ],
    },
    {
      name: 'a ScaledObject',
      ta: seedScaledObject(),
      problems: [{ field: 'kind', message: 'must be TriggerAuthentication or ClusterTriggerAuthentication; got the string "ScaledObject"' }],
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      expect(validateTriggerAuthentication(c.ta)).to.deep.equal({ ok: false, problems: c.problems });
    });
  }
});

describe('formatProblems', () => {
  const p = (n: number): Problem => ({ field: `f${n}`, message: `m${n}` });
  const cases: [Problem[], string][] = [
    [[], ''],
    [[p(1)], 'f1: m1'],
    [[p(1), p(2), p(3)], 'f1: m1; f2: m2; f3: m3'],
    [[p(1), p(2), p(3), p(4), p(5)], 'f1: m1; f2: m2; f3: m3 (and 2 more)'],
  ];
  for (const [problems, text] of cases) {
    it(`${problems.length} problem(s) -> ${JSON.stringify(text)}`, () => expect(formatProblems(problems)).to.equal(text));
  }
  it('honours a smaller limit', () => expect(formatProblems([p(1), p(2)], 1)).to.equal('f1: m1 (and 1 more)'));
});

describe('fieldPath', () => {
  const cases: [string, string][] = [
    ['', ''],
    ['/spec', 'spec'],
    ['/spec/triggers/0/metricType', 'spec.triggers[0].metricType'],
    ['/metadata/annotations/autoscaling.keda.sh~1paused-replicas', 'metadata.annotations["autoscaling.keda.sh/paused-replicas"]'],
    ['/status/health/s0-mysql-testdb/status', 'status.health.s0-mysql-testdb.status'],
  ];
  for (const [pointer, path] of cases) {
    it(`${JSON.stringify(pointer)} -> ${JSON.stringify(path)}`, () => expect(fieldPath(pointer)).to.equal(path));
  }
});

describe('toAjvSchema', () => {
  const cases: [string, Json, Json][] = [
    ['closes an object with properties', { type: 'object', properties: { a: { type: 'string' } } }, { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }],
    ['keeps a map open to its value schema', { type: 'object', additionalProperties: { type: 'string' } }, { type: 'object', additionalProperties: { type: 'string' } }],
    ['leaves preserve-unknown objects open', { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } }, { type: 'object', properties: { a: { type: 'string' } } }],
    ['drops CEL rules and list types', { type: 'array', 'x-kubernetes-list-type': 'atomic', items: { type: 'object', 'x-kubernetes-validations': [{ rule: 'true' }], properties: {} } }, { type: 'array', items: { type: 'object', properties: {}, additionalProperties: false } }],
    ['walks into anyOf', { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true }, { anyOf: [{ type: 'integer' }, { type: 'string' }] }],
  ];
  for (const [name, input, output] of cases) {
    it(name, () => expect(toAjvSchema(input)).to.deep.equal(output));
  }
});
