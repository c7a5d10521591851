// The admission webhook on the real kube-apiserver: `kubectl apply` of what reconcile would refuse
// is refused at once with reconcile's words, a good object is admitted, a second ScaledObject on an
// owned target and one on a target a foreign HPA scales are refused, the adopting one is admitted.
// The webhook is registered by clientConfig.url on 127.0.0.1, with the CA from the Secret
// queryscaler made, which queryscaler writes into caBundle itself (and writes back when changed).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { pino } from 'pino';
import type { Condition, ScaledObject } from '../../src/api/types.js';
import { KubeApi } from '../../src/controller/kube-api.js';
import { startQueryscaler, type RunningQueryscaler } from '../../src/queryscaler.js';
import { caBundleOf } from '../../src/serving/ca-bundle-patches.js';
import { obtainServingCertificate, SECRET_KEYS } from '../../src/serving/serving-certificate.js';
import { createCertificateAuthority } from '../../src/tls/certificates.js';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, installCrds, kubectl, waitFor, type CommandResult } from '../support/kube.js';
import { foreignHpa, statefulSet } from '../support/scale-targets.js';
import { sharedControlPlane } from '../support/shared.js';

const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));
const WEBHOOK = 'vscaledobject.queryscaler.keda.sh';
const CRON = { type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 0 1 1 *', end: '59 23 31 12 *', desiredReplicas: '2' } };
const QUERY = 'SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable';

interface SoOptions {
  target?: string;
  triggers?: unknown[];
  annotations?: Record<string, string>;
  hpaName?: string;
}

function scaledObject(name: string, options: SoOptions = {}): Record<string, unknown> {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, ...(options.annotations && { annotations: options.annotations }) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: options.target ?? name },
      minReplicaCount: 1,
      maxReplicaCount: 3,
      ...(options.hpaName !== undefined && { advanced: { horizontalPodAutoscalerConfig: { name: options.hpaName } } }),
      triggers: options.triggers ?? [CRON],
    },
  };
}

