// A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager,
// built from source by tools/build-control-plane.sh, all on 127.0.0.1, in a throwaway directory.
// No kubelet and no scheduler: pods are created but stay Pending, which is all an autoscaler needs
// (the HPA controller writes spec.replicas of the target's /scale whether pods run or not).

import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../../src/tls/certificates.js';

export interface ControlPlane {
  dir: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (client cert with O=system:masters), for kubectl --kubeconfig. */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  clusterCaPem: string;
  /** Signs the certificate the aggregator presents to extension API servers. */
  frontProxyCa: KeyPairPem;
  binDir: string;
  /**
   * kube-apiserver's audit log (JSON lines, level Metadata): every request made by a ServiceAccount,
   * with its verb, objectRef and response code; nothing of other users. See readAuditEvents.
   */
  auditLogPath: string;
  /** The last `lines` lines of each component's log, headed by its name. */
  logTail(lines?: number): string;
  /** Stops kube-apiserver and starts it again on the same port with the same etcd. */
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** kube-controller-manager --horizontal-pod-autoscaler-sync-period, in seconds. Default 2. */
  hpaSyncPeriodSeconds?: number;
  /** kube-controller-manager --controllers. Default: DEFAULT_CONTROLLERS. */
  controllers?: string[];
}

/**
 * What autoscaler tests need. serviceaccount-controller: without the `default` ServiceAccount the
 * ServiceAccount admission plugin rejects every pod. namespace-controller: without it a deleted
 * namespace stays Terminating for ever. garbage-collector-controller: owner references work.
 */
export const DEFAULT_CONTROLLERS = [
  'horizontal-pod-autoscaler-controller',
  'statefulset-controller',
  'deployment-controller',
  'replicaset-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'namespace-controller',
];

/**
 * What a test may ask "which requests did queryscaler, as its ServiceAccount, make?": every request
 * of a ServiceAccount at Metadata level (who, verb, object, response code; no bodies), nothing else.
 * The controller manager runs as the admin user, so its requests stay out.
 */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: [system:serviceaccounts]
  - level: None
