// The controller against the real kube-apiserver (and its HPA and StatefulSet controllers) and a
// real MariaDB: the seed manifests become the HPA KEDA would make; each kind of bad input gets its
// own condition and Event while a healthy ScaledObject beside it is untouched; fixes heal without a
// restart; hand edits are undone; a Secret change and an API server restart are lived through.
import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { Condition, ScaledObject } from '../../src/api/types.js';
import type { HorizontalPodAutoscaler } from '../../src/controller/desired-hpa.js';
import { isNotFound, type KubeApi } from '../../src/controller/kube-api.js';
import { READY_MESSAGE } from '../../src/controller/status.js';
import { knownScalerTypes } from '../../src/scalers/registry.js';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, waitFor, waitForGone } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';
import { startInProcessController, type InProcessController } from '../support/in-process-controller.js';
import { kubeApiRequests } from '../support/kube-api-requests.js';

const SEED = 'mysql-scaledobject';
const SEED_HPA = `keda-hpa-${SEED}`;
const MEMBER_LIMIT_WARNING =
  'StatefulSet NS/mycluster is a MySQL InnoDB Cluster (containers "mysql" and "sidecar", as the MySQL Operator makes them), and Group ' +
  'Replication holds at most 9 members: with maxReplicaCount 10, pod 10 and beyond would never join the group. Set maxReplicaCount to 9.';

interface EventObject {
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { name: string; kind: string };
}

