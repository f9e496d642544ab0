/**
 * In-process schedules (croner) for full and incremental backups, in SCHEDULE_TIMEZONE.
 *
 * A tick only enqueues a backup request; the planner decides full or incremental when the job
 * runs. The tick handler cannot throw (a schedule must never silently stop: mariadb-operator
 * #1822), and while paused (a restore runs) ticks are logged and skipped.
 */
import { Cron } from 'croner';
import { CRON_OPTIONS, scheduleToCron } from '../domain/schedule.js';
import type { Logger } from '../log/logger.js';

export type ScheduleName = 'full' | 'incremental';

export interface ScheduleConfig {
  full: string;
  incremental: string;
  timeZone: string;
}

export class Scheduler {
  private jobs: { name: ScheduleName; cron: Cron }[] = [];
  paused = false;

  constructor(
    private readonly log: Logger,
    private readonly onTick: (name: ScheduleName, at: Date) => void,
  ) {}

  /** (Re)starts the schedules from `cfg`; previous ones are stopped first. */
  start(cfg: ScheduleConfig): void {
    this.stop();
    for (const name of ['full', 'incremental'] as const) {
      const pattern = scheduleToCron(name === 'full' ? cfg.full : cfg.incremental);
      if (!pattern) {
        this.log.info(`${name} schedule is off`, { event: 'schedule.off', schedule: name });
        continue;
      }
      const cron = new Cron(
        pattern,
        {
          ...CRON_OPTIONS,
          ...(cfg.timeZone ? { timezone: cfg.timeZone } : {}),
          catch: (e: unknown) => this.log.error(`${name} schedule tick failed: ${String(e)}`, { event: 'schedule.error', schedule: name }),
        },
        () => this.tick(name),
      );
      this.jobs.push({ name, cron });
      this.log.info(`${name} schedule started`, { event: 'schedule.start', schedule: name, pattern, next: cron.nextRun()?.toISOString() ?? null });
    }
  }

  private tick(name: ScheduleName): void {
    const at = new Date();
    try {
      if (this.paused) {
        this.log.warn(`${name} schedule tick skipped: a restore is running`, { event: 'schedule.skipped', schedule: name });
        return;
      }
      this.onTick(name, at);
    } catch (e) {
      this.log.error(`${name} schedule tick could not enqueue a backup: ${(e as Error)?.message ?? String(e)}`, { event: 'schedule.error', schedule: name });
    }
  }

  next(): { full: Date | null; incremental: Date | null } {
    const of = (n: ScheduleName) => this.jobs.find((j) => j.name === n)?.cron.nextRun() ?? null;
    return { full: of('full'), incremental: of('incremental') };
  }

  stop(): void {
    for (const j of this.jobs) j.cron.stop();
    this.jobs = [];
  }
}
