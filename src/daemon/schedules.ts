/**
 * The daemon's schedules as data: each names the configuration key holding its schedule and the
 * job a tick queues. A new kind of scheduled work (e.g. directory backups with
 * DIRECTORY_BACKUP_SCHEDULE) is one more entry here; the scheduler, status and reload follow.
 *
 * Both backup schedules queue an automatic backup: the planner decides full or incremental when
 * the job runs (a full tick while a recent full exists may take an incremental, and the other way
 * round), and a tick waiting in the queue coalesces with the next (queue.ts).
 */
import { directorySource, logicalSource } from '../app/sources.js';
import { backupSettings, pruneSettings } from '../app/wiring.js';
import { planNow } from '../backup/sequence.js';
import type { Config } from '../config/load.js';
import { errorText } from '../domain/errors.js';
import type { DaemonContext } from './context.js';
import { backupJob } from './jobs.js';
import { drillJob } from './handlers/drill.js';
import type { JobSpec } from './queue.js';

export interface ScheduleEntry {
  /** The name in logs, status (`next`) and the tick's reason. */
  name: string;
  /** The configuration key with the schedule (a preset word, 'off' or a cron expression). */
  key: keyof Config & `${string}_SCHEDULE`;
  /** The job one tick queues. */
  job(d: DaemonContext, reason: string): JobSpec;
}

export const SCHEDULES: readonly ScheduleEntry[] = [
  { name: 'full', key: 'FULL_BACKUP_SCHEDULE', job: (d, reason) => backupJob(d, 'auto', 'schedule', reason) },
  { name: 'incremental', key: 'INCREMENTAL_BACKUP_SCHEDULE', job: (d, reason) => backupJob(d, 'auto', 'schedule', reason) },
  // Directory backups (DIRECTORY_BACKUP_PATHS): the directory source plans full or incremental itself.
  { name: 'directories', key: 'DIRECTORY_BACKUP_SCHEDULE', job: (d, reason) => backupJob(d, 'auto', 'schedule', reason, directorySource(d.config)) },
  // Logical backups (sources/logical/): always a full mydumper dump.
  { name: 'logical', key: 'LOGICAL_BACKUP_SCHEDULE', job: (d, reason) => backupJob(d, 'full', 'schedule', reason, logicalSource(d.config)) },
  // Restore drills of the latest backup (DRILL_SCHEDULE, off by default): queued like any job, so never during a backup.
  { name: 'drill', key: 'DRILL_SCHEDULE', job: (d, reason) => drillJob(d, 'latest', 'schedule', reason) },
];

/** The schedules' values in a configuration, for Scheduler.start. */
export function scheduleValues(c: Config, entries: readonly ScheduleEntry[] = SCHEDULES): { name: string; schedule: string }[] {
  return entries.map((e) => ({ name: e.name, schedule: String(c[e.key]) }));
}

/**
 * At start: a missed full (newest full older than the full period, or none) runs now. Never
 * throws: a failed check is logged and the schedules still run.
 */
export async function catchUp(d: DaemonContext): Promise<void> {
  try {
    const c = d.config;
    const plan = await planNow({ config: c, settings: { backup: backupSettings(c), prune: pruneSettings(c) }, storage: d.storage });
    if (plan.kind === 'full' && c.FULL_BACKUP_SCHEDULE !== 'off') {
      // 'auto', not 'full': the planner decides again when the job runs. A schedule tick during
      // this check may already have queued (and taken) the missing full; a forced full would
      // then be a second one for nothing. A tick waiting in the queue coalesces with this job.
      const { job } = d.queue.enqueue(backupJob(d, 'auto', 'catch-up', `catch-up at start: ${plan.reason}`));
      d.logger.info(`catch-up: a full backup is due, queued job ${job.id}`, { event: 'daemon.catch_up', reason: plan.reason, jobId: job.id });
    } else {
      d.logger.info('catch-up: nothing missed', { event: 'daemon.catch_up', reason: plan.reason });
    }
  } catch (e) {
    d.logger.error(`catch-up check failed: ${errorText(e)}; the schedules still run`, { event: 'daemon.catch_up', status: 'failed' });
  }
}
