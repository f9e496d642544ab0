/**
 * A throwaway mariadbd on a prepared datadir: for restore drills (start it, check every table),
 * point-in-time replay (apply archived binlogs to a prepared backup before it is put back) and
 * single-table restores from a physical backup (read one table out of a staging copy).
 *
 * Contract:
 * - It never touches the production server: its own socket in `workDir` (0700), no TCP
 *   (--skip-networking), no binlog (--skip-log-bin), no replication (--skip-slave-start: a
 *   restored replica's master.info would otherwise connect to the primary), no event scheduler
 *   (restored events would write concurrently with a replay or a check), a small buffer pool.
 *   `/etc/mysql` is never read: the datadir's own `backup-my.cnf` (mariabackup's record of the
 *   InnoDB settings the files need, page size above all) is the defaults file when present, else
 *   --no-defaults. `extraOptions` adds to the command line (DRILL_MARIADBD_OPTIONS, plugins).
 * - The restored accounts' passwords are the production ones, which we do not have. A private
 *   superuser (`backupmate_scratch@localhost`, random password) is created by an --init-file at
 *   start-up and, unless `keepUser`, dropped again by `stop()`; with the binlog off neither
 *   statement is logged. The password lives only in 0600 files in `workDir`, never in argv; the
 *   init file is removed once the server answers.
 * - `stop()` is idempotent and always leaves no process behind: a clean shutdown (SIGTERM, which
 *   lets InnoDB write a consistent state: what a replay relies on), SIGKILL after the timeout.
 *   The process also dies with ours (ChildStage's pdeathsig) if the daemon is killed.
 * - A server that exits before it answers, or does not answer within `readyTimeoutMs`, fails
 *   with TOOL_FAILED quoting the end of its error log.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ChildStage } from '../archive/child.js';
import { runCommand } from '../archive/command.js';
import { BackupmateError } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { backupOptionFileText, writeOptionFile, type ConnectionSettings } from './mariabackup.js';

export const SCRATCH_USER = 'backupmate_scratch';

export interface ScratchServerOptions {
  /** A prepared datadir (mariabackup --prepare done). Chowned to `osUser` when we are root. */
  datadir: string;
  /** An empty or new private directory for the socket, pid file, error log and tmpdir; keep its path short (sun_path is 108 bytes). */
  workDir: string;
  log: Logger;
  /** OS user mariadbd runs as when we are root (MARIADB_OS_USER). Default 'mysql'. */
  osUser?: string;
  /** The server binary. Default: MARIADBD_BIN, else /usr/sbin/mariadbd. */
  mariadbd?: string;
  /** More mariadbd options, appended last (they win over ours). */
  extraOptions?: readonly string[];
  /** --innodb-buffer-pool-size. Default '128M'. */
  bufferPoolSize?: string;
  /** How long crash recovery plus start-up may take. Default 300 s. */
  readyTimeoutMs?: number;
  /** How long a clean shutdown may take before SIGKILL. Default 120 s. */
  stopTimeoutMs?: number;
  /**
   * mariadbd runs as `osUser`, so it must be able to traverse every directory down to `workDir`
   * and `datadir`. Directories from this one (inclusive) down to them that deny others the
   * search bit get o+x (traverse only, never list or read). Above it nothing is changed.
   * Callers pass LOCAL_TEMP_DIR (jobs' private directories are 0700). Default: the deepest
   * directory containing both `workDir` and `datadir`.
   */
  traverseRoot?: string;
  /** Keep the private superuser at stop (the datadir is thrown away anyway). Default false. */
  keepUser?: boolean;
  /** Aborting stops the server (and a start in progress fails with CANCELLED). */
  signal?: AbortSignal;
}

export interface ScratchServer {
  readonly socket: string;
  readonly pid: number | undefined;
  readonly errorLog: string;
  /** The private superuser over the socket, for tools that take ConnectionSettings. */
  readonly connection: ConnectionSettings;
  /** 0600 `[client]` option file for that user: `mariadb --defaults-file=…` (first argument). */
  readonly clientOptionFile: string;
  /** Runs SQL with `mariadb --batch --skip-column-names`; returns stdout; throws TOOL_FAILED with the server's message. */
  query(sql: string, database?: string): Promise<string>;
  /** Clean shutdown (idempotent); drops the private user first unless keepUser. */
  stop(): Promise<void>;
}

