// The metrics API's pure decisions, table by table. No server, no API server: these run with the unit
// tests (no @integration tag); the file sits here only because test/integration/metrics-api* is where
// the metrics API's tests were assigned.

import { expect } from 'chai';
import type { V1SubjectAccessReviewSpec, V1SubjectAccessReviewStatus } from '@kubernetes/client-node';
import { authenticate, type IncomingHeaders, type PeerCertificate, type UserInfo } from '../../src/metrics-api/authentication.js';
import { CachedAuthorizer, forbiddenMessage, requestAttributes, subjectAccessReviewSpec, type RequestAttributes } from '../../src/metrics-api/authorization.js';
import { externalMetricAnswer, rfc3339Seconds, scaledObjectFromSelector } from '../../src/metrics-api/external-metrics.js';
import { metricPath } from '../../src/metrics-api/metric-fast-path.js';
import { requestHeaderConfigFromData, type RequestHeaderConfig } from '../../src/metrics-api/request-header.js';

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('scaledObjectFromSelector', () => {
  const hint = 'add ?labelSelector=scaledobject.keda.sh/name=<ScaledObject name> (the HPA\'s External metric selector sets it)';
  const cases: Array<[unknown, { name: string } | { error: string }]> = [
    ['scaledobject.keda.sh/name=mycluster', { name: 'mycluster' }],
    ['scaledobject.keda.sh/name==mycluster', { name: 'mycluster' }],
    ['scaledobject.keda.sh/name = mycluster', { name: 'mycluster' }],
    ['scaledobject.keda.sh/name in (mycluster)', { name: 'mycluster' }],
    ['app=web,scaledobject.keda.sh/name=mycluster', { name: 'mycluster' }],
    ['env in (a,b),scaledobject.keda.sh/name=mycluster', { name: 'mycluster' }],
    [undefined, { error: `the request has no labelSelector; ${hint}` }],
    ['', { error: `the request has no labelSelector; ${hint}` }],
    [['a', 'b'], { error: `the request has no labelSelector; ${hint}` }],
    ['app=web', { error: `labelSelector "app=web" does not name a ScaledObject; ${hint}` }],
    ['scaledobject.keda.sh/name!=mycluster', { error: `labelSelector "scaledobject.keda.sh/name!=mycluster" does not name a ScaledObject; ${hint}` }],
    ['scaledobject.keda.sh/name in (a,b)', { error: `labelSelector "scaledobject.keda.sh/name in (a,b)" does not name a ScaledObject; ${hint}` }],
    ['scaledobject.keda.sh/name=', { error: `labelSelector "scaledobject.keda.sh/name=" names an empty ScaledObject; ${hint}` }],
    [
      'scaledobject.keda.sh/name=a,scaledobject.keda.sh/name=b',
      { error: 'labelSelector "scaledobject.keda.sh/name=a,scaledobject.keda.sh/name=b" names more than one ScaledObject (a, b); name exactly one' },
    ],
  ];
  for (const [selector, expected] of cases) {
    it(`${JSON.stringify(selector)} -> ${JSON.stringify(expected)}`, () => {
      expect(scaledObjectFromSelector(selector)).to.deep.equal(expected);
    });
  }
});

describe('metricPath (which requests take the fast path in front of Express)', () => {
  const base = '/apis/external.metrics.k8s.io/v1beta1/namespaces';
  const cases: Array<[string, { namespace: string; metricName: string } | undefined]> = [
    [`${base}/ns1/s0-mysql-testdb`, { namespace: 'ns1', metricName: 's0-mysql-testdb' }],
    [`${base}/ns1/s0-mysql-TestDB`, { namespace: 'ns1', metricName: 's0-mysql-TestDB' }],
    // Spellings Express's router also matches go there, so its decoding and matching stay the only ones.
    [`${base}/ns1/s0-mysql-testdb/`, undefined],
    [`${base}/ns%31/s0-mysql-testdb`, undefined],
    [`/APIS/external.metrics.k8s.io/v1beta1/namespaces/ns1/s0-mysql-testdb`, undefined],
    [`${base}/ns1/s0-mysql-testdb/extra`, undefined],
    [`${base}//s0-mysql-testdb`, undefined],
    [`${base}/ns1`, undefined],
    [`${base}/ns1/`, undefined],
    [`${base}/`, undefined],
    ['/apis/external.metrics.k8s.io/v1beta1', undefined],
    ['/healthz', undefined],
  ];
  for (const [path, expected] of cases) {
    it(`${path} -> ${JSON.stringify(expected)}`, () => {
      expect(metricPath(path)).to.deep.equal(expected);
    });
  }
});

