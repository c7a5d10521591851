// Decides, before anything is sent, whether a trigger's query may run: exactly one SELECT (WITH,
// UNION, subqueries and parentheses included) that only reads. The query is parsed with
// node-sql-parser's MariaDB grammar (which also reads MySQL's SELECT syntax) and the whole tree is
// walked, so a refused construct is found wherever it stands: in a subquery, a CTE, a UNION branch,
// a WHERE clause. Refused: every other statement, more than one statement, INTO (OUTFILE, DUMPFILE,
// variables), locking reads, assignments to user variables, and any function that is not a
// built-in known to only compute a value (builtin-functions.ts). The read-only session and the
// statement time limit in the query runner stay as a second wall behind this one. Pure.

import parserPackage from 'node-sql-parser/build/mariadb.js';
import { ALLOWED_FUNCTIONS, REFUSED_FUNCTIONS } from './builtin-functions.js';
import { SqlTextError, withoutComments } from './sql-comments.js';

const parser = new parserPackage.Parser();

/** The query cannot run as a trigger query; the message names the construct and the fix. */
export class QueryRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryRefusedError';
  }
}

export interface CheckedQuery {
  /** The query as it will be sent: comments replaced by spaces, no trailing semicolon. */
  statement: string;
}

const ONE_SELECT = 'a trigger query must be one SELECT that returns one number';

export function checkReadOnlyQuery(query: string): CheckedQuery {
  let statement: string;
  try {
    statement = withoutComments(query);
  } catch (err) {
    if (err instanceof SqlTextError) throw new QueryRefusedError(`${err.message}`);
    throw err;
  }
  if (statement === '') throw new QueryRefusedError(`the query is empty; ${ONE_SELECT}`);

  let ast: unknown;
  try {
    ast = parser.astify(statement, { database: 'MariaDB' });
  } catch (err) {
    const keyword = /^\s*([A-Za-z_]+)/.exec(statement)?.[1];
    if (keyword !== undefined && !/^(SELECT|WITH)$/i.test(keyword)) throw notASelect(keyword);
    throw new QueryRefusedError(`the query is not a SELECT that queryscaler can read (${syntaxError(err, statement)}); ` +
      `${ONE_SELECT}`);
  }
  if (Array.isArray(ast)) {
    if (ast.length !== 1) throw new QueryRefusedError(`the query holds ${ast.length} statements; ${ONE_SELECT}`);
    ast = ast[0];
  }
  const type = nodeType(ast);
  if (type !== 'select') throw notASelect(type ?? 'unknown');
  refuseWhatOutlivesTheQuery(ast);
  const columns = selectedColumnCount(ast);
  if (columns !== undefined && columns !== 1) {
    throw new QueryRefusedError(`the query selects ${columns} columns; it must select exactly one column with one number`);
  }
  return { statement };
}

function refuseWhatOutlivesTheQuery(node: unknown): void {
  if (Array.isArray(node)) {
    for (const child of node) refuseWhatOutlivesTheQuery(child);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  switch (record.type) {
    case 'select':
      refuseInto(record.into);
      if (record.locking_read !== null && record.locking_read !== undefined) {
        throw new QueryRefusedError(`the query uses a locking read (${String(record.locking_read)}), which holds row locks ` +
          'and blocks writers; remove it (a plain SELECT reads a consistent snapshot)');
      }
      break;
    case 'assign':
      throw new QueryRefusedError('the query assigns a user variable (:=), which outlives the query on the pooled ' +
        'connection; compute the value inline instead');
    case 'function':
    case 'aggr_func':
    case 'window_func':
      refuseFunction(record);
      break;
  }
  for (const value of Object.values(record)) refuseWhatOutlivesTheQuery(value);
}

function refuseInto(into: unknown): void {
  if (typeof into !== 'object' || into === null) return;
  const { keyword, expr } = into as { keyword?: unknown; expr?: unknown };
  if (keyword === undefined && expr === undefined) return;
  const target = typeof keyword === 'string' && keyword.toLowerCase() !== 'var' ? `INTO ${keyword.toUpperCase()}` : 'INTO variables';
  throw new QueryRefusedError(`the query uses SELECT ... ${target}, which writes outside the query's result; ` +
    'remove the INTO clause: queryscaler reads the result itself');
}

function refuseFunction(record: Record<string, unknown>): void {
  const { name, schema } = functionName(record.name);
  if (name === undefined) return;
  const upper = name.toUpperCase();
  if (schema !== undefined) {
    throw new QueryRefusedError(`the query calls the stored function ${schema}.${name}(); stored functions run with their ` +
      "definer's rights and may write, so queryscaler does not call them: write the logic inline as a SELECT");
  }
  if (ALLOWED_FUNCTIONS.has(upper)) return;
  const why = REFUSED_FUNCTIONS.get(upper);
  if (why !== undefined) {
    throw new QueryRefusedError(`the query calls ${upper}(), which ${why}; remove it: a trigger query only reads`);
  }
  throw new QueryRefusedError(`the query calls ${name}(), which is not a built-in function queryscaler knows to be ` +
    "read-only (a stored function or UDF runs with its definer's rights and may write): write the logic inline as a SELECT");
}

/** node-sql-parser writes a function's name as a string, or as { name: [{ value }], schema?: { value } }. */
function functionName(name: unknown): { name?: string; schema?: string } {
  if (typeof name === 'string') return { name };
  if (typeof name !== 'object' || name === null) return {};
  const parts = (name as { name?: unknown }).name;
  const schema = (name as { schema?: { value?: unknown } }).schema?.value;
  const values = Array.isArray(parts) ? parts.map((part) => String((part as { value?: unknown }).value ?? '')) : [];
  const result: { name?: string; schema?: string } = {};
  if (values.length > 0) result.name = values[values.length - 1]!;
  const qualifier = [typeof schema === 'string' ? schema : undefined, ...values.slice(0, -1)].filter((v) => v !== undefined);
  if (qualifier.length > 0) result.schema = qualifier.join('.');
  return result;
}

/** Columns of the outermost SELECT (every UNION branch has as many), or undefined where `*` hides the count. */
function selectedColumnCount(ast: unknown): number | undefined {
  const columns = (ast as { columns?: unknown }).columns;
  if (!Array.isArray(columns)) return undefined;
  const star = columns.some((column) => {
    const expr = (column as { expr?: { type?: unknown; column?: unknown } }).expr;
    return expr?.type === 'star' || expr?.column === '*' || (typeof expr?.column === 'string' && expr.column.endsWith('*'));
  });
  return star ? undefined : columns.length;
}

function notASelect(statementType: string): QueryRefusedError {
  const name = statementType.replace(/_/g, ' ').toUpperCase();
  return new QueryRefusedError(`the query is ${article(name)} ${name} statement, which may change data or server state; ${ONE_SELECT}`);
}

function nodeType(node: unknown): string | undefined {
  const type = (node as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : undefined;
}

function article(word: string | undefined): string {
  return word !== undefined && /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/** The parser's "Expected ... but X found" is long; keep where it stopped and what it found. */
function syntaxError(err: unknown, statement: string): string {
  const location = (err as { location?: { start?: { line?: number; column?: number; offset?: number } } }).location?.start;
  const found = (err as { found?: unknown }).found;
  if (location?.line === undefined) return 'it could not be parsed';
  const near = statement.slice(location.offset ?? 0, (location.offset ?? 0) + 30).replace(/\s+/g, ' ');
  const at = `line ${location.line}, column ${location.column ?? 0}`;
  if (found === null || near === '') return `syntax not understood at ${at}, at the end of the query`;
  return `syntax not understood at ${at}, near "${near}"`;
}
