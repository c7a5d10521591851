// Replacing a Helm-installed KEDA in place, with `helm install` of charts/queryscaler and with
// `kubectl apply -k manifests/`, step by step as README "Migrate from KEDA" gives them, and back.
// In the cluster first: KEDA's release (the
// stand-in of test/support/keda-chart.ts: its CRDs and APIService owned by release keda, KEDA's
// caBundle in the APIService), and ScaledObjects with the HPAs KEDA made for them, in KEDA's exact
// shape (test/support/keda-objects.ts). Then (Helm) a plain helm install is refused at the CRDs and
// the APIService, with the messages README "Troubleshooting" quotes; the steps take the APIService over, adopt the HPAs and serve every ScaledObject's metric through the
// aggregator, while no target's spec.replicas moves; `helm uninstall keda` removes KEDA and leaves
// what queryscaler took; and the way back gives the APIService and the CRDs to KEDA's release again.
// queryscaler runs in the test process under the chart's ServiceAccount token
// (test/support/installed-queryscaler.ts).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { ScaledObject } from '../../src/api/types.js';
import type { HorizontalPodAutoscaler } from '../../src/controller/desired-hpa.js';
import { KubeApi } from '../../src/controller/kube-api.js';
import type { RunningQueryscaler } from '../../src/queryscaler.js';
import { caBundleOf } from '../../src/serving/ca-bundle-patches.js';
import { createCertificateAuthority } from '../../src/tls/certificates.js';
import type { ControlPlane } from '../support/control-plane.js';
import { CHART, helm, renderChart } from '../support/helm.js';
import { pointAtProcess, removeEarlierInstalls, routeServiceToLoopback, startAsInstalled } from '../support/installed-queryscaler.js';
import { KEDA_DEPLOYMENTS, KEDA_NAMESPACE, KEDA_RELEASE, writeKedaChart } from '../support/keda-chart.js';
import { createKedaObjects, MIGRATED, SEED_ROWS, type HpaStatus } from '../support/keda-objects.js';
import { createTestNamespace, deleteTestNamespace, EXTERNAL_METRICS_API_SERVICE, installCrds, kubectl, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, setSeedRowCount } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MANIFESTS = path.join(ROOT, 'manifests');
const CHART_CRDS = path.join(CHART, 'crds');
const CRD_NAMES = ['scaledobjects.keda.sh', 'triggerauthentications.keda.sh', 'clustertriggerauthentications.keda.sh'];
/** The chart's default shards (values.yaml). */
const SHARDS = 16;

/** How each install method does the README's steps. */
interface Installer {
  name: string;
  /** Where queryscaler lives: manifests/ names `queryscaler`; the Helm release goes anywhere. */
  namespace: string;
  /** After KEDA is scaled down: queryscaler's CRDs over KEDA's, and queryscaler over KEDA's APIService. */
  install(cp: ControlPlane): Promise<void>;
  /** Before `helm uninstall keda`: what KEDA's release must no longer claim, as kind/name. */
  handOver: string[];
  /** The way back: queryscaler removed, all but its CRDs (and so every ScaledObject). */
  remove(cp: ControlPlane): Promise<void>;
}

async function succeeds(result: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const { code, stdout, stderr } = await result;
  expect(code, stderr).to.equal(0);
  return stdout;
}

/** The README's CRD step (Helm 3 leaves CRDs that exist alone; Helm 4 would conflict on KEDA's labels). */
const applyCrds = (cp: ControlPlane) => succeeds(kubectl(cp, ['apply', '--server-side', '--force-conflicts', '-f', CHART_CRDS]));

const helmRelease = `qs-migrate-${randomBytes(3).toString('hex')}`;
const INSTALLERS: Installer[] = [
  {
    name: 'helm install',
    namespace: helmRelease,
    async install(cp) {
      await applyCrds(cp);
      const installed = await succeeds(helm(['install', 'queryscaler', CHART, '--namespace', helmRelease, '--create-namespace', '--take-ownership'], cp));
      expect(installed).to.include('STATUS: deployed');
    },
    // --take-ownership gave the APIService to queryscaler's release; the CRDs (from crds/) are no release's.
    handOver: CRD_NAMES.map((name) => `crd/${name}`),
    async remove(cp) {
      const uninstalled = await succeeds(helm(['uninstall', 'queryscaler', '--namespace', helmRelease, '--wait'], cp));
      expect(uninstalled.trim()).to.equal('release "queryscaler" uninstalled');
    },
  },
  {
    name: 'kubectl apply -k manifests/',
    namespace: 'queryscaler',
    async install(cp) {
      // --force-conflicts: the CRDs' labels and the APIService's service are held by KEDA's release.
      await succeeds(kubectl(cp, ['apply', '--server-side', '--force-conflicts', '-k', MANIFESTS], 60_000));
    },
    // kubectl leaves the APIService's Helm annotations as they were: still KEDA's release's.
    handOver: [...CRD_NAMES.map((name) => `crd/${name}`), `apiservice/${EXTERNAL_METRICS_API_SERVICE}`],
    async remove(cp) {
      await succeeds(kubectl(cp, ['delete', 'apiservice,validatingwebhookconfiguration,clusterrolebinding,clusterrole', '-l', 'app.kubernetes.io/part-of=queryscaler']));
      await succeeds(kubectl(cp, ['delete', 'rolebinding', 'queryscaler-auth-reader', '-n', 'kube-system']));
      await succeeds(kubectl(cp, ['delete', 'namespace', 'queryscaler', '--timeout=120s'], 130_000));
    },
  },
];

