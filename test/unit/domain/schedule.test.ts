import {
  formatInZone,
  formatWallClock,
  instantsForWallClock,
  isPresetSchedule,
  lastTickAtOrBefore,
  nextTickAfter,
  periodMs,
  resolveTimeZone,
  scheduleLabel,
  scheduleToCron,
  wallClockAt,
  zoneOffsetMs,
} from '../../../src/domain/schedule.js';
import { errorOf } from '../../helpers/errors.js';

const d = (iso: string) => new Date(iso);
const HOUR = 3_600_000;

describe('scheduleToCron', () => {
  test.each([
    ['hourly', '0 * * * *'],
    ['daily', '0 0 * * *'],
    ['weekly', '0 0 * * 0'],
    ['monthly', '0 0 1 * *'],
    ['Daily', '0 0 * * *'],
    [' weekly ', '0 0 * * 0'],
    ['off', null],
    ['OFF', null],
    ['0 3 * * 0', '0 3 * * 0'],
    ['30 0 3 * * 1-5', '30 0 3 * * 1-5'],
    ['0 0 L * *', '0 0 L * *'],
  ])('%j → %j', (schedule, cron) => {
    expect(scheduleToCron(schedule)).toBe(cron);
  });

  test('presets are recognised, cron expressions are not', () => {
    expect(isPresetSchedule('weekly')).toBe(true);
    expect(isPresetSchedule('off')).toBe(true);
    expect(isPresetSchedule('0 0 * * 0')).toBe(false);
    expect(isPresetSchedule('toString')).toBe(false);
    expect(scheduleToCron('toString')).toBe('toString');
  });

  test('labels name presets by word and quote expressions', () => {
    expect(scheduleLabel('weekly')).toBe('weekly');
    expect(scheduleLabel('0 3 * * 0')).toBe('"0 3 * * 0"');
  });
});

describe('lastTickAtOrBefore', () => {
  test.each<[string, string, string | undefined, string | null]>([
    // schedule, at, zone, expected
    ['daily', '2026-11-21T10:00:00Z', 'UTC', '2026-11-21T00:00:00.000Z'],
    ['daily', '2026-11-21T00:00:00Z', 'UTC', '2026-11-21T00:00:00.000Z'], // a tick exactly at `at` counts
    ['daily', '2026-11-20T23:59:59.999Z', 'UTC', '2026-11-20T00:00:00.000Z'],
    ['daily', '2026-11-21T00:00:00.001Z', 'UTC', '2026-11-21T00:00:00.000Z'],
    ['daily', '2026-11-21T10:00:00Z', 'Europe/Berlin', '2026-11-20T23:00:00.000Z'],
    ['daily', '2026-07-21T10:00:00Z', 'Europe/Berlin', '2026-07-20T22:00:00.000Z'],
    ['hourly', '2026-11-21T10:45:00Z', 'UTC', '2026-11-21T10:00:00.000Z'],
    // Lord Howe is UTC+10:30 in winter, +11 in summer: its hours start at half past UTC hours.
    ['hourly', '2026-07-21T10:45:00Z', 'Australia/Lord_Howe', '2026-07-21T10:30:00.000Z'],
    // 2026-11-21 is a Saturday; Sunday 00:00 in Berlin is Saturday 23:00 UTC.
    ['weekly', '2026-11-21T22:59:59Z', 'Europe/Berlin', '2026-11-14T23:00:00.000Z'],
    ['weekly', '2026-11-21T23:30:00Z', 'Europe/Berlin', '2026-11-21T23:00:00.000Z'],
    ['weekly', '2026-11-21T23:30:00Z', 'UTC', '2026-11-15T00:00:00.000Z'],
    ['weekly', '2026-11-21T23:30:00Z', 'America/New_York', '2026-11-15T05:00:00.000Z'],
    ['monthly', '2026-03-01T04:59:00Z', 'America/New_York', '2026-02-01T05:00:00.000Z'],
    ['monthly', '2026-03-01T05:00:00Z', 'America/New_York', '2026-03-01T05:00:00.000Z'],
    // DST starts in Berlin on 2026-03-29: 02:30 does not exist, croner runs it at 03:00 CEST.
    ['30 2 * * *', '2026-03-29T12:00:00Z', 'Europe/Berlin', '2026-03-29T01:00:00.000Z'],
    ['30 2 * * *', '2026-03-28T12:00:00Z', 'Europe/Berlin', '2026-03-28T01:30:00.000Z'],
    // DST ends in New York on 2026-11-01: 01:30 happens twice, the first (EDT) one is the tick.
    ['30 1 * * *', '2026-11-01T07:00:00Z', 'America/New_York', '2026-11-01T05:30:00.000Z'],
    ['30 1 * * *', '2026-11-01T05:29:00Z', 'America/New_York', '2026-10-31T05:30:00.000Z'],
    // 6 fields: seconds first.
    ['30 0 0 * * *', '2026-11-21T00:00:29Z', 'UTC', '2026-11-20T00:00:30.000Z'],
    ['30 0 0 * * *', '2026-11-21T00:00:30Z', 'UTC', '2026-11-21T00:00:30.000Z'],
    // Weekdays only: on Saturday the last tick is Friday's.
    ['0 3 * * 1-5', '2026-11-21T12:00:00Z', 'UTC', '2026-11-20T03:00:00.000Z'],
    // Last day of the month.
    ['0 0 L * *', '2026-03-15T00:00:00Z', 'UTC', '2026-02-28T00:00:00.000Z'],
    ['off', '2026-11-21T10:00:00Z', 'UTC', null],
    ['off', '2026-11-21T10:00:00Z', undefined, null],
  ])('%s at %s in %s → %s', (schedule, at, zone, expected) => {
    const tick = lastTickAtOrBefore(schedule, d(at), zone);
    expect(tick === null ? null : tick.toISOString()).toBe(expected);
  });
});

