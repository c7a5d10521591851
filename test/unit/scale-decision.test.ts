import { expect } from 'chai';

import {
  decideScale,
  hpaMinReplicas,
  type ScaleDecision,
  type ScaleDecisionInput,
} from '../../src/controller/scale-decision.js';

const T0 = new Date('2024-05-01T12:00:00.000Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1_000);
const NOW = at(600);

const base: ScaleDecisionInput = {
  currentReplicas: 0,
  minReplicaCount: 0,
  maxReplicaCount: 10,
  cooldownPeriodSeconds: 10,
  initialCooldownPeriodSeconds: 0,
  active: false,
  allFailed: false,
  fallbackActive: false,
  createdAt: T0,
  now: NOW,
};

const activated = (from: number, to: number): ScaleDecision => ({
  action: 'scale',
  to,
  reason: 'Activated',
  detail: `a trigger is active and the target is at ${from} replicas; scaling to ${to} so the HPA takes over`,
});

const cooledDown = (to: number, since: string, field = 'minReplicaCount'): ScaleDecision => ({
  action: 'scale',
  to,
  reason: 'CooledDown',
  detail: `no trigger has been active ${since}; scaling in to ${field} ${to}`,
});

const belowMinimum = (from: number, min: number): ScaleDecision => ({
  action: 'scale',
  to: min,
  reason: 'BelowMinimum',
  detail: `the target has ${from} replicas, fewer than minReplicaCount ${min}`,
});

const fallback = (to: number, replicas: number, bound = ''): ScaleDecision => ({
  action: 'scale',
  to,
  reason: 'Fallback',
  detail:
    'fallback is in force because triggers keep failing, and the HPA cannot scale a target at 0 replicas; ' +
    `scaling to fallback.replicas ${replicas}${bound}`,
});

const none: ScaleDecision = { action: 'none' };
const coolingUntil = (until: Date): ScaleDecision => ({ action: 'none', coolingDownUntil: until });

describe('decideScale', () => {
  const table: Array<[name: string, input: Partial<ScaleDecisionInput>, expected: ScaleDecision]> = [
    // Activation: only from 0 (or from idle); between the bounds the HPA decides.
    ['active at 0, min 0: to 1', { active: true }, activated(0, 1)],
    ['active at 0, min 3: to 3', { active: true, minReplicaCount: 3 }, activated(0, 3)],
    ['active at 2 of 1..10: none', { active: true, currentReplicas: 2, minReplicaCount: 1 }, none],
    ['active at 12 above max 10: none (the HPA scales in)', { active: true, currentReplicas: 12 }, none],
    ['active at 1 below min 3 without idle: none (the HPA raises it)', { active: true, currentReplicas: 1, minReplicaCount: 3 }, none],
    ['active at idle 0, min 2: to 2', { active: true, idleReplicaCount: 0, minReplicaCount: 2 }, activated(0, 2)],
    ['active at idle 1, min 3: to 3', { active: true, currentReplicas: 1, idleReplicaCount: 1, minReplicaCount: 3 }, activated(1, 3)],
    ['active at min 2 with idle 0: none', { active: true, currentReplicas: 2, idleReplicaCount: 0, minReplicaCount: 2 }, none],
    ['active at 0 while another trigger failed: to 1', { active: true, anyFailed: true }, activated(0, 1)],
    ['active at 0 during a cooldown: to 1', { active: true, lastActiveTime: at(599) }, activated(0, 1)],

    // Cooldown to zero (min 0).
    [
      'inactive at 3, min 0, last active 11 s ago, cooldown 10 s: to 0',
      { currentReplicas: 3, lastActiveTime: at(589) },
      cooledDown(0, 'since 2024-05-01T12:09:49.000Z and cooldownPeriod 10s has passed'),
    ],
    ['inactive at 3, min 0, last active exactly 10 s ago: still cooling', { currentReplicas: 3, lastActiveTime: at(590) }, coolingUntil(NOW)],
    ['inactive at 3, min 0, last active 5 s ago: cooling for 5 s more', { currentReplicas: 3, lastActiveTime: at(595) }, coolingUntil(at(605))],
    [
      'inactive at 3, min 0, never active, initialCooldownPeriod 0: to 0',
      { currentReplicas: 3 },
      cooledDown(0, 'since the ScaledObject was created at 2024-05-01T12:00:00.000Z and initialCooldownPeriod 0s has passed'),
    ],
    [
      'inactive at 3, never active, created 600 s ago, initialCooldownPeriod 900: cooling until 900 s',
      { currentReplicas: 3, initialCooldownPeriodSeconds: 900 },
      coolingUntil(at(900)),
    ],
    [
      'inactive at 3, last active long ago but initialCooldownPeriod not over: cooling until its end',
      { currentReplicas: 3, lastActiveTime: at(5), initialCooldownPeriodSeconds: 900 },
      coolingUntil(at(900)),
    ],
    [
      'inactive at 3, initialCooldownPeriod over, cooldown not: cooling until the cooldown ends',
      { currentReplicas: 3, lastActiveTime: at(595), initialCooldownPeriodSeconds: 60 },
      coolingUntil(at(605)),
    ],
    ['inactive at 0, min 0: none', {}, none],

    // idleReplicaCount.
    [
      'inactive at 5, idle 0, min 2, cooled: to idle 0',
      { currentReplicas: 5, idleReplicaCount: 0, minReplicaCount: 2, lastActiveTime: at(100) },
      cooledDown(0, 'since 2024-05-01T12:01:40.000Z and cooldownPeriod 10s has passed', 'idleReplicaCount'),
    ],
    [
      'inactive at 2 (= min), idle 0, cooling: cooling',
      { currentReplicas: 2, idleReplicaCount: 0, minReplicaCount: 2, lastActiveTime: at(595) },
      coolingUntil(at(605)),
    ],
    ['inactive at idle 0, min 2: none', { idleReplicaCount: 0, minReplicaCount: 2 }, none],

    // Below minimum (no idle).
    ['inactive at 1, min 2: to 2', { currentReplicas: 1, minReplicaCount: 2 }, belowMinimum(1, 2)],
    ['inactive at 0, min 2: to 2', { minReplicaCount: 2 }, belowMinimum(0, 2)],
    ['inactive at 5, min 2: none (the HPA scales in)', { currentReplicas: 5, minReplicaCount: 2, lastActiveTime: at(0) }, none],
    ['all failed at 1, min 2, no fallback: still to 2', { currentReplicas: 1, minReplicaCount: 2, allFailed: true }, belowMinimum(1, 2)],

    // Failures never scale in.
    ['all failed at 3, min 0, cooled: none', { currentReplicas: 3, allFailed: true, lastActiveTime: at(0) }, none],
    [
      'one of two failed, the other inactive, at 3, min 0, cooled: none',
      { currentReplicas: 3, anyFailed: true, lastActiveTime: at(0) },
      none,
    ],
    [
      'all failed at 5, idle 0, min 2, cooled: none',
      { currentReplicas: 5, idleReplicaCount: 0, minReplicaCount: 2, allFailed: true, lastActiveTime: at(0) },
      none,
    ],

    // Fallback: ours only at 0, where the HPA cannot act.
    ['fallback in force at 0: to fallback.replicas 4', { allFailed: true, fallbackActive: true, fallback: { replicas: 4 } }, fallback(4, 4)],
    [
      'fallback 20 at 0, max 10: capped to 10',
      { allFailed: true, fallbackActive: true, fallback: { replicas: 20 } },
      fallback(10, 20, ' (capped at maxReplicaCount 10)'),
    ],
    [
      'fallback 2 at 0, min 3: raised to 3',
      { allFailed: true, fallbackActive: true, fallback: { replicas: 2 }, minReplicaCount: 3 },
      fallback(3, 2, " (raised to the HPA's minimum 3)"),
    ],
    [
      'fallback at idle 0, min 2: to fallback.replicas 3',
      { allFailed: true, fallbackActive: true, fallback: { replicas: 3 }, idleReplicaCount: 0, minReplicaCount: 2 },
      fallback(3, 3),
    ],
    [
      'fallback in force at 2: none (the HPA reads the fallback metric)',
      { currentReplicas: 2, allFailed: true, fallbackActive: true, fallback: { replicas: 4 }, lastActiveTime: at(0) },
      none,
    ],
    [
      'failing below failureThreshold at 0: none',
      { allFailed: true, fallbackActive: false, fallback: { replicas: 4 } },
      none,
    ],
    ['fallback.replicas 0 at 0: none', { allFailed: true, fallbackActive: true, fallback: { replicas: 0 } }, none],
  ];

  for (const [name, overrides, expected] of table) {
    it(name, () => {
      expect(decideScale({ ...base, ...overrides })).to.deep.equal(expected);
    });
  }
});

describe('hpaMinReplicas', () => {
  const table: Array<[min: number, expected: number]> = [
    [0, 1],
    [1, 1],
    [5, 5],
  ];
  for (const [min, expected] of table) {
    it(`minReplicaCount ${min} -> HPA minReplicas ${expected}`, () => {
      expect(hpaMinReplicas(min)).to.equal(expected);
    });
  }
});
