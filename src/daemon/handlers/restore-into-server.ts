/**
 * `restore {mode: 'into-server', id?|time?, database?, table?, replace?}`: a logical backup loaded
 * into the running server as one queued restore job (cli/into-server.ts does the work; nothing is
 * stopped, so no confirmation is asked: nothing existing is overwritten, --replace only renames).
 */
import { restoreSettings } from '../../app/wiring.js';
import { intoServerLines, restoreIntoServer, type IntoServerResult } from '../../cli/into-server.js';
import { parseRestoreTime } from '../../domain/chain.js';
import { BackupmateError } from '../../domain/errors.js';
import type { DaemonContext } from '../context.js';
import type { Connection } from '../control.js';
import type { RestoreParams } from '../protocol.js';

export async function restoreIntoServerJob(d: DaemonContext, p: RestoreParams, _conn: Connection): Promise<unknown> {
  const c = d.config;
  if (p.database !== undefined && p.table !== undefined) throw new BackupmateError('USAGE', 'restore: expected at most one of database and table, got both');
  const time = p.time ? parseRestoreTime(p.time, c.SCHEDULE_TIMEZONE) : undefined;
  let result: IntoServerResult | null = null;
  const { job } = d.queue.enqueue({
    kind: 'restore',
    trigger: 'manual',
    reason: `restore ${p.id ?? `--time ${p.time}`} (into-server${p.database ? ` --database ${p.database}` : ''}${p.table ? ` --table ${p.table}` : ''}${p.replace ? ' --replace' : ''})`,
    run: async (ctx) => {
      d.schedulesPaused = true;
      try {
        const r = await restoreIntoServer(c, d.storage, d.logger, restoreSettings(c), {
          id: p.id ?? 'latest',
          time,
          signal: ctx.signal,
          database: p.database,
          table: p.table,
          replace: p.replace,
        });
        ctx.setBackupId(r.id);
        result = r;
        return { bytes: r.downloadedBytes };
      } finally {
        d.schedulesPaused = false;
      }
    },
  });
  const final = (await d.queue.wait(job.id)) ?? job;
  if (final.state !== 'succeeded' || !result) {
    throw new BackupmateError(final.error?.code ?? 'INTERNAL', final.error?.message ?? `restore job ${final.id} ${final.state}`);
  }
  const r = result as IntoServerResult;
  return { id: r.id, mode: 'into-server', load: r.load, lines: intoServerLines(r, c.DB_SOCKET ? `socket ${c.DB_SOCKET}` : `${c.DB_HOST}:${c.DB_PORT}`) };
}
