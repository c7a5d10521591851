// charts/queryscaler against manifests/: the chart is written as ordinary Helm templates, and this
// test keeps it equal to the kustomize install. Its default values render, object by object, what
// `kubectl kustomize manifests/` gives (less the Namespace, which `helm install --create-namespace`
// makes, and less Helm's own labels); its least-privilege values render what the kustomize component
// and the two example overlays give. Then the values that manifests/ has no counterpart for, the
// values it refuses (with the words helm prints), `helm lint`, and a server-side dry run of the
// rendered objects on the local kube-apiserver.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import YAML from 'yaml';
import type { ControlPlane } from '../support/control-plane.js';
import { CHART, helm, kustomize, renderChart } from '../support/helm.js';
import { createTestNamespace, deleteTestNamespace, kubectl } from '../support/kube.js';
import { sharedControlPlane } from '../support/shared.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MANIFESTS = path.join(ROOT, 'manifests');
/** Labels Helm charts carry by convention and manifests/ does not: all the normalisation there is. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];

type Manifest = KubernetesObject & Record<string, unknown>;

function keyOf(object: KubernetesObject): string {
  return `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/** By key, with `dropLabels` removed from metadata.labels (and an emptied labels map removed). */
function byKey(objects: KubernetesObject[], dropLabels: (object: KubernetesObject) => string[]): Map<string, Manifest> {
  const map = new Map<string, Manifest>();
  for (const original of objects) {
    const object = structuredClone(original) as Manifest;
    const labels = object.metadata?.labels;
    if (labels) {
      for (const label of dropLabels(original)) delete labels[label];
      if (Object.keys(labels).length === 0) delete object.metadata!.labels;
    }
    if (map.has(keyOf(object))) throw new Error(`${keyOf(object)} rendered twice`);
    map.set(keyOf(object), object);
  }
  return map;
}

/**
 * Asserts the chart's objects equal kustomize's, object by object. Objects an overlay adds from its
 * own files carry no kustomize labels (overlays set none), so part-of is not compared on them.
 */
async function expectSameObjects(chart: KubernetesObject[], kustomized: KubernetesObject[]): Promise<void> {
  const base = new Set((await kustomize(MANIFESTS)).map(keyOf));
  const overlayOwn = (object: KubernetesObject) => (base.has(keyOf(object)) ? [] : ['app.kubernetes.io/part-of']);
  const fromChart = byKey(chart, (object) => [...HELM_LABELS, ...overlayOwn(object)]);
  const fromKustomize = byKey(kustomized.filter((o) => keyOf(o) !== 'Namespace /queryscaler'), overlayOwn);
  expect([...fromChart.keys()].sort(), 'the objects rendered').to.deep.equal([...fromKustomize.keys()].sort());
  const differing = [...fromKustomize].flatMap(([key, object]) => differences(fromChart.get(key), object, key));
  expect(differing, 'fields where the chart differs (chart, then kustomize)').to.deep.equal([]);
}

/** Each path where `chart` and `kustomized` differ, with both values: chai's own diff of two large objects shows nothing. */
function differences(chart: unknown, kustomized: unknown, at: string): string[] {
  if (typeof chart === 'object' && chart !== null && typeof kustomized === 'object' && kustomized !== null && Array.isArray(chart) === Array.isArray(kustomized)) {
    const keys = new Set([...Object.keys(chart), ...Object.keys(kustomized)]);
    return [...keys].flatMap((k) => differences((chart as Record<string, unknown>)[k], (kustomized as Record<string, unknown>)[k], `${at}.${k}`));
  }
  return chart === kustomized ? [] : [`${at}: ${JSON.stringify(chart)}, ${JSON.stringify(kustomized)}`];
}

