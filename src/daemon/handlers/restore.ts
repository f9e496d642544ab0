/**
 * `restore {id?|time?, mode, targetDir?, yes?, noStart?, interactive?}`: one queued restore job;
 * the server's stop/start around the put back is restore/handover.ts. The schedules are paused
 * while it runs. Events: progress, then `confirm` (copy-back/move-back without yes), then progress.
 */
import { makeSources } from '../../app/sources.js';
import { connectionSettings, restoreSettings } from '../../app/wiring.js';
import { parseRestoreTime } from '../../domain/chain.js';
import { storeLockOptions } from '../../backup/decide.js';
import { withStoreLock } from '../../storage/lock.js';
import { BackupmateError } from '../../domain/errors.js';
import { managesServer, restoreWithHandover } from '../../restore/handover.js';
import { restoreDestination } from '../../restore/source-restore.js';
import { DEFAULT_BINLOG_PREFIX, describeReplay, replayHook, resolvePointInTime } from '../../restore/pitr.js';
import type { ReplayResult } from '../../sources/binlog/replay.js';
import { parseGtid } from '../../sources/binlog/replay-gtid.js';
import { readCatalog } from '../../storage/catalog.js';
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';
import type { RestoreParams, RestoreResultView } from '../protocol.js';
import { restoreIntoServerJob } from './restore-into-server.js';

export const restore =
  (d: DaemonContext): Handler =>
  async (params, conn) => {
    const p = params as unknown as RestoreParams;
    if (p.mode === 'into-server') return restoreIntoServerJob(d, p, conn);
    if (!['target-dir', 'copy-back', 'move-back'].includes(p.mode)) {
      throw new BackupmateError('USAGE', `restore: mode must be target-dir, copy-back or move-back, got "${String(p.mode)}"`);
    }
    const c = d.config;
    const time = p.time ? parseRestoreTime(p.time, c.SCHEDULE_TIMEZONE) : undefined;
    const gtid = p.gtid ? parseGtid(p.gtid) : undefined;
    // Only copy-back/move-back ask for a confirmation. A client that cannot answer one is told so
    // now, not after the whole chain was downloaded and prepared; no job, so no alert either.
    if (managesServer(p.mode) && p.yes !== true && p.interactive === false) {
      throw new BackupmateError('DECLINED', 'restore not confirmed: no terminal to ask and no --yes; nothing was downloaded or changed');
    }
    let result: RestoreResultView | null = null;
    const { job } = d.queue.enqueue({
      kind: 'restore',
      trigger: 'manual',
      reason: `restore ${p.id ?? (p.gtid ? `--gtid ${p.gtid}` : `--time ${p.time}`)} (${p.mode})`,
      run: async (ctx) => {
        d.schedulesPaused = true;
        try {
          // Point in time (restore/pitr.ts): --gtid, --time with an archive, or a non-exact timestamp as id.
          let pitr = null as Awaited<ReturnType<typeof resolvePointInTime>>['setup'];
          let replayed: ReplayResult | null = null;
          const sources = makeSources(c);
          // No writer (a backup or prune of another host or cron) may change the store under it.
          const r = await withStoreLock(d.storage, { ...storeLockOptions(c, 'restore'), logger: d.logger, signal: ctx.signal }, async (signal) => {
          const catalog = await readCatalog(d.storage, sources.layout, sources);
          const resolved = await resolvePointInTime(
            d.storage,
            catalog.backups.map((b) => b.manifest),
            c.BINLOG_PREFIX || DEFAULT_BINLOG_PREFIX,
            { id: p.id, time, gtid, timeZone: c.SCHEDULE_TIMEZONE },
            d.logger,
            signal,
          );
          pitr = resolved.setup;
          if (resolved.note) d.logger.warn(resolved.note);
          return restoreWithHandover(
            d.storage,
            d.logger,
            restoreSettings(c),
            sources,
            {
              id: pitr ? pitr.plan.backup.id : (p.id ?? 'latest'),
              time: pitr ? undefined : time,
              mode: p.mode as Exclude<RestoreParams['mode'], 'into-server'>,
              // latest/--time pick database backups (as the CLI without --directories); a named id any source's.
              source: pitr || p.id === undefined || p.id.trim() === 'latest' ? 'physical' : undefined,
              ...(pitr
                ? {
                    beforePutBack: replayHook(d.storage, pitr, {
                      tempDir: c.LOCAL_TEMP_DIR,
                      osUser: c.MARIADB_OS_USER,
                      ageIdentityFile: c.AGE_IDENTITY_FILE || undefined,
                      onReplayed: (x) => (replayed = x),
                    }),
                  }
                : {}),
              destination: restoreDestination(p.mode, p.targetDir, c.MARIADB_DATADIR),
              signal,
              onProgress: (pr) => {
                ctx.progress(pr);
                conn.event('progress', pr);
              },
            },
            {
              service: {
                stopCommand: c.MARIADB_STOP_COMMAND,
                startCommand: c.MARIADB_START_COMMAND,
                timeoutMs: c.MARIADB_SERVICE_TIMEOUT * 1000,
                datadir: c.MARIADB_DATADIR,
                connection: connectionSettings(c),
                tempDir: c.LOCAL_TEMP_DIR,
              },
              confirmed: !!p.yes,
              noStart: !!p.noStart,
              confirm: async (q) => {
                conn.event('confirm', q);
                const answer = await conn.next('confirm');
                return answer?.params?.yes === true;
              },
              onStage: (stage) => conn.event('progress', { stage, bytes: 0, total: 0 }),
              onBackupId: (id) => ctx.setBackupId(id),
            },
          );
          });
          result = { id: r.id, chain: r.chain, mode: r.mode, destination: r.destination, movedAside: r.movedAside, serverStarted: r.serverStarted, timings: r.timings };
          if (pitr && replayed) result.replayed = describeReplay(replayed, pitr.plan.request);
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
    return result;
  };