describe('externalMetricAnswer', () => {
  const request = { namespace: 'ns1', scaledObject: 'mycluster', metricName: 's0-mysql-testdb' };
  const at = new Date('2026-03-04T05:06:07.891Z');
  it('a value becomes an ExternalMetricValueList with a quantity and a whole-second timestamp', () => {
    expect(externalMetricAnswer({ kind: 'value', value: 8.4, timestamp: at, fallback: false }, request, ['s0-mysql-testdb'])).to.deep.equal({
      code: 200,
      body: {
        kind: 'ExternalMetricValueList',
        apiVersion: 'external.metrics.k8s.io/v1beta1',
        metadata: {},
        items: [{ metricName: 's0-mysql-testdb', metricLabels: {}, timestamp: '2026-03-04T05:06:07Z', value: '8400m' }],
      },
    });
  });
  it('the largest DOUBLE a query can return is served as the largest quantity, not a 500', () => {
    const answer = externalMetricAnswer({ kind: 'value', value: 1.7976931348623157e308, timestamp: at, fallback: false }, request, ['s0-mysql-testdb']);
    expect([answer.code, (answer.body as { items: Array<{ value: string }> }).items[0]?.value]).to.deep.equal([200, '9223372036854775807m']);
  });
  const failures = [
    {
      served: { kind: 'unknown-scaledobject' as const },
      names: [],
      code: 404,
      reason: 'NotFound',
      message: 'ScaledObject ns1/mycluster is not served by queryscaler: it does not exist or is not Ready yet; see kubectl describe scaledobject mycluster -n ns1',
    },
    {
      served: { kind: 'unknown-metric' as const },
      names: ['s0-mysql-testdb', 's1-cron'],
      code: 404,
      reason: 'NotFound',
      message: 'ScaledObject ns1/mycluster has no external metric "s0-mysql-testdb"; it serves: s0-mysql-testdb, s1-cron',
    },
    {
      served: { kind: 'error' as const, reason: 'AccessDenied' as const, message: 'mysql user app was denied access to testdb' },
      names: [],
      code: 500,
      reason: 'InternalError',
      message: 'unable to get external metric s0-mysql-testdb of ScaledObject ns1/mycluster: AccessDenied: mysql user app was denied access to testdb',
    },
  ];
  for (const f of failures) {
    it(`${f.served.kind} -> ${f.code} ${f.reason}`, () => {
      expect(externalMetricAnswer(f.served, request, f.names)).to.deep.equal({
        code: f.code,
        body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: f.message, reason: f.reason, code: f.code },
      });
    });
  }
  it('rfc3339Seconds drops the milliseconds', () => {
    expect(rfc3339Seconds(new Date('2026-01-01T00:00:00.999Z'))).to.equal('2026-01-01T00:00:00Z');
  });
});

