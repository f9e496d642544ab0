/**
 * When is "no successful backup for a while" worth an alert. Pure: both functions take the
 * reference time; neither reads the clock.
 */
import type { Config } from '../config/load.js';
import { periodMs } from '../domain/schedule.js';

/** The keys staleAfterMs reads; a whole Config fits. */
export type StaleConfig = Pick<Config, 'STALE_AFTER' | 'INCREMENTAL_BACKUP_SCHEDULE' | 'FULL_BACKUP_SCHEDULE' | 'SCHEDULE_TIMEZONE'>;

/**
 * How long without a successful backup (of any kind) counts as stale, in milliseconds; 0 = never.
 *
 * - STALE_AFTER > 0 is used as is, even when both schedules are off (backups may then come from
 *   elsewhere, e.g. a timer calling `backupmatectl backup`, and the user asked to be told).
 * - Otherwise twice the incremental schedule's period around `now` (twice: one missed run is
 *   tolerated, two are not); the full schedule's when incrementals are off; 0 when both are off.
 *   The period is the schedule's own gap at `now` (periodMs), so a weekday-only schedule gives a
 *   longer threshold over the weekend, and DST days count 23 or 25 hours.
 */
export function staleAfterMs(config: StaleConfig, now: Date): number {
  if (config.STALE_AFTER > 0) return config.STALE_AFTER;
  const timeZone = config.SCHEDULE_TIMEZONE || undefined;
  for (const schedule of [config.INCREMENTAL_BACKUP_SCHEDULE, config.FULL_BACKUP_SCHEDULE]) {
    const period = periodMs(schedule, now, timeZone);
    if (period !== null && period > 0) return 2 * period;
  }
  return 0;
}

/**
 * True when more than `staleAfterMs` has passed since the later of the last success and `since`
 * (when the daemon started watching). Counting from `since` as well means a restarted daemon gets
 * one full threshold to produce a backup before it alerts about time it was not running for, and
 * a store without any backup yet does not alert at once. staleAfterMs <= 0 means never stale.
 */
export function isStale(lastSuccessAt: Date | null, since: Date, staleAfterMs: number, now: Date): boolean {
  if (!(staleAfterMs > 0)) return false;
  const from = Math.max(lastSuccessAt ? lastSuccessAt.getTime() : -Infinity, since.getTime());
  return now.getTime() - from > staleAfterMs;
}
