/**
 * The restore marker: `<datadir>/backupmate_restore.json`, written by every restore that puts data
 * in place (copy-back, move-back, and --target-dir, since a scratch datadir may be started and
 * backed up later), read by the backup planner.
 *
 * Why a file of our own: after a restore to an older backup the server's LSNs go on from where
 * that backup ends, so an incremental on the chain taken before the restore would apply another
 * history's pages (and, while the server's checkpoint is below the parent's, end below where it
 * starts) and never prepare. The current LSN catches that only until enough writes have pushed it
 * past the old chain's end; the marker says "a restore happened at T" for as long
 * as the datadir lives, and the planner starts a new chain when T is after the parent finished.
 *
 * mariabackup --copy-back and --move-back (10.11) also leave the backup's `xtrabackup_info` and
 * `xtrabackup_binlog_pos_innodb` in the datadir (test/integration/continuity.test.ts sees them),
 * but that is not a reliable signal on its own: it names no restore time (so a restore before
 * the parent cannot be told from one after it), and any datadir ever built from a mariabackup
 * backup has it, for good.
 *
 * A plain JSON file in the datadir's top level: mariadbd ignores files there (only directories are
 * databases), so starting a server on a restored --target-dir is unaffected.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { isBackupId } from '../domain/ids.js';
import type { Logger } from '../log/logger.js';

export const RESTORE_MARKER_NAME = 'backupmate_restore.json';

export interface RestoreMarker {
  /** The backup whose data was put in place (the last of its chain). */
  restoredBackupId: string;
  /** When the data was put in place, ISO 8601 UTC. */
  restoredAt: string;
  /** The restored backup's to_lsn: where the server's LSNs continue from. */
  toLsn: string;
  /** The host the restore ran on. */
  host: string;
}

export function serializeRestoreMarker(m: RestoreMarker): string {
  return JSON.stringify(m, null, 2) + '\n';
}

/** Parses a marker; a one-line problem (what was expected) instead of a marker when malformed. Pure. */
export function parseRestoreMarker(text: string): RestoreMarker | { problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { problem: `not valid JSON (${(e as Error).message})` };
  }
  const m = raw as Record<string, unknown>;
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.restoredBackupId !== 'string' ||
    !isBackupId(m.restoredBackupId) ||
    typeof m.restoredAt !== 'string' ||
    Number.isNaN(Date.parse(m.restoredAt)) ||
    typeof m.toLsn !== 'string' ||
    !/^\d+$/.test(m.toLsn) ||
    typeof m.host !== 'string'
  ) {
    return { problem: 'expected {restoredBackupId: a backup id, restoredAt: an ISO time, toLsn: a decimal string, host}' };
  }
  return { restoredBackupId: m.restoredBackupId, restoredAt: m.restoredAt, toLsn: m.toLsn, host: m.host };
}

/**
 * Writes the marker into `datadir`, replacing an earlier one atomically (temp file + rename), and
 * gives it the datadir's owner and group, so a datadir chowned to mysql stays wholly mysql's.
 * Called by the restore right after the data is in place (and chowned).
 */
export async function writeRestoreMarker(datadir: string, m: RestoreMarker): Promise<string> {
  const file = path.join(datadir, RESTORE_MARKER_NAME);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.writeFile(tmp, serializeRestoreMarker(m), { mode: 0o640 });
    const st = await fs.stat(datadir);
    const f = await fs.stat(tmp);
    if (f.uid !== st.uid || f.gid !== st.gid) await fs.chown(tmp, st.uid, st.gid);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  return file;
}

/**
 * The marker in `datadir`: null when there is none; { problem } when it exists but cannot be read
 * or understood (the caller decides what that means).
 */
export async function readRestoreMarker(datadir: string): Promise<RestoreMarker | null | { problem: string }> {
  const file = path.join(datadir, RESTORE_MARKER_NAME);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    return { problem: `${file} cannot be read: ${(e as Error).message}` };
  }
  const r = parseRestoreMarker(text);
  return 'problem' in r ? { problem: `${file} is malformed: ${r.problem}` } : r;
}

/**
 * The restore's one call: records that `backupId` (ending at `toLsn`) was put into `datadir` now.
 * Never throws: the data is already in place, and failing the restore over its marker would be
 * worse than the loss of one signal (the planner's current-LSN check still stands); the failure is
 * logged at error with what to do instead.
 */
export async function markRestored(datadir: string, backupId: string, toLsn: string, log: Logger): Promise<void> {
  const marker: RestoreMarker = { restoredBackupId: backupId, restoredAt: new Date().toISOString(), toLsn, host: os.hostname() };
  try {
    const file = await writeRestoreMarker(datadir, marker);
    log.info(`restore recorded in ${file}: the next backup of a server on this datadir starts a new chain`, { event: 'restore.marker', file, ...marker });
  } catch (e) {
    log.error(
      `could not record the restore in ${path.join(datadir, RESTORE_MARKER_NAME)}: ${(e as Error).message}; ` +
        'take a full backup (backupmate backup --full) before the next incremental',
      { event: 'restore.marker', status: 'failed' },
    );
  }
}
