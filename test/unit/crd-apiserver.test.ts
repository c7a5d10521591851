// The CRDs and manifests against the real kube-apiserver: they install, the seed's keda.yaml applies
// without losing a field, the CEL rules reject what KEDA's webhook rejects, the printer columns
// show what `kubectl get so` should, and `kubectl apply -k manifests/` passes a server dry run.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../support/control-plane.js';
import { sharedControlPlane } from '../support/shared.js';
import { createTestNamespace, deleteTestNamespace, isNotFound, kubectl, waitForCrdEstablished, type CommandResult } from '../support/kube.js';

const ROOT = new URL('../../', import.meta.url);
const CRDS_DIR = fileURLToPath(new URL('crds/', ROOT));
const MANIFESTS_DIR = fileURLToPath(new URL('manifests/', ROOT));
const KEDA_YAML = fileURLToPath(new URL('manifests/examples/keda.yaml', ROOT));

const CRON_TRIGGERS = '  triggers: [{ type: cron, metadata: { timezone: Etc/UTC, start: "0 6 * * *", end: "0 18 * * *", desiredReplicas: "2" } }]\n';

/** A ScaledObject of StatefulSet mycluster with `spec` lines added (and a cron trigger unless `spec` has triggers). */
const SCALED_OBJECT = (name: string, spec: string): string => `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: ${name}
spec:
  scaleTargetRef: { name: mycluster }
${spec.includes('triggers:') ? '' : CRON_TRIGGERS}${spec}`;

