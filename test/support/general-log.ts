// What one database user sent while a test step ran, read from MariaDB's general log. The tests
// that count queries (one poll per interval, shared queries, fresh reads) count them here, so a
// statement is counted only when the server received it.

import type { MariaDb } from './mariadb.js';

/**
 * Runs `during` with the general log on (as a table, emptied before and after) and returns the
 * text of every query `user` sent meanwhile. The log names the user of every statement, so other
 * tests' traffic on the shared server cannot blur the count.
 */
export async function queriesSentBy(db: MariaDb, user: string, during: () => Promise<unknown>): Promise<string[]> {
  await db.query('TRUNCATE mysql.general_log');
  await db.query("SET GLOBAL log_output = 'TABLE'");
  await db.query('SET GLOBAL general_log = ON');
  try {
    await during();
  } finally {
    await db.query('SET GLOBAL general_log = OFF');
  }
  // user_host reads "user[user] @ host [address]"; _ and % in a user name must not act as wildcards.
  const rows = await db.query<Array<{ argument: string | Buffer }>>(
    "SELECT argument FROM mysql.general_log WHERE user_host LIKE ? AND command_type = 'Query'",
    [`${user.replace(/[\\_%]/g, (c) => `\\${c}`)}[%`],
  );
  await db.query('TRUNCATE mysql.general_log');
  return rows.map((row) => String(row.argument));
}
