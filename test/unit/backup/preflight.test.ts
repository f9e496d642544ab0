import { grantHint, quoteAccount } from '../../../src/backup/preflight.js';

describe('quoteAccount: CURRENT_USER() as an account name for GRANT', () => {
  test.each([
    ['backup@localhost', "'backup'@'localhost'"],
    ['root@%', "'root'@'%'"],
    ['bm@10.0.0.%', "'bm'@'10.0.0.%'"],
    // The host part never holds an "@"; the user part may.
    ['a@b@localhost', "'a@b'@'localhost'"],
    ["o'neil@localhost", "'o''neil'@'localhost'"],
    // An anonymous or odd answer is still quoted whole rather than guessed at.
    ['weird', "'weird'"],
  ])('%s → %s', (current, quoted) => {
    expect(quoteAccount(current)).toBe(quoted);
  });
});

describe('grantHint', () => {
  test('names the real account, not "<that user>"', () => {
    expect(grantHint('backup', 'backup@localhost', ['RELOAD', 'BINLOG MONITOR'])).toBe(
      "the backup user backup (DB_USER) lacks RELOAD, BINLOG MONITOR: run GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'backup'@'localhost'",
    );
  });
});
