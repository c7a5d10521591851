// The seed scenario with three queryscaler replicas (issue 15): the aggregator is routed to one
// replica that does not own the blog's ScaledObject, so every HPA request is forwarded to the
// owner; the owner is killed with SIGKILL once the StatefulSet is at 6, and the story goes on
// exactly as the HPA arithmetic says: 10 on 500 rows, 6 again, 1, and restore on delete.

import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { desiredHolder, shardOf } from '../../src/sharding/shard-map.js';
import type { ControlPlane } from '../support/control-plane.js';
import {
  applyYaml,
  createTestNamespace,
  deleteTestNamespace,
  installCrds,
  registerExternalMetricsApi,
  unregisterExternalMetricsApi,
  waitForGone,
} from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { ReplicaSet } from '../support/replica-processes.js';
import { ReplicaTrace } from '../support/replica-trace.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const CRDS_DIR = fileURLToPath(new URL('../../crds/', import.meta.url));
const SO = 'mysql-scaledobject';
const METRICS_SERVICE = { serviceName: 'queryscaler-metrics-apiserver', serviceNamespace: 'default' };
const SCALE_DOWN_WINDOW_SECONDS = 10;
const SHARDS = 16;

describe('seed scenario end to end with three replicas, the owner killed mid-way @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let db: MariaDb;
  let leases = '';
  let namespace = '';
  let replicas: ReplicaSet;

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, CRDS_DIR);
    await createSeedTable(db);
    await setSeedRowCount(db, 1);
    leases = await createTestNamespace(cp, 'seed-leases');
    namespace = await createTestNamespace(cp, 'seed-replicas');
    replicas = new ReplicaSet({ cp, namespace: leases, shards: SHARDS });
  });

  after(async () => {
    await unregisterExternalMetricsApi(cp, METRICS_SERVICE).catch(() => undefined);
    await replicas?.stopAll();
    for (const ns of [namespace, leases]) if (ns !== '') await deleteTestNamespace(cp, ns);
    replicas?.remove();
  });

  it('scales mycluster 1 -> 5 -> 6, then after SIGKILL of the owner to 10, 6 and 1, and restores on delete', async () => {
    // Names chosen so that the replica the aggregator talks to is not the one that owns the object.
    const shard = shardOf(`${namespace}/${SO}`, SHARDS);
    let suffix = 0;
    while (desiredHolder(shard, ['front', `owner-${suffix}`, 'third']) !== `owner-${suffix}`) suffix += 1;
    const owner = `owner-${suffix}`;
    const front = await replicas.start('front');
    await replicas.start(owner);
    await replicas.start('third');
    await registerExternalMetricsApi(cp, { port: front.port, caBundlePem: replicas.ca.certPem, ...METRICS_SERVICE });

    await applyYaml(cp, toYaml(seedStatefulSetObjects()), namespace);
    await applyYaml(cp, toYaml(seedKedaObjects(db, { scaleDownStabilizationSeconds: SCALE_DOWN_WINDOW_SECONDS })), namespace);
    const trace = new ReplicaTrace(cp.kubeConfig.makeApiClient(AppsV1Api), namespace);

    await setSeedRowCount(db, 100);
    expect(await trace.waitFor(6, 90_000)).to.deep.equal([1, 5, 6]);
    await replicas.kill(owner);
    await setSeedRowCount(db, 500);
    expect(await trace.waitFor(10, 90_000)).to.deep.equal([6, 10]);
    await setSeedRowCount(db, 100);
    expect(await trace.waitFor(6, 90_000)).to.deep.equal([10, 6]);
    await setSeedRowCount(db, 2);
    expect(await trace.waitFor(1, 90_000)).to.deep.equal([6, 1]);

    const objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const so = { group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: SO };
    expect(((await objects.getNamespacedCustomObject(so)) as { status?: { originalReplicaCount?: number } }).status?.originalReplicaCount).to.equal(1);
    await setSeedRowCount(db, 500);
    await trace.waitFor(10, 90_000);
    await objects.deleteNamespacedCustomObject(so);
    await waitForGone(() => objects.getNamespacedCustomObject(so), { what: 'the ScaledObject to be gone (finalizer done)', timeoutMs: 60_000 });
    expect(await trace.current()).to.equal(1);
    await trace.holds(1, 5_000);

    const events = await cp.kubeConfig.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace });
    const failedMetric = events.items.filter((e) => e.reason === 'FailedGetExternalMetric');
    console.log(
      `      path ${trace.seen.join(' -> ')}; the HPA's FailedGetExternalMetric events: ${failedMetric.reduce((n, e) => n + (e.count ?? 1), 0)}`,
    );
    expect(failedMetric.map((e) => e.message)).to.deep.equal([]);
  });
});
