// Serving one external metric: (namespace, ScaledObject, metric, signal) -> the HTTP answer, with the
// figures and log lines that say how fresh it was. Both ways into the server (the fast path and the
// Express route) call the same function, and a layer that forwards requests between replicas can
// wrap it.

import type { Logger } from 'pino';
import type { MetricCache } from '../metric-cache/metric-cache.js';
import type { MetricRequest, MetricSource, StaleReason } from '../metric-cache/types.js';
import { answerMetrics, type AnswerMetrics } from './answer-metrics.js';
import { externalMetricAnswer, type ExternalMetricValueList } from './external-metrics.js';
import type { Status } from './status-errors.js';

export interface MetricAnswer {
  code: number;
  body: ExternalMetricValueList | Status;
}

export type ServeMetric = (request: MetricRequest, signal: AbortSignal) => Promise<MetricAnswer>;

const STALE_MESSAGES: Readonly<Record<StaleReason, string>> = {
  'over-budget': 'metric answered with the cached value: the read for this request did not finish within the latency budget',
  'slow-read': 'metric answered with the cached value: its last read took longer than the latency budget',
  'use-cached-metrics': 'metric answered with the last poll\'s value (useCachedMetrics)',
};

/** This process's own cache as the source of metric values: a replica that owns every object it is asked about. */
export function cacheMetricSource(cache: MetricCache): MetricSource {
  return async (request, signal) => ({
    served: await cache.serve(request.namespace, request.scaledObject, request.metricName, signal),
    metricNames: cache.metricNames(request.namespace, request.scaledObject),
  });
}

export function metricServer(source: MetricSource, logger: Logger, figures: AnswerMetrics = answerMetrics()): ServeMetric {
  return async (request, signal) => {
    const { served, metricNames } = await source(request, signal);
    if (served.kind === 'value' && !served.fallback) figures.observeAge(Date.now() - served.timestamp.getTime());
    if (served.kind === 'value' && served.stale !== undefined) {
      const { reason, ageMs } = served.stale;
      figures.countStale(reason);
      // Over budget is news (the query was quick until now); the other two repeat on every request.
      const line = { namespace: request.namespace, scaledObject: request.scaledObject, metricName: request.metricName, ageMs };
      if (reason === 'over-budget') logger.warn(line, STALE_MESSAGES[reason]);
      else logger.debug(line, STALE_MESSAGES[reason]);
    }
    const answer = externalMetricAnswer(served, request, metricNames);
    figures.countAnswer(answer.code);
    if (answer.code >= 500) {
      logger.warn({ scaledObject: `${request.namespace}/${request.scaledObject}`, metricName: request.metricName, message: (answer.body as Status).message }, 'cannot serve external metric');
    }
    return answer;
  };
}
