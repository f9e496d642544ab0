import { BackupmateError } from '../../../src/domain/errors.js';
import { confirmationPrompt, managesServer, notStartedError } from '../../../src/restore/handover.js';

const cmds = { stopCommand: 'systemctl stop mariadb', startCommand: 'systemctl start mariadb' };

describe('managesServer', () => {
  test('copy-back and move-back stop and start the server; target-dir touches none', () => {
    expect(managesServer('copy-back')).toBe(true);
    expect(managesServer('move-back')).toBe(true);
    expect(managesServer('target-dir')).toBe(false);
  });
});

describe('confirmationPrompt', () => {
  const info = { chain: ['20261121T040000Z', '20261122T040000Z'], destination: '/var/lib/mysql' };

  test('names the chain, the datadir, the stop command, that nothing is deleted, and the start command', () => {
    expect(confirmationPrompt(info, { mode: 'move-back', noStart: false, ...cmds })).toBe(
      'Restore 20261121T040000Z -> 20261122T040000Z into /var/lib/mysql (move-back)?\n' +
        '  MariaDB will be stopped with: systemctl stop mariadb\n' +
        '  the current datadir /var/lib/mysql will be moved aside (not deleted)\n' +
        '  then started with: systemctl start mariadb\n',
    );
  });

  test('--no-start says the server stays stopped instead of the start command', () => {
    const p = confirmationPrompt(info, { mode: 'copy-back', noStart: true, ...cmds });
    expect(p).toContain('MariaDB will NOT be started afterwards (--no-start)');
    expect(p).not.toContain('systemctl start');
  });
});

describe('notStartedError', () => {
  const report = { id: '20261122T040000Z', destination: '/var/lib/mysql', movedAside: '/var/lib/mysql.before-restore-1' };

  test('TOOL_FAILED with the cause, where to look, and the exact roll-back commands', () => {
    const e = notStartedError(report, new Error('start command exited with code 1'), cmds);
    expect(e).toBeInstanceOf(BackupmateError);
    expect(e.code).toBe('TOOL_FAILED');
    expect(e.message).toContain('the restore of 20261122T040000Z is in place at /var/lib/mysql, but MariaDB did not come back: start command exited with code 1');
    expect(e.message).toContain('journalctl -u mariadb');
    expect(e.message).toContain(
      'To roll back to the previous datadir: systemctl stop mariadb; mv /var/lib/mysql /var/lib/mysql.failed-restore; mv /var/lib/mysql.before-restore-1 /var/lib/mysql; systemctl start mariadb',
    );
  });

  test('without a previous datadir there is nothing to roll back to, and it says so', () => {
    const e = notStartedError({ ...report, movedAside: null }, 'boom', cmds);
    expect(e.message).toContain('There was no previous datadir to roll back to.');
    expect(e.message).not.toContain('mv ');
  });
});
