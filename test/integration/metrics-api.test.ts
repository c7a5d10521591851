// The external metrics server behind the real kube-apiserver aggregator: kubectl reaches it through
// the APIService, and direct requests show what it does with clients that skip the front proxy.

import https from 'node:https';
import { expect } from 'chai';
import { pino } from 'pino';
import { MetricCache } from '../../src/metric-cache/metric-cache.js';
import type { MetricsApiServer } from '../../src/metrics-api/server.js';
import { ScalerError, type MetricSpec, type Scaler } from '../../src/scalers/scaler.js';
import { createCertificateAuthority, createSelfSignedServing, issueCertificate, type KeyPairPem } from '../../src/tls/certificates.js';
import type { ControlPlane } from '../support/control-plane.js';
import type * as KubeSupport from '../support/kube.js';
import { sharedControlPlane } from '../support/shared.js';

// Modules that load @kubernetes/client-node are imported in before(), so that a unit-only run
// (--grep @integration --invert) never loads the Kubernetes client just by loading this file.

const SERVICE_DNS_NAME = 'queryscaler-metrics-apiserver.default.svc';
const SPEC: MetricSpec = { metricName: 's0-mysql-testdb', targetType: 'AverageValue', targetValue: 3 };

/** A Scaler of our own interface that always answers `value` (the MySQL scaler is tested against MariaDB elsewhere). */
function constantScaler(value: number): Scaler {
  return {
    metricSpecs: [SPEC],
    metricsAndActivity: () => Promise.resolve({ samples: [{ metricName: SPEC.metricName, value }], active: value > 0 }),
    close: () => Promise.resolve(),
  };
}

/** A Scaler of our own interface whose every read fails with `error`. */
function failingScaler(error: ScalerError): Scaler {
  return { metricSpecs: [SPEC], metricsAndActivity: () => Promise.reject(error), close: () => Promise.resolve() };
}

interface Answer {
  status: number;
  body: string;
}

/** An answer with the headers a client reads it by, to compare two answers byte for byte. */
interface FullAnswer extends Answer {
  contentType: string | undefined;
  contentLength: string | undefined;
}

