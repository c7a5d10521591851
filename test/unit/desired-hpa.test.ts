import { expect } from 'chai';
import type { ScaledObject } from '../../src/api/types.js';
import { desiredHpa, hpaNeedsUpdate, normalizedHpaSpec, type HorizontalPodAutoscaler } from '../../src/controller/desired-hpa.js';
import type { MetricSpec } from '../../src/scalers/scaler.js';

const STATEFULSET = { group: 'apps', version: 'v1', kind: 'StatefulSet' };

/** The seed's ScaledObject, as the blog post applies it. */
function seedScaledObject(): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'mysql-scaledobject', namespace: 'mysql-cluster', uid: 'uid-1' },
    spec: {
      pollingInterval: 1,
      cooldownPeriod: 10,
      minReplicaCount: 1,
      maxReplicaCount: 10,
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster', envSourceContainerName: 'mysql' },
      advanced: {
        restoreToOriginalReplicaCount: true,
        horizontalPodAutoscalerConfig: {
          behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } },
        },
      },
      triggers: [
        {
          type: 'mysql',
          metadata: { queryValue: '3', query: "SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'" },
          authenticationRef: { name: 'keda-trigger-auth-mysql-secret' },
        },
      ],
    },
  };
}

const SEED_METRIC: MetricSpec = { metricName: 's0-mysql-testdb', targetType: 'AverageValue', targetValue: 3 };

function withSpec(change: (so: ScaledObject) => void): ScaledObject {
  const so = seedScaledObject();
  change(so);
  return so;
}

describe('desiredHpa', () => {
  it('turns the seed ScaledObject into exactly the HPA KEDA would create', () => {
    expect(desiredHpa(seedScaledObject(), [SEED_METRIC], STATEFULSET)).to.deep.equal({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: {
        name: 'keda-hpa-mysql-scaledobject',
        namespace: 'mysql-cluster',
        labels: {
          'app.kubernetes.io/name': 'keda-hpa-mysql-scaledobject',
          'app.kubernetes.io/part-of': 'mysql-scaledobject',
          'app.kubernetes.io/managed-by': 'queryscaler',
          'scaledobject.keda.sh/name': 'mysql-scaledobject',
        },
        ownerReferences: [
          { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: 'mysql-scaledobject', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster' },
        minReplicas: 1,
        maxReplicas: 10,
        metrics: [
          {
            type: 'External',
            external: {
              metric: { name: 's0-mysql-testdb', selector: { matchLabels: { 'scaledobject.keda.sh/name': 'mysql-scaledobject' } } },
              target: { type: 'AverageValue', averageValue: '3' },
            },
          },
        ],
        behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } },
      },
    });
  });

  const cases: Array<{ name: string; so: ScaledObject; metrics: MetricSpec[]; pick: (h: HorizontalPodAutoscaler) => unknown; want: unknown }> = [
    {
      name: 'min and max left out: 1 and 100',
      so: withSpec((so) => {
        delete so.spec.minReplicaCount;
        delete so.spec.maxReplicaCount;
      }),
      metrics: [SEED_METRIC],
      pick: (h) => [h.spec.minReplicas, h.spec.maxReplicas],
      want: [1, 100],
    },
    { name: 'minReplicaCount 0 still gives the HPA 1', so: withSpec((so) => (so.spec.minReplicaCount = 0)), metrics: [SEED_METRIC], pick: (h) => h.spec.minReplicas, want: 1 },
    { name: 'minReplicaCount 3 gives 3', so: withSpec((so) => (so.spec.minReplicaCount = 3)), metrics: [SEED_METRIC], pick: (h) => h.spec.minReplicas, want: 3 },
    {
      name: 'a Value metric gets a value target',
      so: seedScaledObject(),
      metrics: [{ metricName: 's0-mysql-testdb', targetType: 'Value', targetValue: 2.5 }],
      pick: (h) => h.spec.metrics[0]?.external.target,
      want: { type: 'Value', value: '2500m' },
    },
    {
      name: 'one External metric per trigger, in order',
      so: seedScaledObject(),
      metrics: [SEED_METRIC, { metricName: 's1-mysql-other', targetType: 'AverageValue', targetValue: 1000 }],
      pick: (h) => h.spec.metrics.map((m) => [m.external.metric.name, m.external.target.averageValue]),
      want: [
        ['s0-mysql-testdb', '3'],
        ['s1-mysql-other', '1k'],
      ],
    },
    {
      name: 'horizontalPodAutoscalerConfig.name names the HPA',
      so: withSpec((so) => (so.spec.advanced!.horizontalPodAutoscalerConfig!.name = 'my-hpa')),
      metrics: [SEED_METRIC],
      pick: (h) => [h.metadata.name, h.metadata.labels?.['app.kubernetes.io/name']],
      want: ['my-hpa', 'my-hpa'],
    },
    {
      name: 'no behavior: none on the HPA',
      so: withSpec((so) => delete so.spec.advanced),
      metrics: [SEED_METRIC],
      pick: (h) => 'behavior' in h.spec,
      want: false,
    },
    {
      name: 'a core-group target has a bare version',
      so: seedScaledObject(),
      metrics: [SEED_METRIC],
      pick: () => desiredHpa(seedScaledObject(), [SEED_METRIC], { group: '', version: 'v1', kind: 'ReplicationController' }).spec.scaleTargetRef.apiVersion,
      want: 'v1',
    },
    {
      name: 'the ScaledObject labels are copied, ours win on a clash',
      so: withSpec((so) => (so.metadata.labels = { team: 'db', 'app.kubernetes.io/managed-by': 'someone' })),
      metrics: [SEED_METRIC],
      pick: (h) => [h.metadata.labels?.team, h.metadata.labels?.['app.kubernetes.io/managed-by']],
      want: ['db', 'queryscaler'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(c.pick(desiredHpa(c.so, c.metrics, STATEFULSET))).to.deep.equal(c.want);
    });
  }
});

