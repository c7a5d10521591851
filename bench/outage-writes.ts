// API writes during a database outage: N = 300 ScaledObjects (pollingInterval 1) whose trigger
// points at a closed port on 127.0.0.1, queryscaler in this process on the local control plane.
// Once every one shows Ready=False, writes are counted over a one-minute window by verb and
// resource (queryscaler's own request counter), and the conditions are checked to still say why.
// Prints the table and rewrites its block in bench/RESULTS.md.
import os from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { ScaledObject } from '../src/api/types.js';
import { startController } from '../src/controller/controller.js';
import { KubeApi } from '../src/controller/kube-api.js';
import { MetricCache } from '../src/metric-cache/metric-cache.js';
import { startControlPlane } from '../test/support/control-plane.js';
import { kubeApiRequests } from '../test/support/kube-api-requests.js';
import { applyYaml, createTestNamespace, installCrds } from '../test/support/kube.js';
import { runBenchmark, type Cleanup } from './support/harness.js';
import { withGeneratedBlock } from './support/results-file.js';
import { credentialObjects, forEachLimited, scaledObjectObject, statefulSetObject } from './support/scale-fixtures.js';
import { markdownTable } from './support/stats.js';

const N = 300;
const WINDOW_MS = 60_000;
const RESULTS_PATH = fileURLToPath(new URL('RESULTS.md', import.meta.url));
const CRDS = fileURLToPath(new URL('../crds/', import.meta.url));

async function closedLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

await runBenchmark(async (cleanup: Cleanup, interrupted: AbortSignal) => {
  console.log('starting the control plane...');
  const cp = await startControlPlane();
  cleanup.add('the control plane', () => cp.stop());
  await installCrds(cp, CRDS);
  const namespace = await createTestNamespace(cp, 'outage');
  const port = await closedLoopbackPort();
  const api = new KubeApi(cp.kubeConfig);
  cleanup.add('the API client', () => api.close());
  const cache = new MetricCache();
  cleanup.add('the metric cache', () => cache.close());
  const controller = await startController({
    kubeConfig: cp.kubeConfig,
    metricCache: cache,
    logger: pino({ level: 'silent' }),
    clusterTriggerAuthenticationNamespace: 'queryscaler',
  });
  cleanup.add('queryscaler', () => controller.stop());

  console.log(`creating ${N} StatefulSets and ScaledObjects whose database (127.0.0.1:${port}) is down...`);
  await applyYaml(cp, credentialObjects(namespace, { host: '127.0.0.1', port, user: 'scaler', password: 'unused-pw' })
    .map((o) => JSON.stringify(o)).join('\n---\n'), namespace);
  const indexes = Array.from({ length: N }, (_, i) => i);
  await forEachLimited(indexes, 8, async (i) => {
    if (interrupted.aborted) return;
    await applyYaml(cp, [statefulSetObject(namespace, i, 1), scaledObjectObject({ namespace, mode: 'seed', originalReplicas: 1 }, i)]
      .map((o) => JSON.stringify(o)).join('\n---\n'), namespace);
  });
  const list = async () => (await api.request<{ items: ScaledObject[] }>('list', `/apis/keda.sh/v1alpha1/namespaces/${namespace}/scaledobjects`)).items;
  const failing = (so: ScaledObject) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'False' && c.reason === 'TriggerError') === true;
  const started = Date.now();
  while ((await list()).filter(failing).length < N) {
    if (interrupted.aborted || Date.now() - started > 300_000) throw new Error('not every ScaledObject reached Ready=False/TriggerError within 300 s');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  console.log(`all ${N} Ready=False/TriggerError after ${((Date.now() - started) / 1000).toFixed(1)} s; counting writes for ${WINDOW_MS / 1000} s...`);
  // Let the first failure counts and Events of the objects that turned last settle into the window's start.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const before = await kubeApiRequests(controller.metrics);
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
  const after = await kubeApiRequests(controller.metrics);
  const end = await list();
  const stillTruthful = end.filter(failing).length;
  const valueFailing = end.filter((so) => so.status?.value === 'failing').length;

  const rows = [...after.keys()]
    .filter((key) => !/^(get|list|watch) /.test(key))
    .map((key) => [key, (after.get(key) ?? 0) - (before.get(key) ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .sort();
  const statusWrites = rows.find(([key]) => key === 'patch scaledobjects/status')?.[1] ?? 0;
  const cpus = os.cpus();
  const block = [
    `Run ${new Date().toISOString()}. Machine: ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB. Node ${process.version}.`,
    '',
    `${N} ScaledObjects, pollingInterval 1 s, every trigger's database down (a closed port on 127.0.0.1). Writes queryscaler sent ` +
      `in a ${WINDOW_MS / 1000} s window once all were Ready=False (TriggerError):`,
    '',
    markdownTable(['request', 'count', 'per second'], rows.map(([key, n]) => [key, String(n), (n / (WINDOW_MS / 1000)).toFixed(2)])),
    '',
    `Status writes: ${(statusWrites / (WINDOW_MS / 1000)).toFixed(2)} per second (target: under 1): ${statusWrites / (WINDOW_MS / 1000) < 1 ? 'met' : 'NOT met'}. ` +
      `At the end ${stillTruthful}/${N} still Ready=False with reason TriggerError and ${valueFailing}/${N} show VALUE failing.`,
  ].join('\n');
  console.log(`\n${block}`);
  if (interrupted.aborted) return;
  const previous = await readFile(RESULTS_PATH, 'utf8');
  await writeFile(RESULTS_PATH, withGeneratedBlock(previous, '## outage-writes', 'outage-writes', block));
  console.log(`\nwritten to ${RESULTS_PATH}`);
});
