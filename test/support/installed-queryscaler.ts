// queryscaler as an install (kustomize or Helm) deploys it, but running in the test process: the
// install's pods stay Pending here (no kubelet, no kube-proxy), so the process runs with nothing but
// the token of the ServiceAccount the install made, and the install's Service is turned, in place,
// into an ExternalName of localhost that the aggregator and kube-apiserver's webhook client reach on
// the process's loopback ports (README "Run the tests" says why that route stays on the machine).

import type { KubernetesObject } from '@kubernetes/client-node';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import type { ControlPlane } from './control-plane.js';
import { EXTERNAL_METRICS_API_SERVICE, kubectl, serviceAccountKubeConfig, waitFor } from './kube.js';

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