const MAX_SOCKET_PATH = 100;

/** The mariadbd command line (without the binary). Pure: exported for tests. */
export function scratchServerArgs(o: {
  datadir: string;
  workDir: string;
  defaultsFile: string | null;
  initFile: string;
  osUser: string | null;
  bufferPoolSize: string;
  extraOptions: readonly string[];
}): string[] {
  return [
    o.defaultsFile ? `--defaults-file=${o.defaultsFile}` : '--no-defaults',
    `--datadir=${o.datadir}`,
    `--socket=${path.join(o.workDir, 'mysqld.sock')}`,
    `--pid-file=${path.join(o.workDir, 'mysqld.pid')}`,
    `--log-error=${path.join(o.workDir, 'error.log')}`,
    `--tmpdir=${path.join(o.workDir, 'tmp')}`,
    `--init-file=${o.initFile}`,
    '--skip-networking',
    '--skip-log-bin',
    '--skip-slave-start',
    '--event-scheduler=DISABLED',
    `--innodb-buffer-pool-size=${o.bufferPoolSize}`,
    ...(o.osUser ? [`--user=${o.osUser}`] : []),
    ...o.extraOptions,
  ];
}

function sqlString(v: string): string {
  return "'" + v.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

async function errorLogEnd(errorLog: string, osUser: string | null): Promise<string> {
  const t = await tail(errorLog);
  if (t) return `its error log ends:\n${t}`;
  return `it wrote no error log${osUser ? ` (can OS user ${osUser} reach ${path.dirname(errorLog)}? every directory above it must be traversable)` : ''}`;
}

async function tail(file: string, lines = 15): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** The deepest directory holding both paths (absolute, resolved). Pure. */
export function commonDir(a: string, b: string): string {
  const pa = path.resolve(a).split(path.sep);
  const pb = path.resolve(b).split(path.sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(path.sep) || path.sep;
}

/** Gives others the search bit on `root` and every directory between it and `dir` (both inclusive). */
async function grantTraversal(root: string, dir: string, log: Logger): Promise<void> {
  const rel = path.relative(root, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return;
  let cur = root;
  for (const part of ['', ...rel.split(path.sep).filter(Boolean)]) {
    cur = part ? path.join(cur, part) : cur;
    const st = await fs.stat(cur);
    if (st.isDirectory() && (st.mode & 0o001) === 0) {
      await fs.chmod(cur, (st.mode & 0o7777) | 0o001);
      log.debug('scratch server: gave others traversal of a directory', { dir: cur });
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

export async function startScratchServer(o: ScratchServerOptions): Promise<ScratchServer> {
  const isRoot = process.getuid?.() === 0;
  const osUser = isRoot ? (o.osUser ?? 'mysql') : null;
  const workDir = path.resolve(o.workDir);
  const datadir = path.resolve(o.datadir);
  const socket = path.join(workDir, 'mysqld.sock');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new BackupmateError('LOCAL_IO', `scratch server: socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes (unix socket limit): use a shorter LOCAL_TEMP_DIR`);
  }
  await fs.mkdir(path.join(workDir, 'tmp'), { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('hex');
  const initFile = path.join(workDir, 'init.sql');
  await writeOptionFile(
    initFile,
    [
      `CREATE OR REPLACE USER '${SCRATCH_USER}'@'localhost' IDENTIFIED BY ${sqlString(password)};`,
      `GRANT ALL PRIVILEGES ON *.* TO '${SCRATCH_USER}'@'localhost' WITH GRANT OPTION;`,
      '',
    ].join('\n'),
  );
  const connection: ConnectionSettings = { user: SCRATCH_USER, password, host: 'localhost', port: 0, socket };
  const clientOptionFile = path.join(workDir, 'client.cnf');
  await writeOptionFile(clientOptionFile, backupOptionFileText(connection, 'client'));
  if (osUser) {
    // mariadbd drops to osUser: it must own the datadir and write the socket, logs and tmpdir.
    const root = path.resolve(o.traverseRoot ?? commonDir(workDir, datadir));
    await grantTraversal(root, workDir, o.log);
    await grantTraversal(root, datadir, o.log);
    for (const dir of [datadir, workDir]) {
      const r = await runCommand('chown', ['-R', `${osUser}:`, dir]);
      if (r.failed) throw new BackupmateError('LOCAL_IO', `scratch server: cannot give ${dir} to OS user ${osUser} (MARIADB_OS_USER): ${r.stderr.trim() || r.shortMessage}`);
    }
    // The client option file stays ours; mariadbd never reads it.
    await fs.chown(clientOptionFile, 0, 0);
  }
  const backupCnf = path.join(datadir, 'backup-my.cnf');
  const args = scratchServerArgs({
    datadir,
    workDir,
    defaultsFile: (await exists(backupCnf)) ? backupCnf : null,
    initFile,
    osUser,
    bufferPoolSize: o.bufferPoolSize ?? '128M',
    extraOptions: o.extraOptions ?? [],
  });
  const errorLog = path.join(workDir, 'error.log');
  const file = o.mariadbd ?? process.env.MARIADBD_BIN ?? '/usr/sbin/mariadbd';
  o.log.info('starting a scratch server', { datadir, socket, mariadbd: file });
  const child = new ChildStage({ stage: 'scratch-mariadbd', file, args, stdin: 'ignore', stdout: 'ignore', onStderr: (l) => o.log.debug(l, { stage: 'scratch-mariadbd' }) });
  let exited = false;
  const exit = child.done.then(
    () => null,
    (e: unknown) => e,
  );
  void exit.then(() => (exited = true));

  const query = async (sql: string, database?: string): Promise<string> => {
    const r = await runCommand('mariadb', [`--defaults-file=${clientOptionFile}`, '--batch', '--skip-column-names', ...(database ? [database] : []), '-e', sql]);
    if (r.failed) {
      throw new BackupmateError(r.code === 'ENOENT' ? 'TOOL_MISSING' : 'TOOL_FAILED', `scratch server: ${r.stderr.trim().split('\n').pop() || r.shortMessage}`, { stage: 'scratch-mariadbd' });
    }
    return r.stdout;
  };

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (!exited && !o.keepUser) {
        await query(`DROP USER IF EXISTS '${SCRATCH_USER}'@'localhost'`).catch((e: unknown) => o.log.warn('scratch server: could not drop the private user', { error: String(e) }));
      }
      if (!exited && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
        const t = setTimeout(() => child.kill(), o.stopTimeoutMs ?? 120_000);
        t.unref();
        await exit;
        clearTimeout(t);
      }
      await exit;
      o.log.info('scratch server stopped', { socket });
    })());

  const onAbort = () => void stop();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  void exit.then(() => o.signal?.removeEventListener('abort', onAbort));

  const deadline = Date.now() + (o.readyTimeoutMs ?? 300_000);
  try {
    for (;;) {
      if (o.signal?.aborted) throw new BackupmateError('CANCELLED', 'scratch server: cancelled while it was starting');
      if (exited) {
        const why = await exit;
        throw new BackupmateError('TOOL_FAILED', `scratch server on ${datadir} exited before it was ready${why ? ` (${String((why as Error).message)})` : ''}; ${await errorLogEnd(errorLog, osUser)}`, {
          stage: 'scratch-mariadbd',
        });
      }
      if (await exists(socket)) {
        const r = await runCommand('mariadb', [`--defaults-file=${clientOptionFile}`, '--batch', '--skip-column-names', '-e', 'SELECT 1'], { timeoutMs: 10_000 });
        if (!r.failed) break;
      }
      if (Date.now() > deadline) {
        throw new BackupmateError('TOOL_FAILED', `scratch server on ${datadir} did not answer within ${Math.round((o.readyTimeoutMs ?? 300_000) / 1000)} s; ${await errorLogEnd(errorLog, osUser)}`, {
          stage: 'scratch-mariadbd',
        });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  } finally {
    await fs.rm(initFile, { force: true });
  }
  o.log.info('scratch server ready', { socket, pid: child.pid });
  return { socket, pid: child.pid, errorLog, connection, clientOptionFile, query, stop };
}
