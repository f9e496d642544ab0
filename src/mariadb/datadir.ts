/**
 * The datadir and the server that owns it: is it running, moving it aside, ownership.
 *
 * A restore must never write into a datadir a live server is using, and never delete the old
 * datadir: it is renamed aside (`<datadir>.before-restore-<stamp>`) so a bad restore can be
 * rolled back with one `mv`.
 */
import { runCommand } from '../archive/command.js';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';

/** How {@link findRunningServer} may ask the DB_SOCKET server where its datadir is. */
export interface RunningServerProbe {
  /** DB_SOCKET: the configured server's socket ('' or absent = not configured). */
  socket?: string;
  /**
   * Asks the server on `socket` for its `@@datadir` (with the DB_USER connection). Without it,
   * a server answering on the socket says nothing about the target.
   */
  askDatadir?: () => Promise<string>;
  /** Receives the debug line when the socket answers but its datadir cannot be asked. */
  log?: Pick<Logger, 'debug'>;
  /** /proc/locks (tests). */
  procLocks?: string;
}

/**
 * Describes a server that is using `datadir`, or null if none is. Decided from the target itself,
 * first match wins:
 *   1. a pid file in the datadir whose process is alive;
 *   2. a mariadbd/mysqld whose working directory is the datadir (mariadbd chdirs into it; reading
 *      another user's /proc/PID/cwd needs root or CAP_SYS_PTRACE);
 *   3. a lock on ibdata1 or aria_log_control (InnoDB and Aria take fcntl write locks on them;
 *      /proc/locks is readable without any capability);
 *   4. the DB_SOCKET server, ONLY if its own @@datadir is the target (same real path). Restoring
 *      beside production, into a new datadir, is the most common restore: a server that answers
 *      on DB_SOCKET for another datadir does not count, nor does one whose datadir cannot be asked.
 */
