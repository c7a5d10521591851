// `kubectl apply -k manifests/` installs everything queryscaler needs: the proof is queryscaler
// running with nothing but the token of the ServiceAccount those manifests create (so with their
// ClusterRole, auth-delegator binding and kube-system RoleBinding), serving through the APIService
// they create, and scaling the seed scenario with the real HPA controller.
//
// Only the network differs from a cluster: there is no kube-proxy and no kubelet here, so the
// Deployment's pod stays Pending, and the test runs queryscaler in this process instead, giving the
// manifests' Service an ExternalName of localhost and the APIService the process's loopback port.

import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, kubectl, serviceAccountKubeConfig, waitFor, waitForGone } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const INSTALL_NAMESPACE = 'queryscaler';
const SERVICE = 'queryscaler-metrics-apiserver';
const API_SERVICE = 'v1beta1.external.metrics.k8s.io';

describe('kubectl apply -k manifests/ @integration', function () {
  this.timeout(240_000);

  let cp: ControlPlane;
  let db: MariaDb;
  let app: RunningQueryscaler | undefined;

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await createSeedTable(db);
    // --force-conflicts: other tests may have installed the same CRDs under their own field manager.
    const applied = await kubectl(cp, ['apply', '--server-side', '--force-conflicts', '-k', MANIFESTS], 60_000);
    expect(applied.code, applied.stderr).to.equal(0);
    expect(applied.stdout).to.include('apiservice.apiregistration.k8s.io/v1beta1.external.metrics.k8s.io serverside-applied');
    expect(applied.stdout).to.include('clusterrole.rbac.authorization.k8s.io/queryscaler serverside-applied');

    const kubeConfig = await serviceAccountKubeConfig(cp, INSTALL_NAMESPACE, 'queryscaler');
    app = await startQueryscaler({
      kubeConfig,
      metricsApi: { host: '127.0.0.1', port: 0 },
      clusterTriggerAuthenticationNamespace: INSTALL_NAMESPACE,
      logLevel: process.env.QUERYSCALER_TEST_LOG ?? 'silent',
    });

    // The network stand-in: the same Service name, reaching this process on its loopback port.
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    await core.deleteNamespacedService({ name: SERVICE, namespace: INSTALL_NAMESPACE });
    const externalName: KubernetesObject & { spec: object } = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: SERVICE, namespace: INSTALL_NAMESPACE },
      spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port: 443 }] },
    };
    await applyYaml(cp, toYaml([externalName]));
    const patched = await kubectl(cp, ['patch', 'apiservice', API_SERVICE, '--type', 'merge', '-p', JSON.stringify({ spec: { service: { port: app.metricsApiPort } } })]);
    expect(patched.code, patched.stderr).to.equal(0);
    await waitFor(
      async () => {
        const result = await kubectl(cp, ['get', 'apiservice', API_SERVICE, '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
        return result.stdout === 'True';
      },
      { what: `APIService ${API_SERVICE} from manifests/ to be Available`, timeoutMs: 30_000 },
    );

  });

  after(async () => {
    await app?.stop();
    // An APIService left unavailable stalls namespace deletion and garbage collection for the tests after this one.
    await kubectl(cp, ['delete', 'apiservice', API_SERVICE, '--ignore-not-found']);
    await kubectl(cp, ['delete', 'namespace', INSTALL_NAMESPACE, '--ignore-not-found', '--wait=false']);
  });

  it('gives queryscaler, as its own ServiceAccount, every permission the seed scenario needs', async () => {
    await setSeedRowCount(db, 100);
    const namespace = await createTestNamespace(cp, 'install');
    await applyYaml(cp, toYaml(seedStatefulSetObjects()), namespace);
    await applyYaml(cp, toYaml(seedKedaObjects(db, { scaleDownStabilizationSeconds: 10 })), namespace);

    const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
    const replicas = async (): Promise<number> => (await apps.readNamespacedStatefulSet({ name: 'mycluster', namespace })).spec?.replicas ?? 0;
    // 100 rows: metric 17, ceil(17/3) = 6, reached through the metric the aggregator fetched from us.
    await waitFor(async () => (await replicas()) === 6, { what: 'mycluster at 6 replicas', timeoutMs: 60_000 });

    const listed = await kubectl(cp, ['get', 'so', 'mysql-scaledobject', '-n', namespace, '--no-headers', '-o', 'custom-columns=READY:.status.conditions[?(@.type=="Ready")].status,VALUE:.status.lastMetricValue']);
    expect(listed.stdout.trim().split(/\s+/)).to.deep.equal(['True', '17']);

    // The finalizer's restore works with the ServiceAccount's rights too.
    const objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await objects.deleteNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: 'mysql-scaledobject' });
    await waitForGone(() => objects.getNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name: 'mysql-scaledobject' }), { what: 'the ScaledObject to be deleted', timeoutMs: 60_000 });
    expect(await replicas()).to.equal(1);
    await deleteTestNamespace(cp, namespace);
  });

  it('says which RBAC rule is missing when the target is a custom resource the ClusterRole cannot scale', async () => {
    const namespace = await createTestNamespace(cp, 'widget');
    await applyYaml(cp, WIDGET_CRD);
    await waitFor(async () => (await kubectl(cp, ['get', 'widgets', '-n', namespace])).code === 0, { what: 'the Widget CRD to be served' });
    await applyYaml(cp, toYaml([widget, widgetScaledObject]), namespace);

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

const WIDGET_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: { kind: Widget, plural: widgets, singular: widget, listKind: WidgetList }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {}
        scale: { specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, properties: { replicas: { type: integer } } }
            status: { type: object, properties: { replicas: { type: integer } } }
`;

const WIDGET_READER_RBAC = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: queryscaler-widget-reader
rules:
  - apiGroups: [example.com]
    resources: [widgets]
    verbs: [get]
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

const widget: KubernetesObject & { spec: object } = {
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name: 'w' },
  spec: { replicas: 1 },
};

/** A cron trigger whose window is always open: no database involved, only the target. */
const widgetScaledObject: KubernetesObject & { spec: object } = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { name: 'widget-scaler' },
  spec: {
    scaleTargetRef: { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w' },
    minReplicaCount: 1,
    maxReplicaCount: 3,
    triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 0 1 1 *', end: '59 23 31 12 *', desiredReplicas: '2' } }],
  },
};
