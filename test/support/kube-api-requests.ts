// queryscaler_kube_api_requests_total of one queryscaler instance, keyed `verb resource`
// (e.g. `patch scaledobjects/status`): what the tests and benchmarks that count API writes read.
import { KUBE_API_REQUESTS_METRIC, type QueryscalerMetrics } from '../../src/observability/prometheus-metrics.js';

export async function kubeApiRequests(metrics: QueryscalerMetrics): Promise<Map<string, number>> {
  const metric = metrics.registry.getSingleMetric(KUBE_API_REQUESTS_METRIC);
  const values = metric === undefined ? [] : (await metric.get()).values;
  return new Map(values.map((v) => [`${String(v.labels.verb)} ${String(v.labels.resource)}`, v.value]));
}
