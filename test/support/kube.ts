// Small helpers for tests against the test control plane: namespaces, applying YAML, CRDs, waiting,
// kubectl, and routing the external-metrics API to a server on a loopback port.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  ApiregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
  type V1APIService,
} from '@kubernetes/client-node';
import YAML from 'yaml';
import type { ControlPlane } from './control-plane.js';

export const TEST_FIELD_MANAGER = 'queryscaler-tests';

export interface WaitOptions {
  /** Completes "timed out waiting for ..."; a function is called at timeout, to report progress. */
  what: string | (() => string);
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than undefined, null or false, and returns that.
 * A throw counts as "not yet"; the last one is quoted if time runs out.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, options: WaitOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      last = `got ${String(value)}`;
    } catch (err) {
      last = `threw: ${describeError(err)}`;
    }
    if (Date.now() >= deadline) {
      const what = typeof options.what === 'function' ? options.what() : options.what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last attempt ${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Waits until `read` fails with 404. `notFound` says what a 404 looks like for the client `read`
 * uses (client-node's ApiException by default, the controller's KubeApiError otherwise).
 */
export async function waitForGone(read: () => Promise<unknown>, options: WaitOptions, notFound: (err: unknown) => boolean = isNotFound): Promise<void> {
  await waitFor(async () => {
    try {
      await read();
      return false;
    } catch (err) {
      if (notFound(err)) return true;
      throw err;
    }
  }, options);
}

/** A fresh namespace `<prefix>-<random>`, returned once its `default` ServiceAccount exists (pods need it). */
export async function createTestNamespace(cp: ControlPlane, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { 'queryscaler.test/namespace': 'true' } } } });
  // Right after a test restarted kube-apiserver, kube-controller-manager's informers may still be in
  // their reconnect backoff for half a minute before serviceaccount-controller sees a new namespace.
  await waitFor(() => core.readNamespacedServiceAccount({ name: 'default', namespace: name }), { what: `ServiceAccount ${name}/default`, timeoutMs: 90_000 });
  return name;
}

/** Starts deleting the namespace; namespace-controller finishes it in the background. */
export async function deleteTestNamespace(cp: ControlPlane, name: string): Promise<void> {
  await releaseScaledObjects(cp, name);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await ignoreNotFound(core.deleteNamespace({ name }));
}

/**
 * Deletes the namespace's ScaledObjects and drops their finalizers. Left to namespace deletion, a
 * ScaledObject whose queryscaler has already stopped keeps its finalizer, and the next test's
 * queryscaler (every one watches all namespaces) would finalize it in the middle of that test.
 */
async function releaseScaledObjects(cp: ControlPlane, namespace: string): Promise<void> {
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const scaledObjects = { group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects' };
  let names: string[];
  try {
    const listed = (await custom.listNamespacedCustomObject(scaledObjects)) as { items: KubernetesObject[] };
    names = listed.items.map((o) => o.metadata?.name ?? '');
  } catch (err) {
    if (isNotFound(err)) return; // no CRD installed, so no ScaledObjects
    throw err;
  }
  for (const name of names) {
    // Deleted first, so that a queryscaler still running sees a deletion and does not add the finalizer back.
    await ignoreNotFound(custom.deleteNamespacedCustomObject({ ...scaledObjects, name }));
    const released = await kubectl(cp, ['patch', 'scaledobject', name, '-n', namespace, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']);
    if (released.code !== 0 && !released.stderr.includes('NotFound')) throw new Error(`releasing ScaledObject ${namespace}/${name}: ${released.stderr}`);
  }
}

/**
 * Parses multi-document YAML into the client library's typed models. Going through its own loader
 * matters: the client serializes known kinds by their model, which drops raw JSON keys such as
 * `x-kubernetes-int-or-string` in a CRD schema unless they were read into the model's names first.
 */
export function parseYamlDocuments(text: string): KubernetesObject[] {
  const documents: unknown[] = loadAllYaml(text);
  return documents
    .filter((value) => value !== null && value !== undefined)
    .map((value, i) => {
      const object = value as Partial<KubernetesObject>;
      if (typeof object !== 'object' || typeof object.kind !== 'string' || typeof object.apiVersion !== 'string') {
        throw new Error(`YAML document ${i + 1} is not a Kubernetes object: it needs apiVersion and kind`);
      }
      return object as KubernetesObject;
    });
}

/**
 * Server-side applies every document in `yamlText`, in order. Namespaced objects without
 * metadata.namespace go to `namespace` (default: `default`).
 */
export async function applyYaml(cp: ControlPlane, yamlText: string, namespace?: string): Promise<KubernetesObject[]> {
  const client = KubernetesObjectApi.makeApiClient(namespace === undefined ? cp.kubeConfig : kubeConfigInNamespace(cp.kubeConfig, namespace));
  const applied: KubernetesObject[] = [];
  for (const object of parseYamlDocuments(yamlText)) {
    try {
      applied.push(await client.patch(object, undefined, undefined, TEST_FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
    } catch (err) {
      throw new Error(`applying ${object.kind} ${object.metadata?.name ?? '(no name)'}: ${describeError(err)}`, { cause: err });
    }
  }
  return applied;
}

/** Applies every *.yaml / *.yml file in `dir` and waits until each CRD in them is Established. Returns the CRD names. */
export async function installCrds(cp: ControlPlane, dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const names: string[] = [];
  for (const file of files) {
    const applied = await applyYaml(cp, await readFile(path.join(dir, file), 'utf8'));
    names.push(...applied.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata?.name ?? ''));
  }
  await Promise.all(names.map((name) => waitForCrdEstablished(cp, name)));
  return names;
}

export async function waitForCrdEstablished(cp: ControlPlane, name: string, timeoutMs = 30_000): Promise<void> {
  const extensions = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
  await waitFor(
    async () => {
      const crd = await extensions.readCustomResourceDefinition({ name });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    },
    { what: `CustomResourceDefinition ${name} to be Established`, timeoutMs },
  );
}

export const EXTERNAL_METRICS_API_SERVICE = 'v1beta1.external.metrics.k8s.io';

export interface ExternalMetricsRoute {
  /** The loopback port the external-metrics HTTPS server listens on. */
  port: number;
  /** CA that signed the server's certificate, which must name DNS:<serviceName>.<serviceNamespace>.svc. */
  caBundlePem: string;
  serviceName?: string;
  serviceNamespace?: string;
}

const DEFAULT_METRICS_SERVICE = 'queryscaler-metrics-apiserver';

/**
 * Makes kube-apiserver proxy external.metrics.k8s.io/v1beta1 to https://localhost:<port>, and waits
 * until the APIService is Available.
 *
 * Why an ExternalName Service reaches a process on this machine: with --enable-aggregator-routing=false
 * the aggregator resolves the APIService's service through ResolveCluster (k8s.io/apiserver
 * pkg/util/proxy), which for type ExternalName returns https://<externalName>:<APIService port>
 * without looking at cluster IPs, Endpoints or even the Service's own ports. So externalName
 * `localhost` and the server's loopback port as the APIService port is a direct route. TLS is still
 * verified: the aggregator sets ServerName to <service>.<namespace>.svc and checks it against caBundle.
 */
export async function registerExternalMetricsApi(cp: ControlPlane, route: ExternalMetricsRoute): Promise<void> {
  const serviceName = route.serviceName ?? DEFAULT_METRICS_SERVICE;
  const serviceNamespace = route.serviceNamespace ?? 'default';
  await applyYaml(
    cp,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: serviceName, namespace: serviceNamespace },
      spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port: route.port, protocol: 'TCP' }] },
    }),
  );
  const apiService: V1APIService = {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: EXTERNAL_METRICS_API_SERVICE },
    spec: {
      group: 'external.metrics.k8s.io',
      version: 'v1beta1',
      service: { name: serviceName, namespace: serviceNamespace, port: route.port },
      caBundle: Buffer.from(route.caBundlePem).toString('base64'),
      groupPriorityMinimum: 100,
      versionPriority: 100,
    },
  };
  await applyYaml(cp, YAML.stringify(apiService));
  await waitForExternalMetricsApi(cp, 'True');
}

