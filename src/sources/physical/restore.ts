/**
 * The physical source at restore time: the mariabackup specifics of a restore, called by the
 * generic restore job (restore/job.ts runRestore) through the Source port (PhysicalSource in
 * ./index.ts):
 *
 *   preflight:   the local mariabackup can prepare the chain (same major.minor); no server runs
 *                on the datadir (copy-back/move-back, unless the caller stops it later)
 *   applyMember: `mariabackup --prepare` of the full as soon as it is extracted, then
 *                `--prepare --incremental-dir` of each incremental as soon as it is, strictly in
 *                chain order, while the next members download (each staging dir applied once)
 *   apply:       the prepared full's checkpoints say backup_type=log-applied and the target's to_lsn
 *   putBack:     target-dir: rename the prepared full into DIR; copy-back/move-back: the server
 *                check again, move the old datadir aside (never deleted), mariabackup
 *                --copy-back/--move-back, chown -R MARIADB_OS_USER; every mode: the restore marker.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { ChildStage } from '../../archive/child.js';
import { majorMinor } from '../../domain/chain.js';
import { BackupmateError, errorText } from '../../domain/errors.js';
import { backupIdFor } from '../../domain/ids.js';
import type { Manifest } from '../../domain/manifest.js';
import type { Logger } from '../../log/logger.js';
import { chownRecursive, findRunningServer, isEmptyDir, moveDatadirAside } from '../../mariadb/datadir.js';
import { CHECKPOINT_FILES, parseCheckpoints, prepareArgv, putBackArgv, readFirst, type ConnectionSettings } from '../../mariadb/mariabackup.js';
import { markRestored } from '../../mariadb/restore-marker.js';
import { querySingleValue } from '../../mariadb/server.js';
import type { PutBackResult, RestoreMode, SourceContext } from '../source.js';
import { physicalOf } from './payload.js';

/** What the physical restore needs of the settings (app/wiring.ts restoreSettings). */
export interface PhysicalRestoreSettings {
  mariabackupPath: string;
  tempDir: string;
  osUser: string;
  /** DB_SOCKET: a server answering there counts as running on the target only if its @@datadir is the target. */
  socket: string;
  /** The DB_* connection, to ask the DB_SOCKET server for its @@datadir (absent: not asked). */
  connection?: ConnectionSettings;
  /** MARIABACKUP_PARALLEL: --parallel of --copy-back/--move-back (absent = mariabackup's default). */
  parallel?: number;
  /** PREPARE_USE_MEMORY: --use-memory of mariabackup --prepare, in bytes (absent = mariabackup's default). */
  prepareUseMemory?: number;
}

/** The mariabackup here must be able to prepare what the chain's mariabackup wrote (same major.minor). */
export function checkToolVersion(localTool: string, taken: string, id: string, mariabackupPath: string): void {
  if (majorMinor(localTool) && majorMinor(taken) && majorMinor(localTool) !== majorMinor(taken)) {
    throw new BackupmateError(
      'TOOL_MISSING',
      `backup ${id} was taken with mariabackup ${taken}, this host has ${localTool} (MARIADB_BACKUP_PATH=${mariabackupPath}): ` +
        `prepare needs the same major.minor version; install mariadb-backup ${majorMinor(taken)} or restore on a host that has it`,
    );
  }
}

/**
 * TARGET_STATE when a server uses `datadir` (findRunningServer: pid file, process, locks, or the
 * DB_SOCKET server's own @@datadir). The message names the evidence and asks to stop only that
 * server: a server on DB_SOCKET that uses another datadir is no reason to refuse.
 */
export async function refuseIfRunning(s: Pick<PhysicalRestoreSettings, 'socket' | 'connection' | 'tempDir'>, datadir: string, log?: Logger): Promise<void> {
  const c = s.connection;
  const running = await findRunningServer(datadir, {
    socket: s.socket || undefined,
    askDatadir: c ? () => querySingleValue(c, s.tempDir, 'SELECT @@datadir') : undefined,
    log,
  });
  if (running) {
    throw new BackupmateError(
      'TARGET_STATE',
      `MariaDB is running on ${datadir}: ${running}. Stop it first, then restore again; ` +
        `or restore beside it into a new, empty datadir (MARIADB_DATADIR=/new/dir) or with --target-dir`,
    );
  }
}

/**
 * Prepares member `index` of the chain: the full (index 0) in its own directory, an incremental
 * applied onto the full's directory with --incremental-dir. The applied incremental's directory
 * is scratch afterwards; it is removed in the background (not after a copy-back restore: the whole
 * staging tree is removed in the background then, and deleting now would compete with the
 * copy-back for the disk).
 */
export async function prepareMember(
  s: PhysicalRestoreSettings,
  ctx: SourceContext,
  fullDir: string,
  member: { manifest: Manifest; dir: string },
  index: number,
  removeAfter: boolean,
  signal: AbortSignal,
): Promise<void> {
  const m = member.manifest;
  if (index === 0) {
    await runTool(ctx.log, 'prepare', s.mariabackupPath, prepareArgv(fullDir, undefined, s.prepareUseMemory), signal);
    ctx.log.info('full backup prepared', { event: 'restore.full_prepared', fullId: m.id, toLsn: physicalOf(m).lsn.to });
    return;
  }
  await runTool(ctx.log, 'prepare', s.mariabackupPath, prepareArgv(fullDir, member.dir, s.prepareUseMemory), signal);
  ctx.log.info('incremental applied', { event: 'restore.incremental_applied', incrementalId: m.id, toLsn: physicalOf(m).lsn.to });
  if (removeAfter) {
    const removal = fs.rm(member.dir, { recursive: true, force: true }).catch(() => {});
    if (ctx.background) ctx.background(removal);
    else await removal;
  }
}

