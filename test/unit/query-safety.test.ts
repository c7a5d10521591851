import { expect } from 'chai';
import { checkReadOnlyQuery, QueryRefusedError } from '../../src/query-safety/read-only-query.js';
import { ALLOWED_FUNCTIONS, REFUSED_FUNCTIONS } from '../../src/query-safety/builtin-functions.js';

const ONE_SELECT = 'a trigger query must be one SELECT that returns one number';
const INLINE = "stored functions run with their definer's rights and may write, so queryscaler does not call them: write the logic inline as a SELECT";
const LOCKS = 'works on named locks, which outlive the query on the pooled connection and block other sessions; remove it: a trigger query only reads';

function refusal(query: string): string {
  try {
    checkReadOnlyQuery(query);
  } catch (err) {
    expect(err).to.be.instanceOf(QueryRefusedError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(query)} to be refused`);
}

describe('checkReadOnlyQuery', () => {
  const accepted: Array<[string, string]> = [
    ["SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'",
      "SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'"],
    ['SELECT COUNT(*) FROM t;', 'SELECT COUNT(*) FROM t'],
    ["SELECT ';' ; -- trailing\n ;", "SELECT ';'"],
    ['SELECT COUNT(*) -- pending jobs\nFROM t', 'SELECT COUNT(*)  \nFROM t'],
    ['SELECT COUNT(*) FROM t # pending', 'SELECT COUNT(*) FROM t'],
    ['SELECT /* plain */ COUNT(*) FROM t', 'SELECT   COUNT(*) FROM t'],
    ["SELECT COUNT(*) FROM t WHERE name = 'a--b /*! not a comment */ #'", "SELECT COUNT(*) FROM t WHERE name = 'a--b /*! not a comment */ #'"],
    ["SELECT COUNT(*) FROM t WHERE name = 'it''s' OR name = 'a\\'b'", "SELECT COUNT(*) FROM t WHERE name = 'it''s' OR name = 'a\\'b'"],
    ['WITH a AS (SELECT 1 AS n) SELECT n FROM a', 'WITH a AS (SELECT 1 AS n) SELECT n FROM a'],
    ['WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 3) SELECT COUNT(*) FROM s',
      'WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 3) SELECT COUNT(*) FROM s'],
    ['(SELECT 1)', '(SELECT 1)'],
    ['SELECT 1 UNION SELECT 2', 'SELECT 1 UNION SELECT 2'],
    ['SELECT * FROM (SELECT COUNT(*) FROM t) AS c', 'SELECT * FROM (SELECT COUNT(*) FROM t) AS c'],
    ['SELECT COUNT(*) FROM t WHERE created_at > DATE_SUB(NOW(), INTERVAL 1 HOUR)',
      'SELECT COUNT(*) FROM t WHERE created_at > DATE_SUB(NOW(), INTERVAL 1 HOUR)'],
    ['SELECT GREATEST(COALESCE(SUM(x), 0) - 5, 0) FROM t', 'SELECT GREATEST(COALESCE(SUM(x), 0) - 5, 0) FROM t'],
    ['SELECT CAST(COUNT(DISTINCT a) AS DECIMAL(10,2)) FROM t', 'SELECT CAST(COUNT(DISTINCT a) AS DECIMAL(10,2)) FROM t'],
    ['SELECT 1 WHERE EXISTS (SELECT SLEEP(1))', 'SELECT 1 WHERE EXISTS (SELECT SLEEP(1))'],
    ['SELECT 5 - -3', 'SELECT 5 - -3'],
  ];
  for (const [query, statement] of accepted) {
    it(`accepts ${JSON.stringify(query)}`, () => {
      expect(checkReadOnlyQuery(query)).to.deep.equal({ statement });
    });
  }

  const refused: Array<[string, string]> = [
    ['SHUTDOWN', `the query is a SHUTDOWN statement, which may change data or server state; ${ONE_SELECT}`],
    ['SET GLOBAL max_connections=1', `the query is a SET statement, which may change data or server state; ${ONE_SELECT}`],
    ['KILL USER qs_other', `the query is a KILL statement, which may change data or server state; ${ONE_SELECT}`],
    ['DO GET_LOCK(1, 1)', `the query is a DO statement, which may change data or server state; ${ONE_SELECT}`],
    ['CALL p()', `the query is a CALL statement, which may change data or server state; ${ONE_SELECT}`],
    ['HANDLER t OPEN', `the query is a HANDLER statement, which may change data or server state; ${ONE_SELECT}`],
    ["LOAD DATA INFILE '/x' INTO TABLE t", `the query is a LOAD DATA statement, which may change data or server state; ${ONE_SELECT}`],
    ['INSERT INTO t VALUES (1)', `the query is an INSERT statement, which may change data or server state; ${ONE_SELECT}`],
    ['SELECT 1; SELECT 2', `the query holds more than one statement (a ";" at position 9); ${ONE_SELECT}`],
    ['  ;  ', `the query is empty; ${ONE_SELECT}`],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", "the query uses SELECT ... INTO OUTFILE, which writes outside the query's result; " +
      'remove the INTO clause: queryscaler reads the result itself'],
    ["SELECT 1 INTO DUMPFILE '/tmp/x'", "the query uses SELECT ... INTO DUMPFILE, which writes outside the query's result; " +
      'remove the INTO clause: queryscaler reads the result itself'],
    ['SELECT 1 FROM t INTO @x', "the query uses SELECT ... INTO variables, which writes outside the query's result; " +
      'remove the INTO clause: queryscaler reads the result itself'],
    ['SELECT 1 FROM t FOR UPDATE', 'the query uses a locking read (FOR UPDATE), which holds row locks and blocks writers; ' +
      'remove it (a plain SELECT reads a consistent snapshot)'],
    ['SELECT @x := 5', 'the query assigns a user variable (:=), which outlives the query on the pooled connection; compute the value inline instead'],
    ["SELECT GET_LOCK('x', 100)", `the query calls GET_LOCK(), which ${LOCKS}`],
    ["SELECT `get_lock`('x', 100)", `the query calls GET_LOCK(), which ${LOCKS}`],
    ["SELECT 1 UNION SELECT RELEASE_LOCK('x')", `the query calls RELEASE_LOCK(), which ${LOCKS}`],
    ["SELECT * FROM (SELECT IS_USED_LOCK('x')) AS l", `the query calls IS_USED_LOCK(), which ${LOCKS}`],
    ["WITH a AS (SELECT GET_LOCK('x', 1) AS n) SELECT n FROM a", `the query calls GET_LOCK(), which ${LOCKS}`],
    ["SELECT COUNT(*) FROM t WHERE id IN (SELECT GET_LOCK('x', 1))", `the query calls GET_LOCK(), which ${LOCKS}`],
    ["SELECT LENGTH(LOAD_FILE('/etc/passwd'))", 'the query calls LOAD_FILE(), which reads a file on the database host; remove it: a trigger query only reads'],
    ['SELECT NEXTVAL(s)', 'the query calls NEXTVAL(), which uses a sequence, whose state outlives the query; remove it: a trigger query only reads'],
    ["SELECT BENCHMARK(1e9, MD5('a'))", 'the query calls BENCHMARK(), which only burns server CPU; remove it: a trigger query only reads'],
    ['SELECT mydb.pending()', `the query calls the stored function mydb.pending(); ${INLINE}`],
    ['SELECT COUNT(*) FROM t WHERE a > sys.f()', `the query calls the stored function sys.f(); ${INLINE}`],
    ['SELECT pending()', "the query calls pending(), which is not a built-in function queryscaler knows to be read-only (a stored " +
      "function or UDF runs with its definer's rights and may write): write the logic inline as a SELECT"],
    ['SELECT /*!50000 GET_LOCK(1, 100) */ 1', 'the comment at position 8 starts with /*!, which MariaDB and MySQL execute as SQL; ' +
      'write its content as plain SQL or remove it'],
    ['SELECT /*M!100000 GET_LOCK(1, 100) */ 1', 'the comment at position 8 starts with /*M!, which MariaDB and MySQL execute as SQL; ' +
      'write its content as plain SQL or remove it'],
    ['SELECT 1 /*+ SET_VAR(sort_buffer_size=1) */', 'the comment at position 10 is an optimizer hint (/*+ ... */), which can change ' +
      'session settings for the statement; remove it'],
    ["SELECT 1 --GET_LOCK('x', 100)", '"--" at position 10 is not followed by a space, so MySQL reads it as two minus signs where a ' +
      'comment was perhaps meant; write "-- " for a comment or "- -" for two minus signs'],
    ['SELECT /* a /* b */ 1', 'the comment that starts at position 8 holds another "/*"; MySQL does not nest comments, so write it without the inner "/*"'],
    ['SELECT 1 /* open', 'the comment that starts at position 10 is never closed with */'],
    ["SELECT 'open", "the string that starts at position 8 with ' is never closed"],
    ['SELECT 1, 2', 'the query selects 2 columns; it must select exactly one column with one number'],
    ['SELECT COUNT(*) FROM t WHERE', `the query is not a SELECT that queryscaler can read (syntax not understood at line 1, column 29, at the end of the query); ${ONE_SELECT}`],
  ];
  for (const [query, message] of refused) {
    it(`refuses ${JSON.stringify(query)}`, () => {
      expect(refusal(query)).to.equal(message);
    });
  }

  it('keeps the allowed and refused function lists apart', () => {
    expect([...REFUSED_FUNCTIONS.keys()].filter((name) => ALLOWED_FUNCTIONS.has(name))).to.deep.equal([]);
  });
});
