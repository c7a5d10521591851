import { expect } from 'chai';
import { ScalerError } from '../../src/scalers/scaler.js';
import { MAX_QUANTITY_VALUE } from '../../src/quantity.js';
import { metricValueFromResult, queryForMessage, type QueryOutcome } from '../../src/scalers/mysql/query-result.js';

const Q = 'SELECT x FROM t';
const one = (value: string | null): QueryOutcome => ({ kind: 'rows', values: [value] });

describe('metricValueFromResult', () => {
  const values: Array<[string, QueryOutcome, boolean, number]> = [
    ['an integer', one('17'), false, 17],
    ['zero', one('0'), false, 0],
    ['negative zero as zero', one('-0.0'), false, 0],
    ['a DECIMAL', one('2.5000'), false, 2.5],
    ['a BIGINT at the edge of exact integers', one('9007199254740991'), false, 9007199254740991],
    ['a DOUBLE in exponent form', one('1e15'), false, 1e15],
    // One clamp for everything a quantity cannot hold: the same value toQuantity serves as 9223372036854775807m.
    ['an integer beyond 2^64', one('18446744073709551615'), false, MAX_QUANTITY_VALUE],
    ['the largest DOUBLE', one('1.7976931348623157e308'), false, MAX_QUANTITY_VALUE],
    ['a DOUBLE overflow', one('1e400'), false, MAX_QUANTITY_VALUE],
    ['a DECIMAL(65) of nines', one('9'.repeat(65)), false, MAX_QUANTITY_VALUE],
    ['a fraction without a leading digit', one('.25'), false, 0.25],
    ['numeric text with spaces around it', one(' 42 '), false, 42],
    ['NULL with nullAsZero', one(null), true, 0],
    ['no rows with nullAsZero', { kind: 'rows', values: [] }, true, 0],
  ];
  for (const [name, outcome, nullAsZero, expected] of values) {
    it(`reads ${name} as ${expected}`, () => {
      expect(metricValueFromResult(outcome, Q, nullAsZero)).to.equal(expected);
    });
  }

  const bad: Array<[string, QueryOutcome, string]> = [
    ['NULL', one(null),
      'query "SELECT x FROM t" returned NULL; wrap the value in COALESCE(..., 0), e.g. SELECT COALESCE(SUM(x), 0) ..., or set metadata nullAsZero: "true"'],
    ['no rows', { kind: 'rows', values: [] },
      'query "SELECT x FROM t" returned no rows; it must return exactly one row: wrap the value in COALESCE(..., 0), ' +
      'e.g. SELECT COALESCE(SUM(x), 0) ..., or set metadata nullAsZero: "true"'],
    ['text', one('abc'), 'query "SELECT x FROM t" returned \'abc\', which is not a number'],
    ['Infinity as text', one('Infinity'), 'query "SELECT x FROM t" returned \'Infinity\', which is not a number'],
    ['NaN as text', one('NaN'), 'query "SELECT x FROM t" returned \'NaN\', which is not a number'],
    ['a value longer than 100 characters', one('7'.repeat(101)),
      'query "SELECT x FROM t" returned a value longer than 100 characters, which is not a number'],
    ['two rows', { kind: 'rows', values: ['1', '2'] },
      'query "SELECT x FROM t" returned more than one row; it must return exactly one row (use an aggregate such as COUNT(*), SUM() or MAX(), or LIMIT 1)'],
    ['a negative number', one('-1'),
      'query "SELECT x FROM t" returned -1; a metric value must not be negative (wrap it in GREATEST(..., 0) if it can dip below 0)'],
    ['no result set', { kind: 'no-result-set' }, 'query "SELECT x FROM t" returned no result set; it must be a SELECT that returns one number'],
  ];
  for (const [name, outcome, message] of bad) {
    it(`rejects ${name} as BadResult`, () => {
      let caught: unknown;
      try {
        metricValueFromResult(outcome, Q, false);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ScalerError);
      expect((caught as ScalerError).reason).to.equal('BadResult');
      expect((caught as ScalerError).message).to.equal(message);
    });
  }

  it('still rejects text with nullAsZero', () => {
    expect(() => metricValueFromResult(one('abc'), Q, true)).to.throw(ScalerError, "returned 'abc', which is not a number");
  });
});

describe('queryForMessage', () => {
  const cases: Array<[string, string]> = [
    ['SELECT\n  COUNT(*)\n FROM t ', 'SELECT COUNT(*) FROM t'],
    [`SELECT ${'x'.repeat(300)}`, `SELECT ${'x'.repeat(193)}…`],
  ];
  for (const [query, expected] of cases) {
    it(`shows ${JSON.stringify(query.slice(0, 30))} as ${JSON.stringify(expected.slice(0, 30))}`, () => {
      expect(queryForMessage(query)).to.equal(expected);
    });
  }
});