describe('nextTickAfter', () => {
  test.each<[string, string, string | undefined, string | null]>([
    ['daily', '2026-11-21T00:00:00Z', 'UTC', '2026-11-22T00:00:00.000Z'], // strictly after
    ['daily', '2026-11-20T23:59:59.500Z', 'UTC', '2026-11-21T00:00:00.000Z'],
    ['daily', '2026-11-21T10:00:00Z', 'Europe/Berlin', '2026-11-21T23:00:00.000Z'],
    // Month ends: the 1st always exists; the 31st skips February; L is the last day.
    ['monthly', '2026-01-31T12:00:00Z', 'UTC', '2026-02-01T00:00:00.000Z'],
    ['0 0 31 * *', '2026-01-31T12:00:00Z', 'UTC', '2026-03-31T00:00:00.000Z'],
    ['0 0 L * *', '2026-01-31T12:00:00Z', 'UTC', '2026-02-28T00:00:00.000Z'],
    ['0 0 L * *', '2028-01-31T12:00:00Z', 'UTC', '2028-02-29T00:00:00.000Z'],
    // Midnight in Berlin after the spring change is 22:00 UTC, not 23:00.
    ['daily', '2026-03-29T12:00:00Z', 'Europe/Berlin', '2026-03-29T22:00:00.000Z'],
    // Midnight in New York after the autumn change is 05:00 UTC, not 04:00.
    ['daily', '2026-11-01T12:00:00Z', 'America/New_York', '2026-11-02T05:00:00.000Z'],
    // Lord Howe moves its clocks by 30 minutes on 2026-10-04.
    ['daily', '2026-10-03T00:00:00Z', 'Australia/Lord_Howe', '2026-10-03T13:30:00.000Z'],
    ['daily', '2026-10-03T13:30:00Z', 'Australia/Lord_Howe', '2026-10-04T13:00:00.000Z'],
    ['off', '2026-11-21T10:00:00Z', 'UTC', null],
  ])('%s after %s in %s → %s', (schedule, at, zone, expected) => {
    const tick = nextTickAfter(schedule, d(at), zone);
    expect(tick === null ? null : tick.toISOString()).toBe(expected);
  });

  test('a schedule that never matches has no next tick', () => {
    expect(nextTickAfter('0 0 30 2 *', d('2026-11-21T10:00:00Z'), 'UTC')).toBeNull();
    expect(lastTickAtOrBefore('0 0 30 2 *', d('2026-11-21T10:00:00Z'), 'UTC')).toBeNull();
  });
});

describe('periodMs', () => {
  test.each<[string, string, string | undefined, number | null]>([
    ['hourly', '2026-11-21T10:30:00Z', 'UTC', 1 * HOUR],
    ['daily', '2026-11-21T10:30:00Z', 'UTC', 24 * HOUR],
    ['daily', '2026-11-21T00:00:00Z', 'UTC', 24 * HOUR],
    ['weekly', '2026-11-21T10:30:00Z', 'Europe/Berlin', 7 * 24 * HOUR],
    ['daily', '2026-03-29T10:00:00Z', 'Europe/Berlin', 23 * HOUR],
    ['daily', '2026-11-01T12:00:00Z', 'America/New_York', 25 * HOUR],
    ['daily', '2026-10-04T06:00:00Z', 'Australia/Lord_Howe', 23.5 * HOUR],
    ['monthly', '2026-02-15T00:00:00Z', 'UTC', 28 * 24 * HOUR],
    ['monthly', '2026-01-15T00:00:00Z', 'UTC', 31 * 24 * HOUR],
    // Sunday 2026-03-29 00:00 comes before the 02:00 change: the week after it is an hour short.
    ['weekly', '2026-03-25T00:00:00Z', 'Europe/Berlin', 7 * 24 * HOUR],
    ['weekly', '2026-03-31T00:00:00Z', 'Europe/Berlin', (7 * 24 - 1) * HOUR],
    // Weekdays only: over the weekend the gap is Friday to Monday.
    ['0 3 * * 1-5', '2026-11-21T12:00:00Z', 'UTC', 72 * HOUR],
    ['0 3 * * 1-5', '2026-11-18T12:00:00Z', 'UTC', 24 * HOUR],
    ['off', '2026-11-21T10:30:00Z', 'UTC', null],
  ])('%s around %s in %s → %s ms', (schedule, at, zone, expected) => {
    expect(periodMs(schedule, d(at), zone)).toBe(expected);
  });

  test('a schedule that never matches has no period', () => {
    expect(periodMs('0 0 30 2 *', d('2026-11-21T10:00:00Z'), 'UTC')).toBeNull();
  });
});

