// Several active replicas against one (issue 15). One run starts a throwaway MariaDB and the local
// control plane (HPA sync 15 s, as in a cluster), then:
// - for each replica count R (default 1 and 3): N ScaledObjects (default 3,000) on the seed query
//   applied at once to R queryscaler processes sharing them through Leases; measures time to all
//   Ready, then over a steady window poll lag p99 (all replicas' histograms together), Kubernetes
//   API requests per second by verb (the Lease renewals included), RSS and CPU per replica, and
//   MySQL server connections of queryscaler's user;
// - failover at N = 1,000 (default) distinct queries over 3 replicas: SIGKILL the replica holding
//   the most shards and time, from the general log, until each of its ScaledObjects is polled again
//   by the others, while metric requests go to the survivors.
//
//   node --import tsx bench/replicas.ts [--n 3000] [--replicas 1,3] [--failover-n 1000]
//
// Prints a table and rewrites its block in bench/RESULTS.md. Everything it starts is stopped on the
// way out, also after an error or Ctrl-C.

import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoordinationV1Api, CustomObjectsApi, KubernetesObjectApi, VersionApi, type KubernetesObject } from '@kubernetes/client-node';
import type { ScaledObject } from '../src/api/types.js';
import { shardOf } from '../src/sharding/shard-map.js';
import type { ControlPlane } from '../test/support/control-plane.js';
import { createTestNamespace, deleteTestNamespace, installCrds, registerExternalMetricsApi, unregisterExternalMetricsApi } from '../test/support/kube.js';
import type { MariaDb } from '../test/support/mariadb.js';
import { ReplicaSet } from '../test/support/replica-processes.js';
import { createSeedReader, createSeedTable, setSeedRowCount } from '../test/support/seed-scenario.js';
import { errorText, runBenchmark, startTestBed, type Cleanup } from './support/harness.js';
import { cpuShare, sampleProcess } from './support/proc-stats.js';
import { counterGrowth, histogramWindow, parseExposition, type Sample } from './support/prometheus-text.js';
import { withGeneratedBlock } from './support/results-file.js';
import { credentialObjects, forEachLimited, scaledObjectName, scaledObjectObject, statefulSetObject, type ScaleFixtureOptions } from './support/scale-fixtures.js';
import { markdownTable } from './support/stats.js';

const CRDS_DIR = fileURLToPath(new URL('../crds/', import.meta.url));
const RESULTS_PATH = fileURLToPath(new URL('RESULTS.md', import.meta.url));
const RESULTS_HEADING = '## replicas';
const METRICS_SERVICE = { serviceName: 'queryscaler-metrics-apiserver', serviceNamespace: 'default' };
const DB_USER = 'qs_replicas';
const DB_PASSWORD = 'qs-replicas-pw-7731';
const SHARDS = 16;
const HPA_SYNC_SECONDS = 15;
const READY_GIVE_UP_MS = 600_000;
const STEADY_WINDOW_MS = 30_000;
const FAILOVER_GIVE_UP_MS = 60_000;
const CREATE_CONCURRENCY = 20;
const METRIC = 's0-mysql-testdb';

interface Options {
  n: number;
  replicaCounts: number[];
  failoverN: number;
}

interface ScaleCell {
  n: number;
  replicas: number;
  readyMs: number;
  lagP99Ms: number;
  lagCount: number;
  requestsPerSecond: Record<string, number>;
  rssMiB: number[];
  cpu: number[];
  mostConnections: number;
  /** Renewal lapses (a replica that stopped all work for want of a renewed Lease) during the cell, from the logs. */
  lapses: number;
}

interface FailoverCell {
  n: number;
  orphans: number;
  worstMs: number;
  medianMs: number;
  answers: Record<string, number>;
}

