import { expect } from 'chai';
import { MAX_QUANTITY_VALUE, parseQuantity, toQuantity } from '../../src/quantity.js';

describe('toQuantity', () => {
  // Expected strings are what resource.NewMilliQuantity(int64(v*1000), DecimalSI).String() prints.
  const cases: Array<[number, string]> = [
    [0, '0'],
    [-0, '0'],
    [17, '17'],
    [3, '3'],
    [2.5, '2500m'],
    [8.4, '8400m'],
    [0.0015, '1m'],
    [0.0009, '0'],
    [0.1, '100m'],
    // 1.005 * 1000 is 1004.9999999999999 in float64, so Go's int64() truncation gives 1004 too.
    [1.005, '1004m'],
    [1000, '1k'],
    [1500, '1500'],
    [10000, '10k'],
    [100000, '100k'],
    [1_500_000, '1500k'],
    [1e6, '1M'],
    [1e9, '1G'],
    [1e12, '1T'],
    [1e15, '1P'],
    [0.01, '10m'],
    [0.5, '500m'],
    [-2.5, '-2500m'],
    [-1000, '-1k'],
    [1e30, '9223372036854775807m'],
    [-1e30, '-9223372036854775808m'],
    // Past int64 milli-units every value is the same clamped quantity, up to and including Infinity.
    [1.7976931348623157e308, '9223372036854775807m'],
    [2 ** 64, '9223372036854775807m'],
    [Number.POSITIVE_INFINITY, '9223372036854775807m'],
    [Number.NEGATIVE_INFINITY, '-9223372036854775808m'],
  ];
  for (const [value, expected] of cases) {
    it(`formats ${value} as "${expected}"`, () => {
      expect(toQuantity(value)).to.equal(expected);
    });
  }

  it('rejects NaN', () => {
    expect(() => toQuantity(Number.NaN)).to.throw(RangeError, 'toQuantity: NaN has no Kubernetes quantity; a metric value must be a number');
  });

  it('formats MAX_QUANTITY_VALUE as the largest quantity', () => {
    expect(toQuantity(MAX_QUANTITY_VALUE)).to.equal('9223372036854775807m');
  });
});

describe('parseQuantity', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['17', 17],
    ['8400m', 8.4],
    ['2500m', 2.5],
    ['1m', 0.001],
    ['1k', 1000],
    ['1500', 1500],
    ['1M', 1e6],
    ['1T', 1e12],
    ['1Ki', 1024],
    ['1Mi', 1048576],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['-2500m', -2.5],
    ['+3', 3],
    ['500u', 0.0005],
    ['5n', 5e-9],
    ['-2147483648m', -2147483.648],
  ];
  for (const [text, expected] of cases) {
    it(`reads "${text}" as ${expected}`, () => {
      expect(parseQuantity(text)).to.equal(expected);
    });
  }

  for (const text of ['', 'abc', '1x', '1.2.3', 'm', '1 k', '1KiB']) {
    it(`rejects "${text}"`, () => {
      expect(() => parseQuantity(text)).to.throw(
        RangeError,
        `"${text}" is not a Kubernetes quantity; expected a number with an optional suffix such as "8400m", "17", "2k" or "1Gi"`,
      );
    });
  }

  for (const value of [0, 17, 2.5, 0.001, 1000, 1500, 1e12, -3.25]) {
    it(`round-trips ${value} through toQuantity`, () => {
      expect(parseQuantity(toQuantity(value))).to.equal(value);
    });
  }
});
