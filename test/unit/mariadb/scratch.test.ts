import { describe, expect, test } from '@jest/globals';
import { commonDir, scratchServerArgs } from '../../../src/mariadb/scratch.js';

describe('scratch server command line', () => {
  const base = { datadir: '/j/data', workDir: '/j/w', initFile: '/j/w/init.sql', bufferPoolSize: '128M', extraOptions: [] as string[] };
  test('never reads /etc/mysql, never listens, never replicates, never runs events', () => {
    const a = scratchServerArgs({ ...base, defaultsFile: null, osUser: 'mysql' });
    expect(a[0]).toBe('--no-defaults');
    expect(a).toEqual(expect.arrayContaining(['--skip-networking', '--skip-log-bin', '--skip-slave-start', '--event-scheduler=DISABLED', '--user=mysql', '--socket=/j/w/mysqld.sock']));
  });
  test("the datadir's backup-my.cnf comes first, extra options last", () => {
    const a = scratchServerArgs({ ...base, defaultsFile: '/j/data/backup-my.cnf', osUser: null, extraOptions: ['--innodb-buffer-pool-size=1G'] });
    expect(a[0]).toBe('--defaults-file=/j/data/backup-my.cnf');
    expect(a[a.length - 1]).toBe('--innodb-buffer-pool-size=1G');
    expect(a.some((x) => x.startsWith('--user='))).toBe(false);
  });
  test('commonDir', () => {
    expect(commonDir('/a/b/c', '/a/b/d/e')).toBe('/a/b');
    expect(commonDir('/a', '/b')).toBe('/');
  });
});
