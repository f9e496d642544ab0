/**
 * In-process schedules (croner), in SCHEDULE_TIMEZONE; which ones is data (daemon/schedules.ts).
 *
 * A tick only enqueues a backup request; the planner decides full or incremental when the job
 * runs. The tick handler cannot throw (a schedule must never silently stop: mariadb-operator
 * #1822), and while paused (a restore runs) ticks are logged and skipped.
 */
import { Cron } from 'croner';
import { CRON_OPTIONS, scheduleToCron } from '../domain/schedule.js';
import type { Logger } from '../log/logger.js';

/** One schedule: its name (logs, status) and its value (a preset word, 'off' or a cron expression). */
export interface ScheduleSpec {
  name: string;
  schedule: string;
}

export class Scheduler {
  private jobs: { name: string; cron: Cron }[] = [];
  private names: string[] = [];
  paused = false;

  constructor(
    private readonly log: Logger,
    private readonly onTick: (name: string, at: Date) => void,
  ) {}

  /** (Re)starts the schedules; previous ones are stopped first. */
  start(schedules: readonly ScheduleSpec[], timeZone: string): void {
    this.stop();
    this.names = schedules.map((s) => s.name);
    for (const { name, schedule } of schedules) {
      const pattern = scheduleToCron(schedule);
      if (!pattern) {
        this.log.info(`${name} schedule is off`, { event: 'schedule.off', schedule: name });
        continue;
      }
      const cron = new Cron(
        pattern,
        {
          ...CRON_OPTIONS,
          ...(timeZone ? { timezone: timeZone } : {}),
          catch: (e: unknown) => this.log.error(`${name} schedule tick failed: ${String(e)}`, { event: 'schedule.error', schedule: name }),
        },
        () => this.tick(name),
      );
      this.jobs.push({ name, cron });
      this.log.info(`${name} schedule started`, { event: 'schedule.start', schedule: name, pattern, next: cron.nextRun()?.toISOString() ?? null });
    }
  }

  private tick(name: string): void {
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

  /** The next tick of every schedule started last (null = off). */
  next(): Record<string, Date | null> {
    return Object.fromEntries(this.names.map((n) => [n, this.jobs.find((j) => j.name === n)?.cron.nextRun() ?? null]));
  }

  stop(): void {
    for (const j of this.jobs) j.cron.stop();
    this.jobs = [];
  }
}
