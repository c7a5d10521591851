// The chart's files that must follow others: its CRDs are copies of crds/ (copies, not symlinks:
// helm logs a line per symlink on every command run from a checkout, and a checkout without
// symlink support would ship the link's path as a CRD), its version and appVersion are
// package.json's, and README "Install with Helm" has one row per value, in values.yaml's order,
// with its default.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import YAML from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = path.join(ROOT, 'charts/queryscaler');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** Each leaf of `values` as `a.b.c` and its default as the table shows it (YAML flow style); empty maps and lists are leaves. */
function valueRows(values: unknown, prefix = ''): Array<[string, string]> {
  if (typeof values === 'object' && values !== null && !Array.isArray(values) && Object.keys(values).length > 0) {
    return Object.entries(values).flatMap(([key, value]) => valueRows(value, prefix ? `${prefix}.${key}` : key));
  }
  return [[prefix, YAML.stringify(values, { collectionStyle: 'flow' }).trim()]];
}

/** The rows `| \`key\` | \`default\` | ... |` of README's "Install with Helm" section. */
function readmeRows(): Array<[string, string]> {
  const readme = read('README.md');
  const start = readme.indexOf('\n## Install with Helm\n');
  expect(start, 'README has a section "## Install with Helm"').to.be.greaterThan(-1);
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/^\| `([^`]+)` \| `([^`]*)` \|/gm)].map((m) => [m[1]!, m[2]!]);
}

describe('the chart\'s files', () => {
  it('holds the CRDs of crds/, byte for byte (cp crds/*.yaml charts/queryscaler/crds/ after changing one)', () => {
    const crds = readdirSync(path.join(ROOT, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    expect(readdirSync(path.join(CHART, 'crds')).sort()).to.deep.equal(crds);
    for (const file of crds) expect(read(`charts/queryscaler/crds/${file}`) === read(`crds/${file}`), file).to.equal(true);
  });

  it('holds manifests/monitoring/prometheusrule.yaml and dashboards/queryscaler.json, byte for byte (copy them to charts/queryscaler/files/ after changing one)', () => {
    expect(read('charts/queryscaler/files/prometheusrule.yaml') === read('manifests/monitoring/prometheusrule.yaml'), 'prometheusrule.yaml').to.equal(true);
    expect(read('charts/queryscaler/files/queryscaler-dashboard.json') === read('dashboards/queryscaler.json'), 'queryscaler-dashboard.json').to.equal(true);
  });

  it('has the version of package.json, and deploys that image tag', () => {
    const { version } = JSON.parse(read('package.json')) as { version: string };
    const chart = YAML.parse(read('charts/queryscaler/Chart.yaml')) as { version: string; appVersion: string };
    expect([chart.version, chart.appVersion]).to.deep.equal([version, version]);
  });

  it('has every value in README "Install with Helm", with its default', () => {
    expect(readmeRows()).to.deep.equal(valueRows(YAML.parse(read('charts/queryscaler/values.yaml'))));
  });
});