`;

/** One line of the audit log, as far as tests read it. */
export interface AuditEvent {
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  stage: string;
}

/** The audit events of one user (e.g. `system:serviceaccount:ns:name`), oldest first. */
export function readAuditEvents(cp: Pick<ControlPlane, 'auditLogPath'>, username: string): AuditEvent[] {
  let text: string;
  try {
    text = readFileSync(cp.auditLogPath, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.includes(`"username":"${username}"`))
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((event) => event.user.username === username);
}

/** The CN kube-apiserver accepts (--requestheader-allowed-names) on the aggregator's client cert. */
export const FRONT_PROXY_CLIENT_NAME = 'front-proxy-client';

const BUILD_SCRIPT = fileURLToPath(new URL('../../tools/build-control-plane.sh', import.meta.url));
const BUILD_TIMEOUT_MS = 30 * 60_000;
const ETCD_READY_TIMEOUT_MS = 30_000;
const APISERVER_READY_TIMEOUT_MS = 90_000;
const CONTROLLER_MANAGER_READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const API_SERVER_RESTART_GRACE_MS = 1_000;
const POLL_INTERVAL_MS = 200;

/**
 * Runs the build script, which builds etcd, kube-apiserver and kube-controller-manager once
 * (about 10 minutes on 2 cores) and afterwards only prints the cached directory.
 */
export async function controlPlaneBinaries(): Promise<string> {
  const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    // Building takes minutes; say so instead of looking hung.
    process.stderr.write(`[build-control-plane] ${chunk}`);
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), BUILD_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(timer));
  const binDir = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || binDir === '') {
    throw new Error(`${BUILD_SCRIPT} exited with ${code} (timeout ${BUILD_TIMEOUT_MS / 60_000} min); its output ends:\n${lastLines(stderr, 30)}`);
  }
  return binDir;
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const hpaSyncPeriodSeconds = options.hpaSyncPeriodSeconds ?? 2;
  const controllers = options.controllers ?? DEFAULT_CONTROLLERS;
  const binDir = await controlPlaneBinaries();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'queryscaler-cp-'));
  const processes: ManagedProcess[] = [];
  const plane = { dir, processes };
  livePlanes.add(plane);
  installExitHandlers();
  try {
    const { etcdClientPort, etcdPeerPort, apiServerPort } = await freeLoopbackPorts(['etcdClientPort', 'etcdPeerPort', 'apiServerPort']);
    const files = await writeCredentials(dir, apiServerPort);
    const server = `https://127.0.0.1:${apiServerPort}`;
    const auditLogPath = path.join(dir, 'audit.log');
    const auditPolicyPath = path.join(dir, 'audit-policy.yaml');
    await writeFile(auditPolicyPath, AUDIT_POLICY);

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = new ManagedProcess('etcd', path.join(binDir, 'etcd'), dir, [
      '--name=queryscaler-test',
      `--data-dir=${path.join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${etcdPeerUrl}`,
      `--initial-advertise-peer-urls=${etcdPeerUrl}`,
      `--initial-cluster=queryscaler-test=${etcdPeerUrl}`,
      // The data dir is thrown away with the test run; fsync only costs time.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    processes.push(etcd);
    etcd.start();
    await waitUntil(`etcd health at ${etcdUrl}/health`, ETCD_READY_TIMEOUT_MS, etcd, async () => {
      const res = await httpGet(`${etcdUrl}/health`);
      return res.status === 200 && res.body.includes('"health":"true"');
    });

    const apiServer = new ManagedProcess('kube-apiserver', path.join(binDir, 'kube-apiserver'), dir, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiServerPort}`,
      // The default reconciler refuses a loopback advertise address; nothing needs the
      // `kubernetes` Service endpoints here.
      '--endpoint-reconciler-type=none',
      `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${files.apiServerCert}`,
      `--tls-private-key-file=${files.apiServerKey}`,
      `--client-ca-file=${files.clusterCa}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${files.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${files.serviceAccountPrivateKey}`,
      // An allocation range for Service cluster IPs only: nothing is ever sent there.
      '--service-cluster-ip-range=10.96.0.0/16',
      // The aggregation layer: how kube-apiserver proves itself to extension API servers such as
      // the external-metrics server, and how they learn who the original caller was.
      `--requestheader-client-ca-file=${files.frontProxyCa}`,
      `--requestheader-allowed-names=${FRONT_PROXY_CLIENT_NAME}`,
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${files.proxyClientCert}`,
      `--proxy-client-key-file=${files.proxyClientKey}`,
      // Route to the Service (an ExternalName to localhost), not to Endpoints nobody maintains.
      '--enable-aggregator-routing=false',
      '--profiling=false',
      `--audit-policy-file=${auditPolicyPath}`,
      `--audit-log-path=${auditLogPath}`,
      '--audit-log-format=json',
      // Written before the response goes out, so a test reads every request it waited for.
      '--audit-log-mode=blocking',
    ]);
    processes.push(apiServer);
    const waitForApiServer = (): Promise<void> =>
      waitUntil(`kube-apiserver ${server}/readyz`, APISERVER_READY_TIMEOUT_MS, apiServer, async () => {
        const res = await httpsGet(`${server}/readyz`, files.adminTls);
        return res.status === 200 && res.body === 'ok';
      });
    apiServer.start();
    await waitForApiServer();

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(files.kubeconfig);

    const controllerManager = new ManagedProcess('kube-controller-manager', path.join(binDir, 'kube-controller-manager'), dir, [
      `--kubeconfig=${files.kubeconfig}`,
      `--authentication-kubeconfig=${files.kubeconfig}`,
      `--authorization-kubeconfig=${files.kubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--controllers=${controllers.join(',')}`,
      `--horizontal-pod-autoscaler-sync-period=${hpaSyncPeriodSeconds}s`,
      '--use-service-account-credentials=false',
    ]);
    processes.push(controllerManager);
    controllerManager.start();
    if (controllers.some((c) => c === 'serviceaccount-controller' || c === 'serviceaccount')) {
      // The first thing the controllers do once their informers synced: a sign they are working.
      await waitUntil('the default ServiceAccount in namespace default (made by serviceaccount-controller)', CONTROLLER_MANAGER_READY_TIMEOUT_MS, controllerManager, async () => {
        const res = await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, files.adminTls);
        return res.status === 200;
      });
    }

    const certificates = files.certificates;
    let stopped: Promise<void> | undefined;
    return {
      dir,
      server,
      kubeconfigPath: files.kubeconfig,
      kubeConfig,
      clusterCaPem: certificates.clusterCa.certPem,
      frontProxyCa: certificates.frontProxyCa,
      binDir,
      auditLogPath,
      logTail: (lines = 40) => processes.map((p) => p.logTail(lines)).join('\n'),
      restartApiServer: async () => {
        // With kube-controller-manager's watches open, a SIGTERMed kube-apiserver lingers about
        // 10 s after it stopped listening; a watch-recovery test gains nothing from that wait.
        await apiServer.stop(API_SERVER_RESTART_GRACE_MS);
        apiServer.start();
        await waitForApiServer();
      },
      stop: () => {
        stopped ??= stopPlane(plane);
        return stopped;
      },
    };
  } catch (err) {
    const tails = processes.map((p) => p.logTail(30)).join('\n');
    await stopPlane(plane);
    throw new Error(`starting the test control plane failed: ${(err as Error).message}\n${tails}`, { cause: err });
  }
}

