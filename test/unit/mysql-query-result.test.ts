import { expect } from 'chai';
import { ScalerError } from '../../src/scalers/scaler.js';
import { metricValueFromResult, queryForMessage, type QueryOutcome } from '../../src/scalers/mysql/query-result.js';

const Q = 'SELECT x FROM t';
const one = (value: string | null, column = 'x'): QueryOutcome => ({ kind: 'rows', columns: [column], rows: [[value]] });

describe('metricValueFromResult', () => {
  const values: Array<[string, QueryOutcome, boolean, number]> = [
    ['an integer', one('17'), false, 17],
    ['zero', one('0'), false, 0],
    ['negative zero as zero', one('-0.0'), false, 0],
    ['a DECIMAL', one('2.5000'), false, 2.5],
    ['a BIGINT at the edge of exact integers', one('9007199254740991'), false, 9007199254740991],
    ['a DOUBLE in exponent form', one('1e20'), false, 1e20],
    ['a fraction without a leading digit', one('.25'), false, 0.25],
    ['numeric text with spaces around it', one(' 42 '), false, 42],
    ['NULL with nullAsZero', one(null), true, 0],
    ['no rows with nullAsZero', { kind: 'rows', columns: ['x'], rows: [] }, true, 0],
  ];
  for (const [name, outcome, nullAsZero, expected] of values) {
    it(`reads ${name} as ${expected}`, () => {
      expect(metricValueFromResult(outcome, Q, nullAsZero)).to.equal(expected);
    });
  }

  const bad: Array<[string, QueryOutcome, string]> = [
    ['NULL', one(null),
      'query "SELECT x FROM t" returned NULL; wrap the value in COALESCE(..., 0), e.g. SELECT COALESCE(SUM(x), 0) ..., or set metadata nullAsZero: "true"'],
    ['no rows', { kind: 'rows', columns: ['x'], rows: [] },
      'query "SELECT x FROM t" returned no rows; it must return exactly one row: wrap the value in COALESCE(..., 0), ' +
      'e.g. SELECT COALESCE(SUM(x), 0) ..., or set metadata nullAsZero: "true"'],
    ['text', one('abc', 'name'), 'query "SELECT x FROM t" returned \'abc\' in column name, which is not a number'],
    ['Infinity as text', one('Infinity'), 'query "SELECT x FROM t" returned \'Infinity\' in column x, which is not a number'],
    ['NaN as text', one('NaN'), 'query "SELECT x FROM t" returned \'NaN\' in column x, which is not a number'],
    ['two columns', { kind: 'rows', columns: ['a', 'b'], rows: [['1', '2']] },
      'query "SELECT x FROM t" returned 2 columns (a, b); it must return exactly one column with one number'],
    ['two rows', { kind: 'rows', columns: ['x'], rows: [['1'], ['2']] },
      'query "SELECT x FROM t" returned 2 rows; it must return exactly one row (use an aggregate such as COUNT(*), SUM() or MAX(), or LIMIT 1)'],
    ['a negative number', one('-1'),
      'query "SELECT x FROM t" returned -1; a metric value must not be negative (wrap it in GREATEST(..., 0) if it can dip below 0)'],
    ['an integer beyond 2^53', one('18446744073709551615'),
      'query "SELECT x FROM t" returned 18446744073709551615, an integer too large to represent exactly as a metric value'],
    ['a DOUBLE overflow', one('1e400'), 'query "SELECT x FROM t" returned 1e400, which is too large for a metric value'],
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
    expect(() => metricValueFromResult(one('abc'), Q, true)).to.throw(ScalerError, "returned 'abc' in column x");
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
