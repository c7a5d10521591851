// The HTTP client side of the metrics-api benchmark, run in a worker thread so that building
// requests and reading answers uses its own event loop, not the server's: the server's latency is
// what is measured, and on a shared thread the client's work would be counted as the server's.
// Closed loop: `concurrency` clients, each sending its next request when the last one is answered,
// over keep-alive TLS connections (one per client), as the aggregator keeps its connections open.

import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';

export interface CellRequest {
  port: number;
  path: string;
  headers: Record<string, string>;
  /** Trusts the server's self-signed serving certificate. */
  caPem: string;
  /** The front-proxy client certificate kube-apiserver would present. */
  certPem: string;
  keyPem: string;
  concurrency: number;
  /** Run, unmeasured, before the window: opens the connections, fills caches, warms the JIT. */
  warmupMs: number;
  /** The window ends at whichever comes first. */
  maxRequests: number;
  maxMs: number;
  /** Every measured answer must be 200 with a body containing this, or it counts as an error. */
  expectInBody: string;
  requestTimeoutMs: number;
}

export interface CellResult {
  /** Latency of each answered request in the window, ms, in completion order. */
  latenciesMs: number[];
  elapsedMs: number;
  warmupRequests: number;
  /** Answers that were not 200 with the expected body, or requests that failed. */
  errors: number;
  firstError?: string;
}

interface Window {
  deadline: number;
  maxRequests: number;
  started: number;
  latenciesMs: number[];
  errors: number;
  firstError?: string;
}

function get(agent: https.Agent, cell: CellRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      { agent, host: '127.0.0.1', port: cell.port, path: cell.path, method: 'GET', headers: cell.headers },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    request.setTimeout(cell.requestTimeoutMs, () => request.destroy(new Error(`GET ${cell.path} got no answer within ${cell.requestTimeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

async function client(agent: https.Agent, cell: CellRequest, window: Window): Promise<void> {
  while (window.started < window.maxRequests && performance.now() < window.deadline) {
    window.started += 1;
    const begun = performance.now();
    let failure: string | undefined;
    try {
      const answer = await get(agent, cell);
      if (answer.status !== 200 || !answer.body.includes(cell.expectInBody)) {
        failure = `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`;
      }
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    window.latenciesMs.push(performance.now() - begun);
    if (failure !== undefined) {
      window.errors += 1;
      window.firstError ??= failure;
    }
  }
}

async function runWindow(agent: https.Agent, cell: CellRequest, ms: number, maxRequests: number): Promise<Window & { elapsedMs: number }> {
  const begun = performance.now();
  const window: Window = { deadline: begun + ms, maxRequests, started: 0, latenciesMs: [], errors: 0 };
  await Promise.all(Array.from({ length: cell.concurrency }, () => client(agent, cell, window)));
  return { ...window, elapsedMs: performance.now() - begun };
}

export async function runCell(cell: CellRequest): Promise<CellResult> {
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: cell.concurrency,
    ca: cell.caPem,
    cert: cell.certPem,
    key: cell.keyPem,
  });
  try {
    const warmup = await runWindow(agent, cell, cell.warmupMs, Number.MAX_SAFE_INTEGER);
    if (warmup.errors > 0) {
      return { latenciesMs: [], elapsedMs: warmup.elapsedMs, warmupRequests: warmup.started, errors: warmup.errors, firstError: `during warm-up: ${warmup.firstError}` };
    }
    const measured = await runWindow(agent, cell, cell.maxMs, cell.maxRequests);
    return {
      latenciesMs: measured.latenciesMs,
      elapsedMs: measured.elapsedMs,
      warmupRequests: warmup.started,
      errors: measured.errors,
      ...(measured.firstError === undefined ? {} : { firstError: measured.firstError }),
    };
  } finally {
    agent.destroy();
  }
}

export type WorkerMessage = { kind: 'ready' } | { kind: 'done'; result: CellResult } | { kind: 'failed'; error: string };

// As a worker: says it is ready, then one answer per cell it is sent.
if (parentPort !== null) {
  const port = parentPort;
  const reply = (message: WorkerMessage): void => port.postMessage(message);
  port.on('message', (cell: CellRequest) => {
    runCell(cell).then(
      (result) => reply({ kind: 'done', result }),
      (error: unknown) => reply({ kind: 'failed', error: error instanceof Error ? error.message : String(error) }),
    );
  });
  reply({ kind: 'ready' });
}