describe('metrics API server @integration', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let ns: string;
  let server: MetricsApiServer | undefined;
  let serving: ReturnType<typeof createSelfSignedServing> | undefined;
  let proxyClient: KeyPairPem;
  let registered = false;
  let kube: typeof KubeSupport;
  let frontProxyClientName: string;
  const readerRole = `metrics-api-test-reader-${process.pid}`;

  const metricPath = (metric: string, scaledObject: string): string =>
    `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/${metric}?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${scaledObject}`)}`;

  /** A request straight to the server, bypassing kube-apiserver: the client decides its certificate and headers. */
  async function directGet(path: string, client?: KeyPairPem, headers: Record<string, string | string[]> = {}): Promise<Answer> {
    const { status, body } = await directRequest('GET', path, client, headers);
    return { status, body };
  }

  function directRequest(method: string, path: string, client?: KeyPairPem, headers: Record<string, string | string[]> = {}): Promise<FullAnswer> {
    const live = server;
    if (live === undefined) throw new Error('server not started');
    return new Promise((resolve, reject) => {
      const request = https.request(
        {
          host: '127.0.0.1',
          port: live.port,
          path,
          method,
          ca: serving?.caPem,
          servername: SERVICE_DNS_NAME,
          headers,
          agent: false,
          ...(client === undefined ? {} : { cert: client.certPem, key: client.keyPem }),
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body,
              contentType: response.headers['content-type'],
              contentLength: response.headers['content-length'],
            }),
          );
        },
      );
      request.setTimeout(10_000, () => request.destroy(new Error(`${method} ${path} timed out`)));
      request.on('error', reject);
      request.end();
    });
  }

  function status(code: number, reason: string, message: string): object {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  }

  before(async () => {
    kube = await import('../support/kube.js');
    const { startMetricsApiServer } = await import('../../src/metrics-api/server.js');
    frontProxyClientName = (await import('../support/control-plane.js')).FRONT_PROXY_CLIENT_NAME;
    cp = await sharedControlPlane();
    ns = await kube.createTestNamespace(cp, 'metrics-api');
    const cache = new MetricCache();
    cache.register({ namespace: ns, name: 'mycluster', pollingIntervalMs: 1000, triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler: constantScaler(17), useCachedMetrics: false }] });
    cache.register({
      namespace: ns,
      name: 'broken',
      pollingIntervalMs: 1000,
      triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler: failingScaler(new ScalerError('ConnectionFailed', 'cannot connect to mysql at db:3306: ECONNREFUSED')), useCachedMetrics: false }],
    });
    // useCachedMetrics: every answer after the first is the same reading, so two answers compare byte for byte.
    cache.register({ namespace: ns, name: 'cached', pollingIntervalMs: 1000, triggers: [{ triggerIndex: 0, scalerName: 'testScaler', spec: SPEC, scaler: constantScaler(23), useCachedMetrics: true }] });
    serving = createSelfSignedServing([SERVICE_DNS_NAME]);
    server = await startMetricsApiServer({
      cache,
      kubeConfig: cp.kubeConfig,
      host: '127.0.0.1',
      port: 0,
      tls: { certPem: serving.certPem, keyPem: serving.keyPem },
      logger: pino({ level: process.env['QUERYSCALER_TEST_LOG'] ?? 'silent' }),
      // Short, so the grant test sees a new RoleBinding without waiting out a cached denial.
      accessCache: { ttlMs: 500 },
    });
    await kube.registerExternalMetricsApi(cp, { port: server.port, caBundlePem: serving.caPem });
    registered = true;
    proxyClient = issueCertificate(cp.frontProxyCa, { commonName: frontProxyClientName, usage: 'client' });
  });

  after(async () => {
    if (registered) await kube.unregisterExternalMetricsApi(cp);
    await server?.close();
    if (cp !== undefined) {
      await kube.kubectl(cp, ['delete', 'clusterrolebinding,clusterrole', readerRole, '--ignore-not-found']);
      if (ns !== undefined) await kube.deleteTestNamespace(cp, ns);
    }
  });

  it('serves the metric value through kube-apiserver as kubectl get --raw shows it', async () => {
    const result = await kube.kubectl(cp, ['get', '--raw', metricPath('s0-mysql-testdb', 'mycluster')]);
    expect(result.stderr).to.equal('');
    const list = JSON.parse(result.stdout) as { items: Array<{ timestamp: string }> };
    expect(list.items[0]?.timestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect({ ...list, items: list.items.map((i) => ({ ...i, timestamp: 'checked' })) }).to.deep.equal({
      kind: 'ExternalMetricValueList',
      apiVersion: 'external.metrics.k8s.io/v1beta1',
      metadata: {},
      items: [{ metricName: 's0-mysql-testdb', metricLabels: {}, timestamp: 'checked', value: '17' }],
    });
  });

  it('answers discovery for external.metrics.k8s.io/v1beta1 through the aggregator', async () => {
    const result = await kube.kubectl(cp, ['get', '--raw', '/apis/external.metrics.k8s.io/v1beta1']);
    expect(JSON.parse(result.stdout)).to.deep.equal({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'external.metrics.k8s.io/v1beta1',
      resources: [{ name: 'externalmetrics', singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] }],
    });
  });

  it('reports an unknown metric and an unknown ScaledObject as NotFound', async () => {
    const unknownMetric = await kube.kubectl(cp, ['get', '--raw', metricPath('s9-nope', 'mycluster')]);
    expect(unknownMetric.code).to.equal(1);
    expect(unknownMetric.stderr).to.equal(`Error from server (NotFound): ScaledObject ${ns}/mycluster has no external metric "s9-nope"; it serves: s0-mysql-testdb\n`);

    const unknownObject = await kube.kubectl(cp, ['get', '--raw', metricPath('s0-mysql-testdb', 'nope')]);
    expect(unknownObject.stderr).to.equal(
      `Error from server (NotFound): ScaledObject ${ns}/nope is not served by queryscaler: it does not exist or is not Ready yet; see kubectl describe scaledobject nope -n ${ns}\n`,
    );
  });

  it('reports a request without labelSelector as BadRequest', async () => {
    const result = await kube.kubectl(cp, ['get', '--raw', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/s0-mysql-testdb`]);
    expect(result.stderr).to.equal(
      "Error from server (BadRequest): the request has no labelSelector; add ?labelSelector=scaledobject.keda.sh/name=<ScaledObject name> (the HPA's External metric selector sets it)\n",
    );
  });

  it('reports a failing scaler as InternalError with its reason, and no stack trace', async () => {
    const result = await kube.kubectl(cp, ['get', '--raw', metricPath('s0-mysql-testdb', 'broken')]);
    expect(result.stderr).to.equal(
      `Error from server (InternalError): unable to get external metric s0-mysql-testdb of ScaledObject ${ns}/broken: ConnectionFailed: cannot connect to mysql at db:3306: ECONNREFUSED\n`,
    );
  });

  it('rejects a direct request without a client certificate with 401', async () => {
    const answer = await directGet(metricPath('s0-mysql-testdb', 'mycluster'));
    expect(answer.status).to.equal(401);
    expect(JSON.parse(answer.body)).to.deep.equal(
      status(401, 'Unauthorized', 'a client certificate is required: send requests through the Kubernetes API server, e.g. kubectl get --raw /apis/external.metrics.k8s.io/v1beta1'),
    );
  });

  it('rejects a client certificate of another CA with 401, even with the proxy CN and identity headers', async () => {
    const rogue = issueCertificate(createCertificateAuthority('rogue-ca'), { commonName: frontProxyClientName, usage: 'client' });
    const answer = await directGet(metricPath('s0-mysql-testdb', 'mycluster'), rogue, { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' });
    expect(answer.status).to.equal(401);
    expect(JSON.parse(answer.body)).to.deep.equal(
      status(401, 'Unauthorized', 'the client certificate is not signed by the request-header CA (requestheader-client-ca-file): UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
    );
  });

  it('rejects a front-proxy-CA certificate whose CN is not an allowed name with 401', async () => {
    const other = issueCertificate(cp.frontProxyCa, { commonName: 'not-the-proxy', usage: 'client' });
    const answer = await directGet('/apis', other, { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' });
    expect(answer.status).to.equal(401);
    expect(JSON.parse(answer.body)).to.deep.equal(status(401, 'Unauthorized', 'the client certificate\'s CN "not-the-proxy" is not an allowed request-header name (front-proxy-client)'));
  });

  it('answers 403 for a user RBAC does not allow, asking kube-apiserver with a SubjectAccessReview', async () => {
    const answer = await directGet(metricPath('s0-mysql-testdb', 'mycluster'), proxyClient, { 'X-Remote-User': 'someone', 'X-Remote-Group': 'system:authenticated' });
    expect(answer.status).to.equal(403);
    expect(JSON.parse(answer.body)).to.deep.equal(
      status(403, 'Forbidden', `user "someone" cannot list resource "s0-mysql-testdb" in API group "external.metrics.k8s.io" in the namespace "${ns}"`),
    );
    const viaKubectl = await kube.kubectl(cp, ['get', '--raw', metricPath('s0-mysql-testdb', 'mycluster'), '--as=someone']);
    expect(viaKubectl.code).to.equal(1);
    expect(viaKubectl.stderr).to.include('Error from server (Forbidden)');
  });

  it('serves a user once a ClusterRole for external.metrics.k8s.io is bound to it', async () => {
    await kube.applyYaml(
      cp,
      `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: ${readerRole} }
rules:
  - apiGroups: [external.metrics.k8s.io]
    resources: ['*']
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ${readerRole} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${readerRole} }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: User, name: granted-user }
`,
    );
    const viaKubectl = await kube.waitFor(
      async () => {
        const result = await kube.kubectl(cp, ['get', '--raw', metricPath('s0-mysql-testdb', 'mycluster'), '--as=granted-user']);
        return result.code === 0 ? result : undefined;
      },
      { what: 'kubectl --as=granted-user to be allowed', timeoutMs: 15_000 },
    );
    expect((JSON.parse(viaKubectl.stdout) as { items: Array<{ value: string }> }).items[0]?.value).to.equal('17');

    const direct = await directGet(metricPath('s0-mysql-testdb', 'mycluster'), proxyClient, { 'X-Remote-User': 'granted-user', 'X-Remote-Group': 'system:authenticated' });
    expect(direct.status).to.equal(200);
    expect((JSON.parse(direct.body) as { items: Array<{ value: string }> }).items[0]?.value).to.equal('17');
  });

  it('serves discovery and OpenAPI documents to an allowed user', async () => {
    const admin = { 'X-Remote-User': 'admin', 'X-Remote-Group': ['system:masters', 'system:authenticated'] };
    const apis = await directGet('/apis', proxyClient, admin);
    expect(JSON.parse(apis.body)).to.deep.equal({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [
        {
          name: 'external.metrics.k8s.io',
          versions: [{ groupVersion: 'external.metrics.k8s.io/v1beta1', version: 'v1beta1' }],
          preferredVersion: { groupVersion: 'external.metrics.k8s.io/v1beta1', version: 'v1beta1' },
        },
      ],
    });
    const v2 = await directGet('/openapi/v2', proxyClient, admin);
    expect(JSON.parse(v2.body)).to.deep.include({ swagger: '2.0', paths: {} });
    const v3 = await directGet('/openapi/v3', proxyClient, admin);
    expect(JSON.parse(v3.body)).to.deep.equal({ paths: { 'apis/external.metrics.k8s.io/v1beta1': { serverRelativeURL: '/openapi/v3/apis/external.metrics.k8s.io/v1beta1' } } });
    const v3GroupVersion = await directGet('/openapi/v3/apis/external.metrics.k8s.io/v1beta1', proxyClient, admin);
    expect(JSON.parse(v3GroupVersion.body)).to.deep.include({ openapi: '3.0.0', paths: {} });
    const unknown = await directGet('/apis/nothing', proxyClient, admin);
    expect({ status: unknown.status, body: JSON.parse(unknown.body) as unknown }).to.deep.equal({
      status: 404,
      body: status(404, 'NotFound', 'the server could not find the requested resource (GET /apis/nothing)'),
    });
  });

  it('answers the plain metric path (the fast path in front of Express) byte for byte as Express answers the same request spelled with a trailing slash', async () => {
    const admin = { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' };
    const someone = { 'X-Remote-User': 'someone', 'X-Remote-Group': 'system:authenticated' };
    const base = `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}`;
    const selector = (name: string): string => `?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${name}`)}`;
    await directGet(`${base}/s0-mysql-testdb${selector('cached')}`, proxyClient, admin);
    const rogue = issueCertificate(createCertificateAuthority('rogue-ca'), { commonName: frontProxyClientName, usage: 'client' });
    const cases: Array<{ name: string; metric: string; query: string; client?: KeyPairPem; headers: Record<string, string>; status: number }> = [
      { name: 'a value', metric: 's0-mysql-testdb', query: selector('cached'), client: proxyClient, headers: admin, status: 200 },
      { name: 'no client certificate', metric: 's0-mysql-testdb', query: selector('cached'), headers: admin, status: 401 },
      { name: 'a certificate of another CA', metric: 's0-mysql-testdb', query: selector('cached'), client: rogue, headers: admin, status: 401 },
      { name: 'a user RBAC does not allow', metric: 's0-mysql-testdb', query: selector('cached'), client: proxyClient, headers: someone, status: 403 },
      { name: 'no labelSelector', metric: 's0-mysql-testdb', query: '', client: proxyClient, headers: admin, status: 400 },
      { name: 'a selector naming no ScaledObject', metric: 's0-mysql-testdb', query: '?labelSelector=app%3Dweb', client: proxyClient, headers: admin, status: 400 },
      { name: 'two labelSelectors', metric: 's0-mysql-testdb', query: `${selector('cached')}&labelSelector=x`, client: proxyClient, headers: admin, status: 400 },
      { name: 'an unknown ScaledObject', metric: 's0-mysql-testdb', query: selector('nope'), client: proxyClient, headers: admin, status: 404 },
      { name: 'an unknown metric', metric: 's9-nope', query: selector('cached'), client: proxyClient, headers: admin, status: 404 },
      { name: 'a failing scaler', metric: 's0-mysql-testdb', query: selector('broken'), client: proxyClient, headers: admin, status: 500 },
    ];
    for (const c of cases) {
      const fast = await directRequest('GET', `${base}/${c.metric}${c.query}`, c.client, c.headers);
      const viaExpress = await directRequest('GET', `${base}/${c.metric}/${c.query}`, c.client, c.headers);
      expect(fast, c.name).to.deep.equal(viaExpress);
      expect([fast.status, fast.contentType], c.name).to.deep.equal([c.status, 'application/json; charset=utf-8']);
    }
  });

  it('leaves every other method on the metric path to Express: POST is refused as read-only, HEAD answers without a body', async () => {
    const admin = { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' };
    const path = metricPath('s0-mysql-testdb', 'cached');
    const post = await directRequest('POST', path, proxyClient, admin);
    expect({ status: post.status, body: JSON.parse(post.body) as unknown }).to.deep.equal({
      status: 405,
      body: status(405, 'MethodNotAllowed', `POST is not supported on /apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/s0-mysql-testdb; this API is read-only`),
    });
    const head = await directRequest('HEAD', path, proxyClient, admin);
    const get = await directRequest('GET', path, proxyClient, admin);
    expect(head).to.deep.equal({ ...get, body: '' });
  });

  it('answers health checks without a client certificate', async () => {
    for (const path of ['/healthz', '/readyz', '/livez']) {
      expect(await directGet(path)).to.deep.equal({ status: 200, body: 'ok' });
    }
  });
});
