import { expect } from 'chai';
import type { ScaledObjectStatus } from '../../src/api/types.js';
import { desiredStatus, lastActiveFromStatus, READY_MESSAGE, statusPatch, type StatusInput } from '../../src/controller/status.js';

const T0 = '2026-11-26T10:00:00.000Z';
const NOW = new Date('2026-11-26T10:05:00.000Z');
const READY = { status: 'True' as const, reason: 'ScaledObjectReady', message: READY_MESSAGE };
const OUTAGE =
  'triggers[0] (metric s0-mysql-testdb): cannot connect to MySQL at 127.0.0.1:3306: connection refused (ECONNREFUSED); check host and port in the trigger ' +
  '(or its connection string) and that the server is running and reachable';
const TARGET = { kind: 'StatefulSet', gvkr: { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets' } };

function input(overrides: Partial<StatusInput> = {}): StatusInput {
  return { observed: undefined, now: NOW, ready: READY, paused: { paused: false }, ...overrides };
}

function steady(active: boolean): ScaledObjectStatus {
  // What a previous write left: every field settled at T0.
  return desiredStatus(
    input({
      now: new Date(T0),
      target: TARGET,
      hpaName: 'keda-hpa-so',
      externalMetricNames: ['s0-mysql-testdb'],
      currentReplicas: 1,
      activity: { active, fallbackActive: false, health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } }, firstValue: 17, readAt: new Date(T0), ...(active && { lastSeenActive: new Date(T0) }) },
    }),
  );
}

