// Discovery documents for external.metrics.k8s.io/v1beta1, shaped as KEDA's (custom-metrics-apiserver)
// answers, so the aggregator's discovery merge and the HPA's REST mapper see a familiar server.

export const EXTERNAL_METRICS_GROUP = 'external.metrics.k8s.io';
export const EXTERNAL_METRICS_VERSION = 'v1beta1';
export const EXTERNAL_METRICS_GROUP_VERSION = `${EXTERNAL_METRICS_GROUP}/${EXTERNAL_METRICS_VERSION}`;

const GROUP_VERSION_FOR_DISCOVERY = { groupVersion: EXTERNAL_METRICS_GROUP_VERSION, version: EXTERNAL_METRICS_VERSION };

function group(): { name: string; versions: Array<typeof GROUP_VERSION_FOR_DISCOVERY>; preferredVersion: typeof GROUP_VERSION_FOR_DISCOVERY } {
  return { name: EXTERNAL_METRICS_GROUP, versions: [GROUP_VERSION_FOR_DISCOVERY], preferredVersion: GROUP_VERSION_FOR_DISCOVERY };
}

/** GET /apis */
export function apiGroupList(): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [group()] };
}

/** GET /apis/external.metrics.k8s.io */
export function apiGroup(): object {
  return { kind: 'APIGroup', apiVersion: 'v1', ...group() };
}

/** GET /apis/external.metrics.k8s.io/v1beta1 */
export function apiResourceList(): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: EXTERNAL_METRICS_GROUP_VERSION,
    resources: [{ name: 'externalmetrics', singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] }],
  };
}
