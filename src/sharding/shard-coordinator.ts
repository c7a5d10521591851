// Active-active replicas over coordination.k8s.io/v1 Leases. Each replica renews a member Lease of
// its own; every ScaledObject belongs to one of a fixed number of shards; a shard Lease names the
// replica that holds it, which is the only one to poll, reconcile and write that shard's objects.
// The rules (who should hold what, when a Lease counts as expired) are in shard-plan.ts; this is
// the I/O: the Lease watch, the renewals, the compare-and-swap writes, and telling the controller.
//
// Safety comes from the same two clocks client-go's leader election uses: a replica stops acting
// `renewDeadline` after it *sent* its last successful renewal, while others treat it as gone only
// `leaseDuration` after they last *saw* its Lease change (by their own clock), and even then read
// its Lease afresh before they take a shard from it. The gap between the two (3 s by default) is
// for writes already on the wire. Shard Leases change only when a shard moves, so the steady state
// costs one write per replica per renewPeriod.

import type { Logger } from 'pino';
import { Informer } from '../controller/informers.js';
import { isConflict, isNotFound, type KubeApi } from '../controller/kube-api.js';
import {
  LEASE_ROLE_LABEL,
  leasesPath,
  memberLease,
  memberLeaseName,
  PEER_ADDRESS_ANNOTATION,
  SHARD_COUNT_ANNOTATION,
  shardLease,
  shardLeaseName,
  shardOfLeaseName,
  type Lease,
} from './leases.js';
import { SILENT_SHARDING, type ShardingObserver } from './observer.js';
import type { Ownership, OwnershipListener } from './ownership.js';
import { shardOf } from './shard-map.js';
import { liveMembers, planShards, type ObservedMember, type ObservedShard, type ShardStep } from './shard-plan.js';

export interface LeaseTiming {
  /** How long others wait, after last seeing a replica's member Lease change, before taking its shards. */
  leaseDurationMs: number;
  /** How often a replica renews its member Lease. */
  renewPeriodMs: number;
  /** A replica stops acting this long after the last renewal it sent that succeeded. */
  renewDeadlineMs: number;
  /** How often the shard plan is re-checked without any Lease event (expiries have no event). */
  retryPeriodMs: number;
}

/** kube-controller-manager uses 15 s / 10 s / 2 s; shorter here so a failover fits in 20 s with a poll. */
export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseDurationMs: 10_000, renewPeriodMs: 2_000, renewDeadlineMs: 7_000, retryPeriodMs: 1_000 };

/**
 * A member Lease found at start whose renewTime is this far behind our clock (beyond
 * leaseDuration) is taken as long dead rather than waited out for a whole leaseDuration. Clocks
 * are trusted only to within this much.
 */
const STALE_MEMBER_ALLOWANCE_MS = 60_000;
/** A member Lease unchanged this many leaseDurations is deleted (pods of a Deployment get new names). */
const MEMBER_GC_LEASE_DURATIONS = 6;

export interface ShardCoordinatorOptions {
  /** A client of its own: renewals must not wait behind the controller's bursts in a shared rate limit. */
  api: KubeApi;
  namespace: string;
  identity: string;
  /** Where peers reach this replica's metrics API, e.g. https://10.1.2.3:6443. */
  peerAddress: string;
  shardCount: number;
  timing?: Partial<LeaseTiming>;
  logger: Logger;
  observer?: ShardingObserver;
}

export interface PeerReplica {
  identity: string;
  peerAddress: string;
}

export class ShardCoordinator implements Ownership {
  private readonly timing: LeaseTiming;
  private readonly observer: ShardingObserver;
  private readonly leases: Informer<Lease>;
  private readonly observedAt = new Map<string, number>();
  /** Shards held, each with its Lease as our own write left it: the base of our next swap, whatever the cache shows. */
  private readonly held = new Map<number, Lease>();
  private listener: OwnershipListener | undefined;
  private validUntil = -Infinity;
  private memberVersion: string | undefined;
  private memberAcquireTime: string | undefined;
  private renewing: Promise<void> | undefined;
  private planning: Promise<void> | undefined;
  private replan = false;
  private timers: NodeJS.Timeout[] = [];
  private lapseTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private warnedShardCount: number | undefined;

