// Replacing KEDA in place, the HPA part: ScaledObjects and the HPAs KEDA's operator made for them
// are in the cluster in KEDA's exact shape (as controllers/keda/hpa.go and scaledobject_controller.go
// write them: labels app.kubernetes.io/{name,version,part-of,managed-by: keda-operator} plus the
// ScaledObject's own labels, among them scaledobject.keda.sh/name; the ScaledObject's annotations;
// a controller ownerReference to its uid; status with originalReplicaCount, hpaName and the rest),
// their targets at the size KEDA scaled them to. queryscaler starts (the controller in process, its
// metrics API registered as the APIService): it adopts each HPA, rewrites it to its own shape, keeps
// KEDA's originalReplicaCount, and the real HPA controller reads the metric from it, while no
// target's spec.replicas moves (watched from before the start to the end). Deleting a ScaledObject
// then restores the count KEDA recorded.
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ScaledObject, ScaledObjectStatus } from '../../src/api/types.js';
import type { HorizontalPodAutoscaler } from '../../src/controller/desired-hpa.js';
import { isNotFound, KubeApi, type WatchEvent } from '../../src/controller/kube-api.js';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, createTestNamespace, installCrds, waitFor, waitForGone } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { startInProcessController, type InProcessController } from '../support/in-process-controller.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));
const KEDA_VERSION = '2.16.1';
/** 36 rows: the seed query gives CEIL(36 / 6) = 6; with queryValue 3 the HPA wants 2 replicas. */
const SEED_ROWS = 36;

interface Migrated {
  so: string;
  hpa: string;
  target: { kind: 'StatefulSet' | 'Deployment'; resource: string; name: string };
  /** What KEDA scaled the target to, and what it recorded before it first did. */
  replicas: number;
  original: number;
  value: string;
}

const MIGRATED: Migrated[] = [
  { so: 'mysql-scaledobject', hpa: 'keda-hpa-mysql-scaledobject', target: { kind: 'StatefulSet', resource: 'statefulsets', name: 'mycluster' }, replicas: 2, original: 1, value: '6' },
  { so: 'api-scaler', hpa: 'api-hpa', target: { kind: 'Deployment', resource: 'deployments', name: 'api' }, replicas: 3, original: 1, value: '9' },
];

/** The HPA KEDA's operator makes for `so` (newHPAForScaledObject), with the metric spec its mysql scaler gives. */
function kedaHpa(so: ScaledObject, m: Migrated): object {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: {
      name: m.hpa,
      namespace: so.metadata.namespace,
      labels: {
        'app.kubernetes.io/name': m.hpa,
        'app.kubernetes.io/version': KEDA_VERSION,
        'app.kubernetes.io/part-of': so.metadata.name,
        'app.kubernetes.io/managed-by': 'keda-operator',
        ...so.metadata.labels,
      },
      annotations: so.metadata.annotations,
      ownerReferences: [{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: so.metadata.name, uid: so.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: m.target.kind, name: m.target.name },
      minReplicas: Math.max(so.spec.minReplicaCount ?? 0, 1),
      maxReplicas: so.spec.maxReplicaCount,
      metrics: [{
        type: 'External',
        external: {
          metric: { name: 's0-mysql-testdb', selector: { matchLabels: { 'scaledobject.keda.sh/name': so.metadata.name } } },
          target: { type: 'AverageValue', averageValue: so.spec.triggers[0]!.metadata!['queryValue'] },
        },
      }],
      ...(so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior && { behavior: so.spec.advanced.horizontalPodAutoscalerConfig.behavior }),
    },
  };
}

/** The status KEDA's operator leaves on a ScaledObject it scales (fields of KEDA's own that our CRD does not keep are pruned). */
function kedaStatus(m: Migrated, now: Date): ScaledObjectStatus & Record<string, unknown> {
  const at = now.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    conditions: [
      { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling', lastTransitionTime: at },
      { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because triggers are active', lastTransitionTime: at },
      { type: 'Fallback', status: 'False', reason: 'NoFallbackFound', message: 'No fallbacks are active on this scaled object', lastTransitionTime: at },
      { type: 'Paused', status: 'False', reason: 'ScaledObjectUnpaused', message: 'pause annotation removed for ScaledObject', lastTransitionTime: at },
    ],
    scaleTargetKind: `apps/v1.${m.target.kind}`,
    scaleTargetGVKR: { group: 'apps', version: 'v1', kind: m.target.kind, resource: m.target.resource },
    originalReplicaCount: m.original,
    hpaName: m.hpa,
    externalMetricNames: ['s0-mysql-testdb'],
    health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } },
    lastActiveTime: at,
    triggersTypes: 'mysql',
    authenticationsTypes: 'keda-trigger-auth-mysql-secret',
  };
}

