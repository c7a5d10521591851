// What the trigger's query returned → the one number to scale on, or a BadResult that says what came
// back and how to fix the query. Values arrive as the server's text (the driver is told to cast
// nothing), so DECIMAL and BIGINT parse without a lossy detour through the driver. The runner sends
// at most two rows of at most MAX_VALUE_CHARS + 1 characters, so "more than one row" and "too long"
// are all that can be said of larger results. Numbers beyond what a quantity holds are clamped to
// MAX_QUANTITY_VALUE, the same clamp the metrics API applies. Pure.

import { MAX_QUANTITY_VALUE } from '../../quantity.js';
import { ScalerError } from '../scaler.js';

/** A query's outcome as the runner hands it over: the first column of at most two rows, or no result set. */
export type QueryOutcome =
  | { kind: 'rows'; values: Array<string | null> }
  | { kind: 'no-result-set' };

/** Characters of a value that cross the wire; one more than any number a column can hold needs. */
export const MAX_VALUE_CHARS = 100;

const MAX_QUERY_IN_MESSAGE = 200;
const MAX_VALUE_IN_MESSAGE = 60;

/** The query as messages show it: on one line, cut to a readable length. */
export function queryForMessage(query: string): string {
  const oneLine = query.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MAX_QUERY_IN_MESSAGE ? oneLine : `${oneLine.slice(0, MAX_QUERY_IN_MESSAGE)}…`;
}

export function metricValueFromResult(outcome: QueryOutcome, query: string, nullAsZero: boolean): number {
  const q = `query "${queryForMessage(query)}"`;
  const bad = (message: string) => new ScalerError('BadResult', message);
  const coalesceHint = 'wrap the value in COALESCE(..., 0), e.g. SELECT COALESCE(SUM(x), 0) ..., or set metadata nullAsZero: "true"';

  if (outcome.kind === 'no-result-set') {
    return reject(bad(`${q} returned no result set; it must be a SELECT that returns one number`));
  }
  const { values } = outcome;
  if (values.length === 0) {
    if (nullAsZero) return 0;
    return reject(bad(`${q} returned no rows; it must return exactly one row: ${coalesceHint}`));
  }
  if (values.length > 1) {
    return reject(bad(`${q} returned more than one row; it must return exactly one row (use an aggregate such as COUNT(*), ` +
      'SUM() or MAX(), or LIMIT 1)'));
  }
  const raw = values[0] ?? null;
  if (raw === null) {
    if (nullAsZero) return 0;
    return reject(bad(`${q} returned NULL; ${coalesceHint}`));
  }
  if (raw.length > MAX_VALUE_CHARS) {
    return reject(bad(`${q} returned a value longer than ${MAX_VALUE_CHARS} characters, which is not a number`));
  }
  const text = raw.trim();
  const shown = text.length <= MAX_VALUE_IN_MESSAGE ? text : `${text.slice(0, MAX_VALUE_IN_MESSAGE)}…`;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    return reject(bad(`${q} returned '${shown}', which is not a number`));
  }
  const value = Number(text);
  if (value < 0) {
    return reject(bad(`${q} returned ${shown}; a metric value must not be negative (wrap it in GREATEST(..., 0) if it can dip below 0)`));
  }
  // -0 from "-0" or "-0.0" would print as "-0" in a quantity.
  return value === 0 ? 0 : Math.min(value, MAX_QUANTITY_VALUE);
}

function reject(error: ScalerError): never {
  throw error;
}
