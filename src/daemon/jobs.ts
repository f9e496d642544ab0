/**
 * The daemon's backup job: the one backup sequence (backup/sequence.ts) as a queue job, with the
 * job's kind, reason and progress bar filled in as the sequence learns them. Built for schedule
 * ticks, the catch-up at start and `backupmatectl backup`.
 */
import { runBackupSequence, type BackupRequest, type SelfPlanningSource } from '../backup/sequence.js';
import { backupSettings, pruneSettings } from '../app/wiring.js';
import { BackupmateError } from '../domain/errors.js';
import type { DaemonContext } from './context.js';
import { estimateRaw, progressTotal } from './estimate.js';
import type { JobView } from './protocol.js';
import type { JobContext, JobSpec } from './queue.js';

/** `source`: a self-planning source to back up instead of the database (e.g. the directory source). */
export function backupJob(d: DaemonContext, requested: BackupRequest, trigger: JobView['trigger'], reason: string, source?: SelfPlanningSource): JobSpec {
  return {
    kind: 'backup',
    trigger,
    backupKind: requested,
    reason,
    ...(source ? { coalesceKey: source.type } : {}),
    run: async (ctx: JobContext) => {
      const c = d.config;
      let estimate = 0;
      try {
        const { manifest } = await runBackupSequence(
          { config: c, settings: { backup: backupSettings(c), prune: pruneSettings(c) }, storage: d.storage, logger: d.logger, copy: d.copy, observer: d.metrics, ...(source ? { source } : {}) },
          {
            requested,
            requestedBy: reason,
            signal: ctx.signal,
            onDecided: async (decided) => {
              ctx.setBackupKind(decided.target.kind);
              ctx.setReason(decided.plan ? `${reason}: ${decided.reason}` : reason);
              await d.refreshCatalog();
              const t = decided.target;
              estimate = estimateRaw([...d.catalog.backups], t.kind, t.kind === 'incremental' ? t.fullId : undefined);
            },
            onStart: (id) => ctx.setBackupId(id),
            onCopied: (r) => d.noteCopy(r),
            onProgress: (p) => ctx.progress({ stage: 'backup', bytes: p.rawBytes, total: progressTotal(estimate, p.rawBytes) }),
          },
        );
        return { bytes: manifest.storedBytes };
      } catch (e) {
        if (e instanceof BackupmateError) {
          d.keepErrorDetail(ctx.jobId, { exitCode: e.details.exitCode as number | undefined, stderrTail: e.details.stderrTail as string[] | undefined });
        }
        throw e;
      }
    },
  };
}
