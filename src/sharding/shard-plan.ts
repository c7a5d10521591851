// What one replica should do next about the shard Leases, given what it has observed. Pure.
//
// The rules are client-go's leader election applied per shard, with one change that keeps the
// steady state free of writes: a shard Lease names its holder, and is valid for as long as that
// holder's member Lease is renewed; only the member Lease is renewed. So:
// - A member is live while its member Lease changed within leaseDuration by the observer's own
//   clock (observed time, as client-go does: no trust in other machines' clocks).
// - Each shard's desired holder is the rendezvous winner among live members (shard-map.ts).
// - A replica acts on a shard only after its own compare-and-swap write naming itself succeeded in
//   this holding (`held`); a claim found on restart or after a lapse is re-written first, so a
//   replica that raced it for the shard loses the swap instead of acting beside it.
// - A holder that is no longer desired drains its work and then frees the Lease (holder "");
//   the desired member takes a free Lease, or one whose holder's member Lease has expired (after
//   a fresh read of that member Lease confirms it, so a stale watch cannot hand a live replica's
//   shard away).

import { desiredHolder } from './shard-map.js';

export interface ObservedMember {
  identity: string;
  /** Local monotonic time (ms) at which this member Lease was last seen to change. */
  observedAt: number;
}

export interface ObservedShard {
  shard: number;
  /** The shard Lease exists. */
  exists: boolean;
  /** spec.holderIdentity; "" when free. */
  holder: string;
  resourceVersion?: string;
}

export interface PlanInput {
  me: string;
  now: number;
  leaseDurationMs: number;
  /** This replica's own member Lease was renewed recently enough to act (see ShardCoordinator). */
  valid: boolean;
  members: readonly ObservedMember[];
  /** One entry per shard, 0 .. shardCount-1. */
  shards: readonly ObservedShard[];
  /** Shards this replica holds and acts on now, with the resourceVersion its own write gave the Lease. */
  held: ReadonlyMap<number, string>;
}

export type ShardStep =
  /** Someone else's swap took a shard we held: stop at once, nothing to write. */
  | { kind: 'drop'; shard: number }
  /** Drain this shard's work, then free its Lease. */
  | { kind: 'release'; shard: number }
  /** Name ourselves holder; `expiredHolder` must be confirmed expired by a fresh read first. */
  | { kind: 'acquire'; shard: number; expiredHolder?: string }
  /** The shard Lease does not exist yet: create it naming ourselves. */
  | { kind: 'create'; shard: number };

/** Members whose Lease changed within leaseDuration, sorted; this replica counts while it is valid. */
export function liveMembers(input: Pick<PlanInput, 'me' | 'now' | 'leaseDurationMs' | 'valid' | 'members'>): string[] {
  const live = new Set<string>();
  for (const member of input.members) {
    if (member.identity !== '' && input.now - member.observedAt < input.leaseDurationMs) live.add(member.identity);
  }
  if (input.valid) live.add(input.me);
  else live.delete(input.me);
  return [...live].sort();
}

export function planShards(input: PlanInput): ShardStep[] {
  const { me, held } = input;
  if (!input.valid) return [];
  const live = liveMembers(input);
  const liveSet = new Set(live);
  const steps: ShardStep[] = [];
  for (const observed of input.shards) {
    const { shard } = observed;
    const desired = desiredHolder(shard, live);
    const ours = held.get(shard);
    if (ours !== undefined) {
      // A cache still showing the Lease from before our own write is not news; a newer version naming another is.
      if (observed.holder !== me && isNewerVersion(observed.resourceVersion, ours)) steps.push({ kind: 'drop', shard });
      else if (desired !== me) steps.push({ kind: 'release', shard });
      continue;
    }
    if (desired === me) {
      if (!observed.exists) steps.push({ kind: 'create', shard });
      else if (observed.holder === '' || observed.holder === me) steps.push({ kind: 'acquire', shard });
      else if (!liveSet.has(observed.holder)) steps.push({ kind: 'acquire', shard, expiredHolder: observed.holder });
    } else if (observed.exists && observed.holder === me) {
      // A claim of ours from before (a restart under the same name, a lapse): free it for the desired holder.
      steps.push({ kind: 'release', shard });
    }
  }
  return steps;
}

/**
 * resourceVersion `a` is later than `b`. Kubernetes calls them opaque, but every API server on etcd
 * hands out its revision, a whole number; anything else is never taken as newer, so a replica keeps
 * a shard until a swap that the API server can order says otherwise.
 */
export function isNewerVersion(a: string | undefined, b: string): boolean {
  if (a === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}
