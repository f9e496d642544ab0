/**
 * The restore arguments both CLIs accept (backupmate restore, backupmatectl restore): exactly
 * one mode, and exactly one of an id, --time (a point in time) or --gtid. Pure, so the two commands cannot drift apart.
 */
import { BackupmateError } from '../domain/errors.js';

export type RestoreModeName = 'target-dir' | 'copy-back' | 'move-back';

export function checkRestoreArgs(
  id: string | undefined,
  opts: { targetDir?: string; copyBack?: boolean; moveBack?: boolean; time?: string; gtid?: string },
): RestoreModeName {
  const modes = [opts.targetDir !== undefined && 'target-dir', opts.copyBack && 'copy-back', opts.moveBack && 'move-back'].filter(Boolean) as RestoreModeName[];
  if (modes.length !== 1) {
    throw new BackupmateError(
      'USAGE',
      `restore: expected exactly one of --target-dir DIR, --copy-back, --move-back, got ${modes.length ? modes.map((m) => '--' + m).join(' and ') : 'none'}`,
    );
  }
  const given = [id !== undefined && `"${id}"`, opts.time !== undefined && `--time "${opts.time}"`, opts.gtid !== undefined && `--gtid "${opts.gtid}"`].filter(Boolean);
  if (given.length !== 1) {
    throw new BackupmateError(
      'USAGE',
      `restore: expected a backup id (or "latest"), --time "YYYY-MM-DD HH:MM:SS" or --gtid D-S-N, got ${given.length === 0 ? 'neither' : `${given.length === 2 ? 'both' : 'all of'} (${given.join(' and ')})`}`,
    );
  }
  return modes[0];
}
