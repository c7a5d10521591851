import { expect } from 'chai';
import { desiredHolder, hash32, shardOf } from '../../src/sharding/shard-map.js';

const SHARDS = 16;
const shards = Array.from({ length: SHARDS }, (_, s) => s);
const holders = (members: string[]): Array<string | undefined> => shards.map((s) => desiredHolder(s, members));

describe('shard map', () => {
  it('hashes the same text to the same 32-bit number, and close texts far apart', () => {
    expect(hash32('ns/so-1')).to.equal(hash32('ns/so-1'));
    expect(hash32('ns/so-1')).to.not.equal(hash32('ns/so-2'));
    expect(hash32('')).to.be.within(0, 2 ** 32 - 1);
  });

  it('spreads 3,000 keys over 16 shards within 25 % of the mean', () => {
    const counts = new Array<number>(SHARDS).fill(0);
    for (let i = 0; i < 3000; i += 1) counts[shardOf(`bench-${i % 7}/so-${i}`, SHARDS)]! += 1;
    for (const count of counts) expect(count).to.be.within(3000 / SHARDS * 0.75, 3000 / SHARDS * 1.25);
  });

  it('gives every shard to exactly one member, the same whatever order the members are listed in', () => {
    const members = ['queryscaler-a-1f2e3d', 'queryscaler-b-4c5b6a', 'queryscaler-c-798877'];
    expect(holders(members)).to.deep.equal(holders([...members].reverse()));
    for (const holder of holders(members)) expect(members).to.include(holder);
    expect(desiredHolder(0, [])).to.equal(undefined);
    expect(holders(['only'])).to.deep.equal(shards.map(() => 'only'));
  });

  it('moves only the shards the newcomer wins when a member joins, and only the leaver\'s when one leaves', () => {
    const three = ['r-a', 'r-b', 'r-c'];
    const four = [...three, 'r-d'];
    const before = holders(three);
    const after = holders(four);
    shards.forEach((s) => {
      if (before[s] !== after[s]) expect(after[s]).to.equal('r-d');
    });
    const two = ['r-a', 'r-c'];
    const afterLeave = holders(two);
    shards.forEach((s) => {
      if (before[s] !== afterLeave[s]) expect(before[s]).to.equal('r-b');
    });
  });

  it('balances 16 shards over 3 members no worse than 3 to 8', () => {
    const counts = new Map<string, number>();
    for (const holder of holders(['queryscaler-7d9f8-x1', 'queryscaler-7d9f8-x2', 'queryscaler-7d9f8-x3'])) counts.set(holder!, (counts.get(holder!) ?? 0) + 1);
    expect(counts.size).to.equal(3);
    for (const count of counts.values()) expect(count).to.be.within(3, 8);
  });
});
