import os from 'node:os';
import { loadConfig, type Config } from '../../../src/config/load.js';
import { isStale, staleAfterMs } from '../../../src/notify/stale.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A valid configuration from `env` only (no files): a file store satisfies the required keys. */
function config(env: Record<string, string>): Config {
  return loadConfig({ env: { STORAGE: 'file', STORAGE_PATH: '/tmp/x', SCHEDULE_TIMEZONE: 'UTC', ...env }, etcDir: '/nonexistent', cwd: os.tmpdir() });
}

describe('staleAfterMs', () => {
  const now = new Date('2026-11-18T12:34:00Z'); // a Wednesday

  test('defaults (daily incrementals): twice a day', () => {
    expect(staleAfterMs(config({}), now)).toBe(2 * DAY);
  });

  test('hourly incrementals: two hours', () => {
    expect(staleAfterMs(config({ INCREMENTAL_BACKUP_SCHEDULE: 'hourly' }), now)).toBe(2 * HOUR);
  });

  test('STALE_AFTER overrides the schedules', () => {
    expect(staleAfterMs(config({ STALE_AFTER: '36h', INCREMENTAL_BACKUP_SCHEDULE: 'hourly' }), now)).toBe(36 * HOUR);
    expect(staleAfterMs(config({ STALE_AFTER: '90s' }), now)).toBe(90_000);
  });

  test('an empty STALE_AFTER means derived', () => {
    expect(staleAfterMs(config({ STALE_AFTER: '', INCREMENTAL_BACKUP_SCHEDULE: 'hourly' }), now)).toBe(2 * HOUR);
  });

  test('incrementals off: twice the full schedule', () => {
    expect(staleAfterMs(config({ INCREMENTAL_BACKUP_SCHEDULE: 'off', FULL_BACKUP_SCHEDULE: 'weekly' }), now)).toBe(14 * DAY);
    expect(staleAfterMs(config({ INCREMENTAL_BACKUP_SCHEDULE: 'off', FULL_BACKUP_SCHEDULE: 'daily' }), now)).toBe(2 * DAY);
  });

  test('both schedules off: 0 (no stale alerts), unless STALE_AFTER asks for them', () => {
    expect(staleAfterMs(config({ INCREMENTAL_BACKUP_SCHEDULE: 'off', FULL_BACKUP_SCHEDULE: 'off' }), now)).toBe(0);
    expect(staleAfterMs(config({ INCREMENTAL_BACKUP_SCHEDULE: 'off', FULL_BACKUP_SCHEDULE: 'off', STALE_AFTER: '2d' }), now)).toBe(2 * DAY);
  });

  test('a weekday-only cron schedule gives a longer threshold across the weekend', () => {
    const c = config({ INCREMENTAL_BACKUP_SCHEDULE: '0 3 * * 1-6' });
    expect(staleAfterMs(c, now)).toBe(2 * DAY); // Wednesday: daily gaps
    expect(staleAfterMs(c, new Date('2026-11-22T12:00:00Z'))).toBe(2 * 2 * DAY); // Sunday: Sat 03:00 -> Mon 03:00
  });

  test('the period is read in SCHEDULE_TIMEZONE: a daily schedule on a spring-forward day is 23 hours', () => {
    const c = config({ SCHEDULE_TIMEZONE: 'Europe/Berlin' });
    expect(staleAfterMs(c, new Date('2026-03-29T12:00:00Z'))).toBe(2 * 23 * HOUR);
    expect(staleAfterMs(c, new Date('2026-10-25T12:00:00Z'))).toBe(2 * 25 * HOUR);
  });

  test('takes only the keys it reads', () => {
    expect(
      staleAfterMs({ STALE_AFTER: 0, INCREMENTAL_BACKUP_SCHEDULE: 'hourly', FULL_BACKUP_SCHEDULE: 'weekly', SCHEDULE_TIMEZONE: '' }, now),
    ).toBe(2 * HOUR);
  });
});

describe('isStale', () => {
  const now = new Date('2026-11-18T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const longAgo = ago(30 * DAY);

  test('stale once more than the threshold passed since the last success', () => {
    expect(isStale(ago(3 * HOUR), longAgo, 2 * HOUR, now)).toBe(true);
    expect(isStale(ago(1 * HOUR), longAgo, 2 * HOUR, now)).toBe(false);
  });

  test('exactly at the threshold is not yet stale', () => {
    expect(isStale(ago(2 * HOUR), longAgo, 2 * HOUR, now)).toBe(false);
    expect(isStale(ago(2 * HOUR + 1), longAgo, 2 * HOUR, now)).toBe(true);
  });

  test('a threshold of 0 (or less) never alerts', () => {
    expect(isStale(ago(365 * DAY), longAgo, 0, now)).toBe(false);
    expect(isStale(null, longAgo, 0, now)).toBe(false);
    expect(isStale(null, longAgo, -1, now)).toBe(false);
    expect(isStale(null, longAgo, Number.NaN, now)).toBe(false);
  });

  test('no success at all counts from `since` (the daemon start)', () => {
    expect(isStale(null, ago(1 * HOUR), 2 * HOUR, now)).toBe(false);
    expect(isStale(null, ago(3 * HOUR), 2 * HOUR, now)).toBe(true);
  });

  test('a restarted daemon gets one threshold from its start before alerting about an old success', () => {
    expect(isStale(ago(10 * DAY), ago(1 * HOUR), 2 * DAY, now)).toBe(false);
    expect(isStale(ago(10 * DAY), ago(49 * HOUR), 2 * DAY, now)).toBe(true);
  });

  test('a success after `since` restarts the clock', () => {
    expect(isStale(ago(1 * HOUR), ago(5 * DAY), 2 * DAY, now)).toBe(false);
  });
});
