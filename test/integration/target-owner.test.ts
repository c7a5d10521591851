// One autoscaler per scale target, on the real kube-apiserver and HPA controller: a second
// ScaledObject on a StatefulSet is refused with the owner's name and leaves one HPA on it; it takes
// over when the owner goes; a foreign HPA blocks a ScaledObject until KEDA's transfer annotation
// lets it adopt that HPA; a target deleted or re-created, a StatefulSet or a custom resource, is
// noticed at once. Cron triggers with an always-open window: no database involved.
import { expect } from 'chai';
import type { Condition, ScaledObject } from '../../src/api/types.js';
import type { HorizontalPodAutoscaler } from '../../src/controller/desired-hpa.js';
import type { KubeApi } from '../../src/controller/kube-api.js';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, waitFor, waitForCrdEstablished } from '../support/kube.js';
import { startInProcessController, type InProcessController } from '../support/in-process-controller.js';
import { sharedControlPlane } from '../support/shared.js';
import { foreignHpa, statefulSet, widget, WIDGET_CRD, WIDGET_CRD_NAME } from '../support/scale-targets.js';

function scaledObject(
  name: string,
  target: string,
  extra: { annotations?: Record<string, string>; hpaName?: string; kind?: string; apiVersion?: string; pollingInterval?: number } = {},
): string {
  return JSON.stringify({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, ...(extra.annotations && { annotations: extra.annotations }) },
    spec: {
      scaleTargetRef: { apiVersion: extra.apiVersion ?? 'apps/v1', kind: extra.kind ?? 'StatefulSet', name: target },
      pollingInterval: extra.pollingInterval ?? 1,
      minReplicaCount: 1,
      maxReplicaCount: 3,
      ...(extra.hpaName && { advanced: { horizontalPodAutoscalerConfig: { name: extra.hpaName } } }),
      triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 0 1 1 *', end: '59 23 31 12 *', desiredReplicas: '2' } }],
    },
  });
}

