import { expect } from 'chai';

import { formatNumber, scaleEventMessage } from '../../src/controller/scale-messages.js';

describe('scaleEventMessage', () => {
  const mysql = { index: 0, type: 'mysql', metricName: 's0-mysql-testdb' };
  const table: Array<[args: Parameters<typeof scaleEventMessage>[0], expected: string]> = [
    [
      { from: 0, to: 1, reason: 'Activated', trigger: { ...mysql, value: 12, threshold: 3 } },
      'Scaled up from 0 to 1: a trigger became active; trigger 0 (mysql, metric s0-mysql-testdb) read 12 against threshold 3',
    ],
    [
      { from: 4, to: 0, reason: 'CooledDown', trigger: { ...mysql, value: 0, threshold: 3 } },
      'Scaled down from 4 to 0: no trigger was active for the cooldown period; trigger 0 (mysql, metric s0-mysql-testdb) read 0 against threshold 3',
    ],
    [{ from: 0, to: 2, reason: 'BelowMinimum' }, 'Scaled up from 0 to 2: the target was below minReplicaCount'],
    [
      { from: 0, to: 5, reason: 'Fallback', trigger: { ...mysql, threshold: 3 } },
      'Scaled up from 0 to 5: triggers keep failing, so fallback.replicas applies; trigger 0 (mysql, metric s0-mysql-testdb) against threshold 3',
    ],
    [{ from: 3, to: 1, reason: 'PausedReplicas' }, 'Scaled down from 3 to 1: the paused-replicas annotation asks for this count'],
    [
      { from: 1, to: 3, reason: 'Restored' },
      'Scaled up from 1 to 3: the ScaledObject was deleted and restoreToOriginalReplicaCount is set',
    ],
    [{ from: 2, to: 2, reason: 'Something new' }, 'Scaled from 2 to 2: Something new'],
    [
      { from: 0, to: 1, reason: 'Activated', trigger: { index: 1, type: 'cron', metricName: 's1-cron-UTC-0xxxx-5xxxx' } },
      'Scaled up from 0 to 1: a trigger became active; trigger 1 (cron, metric s1-cron-UTC-0xxxx-5xxxx)',
    ],
    [
      { from: 0, to: 1, reason: 'Activated', trigger: { ...mysql, value: 0.1 + 0.2, threshold: 0.25 } },
      'Scaled up from 0 to 1: a trigger became active; trigger 0 (mysql, metric s0-mysql-testdb) read 0.3 against threshold 0.25',
    ],
  ];
  for (const [args, expected] of table) {
    it(expected, () => {
      expect(scaleEventMessage(args)).to.equal(expected);
    });
  }
});

describe('formatNumber', () => {
  const table: Array<[value: number, expected: string]> = [
    [0, '0'],
    [17, '17'],
    [0.1 + 0.2, '0.3'],
    [2 / 3, '0.666667'],
    [1234567, '1234570'],
    [1e-7, '1e-7'],
    [-2.5, '-2.5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ];
  for (const [value, expected] of table) {
    it(`${value} -> ${expected}`, () => {
      expect(formatNumber(value)).to.equal(expected);
    });
  }
});
