/**
 * What `config check` can tell about a configuration on this host without the server or the
 * store: the directories backupmate writes can be created and written, the files it reads can be
 * read, the programs it runs are on PATH (and which versions). Also the local part of
 * `backupmate check`.
 *
 * The decisions are pure functions over a LocalProbe (stat, access, run a program), so they are
 * unit-tested with a scripted probe; nodeProbe() is the real one. A check never creates anything:
 * a directory that does not exist yet is judged by its nearest existing parent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCommand } from '../archive/command.js';
import type { Config } from '../config/load.js';
import type { ErrorCode } from '../domain/errors.js';

/** What is at a path, as far as this user can see. */
export type PathKind = 'dir' | 'file' | 'other' | 'missing' | 'inaccessible';

export interface ToolRun {
  /** The program ran and exited 0; `output` is what it printed (stdout and stderr). */
  ok: boolean;
  /** It could not be started because it does not exist (ENOENT). */
  missing: boolean;
  output: string;
  /** Why it failed, one line. */
  reason: string;
}

/** The side effects the local checks need; nothing here writes. */
export interface LocalProbe {
  kind(p: string): PathKind;
  /** Whether this process may read (a file) or create entries in (a directory) `p`. */
  can(p: string, what: 'read' | 'write'): boolean;
  run(file: string, args: readonly string[]): Promise<ToolRun>;
  /** Bytes available to this user on the filesystem holding `dir`. */
  freeBytes(dir: string): number;
  /** "uid 998" or "root", for messages about permissions. */
  readonly user: string;
}

/** One line of a check's report. */
export interface CheckResult {
  /** The configuration key (or program) the line is about, e.g. LOCAL_TEMP_DIR. */
  key: string;
  ok: boolean;
  /** What is fine (a version, "writable") or what is wrong and why, one line, naming the key. */
  text: string;
  /** The error code a failure maps to (its exit status); CONFIG for everything local. */
  code: ErrorCode;
}

const ok = (key: string, text: string): CheckResult => ({ key, ok: true, text, code: 'CONFIG' });
const failed = (key: string, text: string, code: ErrorCode = 'CONFIG'): CheckResult => ({ key, ok: false, text, code });

/**
 * A directory backupmate creates if needed and then writes into. `/etc/passwd/x` cannot be
 * created because /etc/passwd is a file: the message names the component that is in the way.
 */
export function checkWritableDir(key: string, dir: string, probe: LocalProbe): CheckResult {
  const kind = probe.kind(dir);
  if (kind === 'dir') {
    return probe.can(dir, 'write') ? ok(key, `${key} ${dir} is a writable directory`) : failed(key, `${key} ${dir} is not writable by ${probe.user}`);
  }
  if (kind === 'file' || kind === 'other') return failed(key, `${key} ${dir} is not a directory`);
  if (kind === 'inaccessible') return failed(key, `${key} ${dir} cannot be checked: permission denied on the way to it (for ${probe.user})`);
  // Missing: whoever creates it needs the nearest existing ancestor to be a writable directory.
  for (let p = dir; ; ) {
    const parent = path.dirname(p);
    if (parent === p) return failed(key, `${key} ${dir} cannot be created: no existing parent directory`);
    const k = probe.kind(parent);
    if (k === 'missing') {
      p = parent;
      continue;
    }
    if (k === 'file' || k === 'other') return failed(key, `${key} ${dir} cannot be created: ${parent} is not a directory`);
    if (k === 'inaccessible') return failed(key, `${key} ${dir} cannot be created: permission denied on ${parent} (for ${probe.user})`);
    if (!probe.can(parent, 'write')) return failed(key, `${key} ${dir} cannot be created: ${parent} is not writable by ${probe.user}`);
    return ok(key, `${key} ${dir} does not exist yet and can be created in ${parent}`);
  }
}

/** A file backupmate reads (an identity, a recipients list). */
export function checkReadableFile(key: string, file: string, probe: LocalProbe): CheckResult {
  const kind = probe.kind(file);
  if (kind === 'missing') return failed(key, `${key} ${file} cannot be read: no such file`);
  if (kind === 'dir') return failed(key, `${key} ${file} cannot be read: it is a directory`);
  if (kind === 'inaccessible' || !probe.can(file, 'read')) return failed(key, `${key} ${file} cannot be read: permission denied (for ${probe.user})`);
  return ok(key, `${key} ${file} is readable`);
}

/** A program backupmate runs, the key that names or requires it, and how to ask its version. */
export interface ToolSpec {
  key: string;
  file: string;
  args: readonly string[];
  /** Why it is needed, for the failure line ("COMPRESSION=zstd needs zstd"). */
  needed: string;
  /** Debian package that provides it. */
  pkg: string;
}

