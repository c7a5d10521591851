import { expect } from 'chai';
import { desiredStatus, READY_MESSAGE, type ActivityInput, type StatusInput } from '../../src/controller/status.js';

const NOW = new Date('2026-12-02T10:00:00.000Z');
const READY = { status: 'True' as const, reason: 'ScaledObjectReady', message: READY_MESSAGE };
const OUTAGE = 'triggers[0] (metric s0-mysql-testdb): cannot connect to MySQL at 127.0.0.1:3306: connection refused (ECONNREFUSED)';

function activity(overrides: Partial<ActivityInput>): ActivityInput {
  return { active: true, fallbackActive: false, health: {}, ...overrides };
}

describe('the VALUE column (status.value)', () => {
  const cases: Array<[string, Partial<StatusInput>, string | undefined]> = [
    ['the first trigger\'s value while it reads', { activity: activity({ firstValue: 8.4 }) }, '8400m'],
    ['failing when its latest read failed, not the last good number', {
      observed: { value: '17', lastMetricValue: '17' }, activity: activity({ failures: [OUTAGE], allFailed: true }) }, 'failing'],
    ['paused while paused', { observed: { value: '17' }, paused: { paused: true, replicas: 2 }, activity: activity({ firstValue: 17 }) }, 'paused'],
    ['not ready while the object is not Ready', { observed: { value: '17' },
      ready: { status: 'False', reason: 'ScaledObjectCheckFailed', message: 'triggers[0].metadata.query is required' } }, 'not ready'],
    ['what the status says until this process has polled', { observed: { value: '17' } }, '17'],
    ['nothing before any poll', {}, undefined],
  ];
  for (const [name, overrides, want] of cases) {
    it(`shows ${name}`, () => {
      const input: StatusInput = { observed: undefined, now: NOW, ready: READY, paused: { paused: false }, ...overrides };
      expect(desiredStatus(input).value).to.equal(want);
    });
  }

  it('keeps the last good reading in lastMetricValue while failing', () => {
    const status = desiredStatus({ observed: { value: '17', lastMetricValue: '17' }, now: NOW, ready: READY, paused: { paused: false },
      activity: activity({ failures: [OUTAGE], allFailed: true }) });
    expect([status.value, status.lastMetricValue]).to.deep.equal(['failing', '17']);
  });
});
