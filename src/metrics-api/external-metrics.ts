// The external metrics endpoint's pure half: which ScaledObject a request's labelSelector names, and
// the HTTP answer for what the metric cache served.

import { SCALED_OBJECT_LABEL } from '../api/types.js';
import type { MetricRequest, ServedMetric } from '../metric-cache/types.js';
import { toQuantity } from '../quantity.js';
import { EXTERNAL_METRICS_GROUP_VERSION } from './discovery.js';
import { failureStatus, type Status } from './status-errors.js';

export interface ExternalMetricValue {
  metricName: string;
  metricLabels: Record<string, string>;
  /** RFC 3339 with whole seconds, as Go's metav1.Time writes it. */
  timestamp: string;
  value: string;
}

export interface ExternalMetricValueList {
  kind: 'ExternalMetricValueList';
  apiVersion: typeof EXTERNAL_METRICS_GROUP_VERSION;
  metadata: Record<string, never>;
  items: ExternalMetricValue[];
}

const SELECTOR_HINT = `add ?labelSelector=${SCALED_OBJECT_LABEL}=<ScaledObject name> (the HPA's External metric selector sets it)`;

/**
 * The ScaledObject named by `<label>=<name>`, `<label>==<name>` or `<label> in (<name>)` in a
 * label selector, like apimachinery's RequiresExactMatch; other requirements are ignored, as KEDA does.
 */
export function scaledObjectFromSelector(selector: unknown): { name: string } | { error: string } {
  if (typeof selector !== 'string' || selector.trim() === '') {
    return { error: `the request has no labelSelector; ${SELECTOR_HINT}` };
  }
  const names = new Set<string>();
  for (const requirement of splitRequirements(selector)) {
    const name = exactMatch(requirement);
    if (name !== undefined) names.add(name);
  }
  if (names.size === 0) {
    return { error: `labelSelector "${selector}" does not name a ScaledObject; ${SELECTOR_HINT}` };
  }
  if (names.size > 1) {
    return { error: `labelSelector "${selector}" names more than one ScaledObject (${[...names].join(', ')}); name exactly one` };
  }
  const [name = ''] = names;
  return name === '' ? { error: `labelSelector "${selector}" names an empty ScaledObject; ${SELECTOR_HINT}` } : { name };
}

/** Top-level comma split: the commas inside `in (a,b)` belong to one requirement. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current.trim());
  return parts;
}

function exactMatch(requirement: string): string | undefined {
  const equality = /^(\S+?)\s*={1,2}\s*(\S*)$/.exec(requirement);
  if (equality !== null && equality[1] === SCALED_OBJECT_LABEL) {
    return equality[2];
  }
  const inSet = /^(\S+)\s+in\s+\(\s*([^,()\s]+)\s*\)$/.exec(requirement);
  if (inSet !== null && inSet[1] === SCALED_OBJECT_LABEL) {
    return inSet[2];
  }
  return undefined;
}

export function rfc3339Seconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The HTTP status and body for what the cache served; never a stack trace. */
export function externalMetricAnswer(served: ServedMetric, request: MetricRequest, servedMetricNames: readonly string[]): { code: number; body: ExternalMetricValueList | Status } {
  const object = `${request.namespace}/${request.scaledObject}`;
  switch (served.kind) {
    case 'value':
      return {
        code: 200,
        body: {
          kind: 'ExternalMetricValueList',
          apiVersion: EXTERNAL_METRICS_GROUP_VERSION,
          metadata: {},
          items: [{ metricName: request.metricName, metricLabels: {}, timestamp: rfc3339Seconds(served.timestamp), value: toQuantity(served.value) }],
        },
      };
    case 'unknown-scaledobject':
      return {
        code: 404,
        body: failureStatus(
          'NotFound',
          `ScaledObject ${object} is not served by queryscaler: it does not exist or is not Ready yet; see kubectl describe scaledobject ${request.scaledObject} -n ${request.namespace}`,
        ),
      };
    case 'unknown-metric':
      return {
        code: 404,
        body: failureStatus(
          'NotFound',
          `ScaledObject ${object} has no external metric "${request.metricName}"; it serves: ${servedMetricNames.length === 0 ? '(none)' : servedMetricNames.join(', ')}`,
        ),
      };
    case 'error':
      return { code: 500, body: failureStatus('InternalError', `unable to get external metric ${request.metricName} of ScaledObject ${object}: ${served.reason}: ${served.message}`) };
    case 'unavailable':
      return { code: 503, body: failureStatus('ServiceUnavailable', `unable to get external metric ${request.metricName} of ScaledObject ${object}: ${served.message}`) };
  }
}
