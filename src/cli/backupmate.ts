#!/usr/bin/env node
/**
 * `backupmate`: the one-shot commands (backup, list, restore, config). The resident daemon and
 * its control client come with `backupmate run` / `backupmatectl`.
 *
 * Exit statuses come from the error registry (src/domain/errors.ts, documented in the README).
 * User errors print one line, never a stack trace.
 */
// Node 20 is supported by this release; the SDK's notice about future releases is noise at 3 a.m.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, Option } from "commander";
import { runMain } from './main.js';
import * as commands from './commands.js';
import { VERSION } from '../version.js';

/** The command handlers the program dispatches to; injectable so parsing is unit-tested alone. */
export type Handlers = Pick<
  typeof commands,
  'backupCommand' | 'checkCommand' | 'configCommand' | 'drillCommand' | 'listCommand' | 'pruneCommand' | 'restoreCommand' | 'runCommand' | 'verifyCommand'
>;

/**
 * `--config FILE` takes exactly one value and may be repeated. A variadic `<file...>` swallowed
 * the subcommand (`--config F backup` parsed "backup" as a second file and printed help, exit 0):
 * a cron line that never backed anything up.
 */
export function collectFiles(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const CONFIG_OPTION_HELP =
  'read this env file instead of /etc/backupmate/*.env and ./.backupmate.env (repeatable: later files win; ' +
  'environment variables still override); the same for every command';

export function buildProgram(h: Handlers = commands): Command {
  const { backupCommand, checkCommand, configCommand, drillCommand, listCommand, pruneCommand, restoreCommand, runCommand, verifyCommand } = h;
  const program = new Command('backupmate')
    .description('MariaDB physical backups streamed to S3, Azure Blob, Google Cloud Storage or a local store, and tested restores.')
    .version(VERSION, '-V, --version', 'print the version')
    .option('-c, --config <file>', CONFIG_OPTION_HELP, collectFiles)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('backup')
    .description('take a backup now: full or incremental as the planner decides (reason logged), or as forced')
    .addOption(new Option('--full', 'take a full backup'))
    .addOption(new Option('--incremental', 'take an incremental on the current chain (INCREMENTAL_BASE decides the parent)'))
    .addOption(new Option('--directories', 'back up DIRECTORY_BACKUP_PATHS instead of the database (a tar of what changed since the last directory backup, or of everything)'))
    .addOption(new Option('--logical', 'take a logical backup: one consistent parallel dump (mydumper) of LOGICAL_DATABASES, with users and grants as SQL'))
    .option('--json', 'JSON log lines on stdout even at a terminal (they are the default when stdout is not a terminal)')
    .addHelpText(
      'after',
      '\nWithout --full/--incremental a full is taken when there is no valid full, when a FULL_BACKUP_SCHEDULE tick\n' +
        'passed since the newest full, when the chain has MAX_CHAIN_LENGTH incrementals, when the server version\n' +
        "changed, or when the server's history no longer continues the chain (a restore since the parent, its LSN\n" +
        'behind the parent\'s, another server or datadir); otherwise an incremental. Retention (prune) runs after every successful backup.\n' +
        'At a terminal: what was decided and why, then the result; JSON log lines only with --json or when stdout\n' +
        'is not a terminal (cron, systemd, a pipe). LOG_FILE always gets the JSON.\n' +
        'With --directories: a full when there is no directory backup yet, when DIRECTORY_BACKUP_PATHS differs from the\n' +
        "newest one's or its chain has MAX_CHAIN_LENGTH incrementals; otherwise an incremental of what changed, appeared or\n" +
        'was removed since the newest directory backup. No database server is needed.\n' +
        'With --logical: always a full dump, under LOGICAL_BACKUP_PREFIX, of LOGICAL_DATABASES minus LOGICAL_EXCLUDE_DATABASES\n' +
        '(LOGICAL_OBJECTS: schema, data, views, routines, triggers, events, users), LOGICAL_PARALLEL connections, one\n' +
        "snapshot for every table; the manifest records the snapshot's binlog position and GTID and each table's row count.\n" +
        'With COPY_STORAGE the backup is also copied to the second store (what the copy lacks; a copy that is down\n' +
        'fails nothing and is caught up by the next run). Backup, prune and restore hold the store lock of the prefix:\n' +
        'another backupmate at work there refuses them at once with exit 81, naming it (host, pid, job, since when).',
    )
    .action(async (_opts, cmd: Command) => backupCommand(cmd.optsWithGlobals()));

  program
    .command('list')
    .description('list the backups in the store: id, kind, status, sizes, duration, LSNs')
    .option('--json', 'print JSON for machines instead of a table')
    .addOption(new Option('--store <name>', 'primary (default) or copy: work on the second store (COPY_STORAGE)').choices(['primary', 'copy']))
    .action(async (_opts, cmd: Command) => listCommand(cmd.optsWithGlobals()));

  program
    .command('restore')
    .description('download, verify (sha256), extract and prepare a backup, then put it in place')
    .argument('[id]', 'backup id (20261121T040000Z), a timestamp or unambiguous prefix of one, or "latest"; an incremental restores its whole chain')
    .addOption(
      new Option(
        '--time <when>',
        'restore the database to this moment, e.g. "2026-11-21 14:05:17" (SCHEDULE_TIMEZONE): the newest backup before it, then the archived binlogs replayed up to it',
      ),
    )
    .addOption(new Option('--gtid <gtid>', 'restore the database up to and including this transaction, e.g. 0-1-4711 (replays the archived binlogs)'))
    .addOption(new Option('--target-dir <dir>', 'put the prepared backup in this new or empty directory'))
    .addOption(new Option('--copy-back', 'copy the prepared backup into MARIADB_DATADIR (the old datadir is moved aside)'))
    .addOption(new Option('--move-back', 'move the prepared backup into MARIADB_DATADIR (the old datadir is moved aside)'))
    .addOption(new Option('--directories', 'restore a directory backup: "latest" and --time pick among directory backups (needs --target-dir)'))
    .addOption(new Option('--logical', 'restore a logical backup: "latest" and --time pick among logical backups (with --target-dir; --into-server always does)'))
    .addOption(new Option('--into-server', 'load a logical backup into the running server at DB_HOST/DB_SOCKET as RESTORE_DB_USER, staged and checked'))
    .addOption(new Option('--database <db>', 'with --into-server: only this database'))
    .addOption(new Option('--table <db.table>', 'with --into-server: only this table'))
    .addOption(new Option('--replace', 'with --into-server: move an existing database/table aside (renamed, never dropped) instead of refusing'))
    .addOption(new Option('--store <name>', 'primary (default) or copy: work on the second store (COPY_STORAGE)').choices(['primary', 'copy']))
    .addHelpText(
      'after',
      '\nExactly one of --target-dir, --copy-back, --move-back, --into-server. With --copy-back/--move-back the server on\n' +
        'MARIADB_DATADIR must be stopped; the old datadir is renamed to <datadir>.before-restore-<time>, never deleted,\n' +
        'and the result is chown -R to MARIADB_OS_USER.\n' +
        '"latest" and --time pick the newest backup of the kind the restore needs: database backups, unless --directories\n' +
        'is given (--copy-back/--move-back always need a database backup). An id names that backup, whatever its kind:\n' +
        'the id of a directory backup with --target-dir DIR recreates its paths under DIR (DIR/etc/mysql/my.cnf).\n' +
        'Point in time (--time, --gtid; needs the binlog archive, BINLOG_ARCHIVE=on): the result holds every transaction\n' +
        'committed before WHEN and none after; a transaction committed in the second WHEN itself is NOT replayed (binlog\n' +
        'times have one-second resolution: ask for the next second to include it). The replay runs on a private server\n' +
        'on the prepared copy before anything is put back. A moment outside the recoverable window is refused (exit 85)\n' +
        'with the window and the nearest restorable moments. Without a binlog archive --time restores the newest backup\n' +
        'finished at or before WHEN, and says so.\n\n' +
        'A logical backup: --target-dir DIR writes its plain SQL files (mydumper layout) into DIR; --into-server loads all of\n' +
        'it, one --database or one --table into the running server: schema, CHECK TABLE, data, CHECK TABLE, row counts\n' +
        'against the backup, then views, triggers, routines, events (and users with grants, for a whole restore). An existing\n' +
        'database or table is refused (exit 73) unless --replace, which renames it to <name>_before_<id>; a failed check stops\n' +
        'the load and names the table and what differs (exit 65).',
    )
    .action(async (id: string | undefined, _opts, cmd: Command) => restoreCommand(id, cmd.optsWithGlobals()));

  program
    .command('verify')
    .description("check that backups are restorable: manifest (and its MAC), chain, every volume's sha256, and the whole stream unpacked end to end")
    .argument('[id]', 'a backup id, timestamp or unambiguous prefix (checks its whole chain), "latest" (default) or "all" (every backup in the store)')
    .option('--json', 'print the report as JSON instead of a table')
    .addOption(new Option('--store <name>', 'primary (default) or copy: work on the second store (COPY_STORAGE)').choices(['primary', 'copy']))
    .option('--binlog', 'verify the binlog archive under BINLOG_PREFIX instead: continuity (numbering, positions, GTID sequence, no overlap, no hole), every segment\'s sha256, GTID order inside each')
    .addHelpText(
      'after',
      '\nPer backup: ok, corrupt (what is wrong, naming the object), could not check (why), or incomplete (no manifest).\n' +
        'Exit status: 0 all ok; 65 something is corrupt; otherwise the code of why a backup could not be checked\n' +
        '(78 e.g. an encrypted backup without AGE_IDENTITY_FILE, 76 the store failed, 74 no scratch space in LOCAL_TEMP_DIR).\n' +
        'Needs free space in LOCAL_TEMP_DIR for the largest backup unpacked (removed after each backup).',
    )
    .action(async (id: string | undefined, _opts, cmd: Command) => verifyCommand(id, cmd.optsWithGlobals()));

  program
    .command('drill')
    .description('prove a backup restores: restore its chain into LOCAL_TEMP_DIR, start a throwaway mariadbd on it, CHECK TABLE every table, compare with what the backup recorded')
    .argument('[id]', 'a backup id, timestamp or unambiguous prefix, or "latest" (default)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nWith a binlog archive (BINLOG_PREFIX) that continues from the backup, replays it up to the backup\'s last archived\n' +
        'moment before starting (step replay); otherwise the report says "no binlog replay (reason)".\n' +
        'Measures the time to a ready server (download, prepare, replay, start: the backup\'s honest RTO) and each step, and stores\n' +
        'a small drill record next to the backup (list shows LAST_DRILL). Never touches MARIADB_DATADIR or the running server:\n' +
        'the scratch server has its own socket and no TCP port (DRILL_MARIADBD_OPTIONS adds options). The scratch is deleted\n' +
        'whatever happens. Exit status: 0 passed; 80 the server did not start or a table failed CHECK TABLE / is missing;\n' +
        '65 a corrupt volume; 71 prepare failed; 74 no room in LOCAL_TEMP_DIR (the chain unpacked); 66 no such backup.',
    )
    .action(async (id: string | undefined, _opts, cmd: Command) => drillCommand(id, cmd.optsWithGlobals()));

  program
    .command('prune')
    .description('apply retention (RETENTION_FULL_COUNT, RETENTION_DAYS): delete whole expired chains and stale incomplete backups')
    .option('--dry-run', 'list exactly what would be deleted, delete nothing')
    .addOption(new Option('--store <name>', 'primary (default) or copy: work on the second store (COPY_STORAGE)').choices(['primary', 'copy']))
    .action(async (_opts, cmd: Command) => pruneCommand(cmd.optsWithGlobals()));

  program
    .command('run')
    .description('run the resident daemon (for systemd: Type=notify); schedules, job queue, control socket for backupmatectl')
    .addHelpText(
      'after',
      '\nWith --config FILE the daemon reads only that file (and the environment), not /etc/backupmate/*.env, like\n' +
        'every other command: one file per instance of the backupmate@NAME unit. SIGTERM cancels the running job and exits 0; SIGHUP reloads\n' +
        'the configuration (an invalid one is rejected and the old one kept).',
    )
    .action(async (_opts, cmd: Command) => runCommand(cmd.optsWithGlobals()));

  program
    .command('check')
    .description('the whole preflight, one line per check (ok or FAILED and why): config check, the server as DB_USER (version, privileges), a probe object written, read back and deleted in the store, free space in LOCAL_TEMP_DIR')
    .addHelpText('after', '\nExit status 0 when every check passes, else the status of the first failure (78 configuration, 76 store, 71 server, ...).')
    .action(async (_opts, cmd: Command) => checkCommand(cmd.optsWithGlobals()));

  const config = program.command('config').description('validate and show the configuration (what the daemon given the same --config loads)');
  config
    .command('check')
    .description('validate every key and check locally that directories can be created and written, files read, programs run (with their versions); print the configuration with secrets redacted; exit 78 with one line per problem')
    .action(async (_opts, cmd: Command) => configCommand('check', cmd.optsWithGlobals()));
  config
    .command('show')
    .description('print the effective configuration (secrets redacted) with where each value came from')
    .action(async (_opts, cmd: Command) => configCommand('show', cmd.optsWithGlobals()));

  return program;
}

/** True when this module is the program being run (not imported by a test). */
function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    // npm's bin links are symlinks to this file.
    return fs.realpathSync(argv1) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  await runMain('backupmate', async (argv) => {
    await buildProgram().parseAsync(argv);
  });
}

