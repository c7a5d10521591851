// `helm install` of charts/queryscaler on the local control plane, with the pinned helm built from
// the Go module proxy: the proof is queryscaler running with nothing but the token of the
// ServiceAccount the chart creates, writing its CA into the chart's APIService and webhook, serving
// through both, scaling the seed scenario with the real HPA controller and a custom kind through the
// chart's extraScaleTargets value; then `helm uninstall` removing every object of the release and
// nothing the user owns. The release namespace is not `queryscaler`, so nothing in the chart may
// assume it. How queryscaler runs in the test process: test/support/installed-queryscaler.ts.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import YAML from 'yaml';
import type { RunningQueryscaler } from '../../src/queryscaler.js';
import { caBundleOf } from '../../src/serving/ca-bundle-patches.js';
import type { ControlPlane } from '../support/control-plane.js';
import { CHART, helm, renderChart } from '../support/helm.js';
import { expectSeedScenarioScaled, expectWebhookRefusal, pointAtProcess, removeEarlierInstalls, routeServiceToLoopback, startAsInstalled, WEBHOOK_CONFIGURATION } from '../support/installed-queryscaler.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, EXTERNAL_METRICS_API_SERVICE, kubectl, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { widget, WIDGET_CRD, WIDGET_SCALED_OBJECT } from '../support/scale-targets.js';
import { createSeedTable, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

/** The chart's default shards (values.yaml). */
const SHARDS = 16;

describe('helm install charts/queryscaler @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let db: MariaDb;
  let app: RunningQueryscaler | undefined;
  const release = `qs-helm-${randomBytes(3).toString('hex')}`;
  let valuesDir: string;

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await createSeedTable(db);
    await removeEarlierInstalls(cp, await renderChart(release));
    valuesDir = await mkdtemp(path.join(tmpdir(), 'queryscaler-helm-install-'));
    await writeFile(path.join(valuesDir, 'values.yaml'), YAML.stringify({ extraScaleTargets: [{ apiGroup: 'example.com', resource: 'widgets' }] }));

    const installed = await helm(['install', 'queryscaler', CHART, '--namespace', release, '--create-namespace', '-f', path.join(valuesDir, 'values.yaml')], cp);
    expect(installed.code, installed.stderr).to.equal(0);
    expect(installed.stdout).to.match(new RegExp(`^NAME: queryscaler\\n.*\\nNAMESPACE: ${release}\\nSTATUS: deployed\\nREVISION: 1\\n`, 's'));

    await routeServiceToLoopback(cp, release);
    app = await startAsInstalled(cp, release, SHARDS, 'helm-install-test');
    const caBundle = caBundleOf(app.servingCaPem ?? '');
    await pointAtProcess(cp, app);
    const apiServiceCa = await kubectl(cp, ['get', 'apiservice', EXTERNAL_METRICS_API_SERVICE, '-o', 'jsonpath={.spec.caBundle}']);
    const webhookCa = await kubectl(cp, ['get', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']);
    expect([apiServiceCa.stdout === caBundle, webhookCa.stdout === caBundle]).to.deep.equal([true, true]);
  });

  after(async () => {
    await app?.stop();
    await helm(['uninstall', 'queryscaler', '--namespace', release, '--ignore-not-found'], cp);
    await kubectl(cp, ['delete', 'namespace', release, '--ignore-not-found', '--timeout=120s'], 130_000);
    await rm(valuesDir, { recursive: true, force: true });
  });

  it('scales the seed scenario to 6 replicas on 100 rows, as the chart\'s ServiceAccount', async () => {
    await expectSeedScenarioScaled(cp, db, 'helm-seed');
  });

  it('refuses through the chart\'s webhook what reconcile would refuse', async () => {
    await expectWebhookRefusal(cp, 'helm-webhook');
  });

  it('reads the /scale of a custom kind that extraScaleTargets names', async () => {
    const namespace = await createTestNamespace(cp, 'helm-widget');
    await applyYaml(cp, WIDGET_CRD);
    await waitFor(async () => (await kubectl(cp, ['get', 'widgets', '-n', namespace])).code === 0, { what: 'the Widget CRD to be served' });
    await applyYaml(cp, widget('w'), namespace);
    await applyYaml(cp, toYaml([WIDGET_SCALED_OBJECT]), namespace);
    // Ready needs the target's /scale read, which the chart's extra rule allows (without it: reason
    // Forbidden, test/integration/install-manifests.test.ts). The Widget has no selector, so the HPA
    // itself cannot scale it here.
    const ready = await waitFor(async () => {
      const got = await kubectl(cp, ['get', 'so', 'widget-scaler', '-n', namespace, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.hpaName}']);
      return got.stdout.startsWith('True') ? got.stdout : undefined;
    }, { what: 'widget-scaler Ready=True', timeoutMs: 60_000 });
    expect(ready).to.equal('True keda-hpa-widget-scaler');
    await deleteTestNamespace(cp, namespace);
  });

  it('helm uninstall removes every object of the release and leaves the CRDs, and so the ScaledObjects', async () => {
    const namespace = await createTestNamespace(cp, 'helm-kept');
    const kept: KubernetesObject & { spec: object } = { ...WIDGET_SCALED_OBJECT, spec: { ...WIDGET_SCALED_OBJECT.spec, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster' } } };
    await applyYaml(cp, toYaml([kept]), namespace);
    await app?.stop();
    app = undefined;
    const manifest = await helm(['get', 'manifest', 'queryscaler', '--namespace', release], cp);
    const released = (YAML.parseAllDocuments(manifest.stdout).map((d) => d.toJS() as KubernetesObject | null)).filter((o): o is KubernetesObject => o !== null);
    const rendered = (await renderChart(release, ['-f', path.join(valuesDir, 'values.yaml')])).filter((o) => o.kind !== 'CustomResourceDefinition');
    expect(released.length).to.equal(rendered.length);

    const uninstalled = await helm(['uninstall', 'queryscaler', '--namespace', release, '--wait'], cp);
    expect([uninstalled.code, uninstalled.stdout.trim()], uninstalled.stderr).to.deep.equal([0, 'release "queryscaler" uninstalled']);
    const left: string[] = [];
    for (const object of released) {
      const namespaceArgs = object.metadata?.namespace ? ['-n', object.metadata.namespace] : [];
      const got = await kubectl(cp, ['get', `${object.kind}.${(object.apiVersion ?? '').split('/')[0]}`, object.metadata?.name ?? '', ...namespaceArgs, '--ignore-not-found', '-o', 'name']);
      if (got.stdout.trim() !== '') left.push(got.stdout.trim());
    }
    expect(left, 'objects of the release still there').to.deep.equal([]);
    // What the process made at run time stays in its namespace (README: delete the namespace to remove it).
    const secrets = await kubectl(cp, ['get', 'secrets', '-n', release, '-o', 'jsonpath={.items[*].metadata.name}']);
    expect(secrets.stdout).to.equal('queryscaler-certificates');
    const leases = await kubectl(cp, ['get', 'leases', '-n', release, '-l', 'queryscaler.dev/lease', '-o', 'jsonpath={.items[*].metadata.name}']);
    expect(leases.stdout.split(' ').sort()).to.deep.equal(Array.from({ length: SHARDS }, (_, i) => `queryscaler-shard-${i}`).sort());
    const crds = await kubectl(cp, ['get', 'crd', 'scaledobjects.keda.sh', 'triggerauthentications.keda.sh', 'clustertriggerauthentications.keda.sh', '-o', 'name']);
    expect(crds.stdout.trim().split('\n')).to.have.length(3);
    const stillThere = await kubectl(cp, ['get', 'so', 'widget-scaler', '-n', namespace, '-o', 'name']);
    expect(stillThere.stdout.trim()).to.equal('scaledobject.keda.sh/widget-scaler');
    await deleteTestNamespace(cp, namespace);
  });
});
