// `kubectl apply -k manifests/` installs everything queryscaler needs: the proof is queryscaler
// running with nothing but the token of the ServiceAccount those manifests create (so with their
// ClusterRoles, Role, auth-delegator binding and kube-system RoleBinding), making its serving
// certificate in a Secret, writing that CA into the caBundle of the APIService they create (taking
// over KEDA's, which held another caBundle) and of their ValidatingWebhookConfiguration, serving
// through both, and scaling the seed scenario with the real HPA controller.
//
// Only the network differs from a cluster: there is no kube-proxy and no kubelet here, so the
// Deployment's pod stays Pending, and the test runs queryscaler in this process instead, giving the
// manifests' Service an ExternalName of localhost, and the APIService and the webhook the process's
// loopback ports.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { RunningQueryscaler } from '../../src/queryscaler.js';
import { caBundleOf } from '../../src/serving/ca-bundle-patches.js';
import { createCertificateAuthority } from '../../src/tls/certificates.js';
import type { ControlPlane } from '../support/control-plane.js';
import { expectSeedScenarioScaled, expectWebhookRefusal, pointAtProcess, routeServiceToLoopback, startAsInstalled } from '../support/installed-queryscaler.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, kubectl, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';
import { widget, WIDGET_CRD, WIDGET_SCALED_OBJECT } from '../support/scale-targets.js';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const INSTALL_NAMESPACE = 'queryscaler';
const API_SERVICE = 'v1beta1.external.metrics.k8s.io';
const WEBHOOK_CONFIGURATION = 'queryscaler';
/** As manifests/deployment.yaml runs it. */
const SHARDS = Number(/--shards=(\d+)/.exec(readFileSync(new URL('deployment.yaml', `file://${MANIFESTS}`), 'utf8'))?.[1]);

describe('kubectl apply -k manifests/ @integration', function () {
  this.timeout(240_000);

  let cp: ControlPlane;
  let db: MariaDb;
  let app: RunningQueryscaler | undefined;

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await createSeedTable(db);
    // KEDA's APIService, as KEDA installs it: its own Service and a caBundle of its CA.
    await applyYaml(cp, JSON.stringify({
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: API_SERVICE },
      spec: {
        group: 'external.metrics.k8s.io',
        version: 'v1beta1',
        groupPriorityMinimum: 100,
        versionPriority: 100,
        service: { name: 'keda-operator-metrics-apiserver', namespace: 'keda', port: 443 },
        caBundle: caBundleOf(createCertificateAuthority('keda-ca').certPem),
      },
    }));
    // --force-conflicts: other tests may have installed the same CRDs under their own field manager.
    const applied = await kubectl(cp, ['apply', '--server-side', '--force-conflicts', '-k', MANIFESTS], 60_000);
    expect(applied.code, applied.stderr).to.equal(0);
    expect(applied.stdout).to.include('apiservice.apiregistration.k8s.io/v1beta1.external.metrics.k8s.io serverside-applied');
    expect(applied.stdout).to.include('clusterrole.rbac.authorization.k8s.io/queryscaler serverside-applied');
    expect(applied.stdout).to.include('validatingwebhookconfiguration.admissionregistration.k8s.io/queryscaler serverside-applied');

    // The network stand-in: the same Service, an ExternalName reaching this process on its loopback ports.
    await routeServiceToLoopback(cp, INSTALL_NAMESPACE);
    app = await startAsInstalled(cp, INSTALL_NAMESPACE, SHARDS, 'install-test');
    const leases = await kubectl(cp, ['get', 'leases', '-n', INSTALL_NAMESPACE, '-l', 'queryscaler.dev/lease', '-o', 'jsonpath={range .items[*]}{.spec.holderIdentity} {end}']);
    expect(leases.stdout.trim().split(' '), leases.stderr).to.deep.equal(Array.from({ length: SHARDS + 1 }, () => 'install-test'));
    const caBundle = caBundleOf(app.servingCaPem ?? '');
    const apiServiceCa = await kubectl(cp, ['get', 'apiservice', API_SERVICE, '-o', 'jsonpath={.spec.caBundle}']);
    const webhookCa = await kubectl(cp, ['get', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']);
    expect([apiServiceCa.stdout === caBundle, webhookCa.stdout === caBundle]).to.deep.equal([true, true]);
    await pointAtProcess(cp, app);
  });

  after(async () => {
    await app?.stop();
    // An APIService left unavailable stalls namespace deletion and garbage collection for the tests
    // after this one; a webhook left behind would be asked (and time out) on every ScaledObject.
    await kubectl(cp, ['delete', 'apiservice', API_SERVICE, '--ignore-not-found']);
    await kubectl(cp, ['delete', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '--ignore-not-found']);
    await kubectl(cp, ['delete', 'namespace', INSTALL_NAMESPACE, '--ignore-not-found', '--timeout=120s'], 130_000);
  });

  it('gives queryscaler, as its own ServiceAccount, every permission the seed scenario needs', async () => {
    await expectSeedScenarioScaled(cp, db, 'install');
  });

  it('refuses through the manifests\' webhook, by its Service, what reconcile would refuse', async () => {
    await expectWebhookRefusal(cp, 'install-webhook');
  });

  it('says which RBAC rule is missing when the target is a custom resource the ClusterRole cannot scale', async () => {
    const namespace = await createTestNamespace(cp, 'widget');
    await applyYaml(cp, WIDGET_CRD);
    await waitFor(async () => (await kubectl(cp, ['get', 'widgets', '-n', namespace])).code === 0, { what: 'the Widget CRD to be served' });
    await applyYaml(cp, widget('w'), namespace);
    await applyYaml(cp, toYaml([WIDGET_SCALED_OBJECT]), namespace);

    const objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const readyCondition = async (): Promise<{ status: string; reason?: string; message?: string } | undefined> => {
      const so = (await objects.getNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: 'widget-scaler' })) as {
        status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
      };
      return so.status?.conditions?.find((c) => c.type === 'Ready');
    };
    const forbidden = await waitFor(async () => {
      const ready = await readyCondition();
      return ready?.reason === 'Forbidden' ? ready : undefined;
    }, { what: 'Ready=False with reason Forbidden', timeoutMs: 30_000 });
    expect(forbidden.status).to.equal('False');
    expect(forbidden.message).to.match(
      /^get \/apis\/example\.com\/v1\/namespaces\/widget-[0-9a-f]+\/widgets\/w\/scale: 403 Forbidden: .*cannot get resource "widgets\/scale" in API group "example\.com".*\. Grant queryscaler's ServiceAccount that verb on that resource \(a rule in the queryscaler ClusterRole\)$/,
    );

    // The fix the message names heals it, without a restart.
    await applyYaml(cp, WIDGET_READER_RBAC);
    await kubectl(cp, ['annotate', 'so', 'widget-scaler', '-n', namespace, 'queryscaler.test/nudge=1']);
    await waitFor(async () => (await readyCondition())?.status === 'True', { what: 'Ready=True once the rule exists', timeoutMs: 45_000 });
    await deleteTestNamespace(cp, namespace);
  });
});

const WIDGET_READER_RBAC = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: queryscaler-widget-reader
rules:
  - apiGroups: [example.com]
    resources: [widgets]
    verbs: [get, list, watch]
  - apiGroups: [example.com]
    resources: [widgets/scale]
    verbs: [get, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: queryscaler-widget-reader
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: queryscaler-widget-reader }
subjects:
  - { kind: ServiceAccount, name: queryscaler, namespace: ${INSTALL_NAMESPACE} }
`;