describe('one autoscaler per scale target @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let api: KubeApi;
  let running: InProcessController | undefined;
  let ns: string;

  const getSo = (name: string) => api.request<ScaledObject>('get', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/${name}`);
  const ready = async (name: string): Promise<Condition | undefined> => (await getSo(name)).status?.conditions?.find((c) => c.type === 'Ready');
  const waitForReady = (name: string, status: 'True' | 'False') =>
    waitFor(async () => {
      const condition = await ready(name);
      return condition?.status === status ? condition : undefined;
    }, { what: `${name} Ready=${status}`, timeoutMs: 60_000 });
  /** Names of the HPAs in the namespace that scale `target`. */
  const hpasOn = async (target: string): Promise<string[]> =>
    (await api.request<{ items: HorizontalPodAutoscaler[] }>('list', `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`)).items
      .filter((h) => h.spec.scaleTargetRef.name === target)
      .map((h) => h.metadata.name)
      .sort();

  before(async () => {
    cp = await sharedControlPlane();
    running = await startInProcessController(cp, 'target-owner');
    ({ api, namespace: ns } = running);
  });

  after(async () => {
    await running?.stop();
  });

  it('refuses a second ScaledObject on a StatefulSet, keeps one HPA on it, and hands over when the owner goes', async () => {
    await applyYaml(cp, statefulSet('shared'), ns);
    await applyYaml(cp, scaledObject('first', 'shared'), ns);
    await waitForReady('first', 'True');
    await applyYaml(cp, scaledObject('second', 'shared'), ns);
    const refused = await waitForReady('second', 'False');
    const created = (await getSo('first')).metadata.creationTimestamp;
    expect([refused.reason, refused.message]).to.deep.equal(['ScaleTargetConflict',
      `StatefulSet ${ns}/shared is already scaled by ScaledObject first, created earlier (${created}); a scale target takes one ` +
      'ScaledObject: delete this one, or move its triggers into first']);
    expect(await hpasOn('shared')).to.deep.equal(['keda-hpa-first']);
    expect((await ready('first'))?.status).to.equal('True');

    const t0 = Date.now();
    await api.request('delete', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/first`);
    await waitForReady('second', 'True');
    await waitFor(async () => JSON.stringify(await hpasOn('shared')) === JSON.stringify(['keda-hpa-second']),
      { what: 'only keda-hpa-second on StatefulSet shared', timeoutMs: 60_000 });
    console.log(`      handed over in ${Date.now() - t0} ms: second Ready and its HPA the only one on the target`);
    // One Normal Event per transition to Ready: first got one when it became Ready, second when it took over.
    const readyEvents = async (name: string) => (await api.request<{ items: Array<{ type: string; reason: string; message: string; count?: number }> }>(
      'list', `/api/v1/namespaces/${ns}/events`, { query: { fieldSelector: `involvedObject.name=${name},reason=ScaledObjectReady` } })).items;
    const second = await waitFor(async () => {
      const items = await readyEvents('second');
      return items.length > 0 ? items : undefined;
    }, { what: 'a ScaledObjectReady Event on second', timeoutMs: 30_000 });
    expect(second.map((e) => [e.type, e.message, e.count ?? 1])).to.deep.equal([['Normal', 'ScaledObject is ready for scaling', 1]]);
  });

  it('refuses a target that a foreign HPA scales, and adopts that HPA with transfer-hpa-ownership', async () => {
    await applyYaml(cp, statefulSet('manual-target'), ns);
    await applyYaml(cp, foreignHpa('manual', 'manual-target'), ns);
    await applyYaml(cp, scaledObject('adopter', 'manual-target'), ns);
    const refused = await waitForReady('adopter', 'False');
    expect([refused.reason, refused.message]).to.deep.equal(['ScaleTargetConflict',
      `StatefulSet ${ns}/manual-target is already scaled by HorizontalPodAutoscaler ${ns}/manual, which queryscaler does not manage, ` +
      'and two autoscalers on one target make the HPA controller stop scaling it: delete that HPA, or let this ScaledObject take ' +
      'it over with the annotation scaledobject.keda.sh/transfer-hpa-ownership: "true" and spec.advanced.horizontalPodAutoscalerConfig.name: manual']);
    expect(await hpasOn('manual-target')).to.deep.equal(['manual']);

    await applyYaml(cp, scaledObject('adopter', 'manual-target', {
      annotations: { 'scaledobject.keda.sh/transfer-hpa-ownership': 'true' }, hpaName: 'manual' }), ns);
    await waitForReady('adopter', 'True');
    const adopted = await waitFor(async () => {
      const hpa = await api.request<HorizontalPodAutoscaler>('get', `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/manual`);
      return hpa.metadata.labels?.['app.kubernetes.io/managed-by'] === 'queryscaler' ? hpa : undefined;
    }, { what: 'HPA manual taken over', timeoutMs: 60_000 });
    expect([adopted.spec.maxReplicas, adopted.spec.metrics?.[0]?.type, adopted.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.controller])])
      .to.deep.equal([3, 'External', [['ScaledObject', 'adopter', true]]]);
    expect(await hpasOn('manual-target')).to.deep.equal(['manual']);
  });

  it('notices a deleted target and a re-created one within a second or so, not when a remembered /scale expires', async () => {
    await applyYaml(cp, statefulSet('comes-and-goes'), ns);
    await applyYaml(cp, scaledObject('watcher', 'comes-and-goes'), ns);
    await waitForReady('watcher', 'True');
    let t0 = Date.now();
    await api.request('delete', `/apis/apps/v1/namespaces/${ns}/statefulsets/comes-and-goes`);
    const gone = await waitForReady('watcher', 'False');
    const noticedGone = Date.now() - t0;
    expect([gone.reason, gone.message]).to.deep.equal(['ScaleTargetNotFound',
      `scaleTargetRef.name: StatefulSet ${ns}/comes-and-goes does not exist. Create it or fix scaleTargetRef.name.`]);
    t0 = Date.now();
    await applyYaml(cp, statefulSet('comes-and-goes'), ns);
    await waitForReady('watcher', 'True');
    const noticedBack = Date.now() - t0;
    console.log(`      target deleted noticed in ${noticedGone} ms, re-created in ${noticedBack} ms (pollingInterval 1 s)`);
    // The bound is pollingInterval + 1 s; before, a deletion waited for the remembered /scale (up to 60 s).
    expect(noticedGone).to.be.below(5_000);
    expect(noticedBack).to.be.below(5_000);
  });

  it('notices a deleted and a re-created custom resource target within pollingInterval + 1 s', async () => {
    await applyYaml(cp, WIDGET_CRD);
    await waitForCrdEstablished(cp, WIDGET_CRD_NAME);
    await applyYaml(cp, widget('gizmo'), ns);
    // A long interval: without a watch of widgets, a deletion would wait for the remembered /scale (60 s).
    const pollingInterval = 10;
    await applyYaml(cp, scaledObject('widget-watcher', 'gizmo', { apiVersion: 'example.com/v1', kind: 'Widget', pollingInterval }), ns);
    await waitForReady('widget-watcher', 'True');
    let t0 = Date.now();
    await api.request('delete', `/apis/example.com/v1/namespaces/${ns}/widgets/gizmo`);
    const gone = await waitForReady('widget-watcher', 'False');
    const noticedGone = Date.now() - t0;
    expect([gone.reason, gone.message]).to.deep.equal(['ScaleTargetNotFound',
      `scaleTargetRef.name: Widget ${ns}/gizmo does not exist. Create it or fix scaleTargetRef.name.`]);
    t0 = Date.now();
    await applyYaml(cp, widget('gizmo'), ns);
    await waitForReady('widget-watcher', 'True');
    const noticedBack = Date.now() - t0;
    console.log(`      Widget deleted noticed in ${noticedGone} ms, re-created in ${noticedBack} ms (pollingInterval ${pollingInterval} s)`);
    expect(noticedGone).to.be.below(pollingInterval * 1000 + 1000);
    expect(noticedBack).to.be.below(pollingInterval * 1000 + 1000);
  });
});
