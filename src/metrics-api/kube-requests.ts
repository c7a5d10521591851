// The metrics API's two calls to kube-apiserver; everything that decides what to do with the answers
// is pure and lives beside (authorization.ts, request-header.ts).

import { AuthorizationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ReviewFunction } from './authorization.js';
import { AUTHENTICATION_CONFIGMAP_NAME, AUTHENTICATION_CONFIGMAP_NAMESPACE, requestHeaderConfigFromData, type RequestHeaderConfig } from './request-header.js';

/** Posts a SubjectAccessReview; needs RBAC `create` on authorization.k8s.io subjectaccessreviews. */
export function subjectAccessReviewer(kubeConfig: KubeConfig): ReviewFunction {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  return async (spec) => (await api.createSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec } })).status;
}

/** Needs RBAC `get` on ConfigMap kube-system/extension-apiserver-authentication (the extension-apiserver-authentication-reader Role). */
export async function readRequestHeaderConfig(kubeConfig: KubeConfig): Promise<RequestHeaderConfig> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const configMap = await core.readNamespacedConfigMap({ name: AUTHENTICATION_CONFIGMAP_NAME, namespace: AUTHENTICATION_CONFIGMAP_NAMESPACE });
  return requestHeaderConfigFromData(configMap.data);
}
