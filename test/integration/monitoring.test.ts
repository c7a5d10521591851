// The Grafana dashboard and the PrometheusRule against Prometheus' own code: every expression
// (the dashboard's with its Grafana variables filled in) and the rule groups as a rule file go
// through tools/promql-check (github.com/prometheus/prometheus promql/parser and model/rulefmt, as
// `promtool check rules` uses them), and every metric they select must be one queryscaler exports
// or a documented kube-state-metrics one. Tagged @integration: it runs a Go-built tool.
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import YAML from 'yaml';
import { QueryscalerMetrics } from '../../src/observability/prometheus-metrics.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The kube-state-metrics families the dashboard reads, as its documentation lists them
 * (kubernetes/kube-state-metrics docs/metrics/workload/horizontalpodautoscaler-metrics.md, all STABLE).
 */
const KUBE_STATE_METRICS = new Set([
  'kube_horizontalpodautoscaler_spec_max_replicas',
  'kube_horizontalpodautoscaler_spec_min_replicas',
  'kube_horizontalpodautoscaler_status_current_replicas',
  'kube_horizontalpodautoscaler_status_desired_replicas',
]);

interface Answer {
  errors?: string[];
  metrics: string[];
}

function promqlCheckPath(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['tools/build-promql-check.sh'], { cwd: ROOT, timeout: 300_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`tools/build-promql-check.sh failed: ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** One answer per request, in order. */
async function promqlCheck(binary: string, requests: ReadonlyArray<{ expr: string } | { rules: string }>): Promise<Answer[]> {
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`promql-check exited ${code}: ${stderr}`);
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as Answer);
}

/** Every family name queryscaler's /metrics can show, with a histogram's _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const text = await new QueryscalerMetrics({ processMetrics: true }).exposition();
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name as string);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}

/** Grafana's variables as a query would see them: intervals become 5m, the others a value. */
function withVariables(expr: string): string {
  return expr.replace(/\$\{?(__rate_interval|__interval|__range)\}?/g, '5m').replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, 'x');
}

describe('the dashboard and the PrometheusRule against Prometheus itself @integration', function () {
  this.timeout(300_000);

  let binary = '';
  let exported = new Set<string>();
  let dashboard: { panels: Panel[]; templating: { list: Array<{ type: string; query?: { query: string } }> } };
  let rule: { kind: string; spec: { groups: Array<{ name: string; rules: Array<{ alert: string; expr: string }> }> } };

  before(async () => {
    [binary, exported] = await Promise.all([promqlCheckPath(), exportedNames()]);
    dashboard = JSON.parse(await readFile(`${ROOT}dashboards/queryscaler.json`, 'utf8')) as typeof dashboard;
    rule = YAML.parse(await readFile(`${ROOT}manifests/monitoring/prometheusrule.yaml`, 'utf8')) as typeof rule;
  });

  it('the parser is the real one: it refuses what Prometheus refuses', async () => {
    const [rate, template] = await promqlCheck(binary, [
      { expr: 'rate(keda_scaler_active)' },
      { rules: 'groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    annotations:\n      summary: "{{ $labels.job }"\n' },
    ]);
    expect(rate?.errors).to.deep.equal(['1:6: parse error: expected type range vector in call to function "rate", got instant vector']);
    expect(template?.errors).to.deep.equal(['group "g", rule 1, "A": annotation "summary": template: __alert_A:1: unexpected "}" in operand']);
  });

  it('every dashboard query parses, and reads only metrics queryscaler or kube-state-metrics export', async () => {
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr })));
    for (const variable of dashboard.templating.list) {
      const query = variable.query?.query;
      if (query === undefined) continue;
      const selector = /^label_values\((.+), *[A-Za-z_]+\)$/.exec(query)?.[1];
      expect(selector, `variable query ${query}`).to.not.equal(undefined);
      exprs.push({ where: `variable ${query}`, expr: selector as string });
    }
    const answers = await promqlCheck(binary, exprs.map((e) => ({ expr: withVariables(e.expr) })));
    const problems = answers.flatMap((a, i) => (a.errors ?? []).map((error) => `${exprs[i]?.where}: ${error}`));
    expect(problems).to.deep.equal([]);
    const used = new Set(answers.flatMap((a) => a.metrics));
    expect([...used].filter((name) => !exported.has(name) && !KUBE_STATE_METRICS.has(name))).to.deep.equal([]);
    // It shows, per ScaledObject, what the issue asks for; and the autoscaler itself.
    expect(panels.map((p) => p.title)).to.deep.equal([
      'ScaledObject $scaledObject',
      'Metric value against queryValue',
      'Replicas',
      'Active, paused, fallback',
      'Errors per minute',
      'Read latency and poll lag',
      'queryscaler',
      'Poll lag (all ScaledObjects)',
      'MySQL query duration by pool',
      'Pollers served per query (shared queries)',
      'MySQL pool use',
      'Metrics API',
      'Kubernetes API requests per second',
      'Registered',
      'Process memory and CPU',
      'Event loop',
    ]);
    expect(exprs.length).to.equal(37);
  });

  it("the PrometheusRule's groups pass Prometheus' rule-file validation and read only queryscaler's metrics", async () => {
    expect(rule.kind).to.equal('PrometheusRule');
    const [answer] = await promqlCheck(binary, [{ rules: YAML.stringify({ groups: rule.spec.groups }) }]);
    expect(answer?.errors ?? []).to.deep.equal([]);
    expect(answer?.metrics.filter((name) => !exported.has(name))).to.deep.equal([]);
    expect(rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert))).to.deep.equal([
      'QueryscalerScalerFailing',
      'QueryscalerFallbackActive',
      'QueryscalerPollLagHigh',
      'QueryscalerMySQLPoolSaturated',
    ]);
    expect(answer?.metrics).to.deep.equal([
      'keda_scaler_detail_errors_total',
      'queryscaler_fallback_active',
      'queryscaler_mysql_pool_in_use_connections',
      'queryscaler_mysql_pool_max_connections',
      'queryscaler_mysql_pool_waiting_requests',
      'queryscaler_poll_lag_seconds_bucket',
    ]);
  });

  it('manifests/monitoring builds with kustomize, and its ServiceMonitor scrapes the Service queryscaler exposes', async () => {
    const built = await new Promise<string>((resolve, reject) => {
      execFile('kubectl', ['kustomize', `${ROOT}manifests/monitoring`], (error, stdout, stderr) => (error !== null ? reject(new Error(stderr)) : resolve(stdout)));
    });
    const objects = YAML.parseAllDocuments(built).map((d) => d.toJS() as { kind: string; spec: Record<string, unknown> });
    expect(objects.map((o) => o.kind).sort()).to.deep.equal(['PrometheusRule', 'ServiceMonitor']);
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor')?.spec as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> };
    const service = YAML.parse(await readFile(`${ROOT}manifests/service.yaml`, 'utf8')) as { metadata: { labels: Record<string, string> }; spec: { ports: Array<{ name: string; port: number }> } };
    expect(Object.entries(monitor.selector.matchLabels).every(([k, v]) => service.metadata.labels[k] === v)).to.equal(true);
    expect(monitor.endpoints).to.deep.equal([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    expect(service.spec.ports.find((p) => p.name === 'metrics')?.port).to.equal(8080);
  });
});
