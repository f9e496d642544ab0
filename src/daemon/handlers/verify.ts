/**
 * `verify {id?}`: checks backups end to end as a queued job like the others (one job at a time:
 * it never overlaps a backup's upload or a restore). The report comes back whatever it says; a
 * corrupt or unchecked result also fails the job, so status and notifications show it.
 */
import { restoreSettings } from '../../app/wiring.js';
import { BackupmateError } from '../../domain/errors.js';
import { runVerify, verifyError, type VerifyReport } from '../../verify/verify.js';
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';

export const verify =
  (d: DaemonContext): Handler =>
  async (params, conn) => {
    if (params.id !== undefined && typeof params.id !== 'string') {
      throw new BackupmateError('USAGE', `verify: id must be a backup id, "latest" or "all", got ${JSON.stringify(params.id)}`);
    }
    const request = params.id?.trim() || 'latest';
    let report: VerifyReport | null = null;
    const { job } = d.queue.enqueue({
      kind: 'verify',
      trigger: 'manual',
      reason: `verify ${request}`,
      run: async (ctx) => {
        if (request !== 'all' && request !== 'latest') ctx.setBackupId(request);
        const r = await runVerify(d.storage, d.logger, restoreSettings(d.config), {
          request,
          signal: ctx.signal,
          onProgress: (p) => {
            ctx.progress(p);
            if (!conn.closed) conn.event('progress', p);
          },
        });
        report = r;
        const err = verifyError(r);
        if (err) throw err;
        return { bytes: r.backups.reduce((a, b) => a + b.checkedBytes, 0) };
      },
    });
    const final = (await d.queue.wait(job.id)) ?? job;
    if (report) return report;
    throw new BackupmateError(final.error?.code ?? 'INTERNAL', final.error?.message ?? `verify job ${final.id} ${final.state}`);
  };
