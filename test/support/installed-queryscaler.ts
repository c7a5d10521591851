// queryscaler as an install (kustomize or Helm) deploys it, but running in the test process: the
// install's pods stay Pending here (no kubelet, no kube-proxy), so the process runs with nothing but
// the token of the ServiceAccount the install made, and the install's Service is turned, in place,
// into an ExternalName of localhost that the aggregator and kube-apiserver's webhook client reach on
// the process's loopback ports (README "Run the tests" says why that route stays on the machine).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppsV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import type { ControlPlane } from './control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, EXTERNAL_METRICS_API_SERVICE, kubectl, serviceAccountKubeConfig, waitFor } from './kube.js';
import type { MariaDb } from './mariadb.js';
import { seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from './seed-scenario.js';

export const METRICS_SERVICE = 'queryscaler-metrics-apiserver';
export const WEBHOOK_CONFIGURATION = 'queryscaler';

/**
 * Starts queryscaler as the install's Deployment runs it (a replica set of one through the Leases
 * its Role allows), as ServiceAccount `<namespace>/queryscaler`.
 */
export async function startAsInstalled(cp: ControlPlane, namespace: string, shards: number, identity: string): Promise<RunningQueryscaler> {
  const kubeConfig = await serviceAccountKubeConfig(cp, namespace, 'queryscaler');
  return startQueryscaler({
    kubeConfig,
    metricsApi: { host: '127.0.0.1', port: 0 },
    webhook: { host: '127.0.0.1', port: 0 },
    serving: { kind: 'secret', namespace, name: 'queryscaler-certificates', dnsNames: [`${METRICS_SERVICE}.${namespace}.svc`] },
    caBundles: { apiService: { name: EXTERNAL_METRICS_API_SERVICE, service: { namespace, name: METRICS_SERVICE } }, webhookConfiguration: WEBHOOK_CONFIGURATION },
    clusterTriggerAuthenticationNamespace: namespace,
    sharding: { namespace, identity, peerAddress: 'https://127.0.0.1:1', shardCount: shards },
    logLevel: process.env.QUERYSCALER_TEST_LOG ?? 'silent',
  });
}

/**
 * The network stand-in, before queryscaler starts: the install's Service becomes an ExternalName of
 * localhost, patched so that it stays the install's object (its uninstall deletes it). From then on
 * the webhook and the aggregator are called on loopback ports, never at the Service's cluster IP,
 * which nothing serves here; so no ScaledObject may be written between the install and this.
 */
export async function routeServiceToLoopback(cp: ControlPlane, namespace: string): Promise<void> {
  const externalName = { spec: { type: 'ExternalName', externalName: 'localhost', clusterIP: null, clusterIPs: null, ipFamilies: null, ipFamilyPolicy: null, selector: null, internalTrafficPolicy: null, sessionAffinity: null } };
  await mustSucceed(kubectl(cp, ['patch', 'service', METRICS_SERVICE, '-n', namespace, '--type', 'merge', '-p', JSON.stringify(externalName)]));
}

/** Then the APIService and the webhook name the ports the process listens on; waits for the APIService to be Available. */
export async function pointAtProcess(cp: ControlPlane, app: RunningQueryscaler): Promise<void> {
  await mustSucceed(kubectl(cp, ['patch', 'apiservice', EXTERNAL_METRICS_API_SERVICE, '--type', 'merge', '-p', JSON.stringify({ spec: { service: { port: app.metricsApiPort } } })]));
  await mustSucceed(kubectl(cp, ['patch', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '--type', 'json', '-p',
    JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/service/port', value: app.webhookPort }])]));
  await waitFor(async () => {
    const result = await kubectl(cp, ['get', 'apiservice', EXTERNAL_METRICS_API_SERVICE, '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
    return result.stdout === 'True';
  }, { what: `APIService ${EXTERNAL_METRICS_API_SERVICE} to be Available through the process`, timeoutMs: 30_000 });
}

/**
 * Deletes the cluster-scoped objects (and the kube-system RoleBinding) among `objects` that are
 * already in the cluster, left by an earlier test's `kubectl apply -k manifests/`, so that a Helm
 * install starts on a cluster without queryscaler. CRDs stay: other tests' objects live in them.
 */
export async function removeEarlierInstalls(cp: ControlPlane, objects: KubernetesObject[]): Promise<void> {
  for (const object of objects) {
    const clusterWide = object.metadata?.namespace === undefined || object.metadata.namespace === 'kube-system';
    if (!clusterWide || object.kind === 'CustomResourceDefinition' || object.kind === 'Namespace') continue;
    const namespace = object.metadata?.namespace ? ['-n', object.metadata.namespace] : [];
    await mustSucceed(kubectl(cp, ['delete', `${object.kind}.${(object.apiVersion ?? '').split('/')[0]}`, object.metadata?.name ?? '', ...namespace, '--ignore-not-found']));
  }
}

async function mustSucceed(result: Promise<{ code: number; stdout: string; stderr: string }>): Promise<void> {
  const { code, stderr } = await result;
  if (code !== 0) throw new Error(stderr);
}

/**
 * The seed scenario on 100 rows under the installed queryscaler: mycluster goes to 6 with the real
 * HPA controller, `kubectl get so` shows READY True and VALUE 17, the aggregator serves 17, and
 * deleting the ScaledObject restores 1 (the finalizer's rights). In a namespace `<prefix>-...`.
 */
export async function expectSeedScenarioScaled(cp: ControlPlane, db: MariaDb, prefix: string): Promise<void> {
  await setSeedRowCount(db, 100);
  const namespace = await createTestNamespace(cp, prefix);
  await applyYaml(cp, toYaml(seedStatefulSetObjects()), namespace);
  await applyYaml(cp, toYaml(seedKedaObjects(db, { scaleDownStabilizationSeconds: 10 })), namespace);
  const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  const replicas = async (): Promise<number> => (await apps.readNamespacedStatefulSet({ name: 'mycluster', namespace })).spec?.replicas ?? 0;
  // 100 rows: metric 17, ceil(17/3) = 6, reached through the metric the aggregator fetched from us.
  await waitFor(async () => (await replicas()) === 6, { what: 'mycluster at 6 replicas', timeoutMs: 60_000 });

  const listed = await kubectl(cp, ['get', 'so', 'mysql-scaledobject', '-n', namespace, '--no-headers', '-o', 'custom-columns=READY:.status.conditions[?(@.type=="Ready")].status,VALUE:.status.value']);
  expect(listed.stdout.trim().split(/\s+/)).to.deep.equal(['True', '17']);
  const raw = await kubectl(cp, ['get', '--raw', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/s0-mysql-testdb?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=mysql-scaledobject')}`]);
  expect((JSON.parse(raw.stdout) as { items: Array<{ value: string }> }).items.map((i) => i.value)).to.deep.equal(['17']);

  // kubectl waits for the finalizer, whose restore needs the install's rights too.
  const deleted = await kubectl(cp, ['delete', 'so', 'mysql-scaledobject', '-n', namespace], 60_000);
  expect(deleted.code, deleted.stderr).to.equal(0);
  expect(await replicas()).to.equal(1);
  await deleteTestNamespace(cp, namespace);
}

/** The install's webhook, reached through its Service, refuses a `kafka` trigger at kubectl apply. */
export async function expectWebhookRefusal(cp: ControlPlane, prefix: string): Promise<void> {
  const namespace = await createTestNamespace(cp, prefix);
  const dir = await mkdtemp(path.join(tmpdir(), 'queryscaler-install-'));
  const file = path.join(dir, 'kafka.json');
  await writeFile(file, JSON.stringify({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'kafka' },
    spec: { scaleTargetRef: { name: 'web' }, triggers: [{ type: 'kafka', metadata: { topic: 'orders' } }] },
  }));
  const message = 'admission webhook "vscaledobject.queryscaler.keda.sh" denied the request: ' +
    'triggers[0].type: unknown trigger type "kafka"; this autoscaler knows: cron, mysql.';
  // failurePolicy Ignore admits while kube-apiserver has not seen the new port yet; a dry run creates nothing meanwhile.
  await waitFor(async () => (await kubectl(cp, ['apply', '--dry-run=server', '-n', namespace, '-f', file])).stderr.includes(message),
    { what: 'the webhook to answer through its Service', timeoutMs: 30_000 });
  const refused = await kubectl(cp, ['apply', '-n', namespace, '-f', file]);
  expect([refused.code, refused.stderr.trim()]).to.deep.equal([1, `Error from server (Forbidden): error when creating "${file}": ${message}`]);
  await rm(dir, { recursive: true, force: true });
  await deleteTestNamespace(cp, namespace);
}
