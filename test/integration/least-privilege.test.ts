// Least privilege on the real kube-apiserver: queryscaler's controller runs with nothing but the
// token of a ServiceAccount bound by the RBAC that overlays/ render (renamed for this test), and
// kube-apiserver's audit log says which requests it made.
//   - --restrict-secret-access, under overlays/restrict-secret-names: the one Secret and ConfigMap
//     its credentials name are read by name (one GET and a watch each, never a list); a change to the
//     Secret arrives by the watch; unrelated Secrets, in the same namespace and elsewhere, are never
//     asked for; a name the Role does not list is Ready=False/Forbidden, naming it.
//   - --watch-namespaces, under overlays/watch-namespaces: ScaledObjects in two namespaces (one
//     with a ClusterTriggerAuthentication) become Ready; one in a third namespace is never looked at,
//     and no request is cluster-wide but the ClusterTriggerAuthentications' watch.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { ScaledObject } from '../../src/api/types.js';
import type { KubeApi } from '../../src/controller/kube-api.js';
import { readAuditEvents, type AuditEvent, type ControlPlane } from '../support/control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, installCrds, kubectl, parseYamlDocuments, serviceAccountKubeConfig, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { startInProcessController, type InProcessController } from '../support/in-process-controller.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SEED = 'mysql-scaledobject';
/** 12 rows: the seed query gives CEIL(12 / 6) = 2. */
const SEED_ROWS = 12;
const OUR_ROLES = new Set(['queryscaler', 'queryscaler-secrets', 'queryscaler-cluster']);

type Rbac = KubernetesObject & {
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
  rules?: Array<Record<string, unknown>>;
};

/** `kubectl kustomize` of a repository directory (relative to the repository root). */
async function rendered(cp: ControlPlane, dir: string): Promise<KubernetesObject[]> {
  const result = await kubectl(cp, ['kustomize', path.join(REPO, dir)]);
  expect(result.code, result.stderr).to.equal(0);
  return parseYamlDocuments(result.stdout);
}

/**
 * queryscaler's own RBAC objects of a rendering, made this test's: names suffixed (so the shared
 * ClusterRoles of other tests stay as they are), namespaces mapped, the ServiceAccount replaced.
 */
function forThisTest(objects: readonly KubernetesObject[], suffix: string, account: { namespace: string; name: string }, namespaces: Record<string, string>): Rbac[] {
  return objects
    .filter((o) => ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind ?? '') && OUR_ROLES.has(o.metadata?.name ?? ''))
    .map((o) => {
      const copy = structuredClone(o) as Rbac;
      copy.metadata!.name = `${copy.metadata!.name}-${suffix}`;
      if (copy.metadata!.namespace !== undefined) {
        const mapped = namespaces[copy.metadata!.namespace];
        if (mapped === undefined) throw new Error(`${o.kind} ${o.metadata?.name} is in namespace ${copy.metadata!.namespace}, which this test does not map`);
        copy.metadata!.namespace = mapped;
      }
      if (copy.roleRef && OUR_ROLES.has(copy.roleRef.name)) copy.roleRef.name = `${copy.roleRef.name}-${suffix}`;
      copy.subjects = copy.subjects?.map((s) => (s.kind === 'ServiceAccount' ? { ...s, ...account } : s));
      return copy;
    });
}

/** The requests of `events` as `verb namespace/name` (or `verb resource` for a collection), completed ones only. */
function requests(events: readonly AuditEvent[], resource: string): string[] {
  return events
    .filter((e) => e.stage === 'ResponseComplete' && e.objectRef?.resource === resource && e.objectRef.subresource === undefined)
    .map((e) => `${e.verb} ${e.objectRef?.namespace ?? '(cluster)'}/${e.objectRef?.name ?? '*'}`);
}

function count(items: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}

