// The test control plane itself: what later tests rely on, checked against the real binaries.

import { readdir } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';
import express from 'express';
import { createSelfSignedServing } from '../../src/tls/certificates.js';
import { controlPlaneBinaries, type ControlPlane } from '../support/control-plane.js';
import {
  applyYaml,
  createTestNamespace,
  deleteTestNamespace,
  installCrds,
  kubectl,
  registerExternalMetricsApi,
  unregisterExternalMetricsApi,
  waitFor,
  waitForCrdEstablished,
} from '../support/kube.js';
import { sharedControlPlane } from '../support/shared.js';

const CRDS_DIR = fileURLToPath(new URL('../../crds/', import.meta.url));

const STATEFULSET = `
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: mycluster
spec:
  replicas: 1
  podManagementPolicy: Parallel
  serviceName: mycluster
  selector:
    matchLabels: { app: mycluster }
  template:
    metadata:
      labels: { app: mycluster }
    spec:
      containers:
        - name: mysql
          image: registry.invalid/never-pulled:1
`;

describe('test control plane @integration', function () {
  let cp: ControlPlane;

  before(async function () {
    // The first run of a machine builds the binaries (about 10 minutes on 2 cores).
    this.timeout(30 * 60_000);
    cp = await sharedControlPlane();
  });

  it('reuses the built binaries: a second build run returns the same directory at once', async () => {
    const started = Date.now();
    const binDir = await controlPlaneBinaries();
    expect(binDir).to.equal(cp.binDir);
    expect(Date.now() - started).to.be.below(5_000);
  });

  it('answers kubectl with the built-in namespaces', async () => {
    const result = await kubectl(cp, ['get', 'namespaces', '-o', 'name']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.trim().split('\n')).to.include.members([
      'namespace/default',
      'namespace/kube-node-lease',
      'namespace/kube-public',
      'namespace/kube-system',
    ]);
  });

  it('establishes an inline CRD (int-or-string schema kept) and serves its custom resources', async () => {
    await applyYaml(cp, `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.cp-test.queryscaler.dev
spec:
  group: cp-test.queryscaler.dev
  names: { kind: Widget, plural: widgets, singular: widget, listKind: WidgetList }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer }
                share:
                  anyOf: [{ type: integer }, { type: string }]
                  x-kubernetes-int-or-string: true
`);
    await waitForCrdEstablished(cp, 'widgets.cp-test.queryscaler.dev');
    const [widget] = await applyYaml(cp, 'apiVersion: cp-test.queryscaler.dev/v1\nkind: Widget\nmetadata: { name: w1 }\nspec: { size: 3, share: "50%" }\n');
    expect(widget?.metadata?.namespace).to.equal('default');
    expect((widget as { spec?: unknown } | undefined)?.spec).to.deep.equal({ size: 3, share: '50%' });
  });

  it('installs the CRDs from crds/ and each becomes Established', async function () {
    const files = (await readdir(CRDS_DIR)).filter((f) => /\.ya?ml$/.test(f));
    if (files.length === 0) this.skip();
    const names = await installCrds(cp, CRDS_DIR);
    expect(names).to.include.members(['scaledobjects.keda.sh', 'triggerauthentications.keda.sh']);
    const result = await kubectl(cp, ['get', 'crd', 'scaledobjects.keda.sh', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
    expect(result.stdout).to.equal('True');
  });

  it('creates the pod of a 1-replica Parallel StatefulSet, which stays Pending without a kubelet', async () => {
    const namespace = await createTestNamespace(cp, 'cp-sts');
    try {
      await applyYaml(cp, STATEFULSET, namespace);
      const core = cp.kubeConfig.makeApiClient(CoreV1Api);
      const pod = await waitFor(async () => (await core.listNamespacedPod({ namespace })).items[0], { what: `a pod of StatefulSet ${namespace}/mycluster` });
      expect(pod.metadata?.name).to.equal('mycluster-0');
      expect(pod.status?.phase).to.equal('Pending');
      expect(pod.spec?.nodeName).to.equal(undefined);
    } finally {
      await deleteTestNamespace(cp, namespace);
    }
  });

  it('comes back after restartApiServer on the same address', async function () {
    this.timeout(120_000);
    await cp.restartApiServer();
    const result = await kubectl(cp, ['get', 'namespace', 'default', '-o', 'jsonpath={.status.phase}']);
    expect(result.stdout, result.stderr).to.equal('Active');
    expect(cp.server).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  describe('aggregated external.metrics.k8s.io through an ExternalName Service', () => {
    const METRIC = 's0-mysql-testdb';
    const SERVICE = 'cp-test-metrics';
    interface SeenRequest {
      path: string;
      clientCn: string;
      remoteUser: string | undefined;
    }
    const seen: SeenRequest[] = [];
    let server: https.Server;
    const sockets = new Set<Socket>();

    before(async () => {
      // The certificate must name <service>.<namespace>.svc: the aggregator verifies that name
      // against the APIService caBundle even though it dials localhost.
      const serving = createSelfSignedServing([`${SERVICE}.default.svc`]);
      const app = express();
      app.use((req, _res, next) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        seen.push({ path: req.originalUrl, clientCn: String(peer.subject?.CN ?? ''), remoteUser: req.get('X-Remote-User') });
        next();
      });
      app.get('/apis/external.metrics.k8s.io/v1beta1', (_req, res) => {
        res.json({
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: 'external.metrics.k8s.io/v1beta1',
          resources: [{ name: 'externalmetrics', singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] }],
        });
      });
      app.get('/apis/external.metrics.k8s.io/v1beta1/namespaces/:namespace/:metric', (req, res) => {
        res.json({
          kind: 'ExternalMetricValueList',
          apiVersion: 'external.metrics.k8s.io/v1beta1',
          metadata: {},
          items: [{ metricName: req.params.metric, metricLabels: {}, timestamp: '2026-01-01T00:00:00Z', value: '17' }],
        });
      });
      server = https.createServer(
        // Only the aggregator (client cert from the front-proxy CA) may call.
        { cert: serving.certPem, key: serving.keyPem, ca: cp.frontProxyCa.certPem, requestCert: true, rejectUnauthorized: true },
        app,
      );
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      await registerExternalMetricsApi(cp, { port, caBundlePem: serving.caPem, serviceName: SERVICE });
    });

    after(async () => {
      await unregisterExternalMetricsApi(cp, { serviceName: SERVICE });
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('answers kubectl get --raw through kube-apiserver, which calls as front-proxy-client on behalf of the user', async () => {
      const result = await kubectl(cp, ['get', '--raw', '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/x']);
      expect(result.code, result.stderr).to.equal(0);
      expect(JSON.parse(result.stdout)).to.deep.equal({
        kind: 'ExternalMetricValueList',
        apiVersion: 'external.metrics.k8s.io/v1beta1',
        metadata: {},
        items: [{ metricName: 'x', metricLabels: {}, timestamp: '2026-01-01T00:00:00Z', value: '17' }],
      });
      const call = seen.find((r) => r.path === '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/x');
      expect(call).to.deep.equal({ path: '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/x', clientCn: 'front-proxy-client', remoteUser: 'queryscaler-test-admin' });
    });

    it('lets the real HPA controller scale a StatefulSet by the served value: 1 -> 4 -> 6 for 17 / 3', async function () {
      this.timeout(120_000);
      const namespace = await createTestNamespace(cp, 'cp-hpa');
      try {
        await applyYaml(cp, STATEFULSET, namespace);
        const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
        const readReplicas = async () => (await apps.readNamespacedStatefulSet({ name: 'mycluster', namespace })).spec?.replicas ?? -1;
        // The HPA controller acts as soon as the HPA exists, so the starting point is read before.
        const replicasSeen = [await readReplicas()];
        await applyYaml(cp, `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: keda-hpa-mycluster
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: StatefulSet, name: mycluster }
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: External
      external:
        metric:
          name: ${METRIC}
          selector: { matchLabels: { scaledobject.keda.sh/name: mycluster } }
        target: { type: AverageValue, averageValue: "3" }
`, namespace);
        await waitFor(
          async () => {
            const replicas = await readReplicas();
            if (replicasSeen.at(-1) !== replicas) replicasSeen.push(replicas);
            return replicas === 6;
          },
          { what: () => `StatefulSet ${namespace}/mycluster to reach 6 replicas (seen: ${replicasSeen.join(' -> ')})`, timeoutMs: 90_000, intervalMs: 100 },
        );
        // ceil(17 / 3) = 6, but the HPA without a behavior grows at most to max(2 x current, 4) per step.
        expect(replicasSeen).to.deep.equal([1, 4, 6]);
        const hpaCall = seen.find((r) => r.path.startsWith(`/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${METRIC}?`));
        expect(hpaCall?.path).to.equal(`/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${METRIC}?labelSelector=scaledobject.keda.sh%2Fname%3Dmycluster`);
        expect(hpaCall?.clientCn).to.equal('front-proxy-client');
      } finally {
        await deleteTestNamespace(cp, namespace);
      }
    });
  });
});