  constructor(private readonly options: ShardCoordinatorOptions) {
    this.timing = { ...DEFAULT_LEASE_TIMING, ...options.timing };
    this.observer = options.observer ?? SILENT_SHARDING;
    if (!(this.timing.renewPeriodMs < this.timing.renewDeadlineMs && this.timing.renewDeadlineMs < this.timing.leaseDurationMs)) {
      throw new RangeError('lease timing must satisfy renewPeriod < renewDeadline < leaseDuration');
    }
    if (!Number.isInteger(options.shardCount) || options.shardCount < 1) {
      throw new RangeError(`shard count must be a whole number of at least 1, got ${options.shardCount}`);
    }
    this.leases = new Informer<Lease>({
      api: options.api,
      path: leasesPath(options.namespace),
      labelSelector: LEASE_ROLE_LABEL,
      logger: options.logger,
      // Shorter than the default: a watch gone quiet would hide renewals (the fresh read before a take-over guards too).
      watchTimeoutSeconds: 60,
      onChange: (lease, previous) => {
        this.observedAt.set(lease.metadata.name, previous === undefined ? this.firstSighting(lease) : performance.now());
        this.schedulePlan();
      },
      onDelete: (lease) => {
        this.observedAt.delete(lease.metadata.name);
        this.schedulePlan();
      },
    });
  }

  listen(listener: OwnershipListener): void {
    this.listener = listener;
  }

  get identity(): string {
    return this.options.identity;
  }

  /** The member Lease is renewed and the Lease cache has its first list: this replica can take part. */
  get ready(): boolean {
    return this.valid() && this.leases.synced;
  }

  owns(key: string): boolean {
    return this.valid() && this.held.has(shardOf(key, this.options.shardCount));
  }

  /** The live replica that holds `key`'s shard (this one included), or undefined while it is unowned. */
  ownerOf(key: string): PeerReplica | undefined {
    const shard = shardOf(key, this.options.shardCount);
    if (this.owns(key)) return { identity: this.options.identity, peerAddress: this.options.peerAddress };
    const holder = this.leases.get(this.options.namespace, shardLeaseName(shard))?.spec?.holderIdentity ?? '';
    if (holder === '' || holder === this.options.identity) return undefined;
    const member = this.leases.get(this.options.namespace, memberLeaseName(holder));
    const seen = member === undefined ? undefined : this.observedAt.get(member.metadata.name);
    const peerAddress = member?.metadata.annotations?.[PEER_ADDRESS_ANNOTATION];
    if (seen === undefined || performance.now() - seen >= this.timing.leaseDurationMs || peerAddress === undefined) return undefined;
    return { identity: holder, peerAddress };
  }

  /** Shards held now, for logs, readiness and tests. */
  heldShards(): number[] {
    return this.valid() ? [...this.held.keys()].sort((a, b) => a - b) : [];
  }

  async start(): Promise<void> {
    if (this.listener === undefined) throw new Error('ShardCoordinator.start: listen() first, or gained shards would go unnoticed');
    await this.renew();
    if (!this.valid()) {
      throw new Error(
        `cannot write the member Lease ${this.options.namespace}/${memberLeaseName(this.options.identity)}; ` +
          'check that the namespace exists and that queryscaler may create, update and delete leases there (see the log above)',
      );
    }
    await this.leases.start();
    this.timers.push(setInterval(() => void this.renew(), this.timing.renewPeriodMs));
    this.timers.push(setInterval(() => this.schedulePlan(), this.timing.retryPeriodMs));
    this.schedulePlan();
    await this.planning;
    this.options.logger.info({ identity: this.options.identity, shards: this.heldShards() }, 'joined the replica set');
  }

