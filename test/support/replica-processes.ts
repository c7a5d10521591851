// queryscaler replicas as separate processes (`node src/main.ts`), each on its own loopback port,
// sharing one serving certificate and the Leases of one namespace: what issue 15's tests need to
// kill one with SIGKILL, stop one with SIGTERM, and ask each for metrics the way the aggregator does.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../../src/tls/certificates.js';
import { FRONT_PROXY_CLIENT_NAME, type ControlPlane } from './control-plane.js';
import { waitFor } from './kube.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const SERVICE_DNS_NAME = 'queryscaler-metrics-apiserver.default.svc';

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ReplicaProcess {
  identity: string;
  port: number;
  prometheusPort: number;
  child: ChildProcess;
  logPath: string;
  exited: Promise<number | null>;
}

export interface ReplicaSetOptions {
  cp: ControlPlane;
  /** Where the Leases live, and where ClusterTriggerAuthentications read. */
  namespace: string;
  shards?: number;
  extraArgs?: string[];
}

export class ReplicaSet {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'queryscaler-replicas-'));
  readonly ca: KeyPairPem = createCertificateAuthority('queryscaler-test-serving-ca');
  readonly serving: KeyPairPem;
  readonly replicas = new Map<string, ReplicaProcess>();
  private readonly proxyClient: KeyPairPem;
  private readonly agent = new https.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(private readonly options: ReplicaSetOptions) {
    this.serving = issueCertificate(this.ca, { commonName: 'queryscaler', dnsNames: [SERVICE_DNS_NAME, 'localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    writeFileSync(path.join(this.dir, 'tls.crt'), this.serving.certPem);
    writeFileSync(path.join(this.dir, 'tls.key'), this.serving.keyPem);
    writeFileSync(path.join(this.dir, 'ca.crt'), this.ca.certPem);
    this.proxyClient = issueCertificate(options.cp.frontProxyCa, { commonName: FRONT_PROXY_CLIENT_NAME, usage: 'client' });
  }

  /** Starts a replica and waits until its /readyz says ok (caches synced, member of the replica set). */
  async start(identity: string): Promise<ReplicaProcess> {
    const [port, prometheusPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
    const logPath = path.join(this.dir, `${identity}.log`);
    const log = openSync(logPath, 'a');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        `--kubeconfig=${this.options.cp.kubeconfigPath}`,
        '--metrics-host=127.0.0.1',
        '--webhook-port=0',
        `--metrics-port=${port}`,
        `--prometheus-port=${prometheusPort}`,
        `--tls-cert-file=${path.join(this.dir, 'tls.crt')}`,
        `--tls-key-file=${path.join(this.dir, 'tls.key')}`,
        `--tls-ca-file=${path.join(this.dir, 'ca.crt')}`,
        `--shards=${this.options.shards ?? 16}`,
        `--lease-namespace=${this.options.namespace}`,
        `--identity=${identity}`,
        `--peer-address=https://127.0.0.1:${port}`,
        `--cluster-trigger-authentication-namespace=${this.options.namespace}`,
        `--log-level=${process.env.QUERYSCALER_TEST_LOG ?? 'info'}`,
        ...(this.options.extraArgs ?? []),
      ],
      { stdio: ['ignore', log, log], env: { ...process.env, POD_NAMESPACE: this.options.namespace } },
    );
    closeSync(log);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const replica: ReplicaProcess = { identity, port, prometheusPort, child, logPath, exited };
    this.replicas.set(identity, replica);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`replica ${identity} exited with ${child.exitCode}: ${this.logTail(identity)}`);
        return (await this.get(port, '/readyz')).status === 200;
      },
      { what: () => `replica ${identity} ready; its log: ${this.logTail(identity)}`, timeoutMs: 60_000, intervalMs: 250 },
    );
    return replica;
  }

  /** SIGKILL: no handover, its Leases expire on their own. */
  async kill(identity: string): Promise<void> {
    const replica = this.replicas.get(identity);
    if (replica === undefined) return;
    replica.child.kill('SIGKILL');
    await replica.exited;
    this.replicas.delete(identity);
  }

  /**
   * SIGTERM: the replica hands its shards over and exits. It leaves `replicas` first, as a
   * terminating pod leaves its Service's endpoints, so nothing is sent to it meanwhile.
   */
  async stop(identity: string): Promise<number | null> {
    const replica = this.replicas.get(identity);
    if (replica === undefined) return null;
    this.replicas.delete(identity);
    replica.child.kill('SIGTERM');
    return replica.exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.replicas.keys()].map((identity) => this.stop(identity)));
    this.agent.destroy();
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  logTail(identity: string, lines = 30): string {
    const replica = this.replicas.get(identity);
    const file = replica?.logPath ?? path.join(this.dir, `${identity}.log`);
    try {
      return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** A metric request straight to one replica, as the aggregator sends it (front-proxy client certificate and user headers). */
  metric(port: number, namespace: string, scaledObject: string, metricName: string): Promise<{ status: number; body: string; ms: number }> {
    const query = encodeURIComponent(`scaledobject.keda.sh/name=${scaledObject}`);
    return this.get(port, `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${metricName}?labelSelector=${query}`, {
      'X-Remote-User': 'admin',
      'X-Remote-Group': 'system:masters',
    });
  }

  /** The replica's /metrics text. */
  scrape(identity: string): Promise<string> {
    const replica = this.replicas.get(identity);
    if (replica === undefined) throw new Error(`no replica ${identity}`);
    return new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: replica.prometheusPort, path: '/metrics' }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
  }

  /** The replica's Prometheus counter `name` summed over series whose labels include `labels`. */
  async counter(identity: string, name: string, labels: Record<string, string> = {}): Promise<number> {
    let sum = 0;
    for (const line of (await this.scrape(identity)).split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  private get(port: number, requestPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; ms: number }> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const request = https.request(
        {
          host: '127.0.0.1',
          port,
          path: requestPath,
          ca: this.ca.certPem,
          servername: SERVICE_DNS_NAME,
          cert: this.proxyClient.certPem,
          key: this.proxyClient.keyPem,
          headers,
          agent: this.agent,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body, ms: performance.now() - started }));
        },
      );
      request.setTimeout(10_000, () => request.destroy(new Error(`GET ${requestPath} on port ${port} timed out`)));
      request.on('error', reject);
      request.end();
    });
  }
}
