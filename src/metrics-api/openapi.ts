// Minimal OpenAPI documents. The aggregator downloads /openapi/v2 and /openapi/v3 from every
// APIService and logs and retries when either fails; a valid empty document keeps it content. The
// metric values are not described: no client generates code against them.

import { EXTERNAL_METRICS_GROUP_VERSION } from './discovery.js';

const INFO = { title: 'queryscaler external metrics', version: EXTERNAL_METRICS_GROUP_VERSION };

/** GET /openapi/v2 */
export function openApiV2(): object {
  return { swagger: '2.0', info: INFO, paths: {}, definitions: {} };
}

export const OPENAPI_V3_GROUP_VERSION_PATH = `apis/${EXTERNAL_METRICS_GROUP_VERSION}`;

/** GET /openapi/v3: the index the aggregator follows to each group-version document. */
export function openApiV3Index(): object {
  return { paths: { [OPENAPI_V3_GROUP_VERSION_PATH]: { serverRelativeURL: `/openapi/v3/${OPENAPI_V3_GROUP_VERSION_PATH}` } } };
}

/** GET /openapi/v3/apis/external.metrics.k8s.io/v1beta1 */
export function openApiV3GroupVersion(): object {
  return { openapi: '3.0.0', info: INFO, paths: {}, components: { schemas: {} } };
}
