// The seed scenario on this machine, in a few minutes: a local control plane, a throwaway MariaDB,
// queryscaler in this process, the blog's keda.yaml, and a live table of what happens as rows are
// inserted and deleted, read from the cluster and from queryscaler's /metrics. At the end the story
// is drawn (metric, queryValue, replicas over time) into an SVG file, which it names. Everything it
// starts is stopped on Ctrl-C, on error and at the end.
//   bash scripts/demo.sh [--keep-running] [--svg <path>]

import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, AutoscalingV2Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { Command } from 'commander';
import { parseExposition } from '../bench/support/prometheus-text.js';
import { createLogger } from '../src/log.js';
import { startQueryscaler, type RunningQueryscaler } from '../src/queryscaler.js';
import { startControlPlane, type ControlPlane } from '../test/support/control-plane.js';
import { applyYaml, installCrds, kubectl, registerExternalMetricsApi, waitFor } from '../test/support/kube.js';
import { startMariaDb, type MariaDb } from '../test/support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../test/support/seed-scenario.js';
import { storyChart, type StoryPhase, type StorySample } from './demo-chart.js';

const NAMESPACE = 'mysql-cluster';
const SO = 'mysql-scaledobject';
const HPA = `keda-hpa-${SO}`;
const SCALE_DOWN_WINDOW_SECONDS = 20;
const HPA_SYNC_SECONDS = 5;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The blog's story: rows in the table, and the replica count the HPA arithmetic gives for them. */
const STORY = [
  { rows: 1, expect: 1, says: 'one row, as the blog starts: CEIL(1/6) = 1, ceil(1/3) = 1 replica' },
  { rows: 100, expect: 6, says: 'insert 100 rows: metric 17, ceil(17/3) = 6 (1 -> 5 first: scale-up is +4 pods or +100% per 15 s)' },
  { rows: 500, expect: 10, says: 'insert up to 500: metric 84, ceil(84/3) = 28, held at maxReplicaCount 10' },
  { rows: 100, expect: 6, says: `delete 400: back to 6 after the scale-down window (${SCALE_DOWN_WINDOW_SECONDS} s here, 300 s in keda.yaml)` },
  { rows: 2, expect: 1, says: 'delete all but 2: metric 1, down to 1 replica' },
];
const PHASE_TIMEOUT_MS = 120_000;
const QUERY_VALUE = 3;
const MAX_REPLICAS = 10;

interface Snapshot {
  rows: number;
  metric: string;
  /** keda_scaler_metrics_value, keda_scaler_active and the read latency from /metrics. */
  prometheus: string;
  hpaDesired: string;
  replicas: string;
  lastEvent: string;
  lastWarning: string;
  sample: Omit<StorySample, 't'>;
}

/** The KEDA families of the seed's trigger, as Prometheus would scrape them from queryscaler. */
async function scraped(queryscaler: RunningQueryscaler): Promise<{ value?: number; active?: number; latencySeconds?: number }> {
  const samples = parseExposition(await queryscaler.metrics.exposition()).filter((s) => s.labels.namespace === NAMESPACE && s.labels.scaledObject === SO);
  const of = (name: string): number | undefined => samples.find((s) => s.name === name)?.value;
  const value = of('keda_scaler_metrics_value');
  const active = of('keda_scaler_active');
  const latencySeconds = of('keda_scaler_metrics_latency_seconds');
  return { ...(value !== undefined && { value }), ...(active !== undefined && { active }), ...(latencySeconds !== undefined && { latencySeconds }) };
}

