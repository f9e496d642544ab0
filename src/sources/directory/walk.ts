/**
 * Directory backups: walking the configured paths into a file list.
 *
 * Contract:
 * - Every configured path must exist: a path that vanished (a typo, an unmounted volume) fails
 *   the backup with LOCAL_IO instead of producing a "successful" backup of nothing.
 * - Symlinks are recorded, never followed (a configured path that is a symlink is stored as the
 *   link). Hard links are stored as separate files.
 * - Sockets, FIFOs and device nodes are skipped and reported (they have no content to restore).
 * - A path inside another configured path is walked once.
 * - Unreadable directories fail the backup (LOCAL_IO): a backup that silently misses files is
 *   worse than one that fails.
 * - `root` (tests, restore checks) is prepended to every configured path; entry paths stay
 *   relative to it.
 */
import fs from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { BackupmateError } from '../../domain/errors.js';
import { compareEntryPaths, coveredBy, relativeName, type EntryType, type FileEntry } from './entries.js';

export interface Skipped {
  path: string;
  kind: string;
}

export interface WalkResult {
  files: FileEntry[];
  skipped: Skipped[];
}

export function entryType(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined;
}

function otherKind(st: BigIntStats): string {
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}

/** The change key (see FileEntry.key) of a bigint stat. */
export function changeKey(st: BigIntStats): string {
  return `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}`;
}

/** mtime in ms with the sub-ms fraction, from the nanosecond field (exact to the microsecond). */
export function mtimeMsOf(st: BigIntStats): number {
  const ns = st.mtimeNs;
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/** One entry from an lstat; `target` for symlinks. */
export function entryOf(name: string, type: EntryType, st: BigIntStats, target?: string): FileEntry {
  return {
    path: name,
    type,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: type === 'file' ? Number(st.size) : 0,
    mtimeMs: mtimeMsOf(st),
    ...(type === 'symlink' ? { target } : {}),
    key: changeKey(st),
    stored: false,
  };
}

function ioError(what: string, file: string, e: unknown): BackupmateError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new BackupmateError('LOCAL_IO', `directory backup: cannot ${what} ${file}: ${code} (${(e as Error).message})`, { path: file, errno: code }, { cause: e });
}

/** Drops configured paths that lie inside another configured path; keeps the order. */
export function outermostPaths(paths: readonly string[]): string[] {
  const norm = paths.map((p) => path.posix.normalize(p).replace(/\/+$/, ''));
  const rel = norm.map(relativeName);
  return norm.filter((p, i) => !rel.some((r, j) => j !== i && (rel[i] === r ? j < i : coveredBy(rel[i], [r]))));
}

/** Walks `paths` (absolute) below `root` ('/' for real backups). Sorted by path. */
export async function walkPaths(paths: readonly string[], root = '/'): Promise<WalkResult> {
  const files: FileEntry[] = [];
  const skipped: Skipped[] = [];
  const visit = async (name: string, mustExist: boolean): Promise<void> => {
    const abs = path.join(root, name);
    let st: BigIntStats;
    try {
      st = await fs.lstat(abs, { bigint: true });
    } catch (e) {
      if (!mustExist && (e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed while we walked
      if (mustExist && (e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BackupmateError('LOCAL_IO', `directory backup: DIRECTORY_BACKUP_PATHS names /${name}, which does not exist`, { path: abs });
      }
      throw ioError('stat', abs, e);
    }
    const type = entryType(st);
    if (!type) {
      skipped.push({ path: name, kind: otherKind(st) });
      return;
    }
    let target: string | undefined;
    if (type === 'symlink') {
      try {
        target = await fs.readlink(abs);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !mustExist) return;
        throw ioError('read the symlink', abs, e);
      }
    }
    files.push(entryOf(name, type, st, target));
    if (type !== 'dir') return;
    let children: string[];
    try {
      children = await fs.readdir(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError('list the directory', abs, e);
    }
    children.sort();
    for (const c of children) await visit(`${name}/${c}`, false);
  };
  for (const p of outermostPaths(paths)) await visit(relativeName(p), true);
  files.sort((a, b) => compareEntryPaths(a.path, b.path));
  return { files, skipped };
}
