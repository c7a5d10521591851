import { expect } from 'chai';
import { identityProblem, memberLease, microTime, shardLease, shardOfLeaseName, PEER_ADDRESS_ANNOTATION } from '../../src/sharding/leases.js';
import { shardCountInForce } from '../../src/sharding/shard-coordinator.js';
import { publishedValue } from '../../src/sharding/sharded-replica.js';
import type { ScaledObject } from '../../src/api/types.js';

const NOW = new Date('2026-12-07T15:16:06.123Z');

describe('Leases', () => {
  it('writes MicroTime with exactly six fractional digits', () => {
    expect(microTime(NOW)).to.equal('2026-12-07T15:16:06.123000Z');
  });

  const identities: Array<[string, string | undefined]> = [
    ['queryscaler-7d9f8-x1z2q-a1b2c3', undefined],
    ['host.example-1', undefined],
    ['Queryscaler', 'must be lower-case letters, digits, "-" and ".", starting and ending with a letter or digit (it becomes part of a Lease name)'],
    ['-a', 'must be lower-case letters, digits, "-" and ".", starting and ending with a letter or digit (it becomes part of a Lease name)'],
    ['a'.repeat(201), 'is 201 characters long; at most 200 fit in a Lease name'],
  ];
  for (const [identity, problem] of identities) {
    it(`says of identity "${identity.slice(0, 30)}": ${problem ?? 'fine'}`, () => expect(identityProblem(identity)).to.equal(problem));
  }

  it('names shard Leases so the shard can be read back, and nothing else as one', () => {
    expect(shardLease({ namespace: 'q', shard: 7, holder: 'a', leaseDurationSeconds: 10, now: NOW }).metadata.name).to.equal('queryscaler-shard-7');
    expect(shardOfLeaseName('queryscaler-shard-7')).to.equal(7);
    expect(shardOfLeaseName('queryscaler-member-a')).to.equal(undefined);
    expect(shardOfLeaseName('queryscaler-shard-7x')).to.equal(undefined);
  });

  it('swaps a shard Lease on its previous resourceVersion, counting a transition only when another holder takes it', () => {
    const first = shardLease({ namespace: 'q', shard: 1, holder: 'a', leaseDurationSeconds: 10, now: NOW });
    expect(first.spec).to.deep.equal({ holderIdentity: 'a', leaseDurationSeconds: 10, acquireTime: microTime(NOW), renewTime: microTime(NOW), leaseTransitions: 1 });
    const stored = { ...first, metadata: { ...first.metadata, resourceVersion: '42' } };
    const later = new Date(NOW.getTime() + 5_000);
    const reclaimed = shardLease({ namespace: 'q', shard: 1, holder: 'a', leaseDurationSeconds: 10, now: later, previous: stored });
    expect(reclaimed.metadata.resourceVersion).to.equal('42');
    expect(reclaimed.spec).to.include({ acquireTime: microTime(NOW), leaseTransitions: 1 });
    const freed = shardLease({ namespace: 'q', shard: 1, holder: '', leaseDurationSeconds: 10, now: later, previous: stored });
    expect(freed.spec).to.deep.equal({ holderIdentity: '', leaseDurationSeconds: 10, renewTime: microTime(later), leaseTransitions: 1 });
    const taken = shardLease({ namespace: 'q', shard: 1, holder: 'b', leaseDurationSeconds: 10, now: later, previous: { ...freed, metadata: { ...freed.metadata, resourceVersion: '43' } } });
    expect(taken.spec).to.include({ holderIdentity: 'b', acquireTime: microTime(later), leaseTransitions: 2 });
  });

  it('puts the peer address and shard count on the member Lease', () => {
    const lease = memberLease({ namespace: 'q', identity: 'r1', peerAddress: 'https://10.1.2.3:6443', shardCount: 16, leaseDurationSeconds: 10, now: NOW });
    expect(lease.metadata.name).to.equal('queryscaler-member-r1');
    expect(lease.metadata.annotations).to.deep.equal({ [PEER_ADDRESS_ANNOTATION]: 'https://10.1.2.3:6443', 'queryscaler.dev/shard-count': '16' });
    expect(lease.metadata.labels).to.deep.equal({ 'app.kubernetes.io/name': 'queryscaler', 'queryscaler.dev/lease': 'member' });
  });

  it('keeps the oldest live member\'s shard count in force', () => {
    const member = (identity: string, acquired: string, count: string) =>
      memberLease({ namespace: 'q', identity, peerAddress: 'https://x', shardCount: Number(count), leaseDurationSeconds: 10, now: new Date(acquired) });
    expect(shardCountInForce([member('new', '2026-12-07T15:00:00Z', '32'), member('old', '2026-12-07T14:00:00Z', '16')])).to.equal(16);
    expect(shardCountInForce([member('b', '2026-12-07T14:00:00Z', '32'), member('a', '2026-12-07T14:00:00Z', '16')])).to.equal(16);
    expect(shardCountInForce([])).to.equal(undefined);
  });
});

describe('the value a ScaledObject publishes in its status', () => {
  const so = (status: ScaledObject['status']): ScaledObject =>
    ({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'so', namespace: 'ns' }, spec: { scaleTargetRef: { name: 't' }, triggers: [] }, status }) as ScaledObject;
  const request = { namespace: 'ns', scaledObject: 'so', metricName: 's0-mysql-testdb' };

  it('is status.value for the first trigger\'s metric, with lastMetricTime', () => {
    expect(publishedValue(so({ externalMetricNames: ['s0-mysql-testdb', 's1-cron'], value: '8400m', lastMetricTime: '2026-12-07T15:16:06Z' }), request)).to.deep.equal({
      value: 8.4,
      timestamp: new Date('2026-12-07T15:16:06Z'),
    });
  });

  it('is nothing for another trigger, for a word in place of a value, or without a status', () => {
    expect(publishedValue(so({ externalMetricNames: ['s0-mysql-testdb', 's1-cron'], value: '17' }), { ...request, metricName: 's1-cron' })).to.equal(undefined);
    expect(publishedValue(so({ externalMetricNames: ['s0-mysql-testdb'], value: 'failing' }), request)).to.equal(undefined);
    expect(publishedValue(so(undefined), request)).to.equal(undefined);
    expect(publishedValue(undefined, request)).to.equal(undefined);
  });
});
