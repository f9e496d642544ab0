/**
 * The restore arguments both CLIs accept (backupmate restore, backupmatectl restore): exactly
 * one mode, and exactly one of an id, --time (a point in time) or --gtid. Pure, so the two commands cannot drift apart.
 */
import { BackupmateError } from '../domain/errors.js';

export type RestoreModeName = 'target-dir' | 'copy-back' | 'move-back' | 'into-server';

export function checkRestoreArgs(
  id: string | undefined,
  opts: { targetDir?: string; copyBack?: boolean; moveBack?: boolean; intoServer?: boolean; time?: string; gtid?: string; database?: string; table?: string; replace?: boolean },
): RestoreModeName {
  const modes = [opts.targetDir !== undefined && 'target-dir', opts.copyBack && 'copy-back', opts.moveBack && 'move-back', opts.intoServer && 'into-server'].filter(Boolean) as RestoreModeName[];
  if (modes.length !== 1) {
    throw new BackupmateError(
      'USAGE',
      `restore: expected exactly one of --target-dir DIR, --copy-back, --move-back, --into-server, got ${modes.length ? modes.map((m) => '--' + m).join(' and ') : 'none'}`,
    );
  }
  const given = [id !== undefined && `"${id}"`, opts.time !== undefined && `--time "${opts.time}"`, opts.gtid !== undefined && `--gtid "${opts.gtid}"`].filter(Boolean);
  if (given.length !== 1) {
    throw new BackupmateError(
      'USAGE',
      `restore: expected a backup id (or "latest"), --time "YYYY-MM-DD HH:MM:SS" or --gtid D-S-N, got ${given.length === 0 ? 'neither' : `${given.length === 2 ? 'both' : 'all of'} (${given.join(' and ')})`}`,
    );
  }
  // --database, --table and --replace shape a load into the running server, nothing else.
  const serverOnly = [opts.database !== undefined && '--database', opts.table !== undefined && '--table', opts.replace && '--replace'].filter(Boolean) as string[];
  if (modes[0] !== 'into-server' && serverOnly.length) {
    throw new BackupmateError('USAGE', `restore: ${serverOnly.join(' and ')} go with --into-server, not --${modes[0]}`);
  }
  if (opts.database !== undefined && opts.table !== undefined) {
    throw new BackupmateError('USAGE', `restore: expected at most one of --database DB and --table DB.TABLE, got both (--database ${opts.database} --table ${opts.table})`);
  }
  return modes[0];
}
