/**
 * Private, throw-away MariaDB servers for integration tests.
 *
 * Every server lives in its own base directory (datadir, binlogs, tmpdir, error log, client
 * defaults file) and listens on its own unix socket and 127.0.0.1 port, so several can run side
 * by side without touching the machine's /etc/mysql configuration or system server.
 *
 * Cleanup contract, in order of preference:
 *  1. tests call `stopAllServers()` in afterAll: graceful shutdown, then the base directories
 *     this module created are removed (set BACKUPMATE_KEEP_TEST_DIRS=1 to keep them);
 *  2. an 'exit' handler on the real process SIGKILLs servers that are still running;
 *  3. a tiny detached `sh` watchdog per server SIGKILLs it (and removes the base directory this
 *     module created) once the test process is gone, which also covers a jest worker that was
 *     killed with SIGKILL, where no JavaScript runs any more.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { getFreePort } from './ports.js';

export interface PrivateServer {
  datadir: string; // absolute
  socket: string; // absolute unix socket path (short: sun_path is limited to 108 bytes)
  port: number;
  pidFile: string;
  baseDir: string; // temp dir holding everything of this server (datadir, socket, logs, tmp)
  errorLog: string;
  /** 0600 option file ([client] user, password, socket, charset) for `mariadb --defaults-file=...` and friends. */
  clientDefaultsFile: string;
  /** Root password in effect (undefined: root has no password). */
  rootPassword: string | undefined;
  /** The exact mariadbd command line this server runs with (for start scripts in daemon tests). */
  readonly commandLine: string[];
  /** Runs SQL through the `mariadb` client as root over the socket; returns stdout (tab separated, --batch --skip-column-names). Throws with stderr on failure. */
  sql(query: string, database?: string): Promise<string>;
  /** CHECKSUM TABLE for every base table in the given databases (default: all non-system databases): returns a map "db.table" -> checksum string. */
  checksums(databases?: string[]): Promise<Record<string, string>>;
  /** Graceful shutdown (SIGTERM by pid), waits until the process is gone; SIGKILL after 30 s. No-op when not running. */
  stop(): Promise<void>;
  /** (Re)starts on the same datadir/socket/port and waits until it answers `SELECT 1`. No-op when running. */
  start(): Promise<void>;
  /** stop(), then removes the base directory if this module created it. The object is unusable afterwards. */
  destroy(): Promise<void>;
}

export interface StartOptions {
  /** Default: fresh mkdtemp under os.tmpdir() ("bm-db-XXXXXX"), removed by stopAllServers()/destroy(). */
  baseDir?: string;
  /** Start on an EXISTING datadir (e.g. a restored one) instead of initialising a new one. It is chowned to `user`. */
  datadir?: string;
  /**
   * Fresh datadir: after init every root account gets this password (ALTER USER).
   * Existing datadir: the password root already has there (nothing is altered).
   * Either way sql() keeps working: the password goes into the 0600 defaults file, never on argv.
   */
  rootPassword?: string;
  /** OS user to run mariadbd as; default 'mysql' when running as root, else the current user. */
  user?: string;
  /** Appended to the mariadbd command line (not used for mariadb-install-db). */
  extraArgs?: string[];
}

/** Schemas that belong to the server itself; never part of "user data". */
export const SYSTEM_DATABASES: readonly string[] = ['mysql', 'information_schema', 'performance_schema', 'sys'];

const MARIADBD = process.env.MARIADBD_BIN ?? '/usr/sbin/mariadbd';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const KEEP_DIRS = !!process.env.BACKUPMATE_KEEP_TEST_DIRS;
const IS_ROOT = process.getuid?.() === 0;
// sun_path holds 108 bytes including the terminating NUL; leave some slack.
const MAX_SOCKET_PATH = 100;

/** Backtick-quotes an identifier for SQL text. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** Single-quotes a string literal for SQL text (default sql_mode, backslash escapes active). */
export function quoteString(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0') + "'";
}