describe('desiredStatus', () => {
  it('first status of the seed ScaledObject: every field, Unknown activity before any poll', () => {
    expect(
      desiredStatus(input({ target: TARGET, hpaName: 'keda-hpa-mysql-scaledobject', externalMetricNames: ['s0-mysql-testdb'], currentReplicas: 1 })),
    ).to.deep.equal({
      conditions: [
        { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: READY_MESSAGE, lastTransitionTime: NOW.toISOString() },
        { type: 'Active', status: 'Unknown', reason: 'NotObservedYet', message: 'No poll has completed yet', lastTransitionTime: NOW.toISOString() },
        { type: 'Fallback', status: 'Unknown', reason: 'NotObservedYet', message: 'No poll has completed yet', lastTransitionTime: NOW.toISOString() },
        { type: 'Paused', status: 'False', reason: 'ScaledObjectNotPaused', message: 'ScaledObject is not paused', lastTransitionTime: NOW.toISOString() },
      ],
      scaleTargetKind: 'StatefulSet',
      scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets' },
      originalReplicaCount: 1,
      hpaName: 'keda-hpa-mysql-scaledobject',
      externalMetricNames: ['s0-mysql-testdb'],
    });
  });

  const cases: Array<{ name: string; in: StatusInput; pick: (s: ScaledObjectStatus) => unknown; want: unknown }> = [
    {
      name: 'a condition that keeps its status keeps its lastTransitionTime',
      in: input({ observed: steady(true), activity: { active: true, fallbackActive: false, health: {}, lastSeenActive: NOW } }),
      pick: (s) => s.conditions?.find((c) => c.type === 'Active')?.lastTransitionTime,
      want: T0,
    },
    {
      name: 'a condition that flips gets now',
      in: input({ observed: steady(true), activity: { active: false, fallbackActive: false, health: {}, lastSeenActive: new Date('2026-11-26T10:04:59.000Z') } }),
      pick: (s) => s.conditions?.find((c) => c.type === 'Active'),
      want: { type: 'Active', status: 'False', reason: 'ScalerNotActive', message: 'Scaling is not performed because triggers are not active', lastTransitionTime: NOW.toISOString() },
    },
    {
      name: 'lastActiveTime: set to now on inactive -> active',
      in: input({ observed: steady(false), activity: { active: true, fallbackActive: false, health: {}, lastSeenActive: NOW } }),
      pick: (s) => s.lastActiveTime,
      want: NOW.toISOString(),
    },
    {
      name: 'lastActiveTime: not moved while staying active (no write per poll)',
      in: input({ observed: steady(true), activity: { active: true, fallbackActive: false, health: {}, lastSeenActive: NOW } }),
      pick: (s) => s.lastActiveTime,
      want: T0,
    },
    {
      name: 'lastActiveTime: on active -> inactive it records the last poll that saw it active (cooldown starts there)',
      in: input({ observed: steady(true), activity: { active: false, fallbackActive: false, health: {}, lastSeenActive: new Date('2026-11-26T10:04:59.000Z') } }),
      pick: (s) => s.lastActiveTime,
      want: '2026-11-26T10:04:59.000Z',
    },
    {
      name: 'lastMetricValue and lastMetricTime stay when the value is the same',
      in: input({ observed: steady(false), activity: { active: false, fallbackActive: false, health: {}, firstValue: 17, readAt: NOW } }),
      pick: (s) => [s.lastMetricValue, s.lastMetricTime],
      want: ['17', T0],
    },
    {
      name: 'lastMetricValue is a quantity and lastMetricTime moves when the value changes',
      in: input({ observed: steady(false), activity: { active: false, fallbackActive: false, health: {}, firstValue: 2.5, readAt: NOW } }),
      pick: (s) => [s.lastMetricValue, s.lastMetricTime],
      want: ['2500m', NOW.toISOString()],
    },
    {
      name: 'a failed read keeps the last value',
      in: input({ observed: steady(false), activity: { active: false, fallbackActive: false, health: { 's0-mysql-testdb': { numberOfFailures: 2, status: 'Failing' } } } }),
      pick: (s) => [s.lastMetricValue, s.lastMetricTime, s.health],
      want: ['17', T0, { 's0-mysql-testdb': { numberOfFailures: 2, status: 'Failing' } }],
    },
    {
      name: 'fallback in force',
      in: input({ observed: steady(false), activity: { active: false, fallbackActive: true, health: {} } }),
      pick: (s) => s.conditions?.find((c) => c.type === 'Fallback')?.reason,
      want: 'FallbackExists',
    },
    {
      name: 'paused with replicas: condition and pausedReplicaCount',
      in: input({ observed: steady(false), paused: { paused: true, replicas: 2 } }),
      pick: (s) => [s.conditions?.find((c) => c.type === 'Paused')?.message, s.pausedReplicaCount],
      want: ['ScaledObject is paused at 2 replicas', 2],
    },
    {
      name: 'originalReplicaCount, once recorded, is kept whatever the target has now',
      in: input({ observed: steady(false), currentReplicas: 7 }),
      pick: (s) => s.originalReplicaCount,
      want: 1,
    },
    {
      name: 'outage: no trigger read -> Ready False naming the failure, Active Unknown (the HPA has no metric)',
      in: input({ observed: steady(true), activity: { active: false, fallbackActive: false, health: {}, allFailed: true, failures: [OUTAGE] } }),
      pick: (s) => s.conditions?.slice(0, 2).map((c) => [c.type, c.status, c.reason, c.message]),
      want: [
        ['Ready', 'False', 'TriggerError', `Triggers defined in ScaledObject are not working correctly: ${OUTAGE}`],
        ['Active', 'Unknown', 'TriggerError', 'No trigger could be read, so whether they are active is unknown; the HPA cannot read its metric and keeps the current replica count'],
      ],
    },
    {
      name: 'outage with fallback in force: Ready stays True, Active Unknown says the HPA scales on the fallback',
      in: input({ observed: steady(true), activity: { active: false, fallbackActive: true, health: {}, allFailed: true, failures: [OUTAGE] } }),
      pick: (s) => s.conditions?.slice(0, 2).map((c) => [c.type, c.status, c.reason, c.message]),
      want: [
        ['Ready', 'True', 'ScaledObjectReady', READY_MESSAGE],
        ['Active', 'Unknown', 'TriggerError', 'No trigger could be read, so whether they are active is unknown; the HPA scales on the fallback replicas'],
      ],
    },
    {
      name: 'one of two triggers failing: Ready Unknown PartialTriggerError, Active from the trigger that was read',
      in: input({ observed: steady(true), activity: { active: true, fallbackActive: false, health: {}, allFailed: false, failures: [OUTAGE] } }),
      pick: (s) => s.conditions?.slice(0, 2).map((c) => [c.type, c.status, c.reason, c.message]),
      want: [
        ['Ready', 'Unknown', 'PartialTriggerError', `Some triggers defined in ScaledObject are not working correctly: ${OUTAGE}`],
        ['Active', 'True', 'ScalerActive', 'Scaling is performed because triggers are active'],
      ],
    },
    {
      name: 'outage does not hide a configuration error: Ready keeps the reconcile verdict',
      in: input({ observed: steady(true), ready: { status: 'False', reason: 'ScaledObjectCheckFailed', message: 'x: y' }, activity: { active: false, fallbackActive: false, health: {}, allFailed: true, failures: [OUTAGE] } }),
      pick: (s) => [s.conditions?.[0]?.reason, s.conditions?.[0]?.message],
      want: ['ScaledObjectCheckFailed', 'x: y'],
    },
    {
      name: 'recovered: the first good poll after an outage is Ready True and Active True again',
      in: input({
        observed: desiredStatus(input({ observed: steady(true), activity: { active: false, fallbackActive: false, health: {}, allFailed: true, failures: [OUTAGE] } })),
        activity: { active: true, fallbackActive: false, health: {}, allFailed: false, failures: [], firstValue: 17, readAt: NOW },
      }),
      pick: (s) => s.conditions?.slice(0, 2).map((c) => [c.type, c.status, c.reason]),
      want: [
        ['Ready', 'True', 'ScaledObjectReady'],
        ['Active', 'True', 'ScalerActive'],
      ],
    },
    {
      name: 'not ready: the message is the one given, target fields kept from before',
      in: input({ observed: steady(false), ready: { status: 'False', reason: 'TriggerAuthenticationFailed', message: 'x: y' } }),
      pick: (s) => [s.conditions?.[0]?.status, s.conditions?.[0]?.message, s.hpaName, s.scaleTargetKind],
      want: ['False', 'x: y', 'keda-hpa-so', 'StatefulSet'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(c.pick(desiredStatus(c.in))).to.deep.equal(c.want);
    });
  }
});