/**
 * Deletes the APIService and its Service. Leave no unavailable APIService behind: namespace deletion
 * and garbage collection stall while an aggregated API fails discovery.
 */
export async function unregisterExternalMetricsApi(cp: ControlPlane, route: { serviceName?: string; serviceNamespace?: string } = {}): Promise<void> {
  const registration = cp.kubeConfig.makeApiClient(ApiregistrationV1Api);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await ignoreNotFound(registration.deleteAPIService({ name: EXTERNAL_METRICS_API_SERVICE }));
  await ignoreNotFound(core.deleteNamespacedService({ name: route.serviceName ?? DEFAULT_METRICS_SERVICE, namespace: route.serviceNamespace ?? 'default' }));
}

async function waitForExternalMetricsApi(cp: ControlPlane, status: 'True' | 'False', timeoutMs = 30_000): Promise<void> {
  const registration = cp.kubeConfig.makeApiClient(ApiregistrationV1Api);
  let message = '';
  try {
    await waitFor(
      async () => {
        const available = (await registration.readAPIService({ name: EXTERNAL_METRICS_API_SERVICE })).status?.conditions?.find((c) => c.type === 'Available');
        message = available === undefined ? 'no Available condition yet' : `Available=${available.status} ${available.reason ?? ''}: ${available.message ?? ''}`;
        return available?.status === status;
      },
      { what: `APIService ${EXTERNAL_METRICS_API_SERVICE} Available=${status}`, timeoutMs },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; its condition: ${message}`, { cause: err });
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the machine's kubectl against the test control plane; never throws for a non-zero exit. */
export function kubectl(cp: ControlPlane, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`kubectl ${args.join(' ')}: ${err.message}`, { cause: err }));
        return;
      }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
  });
}

/** A copy of `base` whose current context defaults to `namespace`. */
export function kubeConfigInNamespace(base: KubeConfig, namespace: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: base.clusters,
    users: base.users,
    contexts: base.contexts.map((c) => (c.name === base.currentContext ? { ...c, namespace } : c)),
    currentContext: base.currentContext,
  });
  return kc;
}

/** A kubeconfig that authenticates as ServiceAccount `namespace/name`, with a token from the TokenRequest API. */
export async function serviceAccountKubeConfig(cp: ControlPlane, namespace: string, name: string): Promise<KubeConfig> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const request = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  const token = request.status?.token;
  if (!token) throw new Error(`no token issued for ServiceAccount ${namespace}/${name}`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: cp.server, caData: Buffer.from(cp.clusterCaPem).toString('base64') }],
    users: [{ name, token }],
    contexts: [{ name: 'sa', cluster: 'test', user: name }],
    currentContext: 'sa',
  });
  return kc;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

async function ignoreNotFound(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The API server's own message when there is one, rather than the client's "HTTP-Code: 422 ... Body: {...}". */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    const message = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : err.message;
    return `HTTP ${err.code}: ${message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