/** `kubectl kustomize` of a kustomization made for the test, naming manifests/ by relative paths (kustomize refuses absolute ones). */
async function kustomizeWith(kustomization: (relative: (p: string) => string) => object): Promise<KubernetesObject[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'queryscaler-kustomize-'));
  try {
    const relative = (p: string) => path.relative(dir, path.join(ROOT, p));
    await writeFile(path.join(dir, 'kustomization.yaml'), YAML.stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', ...kustomization(relative) }));
    return await kustomize(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function find<T = Manifest>(objects: KubernetesObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name} rendered; rendered: ${objects.map(keyOf).join(', ')}`);
  return found as T;
}

interface Container {
  image: string;
  imagePullPolicy?: string;
  args: string[];
  ports: Array<{ name: string; containerPort: number }>;
  resources: object;
}
interface Deployment {
  spec: { replicas: number; template: { metadata: { labels: object; annotations?: object }; spec: { containers: Container[]; nodeSelector?: object; priorityClassName?: string; imagePullSecrets?: object[] } } };
}
type Rules = { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }> };

/** Every value away from its default, at once. */
const ALL_VALUES = {
  replicaCount: 3,
  image: { repository: 'registry.example/team/queryscaler', tag: 'dev-1', pullPolicy: 'Always' },
  imagePullSecrets: [{ name: 'regcred' }],
  resources: { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  logLevel: 'debug',
  logFormat: 'text',
  watchNamespaces: ['team-a'],
  restrictSecretAccess: { enabled: true, names: { 'team-a': { secrets: ['db'], configMaps: ['db-settings'] } } },
  shards: 32,
  shutdownDelaySeconds: 5,
  metricsApi: { port: 7443 },
  apiService: { enabled: true, groupPriorityMinimum: 200, versionPriority: 50 },
  webhook: { enabled: true, port: 10443, failurePolicy: 'Fail', timeoutSeconds: 3 },
  extraScaleTargets: [{ apiGroup: 'example.com', resource: 'widgets' }],
  podDisruptionBudget: { enabled: true, minAvailable: 2 },
  serviceAccount: { annotations: { 'example.com/role': 'queryscaler' } },
  podAnnotations: { 'example.com/team': 'platform' },
  podLabels: { team: 'platform' },
  priorityClassName: 'system-cluster-critical',
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
  affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'queryscaler' } } } }] } },
  // The ServiceMonitor and PrometheusRule need the Prometheus Operator's CRDs, which the dry run below has not.
  monitoring: { dashboard: { enabled: true, labels: { grafana_dashboard: '1', team: 'platform' } } },
  extraArgs: ['--mysql-pool-size=8'],
};

describe('the Helm chart charts/queryscaler @integration', function () {
  this.timeout(180_000);
  let valuesDir: string;
  const valuesFile = (name: string) => path.join(valuesDir, name);

  before(async () => {
    valuesDir = await mkdtemp(path.join(tmpdir(), 'queryscaler-values-'));
    await writeFile(valuesFile('all.yaml'), YAML.stringify(ALL_VALUES));
  });
  after(async () => {
    await rm(valuesDir, { recursive: true, force: true });
  });

  describe('renders what manifests/ installs', () => {
    it('with its default values: kubectl kustomize manifests/', async () => {
      await expectSameObjects(await renderChart('queryscaler'), await kustomize(MANIFESTS));
    });

    it('with restrictSecretAccess.enabled: manifests/ with the component restrict-secret-access', async () => {
      const kustomized = await kustomizeWith((relative) => ({ resources: [relative('manifests')], components: [relative('manifests/components/restrict-secret-access')] }));
      await expectSameObjects(await renderChart('queryscaler', ['--set', 'restrictSecretAccess.enabled=true']), kustomized);
    });

    it('with restrictSecretAccess.names: overlays/restrict-secret-names', async () => {
      const chart = await renderChart('queryscaler', ['--set', 'restrictSecretAccess.enabled=true', '--set-json', 'restrictSecretAccess.names={"mysql-cluster":{"secrets":["mysql-secrets"]}}']);
      await expectSameObjects(chart, await kustomize(path.join(ROOT, 'overlays/restrict-secret-names')));
    });

    it('with monitoring.serviceMonitor and monitoring.prometheusRule: manifests/ and manifests/monitoring/', async () => {
      const chart = await renderChart('queryscaler', ['--set', 'monitoring.serviceMonitor.enabled=true', '--set', 'monitoring.prometheusRule.enabled=true']);
      await expectSameObjects(chart, await kustomizeWith((relative) => ({ resources: [relative('manifests'), relative('manifests/monitoring')] })));
    });

    it('with watchNamespaces: overlays/watch-namespaces', async () => {
      const chart = await renderChart('queryscaler', ['--set', 'watchNamespaces={team-a,team-b}']);
      await expectSameObjects(chart, await kustomize(path.join(ROOT, 'overlays/watch-namespaces')));
    });
  });

  describe('the values manifests/ has no counterpart for', () => {
    it('puts every value where it belongs', async () => {
      const objects = await renderChart('ops', ['-f', valuesFile('all.yaml')]);
      const deployment = find<Deployment>(objects, 'Deployment', 'queryscaler');
      const pod = deployment.spec.template;
      const container = pod.spec.containers[0]!;
      expect([deployment.spec.replicas, container.image, container.imagePullPolicy]).to.deep.equal([3, 'registry.example/team/queryscaler:dev-1', 'Always']);
      expect(container.args).to.deep.equal([
        '--metrics-port=7443',
        '--webhook-port=10443',
        '--cluster-trigger-authentication-namespace=$(POD_NAMESPACE)',
        '--shards=32',
        '--shutdown-delay-seconds=5',
        '--log-level=debug',
        '--log-format=text',
        '--restrict-secret-access',
        '--watch-namespaces=team-a',
        '--mysql-pool-size=8',
      ]);
      expect(container.ports.map((p) => `${p.name}:${p.containerPort}`)).to.deep.equal(['https:7443', 'webhook:10443', 'metrics:8080']);
      expect(container.resources).to.deep.equal(ALL_VALUES.resources);
      expect(pod.metadata).to.deep.equal({ labels: { 'app.kubernetes.io/name': 'queryscaler', team: 'platform' }, annotations: ALL_VALUES.podAnnotations });
      expect(pod.spec).to.deep.include({ nodeSelector: ALL_VALUES.nodeSelector, tolerations: ALL_VALUES.tolerations, affinity: ALL_VALUES.affinity, priorityClassName: 'system-cluster-critical', imagePullSecrets: [{ name: 'regcred' }] });

      expect(find(objects, 'ServiceAccount', 'queryscaler')['metadata']).to.deep.include({ annotations: ALL_VALUES.serviceAccount.annotations });
      expect(find(objects, 'Service', 'queryscaler-metrics-apiserver')['spec']).to.deep.include({
        ports: [
          { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
          { name: 'webhook', port: 10443, targetPort: 'webhook', protocol: 'TCP' },
          { name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' },
        ],
      });
      expect(find(objects, 'APIService', 'v1beta1.external.metrics.k8s.io')['spec']).to.deep.equal({
        group: 'external.metrics.k8s.io',
        version: 'v1beta1',
        groupPriorityMinimum: 200,
        versionPriority: 50,
        service: { name: 'queryscaler-metrics-apiserver', namespace: 'ops', port: 443 },
      });
      const webhook = (find(objects, 'ValidatingWebhookConfiguration', 'queryscaler') as unknown as { webhooks: Array<Record<string, unknown>> }).webhooks[0]!;
      expect([webhook['failurePolicy'], webhook['timeoutSeconds'], webhook['clientConfig']]).to.deep.equal([
        'Fail', 3, { service: { name: 'queryscaler-metrics-apiserver', namespace: 'ops', port: 10443, path: '/validate-keda-sh-v1alpha1-scaledobject' } },
      ]);
      const dashboard = find<{ metadata: { labels: Record<string, string> }; data: Record<string, string> }>(objects, 'ConfigMap', 'queryscaler-dashboard');
      expect(dashboard.metadata.labels).to.deep.include({ grafana_dashboard: '1', team: 'platform' });
      expect(dashboard.data).to.deep.equal({ 'queryscaler.json': readFileSync(path.join(ROOT, 'dashboards/queryscaler.json'), 'utf8').trimEnd() });
      expect(find(objects, 'PodDisruptionBudget', 'queryscaler')['spec']).to.deep.equal({ minAvailable: 2, selector: { matchLabels: { 'app.kubernetes.io/name': 'queryscaler' } } });
      // The extra kind: its /scale and the resource itself, beside the apps rules.
      expect(find<Rules>(objects, 'ClusterRole', 'queryscaler').rules.filter((r) => r.apiGroups[0] === 'example.com')).to.deep.equal([
        { apiGroups: ['example.com'], resources: ['widgets/scale'], verbs: ['get', 'patch'] },
        { apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] },
      ]);
      // Least privilege: namespaced rights in team-a only, Secrets by name only, no cluster-wide binding but the cluster-scoped one.
      expect(find<Rules>(objects, 'Role', 'queryscaler-secrets').rules).to.deep.equal([
        { apiGroups: [''], resources: ['secrets'], resourceNames: ['db'], verbs: ['get', 'watch'] },
        { apiGroups: [''], resources: ['configmaps'], resourceNames: ['db-settings'], verbs: ['get', 'watch'] },
      ]);
      const bindings = objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding').map((o) => {
        const roleRef = (o as unknown as { roleRef: { kind: string; name: string } }).roleRef;
        return `${keyOf(o)} -> ${roleRef.kind} ${roleRef.name}`;
      });
      expect(bindings.sort()).to.deep.equal([
        'ClusterRoleBinding /queryscaler-ca-bundles -> ClusterRole queryscaler-ca-bundles',
        'ClusterRoleBinding /queryscaler-cluster -> ClusterRole queryscaler-cluster',
        'ClusterRoleBinding /queryscaler:system:auth-delegator -> ClusterRole system:auth-delegator',
        'RoleBinding kube-system/queryscaler-auth-reader -> Role extension-apiserver-authentication-reader',
        'RoleBinding ops/queryscaler-certificates -> Role queryscaler-certificates',
        'RoleBinding ops/queryscaler-leases -> Role queryscaler-leases',
        'RoleBinding team-a/queryscaler -> ClusterRole queryscaler',
        'RoleBinding team-a/queryscaler-secrets -> Role queryscaler-secrets',
      ]);
    });

    it('without the webhook, the APIService, Leases and the PodDisruptionBudget', async () => {
      const objects = await renderChart('queryscaler', [
        '--set', 'webhook.enabled=false', '--set', 'apiService.enabled=false', '--set', 'shards=0', '--set', 'replicaCount=1', '--set', 'podDisruptionBudget.enabled=false',
      ]);
      expect(objects.filter((o) => ['ValidatingWebhookConfiguration', 'APIService', 'PodDisruptionBudget'].includes(o.kind ?? '') || o.metadata?.name === 'queryscaler-leases').map(keyOf)).to.deep.equal([]);
      const container = find<Deployment>(objects, 'Deployment', 'queryscaler').spec.template.spec.containers[0]!;
      expect(container.args.slice(0, 4)).to.deep.equal(['--metrics-port=6443', '--webhook-port=0', '--cluster-trigger-authentication-namespace=$(POD_NAMESPACE)', '--shards=0']);
      expect(container.ports.map((p) => p.name)).to.deep.equal(['https', 'metrics']);
      expect((find(objects, 'Service', 'queryscaler-metrics-apiserver')['spec'] as { ports: Array<{ name: string }> }).ports.map((p) => p.name)).to.deep.equal(['https', 'metrics']);
      // Only the APIService's caBundle is written: no right on any ValidatingWebhookConfiguration.
      expect(find<Rules>(objects, 'ClusterRole', 'queryscaler-ca-bundles').rules.map((r) => r.resources[0])).to.deep.equal(['apiservices']);
    });
  });

  describe('refuses values that contradict each other, with the fix', () => {
    const refusals: Array<{ values: string[]; message: string }> = [
      {
        values: ['--set', 'replicas=3'],
        message: "Error: values don't meet the specifications of the schema(s) in the following chart(s):\nqueryscaler:\n- at '': additional properties 'replicas' not allowed",
      },
      {
        values: ['--set-json', 'restrictSecretAccess.names={"team-a":{"secrets":["db"]}}'],
        message: 'Error: execution error at (queryscaler/templates/serviceaccount.yaml:1:4): restrictSecretAccess.names is set but restrictSecretAccess.enabled is false: set enabled: true, or the names grant nothing (queryscaler would list every Secret)',
      },
      {
        values: ['--set', 'restrictSecretAccess.enabled=true', '--set-json', 'restrictSecretAccess.names={"team-a":{"secrets":[]}}'],
        message: 'Error: execution error at (queryscaler/templates/serviceaccount.yaml:1:4): restrictSecretAccess.names.team-a lists no secrets and no configMaps: list the names queryscaler may read there, or remove the namespace (an empty resourceNames would allow every name)',
      },
      {
        values: ['--set', 'replicaCount=1'],
        message: 'Error: execution error at (queryscaler/templates/serviceaccount.yaml:1:4): podDisruptionBudget.minAvailable (1) must be less than replicaCount (1): otherwise no replica can ever be evicted and node drains hang',
      },
      {
        values: ['--set', 'shards=0'],
        message: 'Error: execution error at (queryscaler/templates/serviceaccount.yaml:1:4): replicaCount 2 needs shards > 0: without shard Leases (shards: 0) every replica would poll and scale every ScaledObject',
      },
    ];
    for (const { values, message } of refusals) {
      it(values.join(' '), async () => {
        const rendered = await helm(['template', 'queryscaler', CHART, ...values]);
        expect([rendered.code, rendered.stderr.split('\n\nUse --debug')[0]!.trim()]).to.deep.equal([1, message]);
      });
    }
  });

  it('passes helm lint with its defaults and with every value set', async () => {
    for (const args of [[], ['-f', valuesFile('all.yaml')]]) {
      const linted = await helm(['lint', CHART, ...args]);
      expect([linted.code, linted.stdout.trim().split('\n').at(-1)], linted.stdout + linted.stderr).to.deep.equal([0, '1 chart(s) linted, 0 chart(s) failed']);
    }
  });

  describe('server-side dry run on the local kube-apiserver', () => {
    let cp: ControlPlane;
    const namespaces: string[] = [];
    before(async () => {
      cp = await sharedControlPlane();
    });
    after(async () => {
      for (const namespace of namespaces) await deleteTestNamespace(cp, namespace);
    });

    for (const [name, args] of [['the defaults', [] as string[]], ['every value set', ['all.yaml']]] as const) {
      it(`accepts every object the chart renders with ${name}`, async () => {
        const namespace = await createTestNamespace(cp, 'helm-dry-run');
        namespaces.push(namespace);
        let valueArgs: string[] = [];
        if (args.length > 0) {
          // The watched and the restricted namespace must exist, as the README says.
          const watched = await createTestNamespace(cp, 'helm-watched');
          namespaces.push(watched);
          const values = { ...ALL_VALUES, watchNamespaces: [watched], restrictSecretAccess: { enabled: true, names: { [watched]: ALL_VALUES.restrictSecretAccess.names['team-a'] } } };
          await writeFile(valuesFile('dry-run.yaml'), YAML.stringify(values));
          valueArgs = ['-f', valuesFile('dry-run.yaml')];
        }
        const objects = await renderChart(namespace, valueArgs);
        await writeFile(valuesFile('rendered.yaml'), objects.map((o) => YAML.stringify(o)).join('---\n'));
        // --force-conflicts: the CRDs are already in place under the other tests' field manager.
        const applied = await kubectl(cp, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', valuesFile('rendered.yaml')], 60_000);
        expect(applied.code, applied.stderr).to.equal(0);
        const lines = applied.stdout.trim().split('\n');
        expect(lines.filter((line) => line.endsWith(' serverside-applied (server dry run)')), applied.stdout).to.have.length(objects.length);
      });
    }
  });
});