describe('admission webhook @integration', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let api: KubeApi;
  let ns: string;
  let dir: string;
  let app: RunningQueryscaler | undefined;
  let configuration: string;

  /** kubectl apply of one object from a file, as a user would. */
  const apply = async (object: Record<string, unknown>): Promise<CommandResult & { file: string }> => {
    const file = path.join(dir, `${String((object.metadata as { name: string }).name).slice(0, 60)}-${Date.now()}.json`);
    await writeFile(file, JSON.stringify(object));
    return { ...(await kubectl(cp, ['apply', '-n', ns, '-f', file])), file };
  };
  const refusal = (verb: 'creating' | 'applying patch', file: string, message: string): string =>
    verb === 'creating'
      ? `Error from server (Forbidden): error when creating "${file}": admission webhook "${WEBHOOK}" denied the request: ${message}`
      : `admission webhook "${WEBHOOK}" denied the request: ${message}`;
  const getSo = (name: string) => api.request<ScaledObject>('get', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/${name}`);
  const webhookCaBundle = async (): Promise<string | undefined> =>
    (await api.request<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(
      'get', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${configuration}`)).webhooks[0]?.clientConfig.caBundle;

  before(async () => {
    cp = await sharedControlPlane();
    await installCrds(cp, CRDS);
    api = new KubeApi(cp.kubeConfig);
    ns = await createTestNamespace(cp, 'admission');
    dir = await mkdtemp(path.join(tmpdir(), 'queryscaler-admission-'));
    configuration = `queryscaler-test-${ns}`;
    await applyYaml(cp, statefulSet('mycluster'), ns);
    await applyYaml(cp, statefulSet('manual-target'), ns);
    // Before queryscaler starts, so that its caches hold it once it is started.
    await applyYaml(cp, foreignHpa('manual', 'manual-target'), ns);

    app = await startQueryscaler({
      kubeConfig: cp.kubeConfig,
      metricsApi: false,
      webhook: { host: '127.0.0.1', port: 0 },
      serving: { kind: 'secret', namespace: ns, name: 'queryscaler-certificates', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
      caBundles: { webhookConfiguration: configuration, recheckMs: 250 },
      logLevel: process.env.QUERYSCALER_TEST_LOG ?? 'silent',
    });
    // Registered after the start, without a caBundle: queryscaler writes it. Only this test's namespace.
    await applyYaml(cp, JSON.stringify({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: configuration },
      webhooks: [{
        name: WEBHOOK,
        admissionReviewVersions: ['v1'],
        clientConfig: { url: `https://127.0.0.1:${app.webhookPort}/validate-keda-sh-v1alpha1-scaledobject` },
        rules: [{ apiGroups: ['keda.sh'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['scaledobjects'] }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        // Fail here, so that an admission proves the webhook answered, not that it was skipped.
        failurePolicy: 'Fail',
        sideEffects: 'None',
        timeoutSeconds: 5,
      }],
    }));
    await waitFor(async () => (await webhookCaBundle()) === caBundleOf(app?.servingCaPem ?? ''), { what: 'queryscaler to write the caBundle', timeoutMs: 30_000 });
    // kube-apiserver picks the new configuration up a moment later: until then it cannot verify the webhook.
    await waitFor(async () => {
      const file = path.join(dir, 'probe.json');
      await writeFile(file, JSON.stringify(scaledObject('probe')));
      return (await kubectl(cp, ['apply', '--dry-run=server', '-n', ns, '-f', file])).code === 0;
    }, { what: 'the webhook to answer kube-apiserver', timeoutMs: 30_000 });
  });

  after(async () => {
    if (configuration !== undefined) await kubectl(cp, ['delete', 'validatingwebhookconfiguration', configuration, '--ignore-not-found']);
    await app?.stop();
    api?.close();
    if (ns !== undefined) await deleteTestNamespace(cp, ns);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('serves the certificate of the Secret it made in its namespace, and its CA is the caBundle', async () => {
    const secret = await api.request<{ type: string; data: Record<string, string> }>('get', `/api/v1/namespaces/${ns}/secrets/queryscaler-certificates`);
    expect(secret.type).to.equal('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).to.deep.equal(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(Buffer.from(secret.data[SECRET_KEYS.caCert] ?? '', 'base64').toString()).to.equal(app?.servingCaPem);
  });

  const refused: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown trigger type', scaledObject('kafka', { triggers: [{ type: 'kafka', metadata: { topic: 'orders' } }] }),
      'triggers[0].type: unknown trigger type "kafka"; this autoscaler knows: cron, mysql.'],
    ['queryValue "abc", though the TriggerAuthentication does not exist yet',
      scaledObject('abc', { triggers: [{ type: 'mysql', metadata: { query: QUERY, queryValue: 'abc' }, authenticationRef: { name: 'later' } }] }),
      'triggers[0].metadata.queryValue is "abc", which is not a number; write it like "3" or "2.5"'],
    ['a missing query', scaledObject('noquery', { triggers: [{ type: 'mysql', metadata: { queryValue: '3' }, authenticationRef: { name: 'later' } }] }),
      'triggers[0].metadata.query is required: give the SELECT that returns the number to scale on'],
    ['a query the query check refuses',
      scaledObject('lock', { triggers: [{ type: 'mysql', metadata: { query: "SELECT GET_LOCK('x', 1)", queryValue: '3' }, authenticationRef: { name: 'later' } }] }),
      'triggers[0].metadata.query is refused: the query calls GET_LOCK(), which works on named locks, which outlive the query on the ' +
        'pooled connection and block other sessions; remove it: a trigger query only reads'],
    ['paused-replicas "abc"', scaledObject('badpause', { annotations: { 'autoscaling.keda.sh/paused-replicas': 'abc' } }),
      'metadata.annotations["autoscaling.keda.sh/paused-replicas"]: must be a non-negative integer number of replicas, such as "0"; got "abc"'],
    ['a name too long for keda-hpa-<name>', scaledObject('n'.repeat(55), { target: 'mycluster' }),
      'metadata.name is 55 characters long, so the HorizontalPodAutoscaler keda-hpa-<name> would be 64, and its name is also the value of ' +
        'its label app.kubernetes.io/name, which holds at most 63: use a name of at most 54 characters, or name the HPA with ' +
        'spec.advanced.horizontalPodAutoscalerConfig.name'],
  ];
  for (const [name, object, message] of refused) {
    it(`refuses ${name} at kubectl apply, with reconcile's message`, async () => {
      const result = await apply(object);
      expect([result.code, result.stderr.trim()]).to.deep.equal([1, refusal('creating', result.file, message)]);
    });
  }

  it('admits a good ScaledObject, then refuses a second one on its target naming it, and an update that breaks it', async () => {
    const first = await apply(scaledObject('first', { target: 'mycluster' }));
    expect([first.code, first.stdout.trim()]).to.deep.equal([0, 'scaledobject.keda.sh/first created']);
    // Ready=True: the controller, whose cache the webhook reads, has seen it.
    await waitFor(async () => (await getSo('first')).status?.conditions?.find((c: Condition) => c.type === 'Ready')?.status === 'True', { what: 'first Ready=True', timeoutMs: 60_000 });
    const created = (await getSo('first')).metadata.creationTimestamp;

    const second = await apply(scaledObject('second', { target: 'mycluster' }));
    expect([second.code, second.stderr.trim()]).to.deep.equal([1, refusal('creating', second.file,
      `StatefulSet ${ns}/mycluster is already scaled by ScaledObject first, created earlier (${created}); a scale target takes one ` +
      'ScaledObject: delete this one, or move its triggers into first')]);

    // The owner may change itself; an UPDATE that breaks a trigger is refused like a CREATE.
    const grown = await apply({ ...scaledObject('first', { target: 'mycluster' }), spec: { ...(scaledObject('first', { target: 'mycluster' }).spec as object), maxReplicaCount: 4 } });
    expect([grown.code, grown.stdout.trim()]).to.deep.equal([0, 'scaledobject.keda.sh/first configured']);
    const broken = await apply(scaledObject('first', { target: 'mycluster', triggers: [{ ...CRON, metadata: { ...CRON.metadata, desiredReplicas: 'abc' } }] }));
    expect(broken.code).to.equal(1);
    expect(broken.stderr).to.include(refusal('applying patch', broken.file,
      'triggers[0].metadata.desiredReplicas: must be a positive whole number of replicas such as "10"; got "abc"'));
  });

  it('refuses a target a foreign HPA scales, and admits the ScaledObject that adopts that HPA', async () => {
    const foreign = await apply(scaledObject('adopter', { target: 'manual-target' }));
    expect([foreign.code, foreign.stderr.trim()]).to.deep.equal([1, refusal('creating', foreign.file,
      `StatefulSet ${ns}/manual-target is already scaled by HorizontalPodAutoscaler ${ns}/manual, which queryscaler does not manage, and two ` +
      'autoscalers on one target make the HPA controller stop scaling it: delete that HPA, or let this ScaledObject take it over with the ' +
      'annotation scaledobject.keda.sh/transfer-hpa-ownership: "true" and spec.advanced.horizontalPodAutoscalerConfig.name: manual')]);
    const adopting = await apply(scaledObject('adopter', { target: 'manual-target', hpaName: 'manual', annotations: { 'scaledobject.keda.sh/transfer-hpa-ownership': 'true' } }));
    expect([adopting.code, adopting.stdout.trim()]).to.deep.equal([0, 'scaledobject.keda.sh/adopter created']);
  });

  it('admits paused: "maybe" and says at apply how it is read', async () => {
    const maybe = await apply(scaledObject('maybe', { annotations: { 'autoscaling.keda.sh/paused': 'maybe' } }));
    expect([maybe.code, maybe.stdout.trim(), maybe.stderr.trim()]).to.deep.equal([0, 'scaledobject.keda.sh/maybe created',
      'Warning: annotation autoscaling.keda.sh/paused is "maybe", which is not a boolean; it pauses autoscaling, as in KEDA: write "true" to pause or "false" to resume']);
  });

  it('writes its CA back into a caBundle someone changed', async () => {
    const other = caBundleOf(createCertificateAuthority('someone-else').certPem);
    const patched = await kubectl(cp, ['patch', 'validatingwebhookconfiguration', configuration, '--type', 'json', '-p',
      JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: other }])]);
    expect(patched.code, patched.stderr).to.equal(0);
    const t0 = Date.now();
    await waitFor(async () => (await webhookCaBundle()) === caBundleOf(app?.servingCaPem ?? ''), { what: 'the caBundle written back', timeoutMs: 30_000 });
    console.log(`      caBundle written back ${Date.now() - t0} ms after it was changed (recheck every 250 ms)`);
  });

  it('gives replicas starting together one certificate, and reissues one that lacks a name under the same CA', async () => {
    const logger = pino({ level: 'silent' });
    const source = { kind: 'secret' as const, namespace: ns, name: 'replicas', dnsNames: ['queryscaler-metrics-apiserver.queryscaler.svc'] };
    const replicas = await Promise.all([1, 2, 3].map(() => obtainServingCertificate(source, api, logger)));
    expect(new Set(replicas.map((r) => r.certPem)).size).to.equal(1);
    expect(new Set(replicas.map((r) => r.caPem)).size).to.equal(1);

    const renamed = await obtainServingCertificate({ ...source, dnsNames: ['queryscaler-metrics-apiserver.other.svc'] }, api, logger);
    expect(renamed.caPem).to.equal(replicas[0]?.caPem);
    expect(renamed.certPem).not.to.equal(replicas[0]?.certPem);
    const again = await obtainServingCertificate({ ...source, dnsNames: ['queryscaler-metrics-apiserver.other.svc'] }, api, logger);
    expect(again.certPem).to.equal(renamed.certPem);
  });

  it('answers an AdmissionReview in milliseconds (printed: the figure behind timeoutSeconds 5)', async () => {
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'timing',
        kind: { group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject' },
        operation: 'CREATE',
        namespace: ns,
        object: { ...scaledObject('timed', { triggers: [{ type: 'mysql', metadata: { query: QUERY, queryValue: '3' }, authenticationRef: { name: 'later' } }] }), metadata: { name: 'timed', namespace: ns } },
      },
    });
    const agent = new https.Agent({ keepAlive: true, ca: app?.servingCaPem ?? '' });
    const post = (): Promise<{ status: number; text: string }> => new Promise((resolve, reject) => {
      const request = https.request({ host: '127.0.0.1', port: app?.webhookPort, path: '/validate-keda-sh-v1alpha1-scaledobject', method: 'POST', agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      });
      request.on('error', reject);
      request.end(body);
    });
    const durations: number[] = [];
    for (let i = 0; i < 200; i++) {
      const started = performance.now();
      const answer = await post();
      durations.push(performance.now() - started);
      expect([answer.status, (JSON.parse(answer.text) as { response: { allowed: boolean } }).response.allowed]).to.deep.equal([200, true]);
    }
    agent.destroy();
    durations.sort((a, b) => a - b);
    const at = (q: number) => (durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0).toFixed(2);
    console.log(`      200 AdmissionReviews of a mysql ScaledObject over HTTPS: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`);
  });
});
