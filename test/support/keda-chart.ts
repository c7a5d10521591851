// A chart standing in for KEDA's (kedacore/charts keda 2.20.2) in what a migration meets: its
// release `keda` in namespace `keda` owns the keda.sh CRDs (KEDA's chart renders them as templates,
// not from crds/, so Helm records them in the release and `helm uninstall keda` deletes them), the
// APIService v1beta1.external.metrics.k8s.io pointing at keda/keda-operator-metrics-apiserver, and
// the operator and metrics-server Deployments. Names, labels and the APIService's spec are those
// KEDA's templates render with default values; the CRDs are queryscaler's less what KEDA's lack (the
// status fields value, lastMetricValue and lastMetricTime, and the VALUE column), so a test sees
// whether queryscaler's were applied over them. No Services: with no kube-proxy here, nothing
// may be sent to a cluster IP, and KEDA's APIService then stays unavailable ("service not found").
// KEDA's own caBundle is written into the APIService after the install, as KEDA's operator does.

import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';

export const KEDA_CHART_VERSION = '2.20.2';
export const KEDA_RELEASE = 'keda';
export const KEDA_NAMESPACE = 'keda';
export const KEDA_DEPLOYMENTS = ['keda-operator', 'keda-operator-metrics-apiserver'];

/** KEDA's "keda.crd-labels", and with "keda.labels" the release's instance too. */
const crdLabels = {
  'helm.sh/chart': `keda-${KEDA_CHART_VERSION}`,
  'app.kubernetes.io/component': 'operator',
  'app.kubernetes.io/managed-by': 'Helm',
  'app.kubernetes.io/part-of': 'keda-operator',
  'app.kubernetes.io/version': KEDA_CHART_VERSION,
};
const labels = { ...crdLabels, 'app.kubernetes.io/instance': KEDA_RELEASE };

type Crd = {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { versions: Array<{ additionalPrinterColumns?: Array<{ name: string }>; schema: { openAPIV3Schema: { properties: { status?: { properties: Record<string, unknown> } } } } }> };
};

/** KEDA's shape of a queryscaler CRD: KEDA's labels, and without queryscaler's own status fields and column. */
function asKedas(crd: Crd): Crd {
  crd.metadata.labels = { 'app.kubernetes.io/name': 'keda-operator', ...crdLabels };
  crd.metadata.annotations = { 'controller-gen.kubebuilder.io/version': 'v0.21.0' };
  for (const version of crd.spec.versions) {
    version.additionalPrinterColumns = version.additionalPrinterColumns?.filter((c) => c.name !== 'Value');
    const status = version.schema.openAPIV3Schema.properties.status;
    for (const field of ['value', 'lastMetricValue', 'lastMetricTime']) delete status?.properties[field];
  }
  return crd;
}

function deployment(name: string): object {
  const selector = { 'app.kubernetes.io/name': name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: KEDA_NAMESPACE, labels: { ...selector, ...labels } },
    spec: {
      replicas: 1,
      selector: { matchLabels: selector },
      template: { metadata: { labels: selector }, spec: { containers: [{ name, image: `registry.invalid/kedacore/${name}:${KEDA_CHART_VERSION}` }] } },
    },
  };
}

/** Writes the stand-in chart into `dir` (plain YAML templates, no template directives) and returns it. */
export async function writeKedaChart(dir: string, crdsDir: string): Promise<string> {
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), YAML.stringify({ apiVersion: 'v2', name: 'keda', version: KEDA_CHART_VERSION, appVersion: KEDA_CHART_VERSION }));
  const crds: string[] = [];
  for (const file of (await readdir(crdsDir)).filter((f) => f.endsWith('.yaml')).sort()) {
    crds.push(YAML.stringify(asKedas(YAML.parse(await readFile(path.join(crdsDir, file), 'utf8')) as Crd)));
  }
  await writeFile(path.join(dir, 'templates', 'crds.yaml'), crds.join('---\n'));
  const apiService = {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: 'v1beta1.external.metrics.k8s.io', labels: { 'app.kubernetes.io/name': 'v1beta1.external.metrics.k8s.io', ...labels } },
    spec: {
      service: { name: 'keda-operator-metrics-apiserver', namespace: KEDA_NAMESPACE, port: 443 },
      group: 'external.metrics.k8s.io',
      version: 'v1beta1',
      groupPriorityMinimum: 100,
      versionPriority: 100,
    },
  };
  await writeFile(path.join(dir, 'templates', 'apiservice.yaml'), YAML.stringify(apiService));
  await writeFile(path.join(dir, 'templates', 'deployments.yaml'), KEDA_DEPLOYMENTS.map((name) => YAML.stringify(deployment(name))).join('---\n'));
  return dir;
}
