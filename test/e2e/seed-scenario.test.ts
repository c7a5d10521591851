// The seed scenario end to end: the blog's keda.yaml (Secret values aside) against a Parallel
// StatefulSet `mycluster`, the real HPA controller asking queryscaler's external metrics API through
// the aggregation layer, and replica counts asserted to the number the HPA arithmetic gives.

import { AppsV1Api, AutoscalingV2Api, CustomObjectsApi, type V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import type { ControlPlane } from '../support/control-plane.js';
import {
  applyYaml,
  createTestNamespace,
  deleteTestNamespace,
  installCrds,
  kubectl,
  registerExternalMetricsApi,
  unregisterExternalMetricsApi,
  waitFor,
  waitForGone,
} from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { ReplicaTrace } from '../support/replica-trace.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const CRDS_DIR = fileURLToPath(new URL('../../crds/', import.meta.url));
const SO = 'mysql-scaledobject';
const HPA = `keda-hpa-${SO}`;
const METRIC = 's0-mysql-testdb';
const METRICS_SERVICE = { serviceName: 'queryscaler-metrics-apiserver', serviceNamespace: 'default' };
// The test's own copy of keda.yaml waits 10 s instead of 300 s before scaling down.
const SCALE_DOWN_WINDOW_SECONDS = 10;

describe('seed scenario end to end @integration', function () {
  this.timeout(240_000);

  let cp: ControlPlane;
  let db: MariaDb;
  let queryscaler: RunningQueryscaler;

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, CRDS_DIR);
    await createSeedTable(db);
    queryscaler = await startQueryscaler({
      kubeConfig: cp.kubeConfig,
      metricsApi: { host: '127.0.0.1', port: 0 },
      serving: { kind: 'self-signed', dnsNames: [`${METRICS_SERVICE.serviceName}.${METRICS_SERVICE.serviceNamespace}.svc`] },
      logLevel: process.env.QUERYSCALER_TEST_LOG ?? 'silent',
    });
    await registerExternalMetricsApi(cp, { port: queryscaler.metricsApiPort ?? 0, caBundlePem: queryscaler.servingCaPem ?? '', ...METRICS_SERVICE });
  });

  after(async () => {
    await unregisterExternalMetricsApi(cp, METRICS_SERVICE).catch(() => undefined);
    await queryscaler?.stop();
  });

  async function deploySeed(rows: number): Promise<{ namespace: string; apps: AppsV1Api; trace: ReplicaTrace }> {
    await setSeedRowCount(db, rows);
    const namespace = await createTestNamespace(cp, 'seed');
    await applyYaml(cp, toYaml(seedStatefulSetObjects()), namespace);
    await applyYaml(cp, toYaml(seedKedaObjects(db, { scaleDownStabilizationSeconds: SCALE_DOWN_WINDOW_SECONDS })), namespace);
    const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
    return { namespace, apps, trace: new ReplicaTrace(apps, namespace) };
  }

  async function readHpa(namespace: string): Promise<V2HorizontalPodAutoscaler> {
    return cp.kubeConfig.makeApiClient(AutoscalingV2Api).readNamespacedHorizontalPodAutoscaler({ name: HPA, namespace });
  }

  it('scales mycluster 1 -> 5 -> 6 on 100 rows, to 10 on 500, down to 6 and 1 as rows go, and restores on delete', async () => {
    const { namespace, trace } = await deploySeed(1);

    const hpa = await waitFor(() => readHpa(namespace), { what: `HPA ${namespace}/${HPA}`, timeoutMs: 30_000 });
    expect(hpa.spec).to.deep.include({ minReplicas: 1, maxReplicas: 10 });
    expect(hpa.spec?.scaleTargetRef).to.deep.equal({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster' });
    expect(hpa.spec?.metrics).to.deep.equal([
      {
        type: 'External',
        external: {
          metric: { name: METRIC, selector: { matchLabels: { 'scaledobject.keda.sh/name': SO } } },
          target: { type: 'AverageValue', averageValue: '3' },
        },
      },
    ]);
    expect(hpa.spec?.behavior?.scaleDown).to.deep.include({
      stabilizationWindowSeconds: SCALE_DOWN_WINDOW_SECONDS,
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    });

    // The metric through the aggregation layer, as the HPA controller reads it.
    const raw = await waitFor(
      async () => {
        const result = await kubectl(cp, ['get', '--raw', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${METRIC}?labelSelector=scaledobject.keda.sh%2Fname%3D${SO}`]);
        return result.code === 0 ? (JSON.parse(result.stdout) as { items: Array<{ metricName: string; value: string }> }) : undefined;
      },
      { what: 'the external metric through kube-apiserver', timeoutMs: 30_000 },
    );
    expect(raw.items.map((i) => [i.metricName, i.value])).to.deep.equal([[METRIC, '1']]);
    expect(await trace.current()).to.equal(1);

    // 100 rows: CEIL(100/6) = 17, ceil(17/3) = 6. The default scale-up allows +4 pods or +100% per
    // 15 s, so 1 -> 5 first; then 17/(3*5) = 1.13 is outside the 10% tolerance, so 5 -> 6.
    await setSeedRowCount(db, 100);
    expect(await trace.waitFor(6, 60_000)).to.deep.equal([1, 5, 6]);
    await trace.holds(6, 6_000);

    // 500 rows: CEIL(500/6) = 84, ceil(84/3) = 28, held at maxReplicaCount 10 in one step.
    await setSeedRowCount(db, 500);
    expect(await trace.waitFor(10, 60_000)).to.deep.equal([6, 10]);
    const limited = await waitFor(
      async () => (await readHpa(namespace)).status?.conditions?.find((c) => c.type === 'ScalingLimited' && c.status === 'True'),
      { what: 'HPA condition ScalingLimited=True', timeoutMs: 20_000 },
    );
    expect(limited.reason).to.equal('TooManyReplicas');

    // Back to 100 rows: 6 again once the (shortened) stabilization window has passed.
    await setSeedRowCount(db, 100);
    expect(await trace.waitFor(6, 60_000)).to.deep.equal([10, 6]);

    // All but 2 rows deleted: CEIL(2/6) = 1, ceil(1/3) = 1.
    await setSeedRowCount(db, 2);
    expect(await trace.waitFor(1, 60_000)).to.deep.equal([6, 1]);

    // Up to 10 once more, then delete the ScaledObject: restoreToOriginalReplicaCount puts back the
    // 1 replica the StatefulSet had before queryscaler first scaled it, the HPA is garbage-collected,
    // and nothing scales it back up afterwards.
    await setSeedRowCount(db, 500);
    await trace.waitFor(10, 60_000);
    const objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await objects.deleteNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: SO });
    await waitForGone(() => objects.getNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: SO }), { what: 'the ScaledObject to be gone (finalizer done)', timeoutMs: 60_000 });
    expect(await trace.current()).to.equal(1);
    await waitForGone(() => readHpa(namespace), { what: `HPA ${HPA} to be gone`, timeoutMs: 30_000 });
    await trace.holds(1, 5_000);

    await deleteTestNamespace(cp, namespace);
  });

  it('stays at 5 from 1 replica on 96 rows: 16/(3*5) is within the HPA tolerance', async () => {
    // Path dependence of the HPA: the same 96 rows would give 6 from a standing start above 5.
    const { namespace, trace } = await deploySeed(96);
    expect(await trace.waitFor(5, 60_000)).to.deep.equal([1, 5]);
    // Two HPA syncs and a whole scale-up period later it is still 5.
    await trace.holds(5, 20_000);
    const hpa = await readHpa(namespace);
    expect(hpa.status?.desiredReplicas).to.equal(5);
    await deleteTestNamespace(cp, namespace);
  });
});