describe('requestHeaderConfigFromData', () => {
  it('reads the lists kube-apiserver publishes', () => {
    expect(
      requestHeaderConfigFromData({
        'requestheader-client-ca-file': CA_PEM,
        'requestheader-allowed-names': '["front-proxy-client"]',
        'requestheader-username-headers': '["X-Remote-User"]',
        'requestheader-group-headers': '["X-Remote-Group"]',
        'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
      }),
    ).to.deep.equal({
      clientCaPem: CA_PEM,
      allowedNames: ['front-proxy-client'],
      usernameHeaders: ['X-Remote-User'],
      groupHeaders: ['X-Remote-Group'],
      extraHeaderPrefixes: ['X-Remote-Extra-'],
    });
  });
  it('defaults the header names to what kube-aggregator sends and the allowed names to any', () => {
    expect(requestHeaderConfigFromData({ 'requestheader-client-ca-file': CA_PEM, 'requestheader-username-headers': '[]' })).to.deep.equal({
      clientCaPem: CA_PEM,
      allowedNames: [],
      usernameHeaders: ['X-Remote-User'],
      groupHeaders: ['X-Remote-Group'],
      extraHeaderPrefixes: ['X-Remote-Extra-'],
    });
  });
  const errors: Array<[Record<string, string> | undefined, string]> = [
    [
      undefined,
      "ConfigMap kube-system/extension-apiserver-authentication has no requestheader-client-ca-file: start kube-apiserver with --requestheader-client-ca-file so the aggregator's client certificate can be verified",
    ],
    [{ 'requestheader-client-ca-file': CA_PEM, 'requestheader-allowed-names': 'front-proxy-client' }, 'ConfigMap kube-system/extension-apiserver-authentication: requestheader-allowed-names is not a JSON list of strings: front-proxy-client'],
    [{ 'requestheader-client-ca-file': CA_PEM, 'requestheader-group-headers': '[1]' }, 'ConfigMap kube-system/extension-apiserver-authentication: requestheader-group-headers is not a JSON list of strings: [1]'],
  ];
  for (const [data, message] of errors) {
    it(`rejects ${JSON.stringify(data)}`, () => {
      expect(() => requestHeaderConfigFromData(data)).to.throw(message);
    });
  }
});

describe('authenticate', () => {
  const config: RequestHeaderConfig = {
    clientCaPem: CA_PEM,
    allowedNames: ['front-proxy-client'],
    usernameHeaders: ['X-Remote-User'],
    groupHeaders: ['X-Remote-Group'],
    extraHeaderPrefixes: ['X-Remote-Extra-'],
  };
  const proxy: PeerCertificate = { verified: true, commonName: 'front-proxy-client' };
  const headers: IncomingHeaders = {
    'x-remote-user': ['system:serviceaccount:kube-system:horizontal-pod-autoscaler'],
    'x-remote-group': ['system:serviceaccounts', 'system:authenticated'],
    'x-remote-extra-authentication.kubernetes.io%2fpod-name': ['hpa-0'],
    accept: ['application/json'],
  };
  const cases: Array<{ name: string; peer: PeerCertificate | undefined; headers: IncomingHeaders; config: RequestHeaderConfig | undefined; override?: string[]; expected: unknown }> = [
    {
      name: 'the front proxy with a user',
      peer: proxy,
      headers,
      config,
      expected: {
        user: {
          username: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler',
          groups: ['system:serviceaccounts', 'system:authenticated'],
          extra: { 'authentication.kubernetes.io/pod-name': ['hpa-0'] },
        },
      },
    },
    {
      name: 'no config read yet',
      peer: proxy,
      headers,
      config: undefined,
      expected: {
        error: "the request-header CA is not known yet: ConfigMap kube-system/extension-apiserver-authentication could not be read (see this server's log); it is retried periodically",
      },
    },
    {
      name: 'no client certificate',
      peer: undefined,
      headers,
      config,
      expected: { error: 'a client certificate is required: send requests through the Kubernetes API server, e.g. kubectl get --raw /apis/external.metrics.k8s.io/v1beta1' },
    },
    {
      name: 'a certificate of another CA',
      peer: { verified: false, verifyError: 'unable to verify the first certificate', commonName: 'front-proxy-client' },
      headers,
      config,
      expected: { error: 'the client certificate is not signed by the request-header CA (requestheader-client-ca-file): unable to verify the first certificate' },
    },
    {
      name: 'a CN that is not allowed',
      peer: { verified: true, commonName: 'admin' },
      headers,
      config,
      expected: { error: 'the client certificate\'s CN "admin" is not an allowed request-header name (front-proxy-client)' },
    },
    {
      name: 'any CN when the override list is empty',
      peer: { verified: true, commonName: 'admin' },
      headers: { 'x-remote-user': ['alice'] },
      config,
      override: [],
      expected: { user: { username: 'alice', groups: ['system:authenticated'], extra: {} } },
    },
    {
      name: 'system:authenticated is added once, as apiserver does, but not to the anonymous user',
      peer: proxy,
      headers: { 'x-remote-user': ['system:anonymous'], 'x-remote-group': ['system:unauthenticated'] },
      config,
      expected: { user: { username: 'system:anonymous', groups: ['system:unauthenticated'], extra: {} } },
    },
    {
      name: 'the aggregator itself, sent without groups',
      peer: proxy,
      headers: { 'x-remote-user': ['system:aggregator'] },
      config,
      expected: { user: { username: 'system:aggregator', groups: ['system:authenticated'], extra: {} } },
    },
    {
      name: 'no user header',
      peer: proxy,
      headers: { 'x-remote-group': ['system:masters'] },
      config,
      expected: { error: 'the request names no user: none of the headers X-Remote-User is set' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(authenticate(c.peer, c.headers, c.config, c.override)).to.deep.equal(c.expected);
    });
  }
});

