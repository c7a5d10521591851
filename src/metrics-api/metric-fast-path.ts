// The HPA's metric requests, answered before Express: the same admission (authentication and the
// cached authorization), the same serving function and the same bytes, without Express's router and
// middleware stack, which cost more than the rest of a cached answer. Only the plain spelling of the
// metric path takes it: GET /apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>, with no
// percent-encoding and no trailing slash. Everything else (other methods and paths, and spellings
// Express's router would also match, such as a trailing slash) goes to Express as before.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Admission, AdmissionRequest } from './admission.js';
import { EXTERNAL_METRICS_GROUP_VERSION } from './discovery.js';
import { scaledObjectFromSelector } from './external-metrics.js';
import type { ServeMetric } from './metric-answer.js';
import { logRequest, sendInternalError, sendStatus, writeJson } from './responses.js';

const METRIC_PATH_PREFIX = `/apis/${EXTERNAL_METRICS_GROUP_VERSION}/namespaces/`;

export interface MetricPath {
  namespace: string;
  metricName: string;
}

/** The namespace and metric of the plain metric path; undefined for every other path. */
export function metricPath(path: string): MetricPath | undefined {
  if (!path.startsWith(METRIC_PATH_PREFIX)) return undefined;
  const rest = path.slice(METRIC_PATH_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1 || rest.includes('/', slash + 1) || rest.includes('%')) return undefined;
  return { namespace: rest.slice(0, slash), metricName: rest.slice(slash + 1) };
}

/**
 * Answers an admitted metric request: 400 for a labelSelector that names no single ScaledObject,
 * else what `serveMetric` says. A client that goes away before the answer stops the wait.
 */
export async function answerMetricRequest(res: ServerResponse, target: MetricPath, labelSelector: unknown, serveMetric: ServeMetric): Promise<void> {
  const selected = scaledObjectFromSelector(labelSelector);
  if ('error' in selected) {
    sendStatus(res, 'BadRequest', selected.error);
    return;
  }
  const abandoned = new AbortController();
  res.on('close', () => {
    if (!res.writableEnded) abandoned.abort(new Error('client closed the connection'));
  });
  const answer = await serveMetric({ namespace: target.namespace, scaledObject: selected.name, metricName: target.metricName }, abandoned.signal);
  writeJson(res, answer.code, answer.body);
}

export interface MetricFastPathOptions {
  admit: (request: AdmissionRequest) => Promise<Admission>;
  serveMetric: ServeMetric;
  logger: Logger;
}

/** A request handler that takes the plain metric GETs and returns false for everything else. */
export function metricFastPath(options: MetricFastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { admit, serveMetric, logger } = options;
  return (req, res) => {
    if (req.method !== 'GET') return false;
    const url = req.url ?? '';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const target = metricPath(path);
    if (target === undefined) return false;
    // Express's default ("simple") query parser is node:querystring too, so both read a query alike.
    const query = parseQuery(queryAt === -1 ? '' : url.slice(queryAt + 1));
    let user: string | undefined;
    logRequest(logger, req, res, path, () => user);
    const answer = async (): Promise<void> => {
      const admission = await admit({ socket: req.socket as TLSSocket, headers: req.headersDistinct, method: 'GET', path, query });
      user = admission.user?.username;
      if (admission.refused !== undefined) {
        sendStatus(res, admission.refused.reason, admission.refused.message);
        return;
      }
      await answerMetricRequest(res, target, query['labelSelector'], serveMetric);
    };
    answer().catch((error: unknown) => sendInternalError(logger, res, 'GET', path, error));
    return true;
  };
}
