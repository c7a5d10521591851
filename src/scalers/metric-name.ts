// KEDA's External metric names, so HPAs and dashboards built for KEDA see the same names.

/** KEDA's kedautil.NormalizeString: characters not allowed in a metric name become '-'. */
export function normalizeMetricName(text: string): string {
  return text.replace(/[/.:%()]/g, '-');
}

/** KEDA's GenerateMetricNameWithIndex: `s<triggerIndex>-<normalized name>`. */
export function metricNameWithIndex(triggerIndex: number, name: string): string {
  return `s${triggerIndex}-${normalizeMetricName(name)}`;
}