/** Every spec.replicas the target kinds in `namespace` take, from a watch that starts before anything moves. */
async function watchReplicas(api: KubeApi, namespace: string, resource: string, seen: Map<string, number[]>, signal: AbortSignal): Promise<() => Promise<void>> {
  const path = `/apis/apps/v1/namespaces/${namespace}/${resource}`;
  const listed = await api.request<{ metadata: { resourceVersion: string }; items: Array<{ metadata: { name: string }; spec: { replicas: number } }> }>('list', path);
  const record = (name: string, replicas: number) => seen.set(`${resource}/${name}`, [...(seen.get(`${resource}/${name}`) ?? []), replicas]);
  for (const item of listed.items) record(item.metadata.name, item.spec.replicas);
  const done = api.watch(path, { resourceVersion: listed.metadata.resourceVersion, timeoutSeconds: 600 }, (event: WatchEvent) => {
    const object = event.object as { metadata: { name: string }; spec?: { replicas: number } };
    if (event.type !== 'BOOKMARK' && object.spec) record(object.metadata.name, object.spec.replicas);
  }, signal);
  return () => done;
}

describe('migrating from KEDA: its HPAs adopted in place @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let db: MariaDb;
  let running: InProcessController | undefined;
  let api: KubeApi;
  let ns: string;
  const seen = new Map<string, number[]>();
  const stopWatching = new AbortController();
  const watches: Array<() => Promise<void>> = [];
  /** The uid of each HPA as KEDA made it: adopted means the same object, not one deleted and made anew. */
  const kedaHpaUids = new Map<string, string>();

  const getSo = (name: string) => api.request<ScaledObject>('get', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/${name}`);
  const getHpa = (name: string) => api.request<HorizontalPodAutoscaler & { status?: HpaStatus }>('get', `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/${name}`);

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, CRDS);
    await createSeedTable(db);
    await setSeedRowCount(db, SEED_ROWS);
    ns = await createTestNamespace(cp, 'migrate');
    // The helper's client comes with the controller, which must start only once KEDA's objects are in place.
    api = new KubeApi(cp.kubeConfig);

    // What KEDA's users have: the seed scenario, and a Deployment scaled with the same credentials.
    const seed = seedKedaObjects(db, { scaleDownStabilizationSeconds: 0 });
    const statefulSet = seedStatefulSetObjects().map((o) => (o.kind === 'StatefulSet' ? { ...o, spec: { ...(o as { spec: object }).spec, replicas: 2 } } : o));
    await applyYaml(cp, toYaml([...statefulSet, ...seed.filter((o) => o.kind !== 'ScaledObject'), deployment('api', 3)]), ns);
    const seedSo = seed.find((o) => o.kind === 'ScaledObject') as unknown as ScaledObject;
    const scaledObjects: ScaledObject[] = [
      seedSo,
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'api-scaler' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' },
          pollingInterval: 1,
          minReplicaCount: 1,
          maxReplicaCount: 5,
          advanced: { horizontalPodAutoscalerConfig: { name: 'api-hpa' } },
          triggers: [{ type: 'mysql', metadata: { query: 'SELECT 9', queryValue: '3' }, authenticationRef: { name: 'keda-trigger-auth-mysql-secret' } }],
        },
      },
    ];
    for (const watched of ['statefulsets', 'deployments']) watches.push(await watchReplicas(api, ns, watched, seen, stopWatching.signal));
    for (const [i, so] of scaledObjects.entries()) {
      const m = MIGRATED[i]!;
      // As KEDA leaves it: its label (ensureScaledObjectLabel), its finalizer, an annotation of the user's.
      so.metadata = {
        ...so.metadata,
        labels: { 'scaledobject.keda.sh/name': so.metadata.name },
        annotations: { 'example.com/owner': 'payments' },
        finalizers: ['finalizer.keda.sh'],
      };
      const created = await api.request<ScaledObject>('create', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects`, { body: so });
      await api.request('patch', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/${so.metadata.name}/status`, {
        body: { status: kedaStatus(m, new Date()) },
        patchType: 'merge',
      });
      const hpa = await api.request<{ metadata: { uid: string } }>('create', `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`, { body: kedaHpa(created, m) });
      kedaHpaUids.set(m.hpa, hpa.metadata.uid);
    }

    running = await startInProcessController(cp, 'migrate', { namespace: ns, metricsApi: true });
  });

  after(async () => {
    stopWatching.abort();
    await Promise.all(watches.map((w) => w().catch(() => undefined)));
    await running?.stop();
    api?.close();
  });

  it('adopts each HPA and rewrites it to its own shape, keeping its name and KEDA\'s labels and annotations beside its own', async () => {
    for (const m of MIGRATED) {
      const so = await getSo(m.so);
      const hpa = await waitFor(async () => {
        const found = await getHpa(m.hpa);
        return found.metadata.labels?.['app.kubernetes.io/managed-by'] === 'queryscaler' ? found : undefined;
      }, { what: `HPA ${m.hpa} rewritten by queryscaler`, timeoutMs: 60_000 });
      expect(hpa.metadata.labels).to.deep.equal({
        'app.kubernetes.io/name': m.hpa,
        'app.kubernetes.io/version': KEDA_VERSION,
        'app.kubernetes.io/part-of': m.so,
        'app.kubernetes.io/managed-by': 'queryscaler',
        'scaledobject.keda.sh/name': m.so,
      });
      expect((hpa.metadata as { annotations?: Record<string, string> }).annotations).to.deep.equal({ 'example.com/owner': 'payments' });
      expect((hpa.metadata as { uid?: string }).uid).to.equal(kedaHpaUids.get(m.hpa));
      expect(hpa.metadata.ownerReferences).to.deep.equal([
        { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: m.so, uid: so.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
      expect(hpa.spec.metrics.map((metric) => metric.external.metric.name)).to.deep.equal(['s0-mysql-testdb']);
      const ready = so.status?.conditions?.find((c) => c.type === 'Ready');
      expect([ready?.status, so.status?.hpaName]).to.deep.equal(['True', m.hpa]);
    }
    // Not refused for a moment (ScaleTargetConflict, HPAConflict): the only Warnings are about the
    // seed itself, its member limit and its root account.
    const events = await api.request<{ items: Array<{ type: string; reason: string; involvedObject: { name: string } }> }>('list', `/api/v1/namespaces/${ns}/events`);
    const seedWarnings = new Set(['InnoDBClusterMemberLimit', 'TriggerAccountExcessPrivileges']);
    const warnings = events.items.filter((e) => e.type === 'Warning' && MIGRATED.some((m) => m.so === e.involvedObject.name) && !seedWarnings.has(e.reason));
    expect(warnings.map((e) => `${e.involvedObject.name} ${e.reason}`)).to.deep.equal([]);
  });

  it('serves every ScaledObject\'s metric, which the HPA controller reads, and keeps the original count KEDA recorded', async () => {
    for (const m of MIGRATED) {
      const served = await api.request<{ items: Array<{ value: string }> }>('get',
        `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/s0-mysql-testdb`, { query: { labelSelector: `scaledobject.keda.sh/name=${m.so}` } });
      expect(served.items.map((i) => i.value)).to.deep.equal([m.value]);
      // The HPA shows an External AverageValue per pod: the value over the target's replicas.
      const perPod = String(Number(m.value) / m.replicas);
      let last: HpaStatus | undefined;
      const status = await waitFor(async () => {
        last = (await getHpa(m.hpa)).status;
        const current = last?.currentMetrics?.[0]?.external?.current?.averageValue;
        return current === perPod && last?.desiredReplicas === m.replicas ? last : undefined;
      }, { what: `HPA ${m.hpa} reading ${m.value} from queryscaler`, timeoutMs: 60_000 }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; its status: ${JSON.stringify(last)}`);
      });
      expect(status.conditions?.find((c) => c.type === 'ScalingActive')?.status).to.equal('True');
      expect((await getSo(m.so)).status?.originalReplicaCount).to.equal(m.original);
    }
  });

  it('never moved a target\'s spec.replicas while taking over', async () => {
    // Two more syncs of the HPA controller (every 2 s here) on queryscaler's values, then the watch closes.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    stopWatching.abort();
    // Ended by the abort, a watch may end with an error: what it saw is in `seen` either way.
    await Promise.all(watches.map((w) => w().catch(() => undefined)));
    const changes = Object.fromEntries([...seen].map(([target, values]) => [target, [...new Set(values)]]));
    console.log(`      ${[...seen.values()].reduce((n, v) => n + v.length, 0)} replica readings of the targets from before the start to now`);
    expect(changes).to.deep.equal({ 'statefulsets/mycluster': [2], 'deployments/api': [3] });
  });

  it('on delete with restoreToOriginalReplicaCount, goes back to the count KEDA recorded', async () => {
    await api.request('delete', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/mysql-scaledobject`);
    await waitForGone(() => getSo('mysql-scaledobject'), { what: 'the ScaledObject to be deleted', timeoutMs: 60_000 }, isNotFound);
    const scale = await api.request<{ spec: { replicas: number } }>('get', `/apis/apps/v1/namespaces/${ns}/statefulsets/mycluster/scale`);
    expect(scale.spec.replicas).to.equal(1);
  });
});

interface HpaStatus {
  desiredReplicas?: number;
  currentMetrics?: Array<{ external?: { current?: { averageValue?: string } } }>;
  conditions?: Array<{ type: string; status: string }>;
}

function deployment(name: string, replicas: number): KubernetesObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'registry.invalid/never-pulled:1' }] } },
    },
  } as KubernetesObject;
}
