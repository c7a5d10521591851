import { expect } from 'chai';

import { pauseState, type PauseState } from '../../src/controller/pause.js';

const PAUSED = 'autoscaling.keda.sh/paused';
const REPLICAS = 'autoscaling.keda.sh/paused-replicas';

function invalid(value: string): PauseState {
  return {
    kind: 'invalid',
    message:
      `annotation autoscaling.keda.sh/paused-replicas is ${JSON.stringify(value)}, which is not a replica count: ` +
      'write a whole number from 0 to 2147483647, e.g. "0", or remove the annotation to resume autoscaling',
  };
}

function notBoolean(value: string): PauseState {
  return {
    kind: 'paused',
    warning:
      `annotation autoscaling.keda.sh/paused is ${JSON.stringify(value)}, which is not a boolean; ` +
      'it pauses autoscaling, as in KEDA: write "true" to pause or "false" to resume',
  };
}

describe('pauseState', () => {
  const table: Array<[name: string, annotations: Record<string, string> | undefined, expected: PauseState]> = [
    ['no annotations at all', undefined, { kind: 'none' }],
    ['unrelated annotations', { 'example.com/x': 'true' }, { kind: 'none' }],
    ['paused "true"', { [PAUSED]: 'true' }, { kind: 'paused' }],
    ['paused "True"', { [PAUSED]: 'True' }, { kind: 'paused' }],
    ['paused "1"', { [PAUSED]: '1' }, { kind: 'paused' }],
    ['paused "false"', { [PAUSED]: 'false' }, { kind: 'none' }],
    ['paused "FALSE"', { [PAUSED]: 'FALSE' }, { kind: 'none' }],
    ['paused "0"', { [PAUSED]: '0' }, { kind: 'none' }],
    ['paused "f"', { [PAUSED]: 'f' }, { kind: 'none' }],
    ['paused "t"', { [PAUSED]: 't' }, { kind: 'paused' }],
    ['paused "yes" (not a boolean: KEDA pauses, with a warning)', { [PAUSED]: 'yes' }, notBoolean('yes')],
    ['paused "maybe" (not a boolean: KEDA pauses, with a warning)', { [PAUSED]: 'maybe' }, notBoolean('maybe')],
    ['paused "" (not a boolean: KEDA pauses, with a warning)', { [PAUSED]: '' }, notBoolean('')],
    ['paused " false" (not a boolean: KEDA pauses, with a warning)', { [PAUSED]: ' false' }, notBoolean(' false')],
    ['paused-replicas "0"', { [REPLICAS]: '0' }, { kind: 'paused-replicas', replicas: 0 }],
    ['paused-replicas "3"', { [REPLICAS]: '3' }, { kind: 'paused-replicas', replicas: 3 }],
    ['paused-replicas "+2"', { [REPLICAS]: '+2' }, { kind: 'paused-replicas', replicas: 2 }],
    ['paused-replicas "007"', { [REPLICAS]: '007' }, { kind: 'paused-replicas', replicas: 7 }],
    ['paused-replicas 2^31-1', { [REPLICAS]: '2147483647' }, { kind: 'paused-replicas', replicas: 2147483647 }],
    ['paused-replicas wins over paused "false"', { [PAUSED]: 'false', [REPLICAS]: '4' }, { kind: 'paused-replicas', replicas: 4 }],
    ['paused-replicas wins over paused "true"', { [PAUSED]: 'true', [REPLICAS]: '1' }, { kind: 'paused-replicas', replicas: 1 }],
    ['paused-replicas "-1"', { [REPLICAS]: '-1' }, invalid('-1')],
    ['paused-replicas "2.5"', { [REPLICAS]: '2.5' }, invalid('2.5')],
    ['paused-replicas "abc"', { [REPLICAS]: 'abc' }, invalid('abc')],
    ['paused-replicas ""', { [REPLICAS]: '' }, invalid('')],
    ['paused-replicas " 3"', { [REPLICAS]: ' 3' }, invalid(' 3')],
    ['paused-replicas 2^31', { [REPLICAS]: '2147483648' }, invalid('2147483648')],
    ['paused-replicas invalid, paused "true"', { [PAUSED]: 'true', [REPLICAS]: 'x' }, invalid('x')],
  ];
  for (const [name, annotations, expected] of table) {
    it(name, () => {
      expect(pauseState(annotations)).to.deep.equal(expected);
    });
  }
});