describe('requestAttributes', () => {
  const cases: Array<[string, string, Record<string, unknown>, RequestAttributes]> = [
    [
      'GET',
      '/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/s0-mysql-testdb',
      { labelSelector: 'scaledobject.keda.sh/name=x' },
      { kind: 'resource', verb: 'list', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 's0-mysql-testdb', namespace: 'ns1' },
    ],
    [
      'GET',
      '/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/s0-mysql-testdb/thing',
      {},
      { kind: 'resource', verb: 'get', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 's0-mysql-testdb', namespace: 'ns1', name: 'thing' },
    ],
    [
      'GET',
      '/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/s0-mysql-testdb',
      { watch: 'true' },
      { kind: 'resource', verb: 'watch', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 's0-mysql-testdb', namespace: 'ns1' },
    ],
    ['GET', '/apis/external.metrics.k8s.io/v1beta1/namespaces', {}, { kind: 'resource', verb: 'list', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 'namespaces' }],
    [
      'DELETE',
      '/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/m',
      {},
      { kind: 'resource', verb: 'deletecollection', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 'm', namespace: 'ns1' },
    ],
    ['GET', '/apis/external.metrics.k8s.io/v1beta1', {}, { kind: 'nonResource', verb: 'get', path: '/apis/external.metrics.k8s.io/v1beta1' }],
    ['GET', '/apis', {}, { kind: 'nonResource', verb: 'get', path: '/apis' }],
    ['POST', '/openapi/v2', {}, { kind: 'nonResource', verb: 'post', path: '/openapi/v2' }],
  ];
  for (const [method, path, query, expected] of cases) {
    it(`${method} ${path} ${JSON.stringify(query)}`, () => {
      expect(requestAttributes(method, path, query)).to.deep.equal(expected);
    });
  }
});

describe('forbiddenMessage and subjectAccessReviewSpec', () => {
  const user: UserInfo = { username: 'someone', groups: ['system:authenticated'], extra: { scopes: ['a'] } };
  const resource: RequestAttributes = { kind: 'resource', verb: 'list', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 's0-mysql-testdb', namespace: 'ns1' };
  const nonResource: RequestAttributes = { kind: 'nonResource', verb: 'get', path: '/apis' };
  it('words a resource denial as kube-apiserver does', () => {
    expect(forbiddenMessage(user, resource, '')).to.equal('user "someone" cannot list resource "s0-mysql-testdb" in API group "external.metrics.k8s.io" in the namespace "ns1"');
  });
  it('words a path denial, with the authorizer\'s reason', () => {
    expect(forbiddenMessage(user, nonResource, 'no RBAC policy matched')).to.equal('user "someone" cannot get path "/apis": no RBAC policy matched');
  });
  it('builds the review for a resource request', () => {
    expect(subjectAccessReviewSpec(user, resource)).to.deep.equal({
      user: 'someone',
      groups: ['system:authenticated'],
      extra: { scopes: ['a'] },
      resourceAttributes: { verb: 'list', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 's0-mysql-testdb', namespace: 'ns1' },
    });
  });
  it('builds the review for a path', () => {
    expect(subjectAccessReviewSpec(user, nonResource)).to.deep.equal({
      user: 'someone',
      groups: ['system:authenticated'],
      extra: { scopes: ['a'] },
      nonResourceAttributes: { path: '/apis', verb: 'get' },
    });
  });
});

