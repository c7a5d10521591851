// Fifty ScaledObjects at once on the real control plane and MariaDB (issue 9): all get their HPA and
// Ready within a bound; the shared pool holds the MySQL user's server connections at its bound and
// runs the one query they share about once per polling interval and at most once per freshness bound
// (250 ms) for the HPA's requests (issue 17), not once per ScaledObject or per request; a steady
// state writes nothing to the API server; deleting all fifty at once puts every StatefulSet back to
// its original count for good, and leaves no ScaledObject (no finalizer) behind.

import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, AutoscalingV2Api, CustomObjectsApi, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { Histogram, Registry } from 'prom-client';
import { DEFAULT_FRESHNESS_MS } from '../../src/metric-cache/metric-cache.js';
import { ANSWER_AGE_METRIC } from '../../src/metrics-api/answer-metrics.js';
import type { ScaledObject } from '../../src/api/types.js';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import {
  credentialObjects,
  forEachLimited,
  scaledObjectName,
  scaledObjectObject,
  statefulSetName,
  statefulSetObject,
} from '../../bench/support/scale-fixtures.js';
import type { ControlPlane } from '../support/control-plane.js';
import { queriesSentBy } from '../support/general-log.js';
import { kubeApiRequests } from '../support/kube-api-requests.js';
import { createTestNamespace, deleteTestNamespace, installCrds, registerExternalMetricsApi, unregisterExternalMetricsApi, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedReader, createSeedTable, SEED_QUERY, setSeedRowCount } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const CRDS_DIR = fileURLToPath(new URL('../../crds/', import.meta.url));
const METRICS_SERVICE = 'queryscaler-metrics-apiserver';
const N = 50;
const ORIGINAL_REPLICAS = 2;
/** One row: the seed query gives CEIL(1/6) = 1, and the HPA wants ceil(1/3) = 1 replica. */
const ROWS = 1;
const SCALED_REPLICAS = 1;
const POOL_SIZE = 4;
/** With the default 20 requests/s and 40 burst: about six requests per ScaledObject, and slack. */
const ALL_READY_WITHIN_MS = 45_000;
const QUERY_WINDOW_MS = 5_000;
const STEADY_WINDOW_MS = 10_000;
/** Two HPA syncs of the test control plane (2 s each) and a margin. */
const TWO_HPA_SYNCS_MS = 5_000;
const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete']);

type Requests = Map<string, number>;


/** Metric values this process has answered the HPA with: the answer age histogram's count. */
async function metricAnswers(registry: Registry): Promise<number> {
  const histogram = registry.getSingleMetric(ANSWER_AGE_METRIC) as Histogram | undefined;
  return (await histogram?.get())?.values.find((v) => v.metricName === `${ANSWER_AGE_METRIC}_count`)?.value ?? 0;
}

/** kube-apiserver is back after about 4 s; the informers' backoff after it is at most a few seconds more. */
const RESTART_WINDOW_MS = 15_000;

/** The writes between two readings of the counter, e.g. `{ 'patch scaledobjects/status': 3 }`. */
function writesBetween(before: Requests, after: Requests): Record<string, number> {
  const writes: Record<string, number> = {};
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0 && WRITE_VERBS.has(key.split(' ')[0] ?? '')) writes[key] = delta;
  }
  return writes;
}

