import { expect } from 'chai';
import type { ScaledObjectStatus } from '../../src/api/types.js';
import { onlyFailureCountsChanged } from '../../src/controller/status.js';

const failing = (n: number): ScaledObjectStatus => ({
  conditions: [{ type: 'Ready', status: 'False', reason: 'TriggerError', message: 'Triggers defined in ScaledObject are not working correctly' }],
  health: { 's0-mysql-testdb': { numberOfFailures: n, status: 'Failing' } },
  value: 'failing',
});

describe('onlyFailureCountsChanged (the outage write throttle)', () => {
  it('is true when only a growing failure count differs', () => {
    expect(onlyFailureCountsChanged(failing(3), failing(4))).to.equal(true);
  });

  it('is false for a trigger turning Happy, a condition change, another field, or a first status', () => {
    const happy: ScaledObjectStatus = { ...failing(0), health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } } };
    const ready: ScaledObjectStatus = { ...failing(4), conditions: [{ type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ok' }] };
    expect([
      onlyFailureCountsChanged(failing(3), happy),
      onlyFailureCountsChanged(failing(3), ready),
      onlyFailureCountsChanged(failing(3), { ...failing(4), value: '17' }),
      onlyFailureCountsChanged(undefined, failing(1)),
    ]).to.deep.equal([false, false, false, false]);
  });
});
