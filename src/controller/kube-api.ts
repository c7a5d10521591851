// The controller's one door to the API server: plain HTTPS with the kubeconfig's credentials, a
// token bucket so a burst of reconciles cannot flood the server, and a request counter per verb and
// resource. Watches stream newline-delimited JSON and are bounded by the caller's timeoutSeconds.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { QueryscalerMetrics } from '../observability/prometheus-metrics.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export type PatchType = 'merge' | 'json' | 'strategic';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** A non-2xx answer of the API server, with the Status it returned. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.statusCode === 404;
}

export function isForbidden(error: unknown): error is KubeApiError {
  return error instanceof KubeApiError && error.statusCode === 403;
}

export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.statusCode === 409;
}

/**
 * Steady state needs no API requests at all (writes happen only on change); these bound bursts such
 * as 300 ScaledObjects applied at once, about 6 requests each, which get their HPAs and Ready=True
 * in under 20 s at 100/s (bench/RESULTS.md) where KEDA's 20/s would take 90 s.
 */
export const DEFAULT_API_QPS = 100;
export const DEFAULT_API_BURST = 200;

/** Refills `qps` tokens a second up to `burst`; callers wait for a token in FIFO order. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(signal?: AbortSignal): Promise<void> {
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted while waiting for an API token'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.schedule();
    });
  }

  /** Releases waiters (they proceed unthrottled) so shutdown never hangs on the bucket. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  private schedule(): void {
    if (this.timer) return;
    this.refill();
    const waitMs = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.qps) * 1000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.waiters.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        this.waiters.shift()?.();
      }
      if (this.waiters.length > 0) this.schedule();
    }, waitMs);
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  patchType?: PatchType;
  signal?: AbortSignal;
  /** Per-request time limit; the default keeps a hung server from holding a worker. */
  timeoutMs?: number;
  /** The Accept header; application/json unless asking for metadata only (PartialObjectMetadata). */
  accept?: string;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export interface KubeApiOptions {
  qps?: number;
  burst?: number;
  /** Counts every request (queryscaler_kube_api_requests_total); uncounted when absent. */
  metrics?: QueryscalerMetrics;
}

/** The resource a path names, for the request counter: `/apis/apps/v1/namespaces/x/statefulsets/y/scale` -> `statefulsets/scale`. */
export function resourceOfPath(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter((p) => p !== '');
  // Drop the prefix: api/v1 or apis/<group>/<version>.
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest.splice(0, 2);
  const resource = rest[0] ?? 'discovery';
  const sub = rest[2];
  return sub ? `${resource}/${sub}` : resource;
}

export class KubeApi {
  private readonly server: URL;
  private readonly bucket: TokenBucket;
  private readonly metrics: QueryscalerMetrics | undefined;
  private readonly agent: http.Agent;
  private readonly watchAgent: http.Agent;
  private baseOptions: https.RequestOptions | undefined;

  constructor(
    private readonly kubeConfig: KubeConfig,
    options: KubeApiOptions = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster; set current-context to a context with a cluster');
    this.server = new URL(cluster.server);
    this.bucket = new TokenBucket(options.qps ?? DEFAULT_API_QPS, options.burst ?? DEFAULT_API_BURST);
    this.metrics = options.metrics;
    const AgentClass = this.server.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new AgentClass({ keepAlive: true, maxSockets: 16 });
    this.watchAgent = new AgentClass({ keepAlive: false });
  }

  async request<T>(verb: Verb, path: string, options: RequestOptions = {}): Promise<T> {
    await this.bucket.take(options.signal);
    this.metrics?.countKubeRequest(verb, resourceOfPath(path));
    const response = await this.send(verb, path, options, this.agent);
    const text = await readAll(response);
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return (text === '' ? undefined : JSON.parse(text)) as T;
    throw apiError(status, text, verb, path);
  }

  /**
   * Streams one watch until the server ends it (timeoutSeconds), the signal aborts, or the stream
   * stays silent for longer than the timeout plus a margin (a quiet, half-dead connection).
   */
  async watch(path: string, query: RequestOptions['query'], onEvent: (event: WatchEvent) => void, signal: AbortSignal, accept?: string): Promise<void> {
    await this.bucket.take(signal);
    this.metrics?.countKubeRequest('watch', resourceOfPath(path));
    const timeoutSeconds = Number(query?.timeoutSeconds ?? 300);
    const response = await this.send('watch', path, { query: { ...query, watch: true }, signal, timeoutMs: 30_000, ...(accept !== undefined && { accept }) }, this.watchAgent);
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiError(status, await readAll(response), 'watch', path);
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      const idleMs = (timeoutSeconds + 30) * 1000;
      let idle = setTimeout(onIdle, idleMs);
      function onIdle(): void {
        response.destroy(new Error(`watch ${path} was silent for ${idleMs / 1000}s`));
      }
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        clearTimeout(idle);
        idle = setTimeout(onIdle, idleMs);
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        try {
          while (newline >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (line !== '') onEvent(JSON.parse(line) as WatchEvent);
            newline = buffered.indexOf('\n');
          }
        } catch (error) {
          // A bad line or a handler that gives up ends this watch; the caller decides what next.
          response.destroy(error instanceof Error ? error : new Error(String(error)));
        }
      });
      response.on('end', () => {
        clearTimeout(idle);
        resolve();
      });
      response.on('error', (error) => {
        clearTimeout(idle);
        reject(error);
      });
      response.on('close', () => {
        clearTimeout(idle);
        if (signal.aborted) resolve();
        else if (!response.complete) reject(new Error(`watch ${path} closed before it ended`));
      });
    });
  }

  close(): void {
    this.bucket.close();
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  private async send(verb: Verb, path: string, options: RequestOptions, agent: http.Agent): Promise<http.IncomingMessage> {
    this.baseOptions ??= await this.credentials();
    const url = new URL(path, this.server);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const method = { get: 'GET', list: 'GET', watch: 'GET', create: 'POST', update: 'PUT', patch: 'PATCH', delete: 'DELETE' }[verb];
    const headers: Record<string, string> = { ...(this.baseOptions.headers as Record<string, string>), accept: options.accept ?? 'application/json' };
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] = verb === 'patch' ? PATCH_CONTENT_TYPES[options.patchType ?? 'merge'] : 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const transport = url.protocol === 'https:' ? https : http;
    const signal = options.signal
      ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs ?? 30_000)])
      : AbortSignal.timeout(options.timeoutMs ?? 30_000);
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = transport.request(
        url,
        // A watch lives for its timeoutSeconds, so only the caller's signal ends it.
        { ...this.baseOptions, method, headers, agent, signal: verb === 'watch' ? options.signal : signal },
        resolve,
      );
      request.on('error', (error) => reject(new Error(`${method} ${url.pathname} failed: ${error.message}`, { cause: error })));
      request.end(payload);
    });
  }

  private async credentials(): Promise<https.RequestOptions> {
    const options: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(options);
    return options;
  }
}

function readAll(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
  });
}

function apiError(status: number, text: string, verb: Verb, path: string): KubeApiError {
  let reason = 'Unknown';
  let message = text.slice(0, 500);
  let details: unknown;
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string; details?: unknown };
    reason = parsed.reason ?? reason;
    message = parsed.message ?? message;
    details = parsed.details;
  } catch {
    // Not a Status object (a proxy's HTML page, say): keep the raw text.
  }
  return new KubeApiError(status, reason, `${verb} ${path.split('?')[0]}: ${status} ${reason}: ${message}`, details);
}
