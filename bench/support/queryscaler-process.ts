// queryscaler as its own process for the benchmarks (so its RSS and CPU can be read from /proc, and
// so a benchmark can run another build of it): src/main.ts of a given tree, started with tsx on
// loopback ports, its log kept (the last 20,000 characters, written to a file when it stops) and
// handed line by line to whoever wants to read it.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { parseExposition, type Sample } from './prometheus-text.js';
import { until } from './waiting.js';

export interface QueryscalerProcessOptions {
  /**
   * The src/main.ts to run with tsx (its tree's node_modules provides tsx and the dependencies), or
   * a compiled dist/src/main.js run as it is: without tsx compiling at start, whose garbage otherwise
   * dwarfs a memory figure.
   */
  main: string;
  /** Node options before the entry (e.g. --expose-gc), and variables added to the environment. */
  nodeArgs?: readonly string[];
  env?: Readonly<Record<string, string>>;
  kubeconfigPath: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  /** Flags after the ports and TLS files, e.g. ['--mysql-pool-size', '4']. */
  flags: string[];
  /** Where the kept log goes on stop. */
  logPath: string;
  /** Each line of its output (one JSON object per line at any --log-level). */
  onLine?: (line: string) => void;
  interrupted: AbortSignal;
}

export interface QueryscalerProcess {
  pid: number;
  metricsPort: number;
  scrape(): Promise<Sample[]>;
  stop(): Promise<void>;
}

export async function startQueryscalerProcess(options: QueryscalerProcessOptions): Promise<QueryscalerProcess> {
  const [metricsPort, prometheusPort] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      ...(options.main.endsWith('.ts') ? ['--import', 'tsx'] : []),
      options.main,
      '--kubeconfig',
      options.kubeconfigPath,
      '--metrics-host',
      '127.0.0.1',
      '--metrics-port',
      String(metricsPort),
      '--prometheus-port',
      String(prometheusPort),
      '--tls-cert-file',
      options.tlsCertFile,
      '--tls-key-file',
      options.tlsKeyFile,
      ...options.flags,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.dirname(options.main), env: { ...process.env, ...options.env } },
  );
  let log = '';
  let partial = '';
  const keep = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    log = (log + text).slice(-20_000);
    if (options.onLine === undefined) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) options.onLine(line);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    await writeFile(options.logPath, log).catch(() => undefined);
  };
  const metricsUrl = `http://127.0.0.1:${prometheusPort}/metrics`;
  const scrape = async (): Promise<Sample[]> => parseExposition(await httpGet(metricsUrl));
  try {
    await until(async () => (await httpGet(metricsUrl)).includes('queryscaler_kube_api_requests_total'), 60_000, 'queryscaler to serve /metrics', options.interrupted, () => log);
  } catch (error) {
    await stop();
    throw error;
  }
  if (child.pid === undefined) throw new Error('the queryscaler process has no pid');
  return { pid: child.pid, metricsPort, scrape, stop };
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${response.statusCode}`))));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
