// /metrics of the whole app against the real kube-apiserver and MariaDB: 100 ScaledObjects give
// exactly one series each per KEDA family, and deleting them leaves none that names them (no
// unbounded label growth). Counts are read from the text exposition, as Prometheus would scrape it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import { credentialObjects, forEachLimited, scaledObjectObject, statefulSetObject } from '../../bench/support/scale-fixtures.js';
import { parseExposition, type Sample } from '../../bench/support/prometheus-text.js';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import type { ControlPlane } from '../support/control-plane.js';
import { createTestNamespace, deleteTestNamespace, installCrds, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedReader, createSeedTable, setSeedRowCount } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const CRDS_DIR = fileURLToPath(new URL('../../crds/', import.meta.url));
const N = 100;
/** Every family with one series per ScaledObject (or per trigger: one trigger each here). */
const PER_OBJECT_FAMILIES = [
  'keda_internal_scale_loop_latency_seconds',
  'keda_scaled_object_errors_total',
  'keda_scaled_object_paused',
  'keda_scaler_active',
  'keda_scaler_detail_errors_total',
  'keda_scaler_metrics_latency_seconds',
  'keda_scaler_metrics_value',
  'queryscaler_fallback_active',
  'queryscaler_scaler_metrics_target',
];

function scrape(port: number): Promise<Sample[]> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(parseExposition(body)) : reject(new Error(`/metrics answered ${res.statusCode}: ${body}`))));
      })
      .on('error', reject);
  });
}

describe('/metrics with 100 ScaledObjects created and deleted @integration', function () {
  this.timeout(240_000);

  let cp: ControlPlane;
  let db: MariaDb;
  let app: RunningQueryscaler | undefined;
  let namespace = '';
  const user = `series_${randomBytes(3).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const pool = (): string => `${user}@127.0.0.1:${db.port}/testdb`;

  /** Per family, the series that name a ScaledObject of the test namespace. */
  const seriesCounts = async (): Promise<Record<string, number>> => {
    const counts: Record<string, number> = {};
    for (const s of await scrape(app?.prometheusPort ?? 0)) {
      if (s.labels.namespace !== namespace || (s.labels.scaledObject === undefined && s.labels.resource === undefined)) continue;
      counts[s.name] = (counts[s.name] ?? 0) + 1;
    }
    return counts;
  };

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, CRDS_DIR);
    await createSeedTable(db);
    await setSeedRowCount(db, 1);
    await createSeedReader(db, user, password);
    namespace = await createTestNamespace(cp, 'series');
    app = await startQueryscaler({
      kubeConfig: cp.kubeConfig,
      metricsApi: false,
      prometheus: { host: '127.0.0.1', port: 0 },
      logLevel: process.env.QUERYSCALER_TEST_LOG ?? 'silent',
    });
  });

  after(async () => {
    await app?.stop();
    if (namespace !== '') await deleteTestNamespace(cp, namespace);
    await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
  });

  it(`gives each of ${N} ScaledObjects one series per family, with the value the query returns`, async () => {
    const client = KubernetesObjectApi.makeApiClient(cp.kubeConfig);
    const create = async (object: KubernetesObject): Promise<void> => void (await client.create(object));
    for (const object of credentialObjects(namespace, { host: db.host, port: db.port, user, password })) await create(object);
    const indexes = Array.from({ length: N }, (_, i) => i);
    await forEachLimited(indexes, 10, async (i) => {
      await create(statefulSetObject(namespace, i, 1));
      await create(scaledObjectObject({ namespace, mode: 'seed', originalReplicas: 1 }, i));
    });

    const counts = await waitFor(
      async () => {
        const now = await seriesCounts();
        return PER_OBJECT_FAMILIES.every((family) => now[family] === N) ? now : undefined;
      },
      { what: `one series per family for each of ${N} ScaledObjects`, timeoutMs: 120_000, intervalMs: 1_000 },
    );
    expect(counts).to.deep.equal(Object.fromEntries(PER_OBJECT_FAMILIES.map((family) => [family, N])));

    const samples = await scrape(app?.prometheusPort ?? 0);
    const mine = (name: string): Sample[] => samples.filter((s) => s.name === name && s.labels.namespace === namespace);
    // The seed query on one row: CEIL(1/6) = 1, above activationQueryValue 0.
    expect(new Set(mine('keda_scaler_metrics_value').map((s) => s.value))).to.deep.equal(new Set([1]));
    expect(new Set(mine('keda_scaler_active').map((s) => s.value))).to.deep.equal(new Set([1]));
    expect(mine('keda_scaler_metrics_value').find((s) => s.labels.scaledObject === 'so-7')?.labels).to.deep.equal({
      namespace,
      metric: 's0-mysql-testdb',
      scaledObject: 'so-7',
      scaler: 'mySQLScaler',
      triggerIndex: '0',
      type: 'scaledobject',
    });
    expect(mine('keda_resource_registered_total').map((s) => `${s.labels.type} ${s.value}`).sort()).to.deep.equal([
      `scaled_object ${N}`,
      'trigger_authentication 1',
    ]);
    // One pool for the hundred triggers, bounded by the default pool size.
    const poolSeries = (name: string): number | undefined => samples.find((s) => s.name === name && s.labels.pool === pool())?.value;
    expect(poolSeries('queryscaler_mysql_pool_leases')).to.equal(N);
    expect(poolSeries('queryscaler_mysql_pool_max_connections')).to.equal(4);
    expect(poolSeries('queryscaler_mysql_pool_open_connections')).to.be.within(1, 4);
    const readings = samples.filter((s) => s.name === 'queryscaler_mysql_readings_total' && s.labels.pool === pool());
    const queries = samples.find((s) => s.name === 'queryscaler_mysql_query_duration_seconds_count' && s.labels.pool === pool() && s.labels.outcome === 'success');
    const served = readings.reduce((sum, s) => sum + s.value, 0);
    console.log(`      ${served} readings from ${queries?.value ?? 0} queries: ${(served / (queries?.value ?? 1)).toFixed(1)} pollers per query`);
    expect(served / (queries?.value ?? 1)).to.be.above(10);
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes(password)))).to.equal(false);
  });

  it('leaves no series that names them once they are deleted, and closes their pool', async () => {
    await cp.kubeConfig.makeApiClient(CustomObjectsApi).deleteCollectionNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects' });
    await waitFor(async () => Object.keys(await seriesCounts()).length === 0, {
      what: () => `every series of the deleted ScaledObjects to go`,
      timeoutMs: 120_000,
      intervalMs: 1_000,
    });
    const samples = await scrape(app?.prometheusPort ?? 0);
    expect(samples.filter((s) => s.labels.namespace === namespace).map((s) => `${s.name} ${s.labels.type} ${s.value}`)).to.deep.equal([
      'keda_resource_registered_total trigger_authentication 1',
    ]);
    expect(samples.filter((s) => s.labels.pool === pool() && s.name.startsWith('queryscaler_mysql_pool_'))).to.deep.equal([]);
  });
});