describe('controller @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let db: MariaDb;
  let api: KubeApi;
  let running: InProcessController | undefined;
  let ns: string;
  let otherNs: string;

  const soPath = (name: string, namespace = ns): string => `/apis/keda.sh/v1alpha1/namespaces/${namespace}/scaledobjects/${name}`;
  const hpaPath = (name: string): string => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/${name}`;
  const getSo = (name: string): Promise<ScaledObject> => api.request<ScaledObject>('get', soPath(name));
  const getHpa = (name: string): Promise<HorizontalPodAutoscaler> => api.request<HorizontalPodAutoscaler>('get', hpaPath(name));
  const replicas = async (): Promise<number> =>
    (await api.request<{ spec: { replicas: number } }>('get', `/apis/apps/v1/namespaces/${ns}/statefulsets/mycluster/scale`)).spec.replicas;
  const ready = (so: ScaledObject): Condition | undefined => so.status?.conditions?.find((c) => c.type === 'Ready');
  const events = async (name: string): Promise<EventObject[]> =>
    (await api.request<{ items: EventObject[] }>('list', `/api/v1/namespaces/${ns}/events`, { query: { fieldSelector: `involvedObject.name=${name}` } })).items;

  function seedScaledObject(): ScaledObject {
    return seedKedaObjects(db).find((o) => o.kind === 'ScaledObject') as unknown as ScaledObject;
  }

  /** A copy of the seed StatefulSet under another name, with pods of its own (a target takes one ScaledObject). */
  function statefulSetCopy(name: string): KubernetesObject {
    const copy = structuredClone(seedStatefulSetObjects().find((o) => o.kind === 'StatefulSet')!) as KubernetesObject & {
      spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
    };
    copy.metadata = { ...copy.metadata, name };
    const instance = `mysql-innodbcluster-${name}`;
    copy.metadata.labels = { ...copy.metadata.labels, 'app.kubernetes.io/instance': instance };
    copy.spec.selector.matchLabels['app.kubernetes.io/instance'] = instance;
    copy.spec.template.metadata.labels['app.kubernetes.io/instance'] = instance;
    return copy;
  }

  /** A copy of the seed ScaledObject under another name, on a StatefulSet `<name>-target` of its own, changed by `change`. */
  function variant(name: string, change: (so: ScaledObject) => void, target = `${name}-target`): string {
    const so = structuredClone(seedScaledObject());
    so.metadata = { name };
    so.spec.scaleTargetRef.name = target;
    change(so);
    return toYaml([statefulSetCopy(target), so as never]);
  }

  async function waitForReady(name: string, status: 'True' | 'False', what = `ScaledObject ${name} Ready=${status}`): Promise<Condition> {
    return waitFor(
      async () => {
        const condition = ready(await getSo(name));
        return condition?.status === status ? condition : undefined;
      },
      { what, timeoutMs: 60_000 },
    );
  }

  before(async function () {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await createSeedTable(db);
    await setSeedRowCount(db, 12);
    // Short watches so the restart test sees reconnection quickly.
    running = await startInProcessController(cp, 'controller', { watchTimeoutSeconds: 30 });
    ({ api, namespace: ns } = running);
    otherNs = await createTestNamespace(cp, 'controller-other');
    await applyYaml(cp, toYaml(seedStatefulSetObjects()), ns);
    await applyYaml(cp, toYaml(seedKedaObjects(db)), ns);
  });

  after(async function () {
    await running?.stop();
    if (cp && otherNs) await deleteTestNamespace(cp, otherNs);
  });

  it('turns the seed manifests into exactly the HPA KEDA makes, and Ready=True', async () => {
    const hpa = await waitFor(() => getHpa(SEED_HPA), { what: `HPA ${SEED_HPA}`, timeoutMs: 60_000 });
    expect(hpa.spec).to.deep.equal({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster' },
      minReplicas: 1,
      maxReplicas: 10,
      metrics: [
        {
          type: 'External',
          external: {
            metric: { name: 's0-mysql-testdb', selector: { matchLabels: { 'scaledobject.keda.sh/name': SEED } } },
            target: { type: 'AverageValue', averageValue: '3' },
          },
        },
      ],
      behavior: {
        scaleUp: {
          stabilizationWindowSeconds: 0,
          selectPolicy: 'Max',
          policies: [
            { type: 'Pods', value: 4, periodSeconds: 15 },
            { type: 'Percent', value: 100, periodSeconds: 15 },
          ],
        },
        scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
      },
    });
    expect(hpa.metadata.labels).to.include({ 'app.kubernetes.io/managed-by': 'queryscaler', 'scaledobject.keda.sh/name': SEED });
    const so = await getSo(SEED);
    expect(hpa.metadata.ownerReferences).to.deep.equal([
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: SEED, uid: so.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);

    const condition = await waitForReady(SEED, 'True');
    expect(condition.reason).to.equal('ScaledObjectReady');
    expect(condition.message).to.equal(`${READY_MESSAGE}; warning: ${MEMBER_LIMIT_WARNING.replace('NS', ns)}`);
    // 12 rows: CEIL(12 / 6) = 2, read by the poll loop and shown as the last metric value.
    const polled = await waitFor(
      async () => {
        const s = await getSo(SEED);
        return s.status?.lastMetricValue === '2' && s.status.conditions?.find((c) => c.type === 'Active')?.status === 'True' ? s : undefined;
      },
      { what: 'the first poll to reach the status', timeoutMs: 30_000 },
    );
    expect(polled.metadata.finalizers).to.deep.equal(['finalizer.keda.sh']);
    expect(polled.status).to.deep.include({
      scaleTargetKind: 'StatefulSet',
      scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets' },
      originalReplicaCount: 1,
      hpaName: SEED_HPA,
      externalMetricNames: ['s0-mysql-testdb'],
      health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } },
    });
    const warning = (await events(SEED)).find((e) => e.reason === 'InnoDBClusterMemberLimit');
    expect(warning?.type).to.equal('Warning');
  });

  describe('each bad input gets its own condition and Event, and the healthy ScaledObject keeps its HPA', () => {
    const cases: Array<{ name: string; target?: string; setup?: () => Promise<void>; change: (so: ScaledObject) => void; reason: string; message: () => string }> = [
      {
        name: 'no-query',
        change: (so) => (so.spec.triggers[0]!.metadata = { queryValue: '3' }),
        reason: 'ScaledObjectCheckFailed',
        message: () => 'triggers[0].metadata.query is required: give the SELECT that returns the number to scale on',
      },
      {
        name: 'bad-query-value',
        change: (so) => (so.spec.triggers[0]!.metadata.queryValue = 'abc'),
        reason: 'ScaledObjectCheckFailed',
        message: () => 'triggers[0].metadata.queryValue is "abc", which is not a number; write it like "3" or "2.5"',
      },
      {
        name: 'unknown-type',
        change: (so) => (so.spec.triggers[0]!.type = 'postgres-nope'),
        reason: 'ScaledObjectCheckFailed',
        message: () => `triggers[0].type: unknown trigger type "postgres-nope"; this autoscaler knows: ${knownScalerTypes().join(', ')}.`,
      },
      {
        name: 'missing-secret',
        setup: () =>
          applyYaml(
            cp,
            toYaml([
              {
                apiVersion: 'keda.sh/v1alpha1',
                kind: 'TriggerAuthentication',
                metadata: { name: 'ta-missing-secret' },
                spec: {
                  secretTargetRef: [
                    { parameter: 'host', name: 'later-secret', key: 'mysql_host' },
                    { parameter: 'port', name: 'later-secret', key: 'mysql_port' },
                    { parameter: 'dbName', name: 'later-secret', key: 'mysql_db' },
                    { parameter: 'username', name: 'later-secret', key: 'mysql_user' },
                    { parameter: 'password', name: 'later-secret', key: 'mysql_password' },
                  ],
                },
              } as never,
            ]),
            ns,
          ).then(() => undefined),
        change: (so) => (so.spec.triggers[0]!.authenticationRef = { name: 'ta-missing-secret' }),
        reason: 'TriggerAuthenticationFailed',
        message: () =>
          `TriggerAuthentication ${ns}/ta-missing-secret spec.secretTargetRef[0]: parameter "host" names Secret ${ns}/later-secret, which does not exist. ` +
          `Create it in namespace ${ns} or fix the name.`,
      },
      {
        name: 'missing-key',
        setup: () =>
          applyYaml(
            cp,
            toYaml([
              {
                apiVersion: 'keda.sh/v1alpha1',
                kind: 'TriggerAuthentication',
                metadata: { name: 'ta-missing-key' },
                spec: { secretTargetRef: [{ parameter: 'password', name: 'mysql-secrets', key: 'mysql_pass' }] },
              } as never,
            ]),
            ns,
          ).then(() => undefined),
        change: (so) => (so.spec.triggers[0]!.authenticationRef = { name: 'ta-missing-key' }),
        reason: 'TriggerAuthenticationFailed',
        message: () =>
          `TriggerAuthentication ${ns}/ta-missing-key spec.secretTargetRef[0]: parameter "password" reads key "mysql_pass" of Secret ${ns}/mysql-secrets, which has no such key; ` +
          'its keys are: mysql_db, mysql_host, mysql_password, mysql_port, mysql_user. Add the key or fix the key name.',
      },
      {
        name: 'wrong-container',
        change: (so) => (so.spec.scaleTargetRef.envSourceContainerName = '.spec.template.spec.containers[0]'),
        reason: 'ScaleTargetContainerNotFound',
        message: () =>
          `scaleTargetRef.envSourceContainerName: StatefulSet ${ns}/wrong-container-target has no container named ".spec.template.spec.containers[0]"; ` +
          'its containers are: sidecar, mysql. Set envSourceContainerName to one of them (or leave it out to use the first).',
      },
      {
        name: 'no-target',
        change: (so) => (so.spec.scaleTargetRef.name = 'ghost'),
        reason: 'ScaleTargetNotFound',
        message: () => `scaleTargetRef.name: StatefulSet ${ns}/ghost does not exist. Create it or fix scaleTargetRef.name.`,
      },
      {
        name: 'not-scalable',
        change: (so) => (so.spec.scaleTargetRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'mycluster-initdb' }),
        reason: 'ScaleTargetNotScalable',
        message: () =>
          'scaleTargetRef.kind: ConfigMap (v1) has no /scale subresource, so it cannot be scaled. ' +
          'Point scaleTargetRef at a Deployment, a StatefulSet or a custom resource that declares a scale subresource.',
      },
      {
        name: 'auth-elsewhere',
        setup: () =>
          applyYaml(
            cp,
            toYaml([{ apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 'ta-elsewhere' }, spec: { secretTargetRef: [] } } as never]),
            otherNs,
          ).then(() => undefined),
        change: (so) => (so.spec.triggers[0]!.authenticationRef = { name: 'ta-elsewhere' }),
        reason: 'TriggerAuthenticationFailed',
        message: () =>
          `triggers[0].authenticationRef.name: TriggerAuthentication "ta-elsewhere" not found in namespace ${ns} (one exists in namespace ${otherNs}). ` +
          'A TriggerAuthentication must be in the same namespace as the ScaledObject; to share one across namespaces use kind: ClusterTriggerAuthentication.',
      },
      {
        // 55 characters: keda-hpa-<name> would be 64, one more than its label app.kubernetes.io/name holds.
        name: `long-name-${'x'.repeat(45)}`,
        target: 'long-name-target',
        change: () => undefined,
        reason: 'ScaledObjectCheckFailed',
        message: () =>
          'metadata.name is 55 characters long, so the HorizontalPodAutoscaler keda-hpa-<name> would be 64, and its name is also the value ' +
          'of its label app.kubernetes.io/name, which holds at most 63: use a name of at most 54 characters, or name the HPA with ' +
          'spec.advanced.horizontalPodAutoscalerConfig.name',
      },
      {
        name: 'long-metric-name',
        change: (so) => (so.spec.triggers[0]!.metadata.dbName = 'd'.repeat(300)),
        reason: 'ScaledObjectCheckFailed',
        message: () =>
          `triggers[0] makes the metric name "s0-mysql-${'d'.repeat(31)}..." of 309 characters, and queryscaler allows at most 253 ` +
          '(the name goes into the HPA, the status and every metric request): shorten the trigger parameters it is made of',
      },
    ];

    before(async () => {
      for (const c of cases) await c.setup?.();
      await applyYaml(cp, cases.map((c) => variant(c.name, c.change, c.target)).join('---\n'), ns);
    });

    for (const c of cases) {
      it(c.name, async () => {
        const condition = await waitForReady(c.name, 'False');
        expect({ reason: condition.reason, message: condition.message }).to.deep.equal({ reason: c.reason, message: c.message() });
        const event = await waitFor(async () => (await events(c.name)).find((e) => e.reason === c.reason), { what: `Event ${c.reason} on ${c.name}` });
        expect({ type: event.type, message: event.message, kind: event.involvedObject.kind }).to.deep.equal({
          type: 'Warning',
          message: c.message(),
          kind: 'ScaledObject',
        });
        try {
          await getHpa(`keda-hpa-${c.name}`);
          expect.fail(`HPA keda-hpa-${c.name} should not exist`);
        } catch (error) {
          expect(isNotFound(error), String(error)).to.equal(true);
        }
      });
    }

    it('leaves the healthy ScaledObject Ready with its HPA', async () => {
      expect(ready(await getSo(SEED))?.status).to.equal('True');
      expect((await getHpa(SEED_HPA)).spec.maxReplicas).to.equal(10);
    });

    it('heals when the missing Secret appears, without a restart', async () => {
      const secret = seedKedaObjects(db).find((o) => o.kind === 'Secret')!;
      secret.metadata = { name: 'later-secret' };
      await applyYaml(cp, toYaml([secret]), ns);
      const condition = await waitForReady('missing-secret', 'True');
      expect(condition.reason).to.equal('ScaledObjectReady');
      const hpa = await waitFor(() => getHpa('keda-hpa-missing-secret'), { what: 'HPA of the healed ScaledObject' });
      expect(hpa.spec.metrics[0]?.external.metric.name).to.equal('s0-mysql-testdb');
    });

    it('heals when the target appears under the name asked for', async () => {
      await applyYaml(cp, toYaml([statefulSetCopy('ghost')]), ns);
      const condition = await waitForReady('no-target', 'True', 'no-target Ready once StatefulSet ghost exists');
      expect(condition.message?.startsWith(READY_MESSAGE)).to.equal(true);
    });
  });

  // Mocha runs a suite's own tests before its child suites; these follow the bad inputs on purpose.
  describe('afterwards', () => {
    it('in steady state writes nothing: no HPA or status writes, and no /scale read per poll', async () => {
      const counts = (): Promise<Map<string, number>> => kubeApiRequests(running!.controller.metrics);
      // Let the heals above settle, then watch a quiet window.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const before = await counts();
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      const after = await counts();
      const delta = (key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0);
      const writes = [...after.keys()].filter((k) => !k.startsWith('get ') && !k.startsWith('list ') && !k.startsWith('watch ') && delta(k) > 0);
      expect(writes.map((k) => `${k}: ${delta(k)}`)).to.deep.equal([]);
      // Three healthy ScaledObjects poll every second (15 polls in 5 s) on the /scale they remember:
      // at most one refresh each (SCALE_MEMORY_MS), not a read per poll.
      expect(delta('get statefulsets/scale')).to.be.at.most(3);
    });

    it('undoes a hand edit of the HPA', async () => {
      await api.request('patch', hpaPath(SEED_HPA), { body: { spec: { maxReplicas: 20 } }, patchType: 'merge' });
      const restored = await waitFor(
        async () => {
          const hpa = await getHpa(SEED_HPA);
          return hpa.spec.maxReplicas === 10 ? hpa : undefined;
        },
        { what: 'maxReplicas back at 10', timeoutMs: 30_000 },
      );
      expect(restored.spec.minReplicas).to.equal(1);
    });

    it('picks up a Secret change: a wrong password fails the trigger, the right one heals it', async () => {
      const secretPath = `/api/v1/namespaces/${ns}/secrets/mysql-secrets`;
      await api.request('patch', secretPath, { body: { data: { mysql_password: Buffer.from('wrong-password').toString('base64') } }, patchType: 'merge' });
      const failing = await waitFor(
        async () => {
          const so = await getSo(SEED);
          return so.status?.health?.['s0-mysql-testdb']?.status === 'Failing' ? so : undefined;
        },
        { what: 'health Failing after the password change', timeoutMs: 30_000 },
      );
      expect(failing.status?.health?.['s0-mysql-testdb']?.numberOfFailures).to.be.greaterThan(0);
      const scalerFailed = await waitFor(async () => (await events(SEED)).find((e) => e.reason === 'KEDAScalerFailed'), { what: 'KEDAScalerFailed event' });
      expect(scalerFailed.message).not.to.contain('wrong-password');
      expect(scalerFailed.message).not.to.contain(db.rootPassword);

      await api.request('patch', secretPath, { body: { data: { mysql_password: Buffer.from(db.rootPassword).toString('base64') } }, patchType: 'merge' });
      await waitFor(
        async () => (await getSo(SEED)).status?.health?.['s0-mysql-testdb']?.status === 'Happy',
        { what: 'health Happy after the password is restored', timeoutMs: 30_000 },
      );
    });

    it('pauses at a replica count and resumes when the annotation goes', async () => {
      await api.request('patch', soPath(SEED), { body: { metadata: { annotations: { 'autoscaling.keda.sh/paused-replicas': '2' } } }, patchType: 'merge' });
      await waitForGone(() => getHpa(SEED_HPA), { what: 'HPA deleted while paused' }, isNotFound);
      await waitFor(async () => (await replicas()) === 2, { what: 'target held at 2 replicas' });
      const paused = await waitFor(
        async () => {
          const so = await getSo(SEED);
          return so.status?.conditions?.find((c) => c.type === 'Paused' && c.status === 'True') ? so : undefined;
        },
        { what: 'Paused=True' },
      );
      expect(paused.status?.pausedReplicaCount).to.equal(2);

      await api.request('patch', soPath(SEED), { body: { metadata: { annotations: { 'autoscaling.keda.sh/paused-replicas': null } } }, patchType: 'merge' });
      await waitFor(() => getHpa(SEED_HPA), { what: 'HPA back after resuming' });
      const resumed = await waitFor(
        async () => {
          const so = await getSo(SEED);
          return so.status?.conditions?.find((c) => c.type === 'Paused' && c.status === 'False') ? so : undefined;
        },
        { what: 'Paused=False' },
      );
      expect(resumed.status?.pausedReplicaCount).to.equal(undefined);
    });

    it('pauses for paused: "maybe", as KEDA does, and says so in Ready and a Warning Event', async () => {
      const warning =
        'annotation autoscaling.keda.sh/paused is "maybe", which is not a boolean; it pauses autoscaling, as in KEDA: write "true" to pause or "false" to resume';
      await applyYaml(cp, variant('pause-maybe', (so) => (so.metadata.annotations = { 'autoscaling.keda.sh/paused': 'maybe' })), ns);
      const paused = await waitFor(async () => {
        const so = await getSo('pause-maybe');
        return so.status?.conditions?.find((c) => c.type === 'Paused' && c.status === 'True') ? so : undefined;
      }, { what: 'pause-maybe Paused=True' });
      const memberLimit = MEMBER_LIMIT_WARNING.replace('NS/mycluster', `${ns}/pause-maybe-target`);
      expect([ready(paused)?.status, ready(paused)?.message]).to.deep.equal(['True', `${READY_MESSAGE}; warning: ${memberLimit}; ${warning}`]);
      const event = await waitFor(async () => (await events('pause-maybe')).find((e) => e.reason === 'PausedAnnotationNotBoolean'), { what: 'Event PausedAnnotationNotBoolean' });
      expect([event.type, event.message]).to.deep.equal(['Warning', warning]);
    });

    it('survives an API server restart and picks up the next change', async () => {
      await cp.restartApiServer();
      await applyYaml(cp, variant('after-restart', () => undefined), ns);
      const hpa = await waitFor(() => getHpa('keda-hpa-after-restart'), { what: 'HPA of a ScaledObject created after the restart', timeoutMs: 90_000 });
      expect(hpa.spec.maxReplicas).to.equal(10);
      await api.request('patch', hpaPath(SEED_HPA), { body: { spec: { minReplicas: 4 } }, patchType: 'merge' });
      await waitFor(async () => (await getHpa(SEED_HPA)).spec.minReplicas === 1, { what: 'hand edit undone after the restart', timeoutMs: 60_000 });
    });

    it('on delete with restoreToOriginalReplicaCount: removes the HPA, restores the original replicas, lets the object go', async () => {
      // The target is at 2 from the paused-replicas test; its original count was 1.
      await api.request('patch', `/apis/apps/v1/namespaces/${ns}/statefulsets/mycluster/scale`, { body: { spec: { replicas: 3 } }, patchType: 'merge' });
      await api.request('delete', soPath(SEED));
      await waitForGone(() => getSo(SEED), { what: 'ScaledObject gone', timeoutMs: 60_000 }, isNotFound);
      expect(await replicas()).to.equal(1);
      try {
        await getHpa(SEED_HPA);
        expect.fail('the HPA should be gone');
      } catch (error) {
        expect(isNotFound(error), String(error)).to.equal(true);
      }
    });

    it('min > max is refused by the CRD at apply time', async () => {
      try {
        await applyYaml(cp, variant('min-over-max', (so) => Object.assign(so.spec, { minReplicaCount: 5, maxReplicaCount: 2 })), ns);
        expect.fail('apply should have been refused');
      } catch (error) {
        expect(String(error)).to.contain('minReplicaCount must be less than or equal to maxReplicaCount (default 100)');
      }
    });
  });
});