describe('hpaNeedsUpdate', () => {
  const desired = desiredHpa(seedScaledObject(), [SEED_METRIC], STATEFULSET);
  // What the API server stores for the seed's HPA: behavior defaults filled in.
  const stored = (): HorizontalPodAutoscaler => {
    const h = structuredClone(desired);
    h.metadata.resourceVersion = '42';
    h.spec.behavior = {
      scaleUp: {
        stabilizationWindowSeconds: 0,
        selectPolicy: 'Max',
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 15 },
          { type: 'Percent', value: 100, periodSeconds: 15 },
        ],
      },
      scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
    };
    return h;
  };
  const cases: Array<{ name: string; observed: HorizontalPodAutoscaler; want: boolean }> = [
    { name: 'the server-defaulted HPA equals what we asked for', observed: stored(), want: false },
    { name: 'maxReplicas edited by hand', observed: { ...stored(), spec: { ...stored().spec, maxReplicas: 20 } }, want: true },
    { name: 'a metric target edited by hand', observed: (() => { const h = stored(); h.spec.metrics[0]!.external.target.averageValue = '5'; return h; })(), want: true },
    { name: 'scaleUp set by hand to something other than the default', observed: (() => { const h = stored(); h.spec.behavior!.scaleUp!.stabilizationWindowSeconds = 60; return h; })(), want: true },
    { name: 'our label removed', observed: (() => { const h = stored(); delete h.metadata.labels!['scaledobject.keda.sh/name']; return h; })(), want: true },
    { name: 'an extra label added by someone else is tolerated', observed: (() => { const h = stored(); h.metadata.labels!.extra = 'x'; return h; })(), want: false },
    { name: 'owner reference missing', observed: (() => { const h = stored(); h.metadata.ownerReferences = []; return h; })(), want: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(hpaNeedsUpdate(c.observed, desired)).to.equal(c.want);
    });
  }

  it('normalizes key order and fills the scale-down defaults', () => {
    expect(JSON.stringify(normalizedHpaSpec({ maxReplicas: 3, minReplicas: 1, behavior: { scaleDown: {} } }).behavior)).to.equal(
      '{"scaleDown":{"policies":[{"periodSeconds":15,"type":"Percent","value":100}],"selectPolicy":"Max"},' +
        '"scaleUp":{"policies":[{"periodSeconds":15,"type":"Pods","value":4},{"periodSeconds":15,"type":"Percent","value":100}],"selectPolicy":"Max","stabilizationWindowSeconds":0}}',
    );
  });
});