describe('CachedAuthorizer', () => {
  const alice: UserInfo = { username: 'alice', groups: ['g1', 'g2'], extra: {} };
  const attributes: RequestAttributes = { kind: 'nonResource', verb: 'get', path: '/apis' };

  /** A review function of our own that answers from a script and counts the reviews it was asked. */
  function scriptedReviews(answers: Array<V1SubjectAccessReviewStatus | Error>): { review: (spec: V1SubjectAccessReviewSpec) => Promise<V1SubjectAccessReviewStatus>; asked: V1SubjectAccessReviewSpec[] } {
    const asked: V1SubjectAccessReviewSpec[] = [];
    return {
      asked,
      review: (spec) => {
        const answer = answers[asked.length];
        asked.push(spec);
        if (answer === undefined) return Promise.reject(new Error('no answer scripted'));
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
      },
    };
  }

  it('reuses an answer within the TTL, for the same groups in any order, and asks again after it', async () => {
    let now = 0;
    const { review, asked } = scriptedReviews([{ allowed: true }, { allowed: false, reason: 'revoked' }]);
    const authorizer = new CachedAuthorizer(review, { ttlMs: 10_000, now: () => now });
    expect(await authorizer.decide(alice, attributes)).to.deep.equal({ allowed: true, reason: '' });
    now = 9_999;
    expect(await authorizer.decide({ ...alice, groups: ['g2', 'g1'] }, attributes)).to.deep.equal({ allowed: true, reason: '' });
    expect(asked.length).to.equal(1);
    now = 10_000;
    expect(await authorizer.decide(alice, attributes)).to.deep.equal({ allowed: false, reason: 'revoked' });
    expect(asked.length).to.equal(2);
  });

  it('asks separately for another user or other attributes, and shares one review between concurrent callers', async () => {
    const { review, asked } = scriptedReviews([{ allowed: true }, { allowed: false }, { allowed: true }]);
    const authorizer = new CachedAuthorizer(review);
    const [a, b] = await Promise.all([authorizer.decide(alice, attributes), authorizer.decide(alice, attributes)]);
    expect([a, b]).to.deep.equal([
      { allowed: true, reason: '' },
      { allowed: true, reason: '' },
    ]);
    await authorizer.decide({ ...alice, username: 'bob' }, attributes);
    await authorizer.decide(alice, { ...attributes, path: '/openapi/v2' });
    expect(asked.map((s) => [s.user, s.nonResourceAttributes?.path])).to.deep.equal([
      ['alice', '/apis'],
      ['bob', '/apis'],
      ['alice', '/openapi/v2'],
    ]);
  });

  it('does not cache a failed review', async () => {
    const { review, asked } = scriptedReviews([new Error('connect ECONNREFUSED 127.0.0.1:6443'), { allowed: true }]);
    const authorizer = new CachedAuthorizer(review);
    let failure: unknown;
    await authorizer.decide(alice, attributes).catch((e: unknown) => (failure = e));
    expect((failure as Error).message).to.equal('connect ECONNREFUSED 127.0.0.1:6443');
    expect(await authorizer.decide(alice, attributes)).to.deep.equal({ allowed: true, reason: '' });
    expect(asked.length).to.equal(2);
  });

  it('treats an explicit deny as a denial even when allowed is set', async () => {
    const { review } = scriptedReviews([{ allowed: true, denied: true, reason: 'webhook says no' }]);
    expect(await new CachedAuthorizer(review).decide(alice, attributes)).to.deep.equal({ allowed: false, reason: 'webhook says no' });
  });

  it('keeps at most maxEntries answers, dropping the oldest', async () => {
    const { review } = scriptedReviews(Array.from({ length: 10 }, () => ({ allowed: true })));
    const authorizer = new CachedAuthorizer(review, { maxEntries: 3 });
    for (const username of ['u1', 'u2', 'u3', 'u4']) await authorizer.decide({ ...alice, username }, attributes);
    expect(authorizer.size).to.equal(3);
  });
});
