import { expect } from 'chai';
import { apiServiceCaBundlePatch, caBundleOf, webhookConfigurationCaBundlePatch, type ApiServiceObject } from '../../src/serving/ca-bundle-patches.js';

const OURS = { namespace: 'queryscaler', name: 'queryscaler-metrics-apiserver' };
const CA = caBundleOf('-----BEGIN CERTIFICATE-----\nours\n-----END CERTIFICATE-----\n');

function apiService(spec: ApiServiceObject['spec']): ApiServiceObject {
  return { metadata: { name: 'v1beta1.external.metrics.k8s.io', resourceVersion: '42' }, spec };
}

describe('apiServiceCaBundlePatch', () => {
  it('writes the CA over another one (KEDA\'s, once manifests/ pointed the APIService here), guarded by resourceVersion', () => {
    expect(apiServiceCaBundlePatch(apiService({ service: OURS, caBundle: caBundleOf('keda-ca') }), CA, OURS)).to.deep.equal({
      action: 'patch',
      patch: { metadata: { resourceVersion: '42' }, spec: { caBundle: CA, insecureSkipTLSVerify: null } },
    });
  });

  it('removes insecureSkipTLSVerify, which may not be true beside a caBundle', () => {
    expect(apiServiceCaBundlePatch(apiService({ service: OURS, caBundle: CA, insecureSkipTLSVerify: true }), CA, OURS).action).to.equal('patch');
  });

  it('writes nothing when the CA is there already', () => {
    expect(apiServiceCaBundlePatch(apiService({ service: OURS, caBundle: CA }), CA, OURS)).to.deep.equal({ action: 'none' });
  });

  it('leaves an APIService that points at another Service (KEDA\'s) alone, and says so', () => {
    expect(apiServiceCaBundlePatch(apiService({ service: { namespace: 'keda', name: 'keda-operator-metrics-apiserver' }, caBundle: 'x' }), CA, OURS)).to.deep.equal({
      action: 'skip',
      why:
        'APIService v1beta1.external.metrics.k8s.io points at Service keda/keda-operator-metrics-apiserver, not at queryscaler\'s ' +
        'queryscaler/queryscaler-metrics-apiserver: its caBundle is left alone (apply manifests/ to make queryscaler its server)',
    });
    expect(apiServiceCaBundlePatch(apiService({}), CA, OURS).action).to.equal('skip');
  });
});

describe('webhookConfigurationCaBundlePatch', () => {
  const configuration = (bundles: Array<string | undefined>) => ({
    metadata: { name: 'queryscaler', resourceVersion: '7' },
    webhooks: bundles.map((caBundle, i) => ({ name: `w${i}.queryscaler.keda.sh`, clientConfig: caBundle === undefined ? {} : { caBundle } })),
  });

  it('gives every webhook without the CA the CA, each guarded by its name', () => {
    expect(webhookConfigurationCaBundlePatch(configuration([undefined, CA, 'old']), CA)).to.deep.equal({
      action: 'patch',
      patch: [
        { op: 'test', path: '/metadata/resourceVersion', value: '7' },
        { op: 'test', path: '/webhooks/0/name', value: 'w0.queryscaler.keda.sh' },
        { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: CA },
        { op: 'test', path: '/webhooks/2/name', value: 'w2.queryscaler.keda.sh' },
        { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: CA },
      ],
    });
  });

  it('writes nothing when every webhook has it, and says when there are no webhooks', () => {
    expect(webhookConfigurationCaBundlePatch(configuration([CA, CA]), CA)).to.deep.equal({ action: 'none' });
    expect(webhookConfigurationCaBundlePatch(configuration([]), CA)).to.deep.equal({ action: 'skip', why: 'ValidatingWebhookConfiguration queryscaler has no webhooks' });
  });
});