describe('system time zone', () => {
  test("'' and undefined mean the system zone", () => {
    const system = resolveTimeZone();
    expect(resolveTimeZone('')).toBe(system);
    expect(system).toBe(new Intl.DateTimeFormat().resolvedOptions().timeZone);
    const at = d('2026-11-21T10:30:00Z');
    for (const f of [lastTickAtOrBefore, nextTickAfter]) {
      expect(f('daily', at, '')).toEqual(f('daily', at, system));
      expect(f('daily', at, undefined)).toEqual(f('daily', at, system));
    }
    expect(periodMs('daily', at, '')).toBe(periodMs('daily', at, system));
  });

  test('an explicit zone is honoured whatever the system zone is', () => {
    expect(resolveTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
  });
});

describe('invalid schedules', () => {
  test('a cron expression croner refuses is a CONFIG error naming it', () => {
    const e = errorOf(() => lastTickAtOrBefore('every tuesday', d('2026-11-21T10:00:00Z'), 'UTC'));
    expect(e.code).toBe('CONFIG');
    expect(e.message).toMatch(/^schedule "every tuesday" is not a valid cron expression: /);
  });
});

describe('time-zone helpers', () => {
  test.each([
    ['2026-07-01T12:00:00Z', 'Europe/Berlin', 2 * HOUR],
    ['2026-12-01T12:00:00Z', 'Europe/Berlin', 1 * HOUR],
    ['2026-12-01T12:00:00Z', 'America/New_York', -5 * HOUR],
    ['2026-07-01T12:00:00Z', 'America/New_York', -4 * HOUR],
    ['2026-07-01T12:00:00Z', 'Australia/Lord_Howe', 10.5 * HOUR],
    ['2026-12-01T12:00:00Z', 'Australia/Lord_Howe', 11 * HOUR],
    ['2026-12-01T12:00:00.750Z', 'UTC', 0],
  ])('offset at %s in %s is %d ms', (at, zone, offset) => {
    expect(zoneOffsetMs(d(at), zone)).toBe(offset);
  });

  test('wall clock readings', () => {
    expect(wallClockAt(d('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toEqual({ year: 2026, month: 3, day: 29, hour: 3, minute: 0, second: 0 });
    expect(wallClockAt(d('2026-03-28T23:00:00Z'), 'Europe/Berlin')).toEqual({ year: 2026, month: 3, day: 29, hour: 0, minute: 0, second: 0 });
    expect(formatWallClock(d('2026-11-21T23:00:00Z'), 'Europe/Berlin')).toBe('2026-11-22T00:00');
    expect(formatWallClock(d('2026-11-21T23:00:30Z'), 'Europe/Berlin')).toBe('2026-11-22T00:00:30');
    expect(formatInZone(d('2026-11-21T23:00:00Z'), 'Europe/Berlin')).toBe('2026-11-22T00:00 Europe/Berlin');
    expect(formatInZone(d('2026-11-21T23:00:00Z'), '')).toBe(`${formatWallClock(d('2026-11-21T23:00:00Z'))} ${resolveTimeZone()}`);
  });

  test.each<[string, { year: number; month: number; day: number; hour: number; minute: number; second: number }, string[]]>([
    ['an ordinary time', { year: 2026, month: 11, day: 21, hour: 10, minute: 30, second: 0 }, ['2026-11-21T09:30:00.000Z']],
    ['a time skipped by the spring change', { year: 2026, month: 3, day: 29, hour: 2, minute: 30, second: 0 }, []],
    ['the first minute after the gap', { year: 2026, month: 3, day: 29, hour: 3, minute: 0, second: 0 }, ['2026-03-29T01:00:00.000Z']],
    ['a time repeated by the autumn change', { year: 2026, month: 10, day: 25, hour: 2, minute: 30, second: 0 }, ['2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z']],
  ])('Europe/Berlin: %s', (_what, wall, expected) => {
    expect(instantsForWallClock(wall, 'Europe/Berlin').map((x) => x.toISOString())).toEqual(expected);
  });

  test('Lord Howe: a 30-minute gap and a 30-minute overlap', () => {
    expect(instantsForWallClock({ year: 2026, month: 10, day: 4, hour: 2, minute: 15, second: 0 }, 'Australia/Lord_Howe')).toEqual([]);
    expect(instantsForWallClock({ year: 2026, month: 4, day: 5, hour: 1, minute: 45, second: 0 }, 'Australia/Lord_Howe').map((x) => x.toISOString())).toEqual([
      '2026-04-04T14:45:00.000Z',
      '2026-04-04T15:15:00.000Z',
    ]);
  });
});
