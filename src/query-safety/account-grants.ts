// What a trigger's MySQL account may do beyond reading, from its SHOW GRANTS lines. A trigger needs
// SELECT on the tables its query reads and nothing else; anything more (ALL PRIVILEGES, SUPER,
// FILE, SHUTDOWN, PROCESS, GRANT OPTION, any privilege on the mysql schema, whose tables hold the
// password hashes) is what a mistaken or hostile query could use if the query check ever let one
// through. The lines may carry a password hash (IDENTIFIED BY PASSWORD '...'): only the privilege
// words and the object they apply to are ever repeated. Pure.

const READ_ONLY = new Set(['SELECT', 'USAGE']);

/** Each excess as "PRIVILEGE ON object" (or "WITH GRANT OPTION ON object", "role r"), in the order found. */
export function excessPrivileges(grantLines: readonly string[]): string[] {
  const excess: string[] = [];
  const add = (item: string) => {
    if (!excess.includes(item)) excess.push(item);
  };
  for (const line of grantLines) {
    const grant = /^\s*GRANT\s+(.+?)\s+ON\s+(.+?)\s+TO\s+/is.exec(line);
    if (grant === null) {
      const role = /^\s*GRANT\s+(\S+)\s+TO\s+/i.exec(line);
      if (role !== null) add(`role ${role[1]} (queryscaler does not inspect what a role grants)`);
      continue;
    }
    const object = grant[2]!.replace(/\s+/g, ' ');
    const onMysqlSchema = /^(?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE(?: BODY)?)\s+)?`?mysql`?\./i.test(object);
    for (const privilege of splitPrivileges(grant[1]!)) {
      if (!READ_ONLY.has(privilege) || (onMysqlSchema && privilege !== 'USAGE')) add(`${privilege} ON ${object}`);
    }
    if (/\bWITH\b[^']*\bGRANT\s+OPTION\b/i.test(line.slice(grant[0].length))) add(`WITH GRANT OPTION ON ${object}`);
  }
  return excess;
}

/** "SELECT (a, b), INSERT" -> ["SELECT", "INSERT"]: column lists dropped, words upper-cased. */
function splitPrivileges(list: string): string[] {
  const withoutColumns = list.replace(/\([^)]*\)/g, '');
  return withoutColumns.split(',').map((privilege) => privilege.trim().replace(/\s+/g, ' ').toUpperCase()).filter((p) => p !== '');
}

/** The Warning a user reads on each ScaledObject whose trigger uses the account. */
export function excessPrivilegesMessage(account: string, database: string, excess: readonly string[]): string {
  const db = database === '' ? '<database>' : database.replace(/`/g, '``');
  return `the MySQL account ${account} that the trigger uses holds more than SELECT: ${excess.join('; ')}. A trigger query ` +
    "only reads: give it an account of its own that can do nothing else, e.g. CREATE USER 'queryscaler'@'%' IDENTIFIED BY " +
    `'<password>'; GRANT SELECT ON \`${db}\`.* TO 'queryscaler'@'%'; and put that user and password in the TriggerAuthentication's Secret`;
}