describe('hundreds of ScaledObjects, fifty of them here @integration', function () {
  this.timeout(180_000);

  let cp: ControlPlane;
  let db: MariaDb;
  let app: RunningQueryscaler | undefined;
  let namespace = '';
  const user = `scale_${randomBytes(3).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const indexes = Array.from({ length: N }, (_, i) => i);
  let mostConnections = 0;
  let sampling: Promise<void> | undefined;
  let samplingOn = false;

  const scaledObjects = async (): Promise<ScaledObject[]> => {
    const list = (await cp.kubeConfig.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: 'keda.sh',
      version: 'v1alpha1',
      namespace,
      plural: 'scaledobjects',
    })) as { items: ScaledObject[] };
    return list.items;
  };
  const isReady = (so: ScaledObject): boolean => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const replicasOf = async (): Promise<number[]> => {
    const list = await cp.kubeConfig.makeApiClient(AppsV1Api).listNamespacedStatefulSet({ namespace });
    const byName = new Map(list.items.map((s) => [s.metadata?.name ?? '', s.spec?.replicas ?? -1]));
    return indexes.map((i) => byName.get(statefulSetName(i)) ?? -1);
  };
  const hpaCount = async (): Promise<number> =>
    (await cp.kubeConfig.makeApiClient(AutoscalingV2Api).listNamespacedHorizontalPodAutoscaler({ namespace })).items.length;

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, CRDS_DIR);
    await createSeedTable(db);
    await setSeedRowCount(db, ROWS);
    // A user of its own, so its server threads are queryscaler's and nobody else's.
    await createSeedReader(db, user, password);
    namespace = await createTestNamespace(cp, 'scale');

    app = await startQueryscaler({
      kubeConfig: cp.kubeConfig,
      metricsApi: { host: '127.0.0.1', port: 0 },
      serving: { kind: 'self-signed', dnsNames: [`${METRICS_SERVICE}.default.svc`] },
      mysqlPoolSize: POOL_SIZE,
      logLevel: process.env.QUERYSCALER_TEST_LOG ?? 'silent',
    });
    await registerExternalMetricsApi(cp, {
      port: app.metricsApiPort as number,
      caBundlePem: app.servingCaPem as string,
      serviceName: METRICS_SERVICE,
      serviceNamespace: 'default',
    });

    samplingOn = true;
    sampling = (async () => {
      while (samplingOn) {
        mostConnections = Math.max(mostConnections, await db.threadsConnected(user));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
  });

  after(async () => {
    samplingOn = false;
    await sampling;
    await unregisterExternalMetricsApi(cp, { serviceName: METRICS_SERVICE, serviceNamespace: 'default' }).catch(() => undefined);
    await app?.stop();
    if (namespace !== '') await deleteTestNamespace(cp, namespace);
    await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
  });

  it(`gives ${N} ScaledObjects applied at once their HPA and Ready=True within ${ALL_READY_WITHIN_MS / 1000} s`, async () => {
    const client = KubernetesObjectApi.makeApiClient(cp.kubeConfig);
    const create = async (object: KubernetesObject): Promise<void> => {
      await client.create(object);
    };
    for (const object of credentialObjects(namespace, { host: db.host, port: db.port, user, password })) await create(object);
    await forEachLimited(indexes, 10, (i) => create(statefulSetObject(namespace, i, ORIGINAL_REPLICAS)));

    const started = Date.now();
    await forEachLimited(indexes, 10, (i) => create(scaledObjectObject({ namespace, mode: 'seed', originalReplicas: ORIGINAL_REPLICAS }, i)));
    let ready = 0;
    let hpas = 0;
    await waitFor(
      async () => {
        ready = (await scaledObjects()).filter(isReady).length;
        hpas = await hpaCount();
        return ready === N && hpas === N;
      },
      { what: () => `${N} Ready ScaledObjects and HPAs (now ${ready} and ${hpas})`, timeoutMs: ALL_READY_WITHIN_MS, intervalMs: 250 },
    );
    console.log(`      ${N} ScaledObjects Ready with their HPAs ${((Date.now() - started) / 1000).toFixed(1)} s after the first was created`);

    const all = await scaledObjects();
    expect(all.map((so) => so.status?.originalReplicaCount)).to.deep.equal(indexes.map(() => ORIGINAL_REPLICAS));
    expect(all.map((so) => so.status?.hpaName).sort()).to.deep.equal(indexes.map((i) => `keda-hpa-${scaledObjectName(i)}`).sort());
  });

  it(`at steady state holds the pool bound of ${POOL_SIZE} connections, runs the shared query for polls and HPA requests at most once per ${DEFAULT_FRESHNESS_MS} ms plus once a second, and writes nothing`, async () => {
    // Steady: every HPA has moved its StatefulSet to what the metric asks, and every status shows the value.
    await waitFor(async () => (await replicasOf()).every((r) => r === SCALED_REPLICAS), {
      what: `every StatefulSet at ${SCALED_REPLICAS} replica`,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await waitFor(
      async () => (await scaledObjects()).every((so) => so.status?.lastMetricValue === '1' && so.status.conditions?.some((c) => c.type === 'Active' && c.status === 'True')),
      { what: 'every status to show value 1 and Active=True', timeoutMs: 30_000, intervalMs: 500 },
    );

    const answersBefore = await metricAnswers(app!.metrics.registry);
    const sent = await queriesSentBy(db, user, () => new Promise((resolve) => setTimeout(resolve, QUERY_WINDOW_MS)));
    const answers = (await metricAnswers(app!.metrics.registry)) - answersBefore;
    const queries = sent.filter((text) => text.includes(`(${SEED_QUERY})`)).length;
    console.log(`      ${queries} runs of the shared query in ${QUERY_WINDOW_MS / 1000} s for ${N} ScaledObjects polling every second and ${answers} HPA requests`);
    // A request reads afresh only when no identical query ran in the 250 ms before it, and then its
    // read stands in for the polls: at most one query per 250 ms and one a second, give or take the
    // window's edges. Without sharing it would be one per poll (N a second) and one per request.
    expect(answers, 'the HPA asked for every metric in the window (sync every 2 s)').to.be.at.least(N);
    expect(queries).to.be.within(QUERY_WINDOW_MS / 1000 - 1, QUERY_WINDOW_MS / DEFAULT_FRESHNESS_MS + QUERY_WINDOW_MS / 1000 + 2);
    expect(queries, 'fewer queries than HPA requests').to.be.below(answers / 2);

    const before = await kubeApiRequests(app!.metrics);
    await new Promise((resolve) => setTimeout(resolve, STEADY_WINDOW_MS));
    const after = await kubeApiRequests(app!.metrics);
    expect(writesBetween(before, after)).to.deep.equal({});

    expect(mostConnections).to.be.within(1, POOL_SIZE);
  });

  it('lives through a kube-apiserver restart: the watches re-list, and the re-list writes nothing', async () => {
    const before = await kubeApiRequests(app!.metrics);
    await cp.restartApiServer();
    // Long enough for every watch to notice, back off, re-list and hand each object to a reconcile.
    await new Promise((resolve) => setTimeout(resolve, RESTART_WINDOW_MS));
    const after = await kubeApiRequests(app!.metrics);
    const lists = [...after].filter(([key, value]) => key.startsWith('list ') && value > (before.get(key) ?? 0)).map(([key]) => key);
    expect(lists, 'the watches re-listed after the restart').to.include.members(['list scaledobjects', 'list horizontalpodautoscalers']);
    expect(writesBetween(before, after)).to.deep.equal({});
    expect((await scaledObjects()).filter(isReady)).to.have.length(N);
  });

  it(`deleting all ${N} at once restores every StatefulSet to ${ORIGINAL_REPLICAS} for good and leaves no ScaledObject behind`, async () => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await forEachLimited(indexes, 10, async (i) => {
      await custom.deleteNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: scaledObjectName(i) });
    });
    let left = N;
    await waitFor(
      async () => {
        left = (await scaledObjects()).length;
        return left === 0;
      },
      { what: () => `every ScaledObject to be gone, its finalizer removed (${left} left)`, timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(await hpaCount()).to.equal(0);
    expect(await replicasOf()).to.deep.equal(indexes.map(() => ORIGINAL_REPLICAS));

    // The HPA controller syncs every 2 s: had any HPA outlived its restore, it would scale back now.
    const until = Date.now() + TWO_HPA_SYNCS_MS;
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await replicasOf()).to.deep.equal(indexes.map(() => ORIGINAL_REPLICAS));
    }
  });
});
