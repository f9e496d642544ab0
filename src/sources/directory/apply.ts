/**
 * Directory backups: combining a restored chain into the tree at the target backup, and putting
 * it in place.
 *
 * Contract (restore calls these once per restore, after every chain member was extracted into a
 * fresh staging directory by extract.ts):
 * - applyChain works IN the full's staging directory: for each incremental in order it removes
 *   what the incremental's list no longer names (or names with another type), then moves in what
 *   the incremental stored. The result is exactly the target's list, deletions included; it is
 *   checked against that list (checkTree) before anything is put in place.
 * - Metadata comes from the target's list, applied last: owner, then mode (chown clears setuid
 *   bits), then mtime; directories after their contents, deepest first, so writing a child does
 *   not move its parent's mtime again. Owners are applied only when running as root (as tar
 *   does); otherwise the files belong to the restoring user and a warning says so.
 * - putInPlace moves the tree into the target directory, which must be empty or absent: a restore
 *   never merges into, or overwrites, existing files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { BackupmateError } from '../../domain/errors.js';
import { continuityProblems } from './diff.js';
import { joinInside, relativeName, type DirectoryPayload, type FileEntry } from './entries.js';
import { ensureParents } from './extract.js';
import { walkPaths } from './walk.js';

export interface ChainMember {
  /** The backup id, for messages. */
  id: string;
  payload: DirectoryPayload;
  /** Where extract.ts put this member's tar. */
  dir: string;
}

export interface MetadataOptions {
  /** Apply owners (default: when running as root). */
  chown?: boolean;
  onWarning?: (message: string) => void;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Applies the incrementals of `chain` (full first, then each incremental in order) onto the
 * full's directory and returns it. The chain must be continuous (diff.ts continuityProblems).
 */
export async function applyChain(chain: readonly ChainMember[]): Promise<string> {
  if (chain.length === 0) throw new BackupmateError('INTERNAL', 'directory restore: empty chain');
  const base = chain[0].dir;
  const partial = chain[0].payload.files.find((f) => !f.stored);
  if (partial) throw new BackupmateError('INTEGRITY', `directory restore: chain starts at ${chain[0].id}, which does not store ${partial.path} (not a full backup)`);
  const roots = chain[0].payload.paths.map(relativeName);
  for (let i = 1; i < chain.length; i++) {
    const prev = chain[i - 1].payload.files;
    const cur = chain[i];
    const problems = continuityProblems(prev, cur.payload.files);
    if (problems.length) {
      throw new BackupmateError('INTEGRITY', `directory restore: backup ${cur.id} does not continue ${chain[i - 1].id}: ${problems.join('; ')}`);
    }
    const now = new Map(cur.payload.files.map((f) => [f.path, f]));
    // Gone, or replaced by another type: removed before anything moves in (deepest first).
    const drop = prev.filter((f) => now.get(f.path)?.type !== f.type).map((f) => f.path).reverse();
    for (const p of drop) await fs.rm(joinInside(base, p), { recursive: true, force: true });
    for (const f of cur.payload.files) {
      if (!f.stored) continue;
      const dst = joinInside(base, f.path);
      if (f.type === 'dir') {
        if (!(await exists(dst))) {
          await ensureParents(base, f.path, roots, `directory restore of ${cur.id}`);
          await fs.mkdir(dst, { mode: 0o700 });
        }
        continue;
      }
      await ensureParents(base, f.path, roots, `directory restore of ${cur.id}`);
      await fs.rm(dst, { force: true });
      await fs.rename(joinInside(cur.dir, f.path), dst);
    }
  }
  return base;
}

/** Applies owners, modes and mtimes from `files` to the tree under `root` (see the header). */
export async function applyMetadata(root: string, files: readonly FileEntry[], options: MetadataOptions = {}): Promise<void> {
  const chown = options.chown ?? process.getuid?.() === 0;
  const owned = files.some((f) => f.uid !== process.getuid?.() || f.gid !== process.getgid?.());
  if (!chown && owned) options.onWarning?.('directory restore: not running as root, so owners are not restored (the files belong to the restoring user)');
  const set = async (f: FileEntry): Promise<void> => {
    const abs = joinInside(root, f.path);
    const seconds = f.mtimeMs / 1000;
    if (chown) await fs.lchown(abs, f.uid, f.gid);
    if (f.type === 'symlink') {
      await fs.lutimes(abs, seconds, seconds);
      return;
    }
    await fs.chmod(abs, f.mode);
    await fs.utimes(abs, seconds, seconds);
  };
  for (const f of files) if (f.type !== 'dir') await set(f);
  // Sorted parents first, so reversed = deepest first.
  for (const f of [...files].reverse()) if (f.type === 'dir') await set(f);
}

/**
 * What differs between the tree under `root` and `files` (at most `limit` lines): missing or extra
 * entries, types, sizes, symlink targets, modes, owners (when `owners`), mtimes (to the ms).
 */
export async function treeDifferences(root: string, payload: DirectoryPayload, options: { owners: boolean; limit?: number }): Promise<string[]> {
  const limit = options.limit ?? 10;
  const { files: found } = await walkPaths(payload.paths, root).catch((e: unknown) => {
    if (e instanceof BackupmateError && e.code === 'LOCAL_IO') return { files: [] as FileEntry[] };
    throw e;
  });
  const want = new Map(payload.files.map((f) => [f.path, f]));
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const f of found) {
    seen.add(f.path);
    const w = want.get(f.path);
    if (!w) problems.push(`${f.path} exists but is not listed`);
    else if (w.type !== f.type) problems.push(`${f.path} is a ${f.type}, expected a ${w.type}`);
    else if (w.type === 'file' && w.size !== f.size) problems.push(`${f.path} has ${f.size} bytes, expected ${w.size}`);
    else if (w.type === 'symlink' && w.target !== f.target) problems.push(`${f.path} points to ${f.target}, expected ${w.target}`);
    else if (w.type !== 'symlink' && w.mode !== f.mode) problems.push(`${f.path} has mode ${f.mode.toString(8)}, expected ${w.mode.toString(8)}`);
    else if (options.owners && (w.uid !== f.uid || w.gid !== f.gid)) problems.push(`${f.path} is owned by ${f.uid}:${f.gid}, expected ${w.uid}:${w.gid}`);
    else if (Math.abs(w.mtimeMs - f.mtimeMs) >= 1) problems.push(`${f.path} has mtime ${f.mtimeMs}, expected ${w.mtimeMs}`);
    if (problems.length >= limit) return problems;
  }
  for (const f of payload.files) {
    if (!seen.has(f.path)) problems.push(`${f.path} is missing`);
    if (problems.length >= limit) break;
  }
  return problems;
}

