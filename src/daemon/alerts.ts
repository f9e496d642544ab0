/**
 * What the daemon says about a job when it changes: the log line's fields and the notification's
 * facts. Pure, so the daemon's lifecycle code only routes them.
 */
import type { JobOutcome } from '../notify/notifier.js';
import type { JobView } from './protocol.js';

/** The structured fields of a job's `job.<event>` log line. */
export function jobLogFields(job: JobView, ev: string): Record<string, unknown> {
  return {
    event: `job.${ev}`,
    jobId: job.id,
    jobKind: job.kind,
    kind: job.backupKind,
    trigger: job.trigger,
    backupId: job.backupId,
    status: job.state,
    reason: job.reason,
    bytes: job.bytes,
    ...(job.startedAt && job.finishedAt ? { durationMs: Date.parse(job.finishedAt) - Date.parse(job.startedAt) } : {}),
    ...(job.error ? { error: job.error.message, code: job.error.code, stage: job.error.stage } : {}),
  };
}

/** The notification of a finished job; `detail` is the failure's exit code and stderr tail, if kept. */
export function jobOutcome(job: JobView, host: string, detail?: { exitCode?: number; stderrTail?: string[] }): JobOutcome {
  return {
    host,
    jobId: job.id,
    kind: job.kind === 'restore' || job.kind === 'verify' || job.kind === 'drill' ? job.kind : (job.backupKind ?? 'auto'),
    trigger: job.trigger,
    status: job.state === 'succeeded' ? 'succeeded' : job.state === 'cancelled' ? 'cancelled' : 'failed',
    backupId: job.backupId,
    error: job.error ? { ...job.error, ...detail } : undefined,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    bytes: job.bytes,
    durationMs: job.startedAt && job.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.startedAt) : undefined,
  };
}
