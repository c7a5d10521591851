import { expect } from 'chai';
import { parseExposition, type Sample } from '../../bench/support/prometheus-text.js';
import { QueryscalerMetrics, type TriggerSeries } from '../../src/observability/prometheus-metrics.js';

const S0: TriggerSeries = { namespace: 'ns', scaledObject: 'orders', metric: 's0-mysql-testdb', scaler: 'mySQLScaler', triggerIndex: 0 };
const KEDA_LABELS = { namespace: 'ns', metric: 's0-mysql-testdb', scaledObject: 'orders', scaler: 'mySQLScaler', triggerIndex: '0', type: 'scaledobject' };

async function samples(metrics: QueryscalerMetrics, name?: string): Promise<Sample[]> {
  const all = parseExposition(await metrics.exposition());
  return name === undefined ? all : all.filter((s) => s.name === name);
}

/** Every series that names the ScaledObject ns/name, as `family{labels} value`. */
async function seriesOf(metrics: QueryscalerMetrics, namespace: string, name: string): Promise<string[]> {
  return (await samples(metrics))
    .filter((s) => s.labels.namespace === namespace && (s.labels.scaledObject === name || s.labels.resource === name))
    .map((s) => `${s.name} ${s.value}`)
    .sort();
}

describe('QueryscalerMetrics', () => {
  it("declares KEDA's families with KEDA's types and help", async () => {
    const text = await new QueryscalerMetrics().exposition();
    const declared = (family: string): string[] => text.split('\n').filter((line) => line.startsWith(`# HELP ${family} `) || line.startsWith(`# TYPE ${family} `));
    expect(declared('keda_scaler_metrics_value')).to.deep.equal([
      "# HELP keda_scaler_metrics_value The current value for each scaler's metric that would be used by the HPA in computing the target average.",
      '# TYPE keda_scaler_metrics_value gauge',
    ]);
    const types = Object.fromEntries(
      [...text.matchAll(/^# TYPE (keda_\S+) (\S+)$/gm)].map((match) => [match[1] as string, match[2] as string]),
    );
    expect(types).to.deep.equal({
      keda_build_info: 'gauge',
      keda_scaler_metrics_value: 'gauge',
      keda_scaler_metrics_latency_seconds: 'gauge',
      keda_scaler_active: 'gauge',
      keda_scaler_detail_errors_total: 'counter',
      keda_scaled_object_errors_total: 'counter',
      keda_scaled_object_paused: 'gauge',
      keda_trigger_registered_total: 'gauge',
      keda_resource_registered_total: 'gauge',
      keda_internal_scale_loop_latency_seconds: 'gauge',
    });
  });

  it('keda_build_info carries the version and the platform in Go words', async () => {
    const [info] = await samples(new QueryscalerMetrics({ version: '0.1.0' }), 'keda_build_info');
    expect(info?.value).to.equal(1);
    expect(info?.labels).to.deep.equal({
      version: '0.1.0',
      git_commit: '',
      goversion: `node${process.version}`,
      goos: process.platform,
      goarch: process.arch === 'x64' ? 'amd64' : process.arch,
    });
  });

  it('a good reading sets value, active and latency, and the error counters at 0, with KEDA labels', async () => {
    const metrics = new QueryscalerMetrics();
    metrics.recordReading(S0, { value: 17, active: true, failed: false, latencyMs: 12 });
    const read = await samples(metrics);
    const of = (name: string): Sample[] => read.filter((s) => s.name === name);
    expect(of('keda_scaler_metrics_value')).to.deep.equal([{ name: 'keda_scaler_metrics_value', labels: KEDA_LABELS, value: 17 }]);
    expect(of('keda_scaler_active')).to.deep.equal([{ name: 'keda_scaler_active', labels: KEDA_LABELS, value: 1 }]);
    expect(of('keda_scaler_metrics_latency_seconds')).to.deep.equal([{ name: 'keda_scaler_metrics_latency_seconds', labels: KEDA_LABELS, value: 0.012 }]);
    expect(of('keda_scaler_detail_errors_total')).to.deep.equal([{ name: 'keda_scaler_detail_errors_total', labels: KEDA_LABELS, value: 0 }]);
    expect(of('keda_scaled_object_errors_total')).to.deep.equal([
      { name: 'keda_scaled_object_errors_total', labels: { namespace: 'ns', scaledObject: 'orders' }, value: 0 },
    ]);
  });

  it('a failed reading counts an error and takes the value away; a fallback value stays', async () => {
    const metrics = new QueryscalerMetrics();
    metrics.recordReading(S0, { value: 17, active: true, failed: false, latencyMs: 1 });
    metrics.recordReading(S0, { active: false, failed: true, latencyMs: 5000 });
    expect(await samples(metrics, 'keda_scaler_metrics_value')).to.deep.equal([]);
    expect((await samples(metrics, 'keda_scaler_detail_errors_total')).map((s) => s.value)).to.deep.equal([1]);
    expect((await samples(metrics, 'keda_scaled_object_errors_total')).map((s) => s.value)).to.deep.equal([1]);
    expect((await samples(metrics, 'keda_scaler_active')).map((s) => s.value)).to.deep.equal([0]);
    metrics.recordReading(S0, { value: 15, active: false, failed: true, latencyMs: 5000 });
    expect((await samples(metrics, 'keda_scaler_metrics_value')).map((s) => s.value)).to.deep.equal([15]);
    expect((await samples(metrics, 'keda_scaler_detail_errors_total')).map((s) => s.value)).to.deep.equal([2]);
  });

  it('forgetScaledObject removes every series that names it and no other', async () => {
    const metrics = new QueryscalerMetrics();
    for (const name of ['orders', 'invoices']) {
      metrics.recordReading({ ...S0, scaledObject: name }, { value: 3, active: true, failed: false, latencyMs: 2 });
      metrics.recordReading({ ...S0, scaledObject: name, metric: 's1-cron', scaler: 'cronScaler', triggerIndex: 1 }, { value: 1, active: true, failed: false, latencyMs: 0 });
      metrics.setPaused('ns', name, false);
      metrics.setFallbackActive('ns', name, false);
      metrics.setGuardRailWarnings('ns', name, ['InnoDBClusterMemberLimit']);
      metrics.observePollLag('ns', name, 4);
      metrics.countScaledObjectError('ns', name);
    }
    const invoices = await seriesOf(metrics, 'ns', 'invoices');
    expect(invoices).to.deep.equal([
      'keda_internal_scale_loop_latency_seconds 0.004',
      'keda_scaled_object_errors_total 1',
      'keda_scaled_object_paused 0',
      'keda_scaler_active 1',
      'keda_scaler_active 1',
      'keda_scaler_detail_errors_total 0',
      'keda_scaler_detail_errors_total 0',
      'keda_scaler_metrics_latency_seconds 0',
      'keda_scaler_metrics_latency_seconds 0.002',
      'keda_scaler_metrics_value 1',
      'keda_scaler_metrics_value 3',
      'queryscaler_fallback_active 0',
      'queryscaler_guard_rail_warnings 1',
    ]);
    metrics.forgetScaledObject('ns', 'orders');
    expect(await seriesOf(metrics, 'ns', 'orders')).to.deep.equal([]);
    expect(await seriesOf(metrics, 'ns', 'invoices')).to.deep.equal(invoices);
  });

  it('keepTriggers drops the series of a trigger the ScaledObject no longer has', async () => {
    const metrics = new QueryscalerMetrics();
    const s1 = { ...S0, metric: 's1-mysql-other', triggerIndex: 1 };
    metrics.recordReading(S0, { value: 1, active: true, failed: false, latencyMs: 1 });
    metrics.recordReading(s1, { value: 2, active: true, failed: false, latencyMs: 1 });
    metrics.keepTriggers('ns', 'orders', [S0]);
    expect((await samples(metrics, 'keda_scaler_metrics_value')).map((s) => s.labels.metric)).to.deep.equal(['s0-mysql-testdb']);
    expect((await samples(metrics, 'keda_scaler_detail_errors_total')).map((s) => s.labels.metric)).to.deep.equal(['s0-mysql-testdb']);
  });

  it('guard-rail warnings: one series per reason in force, and a report of whether they changed', async () => {
    const metrics = new QueryscalerMetrics();
    expect(metrics.setGuardRailWarnings('ns', 'orders', ['ScaleToZeroOwnDatabase'])).to.equal(true);
    expect(metrics.setGuardRailWarnings('ns', 'orders', ['ScaleToZeroOwnDatabase'])).to.equal(false);
    expect(metrics.setGuardRailWarnings('ns', 'orders', ['InnoDBClusterMemberLimit'])).to.equal(true);
    expect((await samples(metrics, 'queryscaler_guard_rail_warnings')).map((s) => `${s.labels.reason} ${s.value}`)).to.deep.equal(['InnoDBClusterMemberLimit 1']);
    expect(metrics.setGuardRailWarnings('ns', 'orders', [])).to.equal(true);
    expect(await samples(metrics, 'queryscaler_guard_rail_warnings')).to.deep.equal([]);
  });

  it('counts resources and reads pools at each scrape, so a gone object leaves no series', async () => {
    const metrics = new QueryscalerMetrics();
    let resources = [{ type: 'scaled_object', namespace: 'ns', count: 2 }];
    let pools = [{ label: 'root@db:3306/testdb', open: 3, idle: 1, waiting: 2, maxConnections: 4, leases: 7 }];
    metrics.countResourcesWith(() => ({ triggersByType: new Map([['mysql', 2]]), resources }));
    metrics.readPoolsWith(() => pools);
    const read = async (): Promise<string[]> =>
      (await samples(metrics))
        .filter((s) => s.name.startsWith('queryscaler_mysql_pool_') || s.name.endsWith('_registered_total'))
        .map((s) => `${s.name}{${Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',')}} ${s.value}`);
    expect(await read()).to.deep.equal([
      'keda_trigger_registered_total{type=mysql} 2',
      'keda_resource_registered_total{type=scaled_object,namespace=ns} 2',
      'queryscaler_mysql_pool_open_connections{pool=root@db:3306/testdb} 3',
      'queryscaler_mysql_pool_in_use_connections{pool=root@db:3306/testdb} 2',
      'queryscaler_mysql_pool_waiting_requests{pool=root@db:3306/testdb} 2',
      'queryscaler_mysql_pool_max_connections{pool=root@db:3306/testdb} 4',
      'queryscaler_mysql_pool_leases{pool=root@db:3306/testdb} 7',
    ]);
    resources = [];
    pools = [];
    expect(await read()).to.deep.equal(['keda_trigger_registered_total{type=mysql} 2']);
  });

  it('the data-source observer fills the query histogram and the reading counter', async () => {
    const metrics = new QueryscalerMetrics();
    metrics.dataSource.queryRan('u@db:3306/testdb', 3, true);
    metrics.dataSource.queryRan('u@db:3306/testdb', 7000, false);
    for (const how of ['query', 'joined', 'joined', 'recent'] as const) metrics.dataSource.readingServed('u@db:3306/testdb', how);
    const read = await samples(metrics);
    expect(read.filter((s) => s.name === 'queryscaler_mysql_query_duration_seconds_count').map((s) => `${s.labels.outcome} ${s.value}`)).to.deep.equal([
      'success 1',
      'failure 1',
    ]);
    expect(read.filter((s) => s.name === 'queryscaler_mysql_readings_total').map((s) => `${s.labels.source} ${s.value}`)).to.deep.equal([
      'query 1',
      'joined 2',
      'recent 1',
    ]);
  });

  it('two instances in one process keep separate registries', async () => {
    const a = new QueryscalerMetrics();
    const b = new QueryscalerMetrics();
    a.countKubeRequest('get', 'secrets');
    expect((await samples(a, 'queryscaler_kube_api_requests_total')).map((s) => s.value)).to.deep.equal([1]);
    expect(await samples(b, 'queryscaler_kube_api_requests_total')).to.deep.equal([]);
  });

  it('process and Node.js families only when asked for', async () => {
    const names = async (metrics: QueryscalerMetrics): Promise<string[]> => (await samples(metrics)).map((s) => s.name);
    expect(await names(new QueryscalerMetrics({ processMetrics: true }))).to.include.members(['process_cpu_seconds_total', 'nodejs_heap_size_used_bytes']);
    expect(await names(new QueryscalerMetrics())).not.to.include('process_cpu_seconds_total');
  });
});
