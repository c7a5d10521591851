// What the log says about ScaledObjects, against the real kube-apiserver and MariaDB: guard-rail
// warnings reach it (once, not every reconcile), and every line about a ScaledObject names it as
// `scaledObject: <namespace>/<name>`, the field a log query filters on.
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseExposition } from '../../bench/support/prometheus-text.js';
import { createLogger } from '../../src/log.js';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import type { ControlPlane } from '../support/control-plane.js';
import { kubeApiRequests } from '../support/kube-api-requests.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, installCrds, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));

describe('the log about ScaledObjects @integration', function () {
  this.timeout(120_000);

  let cp: ControlPlane;
  let db: MariaDb;
  let app: RunningQueryscaler | undefined;
  let ns = '';
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, CRDS);
    await createSeedTable(db);
    await setSeedRowCount(db, 1);
    ns = await createTestNamespace(cp, 'logs');
    app = await startQueryscaler({ kubeConfig: cp.kubeConfig, metricsApi: false, logger: createLogger('info', destination) });
  });

  after(async () => {
    await app?.stop();
    if (ns !== '') await deleteTestNamespace(cp, ns);
  });

  it('says each guard-rail warning once, naming the ScaledObject, and shows it on /metrics', async () => {
    await applyYaml(cp, toYaml(seedStatefulSetObjects()), ns);
    await applyYaml(cp, toYaml(seedKedaObjects(db)), ns);
    const key = `${ns}/mysql-scaledobject`;
    const guardRails = (): Array<Record<string, unknown>> => lines.filter((l) => l.msg === 'guard rail' && l.scaledObject === key);
    await waitFor(() => guardRails().length === 2, { what: 'the InnoDB Cluster and the account guard rails in the log' });
    expect(guardRails().map((l) => [l.level, l.reason])).to.deep.equal([
      ['warn', 'InnoDBClusterMemberLimit'],
      ['warn', 'TriggerAccountExcessPrivileges'],
    ]);
    expect(String(guardRails()[0]?.warning)).to.equal(
      `StatefulSet ${ns}/mycluster is a MySQL InnoDB Cluster (containers "mysql" and "sidecar", as the MySQL Operator makes them), and Group ` +
        'Replication holds at most 9 members: with maxReplicaCount 10, pod 10 and beyond would never join the group. Set maxReplicaCount to 9.',
    );
    const warnings = parseExposition(await app!.metrics.exposition()).filter((s) => s.name === 'queryscaler_guard_rail_warnings' && s.labels.namespace === ns);
    expect(warnings.map((s) => [s.labels.scaledObject, s.labels.reason, s.value])).to.deep.equal([['mysql-scaledobject', 'InnoDBClusterMemberLimit', 1]]);

    // A reconcile that finds the same warnings says nothing new. Each reconcile reads the target's
    // /scale afresh, so that GET counts the reconciles.
    const reconciles = async (): Promise<number> => (await kubeApiRequests(app!.metrics)).get('get statefulsets/scale') ?? 0;
    const said = guardRails().length;
    const before = await reconciles();
    const so = seedKedaObjects(db).find((o) => o.kind === 'ScaledObject')!;
    await applyYaml(cp, toYaml([{ ...so, metadata: { ...so.metadata, annotations: { note: 'touched' } } }]), ns);
    await waitFor(async () => (await reconciles()) > before, { what: 'a reconcile after the annotation changed' });
    expect(guardRails().length).to.equal(said);
  });

  it('names the ScaledObject on every line about one', async () => {
    const broken = seedKedaObjects(db).find((o) => o.kind === 'ScaledObject') as { metadata: { name: string }; spec: { triggers: Array<{ authenticationRef: { name: string } }> } };
    broken.metadata.name = 'broken-auth';
    for (const trigger of broken.spec.triggers) trigger.authenticationRef.name = 'missing-auth';
    await applyYaml(cp, toYaml([broken as never]), ns);
    await waitFor(() => lines.some((l) => l.msg === 'ScaledObject is not ready' && l.scaledObject === `${ns}/broken-auth`), { what: 'the not-ready line of broken-auth' });
    const about = lines.filter((l) => JSON.stringify(l).includes('mysql-scaledobject') || JSON.stringify(l).includes('broken-auth'));
    expect(about.length).to.be.above(2);
    const unnamed = about.filter((l) => l.scaledObject !== `${ns}/mysql-scaledobject` && l.scaledObject !== `${ns}/broken-auth`);
    expect(unnamed).to.deep.equal([]);
  });
});
