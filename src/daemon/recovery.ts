/**
 * What a starting daemon does about the one before it: jobs it left queued or running, and the
 * last failures people should hear about again.
 */
import { errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { abortUnfinishedUploads, removeDeadJobLeftovers, type PruneSettings } from '../retention/prune.js';
import type { Storage } from '../storage/storage.js';
import type { JobView } from './protocol.js';
import { lastOutcomes } from './state.js';

/**
 * Jobs the state file shows as queued or running belonged to a daemon that died (kill -9, crash,
 * power loss): they are marked crashed in place and returned. Not CANCELLED: nobody asked them to
 * stop, and a cancellation is not an alert. The code is INTERNAL (the registry has none for "the
 * process died"); the state is what people read.
 */
export function markDeadJobs(jobs: JobView[], log: Logger, now = new Date()): JobView[] {
  const dead = jobs.filter((j) => j.state === 'running' || j.state === 'queued');
  for (const j of dead) {
    const was = j.startedAt ? 'running' : 'queued';
    j.state = 'crashed';
    j.finishedAt = now.toISOString();
    j.error = { code: 'INTERNAL', message: 'the daemon was killed or crashed while this job ran (daemon died)', stage: 'daemon' };
    log.warn(`job ${j.id} was ${was} when the daemon died; recorded as crashed`, { event: 'daemon.dead_job', jobId: j.id, backupId: j.backupId });
  }
  return dead;
}

/** Removes the incomplete backups and unfinished uploads dead jobs left; never throws (prune removes them later). */
export async function removeDeadJobsLeftovers(dead: readonly JobView[], storage: Storage, log: Logger, settings: PruneSettings): Promise<void> {
  const ids = dead.map((j) => j.backupId).filter((x): x is string => !!x);
  try {
    const removed = await removeDeadJobLeftovers(storage, log, settings, ids);
    const aborted = await abortUnfinishedUploads(storage, log, settings, ids);
    log.info(`removed ${removed.length} object(s) and ${aborted.length} unfinished upload(s) left by dead jobs`, {
      event: 'daemon.cleanup',
      backupIds: ids,
      keys: removed,
      aborted,
    });
  } catch (e) {
    log.error(`could not remove dead jobs' leftovers: ${errorText(e)} (prune removes them after INCOMPLETE_GRACE_HOURS)`, { event: 'daemon.cleanup', status: 'failed' });
  }
}

/** Logs each kind whose last backup failed after its last success (it is retried at the next tick). */
export function reportLastFailures(jobs: readonly JobView[], log: Logger): void {
  for (const kind of ['full', 'incremental'] as const) {
    const { success, failure } = lastOutcomes(jobs, kind);
    if (failure && (!success || failure.finishedAt! > success.finishedAt!)) {
      log.warn(`the last ${kind} backup failed (job ${failure.id} at ${failure.finishedAt}: ${failure.error?.message}); it is retried at the next tick`, {
        event: 'daemon.last_failure',
        kind,
        jobId: failure.id,
      });
    }
  }
}
