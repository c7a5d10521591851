import { expect } from 'chai';
import type { Condition } from '../../src/api/types.js';
import { desiredStatus, READY_MESSAGE, type ActivityInput, type StatusInput } from '../../src/controller/status.js';

const NOW = new Date('2026-12-02T10:00:00.000Z');
const LATER = new Date('2026-12-02T10:00:05.000Z');
const EXCESS = "the MySQL account 'root'@'%' that the trigger uses holds more than SELECT: ALL PRIVILEGES ON *.*";

function status(activity: Partial<ActivityInput> | undefined, observed?: StatusInput['observed'], now = NOW): Condition | undefined {
  const input: StatusInput = {
    observed,
    now,
    ready: { status: 'True', reason: 'ScaledObjectReady', message: READY_MESSAGE },
    paused: { paused: false },
    ...(activity && { activity: { active: true, fallbackActive: false, health: {}, ...activity } }),
  };
  return desiredStatus(input).conditions?.find((c) => c.type === 'LeastPrivilege');
}

describe('the LeastPrivilege condition', () => {
  it('is False with each excessive trigger account named', () => {
    expect(status({ accountAudits: [
      { trigger: 'triggers[0]', audit: { account: "'root'@'%'", excessMessage: EXCESS } },
      { trigger: 'triggers[1]', audit: { account: "'reader'@'%'" } },
    ] })).to.deep.equal({ type: 'LeastPrivilege', status: 'False', reason: 'ExcessPrivileges', message: `triggers[0]: ${EXCESS}`,
      lastTransitionTime: NOW.toISOString() });
  });

  it('is True when every audited account can only read', () => {
    expect(status({ accountAudits: [{ trigger: 'triggers[0]', audit: { account: "'reader'@'%'" } }] })).to.deep.equal({
      type: 'LeastPrivilege', status: 'True', reason: 'SelectOnly', message: "The trigger accounts ('reader'@'%') can only read",
      lastTransitionTime: NOW.toISOString() });
  });

  it('is kept with its transition time while a poll reports no audit (a failed read), and absent where nothing was ever audited', () => {
    const first = status({ accountAudits: [{ trigger: 'triggers[0]', audit: { account: "'root'@'%'", excessMessage: EXCESS } }] })!;
    expect(status({ accountAudits: [] }, { conditions: [first] }, LATER)).to.deep.equal(first);
    expect(status(undefined, { conditions: [first] }, LATER)).to.deep.equal(first);
    expect(status({ accountAudits: [] })).to.equal(undefined);
  });
});
