// Three shard coordinators in one process against the real kube-apiserver (issue 15): every shard
// is held by exactly one of them; one leaving hands its shards over at once; one cut off from the
// API server stops acting before anyone else takes its shards, and takes its share back once the
// network mends. Short Lease timings keep the test quick; the defaults are measured end to end in
// replicas.test.ts.
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeApi } from '../../src/controller/kube-api.js';
import { desiredHolder, shardOf } from '../../src/sharding/shard-map.js';
import { ShardCoordinator, type LeaseTiming } from '../../src/sharding/shard-coordinator.js';
import type { ControlPlane } from '../support/control-plane.js';
import { createTestNamespace, deleteTestNamespace, waitFor } from '../support/kube.js';
import { sharedControlPlane } from '../support/shared.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const SHARDS = 12;
const TIMING: LeaseTiming = { leaseDurationMs: 3_000, renewPeriodMs: 500, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
const ALL = Array.from({ length: SHARDS }, (_, s) => s);

interface Member {
  name: string;
  coordinator: ShardCoordinator;
  api: KubeApi;
  /** Every change of what this member acts on: [time, shards it acts on afterwards]. */
  timeline: Array<[number, number[]]>;
}

describe('shard Leases on the real API server @integration', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let namespace: string;
  let proxy: TcpProxy;
  const members: Member[] = [];

  /** A key in each shard, so gained/lost predicates can be read back as shard numbers. */
  const keyOfShard = new Map<number, string>();
  for (let i = 0; keyOfShard.size < SHARDS; i += 1) {
    const key = `ns/so-${i}`;
    if (!keyOfShard.has(shardOf(key, SHARDS))) keyOfShard.set(shardOf(key, SHARDS), key);
  }

  function addMember(name: string, kubeConfig: KubeConfig): Member {
    const api = new KubeApi(kubeConfig);
    const coordinator = new ShardCoordinator({
      api,
      namespace,
      identity: name,
      peerAddress: `https://127.0.0.1:1/${name}`,
      shardCount: SHARDS,
      timing: TIMING,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    });
    const member: Member = { name, coordinator, api, timeline: [] };
    const acting = new Set<number>();
    const record = (): void => void member.timeline.push([performance.now(), [...acting].sort((a, b) => a - b)]);
    coordinator.listen({
      gained: (owned) => {
        for (const [shard, key] of keyOfShard) if (owned(key)) acting.add(shard);
        record();
      },
      lost: (lost) => {
        for (const [shard, key] of keyOfShard) if (lost(key)) acting.delete(shard);
        record();
        return Promise.resolve();
      },
    });
    members.push(member);
    return member;
  }

  const holdings = (list: Member[]) => list.map((m) => m.coordinator.heldShards());
  const expected = (names: string[]) => names.map((name) => ALL.filter((s) => desiredHolder(s, names) === name));

  /** No moment at which two members acted on one shard, from their recorded timelines. */
  function assertNeverShared(): void {
    const changes = members.flatMap((m) => m.timeline.map(([t, shards]) => ({ t, member: m.name, shards })));
    changes.sort((a, b) => a.t - b.t);
    const current = new Map<string, number[]>();
    for (const change of changes) {
      current.set(change.member, change.shards);
      const seen = new Map<number, string>();
      for (const [member, shards] of current) {
        for (const shard of shards) {
          expect(seen.get(shard), `shard ${shard} acted on by ${seen.get(shard)} and ${member} at once`).to.equal(undefined);
          seen.set(shard, member);
        }
      }
    }
  }

  before(async () => {
    cp = await sharedControlPlane();
    namespace = await createTestNamespace(cp, 'shards');
    const server = new URL(cp.server);
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
  });

  after(async () => {
    for (const m of members) {
      await m.coordinator.stop().catch(() => undefined);
      m.api.close();
    }
    await proxy?.close();
    if (namespace) await deleteTestNamespace(cp, namespace);
  });

  it('spreads the shards over three members, each held by exactly one, as the rendezvous hash says', async () => {
    const started = ['replica-a', 'replica-b', 'replica-c'].map((name) => addMember(name, cp.kubeConfig));
    await Promise.all(started.map((m) => m.coordinator.start()));
    const names = started.map((m) => m.name);
    await waitFor(() => JSON.stringify(holdings(started)) === JSON.stringify(expected(names)), {
      what: () => `shards ${JSON.stringify(expected(names))}, held ${JSON.stringify(holdings(started))}`,
      timeoutMs: 10_000,
    });
    expect(holdings(started).flat().sort((a, b) => a - b)).to.deep.equal(ALL);
    for (const shard of ALL) expect(started.filter((m) => m.coordinator.owns(keyOfShard.get(shard)!)).length).to.equal(1);
    assertNeverShared();
  });

  it('hands a leaving member\'s shards to the others at once, not after its Lease expires', async () => {
    const [, b, c] = members;
    const leaving = members[0]!;
    const began = performance.now();
    await leaving.coordinator.stop();
    await waitFor(() => JSON.stringify(holdings([b!, c!])) === JSON.stringify(expected([b!.name, c!.name])), {
      what: () => `shards ${JSON.stringify(expected([b!.name, c!.name]))}, held ${JSON.stringify(holdings([b!, c!]))}`,
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const tookMs = performance.now() - began;
    console.log(`      a leaving member's shards were held again ${Math.round(tookMs)} ms after it began to stop (lease duration ${TIMING.leaseDurationMs} ms)`);
    expect(tookMs).to.be.below(TIMING.leaseDurationMs);
    assertNeverShared();
  });

  it('stops a member cut off from the API server before its shards move, and takes its share back when the network mends', async () => {
    const proxied = new KubeConfig();
    proxied.loadFromString(cp.kubeConfig.exportConfig());
    const cluster = proxied.getCurrentCluster()!;
    proxied.clusters = proxied.clusters.map((c) => (c.name === cluster.name ? { ...c, server: `https://127.0.0.1:${proxy.port}` } : c));
    const d = addMember('replica-d', proxied);
    await d.coordinator.start();
    const live = members.slice(1).map((m) => m.name);
    await waitFor(() => JSON.stringify(holdings(members.slice(1))) === JSON.stringify(expected(live)), {
      what: () => `shards ${JSON.stringify(expected(live))}, held ${JSON.stringify(holdings(members.slice(1)))}`,
      timeoutMs: 10_000,
    });
    const itsShards = d.coordinator.heldShards();
    expect(itsShards.length).to.be.above(0);

    const cutAt = performance.now();
    proxy.cut();
    const [b, c] = [members[1]!, members[2]!];
    await waitFor(() => JSON.stringify(holdings([b, c])) === JSON.stringify(expected([b.name, c.name])), {
      what: () => `shards back with the two connected members, held ${JSON.stringify(holdings([b, c]))}`,
      timeoutMs: 15_000,
      intervalMs: 20,
    });
    const movedMs = performance.now() - cutAt;
    const stoppedAt = d.timeline.findLast(([, shards]) => shards.length === 0)?.[0];
    expect(stoppedAt, 'the cut-off member stopped acting').to.be.a('number');
    console.log(
      `      cut off: it stopped acting ${Math.round(stoppedAt! - cutAt)} ms after the cut, its shards moved after ${Math.round(movedMs)} ms`,
    );
    expect(movedMs).to.be.at.least(TIMING.leaseDurationMs - TIMING.renewPeriodMs);
    assertNeverShared();

    proxy.mend();
    await waitFor(() => JSON.stringify(holdings(members.slice(1))) === JSON.stringify(expected(live)), {
      what: () => `shards ${JSON.stringify(expected(live))} after the network mended, held ${JSON.stringify(holdings(members.slice(1)))}`,
      timeoutMs: 15_000,
    });
    assertNeverShared();
  });
});
