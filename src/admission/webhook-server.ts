// The admission webhook's own HTTPS listener. kube-apiserver calls a webhook directly, with no
// front-proxy client certificate, so this sits on a port of its own, outside the metrics API's
// authentication. It needs none: it only answers whether a ScaledObject may be stored, from the
// controller's caches, and changes nothing. Every answer is a few milliseconds of in-memory work.
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { answerAdmissionReview } from './admission-review.js';
import type { AdmissionWorld } from './scaled-object-checks.js';

export const SCALED_OBJECT_WEBHOOK_PATH = '/validate-keda-sh-v1alpha1-scaledobject';

/** An AdmissionReview holds the object and the stored one, each at most etcd's 1.5 MiB. */
const MAX_REVIEW_BYTES = 4 * 1024 * 1024;

export interface WebhookServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  tls: { certPem: string; keyPem: string };
  world: AdmissionWorld;
  logger: Logger;
}

export interface WebhookServer {
  port: number;
  close(): Promise<void>;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { logger } = options;
  const server: Server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    handle(req, res, options).catch((error: unknown) => {
      // A fault of ours, not of the object: kube-apiserver then applies the failurePolicy.
      logger.error({ err: error instanceof Error ? error.message : String(error), path: req.url }, 'admission review failed');
      if (!res.headersSent) reply(res, 500, 'text/plain', 'internal error while reviewing; see the queryscaler log');
    });
  });
  // kube-apiserver waits timeoutSeconds at most; nothing here needs longer than a few.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  // once() rejects on 'error' (a port in use), so a failed listen fails the start.
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: options.host, port, path: SCALED_OBJECT_WEBHOOK_PATH }, 'admission webhook listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: WebhookServerOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'https://webhook').pathname;
  if (path === '/healthz' && req.method === 'GET') {
    reply(res, 200, 'text/plain', 'ok');
    return;
  }
  if (path !== SCALED_OBJECT_WEBHOOK_PATH) {
    reply(res, 404, 'text/plain', `no webhook at ${path}; ScaledObjects are reviewed at ${SCALED_OBJECT_WEBHOOK_PATH}`);
    return;
  }
  if (req.method !== 'POST') {
    reply(res, 405, 'text/plain', `${req.method ?? ''} is not supported; kube-apiserver POSTs an AdmissionReview`);
    return;
  }
  const started = performance.now();
  const text = await readBody(req);
  if (text === undefined) {
    res.setHeader('connection', 'close');
    reply(res, 413, 'text/plain', `an AdmissionReview of more than ${MAX_REVIEW_BYTES} bytes`);
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    reply(res, 400, 'text/plain', 'the body is not JSON');
    return;
  }
  const answer = answerAdmissionReview(body, options.world);
  if ('error' in answer) {
    reply(res, 400, 'text/plain', answer.error);
    return;
  }
  const { response } = answer.review;
  const request = (body as { request: { operation?: string; namespace?: string; name?: string } }).request;
  const line = {
    operation: request.operation,
    scaledObject: `${request.namespace ?? ''}/${request.name ?? ''}`,
    allowed: response.allowed,
    durationMs: Math.round((performance.now() - started) * 100) / 100,
    ...(response.status && { message: response.status.message }),
  };
  // A refusal is news to whoever applied the object, and worth a line; an admission is not.
  if (response.allowed) options.logger.debug(line, 'admission review');
  else options.logger.info(line, 'admission review refused');
  reply(res, 200, 'application/json', JSON.stringify(answer.review));
}

/** The body as text, or undefined when it is larger than an AdmissionReview can be. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REVIEW_BYTES) {
        // Answered at once; the rest is read and dropped, and the connection closed after the answer.
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
