// Which shard a ScaledObject falls in, and which live replica should hold each shard. Pure.
//
// A key (`namespace/name`) maps to one of a fixed number of shards by hash, so ownership moves a
// shard at a time and never needs a write per ScaledObject. A shard's desired holder is chosen by
// rendezvous (highest-random-weight) hashing over the live members: every replica that sees the same
// members computes the same answer with no coordination, and a member joining or leaving moves
// only the shards it wins or held (about 1/members of them), not a reshuffle of all.

/** FNV-1a over UTF-16 code units, then murmur3's finalizer so close inputs land far apart. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard (0 .. shardCount-1) of a ScaledObject key `namespace/name`. */
export function shardOf(key: string, shardCount: number): number {
  return hash32(key) % shardCount;
}

/** The member that should hold `shard`: the one with the highest weight for it; ties go to the smaller name. */
export function desiredHolder(shard: number, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const weight = hash32(`${member}\u0000${shard}`);
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}