interface PlaneResources {
  dir: string;
  processes: ManagedProcess[];
}

/** Reverse start order, so nothing logs about a dependency that vanished under it. */
async function stopPlane(plane: PlaneResources): Promise<void> {
  for (const p of [...plane.processes].reverse()) {
    await p.stop();
  }
  rmSync(plane.dir, { recursive: true, force: true });
  livePlanes.delete(plane);
  if (livePlanes.size === 0) removeExitHandlers();
}

/**
 * One child process in its own process group (detached), so that stopping it reaches anything it
 * spawned, and a Ctrl-C aimed at the test runner does not kill it behind our back.
 */
class ManagedProcess {
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitDescription: string | undefined;

  constructor(
    readonly name: string,
    private readonly binary: string,
    dir: string,
    private readonly args: string[],
  ) {
    this.logPath = path.join(dir, `${name}.log`);
  }

  start(): void {
    const log = openSync(this.logPath, 'a');
    try {
      const child = spawn(this.binary, this.args, { detached: true, stdio: ['ignore', log, log] });
      this.child = child;
      this.exitDescription = undefined;
      this.exited = new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          this.exitDescription = signal === null ? `exit code ${code}` : `signal ${signal}`;
          resolve();
        });
        child.on('error', (err) => {
          this.exitDescription = `spawn error: ${err.message}`;
          resolve();
        });
      });
    } finally {
      closeSync(log);
    }
  }

  /** Undefined while running; why it ended otherwise. */
  get exitReason(): string | undefined {
    return this.exitDescription;
  }

  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.child;
    if (child === undefined || this.exitDescription !== undefined) return;
    this.signalGroup('SIGTERM');
    const escalation = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(escalation);
  }

  /** For exit handlers, which cannot wait. */
  killNow(): void {
    if (this.child !== undefined && this.exitDescription === undefined) this.signalGroup('SIGKILL');
  }

  logTail(lines: number): string {
    let text: string;
    try {
      text = readFileSync(this.logPath, 'utf8');
    } catch {
      text = '(no log)';
    }
    return `----- ${this.name} (${this.exitDescription ?? 'running'}), last ${lines} lines of ${this.logPath}\n${lastLines(text, lines)}`;
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }
}

// Children run in their own process groups, so neither a Ctrl-C nor our own exit reaches them:
// these handlers do, for every plane not yet stopped.
const livePlanes = new Set<PlaneResources>();
const EXIT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killAllNow(): void {
  for (const plane of livePlanes) {
    for (const p of plane.processes) p.killNow();
    rmSync(plane.dir, { recursive: true, force: true });
  }
  livePlanes.clear();
}

function onExitSignal(signal: NodeJS.Signals): void {
  killAllNow();
  removeExitHandlers();
  // Listening for a signal disables Node's default of exiting on it; restore that unless someone
  // else (e.g. the test runner) handles the signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let exitHandlersInstalled = false;

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', killAllNow);
  for (const s of EXIT_SIGNALS) process.on(s, onExitSignal);
}

function removeExitHandlers(): void {
  if (!exitHandlersInstalled) return;
  exitHandlersInstalled = false;
  process.off('exit', killAllNow);
  for (const s of EXIT_SIGNALS) process.off(s, onExitSignal);
}