  /** Lets go of every shard (their work drained first) and of the member Lease, so others take over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.lapseTimer);
    await this.planning;
    await this.renewing;
    const shards = [...this.held.keys()];
    const written = await this.letGo(shards);
    await Promise.all(shards.map((shard) => this.swap(shard, '', written.get(shard)).catch(() => undefined)));
    if (this.memberVersion !== undefined) {
      await this.options.api
        .request('delete', `${leasesPath(this.options.namespace)}/${memberLeaseName(this.options.identity)}`, {
          body: { preconditions: { resourceVersion: this.memberVersion } },
          timeoutMs: 5_000,
        })
        .catch((error: unknown) => this.options.logger.warn({ err: errorText(error) }, 'could not delete the member Lease; it expires by itself'));
    }
    await this.leases.stop();
    this.options.logger.info({ identity: this.options.identity, released: shards }, 'left the replica set');
  }

  private valid(): boolean {
    return !this.stopped && performance.now() < this.validUntil;
  }

  /** When a Lease seen for the first time last changed, by our clock: now, unless it is plainly long dead. */
  private firstSighting(lease: Lease): number {
    const renewed = Date.parse(lease.spec?.renewTime ?? '');
    const now = performance.now();
    if (lease.metadata.labels?.[LEASE_ROLE_LABEL] !== 'member' || Number.isNaN(renewed)) return now;
    const behindMs = Date.now() - renewed;
    return behindMs > this.timing.leaseDurationMs + STALE_MEMBER_ALLOWANCE_MS ? now - behindMs : now;
  }