/** The prepared full in `fullDir` is ready to start: backup_type=log-applied at the target's to_lsn. */
export async function checkPrepared(fullDir: string, target: Manifest): Promise<{ toLsn: string }> {
  const cp = await readFirst(fullDir, CHECKPOINT_FILES);
  if (!cp) throw new BackupmateError('TOOL_FAILED', `prepare left no checkpoints file in ${fullDir}`);
  const prepared = parseCheckpoints(cp.text);
  const want = physicalOf(target).lsn.to;
  if (prepared.backupType !== 'log-applied' || prepared.toLsn !== want) {
    throw new BackupmateError(
      'TOOL_FAILED',
      `prepared backup is not ready: expected backup_type=log-applied and to_lsn=${want}, got backup_type=${prepared.backupType} and to_lsn=${prepared.toLsn}`,
    );
  }
  return { toLsn: prepared.toLsn };
}

/**
 * Puts the prepared full (`resultDir`) in place. target-dir: renamed into `destination` (an empty
 * one is replaced). copy-back/move-back: refuse if a server runs on the datadir now, move the old
 * datadir aside (never deleted), mariabackup --copy-back/--move-back, chown -R; after a copy-back
 * the staging tree (`ctx.jobDir`) is removed by a detached rm -rf. Every mode then writes the
 * restore marker, so the planner never chains the next backup onto the pre-restore history.
 */
export async function putBackPhysical(
  s: PhysicalRestoreSettings,
  ctx: SourceContext,
  mode: RestoreMode,
  resultDir: string,
  destination: string,
  target: Manifest,
): Promise<PutBackResult> {
  const { log } = ctx;
  let movedAside: string | null = null;
  let stagingRemovedInBackground = false;
  if (mode === 'target-dir') {
    if ((await isEmptyDir(destination)) === true) await fs.rmdir(destination);
    await fs.rename(resultDir, destination);
  } else if (mode === 'into-server') {
    throw new BackupmateError('USAGE', 'restore --into-server: only logical backups (backup --logical) load into a running server so far');
  } else {
    await refuseIfRunning(s, destination, log);
    movedAside = await moveDatadirAside(destination, backupIdFor(new Date()));
    if (movedAside) log.info('previous datadir moved aside', { event: 'restore.moved_aside', from: destination, to: movedAside });
    try {
      await runTool(log, mode, s.mariabackupPath, putBackArgv(mode, resultDir, destination, s.parallel), ctx.signal);
      // The staging copy is scratch from here on. After a copy-back it is the whole prepared
      // backup: deleting gigabytes takes seconds (more with `discard` mounts) that the person
      // waiting for the database should not wait for, so a detached `rm -rf` removes it, also
      // when this process exits first. Anything it leaves is a restore-* directory in
      // LOCAL_TEMP_DIR, safe to delete.
      if (mode === 'copy-back') stagingRemovedInBackground = removeDetached(ctx.jobDir, log);
      await chownRecursive(destination, s.osUser);
    } catch (e) {
      const how = movedAside
        ? `; the previous datadir is untouched at ${movedAside}. To roll back: mv ${destination} ${destination}.failed-restore && mv ${movedAside} ${destination}`
        : '';
      throw new BackupmateError(e instanceof BackupmateError ? e.code : 'INTERNAL', `${mode} into ${destination} failed: ${errorText(e)}${how}`, {
        movedAside,
      });
    }
  }
  // Every put-back (also --target-dir: a scratch datadir may be started and backed up later)
  // leaves a marker, so the planner never chains the next backup onto the pre-restore history.
  await markRestored(destination, target.id, physicalOf(target).lsn.to, log);
  return { movedAside, stagingRemovedInBackground };
}

/** Starts `rm -rf DIR` in its own session, not waited for; true once started. */
function removeDetached(dir: string, log: Logger): boolean {
  try {
    const child = spawn('rm', ['-rf', '--', dir], { detached: true, stdio: 'ignore' });
    child.on('error', (e) => log.warn(`could not remove ${dir}: ${errorText(e)}`, { event: 'restore.cleanup', dir }));
    child.unref();
    log.info('staging directory is being removed in the background', { event: 'restore.cleanup', dir, background: true });
    return true;
  } catch {
    return false;
  }
}

/** Runs a mariabackup step to its end; its exit status counts; `signal` kills it (CANCELLED). */
async function runTool(log: Logger, stage: string, file: string, args: string[], signal?: AbortSignal): Promise<void> {
  const t = Date.now();
  // An abort listener added to an already aborted signal never runs: do not start at all.
  if (signal?.aborted) throw new BackupmateError('CANCELLED', `${stage} was cancelled`);
  const child = new ChildStage({ stage, file, args, stdin: 'ignore', stdout: 'ignore', onStderr: (l) => log.debug(l, { event: `${stage}.stderr` }) });
  const onAbort = () => child.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await child.done;
  } catch (e) {
    if (signal?.aborted) throw new BackupmateError('CANCELLED', `${stage} was cancelled`);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  log.info(`${stage} finished`, { event: `${stage}.end`, durationMs: Date.now() - t });
}
