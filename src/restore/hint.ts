/**
 * The closing hint of `backupmate restore`: how to start a server on what was restored. Pure.
 *
 * A restore beside production (into a datadir that is not the one the DB_SOCKET server uses) must
 * not be told `systemctl start mariadb`: that starts the system's server on ITS datadir, not on
 * the restored one. It gets a mariadbd command line of its own instead: its own socket, no TCP
 * (so it cannot clash with the running server's port), --no-defaults (so it does not read the
 * running server's my.cnf: its socket, port, binlog and pid file), and the OS user.
 */
import * as path from 'node:path';

export interface StartHintInput {
  mode: 'target-dir' | 'copy-back' | 'move-back';
  /** Where the prepared data now is (real path). */
  destination: string;
  /** MARIADB_OS_USER. */
  osUser: string;
  /**
   * The @@datadir the DB_SOCKET server reported after the restore, as a real path; null when
   * nothing answered there (or it could not be asked).
   */
  socketServerDatadir: string | null;
}

/** sun_path holds 108 bytes; keep some slack. */
const MAX_SOCKET_PATH = 100;

/** Where a scratch server's socket can go: in the datadir (owned by the OS user), else /tmp. */
export function scratchSocket(destination: string): string {
  const inside = path.join(destination, 'mysqld.sock');
  return Buffer.byteLength(inside) <= MAX_SOCKET_PATH ? inside : `/tmp/mariadb-restore-${path.basename(destination).slice(0, 40)}.sock`;
}

/** The mariadbd command line for a second server on `destination` beside a running one. */
export function scratchServerCommand(destination: string, osUser: string): string {
  return [
    'mariadbd --no-defaults',
    `--datadir=${destination}`,
    `--socket=${scratchSocket(destination)}`,
    '--skip-networking',
    `--pid-file=${path.join(destination, 'mariadbd.pid')}`,
    `--log-error=${path.join(destination, 'mariadbd.err')}`,
    `--user=${osUser}`,
  ].join(' ');
}

/** The closing lines (without indentation) saying how to start MariaDB on the restored data. */
export function startHint(i: StartHintInput): string[] {
  if (i.mode === 'target-dir') {
    return [`ready for MariaDB: start mariadbd with --datadir=${i.destination}, or copy it back with mariabackup --copy-back`];
  }
  const own = `ownership set to ${i.osUser}`;
  const scratch = [
    `  ${scratchServerCommand(i.destination, i.osUser)} &`,
    `  then connect with: mariadb --socket=${scratchSocket(i.destination)}`,
    '  (add the server settings the data needs, e.g. --innodb-page-size if yours is not the default; or use --port=<a free port> instead of --skip-networking)',
  ];
  if (i.socketServerDatadir !== null && i.socketServerDatadir !== i.destination) {
    return [`${own}; the server on DB_SOCKET uses ${i.socketServerDatadir}, so start a separate server on this datadir:`, ...scratch];
  }
  return [
    `${own}; start MariaDB on it: if it is your server's datadir, systemctl start mariadb; otherwise a separate server:`,
    ...scratch,
  ];
}
