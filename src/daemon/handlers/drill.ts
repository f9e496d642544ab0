/**
 * `drill {id?}`: a restore drill as a queued job (one job at a time, so it never overlaps a backup
 * or a restore), and the DRILL_SCHEDULE job (daemon/schedules.ts). The report comes back whatever
 * it says; a failed drill also fails the job, so status, the log and notifications name the backup
 * and the failing step. The outcome is kept in the daemon's state (status shows the last drill),
 * in a record next to the backup (drill/record.ts) and in the metrics.
 */
import * as os from 'node:os';
import { drillSettings } from '../../app/wiring.js';
import { BackupmateError } from '../../domain/errors.js';
import { DrillFailed, type DrillReport } from '../../drill/drill.js';
import { drillAndRecord } from '../../drill/job.js';
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';
import type { JobView } from '../protocol.js';
import type { JobSpec } from '../queue.js';

/** The drill job; `onReport` receives the report when there is one (passed or failed). */
export function drillJob(d: DaemonContext, request: string, trigger: JobView['trigger'], reason: string, onReport?: (r: DrillReport) => void): JobSpec {
  return {
    kind: 'drill',
    trigger,
    reason,
    run: async (ctx) => {
      if (request !== 'latest') ctx.setBackupId(request);
      const keep = (r: DrillReport) => {
        if (r.backupId) ctx.setBackupId(r.backupId);
        d.recordDrill?.(r);
        onReport?.(r);
      };
      try {
        const r = await drillAndRecord(d.storage, d.logger, drillSettings(d.config), { id: request, signal: ctx.signal, host: os.hostname(), onProgress: (p) => ctx.progress(p) }, d.metrics);
        keep(r);
        ctx.setReason(`${reason}: passed, ${Math.round((r.timeToReadyMs ?? 0) / 1000)} s to ready, ${r.tables.checked} table(s) checked`);
        return { bytes: r.downloadedBytes };
      } catch (e) {
        if (e instanceof DrillFailed) keep(e.report);
        throw e;
      }
    },
  };
}

export const drill =
  (d: DaemonContext): Handler =>
  async (params, conn) => {
    if (params.id !== undefined && typeof params.id !== 'string') {
      throw new BackupmateError('USAGE', `drill: id must be a backup id or "latest", got ${JSON.stringify(params.id)}`);
    }
    const request = params.id?.trim() || 'latest';
    let report: DrillReport | null = null;
    const spec = drillJob(d, request, 'manual', `drill ${request} requested with backupmatectl drill`, (r) => (report = r));
    const { job } = d.queue.enqueue({
      ...spec,
      run: (ctx) =>
        spec.run({
          ...ctx,
          jobId: ctx.jobId,
          signal: ctx.signal,
          progress: (p) => {
            ctx.progress(p);
            if (!conn.closed) conn.event('progress', p);
          },
        }),
    });
    const final = (await d.queue.wait(job.id)) ?? job;
    if (report) return report;
    throw new BackupmateError(final.error?.code ?? 'INTERNAL', final.error?.message ?? `drill job ${final.id} ${final.state}`);
  };
