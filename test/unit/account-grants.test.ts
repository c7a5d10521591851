import { expect } from 'chai';
import { excessPrivileges, excessPrivilegesMessage } from '../../src/query-safety/account-grants.js';

describe('excessPrivileges', () => {
  const cases: Array<[string, string[], string[]]> = [
    ['a SELECT-only account', ['GRANT USAGE ON *.* TO `qs`@`%` IDENTIFIED BY PASSWORD \'*0123456789ABCDEF\'', 'GRANT SELECT ON `testdb`.* TO `qs`@`%`'], []],
    ['column-level SELECT', ['GRANT SELECT (`a`, `b`) ON `testdb`.`t` TO `qs`@`%`'], []],
    ["the blog's root", ["GRANT ALL PRIVILEGES ON *.* TO `root`@`%` IDENTIFIED BY PASSWORD '*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B' WITH GRANT OPTION",
      "GRANT PROXY ON ''@'%' TO 'root'@'%' WITH GRANT OPTION"],
      ['ALL PRIVILEGES ON *.*', 'WITH GRANT OPTION ON *.*', "PROXY ON ''@'%'", "WITH GRANT OPTION ON ''@'%'"]],
    ['SELECT plus writes and server privileges', ['GRANT SELECT, INSERT, SUPER, FILE, SHUTDOWN, PROCESS ON *.* TO `qs`@`%`'],
      ['INSERT ON *.*', 'SUPER ON *.*', 'FILE ON *.*', 'SHUTDOWN ON *.*', 'PROCESS ON *.*']],
    ['SELECT on the mysql schema', ['GRANT SELECT ON `mysql`.* TO `qs`@`%`', 'GRANT SELECT ON `mysql`.`user` TO `qs`@`%`'],
      ['SELECT ON `mysql`.*', 'SELECT ON `mysql`.`user`']],
    ['a stored routine', ['GRANT EXECUTE ON PROCEDURE `testdb`.`p` TO `qs`@`%`'], ['EXECUTE ON PROCEDURE `testdb`.`p`']],
    ['a role', ['GRANT `reporting` TO `qs`@`%`', 'SET DEFAULT ROLE `reporting` FOR `qs`@`%`'],
      ['role `reporting` (queryscaler does not inspect what a role grants)']],
  ];
  for (const [name, lines, expected] of cases) {
    it(`finds ${expected.length === 0 ? 'nothing' : expected.length} beyond SELECT for ${name}`, () => {
      expect(excessPrivileges(lines)).to.deep.equal(expected);
    });
  }

  it('never repeats a password hash', () => {
    const excess = excessPrivileges(["GRANT ALL PRIVILEGES ON *.* TO `root`@`%` IDENTIFIED BY PASSWORD '*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B'"]);
    expect(excessPrivilegesMessage("'root'@'%'", 'testdb', excess)).not.to.include('81F5E21E');
  });

  it('says what the account holds and gives the GRANT for a SELECT-only one', () => {
    expect(excessPrivilegesMessage("'root'@'%'", 'testdb', ['ALL PRIVILEGES ON *.*'])).to.equal(
      "the MySQL account 'root'@'%' that the trigger uses holds more than SELECT: ALL PRIVILEGES ON *.*. A trigger query only " +
      "reads: give it an account of its own that can do nothing else, e.g. CREATE USER 'queryscaler'@'%' IDENTIFIED BY '<password>'; " +
      "GRANT SELECT ON `testdb`.* TO 'queryscaler'@'%'; and put that user and password in the TriggerAuthentication's Secret");
  });
});
