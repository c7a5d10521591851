// NamedObjects (--restrict-secret-access) against the real kube-apiserver: a read that names
// objects not fetched yet fetches them and runs again, also along a chain; a Secret that does not
// exist reads as absent and one created later is reported; changes of data are reported and other
// changes are not; a refused GET is an error, not "absent"; without the right to watch, a change is
// still seen by reading again; what no ScaledObject reads any more is dropped by the sweep.
import { expect } from 'chai';
import { pino } from 'pino';
import type { Reference } from '../../src/controller/credentials.js';
import { KubeApi, KubeApiError } from '../../src/controller/kube-api.js';
import { NamedObjects } from '../../src/controller/referenced-objects/named-objects.js';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, serviceAccountKubeConfig, waitFor } from '../support/kube.js';
import { sharedControlPlane } from '../support/shared.js';

const never = new AbortController().signal;

describe('named objects (--restrict-secret-access) @integration', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let api: KubeApi;
  let ns: string;
  let objects: NamedObjects;
  const changes: Array<{ ref: Reference; at: number }> = [];

  const secretYaml = (name: string, data: Record<string, string>, labels: Record<string, string> = {}) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, labels }, stringData: data });
  const changesOf = (ref: Reference) => changes.filter((c) => c.ref === ref);

  before(async () => {
    cp = await sharedControlPlane();
    api = new KubeApi(cp.kubeConfig);
    ns = await createTestNamespace(cp, 'named');
    objects = new NamedObjects({
      api,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      onChange: (ref) => changes.push({ ref, at: performance.now() }),
      inUse: () => [],
    });
    await objects.start();
  });

  after(async () => {
    await objects?.stop();
    api?.close();
    if (ns) await deleteTestNamespace(cp, ns);
  });

  it('fetches what a read names, along a chain, in as many runs as the chain is long', async () => {
    await applyYaml(cp, [secretYaml('first', { next: 'second' }), secretYaml('second', { value: 'end of chain' })].join('\n---\n'), ns);
    let runs = 0;
    const value = await objects.read((o) => {
      runs += 1;
      const next = o.secret(ns, 'first')?.['next'];
      return next === undefined ? undefined : o.secret(ns, next)?.['value'];
    }, never);
    expect([value, runs]).to.deep.equal(['end of chain', 3]);
    // Held now: a second read is a cache read, one run.
    runs = 0;
    await objects.read((o) => {
      runs += 1;
      return o.secret(ns, 'second');
    }, never);
    expect(runs).to.equal(1);
  });

  it('reads a missing Secret as absent, and reports it when it is created, changed in data and deleted, but not a label change', async () => {
    const ref: Reference = `Secret/${ns}/later`;
    expect(await objects.read((o) => o.secret(ns, 'later'), never)).to.equal(undefined);
    let t0 = performance.now();
    await applyYaml(cp, secretYaml('later', { password: 'one' }), ns);
    await waitFor(() => changesOf(ref).length === 1, { what: 'the creation reported', timeoutMs: 30_000 });
    const created = changesOf(ref)[0]!.at - t0;
    expect(await objects.read((o) => o.secret(ns, 'later'), never)).to.deep.equal({ password: 'one' });

    await applyYaml(cp, secretYaml('later', { password: 'one' }, { team: 'a' }), ns);
    t0 = performance.now();
    await applyYaml(cp, secretYaml('later', { password: 'two' }, { team: 'a' }), ns);
    await waitFor(() => changesOf(ref).length === 2, { what: 'the data change reported', timeoutMs: 30_000 });
    const changed = changesOf(ref)[1]!.at - t0;
    expect(await objects.read((o) => o.secret(ns, 'later'), never)).to.deep.equal({ password: 'two' });

    await api.request('delete', `/api/v1/namespaces/${ns}/secrets/later`);
    await waitFor(() => changesOf(ref).length === 3, { what: 'the deletion reported', timeoutMs: 30_000 });
    expect(await objects.read((o) => o.secret(ns, 'later'), never)).to.equal(undefined);
    console.log(`      creation reported ${Math.round(created)} ms after the apply, a data change ${Math.round(changed)} ms after; the label change not at all`);
    expect(changesOf(ref).length).to.equal(3);
  });

  it('holds ConfigMaps by name too, their data as it is', async () => {
    await applyYaml(cp, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { db: 'testdb' } }), ns);
    expect(await objects.read((o) => o.configMap(ns, 'settings'), never)).to.deep.equal({ db: 'testdb' });
  });

  it('fails a read whose GET is refused, and asks again on the next read instead of remembering "absent"', async () => {
    await applyYaml(cp, 'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: nobody }\n', ns);
    const nobodyApi = new KubeApi(await serviceAccountKubeConfig(cp, ns, 'nobody'));
    const refused = new NamedObjects({ api: nobodyApi, logger: pino({ level: 'silent' }), onChange: () => undefined, inUse: () => [] });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const error = await refused.read((o) => o.secret(ns, 'first'), never).then(() => undefined, (e: unknown) => e);
        expect(error).to.be.instanceOf(KubeApiError);
        expect((error as KubeApiError).statusCode).to.equal(403);
      }
    } finally {
      await refused.stop();
      nobodyApi.close();
    }
  });

  it('with get but no watch right, reads the object again after each refused watch, so a change is still seen', async () => {
    await applyYaml(cp, [
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: getter }',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: { name: getter }\nrules: [{ apiGroups: [""], resources: [secrets], resourceNames: [polled], verbs: [get] }]',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: { name: getter }\n' +
        `roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: getter }\nsubjects: [{ kind: ServiceAccount, name: getter, namespace: ${ns} }]`,
      secretYaml('polled', { password: 'one' }),
    ].join('\n---\n'), ns);
    const getterApi = new KubeApi(await serviceAccountKubeConfig(cp, ns, 'getter'));
    const seen: Reference[] = [];
    // The backoff capped at 300 ms instead of 30 s, so the test waits for re-reads, not for the cap.
    const polled = new NamedObjects({ api: getterApi, logger: pino({ level: 'silent' }), onChange: (ref) => seen.push(ref), inUse: () => [], maxBackoffMs: 300 });
    try {
      expect(await polled.read((o) => o.secret(ns, 'polled'), never)).to.deep.equal({ password: 'one' });
      await applyYaml(cp, secretYaml('polled', { password: 'two' }), ns);
      await waitFor(() => seen.length > 0, { what: 'the change seen by reading again', timeoutMs: 30_000 });
      expect([seen, await polled.read((o) => o.secret(ns, 'polled'), never)]).to.deep.equal([[`Secret/${ns}/polled`], { password: 'two' }]);
    } finally {
      await polled.stop();
      getterApi.close();
    }
  });

  it('drops what no ScaledObject reads any more, and keeps what one does', async () => {
    let inUse: Reference[] = [];
    const swept = new NamedObjects({ api, logger: pino({ level: 'silent' }), onChange: () => undefined, inUse: () => inUse, sweepIntervalMs: 200 });
    await swept.start();
    try {
      await swept.read((o) => [o.secret(ns, 'first'), o.secret(ns, 'second'), o.configMap(ns, 'settings')], never);
      inUse = [`Secret/${ns}/second`];
      await waitFor(() => swept.held().length === 1, { what: 'all but the one in use dropped', timeoutMs: 10_000 });
      // Several sweeps later it is still there.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(swept.held()).to.deep.equal([`Secret/${ns}/second`]);
      inUse = [];
      await waitFor(() => swept.held().length === 0, { what: 'everything dropped', timeoutMs: 10_000 });
    } finally {
      await swept.stop();
    }
  });
});
