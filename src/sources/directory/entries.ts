/**
 * Directory backups: the file list, the one record of what a directory backup holds.
 *
 * A directory backup's manifest payload carries the WHOLE tree at that backup (every file,
 * directory and symlink under the configured paths) and marks the entries whose content is stored
 * in this backup's tar. Restore, verify and the next incremental all work from this list:
 * - restore recreates exactly the listed tree (deletions are what a list no longer names);
 * - metadata (mode, owner, mtime) is applied from the list, not from tar headers, so it is exact
 *   whatever tar can encode (uids over 262143, sub-second mtimes);
 * - the next incremental compares its walk with this list (diff.ts).
 *
 * Paths are relative to "/" without a leading slash ("etc/mysql/my.cnf"): the same string is the
 * tar entry name, the key in the list, and the path under a restore's --target-dir.
 *
 * Pure: no I/O here, so the rules are unit-tested on plain objects.
 */
import path from 'node:path';
import { BackupmateError } from '../../domain/errors.js';

export const ENTRY_TYPES = ['file', 'dir', 'symlink'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

export interface FileEntry {
  /** Relative to "/", no leading or trailing slash, no "." or ".." segments. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes (files); 0 for directories and symlinks. */
  size: number;
  /** Modification time in milliseconds since the epoch, with the sub-millisecond fraction. */
  mtimeMs: number;
  /** Symlinks: where the link points, verbatim (never followed). */
  target?: string;
  /**
   * Change key, like GNU tar's listed-incremental: "size:mtimeNs:ctimeNs:ino". ctime moves on
   * every content, mode or owner change, so equal keys mean "nothing to store again". A file that
   * changed while it was read gets UNSTABLE_KEY, which never equals a key from a walk, so the next
   * incremental stores it again.
   */
  key: string;
  /** True when this backup's tar holds the entry (its content, for files). */
  stored: boolean;
}

/** The change key of a file that changed while it was being read (see FileEntry.key). */
export const UNSTABLE_KEY = 'changed-while-read';

/** The payload a directory backup's manifest carries under `source`. */
export interface DirectoryPayload {
  type: 'directory';
  /** The configured paths (DIRECTORY_BACKUP_PATHS), absolute, in the configured order. */
  paths: string[];
  /** The whole tree at this backup, sorted by path (parents before their children). */
  files: FileEntry[];
  /** Paths the parent listed and this backup does not (empty for a full); informative. */
  removed: string[];
  /** Files that changed while they were read: stored as read, stored again next time. */
  unstable: string[];
}

/** "/etc/mysql" -> "etc/mysql". The path must be absolute and normalised. */
export function relativeName(absolute: string): string {
  return absolute.replace(/^\/+/, '');
}

/**
 * Why `name` is not an acceptable relative entry name, or undefined if it is. Refuses what could
 * escape a restore's target directory: absolute names, "..", and also ".", empty segments and NUL
 * (a writer never produces them, so they mean a foreign or damaged tar).
 */
export function entryNameProblem(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name.includes('\0')) return 'a name with a NUL byte';
  if (name.startsWith('/')) return 'an absolute name';
  const segments = name.split('/');
  if (segments.includes('..')) return 'a ".." segment';
  if (segments.some((s) => s === '' || s === '.')) return 'an empty or "." segment';
  return undefined;
}

/** Strips the trailing "/" tar writers put on directory names; refuses unsafe names. */
export function checkedEntryName(raw: string, context: string): string {
  const name = raw.endsWith('/') ? raw.slice(0, -1) : raw;
  const problem = entryNameProblem(name);
  if (problem) throw new BackupmateError('INTEGRITY', `${context}: refused tar entry ${JSON.stringify(raw)}: ${problem} (entries must stay inside the target directory)`);
  return name;
}

/** Joins a checked relative name onto a root directory; refuses anything that leaves the root. */
export function joinInside(root: string, name: string): string {
  const problem = entryNameProblem(name);
  const joined = path.join(root, name);
  if (problem || !joined.startsWith(root.endsWith('/') ? root : `${root}/`)) {
    throw new BackupmateError('INTEGRITY', `refused path ${JSON.stringify(name)}: ${problem ?? 'it leaves the directory'}`);
  }
  return joined;
}

