/** The DIRECTORY_* configuration keys (src/config/schema.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackupmateError } from '../../../../src/domain/errors.js';
import { loadConfig, type Config } from '../../../../src/config/load.js';
import { parseDirectoryPaths, pathsProblem } from '../../../../src/config/schema.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-dirconfig-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const BASE = { S3_BUCKET_NAME: 'bucket' };
function load(env: Record<string, string>): Config {
  return loadConfig({ cwd: tmp, etcDir: path.join(tmp, 'etc'), env: { ...BASE, ...env } });
}
function problems(env: Record<string, string>): string {
  try {
    load(env);
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    expect((e as BackupmateError).code).toBe('CONFIG');
    return (e as Error).message;
  }
  throw new Error('expected a CONFIG error');
}

describe('DIRECTORY_* keys', () => {
  it('default to no directory backups, scheduled off, under backupmate/directories/', () => {
    const cfg = load({});
    expect(cfg.DIRECTORY_BACKUP_PATHS).toBe('');
    expect(cfg.DIRECTORY_BACKUP_SCHEDULE).toBe('off');
    expect(cfg.DIRECTORY_BACKUP_PREFIX).toBe('backupmate/directories/');
  });

  it('read comma-separated absolute paths, trimmed and without trailing slashes', () => {
    const cfg = load({ DIRECTORY_BACKUP_PATHS: ' /etc/mysql/ , /etc/backupmate/key.txt', DIRECTORY_BACKUP_SCHEDULE: 'Daily', DIRECTORY_BACKUP_PREFIX: 'db1/dirs' });
    expect(cfg.DIRECTORY_BACKUP_PATHS).toBe('/etc/mysql,/etc/backupmate/key.txt');
    expect(parseDirectoryPaths(cfg.DIRECTORY_BACKUP_PATHS)).toEqual(['/etc/mysql', '/etc/backupmate/key.txt']);
    expect(cfg.DIRECTORY_BACKUP_SCHEDULE).toBe('daily');
    expect(cfg.DIRECTORY_BACKUP_PREFIX).toBe('db1/dirs/');
    expect(parseDirectoryPaths('')).toEqual([]);
  });

  it.each([
    ['etc/mysql', 'a relative path'],
    ['/etc/mysql,,/etc/x', 'an empty entry between commas'],
    ['/', 'not / itself'],
    ['/etc/../root', 'no ".", ".." or empty segments'],
    ['/etc//mysql', 'no ".", ".." or empty segments'],
  ])('refuse DIRECTORY_BACKUP_PATHS=%j (%s)', (value, why) => {
    const msg = problems({ DIRECTORY_BACKUP_PATHS: value });
    expect(msg).toContain('DIRECTORY_BACKUP_PATHS must be empty (no directory backups) or comma-separated absolute paths');
    expect(msg).toContain(why);
    expect(pathsProblem(value)).toContain(why);
  });

  it('refuse a schedule in another form than the other schedules, and one without paths', () => {
    expect(problems({ DIRECTORY_BACKUP_SCHEDULE: 'fortnightly', DIRECTORY_BACKUP_PATHS: '/etc' })).toContain('DIRECTORY_BACKUP_SCHEDULE must be hourly, daily, weekly, monthly, off or a 5- or 6-field cron expression');
    expect(problems({ DIRECTORY_BACKUP_SCHEDULE: '0 4 * * *' })).toContain('DIRECTORY_BACKUP_PATHS must name at least one path when DIRECTORY_BACKUP_SCHEDULE is not off');
    expect(load({ DIRECTORY_BACKUP_SCHEDULE: '0 4 * * *', DIRECTORY_BACKUP_PATHS: '/etc' }).DIRECTORY_BACKUP_SCHEDULE).toBe('0 4 * * *');
  });

  it.each([
    [{ DIRECTORY_BACKUP_PREFIX: '/abs/' }, 'not starting with "/"'],
    [{ DIRECTORY_BACKUP_PREFIX: 'backupmate/full/' }, 'DIRECTORY_BACKUP_PREFIX must differ from FULL_BACKUP_PREFIX'],
    [{ DIRECTORY_BACKUP_PREFIX: 'backupmate/incremental/dirs/' }, 'DIRECTORY_BACKUP_PREFIX must not lie inside INCREMENTAL_BACKUP_PREFIX'],
    [{ DIRECTORY_BACKUP_PREFIX: 'backupmate/' }, 'DIRECTORY_BACKUP_PREFIX must not contain FULL_BACKUP_PREFIX'],
  ])('refuse prefix %j', (env, message) => {
    expect(problems(env)).toContain(message);
  });
});