async function waitForNamespaceGone(cp: ControlPlane, namespace: string): Promise<void> {
  await waitFor(async () => (await kubectl(cp, ['get', 'namespace', namespace, '--ignore-not-found', '-o', 'name'])).stdout === '',
    { what: `namespace ${namespace} (an earlier test's) to be gone`, timeoutMs: 90_000 });
}

for (const installer of INSTALLERS) {
  describe(`migrating from a Helm-installed KEDA with ${installer.name} @integration`, function () {
    this.timeout(300_000);
    let cp: ControlPlane;
    let db: MariaDb;
    let api: KubeApi;
    let app: RunningQueryscaler | undefined;
    let ns: string;
    let kedaChart: string;
    const release = installer.namespace;
    const seen = new Map<string, number[]>();
    const stopWatching = new AbortController();
    let watches: Array<() => Promise<void>> = [];
    let kedaHpaUids = new Map<string, string>();

    const apiService = async () => (await kubectl(cp, ['get', 'apiservice', EXTERNAL_METRICS_API_SERVICE, '-o', 'json'])).stdout;
    const getHpa = (name: string) => api.request<HorizontalPodAutoscaler & { status?: HpaStatus }>('get', `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/${name}`);
    /** README step "hand over": KEDA's release no longer claims what queryscaler took. */
    const handOver = () => kubectl(cp, ['annotate', ...installer.handOver, 'meta.helm.sh/release-name-', 'meta.helm.sh/release-namespace-']);

    before(async () => {
      [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
      await createSeedTable(db);
      await setSeedRowCount(db, SEED_ROWS);
      await removeEarlierInstalls(cp, await renderChart(release));
      for (const namespace of [release, KEDA_NAMESPACE]) await waitForNamespaceGone(cp, namespace);
      kedaChart = await writeKedaChart(await mkdtemp(path.join(tmpdir(), 'keda-chart-')), path.join(ROOT, 'crds'));
      // Client-side, as Helm 3 (which most KEDA installs were made with) applies; --take-ownership only
      // because earlier tests of this run may have applied the keda.sh CRDs already.
      const keda = await helm(['install', KEDA_RELEASE, kedaChart, '--namespace', KEDA_NAMESPACE, '--create-namespace', '--server-side=false', '--take-ownership'], cp);
      expect(keda.code, keda.stderr).to.equal(0);
      const caBundle = caBundleOf(createCertificateAuthority('keda-ca').certPem);
      const patched = await kubectl(cp, ['patch', 'apiservice', EXTERNAL_METRICS_API_SERVICE, '--field-manager', 'keda-operator', '--type', 'merge', '-p', JSON.stringify({ spec: { caBundle } })]);
      expect(patched.code, patched.stderr).to.equal(0);
      const column = await kubectl(cp, ['get', 'crd', 'scaledobjects.keda.sh', '-o', 'jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}']);
      expect(column.stdout.split(' ')).to.not.include('Value');

      ns = await createTestNamespace(cp, 'migrate');
      api = new KubeApi(cp.kubeConfig);
      ({ hpaUids: kedaHpaUids, watches } = await createKedaObjects(cp, api, db, ns, seen, stopWatching.signal));
    });

    after(async () => {
      stopWatching.abort();
      await Promise.all(watches.map((w) => w().catch(() => undefined)));
      await app?.stop();
      api?.close();
      await installer.remove(cp).catch(() => undefined);
      await handOver();
      await helm(['uninstall', KEDA_RELEASE, '--namespace', KEDA_NAMESPACE, '--ignore-not-found'], cp);
      await kubectl(cp, ['delete', 'apiservice', EXTERNAL_METRICS_API_SERVICE, '--ignore-not-found']);
      // The tests after this one find queryscaler's CRDs, not the stand-in's.
      await installCrds(cp, path.join(ROOT, 'crds'));
      // A CRD just changed answers 429 "storage is (re)initializing" for a moment.
      await waitFor(() => deleteTestNamespace(cp, ns).then(() => true), { what: `namespace ${ns} deleted`, timeoutMs: 30_000 });
      for (const namespace of [release, KEDA_NAMESPACE]) await kubectl(cp, ['delete', 'namespace', namespace, '--ignore-not-found', '--timeout=120s'], 130_000);
      await rm(kedaChart, { recursive: true, force: true });
    });

    // Only Helm checks who owns what it installs over.
    if (installer.name === 'helm install') it('a plain helm install stops at KEDA\'s CRDs, and without --take-ownership at its APIService, creating nothing', async () => {
      // Helm 4 applies crds/ server-side over CRDs that exist, and KEDA's release holds their labels.
      const atCrds = await helm(['install', 'queryscaler', CHART, '--namespace', release, '--create-namespace'], cp);
      expect([atCrds.code, atCrds.stderr.trim()]).to.deep.equal([1,
        'Error: INSTALLATION FAILED: failed to install CRD crds/keda.sh_clustertriggerauthentications.yaml: conflict occurred while applying object ' +
        '/clustertriggerauthentications.keda.sh apiextensions.k8s.io/v1, Kind=CustomResourceDefinition: Apply failed with 2 conflicts: conflicts with "helm" using apiextensions.k8s.io/v1:\n' +
        '- .metadata.labels.app.kubernetes.io/name\n- .metadata.labels.app.kubernetes.io/part-of']);

      // The README's CRD step, then the install without --take-ownership.
      const crds = await applyCrds(cp);
      expect(crds.trim().split('\n').sort()).to.deep.equal(CRD_NAMES.map((name) => `customresourcedefinition.apiextensions.k8s.io/${name} serverside-applied`).sort());

      const atApiService = await helm(['install', 'queryscaler', CHART, '--namespace', release, '--create-namespace'], cp);
      expect([atApiService.code, atApiService.stderr.trim()]).to.deep.equal([1,
        'Error: INSTALLATION FAILED: unable to continue with install: APIService "v1beta1.external.metrics.k8s.io" in namespace "" exists and cannot be imported into the current release: ' +
        'invalid ownership metadata; annotation validation error: key "meta.helm.sh/release-name" must equal "queryscaler": current value is "keda"; ' +
        `annotation validation error: key "meta.helm.sh/release-namespace" must equal "${release}": current value is "keda"`]);
      const namespace = await kubectl(cp, ['get', 'namespace', release, '--ignore-not-found', '-o', 'name']);
      expect(namespace.stdout, 'the release namespace (where Helm would record the release)').to.equal('');
    });

    it('stops KEDA and takes its APIService over, with queryscaler\'s CRDs', async () => {
      await succeeds(kubectl(cp, ['scale', 'deployment', ...KEDA_DEPLOYMENTS, '-n', KEDA_NAMESPACE, '--replicas', '0']));
      await installer.install(cp);
      const column = await kubectl(cp, ['get', 'crd', 'scaledobjects.keda.sh', '-o', 'jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}']);
      expect(column.stdout.split(' ')).to.include('Value');

      await routeServiceToLoopback(cp, release);
      app = await startAsInstalled(cp, release, SHARDS, 'migrate-helm-test');
      await pointAtProcess(cp, app);
      const taken = JSON.parse(await apiService()) as { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { service: object; caBundle: string } };
      expect(taken.spec.service).to.deep.equal({ name: 'queryscaler-metrics-apiserver', namespace: release, port: app.metricsApiPort });
      expect(taken.spec.caBundle).to.equal(caBundleOf(app.servingCaPem ?? ''));
      expect(taken.metadata.labels).to.deep.include({ 'app.kubernetes.io/part-of': 'queryscaler' });
      // Which release Helm sees as the owner: queryscaler's (Helm), still KEDA's (kubectl leaves the annotation).
      expect(taken.metadata.annotations['meta.helm.sh/release-name']).to.equal(installer.name === 'helm install' ? 'queryscaler' : KEDA_RELEASE);
    });

    it('adopts every HPA KEDA made and serves every ScaledObject\'s metric through the aggregator', async () => {
      for (const m of MIGRATED) {
        const hpa = await waitFor(async () => {
          const found = await getHpa(m.hpa);
          return found.metadata.labels?.['app.kubernetes.io/managed-by'] === 'queryscaler' ? found : undefined;
        }, { what: `HPA ${m.hpa} adopted by queryscaler`, timeoutMs: 60_000 });
        expect((hpa.metadata as { uid?: string }).uid).to.equal(kedaHpaUids.get(m.hpa));
        const raw = await kubectl(cp, ['get', '--raw', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/s0-mysql-testdb?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${m.so}`)}`]);
        expect([raw.code, (JSON.parse(raw.stdout || '{"items":[]}') as { items: Array<{ value: string }> }).items.map((i) => i.value)], raw.stderr).to.deep.equal([0, [m.value]]);
        const perPod = String(Number(m.value) / m.replicas);
        await waitFor(async () => {
          const status = (await getHpa(m.hpa)).status;
          return status?.currentMetrics?.[0]?.external?.current?.averageValue === perPod && status.desiredReplicas === m.replicas;
        }, { what: `HPA ${m.hpa} reading ${m.value} from queryscaler`, timeoutMs: 60_000 });
        // The VALUE column follows the first poll's status write, which may land after the HPA has read.
        let columns: string[] = [];
        await waitFor(async () => {
          const listed = await kubectl(cp, ['get', 'so', m.so, '-n', ns, '--no-headers', '-o', 'custom-columns=READY:.status.conditions[?(@.type=="Ready")].status,VALUE:.status.value']);
          columns = listed.stdout.trim().split(/\s+/);
          return columns[0] === 'True' && columns[1] === m.value;
        }, { what: () => `kubectl get so ${m.so}: READY True and VALUE ${m.value} (got ${columns.join(' ')})`, timeoutMs: 20_000 });
      }
    });

    it('helm uninstall keda, once handed over, removes KEDA and keeps what queryscaler took', async () => {
      await succeeds(handOver());
      const uninstalled = await helm(['uninstall', KEDA_RELEASE, '--namespace', KEDA_NAMESPACE, '--wait'], cp);
      expect(uninstalled.code, uninstalled.stderr).to.equal(0);
      expect(uninstalled.stdout.trim()).to.equal([
        '4 resource(s) were not deleted because they are not owned by this release:',
        '[APIService] v1beta1.external.metrics.k8s.io',
        ...CRD_NAMES.slice().sort().map((name) => `[CustomResourceDefinition] ${name}`),
        '',
        'release "keda" uninstalled',
      ].join('\n'));
      const deployments = await kubectl(cp, ['get', 'deployments', '-n', KEDA_NAMESPACE, '-o', 'name']);
      expect(deployments.stdout.trim()).to.equal('');
      const crds = await kubectl(cp, ['get', 'crd', ...CRD_NAMES, '-o', 'name']);
      expect(crds.stdout.trim().split('\n')).to.have.length(3);
      for (const m of MIGRATED) {
        const raw = await kubectl(cp, ['get', '--raw', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/s0-mysql-testdb?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${m.so}`)}`]);
        expect((JSON.parse(raw.stdout) as { items: Array<{ value: string }> }).items.map((i) => i.value)).to.deep.equal([m.value]);
      }
    });

    it('never moved a target\'s spec.replicas', async () => {
      // Two more syncs of the HPA controller (every 2 s here) on queryscaler's values, then the watch closes.
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      stopWatching.abort();
      await Promise.all(watches.map((w) => w().catch(() => undefined)));
      const changes = Object.fromEntries([...seen].map(([target, values]) => [target, [...new Set(values)]]));
      expect(changes).to.deep.equal({ 'statefulsets/mycluster': [2], 'deployments/api': [3] });
    });

    it('the way back: removing queryscaler keeps the ScaledObjects and HPAs, and KEDA\'s chart takes the CRDs and APIService again', async () => {
      await app?.stop();
      app = undefined;
      await installer.remove(cp);
      const left = await kubectl(cp, ['get', 'apiservice', EXTERNAL_METRICS_API_SERVICE, '--ignore-not-found', '-o', 'name']);
      expect(left.stdout).to.equal('');
      for (const m of MIGRATED) {
        const so = await api.request<ScaledObject>('get', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/${m.so}`);
        expect(so.metadata.finalizers).to.deep.equal(['finalizer.keda.sh']);
        expect((await getHpa(m.hpa)).metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`)).to.deep.equal([`ScaledObject/${m.so}`]);
      }

      const back = await helm(['install', KEDA_RELEASE, kedaChart, '--namespace', KEDA_NAMESPACE, '--take-ownership', '--force-conflicts'], cp);
      expect(back.code, back.stderr).to.equal(0);
      const returned = JSON.parse(await apiService()) as { spec: { service: object } };
      expect(returned.spec.service).to.deep.equal({ name: 'keda-operator-metrics-apiserver', namespace: KEDA_NAMESPACE, port: 443 });
      const owner = await kubectl(cp, ['get', 'crd', 'scaledobjects.keda.sh', '-o', 'jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}']);
      expect(owner.stdout).to.equal(KEDA_RELEASE);
      const replicas = await kubectl(cp, ['get', 'statefulset/mycluster', 'deployment/api', '-n', ns, '-o', 'jsonpath={.items[*].spec.replicas}']);
      expect(replicas.stdout).to.equal('2 3');
    });
  });
}