/** Code-unit order: a directory sorts before everything under it ("a" < "a-b" < "a/b"). */
export function compareEntryPaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The configured paths, for the ancestors check: "etc/mysql" covers "etc/mysql/x" but not "etc". */
export function coveredBy(name: string, roots: readonly string[]): boolean {
  return roots.some((r) => name === r || name.startsWith(`${r}/`));
}

/**
 * Parses and checks a directory payload read from a manifest. Throws INTEGRITY with what was
 * expected; a manifest that passes this can be restored without further shape checks.
 */
export function parseDirectoryPayload(raw: unknown, what = 'directory payload'): DirectoryPayload {
  const bad = (detail: string): never => {
    throw new BackupmateError('INTEGRITY', `${what}: ${detail}`);
  };
  if (typeof raw !== 'object' || raw === null) bad('expected an object');
  const r = raw as Record<string, unknown>;
  if (r.type !== 'directory') bad(`expected type "directory", found ${JSON.stringify(r.type)}`);
  if (!Array.isArray(r.paths) || r.paths.length === 0 || !r.paths.every((p) => typeof p === 'string' && path.isAbsolute(p) && p !== '/')) {
    bad('expected "paths": a non-empty list of absolute paths');
  }
  const paths = r.paths as string[];
  const roots = paths.map(relativeName);
  if (!Array.isArray(r.files)) bad('expected "files": a list');
  const files: FileEntry[] = [];
  const seen = new Set<string>();
  for (const [i, f] of (r.files as unknown[]).entries()) {
    const e = f as Record<string, unknown>;
    const at = `files[${i}]`;
    if (typeof e !== 'object' || e === null) bad(`${at}: expected an object`);
    if (typeof e.path !== 'string' || entryNameProblem(e.path)) bad(`${at}: path ${JSON.stringify(e.path)} is not a safe relative path`);
    const p = e.path as string;
    if (!coveredBy(p, roots)) bad(`${at}: ${p} lies outside the configured paths`);
    if (seen.has(p)) bad(`${at}: ${p} is listed twice`);
    seen.add(p);
    if (!(ENTRY_TYPES as readonly unknown[]).includes(e.type)) bad(`${at}: type must be one of ${ENTRY_TYPES.join(', ')}`);
    for (const k of ['mode', 'uid', 'gid', 'size'] as const) {
      if (typeof e[k] !== 'number' || !Number.isSafeInteger(e[k]) || (e[k] as number) < 0) bad(`${at}: ${k} must be a non-negative integer`);
    }
    if (typeof e.mtimeMs !== 'number' || !Number.isFinite(e.mtimeMs)) bad(`${at}: mtimeMs must be a number`);
    if (typeof e.key !== 'string') bad(`${at}: key must be a string`);
    if (typeof e.stored !== 'boolean') bad(`${at}: stored must be true or false`);
    if (e.type === 'symlink' && typeof e.target !== 'string') bad(`${at}: a symlink needs a target`);
    files.push({
      path: p,
      type: e.type as EntryType,
      mode: e.mode as number,
      uid: e.uid as number,
      gid: e.gid as number,
      size: e.size as number,
      mtimeMs: e.mtimeMs as number,
      ...(e.type === 'symlink' ? { target: e.target as string } : {}),
      key: e.key as string,
      stored: e.stored as boolean,
    });
  }
  // A listed entry's parent is a listed directory, or lies above the configured paths: otherwise
  // a restore would have to invent it (or follow a symlink out of the target).
  const types = new Map(files.map((f) => [f.path, f.type]));
  for (const f of files) {
    const parent = path.posix.dirname(f.path);
    if (coveredBy(parent, roots) && types.get(parent) !== 'dir') bad(`${f.path}: its parent ${parent} is not a listed directory`);
  }
  const strings = (v: unknown, k: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad(`"${k}" must be a list of paths`);
    return v as string[];
  };
  return {
    type: 'directory',
    paths: [...paths],
    files: files.sort((a, b) => compareEntryPaths(a.path, b.path)),
    removed: strings(r.removed, 'removed'),
    unstable: strings(r.unstable, 'unstable'),
  };
}