/** Parses --batch --skip-column-names output into rows of columns (no unescaping: callers use it for names and numbers). */
export function parseRows(output: string): string[][] {
  return output
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

/** Base tables of the given databases (default: every non-system database), as [schema, table] sorted by name. */
export async function listBaseTables(server: PrivateServer, databases?: string[]): Promise<Array<[string, string]>> {
  const filter = databases
    ? databases.length === 0
      ? 'FALSE'
      : `table_schema IN (${databases.map(quoteString).join(', ')})`
    : `table_schema NOT IN (${SYSTEM_DATABASES.map(quoteString).join(', ')})`;
  const out = await server.sql(
    `SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND ${filter} ORDER BY table_schema, table_name`,
  );
  return parseRows(out).map((r) => [r[0]!, r[1]!]);
}

// ---------------------------------------------------------------------------------------------
// Registry of live servers and the process-exit fallback.

const running = new Set<ServerImpl>();
/** Base directories this module created (mkdtemp); removed on stopAllServers()/destroy(). */
const ownedDirs = new Set<string>();
/** startPrivateServer() calls in progress: stopAllServers() lets them settle before cleaning up. */
const pendingStarts = new Set<Promise<PrivateServer>>();

/**
 * PIDs to SIGKILL when the process exits. jest hands each test file a copy of `process` whose
 * 'exit' listeners the real process never calls, and its `require`/`createRequire` return that
 * copy too. Core module functions such as fs.statSync come from Node's own realm, so the
 * Function constructor of that realm evaluates `process` to the real object.
 * Test files share worker processes and each evaluates this module anew, hence one hook and one
 * pid set per process, keyed by a global symbol. 'exit' handlers must be synchronous: SIGKILL is
 * all they can do; directory removal is left to the watchdogs, which see this process disappear
 * a moment later.
 */
function killOnExitPids(): Set<number> {
  const realProcess = (fs.statSync.constructor as FunctionConstructor)('return process')() as NodeJS.Process;
  const key = Symbol.for('backupmate.test-helpers.kill-on-exit');
  const holder = realProcess as unknown as Record<symbol, Set<number> | undefined>;
  let pids = holder[key];
  if (!pids) {
    const set = new Set<number>();
    holder[key] = pids = set;
    realProcess.on('exit', () => {
      for (const pid of set) {
        try {
          realProcess.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  return pids;
}

/** Stops every server this module started (in parallel) and removes the base directories it created. */
export async function stopAllServers(): Promise<void> {
  // A test may reach afterAll while a sibling start of a Promise.all is still initialising;
  // removing its directory underneath it would leave a half-written datadir behind.
  await Promise.allSettled([...pendingStarts]);
  const servers = [...running];
  const results = await Promise.allSettled(servers.map((s) => s.stop()));
  if (!KEEP_DIRS) {
    await Promise.all([...ownedDirs].map((d) => fsp.rm(d, { recursive: true, force: true })));
    ownedDirs.clear();
  }
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    throw new Error(`stopAllServers: ${failed.length} server(s) failed to stop: ${failed.map((f) => String(f.reason)).join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Last `maxLines` lines of a file, starting no earlier than byte `fromOffset`; '' if unreadable. */
function tailFile(file: string, fromOffset = 0, maxLines = 40): string {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.min(fromOffset, buf.length)).toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
  } catch {
    return '';
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true when `p` settles within `ms`, false on timeout (the timer never keeps the process alive). */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    t.unref();
    p.then(
      () => {
        clearTimeout(t);
        resolve(true);
      },
      () => {
        clearTimeout(t);
        resolve(true);
      },
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Option-file value: always double-quoted so spaces, '#' and quotes in passwords survive. */
function cnfValue(v: string): string {
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/**
 * Detached shell that outlives a SIGKILLed test process: once `watchedPid` (this process) is
 * gone it SIGKILLs `serverPid` and removes `dir` (if given). It exits by itself as soon as the
 * server is gone, so a normal stop() leaves nothing behind.
 */
function spawnWatchdog(serverPid: number, dir: string | undefined): number | undefined {
  const script = `
parent=$1; server=$2; dir=$3
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1; done
kill -0 "$parent" 2>/dev/null && exit 0
kill -9 "$server" 2>/dev/null
[ -z "$dir" ] && exit 0
i=0; while kill -0 "$server" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
rm -rf -- "$dir"`;
  const wd = spawn('sh', ['-c', script, 'bm-watchdog', String(process.pid), String(serverPid), dir ?? ''], {
    detached: true,
    stdio: 'ignore',
  });
  wd.on('error', () => {}); // best effort: a missing watchdog must not fail the test
  wd.unref();
  return wd.pid;
}

class ServerImpl implements PrivateServer {
  readonly datadir: string;
  readonly socket: string;
  port: number;
  readonly pidFile: string;
  readonly baseDir: string;
  readonly errorLog: string;
  readonly clientDefaultsFile: string;
  rootPassword: string | undefined;

  private readonly stdoutLog: string;
  private readonly user: string | undefined;
  private readonly extraArgs: string[];
  private readonly chownTargets: string[];
  private readonly ownsBaseDir: boolean;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private watchdogPid: number | undefined;

  constructor(p: {
    baseDir: string;
    ownsBaseDir: boolean;
    datadir: string;
    socket: string;
    port: number;
    user: string | undefined;
    extraArgs: string[];
    chownTargets: string[];
  }) {
    this.baseDir = p.baseDir;
    this.ownsBaseDir = p.ownsBaseDir;
    this.datadir = p.datadir;
    this.socket = p.socket;
    this.port = p.port;
    this.user = p.user;
    this.extraArgs = p.extraArgs;
    this.chownTargets = p.chownTargets;
    this.pidFile = path.join(p.baseDir, 'mariadbd.pid');
    this.errorLog = path.join(p.baseDir, 'error.log');
    this.stdoutLog = path.join(p.baseDir, 'mariadbd.out');
    this.clientDefaultsFile = path.join(p.baseDir, 'client.cnf');
  }

  /** (Re)writes the client option file; it is the only place the password is stored. */
  writeClientDefaults(password: string | undefined): void {
    const lines = [
      '[client]',
      'user=root',
      `socket=${cnfValue(this.socket)}`,
      // The client's compiled-in default follows the OS locale (latin1 under C/POSIX).
      'default-character-set=utf8mb4',
    ];
    if (password !== undefined) lines.push(`password=${cnfValue(password)}`);
    fs.writeFileSync(this.clientDefaultsFile, lines.join('\n') + '\n', { mode: 0o600 });
    fs.chmodSync(this.clientDefaultsFile, 0o600); // mode is ignored when the file already exists
    this.rootPassword = password;
  }

  async sql(query: string, database?: string): Promise<string> {
    // --defaults-file must be the first argument; the query goes through stdin (no argv size
    // limit, not visible in ps).
    const args = [`--defaults-file=${this.clientDefaultsFile}`, '--batch', '--skip-column-names'];
    if (database !== undefined) args.push(`--database=${database}`);
    const r = await execa('mariadb', args, { input: query, reject: false });
    if (r.exitCode !== 0 || r.failed) {
      const q = query.length > 500 ? query.slice(0, 500) + '...' : query;
      throw new Error(`SQL failed on ${this.socket} (exit ${r.exitCode ?? r.signal}): ${String(r.stderr).trim()}\nquery: ${q}`);
    }
    return String(r.stdout);
  }

  async checksums(databases?: string[]): Promise<Record<string, string>> {
    const tables = await listBaseTables(this, databases);
    const result: Record<string, string> = {};
    if (tables.length === 0) return result;
    // EXTENDED: always read every row, so MyISAM/Aria (live checksum or not) and InnoDB are
    // compared the same way on the source and the restored copy.
    const out = await this.sql(`CHECKSUM TABLE ${tables.map(([d, t]) => `${quoteIdent(d)}.${quoteIdent(t)}`).join(', ')} EXTENDED`);
    for (const line of out.split('\n')) {
      if (!line) continue;
      const tab = line.lastIndexOf('\t');
      result[line.slice(0, tab)] = line.slice(tab + 1);
    }
    return result;
  }

  /** The exact mariadbd command line this server runs with (for start scripts in daemon tests). */
  get commandLine(): string[] {
    return [MARIADBD, ...this.mariadbdArgs()];
  }

  private mariadbdArgs(): string[] {
    const args = [
      '--no-defaults',
      `--datadir=${this.datadir}`,
      `--socket=${this.socket}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${this.pidFile}`,
      `--log-error=${this.errorLog}`,
      `--log-bin=${path.join(this.baseDir, 'binlog', 'mysql-bin')}`,
      '--server-id=1',
      '--innodb-buffer-pool-size=128M',
      '--innodb-log-file-size=64M',
      '--skip-name-resolve',
      `--tmpdir=${path.join(this.baseDir, 'tmp')}`,
    ];
    if (this.user !== undefined) args.push(`--user=${this.user}`);
    return [...args, ...this.extraArgs];
  }

  /**
   * mariadbd drops privileges to `user` and must own everything it writes. Re-done on every
   * start because tests may copy/restore files into the datadir as root between stop and start.
   */
  async chownAll(): Promise<void> {
    if (this.user === undefined) return;
    await execa('chown', ['-R', `${this.user}:`, ...this.chownTargets]);
  }

  async start(): Promise<void> {
    if (this.child) return;
    await this.chownAll();
    // Only a port we picked ourselves is re-picked on a bind failure (another test process may
    // have taken it); on a restart the port stays, since callers may have configured it.
    const firstStart = this.exited === undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnAndWait();
        return;
      } catch (err) {
        const bindFailure = err instanceof Error && /Address already in use|Bind on TCP\/IP port/.test(err.message);
        if (!(firstStart && bindFailure && attempt < 5)) throw err;
        this.port = await getFreePort();
      }
    }
  }

  private async spawnAndWait(): Promise<void> {
    const logOffset = fileSize(this.errorLog);
    const outOffset = fileSize(this.stdoutLog);
    const out = fs.openSync(this.stdoutLog, 'a');
    let child: ChildProcess;
    try {
      // Own process group + unref: a terminal ^C or jest's worker teardown must not kill the
      // server half-way (we shut it down ourselves), and a forgotten server must not keep the
      // jest worker alive (the exit hook / watchdog then kill it).
      child = spawn(MARIADBD, this.mariadbdArgs(), { stdio: ['ignore', out, out], detached: true });
    } finally {
      fs.closeSync(out);
    }
    child.unref();
    let exitInfo: string | undefined;
    let spawnError: Error | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = `exit code ${code ?? '-'}, signal ${signal ?? '-'}`;
        if (child.pid !== undefined) killOnExitPids().delete(child.pid);
        if (this.child === child) {
          this.child = undefined;
          running.delete(this);
        }
        resolve();
      });
      // 'error' without 'exit' means the binary could not be spawned at all.
      child.once('error', (err) => {
        spawnError = err;
        exitInfo = `spawn error: ${err.message}`;
        if (this.child === child) {
          this.child = undefined;
          running.delete(this);
        }
        resolve();
      });
    });
    this.child = child;
    running.add(this);
    if (child.pid !== undefined) {
      killOnExitPids().add(child.pid);
      this.watchdogPid = spawnWatchdog(child.pid, this.ownsBaseDir && !KEEP_DIRS ? this.baseDir : undefined);
    }

    const diagnostics = () =>
      `\n--- error log (${this.errorLog}) ---\n${tailFile(this.errorLog, logOffset)}` +
      `\n--- stdout/stderr ---\n${tailFile(this.stdoutLog, outOffset, 10)}`;

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exitInfo !== undefined || !this.child) {
        if (spawnError) throw new Error(`could not spawn ${MARIADBD}: ${spawnError.message}`);
        throw new Error(
          `mariadbd exited during startup (${exitInfo}); datadir ${this.datadir} must be readable/writable by ` +
            `${this.user ?? 'the current user'} including all parent directories${diagnostics()}`,
        );
      }
      try {
        await this.sql('SELECT 1');
        return;
      } catch {
        // not ready yet
      }
      if (Date.now() > deadline) {
        this.killNow();
        await this.exited;
        throw new Error(`mariadbd did not answer SELECT 1 within ${READY_TIMEOUT_MS / 1000} s${diagnostics()}`);
      }
      await sleep(200);
    }
  }

  /** Synchronous SIGKILL (for timeouts). */
  killNow(): void {
    const pid = this.child?.pid;
    if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined) {
      // SIGTERM makes mariadbd do a normal shutdown (InnoDB flush, binlog close) without needing
      // credentials, unlike `mariadb-admin shutdown`.
      if (isAlive(child.pid)) process.kill(child.pid, 'SIGTERM');
      if (!(await within(this.exited!, STOP_TIMEOUT_MS))) {
        this.killNow();
        await this.exited;
      }
    }
    this.child = undefined;
    running.delete(this);
    // The watchdog would notice the server is gone within a second; don't wait for that.
    if (this.watchdogPid !== undefined && isAlive(this.watchdogPid)) {
      try {
        process.kill(this.watchdogPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    this.watchdogPid = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (this.ownsBaseDir && !KEEP_DIRS) {
      await fsp.rm(this.baseDir, { recursive: true, force: true });
      ownedDirs.delete(this.baseDir);
    }
  }
}

/** Resolves the OS user mariadbd runs as (see StartOptions.user); undefined: no --user flag. */
function resolveUser(requested: string | undefined): string | undefined {
  if (IS_ROOT) return requested ?? 'mysql';
  const me = os.userInfo().username;
  if (requested !== undefined && requested !== me) {
    throw new Error(`startPrivateServer: cannot run mariadbd as '${requested}' without root (current user '${me}')`);
  }
  return undefined;
}

export async function startPrivateServer(opts: StartOptions = {}): Promise<PrivateServer> {
  const starting = createServer(opts);
  pendingStarts.add(starting);
  try {
    return await starting;
  } finally {
    pendingStarts.delete(starting);
  }
}

async function createServer(opts: StartOptions): Promise<PrivateServer> {
  const user = resolveUser(opts.user);
  const ownsBaseDir = opts.baseDir === undefined;
  const baseDir = ownsBaseDir ? await fsp.mkdtemp(path.join(os.tmpdir(), 'bm-db-')) : path.resolve(opts.baseDir!);
  // Directories created here; a failed start removes them again (the error carries the log tails).
  const created: string[] = ownsBaseDir ? [baseDir] : [];
  created.forEach((d) => ownedDirs.add(d));
  let server: ServerImpl | undefined;
  try {
    await fsp.mkdir(path.join(baseDir, 'binlog'), { recursive: true });
    await fsp.mkdir(path.join(baseDir, 'tmp'), { recursive: true });

    // The socket normally lives in baseDir; a long caller-supplied baseDir would overflow
    // sun_path, so then it goes to its own short directory under /tmp.
    let socket = path.join(baseDir, 'mysqld.sock');
    const chownTargets = [baseDir];
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      const sockDir = await fsp.mkdtemp('/tmp/bm-sock-');
      created.push(sockDir);
      ownedDirs.add(sockDir);
      chownTargets.push(sockDir);
      socket = path.join(sockDir, 'mysqld.sock');
    }

    let datadir: string;
    if (opts.datadir !== undefined) {
      datadir = path.resolve(opts.datadir);
      const st = await fsp.stat(datadir).catch(() => undefined);
      if (!st?.isDirectory()) throw new Error(`startPrivateServer: datadir ${datadir} does not exist`);
      if (!datadir.startsWith(baseDir + path.sep)) chownTargets.push(datadir);
    } else {
      datadir = path.join(baseDir, 'data');
      await fsp.mkdir(datadir, { recursive: true });
    }

    server = new ServerImpl({
      baseDir,
      ownsBaseDir,
      datadir,
      socket,
      port: await getFreePort(),
      user,
      extraArgs: opts.extraArgs ?? [],
      chownTargets,
    });

    if (opts.datadir === undefined) {
      await server.chownAll();
      await installDb(datadir, path.join(baseDir, 'tmp'), user);
      server.writeClientDefaults(undefined);
      await server.start();
      if (opts.rootPassword !== undefined) {
        // Every reachable root account, not only root@localhost: otherwise TCP logins
        // (root@127.0.0.1, root@::1) would stay password-less and password tests would prove
        // nothing. root@<hostname> can't be altered (nor used) under --skip-name-resolve.
        const accounts = parseRows(
          await server.sql("SELECT user, host FROM mysql.user WHERE user = 'root' AND host IN ('localhost', '127.0.0.1', '::1')"),
        );
        const stmts = accounts
          .map(([u, h]) => `ALTER USER ${quoteString(u!)}@${quoteString(h!)} IDENTIFIED BY ${quoteString(opts.rootPassword!)};`)
          .join('\n');
        await server.sql(stmts);
        server.writeClientDefaults(opts.rootPassword);
      }
    } else {
      server.writeClientDefaults(opts.rootPassword);
      await server.start();
    }
    return server;
  } catch (err) {
    await server?.stop().catch(() => {});
    if (!KEEP_DIRS) {
      for (const d of created) {
        await fsp.rm(d, { recursive: true, force: true });
        ownedDirs.delete(d);
      }
    }
    throw err;
  }
}

/** Initialises a fresh datadir (system tables, root@localhost etc. without password, no test db). */
async function installDb(datadir: string, tmpdir: string, user: string | undefined): Promise<void> {
  const args = [
    '--no-defaults',
    `--datadir=${datadir}`,
    // Own tmpdir: concurrent bootstraps sharing /tmp clash on temporary table files
    // ("Unknown table 'mysql.tmp_user_sys'").
    `--tmpdir=${tmpdir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    // Grant entries by IP; it still creates root@<hostname>, which the server later only warns about.
    '--skip-name-resolve',
    // Same InnoDB sizes as the server, so the first start needn't resize the redo log.
    '--innodb-buffer-pool-size=128M',
    '--innodb-log-file-size=64M',
  ];
  if (user !== undefined) args.push(`--user=${user}`);
  const r = await execa('mariadb-install-db', args, { reject: false, all: true });
  if (r.exitCode !== 0) {
    // The actual error comes first; the rest of the output is generic advice.
    const lines = String(r.all).split('\n').filter((l) => l.trim() !== '');
    throw new Error(`mariadb-install-db failed (exit ${r.exitCode}):\n${lines.slice(0, 15).join('\n')}`);
  }
  // It leaves a root-owned mysql_upgrade_info in the datadir; start() chowns everything again.
}
