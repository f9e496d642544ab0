/**
 * What a person at a terminal sees (issue 11 item 15), with a real terminal from util-linux
 * `script`: `backup` prints what it decided and the result, no JSON; `verify` prints its table
 * without JSON log lines. Without a terminal, or with --json, the JSON lines are as before; the
 * log file always has them. Against a private mariadbd and a file store.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, CLI, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

let server: PrivateServer;
let store: string;
let work: string;

beforeAll(async () => {
  server = await startPrivateServer({ rootPassword: 'c0nsole-pw' });
  store = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-console-store-'));
  work = await makeWorkdir(server, { kind: 'file', path: store }, { LOG_LEVEL: 'info' });
});

afterAll(async () => {
  for (const d of [work, store]) if (d) await fs.rm(d, { recursive: true, force: true });
  await stopAllServers();
});

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `backupmate ARGS` with stdin, stdout and stderr on a terminal (script's pty); output as one text. */
async function atTerminal(args: string[]): Promise<{ exitCode: number; out: string }> {
  const cmd = [process.execPath, CLI, ...args].map(q).join(' ');
  const r = await execa('script', ['-qec', cmd, '/dev/null'], { cwd: work, reject: false, env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
  return { exitCode: r.exitCode ?? -1, out: String(r.stdout).replace(/\r/g, '') };
}

const jsonLines = (text: string) => text.split('\n').filter((l) => l.trimStart().startsWith('{'));

describe('at a terminal', () => {
  test('backup: the decision and the result in words, no JSON; the log file keeps the JSON', async () => {
    const logFile = path.join(work, 'backupmate.log');
    await fs.rm(logFile, { force: true });
    const r = await atTerminal(['backup']);
    expect(r.exitCode).toBe(0);
    expect(jsonLines(r.out)).toEqual([]);
    expect(r.out).toMatch(/^full backup: no valid full backup in the store/m);
    const done = /^backup (\d{8}T\d{6}Z) succeeded: full, \S+ \S+ read, \S+ \S+ stored, in \S+/m.exec(r.out);
    expect(done).not.toBeNull();
    const logged = logLines(await fs.readFile(logFile, 'utf8'));
    expect(logged.find((l) => l.event === 'backup.end')).toMatchObject({ status: 'succeeded', backupId: done![1] });
  });

  test('backup --json: JSON lines as without a terminal', async () => {
    const r = await atTerminal(['backup', '--json']);
    expect(r.exitCode).toBe(0);
    const lines = jsonLines(r.out).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.event === 'backup.end')).toMatchObject({ status: 'succeeded', kind: 'incremental' });
    expect(r.out).not.toMatch(/^backup \S+ succeeded/m);
  });

  test('verify: the table and no JSON log lines', async () => {
    const r = await atTerminal(['verify', 'all']);
    expect(jsonLines(r.out)).toEqual([]);
    expect(r.out).toMatch(/^ID +KIND +STATUS +DETAIL$/m);
    expect(r.out).toMatch(/^verify all: /m);
    expect(r.exitCode).toBe(0);
  });

  test('list: no JSON log lines; ENCRYPTED and MAC columns', async () => {
    const r = await atTerminal(['list']);
    expect(r.exitCode).toBe(0);
    expect(jsonLines(r.out)).toEqual([]);
    expect(r.out).toMatch(/ENCRYPTED +MAC/);
    expect(r.out).toMatch(/\d{8}T\d{6}Z +physical +full +ok .* no +no +\d{4}-/);
  });

  test('a warning reaches the terminal as one short line', async () => {
    // An unwritable LOG_FILE is a logged warning; the command still runs.
    const cmd = ['list'];
    const r = await execa('script', ['-qec', [process.execPath, CLI, ...cmd].map(q).join(' '), '/dev/null'], {
      cwd: work,
      reject: false,
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', LOG_FILE: '/etc/passwd/x.log' },
    });
    const out = String(r.stdout).replace(/\r/g, '');
    expect(out).toMatch(/^backupmate: warning: cannot write LOG_FILE \/etc\/passwd\/x\.log: .*; logging to the console only$/m);
    expect(jsonLines(out)).toEqual([]);
  });
});

describe('without a terminal (cron, systemd, a pipe)', () => {
  test('backup writes JSON lines on stdout as before', async () => {
    const r = await backupmate(work, ['backup']);
    expect(r.exitCode).toBe(0);
    expect(logLines(r.stdout).find((l) => l.event === 'backup.end')).toMatchObject({ status: 'succeeded' });
    expect(r.stdout).not.toMatch(/^backup \S+ succeeded/m);
  });
});
