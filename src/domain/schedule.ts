/**
 * Schedules as instants: when did a schedule last tick, when does it tick next, how long is one
 * period. Pure: every function takes the reference time; none reads the clock.
 *
 * A schedule is a preset word (hourly, daily, weekly, monthly, off) or a 5- or 6-field cron
 * expression, read in a time zone (IANA name; '' or undefined = the system time zone). croner does
 * the calendar arithmetic, so DST change days (a 23- or 25-hour day) and month ends come out the
 * way the wall clock in that zone says. Cron objects are built with CRON_OPTIONS, the same options
 * the configuration was validated with, so an expression means here what it meant there.
 *
 * Also here: the few time-zone helpers the domain needs (offset of a zone at an instant, wall
 * clock text in a zone), because schedules are what brought time zones into the project.
 */
import { Cron, type CronOptions } from 'croner';
import { BackupmateError } from './errors.js';

/** Schedule words accepted besides cron expressions; 'off' disables that kind of backup. */
export const SCHEDULE_PRESETS = ['hourly', 'daily', 'weekly', 'monthly', 'off'] as const;
export type SchedulePreset = (typeof SCHEDULE_PRESETS)[number];

/**
 * The croner options schedules are validated with (config/schema.ts) and built with (here and
 * daemon/scheduler.ts): the same options everywhere, or an expression that passed validation
 * could be read differently.
 */
export const CRON_OPTIONS: CronOptions = { mode: '5-or-6-parts' };

/** The cron expression each preset stands for ('off' has none). */
export const PRESET_CRON: Readonly<Record<Exclude<SchedulePreset, 'off'>, string>> = {
  hourly: '0 * * * *',
  daily: '0 0 * * *',
  weekly: '0 0 * * 0',
  monthly: '0 0 1 * *',
};

/** True when `schedule` is one of the preset words (any case, surrounding blanks ignored). */
export function isPresetSchedule(schedule: string): boolean {
  const word = schedule.trim().toLowerCase();
  return word === 'off' || Object.prototype.hasOwnProperty.call(PRESET_CRON, word);
}

/**
 * The cron expression of a schedule: a preset's expression, null for 'off', anything else is
 * taken to be a cron expression and returned as is (the configuration already validated it).
 * Presets are matched case-insensitively, like the configuration does.
 */
export function scheduleToCron(schedule: string): string | null {
  const word = schedule.trim().toLowerCase();
  if (word === 'off') return null;
  if (Object.prototype.hasOwnProperty.call(PRESET_CRON, word)) return PRESET_CRON[word as keyof typeof PRESET_CRON];
  return schedule;
}

/**
 * How a schedule is named in messages: the preset word ("weekly") or the expression in quotes
 * ("\"0 3 * * 0\"").
 */
export function scheduleLabel(schedule: string): string {
  return isPresetSchedule(schedule) ? schedule.trim().toLowerCase() : `"${schedule}"`;
}

/**
 * Runs `fn` with a paused Cron for the schedule, or returns null for 'off'. An expression croner
 * refuses is a configuration error (validation should have caught it first).
 */
function withCron<T>(schedule: string, timeZone: string | undefined, fn: (cron: Cron) => T): T | null {
  const pattern = scheduleToCron(schedule);
  if (pattern === null) return null;
  let cron: Cron;
  try {
    cron = new Cron(pattern, { ...CRON_OPTIONS, ...(timeZone ? { timezone: timeZone } : {}), paused: true });
  } catch (e) {
    throw new BackupmateError('CONFIG', `schedule "${schedule}" is not a valid cron expression: ${e instanceof Error ? e.message : String(e)}`, {
      schedule,
      timeZone: timeZone ?? '',
    });
  }
  try {
    return fn(cron);
  } finally {
    cron.stop();
  }
}

/**
 * The newest tick of `schedule` at or before `at` (a tick exactly at `at` counts), or null for
 * 'off' or when the schedule never ticked before `at`.
 */