function options(): Options {
  const { values } = parseArgs({ options: { n: { type: 'string' }, replicas: { type: 'string' }, 'failover-n': { type: 'string' } }, strict: true });
  const whole = (text: string, flag: string): number => {
    const n = Number(text.trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: give whole numbers, got "${text}"`);
    return n;
  };
  return {
    n: whole(values.n ?? '3000', '--n'),
    replicaCounts: (values.replicas ?? '1,3').split(',').map((r) => whole(r, '--replicas')),
    failoverN: whole(values['failover-n'] ?? '1000', '--failover-n'),
  };
}

async function main(): Promise<void> {
  const chosen = options();
  await runBenchmark((cleanup, interrupted) => run(chosen, cleanup, interrupted));
}

async function run(chosen: Options, cleanup: Cleanup, interrupted: AbortSignal): Promise<void> {
  const startedAt = new Date();
  const { db, cp } = await startTestBed(cleanup, { hpaSyncPeriodSeconds: HPA_SYNC_SECONDS });
  await installCrds(cp, CRDS_DIR);
  await createSeedTable(db);
  await setSeedRowCount(db, 1);
  await createSeedReader(db, DB_USER, DB_PASSWORD);

  const scale: ScaleCell[] = [];
  for (const replicas of chosen.replicaCounts) {
    interrupted.throwIfAborted();
    console.log(`\ncell N=${chosen.n} replicas=${replicas}`);
    scale.push(await scaleCell({ cp, db, cleanup, interrupted }, chosen.n, replicas));
    console.log(JSON.stringify(scale.at(-1)));
  }
  let failover: FailoverCell | undefined;
  if (chosen.failoverN > 0) {
    console.log(`\nfailover N=${chosen.failoverN} replicas=3`);
    failover = await failoverCell({ cp, db, cleanup, interrupted }, chosen.failoverN);
    console.log(JSON.stringify(failover));
  }
  const block = await report(scale, failover, cp, db, startedAt);
  console.log(`\n${block}`);
  const document = await readFile(RESULTS_PATH, 'utf8').catch(() => '# Benchmark results\n');
  await writeFile(RESULTS_PATH, withGeneratedBlock(document, RESULTS_HEADING, 'replicas', block));
  console.log(`\nwrote ${RESULTS_PATH}`);
}

interface Bed {
  cp: ControlPlane;
  db: MariaDb;
  cleanup: Cleanup;
  interrupted: AbortSignal;
}

/** Namespace, credentials, N StatefulSets and the replicas; the ScaledObjects are the caller's to create. */
async function deploy(bed: Bed, n: number, replicaCount: number, mode: ScaleFixtureOptions['mode']) {
  const { cp, db, cleanup, interrupted } = bed;
  const namespace = await createTestNamespace(cp, `replicas-${n}-${replicaCount}`);
  const client = KubernetesObjectApi.makeApiClient(cp.kubeConfig);
  const create = async (object: KubernetesObject): Promise<void> => {
    interrupted.throwIfAborted();
    await client.create(object);
  };
  for (const object of credentialObjects(namespace, { host: db.host, port: db.port, user: DB_USER, password: DB_PASSWORD })) await create(object);
  const indexes = Array.from({ length: n }, (_, i) => i);
  console.log(`  creating ${n} StatefulSets...`);
  await forEachLimited(indexes, CREATE_CONCURRENCY, (i) => create(statefulSetObject(namespace, i, 1)));
  const replicas = new ReplicaSet({ cp, namespace, shards: SHARDS, extraArgs: ['--log-level=warn'] });
  const stopReplicas = cleanup.add(`the replicas of ${namespace}`, async () => {
    await replicas.stopAll();
    replicas.remove();
  });
  const names = Array.from({ length: replicaCount }, (_, r) => `bench-${r}`);
  for (const name of names) await replicas.start(name);
  await registerExternalMetricsApi(cp, { port: replicas.replicas.get(names[0]!)!.port, caBundlePem: replicas.ca.certPem, ...METRICS_SERVICE });
  const createObjects = async (): Promise<number> => {
    const started = performance.now();
    await forEachLimited(indexes, CREATE_CONCURRENCY, (i) => create(scaledObjectObject({ namespace, mode, originalReplicas: 1 }, i)));
    await waitUntilAllReady(cp, namespace, n, interrupted);
    return performance.now() - started;
  };
  // The replicas finalize the ScaledObjects before they stop, so the next cell's replicas find none left to take over.
  const tearDown = async (): Promise<void> => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const scaledObjects = { group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects' };
    await custom.deleteCollectionNamespacedCustomObject(scaledObjects);
    const deadline = performance.now() + READY_GIVE_UP_MS;
    while (((await custom.listNamespacedCustomObject({ ...scaledObjects, limit: 1 })) as { items: unknown[] }).items.length > 0) {
      if (performance.now() > deadline) throw new Error(`ScaledObjects of ${namespace} not finalized within ${READY_GIVE_UP_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    await unregisterExternalMetricsApi(cp, METRICS_SERVICE).catch(() => undefined);
    await stopReplicas();
    await deleteTestNamespace(cp, namespace);
  };
  return { namespace, replicas, names, indexes, createObjects, tearDown };
}

async function waitUntilAllReady(cp: ControlPlane, namespace: string, n: number, interrupted: AbortSignal): Promise<void> {
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const deadline = performance.now() + READY_GIVE_UP_MS;
  for (;;) {
    interrupted.throwIfAborted();
    let ready = 0;
    let token: string | undefined;
    do {
      const page = (await custom.listNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', limit: 500, ...(token && { _continue: token }) })) as {
        items: ScaledObject[];
        metadata: { continue?: string };
      };
      ready += page.items.filter((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
      token = page.metadata.continue || undefined;
    } while (token !== undefined);
    if (ready === n) return;
    if (performance.now() > deadline) throw new Error(`only ${ready} of ${n} ScaledObjects Ready after ${READY_GIVE_UP_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

async function scaleCell(bed: Bed, n: number, replicaCount: number): Promise<ScaleCell> {
  const deployed = await deploy(bed, n, replicaCount, 'seed');
  try {
    const readyMs = await deployed.createObjects();
    console.log(`  all ${n} Ready after ${(readyMs / 1000).toFixed(1)} s; settling, then a ${STEADY_WINDOW_MS / 1000} s window`);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const pids = deployed.names.map((name) => deployed.replicas.replicas.get(name)!.child.pid!);
    const scrapeAll = async (): Promise<Sample[]> => (await Promise.all(deployed.names.map((name) => deployed.replicas.scrape(name)))).flatMap(parseExposition);
    const [before, procBefore] = [await scrapeAll(), await Promise.all(pids.map(sampleProcess))];
    let mostConnections = 0;
    const windowEnd = performance.now() + STEADY_WINDOW_MS;
    while (performance.now() < windowEnd) {
      mostConnections = Math.max(mostConnections, await bed.db.threadsConnected(DB_USER));
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const [after, procAfter] = [await scrapeAll(), await Promise.all(pids.map(sampleProcess))];
    const lag = histogramWindow(before, after, 'queryscaler_poll_lag_seconds');
    const requests = counterGrowth(before, after, 'queryscaler_kube_api_requests_total', 'resource');
    return {
      n,
      replicas: replicaCount,
      readyMs,
      lagP99Ms: lag.count === 0 ? NaN : lag.upperBound(0.99) * 1000,
      lagCount: lag.count,
      requestsPerSecond: Object.fromEntries(Object.entries(requests).map(([resource, count]) => [resource, count / (STEADY_WINDOW_MS / 1000)])),
      rssMiB: procAfter.map((p) => p.rssBytes / 2 ** 20),
      cpu: procBefore.map((p, i) => cpuShare(p, procAfter[i]!)),
      mostConnections,
      lapses: deployed.names.reduce((n, name) => n + countInLog(deployed.replicas.replicas.get(name)!.logPath, 'member Lease not renewed within the renew deadline'), 0),
    };
  } finally {
    await deployed.tearDown();
  }
}

async function failoverCell(bed: Bed, n: number): Promise<FailoverCell> {
  const deployed = await deploy(bed, n, 3, 'distinct');
  const { db, cp } = bed;
  try {
    await deployed.createObjects();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const leases = await cp.kubeConfig.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: deployed.namespace, labelSelector: 'queryscaler.dev/lease=shard' });
    const holders = new Map(leases.items.map((l) => [Number(l.metadata?.name?.replace('queryscaler-shard-', '')), l.spec?.holderIdentity ?? '']));
    const shardCounts = deployed.names.map((name) => [...holders.values()].filter((h) => h === name).length);
    const victim = deployed.names[shardCounts.indexOf(Math.max(...shardCounts))]!;
    const orphans = deployed.indexes.filter((i) => holders.get(shardOf(`${deployed.namespace}/${scaledObjectName(i)}`, SHARDS)) === victim);
    const survivors = deployed.names.filter((name) => name !== victim).map((name) => deployed.replicas.replicas.get(name)!);

    await db.query('TRUNCATE mysql.general_log');
    await db.query("SET GLOBAL log_output = 'TABLE'");
    await db.query('SET GLOBAL general_log = ON');
    const [clock] = await db.query<Array<{ now: string }>>("SELECT DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f') AS now");
    await deployed.replicas.kill(victim);
    const answers: Record<string, number> = {};
    const resumed = new Map<number, number>();
    const deadline = performance.now() + FAILOVER_GIVE_UP_MS;
    let turn = 0;
    try {
      while (resumed.size < orphans.length && performance.now() < deadline) {
        for (const i of orphans.slice(0, 50)) {
          const target = survivors[turn++ % survivors.length]!;
          const answer = await deployed.replicas.metric(target.port, deployed.namespace, scaledObjectName(i), METRIC).catch(() => ({ status: 0 }));
          answers[answer.status] = (answers[answer.status] ?? 0) + 1;
        }
        const rows = await db.query<Array<{ argument: string | Buffer; at: string }>>(
          "SELECT argument, DATE_FORMAT(event_time, '%Y-%m-%d %H:%i:%s.%f') AS at FROM mysql.general_log WHERE user_host LIKE ? AND command_type = 'Query' AND event_time > ? ORDER BY event_time",
          [`${DB_USER}[${DB_USER}]%`, clock!.now],
        );
        for (const row of rows) {
          const match = /AND (\d+) = \1\)/.exec(String(row.argument));
          const i = match ? Number(match[1]) : -1;
          if (!orphans.includes(i) || resumed.has(i)) continue;
          resumed.set(i, Date.parse(`${row.at.replace(' ', 'T')}Z`) - Date.parse(`${clock!.now.replace(' ', 'T')}Z`));
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await db.query('SET GLOBAL general_log = OFF');
      await db.query('TRUNCATE mysql.general_log');
    }
    if (resumed.size < orphans.length) throw new Error(`only ${resumed.size} of ${orphans.length} orphaned ScaledObjects were polled again within ${FAILOVER_GIVE_UP_MS / 1000} s`);
    const times = [...resumed.values()].sort((a, b) => a - b);
    return { n, orphans: orphans.length, worstMs: times.at(-1)!, medianMs: times[Math.floor(times.length / 2)]!, answers };
  } finally {
    await deployed.tearDown();
  }
}

async function report(scale: ScaleCell[], failover: FailoverCell | undefined, cp: ControlPlane, db: MariaDb, startedAt: Date): Promise<string> {
  const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
  const [mariadb] = await db.query<Array<{ v: string }>>('SELECT VERSION() AS v');
  const lines = [
    `Run ${startedAt.toISOString()} on ${(await import('node:os')).cpus().length} cores, Node.js ${process.version}, kube-apiserver ${version.gitVersion}, MariaDB ${mariadb?.v ?? '?'}; ${SHARDS} shards, HPA sync ${HPA_SYNC_SECONDS} s, pollingInterval 1 s, default Lease timing (10 s / 7 s / 2 s).`,
    '',
    markdownTable(
      ['N', 'replicas', 'all Ready', 'poll lag p99', 'API requests/s at steady state, by resource', 'RSS per replica', 'CPU per replica', 'MySQL connections', 'renewal lapses'],
      scale.map((c) => [
        String(c.n),
        String(c.replicas),
        `${(c.readyMs / 1000).toFixed(1)} s`,
        `<= ${c.lagP99Ms} ms (${c.lagCount} polls)`,
        Object.entries(c.requestsPerSecond).map(([resource, rate]) => `${resource} ${rate.toFixed(2)}`).join(', ') || '0',
        c.rssMiB.map((m) => `${m.toFixed(0)} MiB`).join(' / '),
        c.cpu.map((x) => `${(x * 100).toFixed(0)} %`).join(' / '),
        String(c.mostConnections),
        String(c.lapses),
      ]),
    ),
  ];
  if (failover !== undefined) {
    lines.push(
      '',
      `Failover at N = ${failover.n} (distinct queries, 3 replicas): SIGKILL of the replica with the most shards; its ${failover.orphans} ScaledObjects were polled again by the others after ` +
        `${(failover.medianMs / 1000).toFixed(1)} s (median) and ${(failover.worstMs / 1000).toFixed(1)} s (worst). Metric requests to the survivors meanwhile, by HTTP status: ${JSON.stringify(failover.answers)}.`,
    );
  }
  return lines.join('\n');
}

function countInLog(path: string, text: string): number {
  return readFileSync(path, 'utf8').split(text).length - 1;
}

main().catch((error: unknown) => {
  console.error(errorText(error));
  process.exitCode = 1;
});
