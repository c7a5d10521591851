// Which function calls a trigger query may make. A name not listed here is refused: it is either a
// built-in with an effect beyond the query (REFUSED_FUNCTIONS says which and why) or a stored
// function or UDF, which runs with its definer's rights and may write; nothing short of reading its
// body could tell, so queryscaler does not call them. The list holds MariaDB's and MySQL's built-ins
// that only compute a value from their arguments, the rows read, or the clock.

const AGGREGATES = [
  'AVG', 'BIT_AND', 'BIT_OR', 'BIT_XOR', 'COUNT', 'GROUP_CONCAT', 'JSON_ARRAYAGG', 'JSON_OBJECTAGG', 'MAX', 'MEDIAN', 'MIN',
  'STD', 'STDDEV', 'STDDEV_POP', 'STDDEV_SAMP', 'SUM', 'VARIANCE', 'VAR_POP', 'VAR_SAMP', 'ANY_VALUE',
];

const WINDOW = [
  'CUME_DIST', 'DENSE_RANK', 'FIRST_VALUE', 'LAG', 'LAST_VALUE', 'LEAD', 'NTH_VALUE', 'NTILE', 'PERCENT_RANK',
  'PERCENTILE_CONT', 'PERCENTILE_DISC', 'RANK', 'ROW_NUMBER',
];

const MATH = [
  'ABS', 'ACOS', 'ASIN', 'ATAN', 'ATAN2', 'CEIL', 'CEILING', 'CONV', 'COS', 'COT', 'CRC32', 'DEGREES', 'DIV', 'EXP', 'FLOOR',
  'GREATEST', 'LEAST', 'LN', 'LOG', 'LOG10', 'LOG2', 'MOD', 'OCT', 'PI', 'POW', 'POWER', 'RADIANS', 'RAND', 'ROUND', 'SIGN',
  'SIN', 'SQRT', 'TAN', 'TRUNCATE', 'BIN', 'HEX', 'UNHEX', 'BIT_COUNT',
];

const CONTROL_AND_CASTS = [
  'COALESCE', 'IF', 'IFNULL', 'NULLIF', 'NVL', 'NVL2', 'ISNULL', 'INTERVAL', 'CAST', 'CONVERT', 'BINARY', 'DECODE_ORACLE',
];

const STRINGS = [
  'ASCII', 'BIT_LENGTH', 'CHAR', 'CHARACTER_LENGTH', 'CHAR_LENGTH', 'CHARSET', 'CHR', 'COERCIBILITY', 'COLLATION', 'CONCAT',
  'CONCAT_WS', 'ELT', 'EXPORT_SET', 'FIELD', 'FIND_IN_SET', 'FORMAT', 'FROM_BASE64', 'INSERT', 'INSTR', 'LCASE', 'LEFT',
  'LENGTH', 'LENGTHB', 'LOCATE', 'LOWER', 'LPAD', 'LTRIM', 'MAKE_SET', 'MID', 'NATURAL_SORT_KEY', 'OCTET_LENGTH', 'ORD',
  'POSITION', 'QUOTE', 'REGEXP_INSTR', 'REGEXP_LIKE', 'REGEXP_REPLACE', 'REGEXP_SUBSTR', 'REPEAT', 'REPLACE', 'REVERSE',
  'RIGHT', 'RPAD', 'RTRIM', 'SFORMAT', 'SOUNDEX', 'SPACE', 'STRCMP', 'SUBSTR', 'SUBSTRING', 'SUBSTRING_INDEX', 'TO_BASE64',
  'TO_CHAR', 'TRIM', 'UCASE', 'UPPER', 'WEIGHT_STRING', 'MD5', 'SHA', 'SHA1', 'SHA2', 'UUID', 'UUID_SHORT', 'SYS_GUID',
  'INET_ATON', 'INET_NTOA', 'INET6_ATON', 'INET6_NTOA', 'IS_IPV4', 'IS_IPV6', 'IS_UUID',
];