describe('least privilege @integration', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let db: MariaDb;
  const suffix = randomBytes(3).toString('hex');
  const clusterScoped: string[] = [];

  const getSo = (api: KubeApi, namespace: string, name: string) =>
    api.request<ScaledObject>('get', `/apis/keda.sh/v1alpha1/namespaces/${namespace}/scaledobjects/${name}`);
  const waitForValue = (api: KubeApi, namespace: string, name: string, value: string) =>
    waitFor(async () => {
      const so = await getSo(api, namespace, name);
      const ready = so.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && so.status?.lastMetricValue === value ? so : undefined;
    }, { what: `ScaledObject ${namespace}/${name} Ready with value ${value}`, timeoutMs: 60_000 });

  async function applyRbac(objects: readonly Rbac[]): Promise<void> {
    await applyYaml(cp, toYaml(objects));
    for (const o of objects) if (o.metadata?.namespace === undefined) clusterScoped.push(`${o.kind!.toLowerCase()}/${o.metadata!.name}`);
  }

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, path.join(REPO, 'crds'));
    await createSeedTable(db);
    await setSeedRowCount(db, SEED_ROWS);
  });

  after(async () => {
    if (clusterScoped.length > 0) await kubectl(cp, ['delete', '--ignore-not-found', ...clusterScoped]);
  });

  describe('--restrict-secret-access, under a Role that lists the names', () => {
    let running: InProcessController | undefined;
    let ns: string;
    let elsewhere: string;
    let user: string;
    const seedSecretPath = () => `/api/v1/namespaces/${ns}/secrets/mysql-secrets`;

    before(async () => {
      ns = await createTestNamespace(cp, 'restricted');
      elsewhere = await createTestNamespace(cp, 'restricted-other');
      await applyYaml(cp, 'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: queryscaler }\n', ns);
      user = `system:serviceaccount:${ns}:queryscaler`;

      const objects = await rendered(cp, 'overlays/restrict-secret-names');
      const rbac = forThisTest(objects, suffix, { namespace: ns, name: 'queryscaler' }, { 'mysql-cluster': ns });
      // The overlay names the seed's Secret; this test's TriggerAuthentication also reads a ConfigMap.
      const role = rbac.find((o) => o.kind === 'Role')!;
      role.rules!.push({ apiGroups: [''], resources: ['configmaps'], resourceNames: ['mysql-config'], verbs: ['get', 'watch'] });
      expect(rbac.map((o) => `${o.kind} ${o.metadata?.name}`).sort()).to.deep.equal([
        `ClusterRole queryscaler-${suffix}`,
        `ClusterRole queryscaler-cluster-${suffix}`,
        `ClusterRole queryscaler-secrets-${suffix}`,
        `ClusterRoleBinding queryscaler-${suffix}`,
        `ClusterRoleBinding queryscaler-cluster-${suffix}`,
        `Role queryscaler-secrets-${suffix}`,
        `RoleBinding queryscaler-secrets-${suffix}`,
      ].sort());
      await applyRbac(rbac);

      const seed = seedKedaObjects(db);
      const auth = seed.find((o) => o.kind === 'TriggerAuthentication') as KubernetesObject & {
        spec: { secretTargetRef: Array<{ parameter: string }>; configMapTargetRef?: unknown[] };
      };
      auth.spec.secretTargetRef = auth.spec.secretTargetRef.filter((r) => r.parameter !== 'dbName');
      auth.spec.configMapTargetRef = [{ parameter: 'dbName', name: 'mysql-config', key: 'db' }];
      await applyYaml(cp, toYaml([
        ...seedStatefulSetObjects(),
        ...seed,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mysql-config' }, data: { db: 'testdb' } } as KubernetesObject,
        unrelatedSecret('unrelated'),
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated' }, data: { db: 'nothing' } } as KubernetesObject,
      ]), ns);
      await applyYaml(cp, toYaml([unrelatedSecret('unrelated-elsewhere')]), elsewhere);

      running = await startInProcessController(cp, 'restricted', {
        namespace: ns,
        kubeConfig: await serviceAccountKubeConfig(cp, ns, 'queryscaler'),
        restrictSecretAccess: true,
        clusterTriggerAuthenticationNamespace: ns,
      });
    });

    after(async () => {
      await running?.stop();
      if (elsewhere) await deleteTestNamespace(cp, elsewhere);
    });

    it('reads the Secret and ConfigMap its credentials name, each with one GET and a watch by name, and nothing else', async () => {
      await waitForValue(running!.api, ns, SEED, '2');
      const events = readAuditEvents(cp, user);
      expect(events.length).to.be.greaterThan(0);
      // Watches still open have no ResponseComplete yet; ResponseStarted shows them.
      const started = (resource: string) => [...new Set(events.filter((e) => e.objectRef?.resource === resource).map((e) => `${e.verb} ${e.objectRef?.namespace}/${e.objectRef?.name ?? '*'}`))].sort();
      expect(count(requests(events, 'secrets'))).to.deep.equal({ [`get ${ns}/mysql-secrets`]: 1 });
      expect(count(requests(events, 'configmaps'))).to.deep.equal({ [`get ${ns}/mysql-config`]: 1 });
      expect(started('secrets')).to.deep.equal([`get ${ns}/mysql-secrets`, `watch ${ns}/mysql-secrets`]);
      expect(started('configmaps')).to.deep.equal([`get ${ns}/mysql-config`, `watch ${ns}/mysql-config`]);
      expect(events.filter((e) => e.responseStatus?.code === 403).map((e) => e.requestURI)).to.deep.equal([]);
    });

    it('sees a change to the Secret through its watch, without reading it again', async () => {
      const health = async () => (await getSo(running!.api, ns, SEED)).status?.health?.['s0-mysql-testdb']?.status;
      let t0 = performance.now();
      await running!.api.request('patch', seedSecretPath(), { body: { data: { mysql_password: Buffer.from('wrong').toString('base64') } }, patchType: 'merge' });
      await waitFor(async () => (await health()) === 'Failing', { what: 'health Failing after the password change', timeoutMs: 30_000 });
      const failingAfter = performance.now() - t0;
      t0 = performance.now();
      await running!.api.request('patch', seedSecretPath(), { body: { data: { mysql_password: Buffer.from(db.rootPassword).toString('base64') } }, patchType: 'merge' });
      await waitFor(async () => (await health()) === 'Happy', { what: 'health Happy after the password is put back', timeoutMs: 30_000 });
      console.log(`      a wrong password showed as Failing ${Math.round(failingAfter)} ms after the patch, the right one as Happy ${Math.round(performance.now() - t0)} ms after (pollingInterval 1 s)`);
      // The README's bound for a change is "at once, by the watch": a GET would mean it was read again instead.
      expect(count(requests(readAuditEvents(cp, user), 'secrets'))).to.deep.equal({ [`get ${ns}/mysql-secrets`]: 1 });
    });

    it('is Forbidden, naming the Secret, where the Role does not list it', async () => {
      await applyYaml(cp, toYaml([
        { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 'unlisted' },
          spec: { secretTargetRef: [{ parameter: 'password', name: 'unrelated', key: 'blob' }] } } as KubernetesObject,
        statefulSetNamed('unlisted-target'),
        { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'unlisted' },
          spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'unlisted-target' }, minReplicaCount: 1, maxReplicaCount: 2,
            triggers: [{ type: 'mysql', metadata: { query: 'SELECT 1', queryValue: '1', host: '127.0.0.1', port: '1', dbName: 'x', username: 'u' },
              authenticationRef: { name: 'unlisted' } }] } } as KubernetesObject,
      ]), ns);
      const ready = await waitFor(async () => {
        const condition = (await getSo(running!.api, ns, 'unlisted')).status?.conditions?.find((c) => c.type === 'Ready');
        return condition?.reason === 'Forbidden' ? condition : undefined;
      }, { what: 'unlisted Ready=False with reason Forbidden', timeoutMs: 60_000 });
      expect(ready.message).to.equal(
        `get /api/v1/namespaces/${ns}/secrets/unrelated: 403 Forbidden: secrets "unrelated" is forbidden: User "${user}" cannot get resource ` +
          `"secrets" in API group "" in the namespace "${ns}". Grant queryscaler's ServiceAccount that verb on that resource (a rule in the queryscaler ClusterRole)`,
      );
      // The only refusals were the ones asked for; the unrelated Secret elsewhere was never named.
      const refused = readAuditEvents(cp, user).filter((e) => e.responseStatus?.code === 403);
      expect([...new Set(refused.map((e) => `${e.verb} ${e.objectRef?.namespace}/${e.objectRef?.name}`))]).to.deep.equal([`get ${ns}/unrelated`]);
      expect(readAuditEvents(cp, user).filter((e) => e.objectRef?.namespace === elsewhere)).to.deep.equal([]);
    });

    it('after a kube-apiserver restart reads the Secret again and watches on, so the next change is seen', async () => {
      await cp.restartApiServer();
      const health = async () => (await getSo(running!.api, ns, SEED)).status?.health?.['s0-mysql-testdb']?.status;
      await running!.api.request('patch', seedSecretPath(), { body: { data: { mysql_password: Buffer.from('wrong').toString('base64') } }, patchType: 'merge' });
      await waitFor(async () => (await health()) === 'Failing', { what: 'health Failing after the password change', timeoutMs: 60_000 });
      await running!.api.request('patch', seedSecretPath(), { body: { data: { mysql_password: Buffer.from(db.rootPassword).toString('base64') } }, patchType: 'merge' });
      await waitFor(async () => (await health()) === 'Happy', { what: 'health Happy after the password is put back', timeoutMs: 60_000 });
      const gets = requests(readAuditEvents(cp, user), 'secrets').filter((r) => r === `get ${ns}/mysql-secrets`).length;
      console.log(`      ${gets} GETs of the Secret in all: the first, and the re-read after the watch broke`);
      expect(gets).to.be.at.least(2);
    });
  });

  describe('--watch-namespaces, under RoleBindings in the watched namespaces only', () => {
    let running: InProcessController | undefined;
    let home: string;
    let teamA: string;
    let teamB: string;
    let unwatched: string;
    let user: string;
    const cta = `lp-${suffix}`;

    before(async () => {
      home = await createTestNamespace(cp, 'scoped-home');
      [teamA, teamB, unwatched] = await Promise.all([createTestNamespace(cp, 'scoped-a'), createTestNamespace(cp, 'scoped-b'), createTestNamespace(cp, 'scoped-c')]);
      await applyYaml(cp, 'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: queryscaler }\n', home);
      user = `system:serviceaccount:${home}:queryscaler`;

      const objects = await rendered(cp, 'overlays/watch-namespaces');
      const args = (objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } })
        .spec.template.spec.containers[0]!.args;
      expect(args).to.include('--watch-namespaces=team-a,team-b');
      const rbac = forThisTest(objects, suffix, { namespace: home, name: 'queryscaler' }, { 'team-a': teamA, 'team-b': teamB, queryscaler: home });
      expect(rbac.filter((o) => o.kind === 'ClusterRoleBinding').map((o) => o.roleRef?.name)).to.deep.equal([`queryscaler-cluster-${suffix}`]);
      await applyRbac(rbac);

      // team A: the seed scenario as it is. Team B: the same, its credentials from a ClusterTriggerAuthentication
      // whose Secret lives in queryscaler's own namespace. The unwatched namespace: the seed scenario again.
      const seed = seedKedaObjects(db);
      await applyYaml(cp, toYaml([...seedStatefulSetObjects(), ...seed]), teamA);
      await applyYaml(cp, toYaml([...seedStatefulSetObjects(), ...seed]), unwatched);
      const so = structuredClone(seed.find((o) => o.kind === 'ScaledObject')) as KubernetesObject & { spec: { triggers: Array<{ authenticationRef: object }> } };
      so.spec.triggers[0]!.authenticationRef = { kind: 'ClusterTriggerAuthentication', name: cta };
      const auth = structuredClone(seed.find((o) => o.kind === 'TriggerAuthentication')) as KubernetesObject & { kind: string };
      auth.kind = 'ClusterTriggerAuthentication';
      auth.metadata = { name: cta };
      // The StatefulSet's env still reads a Secret beside it, one with a wrong password: a value
      // proves the trigger's parameters came from queryscaler's namespace.
      const envSecret = structuredClone(seed.find((o) => o.kind === 'Secret')) as KubernetesObject & { data: Record<string, string> };
      envSecret.data['mysql_password'] = Buffer.from('not-this-one').toString('base64');
      await applyYaml(cp, toYaml([...seedStatefulSetObjects(), so, envSecret]), teamB);
      await applyYaml(cp, toYaml([auth]));
      clusterScoped.push(`clustertriggerauthentication/${cta}`);
      await applyYaml(cp, toYaml(seed.filter((o) => o.kind === 'Secret')), home);

      running = await startInProcessController(cp, 'scoped', {
        namespace: home,
        kubeConfig: await serviceAccountKubeConfig(cp, home, 'queryscaler'),
        watchNamespaces: [teamA, teamB],
        clusterTriggerAuthenticationNamespace: home,
      });
    });

    after(async () => {
      await running?.stop();
      for (const namespace of [teamA, teamB, unwatched]) if (namespace) await deleteTestNamespace(cp, namespace);
    });

    it('scales what is in the watched namespaces, with a ClusterTriggerAuthentication too, and never asks a cluster-wide question but for those', async () => {
      await waitForValue(running!.api, teamA, SEED, '2');
      await waitForValue(running!.api, teamB, SEED, '2');
      const events = readAuditEvents(cp, user);
      expect(events.filter((e) => e.responseStatus?.code === 403).map((e) => e.requestURI)).to.deep.equal([]);
      const clusterWide = events.filter((e) => (e.verb === 'list' || e.verb === 'watch') && e.objectRef?.namespace === undefined);
      expect([...new Set(clusterWide.map((e) => e.objectRef?.resource))]).to.deep.equal(['clustertriggerauthentications']);
      const listed = [...new Set(events.filter((e) => e.verb === 'list').map((e) => `${e.objectRef?.resource} ${e.objectRef?.namespace ?? '(cluster)'}`))].sort();
      expect(listed).to.deep.equal([
        'clustertriggerauthentications (cluster)',
        ...[teamA, teamB].flatMap((n) => ['configmaps', 'deployments', 'horizontalpodautoscalers', 'scaledobjects', 'secrets', 'statefulsets', 'triggerauthentications']
          .map((r) => `${r} ${n}`)),
        `configmaps ${home}`,
        `secrets ${home}`,
      ].sort());
    });

    it('leaves a ScaledObject in another namespace alone: no request there, no finalizer, no status, no HPA', async () => {
      const so = await getSo(running!.api, unwatched, SEED);
      expect([so.metadata.finalizers, so.status]).to.deep.equal([undefined, undefined]);
      const hpas = await running!.api.request<{ items: unknown[] }>('list', `/apis/autoscaling/v2/namespaces/${unwatched}/horizontalpodautoscalers`);
      expect(hpas.items).to.deep.equal([]);
      expect(readAuditEvents(cp, user).filter((e) => e.objectRef?.namespace === unwatched || e.requestURI.includes(`/namespaces/${unwatched}/`))).to.deep.equal([]);
    });
  });
});

/** A Secret of 100 KB that no ScaledObject names. */
function unrelatedSecret(name: string): KubernetesObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { blob: randomBytes(75 * 1024).toString('base64') } } as KubernetesObject;
}

function statefulSetNamed(name: string): KubernetesObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name },
    spec: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'registry.invalid/never-pulled:1' }] } },
    },
  } as KubernetesObject;
}
