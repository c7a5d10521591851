import { expect } from 'chai';
import { isNewerVersion, liveMembers, planShards, type ObservedShard, type PlanInput } from '../../src/sharding/shard-plan.js';
import { desiredHolder } from '../../src/sharding/shard-map.js';

const LEASE_MS = 10_000;
const NOW = 100_000;
const SHARDS = 8;

function input(overrides: Partial<PlanInput> & { shardsBy?: (shard: number) => Partial<ObservedShard> }): PlanInput {
  const { shardsBy, ...rest } = overrides;
  return {
    me: 'a',
    now: NOW,
    leaseDurationMs: LEASE_MS,
    valid: true,
    members: [
      { identity: 'a', observedAt: NOW - 1_000 },
      { identity: 'b', observedAt: NOW - 1_000 },
    ],
    shards: Array.from({ length: SHARDS }, (_, shard) => ({ shard, exists: true, holder: '', resourceVersion: '10', ...shardsBy?.(shard) })),
    held: new Map(),
    ...rest,
  };
}

const mine = (members: string[]) => Array.from({ length: SHARDS }, (_, s) => s).filter((s) => desiredHolder(s, members) === 'a');
const theirs = (members: string[]) => Array.from({ length: SHARDS }, (_, s) => s).filter((s) => desiredHolder(s, members) !== 'a');

describe('shard plan', () => {
  it('counts a member live for leaseDuration after its Lease last changed, and itself only while valid', () => {
    const members = [
      { identity: 'a', observedAt: NOW - 20_000 },
      { identity: 'b', observedAt: NOW - 9_999 },
      { identity: 'c', observedAt: NOW - 10_000 },
      { identity: '', observedAt: NOW },
    ];
    expect(liveMembers({ me: 'a', now: NOW, leaseDurationMs: LEASE_MS, valid: true, members })).to.deep.equal(['a', 'b']);
    expect(liveMembers({ me: 'b', now: NOW, leaseDurationMs: LEASE_MS, valid: false, members })).to.deep.equal([]);
  });

  it('does nothing while its own Lease is not valid', () => {
    expect(planShards(input({ valid: false }))).to.deep.equal([]);
  });

  it('takes the free shards it should hold and creates the missing ones, leaving the others alone', () => {
    const missing = mine(['a', 'b'])[0];
    const steps = planShards(input({ shardsBy: (s) => (s === missing ? { exists: false } : {}) }));
    expect(steps).to.deep.equal(mine(['a', 'b']).map((shard) => (shard === missing ? { kind: 'create', shard } : { kind: 'acquire', shard })));
  });

  it('waits for a live holder to free a shard it should hold, and takes one whose holder expired after a fresh check', () => {
    const live = planShards(input({ shardsBy: () => ({ holder: 'b' }) }));
    expect(live).to.deep.equal([]);
    const expired = planShards(input({ members: [{ identity: 'a', observedAt: NOW }, { identity: 'b', observedAt: NOW - LEASE_MS }], shardsBy: () => ({ holder: 'b' }) }));
    expect(expired).to.deep.equal(Array.from({ length: SHARDS }, (_, shard) => ({ kind: 'acquire', shard, expiredHolder: 'b' })));
  });

  it('releases held shards another member should hold, and keeps the rest', () => {
    const all = new Map(Array.from({ length: SHARDS }, (_, s) => [s, '10'] as const));
    const steps = planShards(input({ held: all, shardsBy: () => ({ holder: 'a' }) }));
    expect(steps).to.deep.equal(theirs(['a', 'b']).map((shard) => ({ kind: 'release', shard })));
  });

  it('re-swaps its own claim found without holding it (a restart, a lapse), and frees one it should not hold', () => {
    const steps = planShards(input({ shardsBy: () => ({ holder: 'a' }) }));
    expect(steps).to.deep.equal(
      Array.from({ length: SHARDS }, (_, shard) => (mine(['a', 'b']).includes(shard) ? { kind: 'acquire', shard } : { kind: 'release', shard })),
    );
  });

  it('drops a held shard at once when a newer version names another holder, but not on a cache that lags its own write', () => {
    const shard = mine(['a', 'b'])[0]!;
    const held = new Map([[shard, '20']]);
    const newer = planShards(input({ held, shardsBy: (s) => (s === shard ? { holder: 'b', resourceVersion: '21' } : { holder: 'b' }) }));
    expect(newer).to.deep.include({ kind: 'drop', shard });
    const lagging = planShards(input({ held, shardsBy: (s) => (s === shard ? { holder: '', resourceVersion: '19' } : { holder: 'b' }) }));
    expect(lagging.filter((s) => s.shard === shard)).to.deep.equal([]);
  });

  const versions: Array<[string | undefined, string, boolean]> = [
    ['11', '10', true],
    ['10', '10', false],
    ['9', '10', false],
    ['100000000000000000001', '100000000000000000000', true],
    ['abc', '10', false],
    [undefined, '10', false],
  ];
  for (const [a, b, newer] of versions) {
    it(`takes resourceVersion ${String(a)} as ${newer ? '' : 'not '}newer than ${b}`, () => expect(isNewerVersion(a, b)).to.equal(newer));
  }
});