/** The programs this configuration runs (pure). */
export function toolsFor(c: Pick<Config, 'MARIADB_BACKUP_PATH' | 'MBSTREAM_PATH' | 'COMPRESSION' | 'ENCRYPTION'>): ToolSpec[] {
  const tools: ToolSpec[] = [
    { key: 'MARIADB_BACKUP_PATH', file: c.MARIADB_BACKUP_PATH, args: ['--version'], needed: `MARIADB_BACKUP_PATH=${c.MARIADB_BACKUP_PATH}`, pkg: 'mariadb-backup' },
    { key: 'MBSTREAM_PATH', file: c.MBSTREAM_PATH, args: ['--help'], needed: `MBSTREAM_PATH=${c.MBSTREAM_PATH}`, pkg: 'mariadb-backup' },
    { key: 'DB_USER', file: 'mariadb', args: ['--version'], needed: 'the mariadb client, for the server\'s version and the grants of DB_USER', pkg: 'mariadb-client' },
  ];
  if (c.COMPRESSION !== 'none') {
    tools.push({ key: 'COMPRESSION', file: c.COMPRESSION, args: ['--version'], needed: `COMPRESSION=${c.COMPRESSION}`, pkg: c.COMPRESSION });
  }
  if (c.ENCRYPTION === 'age') tools.push({ key: 'ENCRYPTION', file: 'age', args: ['--version'], needed: 'ENCRYPTION=age', pkg: 'age' });
  return tools;
}

/** The version a program printed: the first version-like token, else its first line (pure). */
export function versionFrom(output: string): string {
  const based = /based on MariaDB server (\S+)/.exec(output);
  if (based) return based[1]!;
  const distrib = /Distrib (\S+?),?\s/.exec(output);
  if (distrib) return distrib[1]!;
  const m = /\bv?(\d+\.\d+(?:\.\d+)*)\b/.exec(output);
  if (m) return m[1]!;
  return output.trim().split('\n')[0] ?? '';
}

export async function checkTool(t: ToolSpec, probe: LocalProbe): Promise<CheckResult> {
  const r = await probe.run(t.file, t.args);
  const label = t.file === path.basename(t.file) ? t.file : `${path.basename(t.file)} (${t.file})`;
  if (r.ok) return ok(t.key, `${label} ${versionFrom(r.output)} (${t.needed})`);
  if (r.missing) return failed(t.key, `${t.key}: ${t.needed} needs ${t.file}, which is not installed or not on PATH (Debian package ${t.pkg})`);
  return failed(t.key, `${t.key}: ${t.needed}: "${[t.file, ...t.args].join(' ')}" failed: ${r.reason}`);
}

/**
 * Every local check for this configuration, in a fixed order: directories, files, programs.
 * `config check` turns each failure into one problem line and exit 78.
 */
export async function localChecks(c: Config, probe: LocalProbe): Promise<CheckResult[]> {
  const results: CheckResult[] = [
    checkWritableDir('LOCAL_TEMP_DIR', c.LOCAL_TEMP_DIR, probe),
    checkWritableDir('STATE_DIR', c.STATE_DIR, probe),
  ];
  if (c.STORAGE === 'file') results.push(checkWritableDir('STORAGE_PATH', c.STORAGE_PATH, probe));
  if (c.LOG_FILE) results.push(withKeyValue(checkWritableDir('LOG_FILE', path.dirname(c.LOG_FILE), probe), 'LOG_FILE', c.LOG_FILE));
  results.push(withKeyValue(checkWritableDir('CONTROL_SOCKET', path.dirname(c.CONTROL_SOCKET), probe), 'CONTROL_SOCKET', c.CONTROL_SOCKET));
  if (c.AGE_IDENTITY_FILE) results.push(checkReadableFile('AGE_IDENTITY_FILE', c.AGE_IDENTITY_FILE, probe));
  if (c.ENCRYPTION === 'age' && c.AGE_RECIPIENTS.trim().startsWith('/')) results.push(checkReadableFile('AGE_RECIPIENTS', c.AGE_RECIPIENTS.trim(), probe));
  for (const t of toolsFor(c)) results.push(await checkTool(t, probe));
  return results;
}

/** "LOG_FILE /var/log/x" reads better than the directory's key-less line for file-valued keys. */
function withKeyValue(r: CheckResult, key: string, value: string): CheckResult {
  return { ...r, text: r.text.replace(`${key} `, `${key} ${value}: directory `) };
}

/** The real probe: fs.statSync / accessSync, runCommand, statfsSync. */
export function nodeProbe(): LocalProbe {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  return {
    user: uid === 0 ? 'root' : `uid ${uid}`,
    kind(p) {
      try {
        const st = fs.statSync(p);
        return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // ENOTDIR: a component is a file; the walk up to it says so.
        if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
        return 'inaccessible';
      }
    },
    can(p, what) {
      try {
        fs.accessSync(p, what === 'read' ? fs.constants.R_OK : fs.constants.W_OK | fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    async run(file, args) {
      const r = await runCommand(file, args, { timeoutMs: 10_000 });
      return { ok: !r.failed, missing: r.code === 'ENOENT', output: r.all, reason: (r.stderr.trim().split('\n').pop() || r.shortMessage).trim() };
    },
    freeBytes(dir) {
      const s = fs.statfsSync(dir);
      return Number(s.bavail) * Number(s.bsize);
    },
  };
}
