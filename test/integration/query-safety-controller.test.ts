// Trigger-query safety on the real kube-apiserver. The blog's keda.yaml connects as root: the seed
// ScaledObject says so with LeastPrivilege=False and one Warning Event that give the GRANT for a
// SELECT-only account, while it keeps scaling (Ready=True). A query that is refused gets Ready=False
// and a Warning Event, and opens no connection.
import { expect } from 'chai';
import type { Condition, ScaledObject } from '../../src/api/types.js';
import type { KubeApi } from '../../src/controller/kube-api.js';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, waitFor } from '../support/kube.js';
import { startInProcessController, type InProcessController } from '../support/in-process-controller.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import type { KubernetesObject } from '@kubernetes/client-node';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const SEED = 'mysql-scaledobject';

describe('trigger-query safety on the control plane @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let db: MariaDb;
  let api: KubeApi;
  let running: InProcessController | undefined;
  let ns: string;

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await createSeedTable(db);
    await setSeedRowCount(db, 12);
    running = await startInProcessController(cp, 'account-audit');
    ({ api, namespace: ns } = running);
    await applyYaml(cp, toYaml(seedStatefulSetObjects()), ns);
    await applyYaml(cp, toYaml(seedKedaObjects(db)), ns);
  });

  after(async () => {
    await running?.stop();
  });

  it('names root\'s excess privileges in a LeastPrivilege=False condition and one Warning Event, and keeps scaling', async () => {
    const condition = (so: ScaledObject, type: string): Condition | undefined => so.status?.conditions?.find((c) => c.type === type);
    const so = await waitFor(async () => {
      const current = await api.request<ScaledObject>('get', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/${SEED}`);
      return condition(current, 'LeastPrivilege') !== undefined ? current : undefined;
    }, { what: 'the LeastPrivilege condition', timeoutMs: 60_000 });
    // The test MariaDB's root may be matched as 'root'@'127.0.0.1', 'root'@'localhost' or 'root'@'%'.
    const excess = /^triggers\[0\]: the MySQL account 'root'@'[^']+' that the trigger uses holds more than SELECT: ALL PRIVILEGES ON \*\.\*; WITH GRANT OPTION ON \*\.\*[;.] /;
    const leastPrivilege = condition(so, 'LeastPrivilege');
    expect([leastPrivilege?.status, leastPrivilege?.reason, condition(so, 'Ready')?.status]).to.deep.equal(['False', 'ExcessPrivileges', 'True']);
    expect(leastPrivilege?.message).to.match(excess);
    expect(leastPrivilege?.message).to.include("GRANT SELECT ON `testdb`.* TO 'queryscaler'@'%'");
    expect(leastPrivilege?.message).not.to.include(db.rootPassword);

    const events = await waitFor(async () => {
      const list = await api.request<{ items: Array<{ type: string; reason: string; message: string }> }>('list', `/api/v1/namespaces/${ns}/events`,
        { query: { fieldSelector: `involvedObject.name=${SEED}` } });
      const audit = list.items.filter((e) => e.reason === 'TriggerAccountExcessPrivileges');
      return audit.length > 0 ? audit : undefined;
    }, { what: 'the TriggerAccountExcessPrivileges Event', timeoutMs: 30_000 });
    expect(events.map((e) => [e.type, e.message])).to.deep.equal([['Warning', leastPrivilege?.message]]);
  });

  it('refuses a query that takes a lock with Ready=False and a Warning Event, before any connection, beside a healthy object', async () => {
    const locker = 'lock-taker';
    const statefulSet = structuredClone(seedStatefulSetObjects().find((o) => o.kind === 'StatefulSet')!);
    statefulSet.metadata = { name: locker };
    const so = structuredClone(seedKedaObjects(db).find((o) => o.kind === 'ScaledObject')!) as KubernetesObject & {
      spec: { scaleTargetRef: { name: string }; triggers: Array<{ metadata: Record<string, string> }> };
    };
    so.metadata = { name: locker };
    so.spec.scaleTargetRef.name = locker;
    so.spec.triggers[0]!.metadata['query'] = "SELECT GET_LOCK('qs_lock', 100)";
    const rootThreads = await db.threadsConnected('root');
    await applyYaml(cp, toYaml([statefulSet, so]), ns);

    const path = `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/`;
    const ready = await waitFor(async () => {
      const current = await api.request<ScaledObject>('get', `${path}${locker}`);
      const condition = current.status?.conditions?.find((c) => c.type === 'Ready');
      return condition?.status === 'False' ? condition : undefined;
    }, { what: `${locker} Ready=False`, timeoutMs: 60_000 });
    const message = "triggers[0].metadata.query is refused: the query calls GET_LOCK(), which works on named locks, which outlive " +
      'the query on the pooled connection and block other sessions; remove it: a trigger query only reads';
    expect([ready.reason, ready.message]).to.deep.equal(['ScaledObjectCheckFailed', message]);
    const events = await api.request<{ items: Array<{ type: string; reason: string; message: string }> }>('list', `/api/v1/namespaces/${ns}/events`,
      { query: { fieldSelector: `involvedObject.name=${locker},involvedObject.kind=ScaledObject` } });
    expect(events.items.map((e) => [e.type, e.reason, e.message])).to.deep.equal([['Warning', 'ScaledObjectCheckFailed', message]]);
    expect(await db.query("SELECT IS_USED_LOCK('qs_lock') AS holder")).to.deep.equal([{ holder: null }]);
    // The seed object's one pool stays as it was: the refused query opened no connection of its own.
    expect(await db.threadsConnected('root')).to.be.at.most(rootThreads);
    const seed = await api.request<ScaledObject>('get', `${path}${SEED}`);
    expect(seed.status?.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
  });
});
