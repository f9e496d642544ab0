/**
 * The restore arguments both CLIs accept (backupmate restore, backupmatectl restore): exactly
 * one mode, and either an id or --time. Pure, so the two commands cannot drift apart.
 */
import { BackupmateError } from '../domain/errors.js';

export type RestoreModeName = 'target-dir' | 'copy-back' | 'move-back';

export function checkRestoreArgs(
  id: string | undefined,
  opts: { targetDir?: string; copyBack?: boolean; moveBack?: boolean; time?: string },
): RestoreModeName {
  const modes = [opts.targetDir !== undefined && 'target-dir', opts.copyBack && 'copy-back', opts.moveBack && 'move-back'].filter(Boolean) as RestoreModeName[];
  if (modes.length !== 1) {
    throw new BackupmateError(
      'USAGE',
      `restore: expected exactly one of --target-dir DIR, --copy-back, --move-back, got ${modes.length ? modes.map((m) => '--' + m).join(' and ') : 'none'}`,
    );
  }
  if ((id === undefined) === (opts.time === undefined)) {
    throw new BackupmateError(
      'USAGE',
      `restore: expected a backup id (or "latest") or --time "YYYY-MM-DD HH:MM", got ${id === undefined ? 'neither' : `both ("${id}" and --time "${opts.time}")`}`,
    );
  }
  return modes[0];
}
