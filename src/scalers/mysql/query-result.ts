// What the trigger's query returned → the one number to scale on, or a BadResult that says what came
// back and how to fix the query. Values arrive as the server's text (the driver is told to cast
// nothing), so DECIMAL and BIGINT parse without a lossy detour through the driver. Pure.

import { ScalerError } from '../scaler.js';

/** A query's outcome as the runner hands it over: a result set, or none (the statement was not a SELECT). */
export type QueryOutcome =
  | { kind: 'rows'; columns: string[]; rows: Array<Array<string | null>> }
  | { kind: 'no-result-set' };

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
  const { columns, rows } = outcome;
  if (columns.length !== 1) {
    return reject(bad(`${q} returned ${columns.length} columns (${columns.join(', ')}); it must return exactly one column with one number`));
  }
  if (rows.length === 0) {
    if (nullAsZero) return 0;
    return reject(bad(`${q} returned no rows; it must return exactly one row: ${coalesceHint}`));
  }
  if (rows.length > 1) {
    return reject(bad(`${q} returned ${rows.length} rows; it must return exactly one row (use an aggregate such as COUNT(*), ` +
      'SUM() or MAX(), or LIMIT 1)'));
  }
  const raw = rows[0]?.[0] ?? null;
  if (raw === null) {
    if (nullAsZero) return 0;
    return reject(bad(`${q} returned NULL; ${coalesceHint}`));
  }
  const text = raw.trim();
  const shown = text.length <= MAX_VALUE_IN_MESSAGE ? text : `${text.slice(0, MAX_VALUE_IN_MESSAGE)}…`;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    return reject(bad(`${q} returned '${shown}' in column ${columns[0]}, which is not a number`));
  }
  const value = Number(text);
  if (!Number.isFinite(value)) {
    return reject(bad(`${q} returned ${shown}, which is too large for a metric value`));
  }
  if (value < 0) {
    return reject(bad(`${q} returned ${shown}; a metric value must not be negative (wrap it in GREATEST(..., 0) if it can dip below 0)`));
  }
  if (Number.isInteger(value) && !Number.isSafeInteger(value) && /^[+]?\d+$/.test(text)) {
    return reject(bad(`${q} returned ${shown}, an integer too large to represent exactly as a metric value`));
  }
  // -0 from "-0" or "-0.0" would print as "-0" in a quantity.
  return value === 0 ? 0 : value;
}

function reject(error: ScalerError): never {
  throw error;
}