async function snapshot(cp: ControlPlane, db: MariaDb, queryscaler: RunningQueryscaler): Promise<Snapshot> {
  const [countRows] = await db.query<Array<{ n: number }>>("SELECT COUNT(*) AS n FROM testdb.testtable WHERE testcolumn2='none'");
  const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  const hpas = cp.kubeConfig.makeApiClient(AutoscalingV2Api);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const sts = await apps.readNamespacedStatefulSet({ name: 'mycluster', namespace: NAMESPACE });
  const hpa = await hpas.readNamespacedHorizontalPodAutoscaler({ name: HPA, namespace: NAMESPACE }).catch(() => undefined);
  const so = (await objects
    .getNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace: NAMESPACE, plural: 'scaledobjects', name: SO })
    .catch(() => undefined)) as { status?: { lastMetricValue?: string } } | undefined;
  const events = (await core.listNamespacedEvent({ namespace: NAMESPACE })).items.sort((a, b) => eventTime(a).localeCompare(eventTime(b)));
  // Scaling is the HPA's SuccessfulRescale, or queryscaler's own 0 <-> N steps (KEDAScaleTarget*).
  const last = events.filter((e) => e.reason === 'SuccessfulRescale' || e.reason?.startsWith('KEDAScaleTarget')).at(-1);
  const warning = events.filter((e) => e.type === 'Warning' && e.source?.component === 'queryscaler').at(-1);
  const figures = await scraped(queryscaler);
  return {
    rows: Number(countRows?.n ?? 0),
    metric: so?.status?.lastMetricValue ?? '-',
    prometheus:
      figures.value === undefined
        ? '-'
        : `keda_scaler_metrics_value ${figures.value}, keda_scaler_active ${figures.active ?? '-'}, read in ${((figures.latencySeconds ?? 0) * 1000).toFixed(1)} ms`,
    hpaDesired: hpa?.status?.desiredReplicas === undefined ? '-' : String(hpa.status.desiredReplicas),
    replicas: `${sts.spec?.replicas ?? 0} (pods ${sts.status?.replicas ?? 0})`,
    lastEvent: last ? `${last.reason}: ${last.message ?? ''}`.slice(0, 110) : '-',
    lastWarning: warning ? `${warning.reason}: ${warning.message ?? ''}`.slice(0, 110) : '-',
    sample: {
      ...(figures.value !== undefined && { value: figures.value }),
      replicas: sts.spec?.replicas ?? 0,
      // Until its first computation the HPA's status says desired 0; that is not a wish for 0.
      ...(hpa?.status?.desiredReplicas !== undefined && (hpa.status.currentMetrics?.length ?? 0) > 0 && { desired: hpa.status.desiredReplicas }),
    },
  };
}

function eventTime(e: { lastTimestamp?: Date; eventTime?: Date; metadata?: { creationTimestamp?: Date } }): string {
  const t = e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp;
  return t ? new Date(t).toISOString() : '';
}

function render(phase: string, s: Snapshot, elapsedS: number, kubeconfig: string, metricsUrl: string, tty: boolean): string {
  const rows = [
    ['rows', String(s.rows)],
    ['metric (s0-mysql-testdb)', s.metric],
    ['on /metrics', s.prometheus],
    ['HPA desired', s.hpaDesired],
    ['StatefulSet replicas', s.replicas],
    ['last scaling event', s.lastEvent],
    ['queryscaler warning', s.lastWarning],
  ];
  const body = rows.map(([k, v]) => `  ${k!.padEnd(26)} ${v}`).join('\n');
  const header = `queryscaler demo  t=${elapsedS.toFixed(0)}s   (windows are shortened: HPA sync ${HPA_SYNC_SECONDS} s, scale-down window ${SCALE_DOWN_WINDOW_SECONDS} s)\n  now: ${phase}\n`;
  const footer = `\n  kubectl --kubeconfig ${kubeconfig} get so,hpa,sts -n ${NAMESPACE}\n  curl -s ${metricsUrl} | grep keda_`;
  return (tty ? '\x1b[2J\x1b[H' : '') + header + body + footer + '\n';
}