/**
 * Puts the tree under `source` (the applied chain) into `targetDir` (created if absent, must be
 * empty). The metadata is applied and the tree checked against the target's list BEFORE anything
 * moves, so a restore that fails leaves the target as it was; then the top-level entries are
 * renamed in (copied, with the metadata applied again, when the target is on another filesystem)
 * and the result is checked once more.
 */
export async function putInPlace(source: string, targetDir: string, payload: DirectoryPayload, options: MetadataOptions = {}): Promise<void> {
  const owners = options.chown ?? process.getuid?.() === 0;
  const metadata = { ...options, chown: owners };
  const check = async (root: string, when: string): Promise<void> => {
    const problems = await treeDifferences(root, payload, { owners });
    if (problems.length) throw new BackupmateError('INTEGRITY', `directory restore: ${when} differs from the backup's list: ${problems.join('; ')}`);
  };
  await applyMetadata(source, payload.files, metadata);
  await check(source, 'the applied chain');
  let present: string[] = [];
  try {
    present = await fs.readdir(targetDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (present.length) {
    throw new BackupmateError('TARGET_STATE', `restore target ${targetDir} is not empty (it holds ${present.slice(0, 3).join(', ')}${present.length > 3 ? ', ...' : ''}): a directory restore never overwrites files; name an empty or new directory`);
  }
  await fs.mkdir(targetDir, { recursive: true, mode: 0o755 });
  let copied = false;
  for (const top of await fs.readdir(source)) {
    const from = path.join(source, top);
    const to = path.join(targetDir, top);
    try {
      await fs.rename(from, to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      // Another filesystem: copy (symlinks as links), then the metadata pass below fixes the rest.
      await fs.cp(from, to, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false });
      await fs.rm(from, { recursive: true, force: true });
      copied = true;
    }
  }
  if (copied) await applyMetadata(targetDir, payload.files, metadata);
  await check(targetDir, `the restored tree under ${targetDir}`);
}
