import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../../src/log/logger.js';
import { procScan, removeDeadTempDirs, tempDirsToRemove, type ProcessScan } from '../../../src/daemon/leftovers.js';

const T = '/var/tmp/backupmate';

describe('tempDirsToRemove', () => {
  const names = ['backup-20261121T040000Z-AbC123', 'query-xYz789', 'restore-20261121T040000Z-q1', 'verify-20261121T040000Z-q2', 'my-notes', '.preflight-12'];

  test('every job dir nobody uses is removed; other entries are not ours to judge', () => {
    const d = tempDirsToRemove(T, names, [{ pid: 1, paths: ['/', '/dev/null'] }]);
    expect(d.map((x) => [path.basename(x.dir), x.remove])).toEqual([
      ['backup-20261121T040000Z-AbC123', true],
      ['query-xYz789', true],
      ['restore-20261121T040000Z-q1', true],
      ['verify-20261121T040000Z-q2', true],
    ]);
    expect(d[0].reason).toBe('no live process uses it');
  });

  test("a dir under a live process's cwd, fd or argument is kept, naming the process", () => {
    const procs = [
      { pid: 11, paths: [`${T}/backup-20261121T040000Z-AbC123`] }, // cwd (mariabackup of a cron backup)
      { pid: 12, paths: ['/usr/bin/mbstream', '-x', '-C', `${T}/restore-20261121T040000Z-q1/full`] }, // argument
      { pid: 13, paths: [`${T}/verify-20261121T040000Z-q2/x/ibdata1 (deleted)`] }, // an fd
      { pid: 14, paths: [`--defaults-file=${T}/query-xYz789/client.cnf`] }, // argument with a prefix
    ];
    const d = tempDirsToRemove(T, names, procs);
    expect(d.map((x) => [x.remove, x.reason])).toEqual([
      [false, 'process 11 uses it'],
      [false, 'process 14 uses it'],
      [false, 'process 12 uses it'],
      [false, 'process 13 uses it'],
    ]);
  });

  test('a path that only starts like the dir (a longer name) does not count as inside it', () => {
    const d = tempDirsToRemove(T, ['backup-1-abc'], [{ pid: 5, paths: [`${T}/backup-1-abcdef/backup.cnf`] }]);
    expect(d).toEqual([{ dir: `${T}/backup-1-abc`, remove: true, reason: 'no live process uses it' }]);
  });
});

describe('removeDeadTempDirs with the real /proc', () => {
  let dir: string;
  let child: ChildProcess | null = null;
  const lines: Record<string, unknown>[] = [];
  const record = (level: string) => (message: string, fields: Record<string, unknown> = {}) => void lines.push({ level, message, ...fields });
  const log = { info: record('info'), warn: record('warn'), error: record('error') } as unknown as Logger;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-leftovers-'));
    lines.length = 0;
  });
  afterEach(() => {
    child?.kill('SIGKILL');
    child = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('removes a dead backup dir with its option file, keeps the one a live process works in, logs paths only', async () => {
    const dead = path.join(dir, 'backup-20261121T040000Z-dead01');
    const live = path.join(dir, 'backup-20261121T050000Z-live01');
    for (const d of [dead, live]) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'backup.cnf'), '[mariabackup]\npassword=s3cret\n', { mode: 0o600 });
    }
    fs.mkdirSync(path.join(dir, 'keep-me'));
    child = spawn('sleep', ['60'], { cwd: live, stdio: 'ignore' });
    await new Promise((r) => child!.once('spawn', r));
    const removed = await removeDeadTempDirs(dir, procScan(), log);
    expect(removed).toEqual([dead]);
    expect(fs.readdirSync(dir).sort()).toEqual(['backup-20261121T050000Z-live01', 'keep-me']);
    expect(lines.find((l) => l.status === 'removed')).toMatchObject({ event: 'daemon.cleanup', path: dead });
    expect(lines.find((l) => l.status === 'kept')).toMatchObject({ event: 'daemon.cleanup', path: live, reason: `process ${child.pid} uses it` });
    expect(JSON.stringify(lines)).not.toContain('s3cret');
  });

  test('a process list that cannot be read removes nothing', async () => {
    fs.mkdirSync(path.join(dir, 'query-abc'));
    const broken: ProcessScan = { processes: () => Promise.reject(new Error('EACCES /proc')) };
    expect(await removeDeadTempDirs(dir, broken, log)).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual(['query-abc']);
    expect(lines[0]).toMatchObject({ event: 'daemon.cleanup', status: 'failed' });
  });

  test('a missing LOCAL_TEMP_DIR is nothing to do', async () => {
    expect(await removeDeadTempDirs(path.join(dir, 'none'), procScan(), log)).toEqual([]);
    expect(lines).toEqual([]);
  });
});
