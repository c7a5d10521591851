// How this server writes its answers and logs its requests, for the Express app and the metric fast
// path alike: JSON with the headers Express's res.json gives (so both paths answer byte for byte
// the same), a Kubernetes Status for every failure, one JSON log line per request.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { errorText } from './error-text.js';
import { failureStatus, type StatusReason } from './status-errors.js';

export function writeJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendStatus(res: ServerResponse, reason: StatusReason, message: string): void {
  const status = failureStatus(reason, message);
  writeJson(res, status.code, status);
}

/** The answer to a request whose handling threw: logged, and a Status without the details. */
export function sendInternalError(logger: Logger, res: ServerResponse, method: string, path: string, error: unknown): void {
  logger.warn({ err: errorText(error), method, path }, 'request failed');
  if (!res.headersSent) sendStatus(res, 'InternalError', `internal error while serving ${method} ${path}; see the queryscaler log`);
}

/**
 * One JSON line per request once it is answered, at debug (the aggregator polls discovery
 * constantly); server errors at warn. `user` is asked at the end: it is known only after authentication.
 */
export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, path: string, user: () => string | undefined): void {
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const line = { method: req.method, path, status: res.statusCode, user: user(), durationMs: Number(process.hrtime.bigint() - started) / 1e6 };
    if (res.statusCode >= 500) logger.warn(line, 'request');
    else logger.debug(line, 'request');
  });
}
