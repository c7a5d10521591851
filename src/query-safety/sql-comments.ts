// Comments as MariaDB and MySQL read them, so that the SQL parser (which reads some comments
// differently) never sees a query other than the one the server runs. Two differences matter:
// the server executes what stands inside `/*! ... */` and `/*M! ... */` (the parser skips it), and
// the server reads `--x` as "minus minus x" where the parser skips the rest of the line. Both would
// let a call hide from the check, so such text is refused, as are optimizer hints (`/*+ ... */`,
// which can set variables) and comments the server and the parser might close in different places
// (nested or unterminated). Ordinary comments are replaced by a space; the result is what gets
// checked and what gets sent. The lexing assumes backslash escapes in strings and "..." as a
// string, which the query runner enforces on its session (no NO_BACKSLASH_ESCAPES, no ANSI_QUOTES). Pure.

export class SqlTextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlTextError';
  }
}

/** The query with every comment replaced by one space and trailing semicolons removed. */
export function withoutComments(query: string): string {
  let out = '';
  /** Where each ';' outside strings stands, in `out` and in the query. */
  const semicolons: Array<[number, number]> = [];
  let i = 0;
  const n = query.length;
  while (i < n) {
    const c = query[i]!;
    if (c === "'" || c === '"' || c === '`') {
      const end = quotedEnd(query, i);
      out += query.slice(i, end);
      i = end;
    } else if (c === '#') {
      i = lineEnd(query, i);
      out += ' ';
    } else if (c === '-' && query[i + 1] === '-') {
      const next = query[i + 2];
      // The server takes "--" as a comment only before white space or a control character.
      if (next === undefined || !(/\s/.test(next) || next.charCodeAt(0) < 0x20)) {
        throw new SqlTextError(`"--" at position ${i + 1} is not followed by a space, so MySQL reads it as two minus signs ` +
          'where a comment was perhaps meant; write "-- " for a comment or "- -" for two minus signs');
      }
      i = lineEnd(query, i);
      out += ' ';
    } else if (c === '/' && query[i + 1] === '*') {
      i = blockCommentEnd(query, i);
      out += ' ';
    } else {
      if (c === ';') semicolons.push([out.length, i]);
      out += c;
      i += 1;
    }
  }
  const statement = out.replace(/[\s;]+$/, '');
  const inside = semicolons.find(([at]) => at < statement.length);
  if (inside !== undefined) {
    throw new SqlTextError(`the query holds more than one statement (a ";" at position ${inside[1] + 1}); ` +
      'a trigger query must be one SELECT that returns one number');
  }
  return statement.trim();
}

/** Index just past the closing quote of the string or quoted identifier that starts at `start`. */
function quotedEnd(query: string, start: number): number {
  const quote = query[start]!;
  let i = start + 1;
  while (i < query.length) {
    const c = query[i]!;
    if (c === '\\' && quote !== '`') {
      i += 2;
    } else if (c === quote) {
      // A doubled quote is the quote character itself, not the end.
      if (query[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i += 1;
    }
  }
  const what = quote === '`' ? 'quoted identifier' : 'string';
  throw new SqlTextError(`the ${what} that starts at position ${start + 1} with ${quote} is never closed`);
}

function lineEnd(query: string, start: number): number {
  const newline = query.indexOf('\n', start);
  return newline < 0 ? query.length : newline;
}

function blockCommentEnd(query: string, start: number): number {
  const opener = query.slice(start, start + 4);
  if (opener.startsWith('/*!') || /^\/\*M!/i.test(opener)) {
    throw new SqlTextError(`the comment at position ${start + 1} starts with ${opener.startsWith('/*!') ? '/*!' : '/*M!'}, ` +
      'which MariaDB and MySQL execute as SQL; write its content as plain SQL or remove it');
  }
  if (opener.startsWith('/*+')) {
    throw new SqlTextError(`the comment at position ${start + 1} is an optimizer hint (/*+ ... */), which can change ` +
      'session settings for the statement; remove it');
  }
  const close = query.indexOf('*/', start + 2);
  if (close < 0) throw new SqlTextError(`the comment that starts at position ${start + 1} is never closed with */`);
  const nested = query.indexOf('/*', start + 2);
  if (nested >= 0 && nested < close) {
    throw new SqlTextError(`the comment that starts at position ${start + 1} holds another "/*"; ` +
      'MySQL does not nest comments, so write it without the inner "/*"');
  }
  return close + 2;
}