  private renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (this.stopped) return;
    const { namespace, identity } = this.options;
    const path = `${leasesPath(namespace)}/${memberLeaseName(identity)}`;
    const body = (resourceVersion: string | undefined): Lease =>
      memberLease({
        namespace,
        identity,
        peerAddress: this.options.peerAddress,
        shardCount: this.options.shardCount,
        leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
        now: new Date(),
        ...(resourceVersion !== undefined && { resourceVersion }),
        ...(this.memberAcquireTime !== undefined && { acquireTime: this.memberAcquireTime }),
      });
    const sentAt = performance.now();
    const timeoutMs = this.timing.renewDeadlineMs;
    try {
      let lease: Lease;
      if (this.memberVersion === undefined) {
        try {
          lease = await this.options.api.request<Lease>('create', leasesPath(namespace), { body: body(undefined), timeoutMs });
        } catch (error) {
          if (!isConflict(error)) throw error;
          // Ours from an earlier run under the same identity: take it over.
          const existing = await this.options.api.request<Lease>('get', path, { timeoutMs });
          lease = await this.options.api.request<Lease>('update', path, { body: body(existing.metadata.resourceVersion), timeoutMs });
        }
      } else {
        lease = await this.options.api.request<Lease>('update', path, { body: body(this.memberVersion), timeoutMs });
      }
      this.memberVersion = lease.metadata.resourceVersion;
      this.memberAcquireTime = lease.spec?.acquireTime;
      this.validUntil = sentAt + this.timing.renewDeadlineMs;
      this.armLapse();
    } catch (error) {
      // A 409 means someone wrote our Lease; a 404 that it was deleted: start over from a fresh read.
      if (isConflict(error) || isNotFound(error)) this.memberVersion = undefined;
      this.options.logger.warn(
        { identity, err: errorText(error), validForMs: Math.max(0, Math.round(this.validUntil - performance.now())) },
        'could not renew the member Lease',
      );
    }
  }

  private armLapse(): void {
    clearTimeout(this.lapseTimer);
    // A millisecond late on purpose: timers may fire a little before performance.now() reaches the deadline.
    this.lapseTimer = setTimeout(() => void this.lapse(), Math.max(0, this.validUntil - performance.now()) + 1);
  }

  /** The renewal deadline passed: stop all work at once; the shards are re-taken when renewals resume. */
  private async lapse(): Promise<void> {
    if (this.stopped) return;
    if (this.valid()) {
      this.armLapse();
      return;
    }
    if (this.held.size === 0) return;
    const shards = [...this.held.keys()];
    this.options.logger.warn(
      { identity: this.options.identity, shards, renewDeadlineMs: this.timing.renewDeadlineMs },
      'member Lease not renewed within the renew deadline; stopping all work until it is',
    );
    this.observer.shardMoved('lapse');
    await this.letGo(shards);
  }

  private schedulePlan(): void {
    if (this.stopped) return;
    if (this.planning !== undefined) {
      this.replan = true;
      return;
    }
    this.planning = this.planOnce()
      .catch((error: unknown) => this.options.logger.warn({ err: errorText(error) }, 'shard plan failed; retrying'))
      .finally(() => {
        this.planning = undefined;
        if (this.replan) {
          this.replan = false;
          this.schedulePlan();
        }
      });
  }

  private async planOnce(): Promise<void> {
    if (!this.leases.synced) return;
    const { shardCount } = this.options;
    const members: ObservedMember[] = [];
    const memberLeases: Lease[] = [];
    const shards: ObservedShard[] = Array.from({ length: shardCount }, (_, shard) => ({ shard, exists: false, holder: '' }));
    for (const lease of this.leases.list()) {
      const role = lease.metadata.labels?.[LEASE_ROLE_LABEL];
      if (role === 'member') {
        const identity = lease.spec?.holderIdentity ?? '';
        members.push({ identity, observedAt: this.observedAt.get(lease.metadata.name) ?? -Infinity });
        memberLeases.push(lease);
      } else if (role === 'shard') {
        const shard = shardOfLeaseName(lease.metadata.name);
        if (shard === undefined || shard >= shardCount) continue;
        shards[shard] = {
          shard,
          exists: true,
          holder: lease.spec?.holderIdentity ?? '',
          ...(lease.metadata.resourceVersion !== undefined && { resourceVersion: lease.metadata.resourceVersion }),
        };
      }
    }
    const now = performance.now();
    const base = { me: this.options.identity, now, leaseDurationMs: this.timing.leaseDurationMs, valid: this.valid(), members };
    const live = new Set(liveMembers(base));
    const inForce = shardCountInForce(memberLeases.filter((lease) => live.has(lease.spec?.holderIdentity ?? '')));
    const agrees = inForce === undefined || inForce === shardCount;
    this.warnOnShardCount(inForce, agrees);
    if (!agrees) {
      await this.letGo([...this.held.keys()]);
      return;
    }
    const steps = planShards({ ...base, shards, held: new Map([...this.held].map(([shard, lease]) => [shard, lease.metadata.resourceVersion ?? ''])) });
    await this.apply(steps);
    await this.collectDeadMembers(members, live);
    if (steps.length > 0) {
      this.options.logger.info(
        { identity: this.options.identity, steps: steps.map((s) => `${s.kind} ${s.shard}`), shards: this.heldShards(), members: [...live] },
        'shards moved',
      );
    }
  }

  private async apply(steps: readonly ShardStep[]): Promise<void> {
    const leaving = steps.filter((s) => s.kind === 'drop' || (s.kind === 'release' && this.held.has(s.shard))).map((s) => s.shard);
    const written = await this.letGo(leaving);
    await Promise.all(
      steps.map(async (step) => {
        try {
          if (step.kind === 'release') {
            await this.swap(step.shard, '', written.get(step.shard));
            this.observer.shardMoved('release');
          } else if (step.kind === 'acquire' || step.kind === 'create') {
            if (await this.take(step)) this.observer.shardMoved(step.kind);
          } else {
            this.observer.shardMoved('drop');
          }
        } catch (error) {
          // Another replica's swap won, or the API failed: the next plan looks again.
          const level = isConflict(error) ? 'debug' : 'warn';
          this.options.logger[level]({ shard: step.shard, step: step.kind, err: errorText(error) }, 'shard Lease write failed');
        }
      }),
    );
  }

  /** True when this replica now acts on the shard. */
  private async take(step: Extract<ShardStep, { kind: 'acquire' | 'create' }>): Promise<boolean> {
    if (step.kind === 'acquire' && step.expiredHolder !== undefined && !(await this.confirmedGone(step.expiredHolder))) return false;
    const lease = step.kind === 'create' ? await this.createShard(step.shard) : await this.swap(step.shard, this.options.identity);
    if (this.stopped) {
      // stop() began while we wrote: give it back rather than leave it to expire.
      await this.swap(step.shard, '', lease);
      return false;
    }
    // The renewal lapsed while we wrote: the claim stands, but acting waits for the next plan's re-swap.
    if (!this.valid()) return false;
    this.held.set(step.shard, lease);
    const shard = step.shard;
    this.listener?.gained((key) => shardOf(key, this.options.shardCount) === shard);
    this.observer.shardsHeld(this.held.size);
    return true;
  }

  /** A fresh read of a member Lease we believe expired: gone or unchanged since we last saw it. */
  private async confirmedGone(identity: string): Promise<boolean> {
    const name = memberLeaseName(identity);
    try {
      const fresh = await this.options.api.request<Lease>('get', `${leasesPath(this.options.namespace)}/${name}`, { timeoutMs: this.timing.retryPeriodMs * 2 });
      const cached = this.leases.get(this.options.namespace, name);
      if (cached !== undefined && cached.metadata.resourceVersion === fresh.metadata.resourceVersion) return true;
      // It changed where our watch did not show it: alive after all.
      this.observedAt.set(name, performance.now());
      return false;
    } catch (error) {
      if (isNotFound(error)) return true;
      throw error;
    }
  }

  private async createShard(shard: number): Promise<Lease> {
    const body = shardLease({
      namespace: this.options.namespace,
      shard,
      holder: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
      now: new Date(),
    });
    return this.options.api.request<Lease>('create', leasesPath(this.options.namespace), { body, timeoutMs: this.timing.renewDeadlineMs });
  }

  /** Compare-and-swap of the shard Lease's holder against `previous` (by default, the version in the cache). */
  private async swap(shard: number, holder: string, previous = this.leases.get(this.options.namespace, shardLeaseName(shard))): Promise<Lease> {
    if (previous === undefined) throw new Error(`shard Lease ${shardLeaseName(shard)} is not in the cache`);
    const body = shardLease({
      namespace: this.options.namespace,
      shard,
      holder,
      leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
      now: new Date(),
      previous,
    });
    return this.options.api.request<Lease>('update', `${leasesPath(this.options.namespace)}/${shardLeaseName(shard)}`, {
      body,
      timeoutMs: this.timing.renewDeadlineMs,
    });
  }

  /**
   * Stops acting on these shards and waits until their work can write nothing more; returns their
   * Leases as our last writes left them, to free them from.
   */
  private async letGo(shards: readonly number[]): Promise<Map<number, Lease>> {
    const written = new Map<number, Lease>();
    if (shards.length === 0) return written;
    for (const shard of shards) {
      const lease = this.held.get(shard);
      if (lease === undefined) continue;
      written.set(shard, lease);
      this.held.delete(shard);
    }
    this.observer.shardsHeld(this.held.size);
    await this.listener?.lost((key) => written.has(shardOf(key, this.options.shardCount)));
    return written;
  }

  private async collectDeadMembers(members: readonly ObservedMember[], live: ReadonlySet<string>): Promise<void> {
    const horizon = performance.now() - MEMBER_GC_LEASE_DURATIONS * this.timing.leaseDurationMs;
    for (const member of members) {
      if (live.has(member.identity) || member.identity === this.options.identity || member.observedAt > horizon) continue;
      const name = memberLeaseName(member.identity);
      const lease = this.leases.get(this.options.namespace, name);
      if (lease === undefined) continue;
      await this.options.api
        .request('delete', `${leasesPath(this.options.namespace)}/${name}`, {
          body: { preconditions: { resourceVersion: lease.metadata.resourceVersion } },
          timeoutMs: this.timing.renewDeadlineMs,
        })
        .then(() => this.options.logger.info({ member: member.identity }, 'deleted the member Lease of a replica gone for good'))
        .catch(() => undefined);
    }
  }

  private warnOnShardCount(inForce: number | undefined, agrees: boolean): void {
    if (agrees) {
      this.warnedShardCount = undefined;
      return;
    }
    if (this.warnedShardCount === inForce) return;
    this.warnedShardCount = inForce;
    this.options.logger.error(
      { shardCountInForce: inForce, ourShardCount: this.options.shardCount },
      `the oldest live replica runs with --shards=${inForce} and this one with --shards=${this.options.shardCount}; ` +
        'this replica holds no shards (it still forwards metric requests) until every older replica has gone: give all replicas the same value',
    );
  }
}

/**
 * The shard count the oldest live member announced (by its Lease's acquireTime, then name): two
 * counts at once would map one ScaledObject to two shards and two owners, so during a rollout that
 * changes --shards the old count stays in force until the last replica with it has gone.
 */
export function shardCountInForce(liveMemberLeases: readonly Lease[]): number | undefined {
  const oldest = [...liveMemberLeases].sort(
    (a, b) => (a.spec?.acquireTime ?? '').localeCompare(b.spec?.acquireTime ?? '') || a.metadata.name.localeCompare(b.metadata.name),
  )[0];
  const count = Number(oldest?.metadata.annotations?.[SHARD_COUNT_ANNOTATION]);
  return Number.isInteger(count) && count > 0 ? count : undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