async function main(): Promise<void> {
  const opts = new Command('demo')
    .option('--keep-running', 'after the story, keep everything up for exploration until Ctrl-C')
    .option('--svg <path>', 'where to draw the story', path.join(process.cwd(), 'queryscaler-demo.svg'))
    .parse()
    .opts<{ keepRunning?: boolean; svg: string }>();
  const svgPath = path.resolve(opts.svg);
  const samples: StorySample[] = [];
  const phases: StoryPhase[] = [];
  let drawn = 0;
  const drawStory = (): void => {
    if (samples.length === drawn) return;
    drawn = samples.length;
    writeFileSync(
      svgPath,
      storyChart(samples, { title: "queryscaler demo: the blog's keda.yaml", metricName: 's0-mysql-testdb', queryValue: QUERY_VALUE, maxReplicas: MAX_REPLICAS, phases }),
    );
    console.log(`\nThe story as a picture (metric, queryValue, replicas over time): ${svgPath}`);
  };

  const cleanups: Array<() => Promise<unknown>> = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const step of cleanups.reverse()) await step().catch(() => undefined);
    })());
  process.on('SIGINT', () => {
    drawStory();
    console.log('\nstopping everything the demo started ...');
    void cleanup().then(() => process.exit(130));
  });

  try {
    console.log('starting a local control plane (etcd, kube-apiserver, kube-controller-manager) and MariaDB ...');
    const [cp, db] = await Promise.all([startControlPlane({ hpaSyncPeriodSeconds: HPA_SYNC_SECONDS }), startMariaDb()]);
    cleanups.push(() => cp.stop(), () => db.stop());
    const logFile = path.join(cp.dir, 'queryscaler.log');
    console.log(`kubeconfig: ${cp.kubeconfigPath}\nqueryscaler log: ${logFile}`);

    await createSeedTable(db);
    await setSeedRowCount(db, 1);
    await installCrds(cp, path.join(ROOT, 'crds'));
    const queryscaler: RunningQueryscaler = await startQueryscaler({
      kubeConfig: cp.kubeConfig,
      metricsApi: { host: '127.0.0.1', port: 0 },
      serving: { kind: 'self-signed', dnsNames: ['queryscaler-metrics-apiserver.default.svc'] },
      logger: createLogger('info', createWriteStream(logFile)),
      prometheus: { host: '127.0.0.1', port: 0 },
    });
    cleanups.push(() => queryscaler.stop());
    const metricsUrl = `http://127.0.0.1:${queryscaler.prometheusPort ?? 0}/metrics`;
    console.log(`queryscaler /metrics: ${metricsUrl}`);
    await registerExternalMetricsApi(cp, { port: queryscaler.metricsApiPort ?? 0, caBundlePem: queryscaler.servingCaPem ?? '' });

    await kubectl(cp, ['create', 'namespace', NAMESPACE]);
    await waitFor(() => cp.kubeConfig.makeApiClient(CoreV1Api).readNamespacedServiceAccount({ name: 'default', namespace: NAMESPACE }), { what: 'the default ServiceAccount' });
    await applyYaml(cp, toYaml(seedStatefulSetObjects()), NAMESPACE);
    await applyYaml(cp, toYaml(seedKedaObjects(db, { scaleDownStabilizationSeconds: SCALE_DOWN_WINDOW_SECONDS })), NAMESPACE);

    const tty = process.stdout.isTTY === true;
    const started = Date.now();
    let lastFrame = '';
    const show = async (phase: string): Promise<Snapshot> => {
      const s = await snapshot(cp, db, queryscaler);
      const elapsedS = (Date.now() - started) / 1000;
      samples.push({ t: elapsedS, ...s.sample });
      const frame = render(phase, s, elapsedS, cp.kubeconfigPath, metricsUrl, tty);
      // The live table changes every second with the read latency; compare without it.
      // Without a terminal, print only changes, so a log of the demo stays readable.
      const key = JSON.stringify({ ...s, prometheus: s.prometheus.replace(/, read in .*$/, ''), sample: undefined, phase });
      if (tty || key !== lastFrame) process.stdout.write(frame);
      lastFrame = key;
      return s;
    };

    for (const step of STORY) {
      await setSeedRowCount(db, step.rows);
      phases.push({ t: (Date.now() - started) / 1000, label: `${step.rows} ${step.rows === 1 ? 'row' : 'rows'}` });
      const deadline = Date.now() + PHASE_TIMEOUT_MS;
      for (;;) {
        const s = await show(step.says);
        if (s.replicas.startsWith(`${step.expect} `)) break;
        if (Date.now() > deadline) throw new Error(`mycluster did not reach ${step.expect} replicas within ${PHASE_TIMEOUT_MS / 1000} s (now ${s.replicas}); see ${logFile}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      // Let the reader see the settled state for a moment.
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await show(`${step.says}  [reached ${step.expect}]`);
      }
    }
    console.log('\nThe story is done: every phase reached the replica count the HPA arithmetic gives.');
    drawStory();
    if (opts.keepRunning) {
      console.log(`Everything stays up; try: kubectl --kubeconfig ${cp.kubeconfigPath} get so -A   (Ctrl-C to stop)`);
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        await show('exploring (Ctrl-C to stop)');
      }
    }
  } finally {
    // A story cut short is drawn as far as it went.
    drawStory();
    await cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
