// Replacing KEDA in place, the HPA part: ScaledObjects and the HPAs KEDA's operator made for them
// are in the cluster in KEDA's exact shape (test/support/keda-objects.ts), their targets at the size
// KEDA scaled them to. queryscaler starts (the controller in process, its
// metrics API registered as the APIService): it adopts each HPA, rewrites it to its own shape, keeps
// KEDA's originalReplicaCount, and the real HPA controller reads the metric from it, while no
// target's spec.replicas moves (watched from before the start to the end). Deleting a ScaledObject
// then restores the count KEDA recorded.
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { ScaledObject } from '../../src/api/types.js';
import type { HorizontalPodAutoscaler } from '../../src/controller/desired-hpa.js';
import { isNotFound, KubeApi } from '../../src/controller/kube-api.js';
import type { ControlPlane } from '../support/control-plane.js';
import { createKedaObjects, KEDA_VERSION, MIGRATED, SEED_ROWS, type HpaStatus } from '../support/keda-objects.js';
import { createTestNamespace, installCrds, waitFor, waitForGone } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { startInProcessController, type InProcessController } from '../support/in-process-controller.js';
import { createSeedTable, setSeedRowCount } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));

describe('migrating from KEDA: its HPAs adopted in place @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let db: MariaDb;
  let running: InProcessController | undefined;
  let api: KubeApi;
  let ns: string;
  const seen = new Map<string, number[]>();
  const stopWatching = new AbortController();
  let watches: Array<() => Promise<void>> = [];
  /** The uid of each HPA as KEDA made it: adopted means the same object, not one deleted and made anew. */
  let kedaHpaUids = new Map<string, string>();

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

    ({ hpaUids: kedaHpaUids, watches } = await createKedaObjects(cp, api, db, ns, seen, stopWatching.signal));
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
