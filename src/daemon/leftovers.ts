/**
 * Local leftovers of jobs that died with their process (kill -9, crash, power loss): the job
 * directories in LOCAL_TEMP_DIR. A `backup-<id>-*` directory holds the 0600 option file with the
 * DB password (and the LSN files); `query-*` holds the mariadb client's option file
 * (mariadb/server.ts); `restore-<id>-*` is a restore's staging copy and `verify-<id>-*` verify's
 * scratch directory, both as large as the data set.
 *
 * Contract: a directory is removed only when no live process uses it. "Uses" means its working
 * directory, an open file descriptor or an argument (e.g. `--defaults-file=…/backup.cnf`,
 * `mbstream -x -C …`, `--target-dir=…`) lies inside it. The arguments count because a one-shot
 * `backupmate backup` from cron may run beside the daemon: its mariabackup has read the option
 * file already and may hold no descriptor there for a moment, but it still needs the directory
 * (its LSN files are written there at the end). A process list that cannot be read at all is no
 * permission to delete: nothing is removed then (see ProcessScan).
 *
 * The decision is the pure `tempDirsToRemove`; reading /proc is behind `ProcessScan` (the unit
 * has CAP_SYS_PTRACE, so root can read other processes' cwd and fd links).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';

/** The job directory names this release creates in LOCAL_TEMP_DIR (mkdtemp prefixes). */
// into-server-preflight-: a logical restore's preflight; .into-server.partial-: its staging (both may hold a 0600 option file).
export const JOB_DIR_PATTERN = /^(backup|query|restore|verify|into-server-preflight)-|^\.into-server\.partial-/;

/** What a live process refers to: its cwd, the targets of its fds, and its arguments. */
export interface ProcessRefs {
  pid: number;
  paths: string[];
}

export interface ProcessScan {
  /** Every live process's references; rejects when the process list itself cannot be read. */
  processes(): Promise<ProcessRefs[]>;
}

export interface TempDirDecision {
  dir: string;
  remove: boolean;
  /** Why: "no live process uses it", or which process does. */
  reason: string;
}

/** True when `p` is `dir` or lies inside it (a reference may carry a prefix like `--defaults-file=`). */
function refersTo(ref: string, dir: string): boolean {
  const at = ref.indexOf(dir);
  if (at < 0) return false;
  const rest = ref.slice(at + dir.length);
  return rest === '' || rest.startsWith('/') || rest === ' (deleted)';
}

/**
 * Which of `names` (entries of `tempDir`) are job directories to remove. Only names matching
 * JOB_DIR_PATTERN are considered (anything else in LOCAL_TEMP_DIR is not ours to judge); each
 * kept directory names the first process that uses it.
 */
export function tempDirsToRemove(tempDir: string, names: readonly string[], procs: readonly ProcessRefs[]): TempDirDecision[] {
  const out: TempDirDecision[] = [];
  for (const name of names) {
    if (!JOB_DIR_PATTERN.test(name)) continue;
    const dir = path.join(tempDir, name);
    const user = procs.find((p) => p.paths.some((ref) => refersTo(ref, dir)));
    out.push(user ? { dir, remove: false, reason: `process ${user.pid} uses it` } : { dir, remove: true, reason: 'no live process uses it' });
  }
  return out;
}

/**
 * /proc: for each numeric entry, readlink cwd and fd/*, and the NUL-separated cmdline. A process
 * that ends while it is read is skipped; one whose links cannot be read (EACCES without
 * CAP_SYS_PTRACE) still contributes its cmdline, which is world-readable.
 */
export function procScan(root = '/proc'): ProcessScan {
  return {
    async processes() {
      const entries = await fs.readdir(root);
      const out: ProcessRefs[] = [];
      for (const e of entries) {
        if (!/^\d+$/.test(e)) continue;
        const base = path.join(root, e);
        const paths: string[] = [];
        const link = (p: string) => fs.readlink(p).then((t) => void paths.push(t), () => {});
        await link(path.join(base, 'cwd'));
        const fds = await fs.readdir(path.join(base, 'fd')).catch(() => [] as string[]);
        for (const fd of fds) await link(path.join(base, 'fd', fd));
        const cmdline = await fs.readFile(path.join(base, 'cmdline'), 'utf8').catch(() => '');
        paths.push(...cmdline.split('\0').filter(Boolean));
        out.push({ pid: Number(e), paths });
      }
      return out;
    },
  };
}

/**
 * Removes the job directories in `tempDir` that no live process uses; logs each removal
 * (`daemon.cleanup`, path only: never contents) and each directory kept because it is in use.
 * Never throws: a failure is logged and the directories stay for the next start.
 */
export async function removeDeadTempDirs(tempDir: string, scan: ProcessScan, log: Logger): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(tempDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      log.warn(`cannot read LOCAL_TEMP_DIR ${tempDir} to remove dead jobs' temp dirs: ${errorText(e)}`, { event: 'daemon.cleanup', status: 'failed', path: tempDir });
    }
    return [];
  }
  if (!names.some((n) => JOB_DIR_PATTERN.test(n))) return [];
  let procs: ProcessRefs[];
  try {
    procs = await scan.processes();
  } catch (e) {
    log.warn(`cannot list the running processes (${errorText(e)}): job temp dirs in ${tempDir} are left alone`, { event: 'daemon.cleanup', status: 'failed', path: tempDir });
    return [];
  }
  const removed: string[] = [];
  for (const d of tempDirsToRemove(tempDir, names, procs)) {
    if (!d.remove) {
      log.info(`kept ${d.dir}: ${d.reason}`, { event: 'daemon.cleanup', path: d.dir, status: 'kept', reason: d.reason });
      continue;
    }
    try {
      await fs.rm(d.dir, { recursive: true, force: true });
      removed.push(d.dir);
      log.info(`removed ${d.dir}, left by a job that died (${d.reason})`, { event: 'daemon.cleanup', path: d.dir, status: 'removed' });
    } catch (e) {
      log.warn(`cannot remove ${d.dir}: ${errorText(e)}`, { event: 'daemon.cleanup', path: d.dir, status: 'failed' });
    }
  }
  return removed;
}