interface CredentialFiles {
  certificates: { clusterCa: KeyPairPem; frontProxyCa: KeyPairPem };
  clusterCa: string;
  apiServerCert: string;
  apiServerKey: string;
  serviceAccountPublicKey: string;
  serviceAccountPrivateKey: string;
  frontProxyCa: string;
  proxyClientCert: string;
  proxyClientKey: string;
  kubeconfig: string;
  adminTls: TlsClient;
}

async function writeCredentials(dir: string, apiServerPort: number): Promise<CredentialFiles> {
  const pki = path.join(dir, 'pki');
  await mkdir(pki, { mode: 0o700 });
  const write = async (name: string, text: string): Promise<string> => {
    const file = path.join(pki, name);
    await writeFile(file, text, { mode: 0o600 });
    return file;
  };

  const clusterCa = createCertificateAuthority('queryscaler-test-cluster-ca');
  const apiServer = issueCertificate(clusterCa, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    // 10.96.0.1: the `kubernetes` Service's cluster IP, first of --service-cluster-ip-range.
    ipAddresses: ['127.0.0.1', '10.96.0.1'],
    usage: 'server',
  });
  const admin = issueCertificate(clusterCa, { commonName: 'queryscaler-test-admin', organizations: ['system:masters'], usage: 'client' });
  const frontProxyCa = createCertificateAuthority('queryscaler-test-front-proxy-ca');
  const proxyClient = issueCertificate(frontProxyCa, { commonName: FRONT_PROXY_CLIENT_NAME, usage: 'client' });
  const serviceAccount = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

  const base64 = (text: string): string => Buffer.from(text).toString('base64');
  const kubeconfig = YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'queryscaler-test', cluster: { server: `https://127.0.0.1:${apiServerPort}`, 'certificate-authority-data': base64(clusterCa.certPem) } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': base64(admin.certPem), 'client-key-data': base64(admin.keyPem) } }],
    contexts: [{ name: 'queryscaler-test', context: { cluster: 'queryscaler-test', user: 'admin', namespace: 'default' } }],
    'current-context': 'queryscaler-test',
  });

  return {
    certificates: { clusterCa, frontProxyCa },
    clusterCa: await write('cluster-ca.crt', clusterCa.certPem),
    apiServerCert: await write('apiserver.crt', apiServer.certPem),
    apiServerKey: await write('apiserver.key', apiServer.keyPem),
    serviceAccountPublicKey: await write('sa.pub', serviceAccount.publicKey),
    serviceAccountPrivateKey: await write('sa.key', serviceAccount.privateKey),
    frontProxyCa: await write('front-proxy-ca.crt', frontProxyCa.certPem),
    proxyClientCert: await write('front-proxy-client.crt', proxyClient.certPem),
    proxyClientKey: await write('front-proxy-client.key', proxyClient.keyPem),
    kubeconfig: await write('admin.kubeconfig', kubeconfig),
    adminTls: { ca: clusterCa.certPem, cert: admin.certPem, key: admin.keyPem },
  };
}

/**
 * Ports the kernel hands out now. Held open together so they differ; a process could still take
 * one before our child binds it, which on a test machine is rare enough to accept.
 */
async function freeLoopbackPorts<K extends string>(names: readonly K[]): Promise<Record<K, number>> {
  const servers = await Promise.all(
    names.map(() => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = {} as Record<K, number>;
  names.forEach((name, i) => {
    ports[name] = (servers[i]?.address() as AddressInfo).port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

async function waitUntil(what: string, timeoutMs: number, owner: ManagedProcess, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: string;
  for (;;) {
    if (owner.exitReason !== undefined) {
      throw new Error(`${owner.name} ended (${owner.exitReason}) while waiting for ${what}; see ${owner.logPath}`);
    }
    try {
      if (await ready()) return;
      lastError = 'not ready yet';
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${lastError}); see ${owner.logPath}`);
    }
    await delay(POLL_INTERVAL_MS);
  }
}

interface TlsClient {
  ca: string;
  cert: string;
  key: string;
}

interface HttpReply {
  status: number;
  body: string;
}

const REQUEST_TIMEOUT_MS = 5_000;

function httpGet(url: string): Promise<HttpReply> {
  return collect(http.get(url, { timeout: REQUEST_TIMEOUT_MS }));
}

function httpsGet(url: string, tls: TlsClient): Promise<HttpReply> {
  return collect(https.get(url, { ...tls, timeout: REQUEST_TIMEOUT_MS, agent: false }));
}

function collect(req: http.ClientRequest): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function lastLines(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
