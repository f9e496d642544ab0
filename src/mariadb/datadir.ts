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

/** Describes a server that is using `datadir` (or answering on `socket`), or null if none is. */
export async function findRunningServer(datadir: string, socket?: string): Promise<string | null> {
  const real = await fs.realpath(datadir).catch(() => path.resolve(datadir));
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
  // 2. a mariadbd/mysqld whose working directory is the datadir (mariadbd chdirs into it).
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
  // 3. the configured socket answers.
  if (socket && (await socketAnswers(socket))) return `a server answering on socket ${socket} (DB_SOCKET)`;
  return null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function socketAnswers(socket: string): Promise<boolean> {
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
