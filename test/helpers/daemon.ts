/**
 * Runs the real daemon (`backupmate run --config FILE`, built dist/) as a child process, and the
 * real backupmatectl against its socket. Used by the daemon integration tests.
 */
import { execa, type ResultPromise } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, ROOT, storeEnv, type Store } from './backupmate.js';
import type { PrivateServer } from './mariadb.js';

export const CTL = path.join(ROOT, 'dist/src/ctl/backupmatectl.js');

export interface DaemonHandle {
  dir: string;
  configFile: string;
  socket: string;
  proc: ResultPromise;
  /** Everything the daemon printed on stdout so far (JSON log lines). */
  output(): string;
  logLines(): Record<string, unknown>[];
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | undefined>;
}

export async function writeDaemonConfig(dir: string, server: PrivateServer, store: Store, extra: Record<string, string>): Promise<string> {
  const env: Record<string, string> = {
    DB_SOCKET: server.socket,
    DB_USER: 'root',
    DB_PASSWORD: server.rootPassword ?? '',
    LOCAL_TEMP_DIR: path.join(dir, 'tmp'),
    LOG_FILE: path.join(dir, 'backupmate.log'),
    LOG_LEVEL: 'info',
    CONTROL_SOCKET: path.join(dir, 'run', 'bm.sock'),
    CONTROL_SOCKET_GROUP: '',
    STATE_DIR: path.join(dir, 'state'),
    MARIADB_DATADIR: server.datadir,
    MARIADB_OS_USER: 'mysql',
    ...storeEnv(store),
    ...extra,
  };
  const file = path.join(dir, 'backupmate.env');
  await fs.writeFile(file, Object.entries(env).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n', { mode: 0o600 });
  return file;
}

/** Starts a daemon; with `reuseDir`, on the directory (state, config, socket) of an earlier one. */
export async function startDaemon(
  server: PrivateServer,
  store: Store,
  extra: Record<string, string> = {},
  env: Record<string, string> = {},
  reuseDir?: string,
): Promise<DaemonHandle> {
  const dir = reuseDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'bm-daemon-')));
  const configFile = await writeDaemonConfig(dir, server, store, extra);
  const proc = execa(process.execPath, [CLI, 'run', '--config', configFile], {
    cwd: dir,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    reject: false,
    stdin: 'ignore',
    buffer: false,
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const handle: DaemonHandle = {
    dir,
    configFile,
    socket: path.join(dir, 'run', 'bm.sock'),
    proc,
    output: () => out,
    logLines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async waitForLog(pred, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = handle.logLines().find(pred);
        if (hit) return hit;
        if (proc.exitCode !== null) throw new Error(`daemon exited (${proc.exitCode}) while waiting; output:\n${out.slice(-3000)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for a daemon log line; output:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      const r = await proc;
      return r.exitCode;
    },
  };
  await handle.waitForLog((l) => l.event === 'daemon.ready' || l.event === 'daemon.failed', 60_000);
  return handle;
}

export interface CtlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function ctl(socket: string, args: string[], opts: { input?: string; user?: string } = {}): Promise<CtlResult> {
  const cmd = opts.user ? 'setpriv' : process.execPath;
  const argv = opts.user
    ? [`--reuid=${opts.user}`, `--regid=${opts.user === 'nobody' ? 'nogroup' : opts.user}`, '--clear-groups', process.execPath, CTL, '--socket', socket, ...args]
    : [CTL, '--socket', socket, ...args];
  const r = await execa(cmd, argv, { reject: false, input: opts.input ?? '', env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The `result` of a --json run (the last JSON line carrying one), or the plain JSON printed. */
export function jsonResult(stdout: string): unknown {
  const lines = stdout.split('\n').filter((l) => l.trim().startsWith('{'));
  for (const l of lines.reverse()) {
    const o = JSON.parse(l) as Record<string, unknown>;
    if ('result' in o) return o.result;
  }
  return JSON.parse(stdout);
}
