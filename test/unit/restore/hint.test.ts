/** The closing hint of `backupmate restore`: a restore beside production is not told to start the system's service. */
import { scratchSocket, startHint } from '../../../src/restore/hint.js';

describe('startHint', () => {
  test('beside a running server (DB_SOCKET uses another datadir): a mariadbd command line of its own, no systemctl', () => {
    const text = startHint({ mode: 'copy-back', destination: '/srv/restore/data', osUser: 'mysql', socketServerDatadir: '/var/lib/mysql' }).join('\n');
    expect(text).not.toContain('systemctl');
    expect(text).toContain('the server on DB_SOCKET uses /var/lib/mysql');
    expect(text).toContain(
      'mariadbd --no-defaults --datadir=/srv/restore/data --socket=/srv/restore/data/mysqld.sock --skip-networking ' +
        '--pid-file=/srv/restore/data/mariadbd.pid --log-error=/srv/restore/data/mariadbd.err --user=mysql &',
    );
    expect(text).toContain('mariadb --socket=/srv/restore/data/mysqld.sock');
  });

  test('nothing answers on DB_SOCKET: both ways, the system service named as one of them', () => {
    const text = startHint({ mode: 'move-back', destination: '/var/lib/mysql', osUser: 'mysql', socketServerDatadir: null }).join('\n');
    expect(text).toMatch(/if it is your server's datadir, systemctl start mariadb; otherwise a separate server:/);
    expect(text).toContain('--datadir=/var/lib/mysql');
  });

  test('--target-dir: the unchanged hint', () => {
    expect(startHint({ mode: 'target-dir', destination: '/x', osUser: 'mysql', socketServerDatadir: null })).toEqual([
      'ready for MariaDB: start mariadbd with --datadir=/x, or copy it back with mariabackup --copy-back',
    ]);
  });

  test('a socket path too long for sun_path goes to /tmp', () => {
    const long = '/' + 'd'.repeat(120);
    expect(scratchSocket(long)).toBe(`/tmp/mariadb-restore-${'d'.repeat(40)}.sock`);
  });
});
