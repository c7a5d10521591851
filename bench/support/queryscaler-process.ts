// queryscaler as a process of its own (node --import tsx src/main.ts, or the compiled
// dist/src/main.js as the image runs it), so that its RSS and CPU can be read from /proc apart from
// the benchmark's: started with the flags a benchmark gives, ready
// once it serves /metrics, stopped with SIGTERM (SIGKILL after 15 s), its log kept in a file.
// Also the small waits and HTTP reads the benchmarks around it share.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorText } from './harness.js';
import { parseExposition, type Sample } from './prometheus-text.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const COMPILED_MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

export interface QueryscalerProcess {
  pid: number;
  metricsPort: number;
  scrape(): Promise<Sample[]>;
  stop(): Promise<void>;
}

export interface QueryscalerProcessOptions {
  kubeconfigPath: string;
  /** Holds tls.crt and tls.key (the serving certificate); the log is written here on stop. */
  dir: string;
  logName: string;
  /** Flags beyond the kubeconfig, ports, certificate and log level. */
  args: readonly string[];
  interrupted: AbortSignal;
  /**
   * `dist`: the compiled dist/src/main.js (npm run build first), without tsx compiling at start,
   * whose garbage otherwise dwarfs a memory figure. Default `source`.
   */
  entry?: 'source' | 'dist';
  /** Node options before the entry (e.g. --expose-gc), and variables added to the environment. */
  nodeArgs?: readonly string[];
  env?: Readonly<Record<string, string>>;
}

export async function startQueryscalerProcess(options: QueryscalerProcessOptions): Promise<QueryscalerProcess> {
  const [metricsPort, prometheusPort] = [await freePort(), await freePort()];
  const logPath = path.join(options.dir, options.logName);
  const entry = options.entry === 'dist' ? [COMPILED_MAIN] : ['--import', 'tsx', MAIN];
  if (options.entry === 'dist' && !existsSync(COMPILED_MAIN)) throw new Error(`${COMPILED_MAIN} does not exist: run npm run build first`);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      ...entry,
      '--kubeconfig',
      options.kubeconfigPath,
      '--metrics-host',
      '127.0.0.1',
      '--metrics-port',
      String(metricsPort),
      '--prometheus-port',
      String(prometheusPort),
      '--tls-cert-file',
      path.join(options.dir, 'tls.crt'),
      '--tls-key-file',
      path.join(options.dir, 'tls.key'),
      '--log-level',
      'warn',
      ...options.args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.dirname(MAIN), env: { ...process.env, ...options.env } },
  );
  let log = '';
  const keep = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
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
    await writeFile(logPath, log).catch(() => undefined);
  };
  const scrape = async (): Promise<Sample[]> => parseExposition(await httpGet(`http://127.0.0.1:${prometheusPort}/metrics`));
  try {
    await until(async () => (await httpGet(`http://127.0.0.1:${prometheusPort}/metrics`)).includes('queryscaler_kube_api_requests_total'), 60_000, 'queryscaler to serve /metrics', options.interrupted, () => log);
  } catch (error) {
    await stop();
    throw error;
  }
  if (child.pid === undefined) throw new Error('the queryscaler process has no pid');
  return { pid: child.pid, metricsPort, scrape, stop };
}

/** Polls `probe` every 500 ms until it says true; gives up after `timeoutMs` naming `what` and the last answer. */
export async function until(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  signal: AbortSignal,
  detail: () => string = () => '',
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    signal.throwIfAborted();
    try {
      if (await probe()) return;
      last = 'not yet';
    } catch (error) {
      last = errorText(error);
    }
    await sleep(500, signal);
  }
  throw new Error(`gave up after ${timeoutMs / 1000} s waiting for ${what} (last: ${last}) ${detail()}`.trim());
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

export function httpGet(url: string): Promise<string> {
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
