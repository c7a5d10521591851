// The names a ScaledObject becomes in other objects, checked against what the API server accepts
// there, so that a name too long is refused with its fix instead of an HPA create failing with a
// 422 on every reconcile (or a 100 KB HPA being stored):
// - the HPA's name (`keda-hpa-<name>`, or horizontalPodAutoscalerConfig.name) must be a DNS
//   subdomain, and it is also the value of the HPA's label app.kubernetes.io/name: at most 63;
// - the ScaledObject's name is the value of the HPA's labels app.kubernetes.io/part-of and
//   scaledobject.keda.sh/name, and of its metrics' selector: at most 63;
// - an External metric name has no limit in the API, but it is copied into the HPA, the status and
//   every metric request: queryscaler allows the longest object name Kubernetes has, 253.
// KEDA refuses a ScaledObject name over 54 characters in its webhook only; queryscaler says the
// same at reconcile, and accepts up to 63 when horizontalPodAutoscalerConfig.name is short. Pure.
import { SCALED_OBJECT_LABEL, type ScaledObject } from '../api/types.js';
import { HPA_NAME_PREFIX, hpaName } from './desired-hpa.js';

const LABEL_VALUE_MAX = 63;
const DNS_SUBDOMAIN_MAX = 253;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const METRIC_NAME_MAX = 253;
const HPA_NAME_FIELD = 'spec.advanced.horizontalPodAutoscalerConfig.name';

/** Why the HPA this ScaledObject makes could not carry its name or labels, or undefined. */
export function hpaNameProblem(so: ScaledObject): string | undefined {
  const name = so.metadata.name;
  const configured = so.spec.advanced?.horizontalPodAutoscalerConfig?.name;
  const shortest = LABEL_VALUE_MAX - HPA_NAME_PREFIX.length;
  if (name.length > LABEL_VALUE_MAX) {
    return (
      `metadata.name is ${name.length} characters long, and queryscaler puts it in labels of the HorizontalPodAutoscaler it makes ` +
      `(app.kubernetes.io/part-of, ${SCALED_OBJECT_LABEL}), which hold at most ${LABEL_VALUE_MAX}: use a name of at most ` +
      `${shortest} characters (${LABEL_VALUE_MAX} with a shorter ${HPA_NAME_FIELD})`
    );
  }
  const hpa = hpaName(so);
  if (configured === undefined) {
    if (hpa.length <= LABEL_VALUE_MAX) return undefined;
    return (
      `metadata.name is ${name.length} characters long, so the HorizontalPodAutoscaler ${HPA_NAME_PREFIX}<name> would be ${hpa.length}, ` +
      `and its name is also the value of its label app.kubernetes.io/name, which holds at most ${LABEL_VALUE_MAX}: ` +
      `use a name of at most ${shortest} characters, or name the HPA with ${HPA_NAME_FIELD}`
    );
  }
  if (hpa.length > DNS_SUBDOMAIN_MAX || !DNS_SUBDOMAIN.test(hpa)) {
    return (
      `${HPA_NAME_FIELD} is ${JSON.stringify(hpa.length > 80 ? `${hpa.slice(0, 80)}...` : hpa)}, which is not a valid ` +
      'HorizontalPodAutoscaler name: use lowercase letters, digits, "-" and ".", starting and ending with a letter or digit'
    );
  }
  if (hpa.length > LABEL_VALUE_MAX) {
    return (
      `${HPA_NAME_FIELD} is ${hpa.length} characters long, and the HPA's name is also the value of its label ` +
      `app.kubernetes.io/name, which holds at most ${LABEL_VALUE_MAX}: use a shorter name`
    );
  }
  return undefined;
}

/** Why a trigger's External metric name is refused, or undefined. */
export function metricNameProblem(triggerIndex: number, metricName: string): string | undefined {
  if (metricName.length <= METRIC_NAME_MAX) return undefined;
  return (
    `triggers[${triggerIndex}] makes the metric name "${metricName.slice(0, 40)}..." of ${metricName.length} characters, ` +
    `and queryscaler allows at most ${METRIC_NAME_MAX} (the name goes into the HPA, the status and every metric request): ` +
    'shorten the trigger parameters it is made of'
  );
}