export async function findRunningServer(datadir: string, probe: RunningServerProbe = {}): Promise<string | null> {
  const real = await realOrResolved(datadir);
  // 1. pid files in the datadir whose process is alive.
  try {
    for (const name of await fs.readdir(real)) {
      if (!name.endsWith('.pid')) continue;
      const pid = Number((await fs.readFile(path.join(real, name), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return `process ${pid} (pid file ${path.join(real, name)})`;
    }
  } catch {
    /* no datadir: nothing runs on it */
  }
  // 2. a mariadbd/mysqld whose working directory is the datadir.
  let procs: string[] = [];
  try {
    procs = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    /* not Linux */
  }
  for (const pid of procs) {
    try {
      const comm = (await fs.readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      if (!/^(mariadbd|mysqld)$/.test(comm)) continue;
      const cwd = await fs.readlink(`/proc/${pid}/cwd`);
      if (cwd === real) return `${comm} process ${pid} (working directory ${real})`;
    } catch {
      /* gone, or not ours to inspect */
    }
  }
  // 3. the locks a running server holds on its datadir's files.
  const holder = await findLockHolder(real, probe.procLocks);
  if (holder) return holder;
  // 4. the configured socket's server, if it says it uses this datadir.
  if (probe.socket && (await socketAnswers(probe.socket))) {
    if (!probe.askDatadir) {
      probe.log?.debug(`a server answers on ${probe.socket} (DB_SOCKET); its datadir was not asked, so it does not count as running on ${real}`, {
        event: 'restore.target_check',
        socket: probe.socket,
      });
      return null;
    }
    let theirs: string;
    try {
      theirs = (await probe.askDatadir()).trim();
    } catch (e) {
      probe.log?.debug(
        `a server answers on ${probe.socket} (DB_SOCKET) but its @@datadir could not be asked (${errorText(e)}): ` +
          `not counted as running on ${real}; the pid file, process and lock checks decide`,
        { event: 'restore.target_check', socket: probe.socket },
      );
      return null;
    }
    if (theirs && (await realOrResolved(theirs)) === real) return `the server answering on socket ${probe.socket} (DB_SOCKET) reports @@datadir=${theirs}`;
    probe.log?.debug(`the server on ${probe.socket} (DB_SOCKET) uses ${theirs || '(no datadir)'}, not ${real}`, {
      event: 'restore.target_check',
      socket: probe.socket,
      serverDatadir: theirs,
    });
  }
  return null;
}

/** The real path of `p`, or its absolute form when it does not exist (yet). */
export async function realOrResolved(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}

/** Files a running server keeps an fcntl write lock on: InnoDB's system tablespace, Aria's control file. */
export const LOCKED_FILES = ['ibdata1', 'aria_log_control'] as const;

/** One line of /proc/locks. */
export interface ProcLock {
  /** POSIX, FLOCK, OFDLCK, LEASE... */
  type: string;
  /** READ or WRITE (or UNLCK...). */
  access: string;
  /** The holder; -1 for OFD locks, 0 when the holder is in another pid namespace. */
  pid: number;
  major: number;
  minor: number;
  inode: bigint;
  /** A waiter ("->" lines) blocked on the lock above, not a holder. */
  blocked: boolean;
}

/**
 * Parses /proc/locks (pure). The kernel prints (fs/locks.c, lock_get_status)
 * `N: [-> ]TYPE ADVISORY|MANDATORY READ|WRITE PID MAJ:MIN:INODE START END`, with MAJ and MIN
 * in hex and INODE in decimal, e.g. `1: POSIX  ADVISORY  WRITE 12622 fe:00:2205250 0 EOF`.
 * Lines that do not match are skipped.
 */
export function parseProcLocks(text: string): ProcLock[] {
  const out: ProcLock[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(->\s+)?(\S+)\s+\S+\s+(\S+)\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/i.exec(line);
    if (!m) continue;
    out.push({
      type: m[2],
      access: m[3],
      pid: Number(m[4]),
      major: parseInt(m[5], 16),
      minor: parseInt(m[6], 16),
      inode: BigInt(m[7]),
      blocked: !!m[1],
    });
  }
  return out;
}

/** The major and minor numbers of a stat() st_dev (glibc's gnu_dev_major/minor encoding). */
export function devNumbers(dev: bigint): { major: number; minor: number } {
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn)),
  };
}

/**
 * The lock a running server holds on one of `datadir`'s {@link LOCKED_FILES} (pure): matched by
 * device and inode; waiters do not count. Null when none is locked.
 */
export function lockOnFiles(locks: readonly ProcLock[], files: readonly { file: string; dev: bigint; ino: bigint }[]): { file: string; lock: ProcLock } | null {
  for (const f of files) {
    const { major, minor } = devNumbers(f.dev);
    const lock = locks.find((l) => !l.blocked && l.inode === f.ino && l.major === major && l.minor === minor);
    if (lock) return { file: f.file, lock };
  }
  return null;
}

/**
 * Describes the process holding a lock on the datadir's ibdata1 or aria_log_control, or null.
 * Needs no ptrace capability (unlike /proc/PID/cwd). Null also when /proc/locks cannot be read
 * (not Linux): the other checks of findRunningServer still run.
 */
export async function findLockHolder(datadir: string, procLocks = '/proc/locks'): Promise<string | null> {
  const files: { file: string; dev: bigint; ino: bigint }[] = [];
  for (const name of LOCKED_FILES) {
    const file = path.join(datadir, name);
    const st = await fs.stat(file, { bigint: true }).catch(() => null);
    if (st?.isFile()) files.push({ file, dev: st.dev, ino: st.ino });
  }
  if (!files.length) return null;
  const text = await fs.readFile(procLocks, 'utf8').catch(() => '');
  const hit = lockOnFiles(parseProcLocks(text), files);
  if (!hit) return null;
  const pid = hit.lock.pid;
  const comm = pid > 0 ? (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() : '';
  const who = pid > 0 ? `${comm || 'process'} process ${pid}` : 'a process (outside this pid namespace)';
  return `${who} holds a ${hit.lock.access.toLowerCase()} lock on ${hit.file}`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when something accepts a connection on the unix socket within 2 s. */
export function socketAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    const done = (ok: boolean) => {
      c.destroy();
      resolve(ok);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(2000, () => done(false));
  });
}

export async function isEmptyDir(dir: string): Promise<boolean | null> {
  try {
    return (await fs.readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Renames a non-empty datadir aside and recreates it empty with the same mode and owner.
 * Returns where the old one went, or null when there was nothing to move.
 */
export async function moveDatadirAside(datadir: string, stamp: string): Promise<string | null> {
  const empty = await isEmptyDir(datadir);
  if (empty === null) {
    await fs.mkdir(datadir, { recursive: true, mode: 0o750 });
    return null;
  }
  if (empty) return null;
  const st = await fs.stat(datadir);
  let aside = `${datadir.replace(/\/+$/, '')}.before-restore-${stamp}`;
  for (let i = 1; await exists(aside); i++) aside = `${datadir.replace(/\/+$/, '')}.before-restore-${stamp}-${i}`;
  try {
    await fs.rename(datadir, aside);
  } catch (e) {
    throw new BackupmateError('TARGET_STATE', `cannot move the datadir ${datadir} aside to ${aside}: ${errorText(e)}`);
  }
  await fs.mkdir(datadir);
  // chmod, not mkdir's mode: the service's UMask=0077 would mask the old mode away.
  await fs.chmod(datadir, st.mode & 0o7777);
  await fs.chown(datadir, st.uid, st.gid).catch(() => {});
  return aside;
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** `chown -R user: dir` (the user's login group). Fails clearly when the user does not exist. */
export async function chownRecursive(dir: string, user: string): Promise<void> {
  const r = await runCommand('chown', ['-R', `${user}:`, dir]);
  if (r.failed) {
    throw new BackupmateError('LOCAL_IO', `chown -R ${user}: ${dir} failed (MARIADB_OS_USER=${user}): ${(r.all || r.shortMessage).trim()}`);
  }
}

/** Free bytes on the filesystem holding `dir` (or its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number> {
  let p = path.resolve(dir);
  for (;;) {
    try {
      const st = await fs.statfs(p);
      return st.bavail * st.bsize;
    } catch (e) {
      const parent = path.dirname(p);
      if (parent === p) throw e;
      p = parent;
    }
  }
}