describe('statusPatch', () => {
  it('is undefined when nothing changed (a steady poll writes nothing)', () => {
    const observed = steady(true);
    const again = desiredStatus(
      input({
        observed,
        target: TARGET,
        hpaName: 'keda-hpa-so',
        externalMetricNames: ['s0-mysql-testdb'],
        currentReplicas: 1,
        activity: { active: true, fallbackActive: false, health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } }, firstValue: 17, readAt: NOW, lastSeenActive: NOW },
      }),
    );
    expect(statusPatch(observed, again)).to.equal(undefined);
  });

  it('ignores key order', () => {
    expect(statusPatch({ scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets' } }, { scaleTargetGVKR: { resource: 'statefulsets', kind: 'StatefulSet', version: 'v1', group: 'apps' } })).to.equal(undefined);
  });

  it('holds only the changed fields, and null for dropped ones', () => {
    expect(statusPatch({ hpaName: 'a', pausedReplicaCount: 2, originalReplicaCount: 1 }, { hpaName: 'b', originalReplicaCount: 1 })).to.deep.equal({
      hpaName: 'b',
      pausedReplicaCount: null,
    });
  });

  it('deletes a metric gone from health with null, since a merge patch merges maps', () => {
    const observed = {
      health: { 's0-mysql-olddb': { numberOfFailures: 0, status: 'Happy' as const }, 's1-cron-x': { numberOfFailures: 0, status: 'Happy' as const } },
    };
    const desired = {
      health: { 's0-mysql-newdb': { numberOfFailures: 0, status: 'Happy' as const }, 's1-cron-x': { numberOfFailures: 0, status: 'Happy' as const } },
    };
    expect(statusPatch(observed, desired)).to.deep.equal({
      health: { 's0-mysql-olddb': null, 's0-mysql-newdb': { numberOfFailures: 0, status: 'Happy' } },
    });
  });

  it('changes one field of a nested object without resending the rest', () => {
    expect(statusPatch({ health: { m: { numberOfFailures: 1, status: 'Failing' } } }, { health: { m: { numberOfFailures: 2, status: 'Failing' } } })).to.deep.equal({
      health: { m: { numberOfFailures: 2 } },
    });
  });

  it('sends all conditions when one changed', () => {
    const observed = steady(false);
    const desired = desiredStatus(input({ observed, activity: { active: true, fallbackActive: false, health: { 's0-mysql-testdb': { numberOfFailures: 0, status: 'Happy' } }, firstValue: 17, lastSeenActive: NOW } }));
    const patch = statusPatch(observed, desired);
    expect(Object.keys(patch ?? {}).sort()).to.deep.equal(['conditions', 'lastActiveTime']);
    expect((patch?.conditions as unknown[]).length).to.equal(4);
  });
});

describe('lastActiveFromStatus (the first poll after a restart)', () => {
  const now = new Date('2026-11-26T12:00:00Z');
  const becameActive = '2026-11-26T09:00:00Z';
  const cases: Array<[string, Parameters<typeof lastActiveFromStatus>[0], string | undefined]> = [
    // Counting cooldown from when it became active, hours ago, would scale in on the first inactive poll.
    ['active as far as the status knows: counts as active until now', { lastActiveTime: becameActive, conditions: [{ type: 'Active', status: 'True' }] }, now.toISOString()],
    ['inactive: the last time it was seen active', { lastActiveTime: becameActive, conditions: [{ type: 'Active', status: 'False' }] }, becameActive],
    ['activity unknown: the last time written', { lastActiveTime: becameActive, conditions: [{ type: 'Active', status: 'Unknown' }] }, becameActive],
    ['never active', { conditions: [{ type: 'Active', status: 'False' }] }, undefined],
    ['no status at all', undefined, undefined],
    ['an unreadable time', { lastActiveTime: 'yesterday' }, undefined],
  ];
  for (const [name, status, expected] of cases) {
    it(name, () => {
      expect(lastActiveFromStatus(status, now)?.toISOString()).to.equal(expected === undefined ? undefined : new Date(expected).toISOString());
    });
  }
});
