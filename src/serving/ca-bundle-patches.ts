// What to write so that kube-apiserver verifies queryscaler's serving certificate with its CA: the
// caBundle of the external-metrics APIService and of every webhook in queryscaler's
// ValidatingWebhookConfiguration. Pure: objects in, patches out.
//
// The APIService is written only while it points at queryscaler's own Service. Taking over KEDA's
// APIService is `kubectl apply -k manifests/`'s job (it points the APIService here, and its caBundle
// is then KEDA's until this replaces it); one that points elsewhere (KEDA installed again) is left
// alone, so the two never take turns rewriting it.

export interface ServiceReference {
  namespace: string;
  name: string;
}

export interface ApiServiceObject {
  metadata: { name: string; resourceVersion?: string };
  spec?: { service?: { namespace?: string; name?: string } | null; caBundle?: string; insecureSkipTLSVerify?: boolean };
}

export interface WebhookConfigurationObject {
  metadata: { name: string; resourceVersion?: string };
  webhooks?: Array<{ name: string; clientConfig?: { caBundle?: string } }>;
}

export type CaBundleDecision<Patch> = { action: 'none' } | { action: 'skip'; why: string } | { action: 'patch'; patch: Patch };

/** base64 of the PEM, as caBundle holds it. */
export function caBundleOf(caPem: string): string {
  return Buffer.from(caPem).toString('base64');
}

/** A merge patch whose resourceVersion makes it fail (409) if the APIService changed since it was read. */
export function apiServiceCaBundlePatch(
  apiService: ApiServiceObject,
  caBundle: string,
  service: ServiceReference,
): CaBundleDecision<Record<string, unknown>> {
  const pointsAt = apiService.spec?.service;
  if (pointsAt?.namespace !== service.namespace || pointsAt?.name !== service.name) {
    const where = pointsAt ? `Service ${pointsAt.namespace ?? ''}/${pointsAt.name ?? ''}` : 'no Service';
    return {
      action: 'skip',
      why:
        `APIService ${apiService.metadata.name} points at ${where}, not at queryscaler's ${service.namespace}/${service.name}: ` +
        'its caBundle is left alone (apply manifests/ to make queryscaler its server)',
    };
  }
  if (apiService.spec?.caBundle === caBundle && apiService.spec.insecureSkipTLSVerify !== true) return { action: 'none' };
  return {
    action: 'patch',
    patch: {
      metadata: { resourceVersion: apiService.metadata.resourceVersion },
      // insecureSkipTLSVerify may not be true beside a caBundle: null removes it.
      spec: { caBundle, insecureSkipTLSVerify: null },
    },
  };
}

/** A JSON patch giving every webhook the caBundle; it fails (422) if the list changed since it was read. */
export function webhookConfigurationCaBundlePatch(
  configuration: WebhookConfigurationObject,
  caBundle: string,
): CaBundleDecision<Array<Record<string, unknown>>> {
  const webhooks = configuration.webhooks ?? [];
  if (webhooks.length === 0) return { action: 'skip', why: `ValidatingWebhookConfiguration ${configuration.metadata.name} has no webhooks` };
  const stale = webhooks.flatMap((webhook, index) => (webhook.clientConfig?.caBundle === caBundle ? [] : [{ webhook, index }]));
  if (stale.length === 0) return { action: 'none' };
  return {
    action: 'patch',
    patch: [
      { op: 'test', path: '/metadata/resourceVersion', value: configuration.metadata.resourceVersion },
      ...stale.flatMap(({ webhook, index }) => [
        { op: 'test', path: `/webhooks/${index}/name`, value: webhook.name },
        { op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle },
      ]),
    ],
  };
}
