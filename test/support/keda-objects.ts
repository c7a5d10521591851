// KEDA's objects as KEDA leaves them, for the migration tests: the seed scenario's ScaledObject and
// a Deployment's, each with the HPA KEDA's operator made for it in its exact shape (as
// controllers/keda/hpa.go and scaledobject_controller.go write them: labels
// app.kubernetes.io/{name,version,part-of,managed-by: keda-operator} plus the ScaledObject's own
// labels, among them scaledobject.keda.sh/name; the ScaledObject's annotations; a controller
// ownerReference to its uid; status with originalReplicaCount, hpaName and the rest), their targets
// at the size KEDA scaled them to, and a watch of every spec.replicas the targets take meanwhile.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ScaledObject, ScaledObjectStatus } from '../../src/api/types.js';
import type { KubeApi, WatchEvent } from '../../src/controller/kube-api.js';
import type { ControlPlane } from './control-plane.js';
import { applyYaml } from './kube.js';
import type { MariaDb } from './mariadb.js';
import { seedKedaObjects, seedStatefulSetObjects, toYaml } from './seed-scenario.js';

export const KEDA_VERSION = '2.16.1';
/** 36 rows: the seed query gives CEIL(36 / 6) = 6; with queryValue 3 the HPA wants 2 replicas. */
export const SEED_ROWS = 36;

export interface Migrated {
  so: string;
  hpa: string;
  target: { kind: 'StatefulSet' | 'Deployment'; resource: string; name: string };
  /** What KEDA scaled the target to, and what it recorded before it first did. */
  replicas: number;
  original: number;
  value: string;
}

export const MIGRATED: Migrated[] = [
  { so: 'mysql-scaledobject', hpa: 'keda-hpa-mysql-scaledobject', target: { kind: 'StatefulSet', resource: 'statefulsets', name: 'mycluster' }, replicas: 2, original: 1, value: '6' },
  { so: 'api-scaler', hpa: 'api-hpa', target: { kind: 'Deployment', resource: 'deployments', name: 'api' }, replicas: 3, original: 1, value: '9' },
];

/** The HPA KEDA's operator makes for `so` (newHPAForScaledObject), with the metric spec its mysql scaler gives. */
export function kedaHpa(so: ScaledObject, m: Migrated): object {
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
export function kedaStatus(m: Migrated, now: Date): ScaledObjectStatus & Record<string, unknown> {
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
export async function watchReplicas(api: KubeApi, namespace: string, resource: string, seen: Map<string, number[]>, signal: AbortSignal): Promise<() => Promise<void>> {
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

export interface KedaObjects {
  /** The uid of each HPA as KEDA made it: adopted means the same object, not one deleted and made anew. */
  hpaUids: Map<string, string>;
  /** Each ends when `signal` aborts; what they saw is in `seen`. */
  watches: Array<() => Promise<void>>;
}

/** Creates MIGRATED's targets, ScaledObjects (with KEDA's status) and KEDA's HPAs in `ns`, watching the targets' replicas from before. */
export async function createKedaObjects(cp: ControlPlane, api: KubeApi, db: MariaDb, ns: string, seen: Map<string, number[]>, signal: AbortSignal): Promise<KedaObjects> {
  const watches: Array<() => Promise<void>> = [];
  const kedaHpaUids = new Map<string, string>();
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
    for (const watched of ['statefulsets', 'deployments']) watches.push(await watchReplicas(api, ns, watched, seen, signal));
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

  return { hpaUids: kedaHpaUids, watches };
}

export interface HpaStatus {
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