/** kubectl with `input` on stdin (for `-f -`); never throws for a non-zero exit. */
function kubectlWithInput(cp: ControlPlane, args: string[], input: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(new Error(`kubectl ${args.join(' ')}: ${err.message}`, { cause: err }));
      else resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

describe('CRDs and manifests on the API server @integration', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let namespace: string;

  before(async () => {
    cp = await sharedControlPlane();
    namespace = await createTestNamespace(cp, 'crd');
  });

  after(async () => {
    if (namespace !== undefined) await deleteTestNamespace(cp, namespace);
  });

  it('installs the three CRDs, each Established (their CEL rules fit the cost budget)', async () => {
    // kubectl, not the client library: KubernetesObjectApi re-serializes a CRD through its typed model,
    // which drops the x-kubernetes-* keywords written in wire form.
    const applied = await kubectl(cp, ['apply', '--server-side', '--field-manager=queryscaler-tests', '-f', CRDS_DIR]);
    expect(applied.stderr).to.equal('');
    expect(applied.stdout.trim().split('\n').sort()).to.deep.equal([
      'customresourcedefinition.apiextensions.k8s.io/clustertriggerauthentications.keda.sh serverside-applied',
      'customresourcedefinition.apiextensions.k8s.io/scaledobjects.keda.sh serverside-applied',
      'customresourcedefinition.apiextensions.k8s.io/triggerauthentications.keda.sh serverside-applied',
    ]);
    for (const name of ['clustertriggerauthentications.keda.sh', 'scaledobjects.keda.sh', 'triggerauthentications.keda.sh']) {
      await waitForCrdEstablished(cp, name);
    }
    const shortNames = await kubectl(cp, ['api-resources', '--api-group=keda.sh', '--no-headers', '-o', 'wide']);
    expect(shortNames.stdout.split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/).slice(0, 2)).sort()).to.deep.equal([
      ['clustertriggerauthentications', 'cta,clustertriggerauth'],
      ['scaledobjects', 'so,scaledobj'],
      ['triggerauthentications', 'ta,triggerauth'],
    ]);
  });

  it("applies the seed's keda.yaml verbatim, server-side, without pruning a field", async () => {
    const text = await readFile(KEDA_YAML, 'utf8');
    const applied = await kubectl(cp, ['-n', namespace, 'apply', '--server-side', '--field-manager=queryscaler-tests', '-f', KEDA_YAML]);
    expect(applied.stderr).to.equal('');
    expect(applied.stdout).to.equal(
      'secret/mysql-secrets serverside-applied\n' +
        'triggerauthentication.keda.sh/keda-trigger-auth-mysql-secret serverside-applied\n' +
        'scaledobject.keda.sh/mysql-scaledobject serverside-applied\n',
    );
    const written = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: unknown });
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const [plural, kind] of [['scaledobjects', 'ScaledObject'], ['triggerauthentications', 'TriggerAuthentication']] as const) {
      const mine = written.find((o) => o.kind === kind);
      const stored = (await custom.getNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural, name: mine?.metadata.name ?? '' })) as { spec: unknown };
      expect(stored.spec, kind).to.deep.equal(mine?.spec);
    }
  });

  it('shows KEDA-like printer columns plus Value in kubectl get so', async () => {
    const status = {
      status: {
        scaleTargetKind: 'apps/v1.StatefulSet',
        value: '17',
        lastMetricValue: '17',
        conditions: [
          { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', lastTransitionTime: '2024-03-05T12:00:00Z' },
          { type: 'Active', status: 'True', reason: 'ScalerActive', lastTransitionTime: '2024-03-05T12:00:00Z' },
          { type: 'Fallback', status: 'False', reason: 'NoFallbackFound', lastTransitionTime: '2024-03-05T12:00:00Z' },
          { type: 'Paused', status: 'False', reason: 'ScaledObjectNotPaused', lastTransitionTime: '2024-03-05T12:00:00Z' },
        ],
      },
    };
    const patched = await kubectl(cp, ['-n', namespace, 'patch', 'so', 'mysql-scaledobject', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    expect(patched.stderr).to.equal('');
    const table = await kubectl(cp, ['-n', namespace, 'get', 'so', 'mysql-scaledobject']);
    const [header, row] = table.stdout.trim().split('\n').map((line) => line.split(/\s+/));
    expect(header).to.deep.equal(['NAME', 'SCALETARGETKIND', 'SCALETARGETNAME', 'MIN', 'MAX', 'TRIGGERS', 'AUTHENTICATION', 'READY', 'ACTIVE', 'FALLBACK', 'PAUSED', 'VALUE', 'AGE']);
    expect(row?.slice(0, 12)).to.deep.equal(['mysql-scaledobject', 'apps/v1.StatefulSet', 'mycluster', '1', '10', 'mysql', 'keda-trigger-auth-mysql-secret', 'True', 'True', 'False', 'False', '17']);
  });

  const rejected: [string, string, string][] = [
    [
      'minReplicaCount above maxReplicaCount',
      '  minReplicaCount: 12\n  maxReplicaCount: 10\n',
      'spec.minReplicaCount: Invalid value: minReplicaCount must be less than or equal to maxReplicaCount (default 100)',
    ],
    [
      'minReplicaCount above the default maxReplicaCount',
      '  minReplicaCount: 120\n',
      'spec.minReplicaCount: Invalid value: minReplicaCount must be less than or equal to maxReplicaCount (default 100)',
    ],
    [
      'idleReplicaCount not below minReplicaCount',
      '  idleReplicaCount: 1\n  minReplicaCount: 1\n',
      'spec.idleReplicaCount: Invalid value: idleReplicaCount must be less than minReplicaCount (default 0); set minReplicaCount above idleReplicaCount or remove idleReplicaCount',
    ],
    ['pollingInterval 0', '  pollingInterval: 0\n', 'spec.pollingInterval: Invalid value: 0: spec.pollingInterval in body should be greater than or equal to 1'],
    ['negative fallback replicas', '  fallback: { failureThreshold: 3, replicas: -1 }\n', 'spec.fallback.replicas: Invalid value: -1: spec.fallback.replicas in body should be greater than or equal to 0'],
    [
      'an unknown metricType',
      '  triggers: [{ type: mysql, metricType: Averagevalue, metadata: {} }]\n',
      '\n* spec.triggers[0].metricType: Unsupported value: "Averagevalue": supported values: "AverageValue", "Value", "Utilization"' +
        '\n* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
    ],
  ];
  for (const [name, spec, message] of rejected) {
    it(`rejects ${name} with the rule's message`, async () => {
      const result = await kubectlWithInput(cp, ['-n', namespace, 'create', '-f', '-', '--dry-run=server'], SCALED_OBJECT('bad', spec));
      expect(result.code).to.equal(1);
      expect(result.stderr).to.equal(`The ScaledObject "bad" is invalid: ${message}\n`);
    });
  }

  it('rejects a ScaledObject without triggers', async () => {
    const text = 'apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: { name: bad }\nspec: { scaleTargetRef: { name: x }, triggers: [] }\n';
    const result = await kubectlWithInput(cp, ['-n', namespace, 'create', '-f', '-', '--dry-run=server'], text);
    expect(result.stderr).to.include('spec.triggers: Invalid value: 0: spec.triggers in body should have at least 1 items');
  });

  it('accepts the edges the rules allow: min = max, idle below min, max alone', async () => {
    for (const spec of ['  minReplicaCount: 10\n  maxReplicaCount: 10\n', '  idleReplicaCount: 0\n  minReplicaCount: 1\n', '  maxReplicaCount: 1\n']) {
      const result = await kubectlWithInput(cp, ['-n', namespace, 'create', '-f', '-', '--dry-run=server'], SCALED_OBJECT('good', spec));
      expect(result.stderr, spec).to.equal('');
      expect(result.stdout).to.equal('scaledobject.keda.sh/good created (server dry run)\n');
    }
  });

  it('kubectl kustomize manifests/ renders every object', async () => {
    const rendered = await kubectl(cp, ['kustomize', MANIFESTS_DIR]);
    expect(rendered.stderr).to.equal('');
    const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`).sort()).to.deep.equal([
      'APIService -/v1beta1.external.metrics.k8s.io',
      'ClusterRole -/queryscaler',
      'ClusterRole -/queryscaler-ca-bundles',
      'ClusterRole -/queryscaler-cluster',
      'ClusterRole -/queryscaler-secrets',
      'ClusterRoleBinding -/queryscaler',
      'ClusterRoleBinding -/queryscaler-ca-bundles',
      'ClusterRoleBinding -/queryscaler-cluster',
      'ClusterRoleBinding -/queryscaler-secrets',
      'ClusterRoleBinding -/queryscaler:system:auth-delegator',
      'CustomResourceDefinition -/clustertriggerauthentications.keda.sh',
      'CustomResourceDefinition -/scaledobjects.keda.sh',
      'CustomResourceDefinition -/triggerauthentications.keda.sh',
      'Deployment queryscaler/queryscaler',
      'Namespace -/queryscaler',
      'PodDisruptionBudget queryscaler/queryscaler',
      'Role queryscaler/queryscaler-certificates',
      'Role queryscaler/queryscaler-leases',
      'RoleBinding kube-system/queryscaler-auth-reader',
      'RoleBinding queryscaler/queryscaler-certificates',
      'RoleBinding queryscaler/queryscaler-leases',
      'Service queryscaler/queryscaler-metrics-apiserver',
      'ServiceAccount queryscaler/queryscaler',
      'ValidatingWebhookConfiguration -/queryscaler',
    ]);
  });

  it('kubectl apply -k manifests/ passes a server dry run', async () => {
    // A dry run creates nothing, so the namespace the other objects go to must exist for real.
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const created = await core.readNamespace({ name: 'queryscaler' }).then(
      () => false,
      async (err: unknown) => {
        if (!isNotFound(err)) throw err;
        await core.createNamespace({ body: { metadata: { name: 'queryscaler' } } });
        return true;
      },
    );
    try {
      const result = await kubectl(cp, ['apply', '-k', MANIFESTS_DIR, '--dry-run=server'], 60_000);
      expect(result.code, result.stderr).to.equal(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines.every((l) => l.endsWith(' (server dry run)')), result.stdout).to.equal(true);
      expect(lines.map((l) => l.split(' ')[0]).sort()).to.deep.equal([
        'apiservice.apiregistration.k8s.io/v1beta1.external.metrics.k8s.io',
        'clusterrole.rbac.authorization.k8s.io/queryscaler',
        'clusterrole.rbac.authorization.k8s.io/queryscaler-ca-bundles',
        'clusterrole.rbac.authorization.k8s.io/queryscaler-cluster',
        'clusterrole.rbac.authorization.k8s.io/queryscaler-secrets',
        'clusterrolebinding.rbac.authorization.k8s.io/queryscaler',
        'clusterrolebinding.rbac.authorization.k8s.io/queryscaler-ca-bundles',
        'clusterrolebinding.rbac.authorization.k8s.io/queryscaler-cluster',
        'clusterrolebinding.rbac.authorization.k8s.io/queryscaler-secrets',
        'clusterrolebinding.rbac.authorization.k8s.io/queryscaler:system:auth-delegator',
        'customresourcedefinition.apiextensions.k8s.io/clustertriggerauthentications.keda.sh',
        'customresourcedefinition.apiextensions.k8s.io/scaledobjects.keda.sh',
        'customresourcedefinition.apiextensions.k8s.io/triggerauthentications.keda.sh',
        'deployment.apps/queryscaler',
        'namespace/queryscaler',
        'poddisruptionbudget.policy/queryscaler',
        'role.rbac.authorization.k8s.io/queryscaler-certificates',
        'role.rbac.authorization.k8s.io/queryscaler-leases',
        'rolebinding.rbac.authorization.k8s.io/queryscaler-auth-reader',
        'rolebinding.rbac.authorization.k8s.io/queryscaler-certificates',
        'rolebinding.rbac.authorization.k8s.io/queryscaler-leases',
        'service/queryscaler-metrics-apiserver',
        'serviceaccount/queryscaler',
        'validatingwebhookconfiguration.admissionregistration.k8s.io/queryscaler',
      ]);
    } finally {
      if (created) await core.deleteNamespace({ name: 'queryscaler' });
    }
  });

  it('manifests/examples/ passes a server dry run in a namespace of its own', async () => {
    const rendered = await kubectl(cp, ['kustomize', fileURLToPath(new URL('manifests/examples/', ROOT))]);
    expect(rendered.stderr).to.equal('');
    // Moved into the test's namespace so the test never touches a namespace others might use.
    const moved = rendered.stdout.replace(/namespace: mysql-cluster/g, `namespace: ${namespace}`);
    const objects = parseAllDocuments(moved).map((d) => d.toJS() as { kind: string });
    const withoutNamespace = objects.filter((o) => o.kind !== 'Namespace');
    const result = await kubectlWithInput(cp, ['apply', '-f', '-', '--dry-run=server'], withoutNamespace.map((o) => JSON.stringify(o)).join('\n'));
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.trim().split('\n').map((l) => l.split(' ')[0]).sort()).to.deep.equal([
      'configmap/mycluster-initdb',
      'scaledobject.keda.sh/mysql-scaledobject',
      'secret/mysql-secrets',
      'service/mycluster-instances',
      'statefulset.apps/mycluster',
      'triggerauthentication.keda.sh/keda-trigger-auth-mysql-secret',
    ]);
  });
});
