/**
 * The one sentence a notification ends with: what the person on call should do next, derived from
 * the error code (domain/errors.ts) and, where the code alone is too broad, the failing stage.
 *
 * Pure. Every code of the registry has an entry (a test walks ERROR_CODES), and an unknown code
 * still gets a sentence, so a notification never ends without one. Commands named here exist:
 * `backupmate config check`, `backupmatectl status|backup|verify|list`, `journalctl -u backupmate`.
 */
import type { ErrorCode } from '../domain/errors.js';

const LOG = 'journalctl -u backupmate';

/** Stages that run mariabackup itself (backup, restore prepare and put-back). */
const MARIABACKUP_STAGES = new Set(['mariabackup', 'prepare', 'copy-back', 'move-back', 'target-dir']);

/**
 * `shown`: the message quotes the program's stderr above the sentence. Without it, "the output
 * above" would point at nothing: the sentence sends the reader to the log instead.
 */
function toolFailed(stage: string | undefined, shown: boolean): string {
  const where = shown ? 'above' : `in the log (${LOG})`;
  switch (stage) {
    case 'mariabackup':
      return (
        `check mariabackup's output ${where}; the backup user's privileges (RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR) ` +
        'and that mariabackup matches the server version'
      );
    case 'prepare':
      return (
        `check mariabackup --prepare's output ${where}; mariabackup must match the version that took the backup, ` +
        'and LOCAL_TEMP_DIR needs room for the whole data set'
      );
    case 'copy-back':
    case 'move-back':
    case 'target-dir':
      return `check mariabackup's output ${where}; free space and permissions in the target directory (MARIADB_DATADIR or --target-dir)`;
    case 'compressor':
    case 'decompressor':
      return `check the ${stage}'s output ${where} (zstd or gzip, per COMPRESSION) and free space in LOCAL_TEMP_DIR`;
    case 'mbstream':
    case 'extract':
      return `check mbstream's output ${where}, that MBSTREAM_PATH matches the backup's MariaDB version, and free space in LOCAL_TEMP_DIR`;
    case 'mariadb-client':
      // mariadb/server.ts quotes the client's complaint in the error message itself.
      return (
        'the server could not be asked (the error quotes the mariadb client): check that MariaDB runs and answers on ' +
        'DB_SOCKET (or DB_HOST:DB_PORT) and that DB_USER and DB_PASSWORD are right, then backupmate config check'
      );
    default:
      return shown
        ? `check the ${stage ? `${stage} ` : ''}output above (last lines of stderr) and the log (${LOG})`
        : `read the error and this job's lines in the log (${LOG}, e.g. with --since of the job's start)`;
  }
}

function toolMissing(stage: string | undefined): string {
  if (stage && MARIABACKUP_STAGES.has(stage)) return 'install mariabackup (same version as the server) or set MARIADB_BACKUP_PATH; then backupmate config check';
  if (stage === 'mbstream' || stage === 'extract') return 'install mbstream (it comes with mariabackup) or set MBSTREAM_PATH; then backupmate config check';
  if (stage === 'compressor' || stage === 'decompressor') return 'install zstd (or gzip, per COMPRESSION) on the PATH of the backupmate service';
  return `install the missing program or set its path (MARIADB_BACKUP_PATH, MBSTREAM_PATH); then backupmate config check`;
}

const BY_CODE: Readonly<Record<ErrorCode, (stage: string | undefined, stderrShown: boolean) => string>> = {
  USAGE: () => 'check the command line (backupmate --help, backupmatectl --help)',
  CONFIG: () => 'fix the configuration (backupmate config check)',
  // Stage 'plan': an incremental was requested but nothing in the store can be its base.
  BACKUP_NOT_FOUND: (stage) =>
    stage === 'plan' ? 'take a full backup to start a new chain (backupmatectl backup --full)' : 'pick a backup that exists (backupmatectl list)',
  INTEGRITY: () =>
    'do not rely on this backup: check it again (backupmatectl verify), look for a partial upload or changed objects in the store, ' +
    'and take a new full backup (backupmatectl backup --full)',
  TARGET_STATE: () => 'make the restore target safe as the message says (stop the server, empty or move the directory), then restore again',
  STORAGE: () =>
    'the store could not be reached or refused the request: check S3_ENDPOINT and the network first, then the credentials, ' +
    'bucket name and region (backupmate config check); a failed backup left nothing valid-looking, and the next run tries again',
  TOOL_FAILED: toolFailed,
  TOOL_MISSING: toolMissing,
  CANCELLED: () => 'nothing to fix if the cancel was intended (backupmatectl cancel or a daemon stop); otherwise start it again (backupmatectl backup)',
  LOCAL_IO: () => `check free space (df -h) and permissions of LOCAL_TEMP_DIR and the paths in the message; the service user must be able to write there`,
  DAEMON_UNAVAILABLE: () => 'start the daemon (systemctl start backupmate) and check why it stopped (journalctl -u backupmate)',
  PERMISSION: () => "add the user to the control socket's group (CONTROL_SOCKET_GROUP), then log in again",
  BUSY: () => 'wait for the running job (backupmatectl status) or cancel it (backupmatectl cancel), then try again',
  DECLINED: () => 'nothing was changed; run the command again and confirm if you meant it',
  STORE_LOCKED: () =>
    'another backupmate works on the same store prefix (the message names it): let it finish, or stop it; ' +
    'two hosts must not share FULL_BACKUP_PREFIX/INCREMENTAL_BACKUP_PREFIX in one store',
  DRILL_FAILED: () => 'the backup restores but its data is not sound: read the drill report (backupmate drill --json), take a new full backup and drill it',
  PROTOCOL: () => 'use backupmatectl and backupmate of the same version (backupmatectl --version, backupmate --version)',
  INTERNAL: (stage) =>
    stage === 'daemon'
      ? `the daemon died while this job ran (kill -9, out of memory, a crash or the host going down): see why in the log around the job's start (${LOG}; after a reboot add -b -1) and in dmesg; ` +
        'what the job left was removed at the restart, and the next run tries again'
      : `a bug: report it with the log (${LOG})`,
};

function isKnownCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(BY_CODE, code);
}

/**
 * What to do about a failure with error `code` in `stage` (stage may be unknown). Always returns
 * one non-empty sentence without a trailing period. `stderrShown`: whether the message the sentence
 * ends quotes the failing program's stderr (only then may it say "the output above").
 */
export function nextStep(code: string, stage?: string, opts: { stderrShown?: boolean } = {}): string {
  if (isKnownCode(code)) return BY_CODE[code](stage || undefined, opts.stderrShown ?? true);
  return `see the log (${LOG}) for error ${code || '(no code)'}`;
}

/** What to do when no backup has succeeded for too long (the stale alert). */
export const STALE_NEXT_STEP =
  `see the last failure and the next scheduled runs (backupmatectl status), check the log (${LOG}), ` +
  'and that the daemon runs and the schedules are not off';
