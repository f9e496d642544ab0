/**
 * The built `backupmate` as cron and systemd run it (issue 11 items 2 and 17): every placement of
 * --config reaches the command (seen by `backup` failing on the configured, absent DB socket),
 * --config reads only the given file for every command, and help printed for a usage error exits 64.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate } from '../helpers/backupmate.js';

let dir: string;
let configFile: string;
let socket: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-cli-'));
  socket = path.join(dir, 'no-server.sock');
  configFile = path.join(dir, 'instance.env');
  await fs.writeFile(
    configFile,
    [`STORAGE=file`, `STORAGE_PATH=${dir}/store`, `DB_SOCKET=${socket}`, `DB_USER=root`, `LOCAL_TEMP_DIR=${dir}/tmp`, `CONTROL_SOCKET=${dir}/ctl.sock`, `STATE_DIR=${dir}/state`].join('\n') + '\n',
    { mode: 0o600 },
  );
  // The working directory's file must NOT be read when --config is given.
  await fs.writeFile(path.join(dir, '.backupmate.env'), 'LOG_LEVEL=debug\nS3_BUCKET_NAME=from-cwd-file\n', { mode: 0o600 });
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('every placement of --config runs the command', () => {
  test.each([
    [['--config', 'CONF', 'backup']],
    [['backup', '--config', 'CONF']],
    [['-c', 'CONF', 'backup']],
    [['--config=CONF', 'backup']],
    [['backup', '--config=CONF', '--full']],
  ])('backupmate %j reaches the server (and fails on its absent socket)', async (args) => {
    const r = await backupmate(dir, args.map((a) => a.replace('CONF', configFile)));
    expect(r.stderr).toContain(`cannot query the server at socket ${socket}`);
    expect(r.exitCode).toBe(71);
  });
});

describe('--config reads only the given file, for config check as for run', () => {
  test('config check --config F: values from F or defaults, not from ./.backupmate.env', async () => {
    const r = await backupmate(dir, ['config', 'check', '--config', configFile]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`DB_SOCKET\\s+${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(r.stdout).toMatch(/LOG_LEVEL\s+info\s+default/);
    expect(r.stdout).not.toContain('from-cwd-file');
  });

  test('without --config the working directory file is read', async () => {
    const r = await backupmate(dir, ['config', 'show']);
    expect(r.stdout).toMatch(/LOG_LEVEL\s+debug\s+\S*\.backupmate\.env/);
  });
});

describe('usage errors exit 64 (help is printed on stderr), asked-for help exits 0', () => {
  test.each([
    [[] as string[]],
    [['--config', 'CONF']],
    [['bogus']],
    [['config']],
  ])('backupmate %j exits 64', async (args) => {
    const r = await backupmate(dir, args.map((a) => a.replace('CONF', configFile)));
    expect(r.exitCode).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Usage: backupmate|unknown command/);
  });

  test.each([[['--help']], [['help']], [['backup', '--help']]])('backupmate %j exits 0', async (args) => {
    const r = await backupmate(dir, args);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('Usage: backupmate');
  });
});