const DATES = [
  'ADDDATE', 'ADDTIME', 'CONVERT_TZ', 'CURDATE', 'CURRENT_DATE', 'CURRENT_TIME', 'CURRENT_TIMESTAMP', 'CURTIME', 'DATE',
  'DATEDIFF', 'DATE_ADD', 'DATE_FORMAT', 'DATE_SUB', 'DAY', 'DAYNAME', 'DAYOFMONTH', 'DAYOFWEEK', 'DAYOFYEAR', 'EXTRACT',
  'FROM_DAYS', 'FROM_UNIXTIME', 'GET_FORMAT', 'HOUR', 'LAST_DAY', 'LOCALTIME', 'LOCALTIMESTAMP', 'MAKEDATE', 'MAKETIME',
  'MICROSECOND', 'MINUTE', 'MONTH', 'MONTHNAME', 'NOW', 'PERIOD_ADD', 'PERIOD_DIFF', 'QUARTER', 'SECOND', 'SEC_TO_TIME',
  'STR_TO_DATE', 'SUBDATE', 'SUBTIME', 'SYSDATE', 'TIME', 'TIMEDIFF', 'TIMESTAMP', 'TIMESTAMPADD', 'TIMESTAMPDIFF',
  'TIME_FORMAT', 'TIME_TO_SEC', 'TO_DAYS', 'TO_SECONDS', 'UNIX_TIMESTAMP', 'UTC_DATE', 'UTC_TIME', 'UTC_TIMESTAMP', 'WEEK',
  'WEEKDAY', 'WEEKOFYEAR', 'YEAR', 'YEARWEEK', 'ADD_MONTHS', 'MONTHS_BETWEEN',
];

const JSON_FUNCTIONS = [
  'JSON_ARRAY', 'JSON_ARRAY_APPEND', 'JSON_ARRAY_INSERT', 'JSON_COMPACT', 'JSON_CONTAINS', 'JSON_CONTAINS_PATH', 'JSON_DEPTH',
  'JSON_DETAILED', 'JSON_EQUALS', 'JSON_EXISTS', 'JSON_EXTRACT', 'JSON_INSERT', 'JSON_KEYS', 'JSON_LENGTH', 'JSON_LOOSE',
  'JSON_MERGE', 'JSON_MERGE_PATCH', 'JSON_MERGE_PRESERVE', 'JSON_NORMALIZE', 'JSON_OBJECT', 'JSON_OVERLAPS', 'JSON_PRETTY',
  'JSON_QUERY', 'JSON_QUOTE', 'JSON_REMOVE', 'JSON_REPLACE', 'JSON_SEARCH', 'JSON_SET', 'JSON_TABLE', 'JSON_TYPE',
  'JSON_UNQUOTE', 'JSON_VALID', 'JSON_VALUE', 'JSON_SCHEMA_VALID', 'MEMBER_OF',
];

const INFORMATION = [
  'CONNECTION_ID', 'CURRENT_ROLE', 'CURRENT_USER', 'DATABASE', 'SCHEMA', 'SESSION_USER', 'SYSTEM_USER', 'USER', 'VERSION',
  'ROW_COUNT', 'FOUND_ROWS', 'DEFAULT', 'VALUES', 'VALUE', 'EXISTS',
];

/**
 * Allowed although slow on purpose: SLEEP holds nothing after it returns, and the statement time
 * limit stops it like any other slow query.
 */
const BOUNDED_BY_TIME_LIMIT = ['SLEEP'];

export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set([
  ...AGGREGATES, ...WINDOW, ...MATH, ...CONTROL_AND_CASTS, ...STRINGS, ...DATES, ...JSON_FUNCTIONS, ...INFORMATION,
  ...BOUNDED_BY_TIME_LIMIT,
]);

/** Built-ins refused for what they do beyond computing a value, with the reason a user reads. */
export const REFUSED_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ...['GET_LOCK', 'RELEASE_LOCK', 'RELEASE_ALL_LOCKS', 'IS_FREE_LOCK', 'IS_USED_LOCK'].map((name): [string, string] =>
    [name, 'works on named locks, which outlive the query on the pooled connection and block other sessions']),
  ...['LOAD_FILE'].map((name): [string, string] => [name, 'reads a file on the database host']),
  ...['NEXTVAL', 'SETVAL', 'LASTVAL'].map((name): [string, string] => [name, 'uses a sequence, whose state outlives the query']),
  ...['LAST_INSERT_ID'].map((name): [string, string] => [name, 'can set session state that outlives the query']),
  ...['MASTER_POS_WAIT', 'MASTER_GTID_WAIT', 'SOURCE_POS_WAIT', 'WAIT_FOR_EXECUTED_GTID_SET',
    'WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS'].map((name): [string, string] => [name, 'waits on replication']),
  ...['BENCHMARK'].map((name): [string, string] => [name, 'only burns server CPU']),
]);
