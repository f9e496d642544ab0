import type { Config } from '../../../src/config/load.js';
import type { Logger } from '../../../src/log/logger.js';
import { Scheduler } from '../../../src/daemon/scheduler.js';
import { SCHEDULES, scheduleValues } from '../../../src/daemon/schedules.js';

const log = { info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;

describe('SCHEDULES', () => {
  test('one entry per scheduled kind of work, each with its own configuration key', () => {
    expect(SCHEDULES.map((e) => [e.name, e.key])).toEqual([
      ['full', 'FULL_BACKUP_SCHEDULE'],
      ['incremental', 'INCREMENTAL_BACKUP_SCHEDULE'],
      ['directories', 'DIRECTORY_BACKUP_SCHEDULE'],
      ['logical', 'LOGICAL_BACKUP_SCHEDULE'],
      ['drill', 'DRILL_SCHEDULE'],
    ]);
  });

  test("scheduleValues reads each entry's key from the configuration", () => {
    const c = { FULL_BACKUP_SCHEDULE: 'weekly', INCREMENTAL_BACKUP_SCHEDULE: 'off', DIRECTORY_BACKUP_SCHEDULE: 'daily', LOGICAL_BACKUP_SCHEDULE: 'off', DRILL_SCHEDULE: 'weekly' } as unknown as Config;
    expect(scheduleValues(c)).toEqual([
      { name: 'full', schedule: 'weekly' },
      { name: 'incremental', schedule: 'off' },
      { name: 'directories', schedule: 'daily' },
      { name: 'logical', schedule: 'off' },
      { name: 'drill', schedule: 'weekly' },
    ]);
  });
});

describe('Scheduler', () => {
  test('runs whatever schedules it is given; next() names each, null for off; stop() clears them', () => {
    const s = new Scheduler(log, () => {});
    try {
      s.start(
        [
          { name: 'full', schedule: 'daily' },
          { name: 'incremental', schedule: 'off' },
          { name: 'directories', schedule: '*/5 * * * *' },
        ],
        'UTC',
      );
      const n = s.next();
      expect(Object.keys(n)).toEqual(['full', 'incremental', 'directories']);
      expect(n.incremental).toBeNull();
      expect(n.full!.toISOString()).toMatch(/T00:00:00\.000Z$/);
      expect(n.directories!.getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    } finally {
      s.stop();
    }
    expect(s.next().full).toBeNull();
  });
});
