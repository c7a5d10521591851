import { expect } from 'chai';
import { reconnectDelayMs } from '../../src/scalers/mysql/backoff.js';

describe('reconnectDelayMs', () => {
  const options = { initialMs: 1000, maxMs: 30_000 };
  const cases: Array<[number, number, number]> = [
    // failures, random, expected
    [0, 0.5, 0],
    [1, 0, 500],
    [1, 0.999, 1000],
    [2, 0, 1000],
    [3, 0.5, 3000],
    [5, 0, 8000],
    [6, 0, 15_000],
    [6, 0.999, 29_985],
    [7, 0.5, 22_500],
    [100, 0, 15_000],
  ];
  for (const [failures, random, expected] of cases) {
    it(`waits ${expected} ms after ${failures} failures (random ${random})`, () => {
      expect(reconnectDelayMs(failures, options, random)).to.equal(expected);
    });
  }
});