export function lastTickAtOrBefore(schedule: string, at: Date, timeZone?: string): Date | null {
  // croner's previousRuns returns runs strictly before the reference (to the millisecond);
  // one millisecond later makes a tick exactly at `at` count.
  return withCron(schedule, timeZone, (c) => c.previousRuns(1, new Date(at.getTime() + 1))[0] ?? null);
}

/** The first tick of `schedule` strictly after `at`, or null for 'off' or when it never ticks again. */
export function nextTickAfter(schedule: string, at: Date, timeZone?: string): Date | null {
  return withCron(schedule, timeZone, (c) => c.nextRun(at));
}

/**
 * The gap between the ticks around `at`: next tick after `at` minus the last tick at or before
 * it, in milliseconds (so a daily schedule on a DST change day gives 23 or 25 hours). When there
 * is no tick on one side, the two ticks on the other side are used. Null for 'off' or a schedule
 * that does not tick twice.
 */
export function periodMs(schedule: string, at: Date, timeZone?: string): number | null {
  return withCron(schedule, timeZone, (c) => {
    const prev = c.previousRuns(1, new Date(at.getTime() + 1))[0] ?? null;
    const next = c.nextRun(at);
    if (prev && next) return next.getTime() - prev.getTime();
    if (next) {
      const after = c.nextRun(next);
      return after ? after.getTime() - next.getTime() : null;
    }
    if (prev) {
      const [, before] = c.previousRuns(2, new Date(at.getTime() + 1));
      return before ? prev.getTime() - before.getTime() : null;
    }
    return null;
  });
}

// ---------------------------------------------------------------------------------------------
// Time zones

/** The IANA name of a zone setting: the name itself, or the system's zone for '' / undefined. */
export function resolveTimeZone(timeZone?: string): string {
  return timeZone || new Intl.DateTimeFormat('en-US').resolvedOptions().timeZone;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Formatter for wall-clock fields in a zone (cached: building one is slow). Throws RangeError for unknown zones. */
function wallFormatter(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? '';
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      ...(timeZone ? { timeZone } : {}),
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(key, f);
  }
  return f;
}

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock reading in `timeZone` ('' or undefined = system) at instant `at` (seconds precision). */
export function wallClockAt(at: Date, timeZone?: string): WallClock {
  const parts = wallFormatter(timeZone || undefined).formatToParts(at);
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

/** The zone's offset from UTC at instant `at`, in milliseconds (Europe/Berlin in summer: +7_200_000). */
export function zoneOffsetMs(at: Date, timeZone?: string): number {
  const w = wallClockAt(at, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  const whole = Math.floor(at.getTime() / 1000) * 1000;
  return asUtc - whole;
}

/**
 * The instants at which the zone's clock reads `wall` (milliseconds allowed in `wall.ms`): none in
 * a DST gap, two in a DST overlap, one otherwise. Sorted, earliest first. Assumes at most one
 * offset change within a day of the wall time, which holds for every real zone.
 */
export function instantsForWallClock(wall: WallClock & { ms?: number }, timeZone?: string): Date[] {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second, wall.ms ?? 0);
  const day = 86_400_000;
  const offsets = new Set([zoneOffsetMs(new Date(asUtc - day), timeZone), zoneOffsetMs(new Date(asUtc + day), timeZone), zoneOffsetMs(new Date(asUtc), timeZone)]);
  const found = new Set<number>();
  for (const off of offsets) {
    const candidate = asUtc - off;
    if (zoneOffsetMs(new Date(candidate), timeZone) === off) found.add(candidate);
  }
  return [...found].sort((a, b) => a - b).map((t) => new Date(t));
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Wall-clock text of `at` in a zone, minutes precision unless seconds are non-zero: "2026-11-21T00:00". */
export function formatWallClock(at: Date, timeZone?: string): string {
  const w = wallClockAt(at, timeZone);
  const base = `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}`;
  return w.second ? `${base}:${pad(w.second)}` : base;
}

/** `at` as wall clock plus zone name, for messages: "2026-11-21T00:00 Europe/Berlin". */
export function formatInZone(at: Date, timeZone?: string): string {
  return `${formatWallClock(at, timeZone)} ${resolveTimeZone(timeZone)}`;
}
