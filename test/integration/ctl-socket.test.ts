/**
 * backupmatectl finds the daemon's socket in the configuration (issue 11 item 7): started in a
 * directory whose .backupmate.env sets CONTROL_SOCKET, with no --socket and no $CONTROL_SOCKET,
 * it reaches the real daemon; pointed at a path nobody serves, it says which path it tried and
 * where that path came from.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../helpers/backupmate.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

const CTL = path.join(ROOT, 'dist/src/ctl/backupmatectl.js');
let server: PrivateServer;
let daemon: DaemonHandle | undefined;
let store: string;
let work: string;

beforeAll(async () => {
  server = await startPrivateServer();
  store = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-ctlsock-store-'));
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-ctlsock-'));
  daemon = await startDaemon(server, { kind: 'file', path: store });
});

afterAll(async () => {
  await daemon?.stop();
  if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  for (const d of [store, work]) if (d) await fs.rm(d, { recursive: true, force: true });
  await stopAllServers();
});

/** backupmatectl ARGS in `cwd`, without --socket and without CONTROL_SOCKET in its environment. */
async function ctlIn(cwd: string, args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  delete env.CONTROL_SOCKET;
  const r = await execa(process.execPath, [CTL, ...args], { cwd, env, extendEnv: false, reject: false, input: '' });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

test('CONTROL_SOCKET in ./.backupmate.env: backupmatectl status reaches the daemon', async () => {
  await fs.writeFile(path.join(work, '.backupmate.env'), `# only this key is read\nDB_PASSWORD='not for the client'\nCONTROL_SOCKET='${daemon!.socket}'\n`, { mode: 0o600 });
  const r = await ctlIn(work, ['status', '--json']);
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toContain('"result"');
});

test('a path nobody serves: exit 68 naming the path and the file it came from', async () => {
  const other = path.join(work, 'nothing-here.sock');
  await fs.writeFile(path.join(work, '.backupmate.env'), `CONTROL_SOCKET=${other}\n`, { mode: 0o600 });
  const r = await ctlIn(work, ['status']);
  expect(r.exitCode).toBe(68);
  expect(r.stderr).toBe(
    `backupmatectl: the backupmate daemon is not running (no socket at ${other}, CONTROL_SOCKET in ${path.join(work, '.backupmate.env')}): start it with systemctl start backupmate`,
  );
});
