/**
 * Directory backups: what an incremental stores, decided from two file lists (pure).
 *
 * Decision: an incremental is decided from the PARENT'S RECORDED FILE LIST (its manifest's
 * directory payload), not from GNU tar's listed-incremental state (a local .snar file). The store
 * is then the only state: a lost, restored or diverging local snar file cannot silently turn an
 * incremental into one that misses changes, a second host (or a rebuilt one) chains correctly onto
 * the newest backup in the store, and the restore side already needs the list to recreate
 * deletions, modes and owners exactly. The price is that the full list travels in every manifest
 * (about 200 bytes per entry), which is small for the config trees this source is meant for.
 */
import type { FileEntry } from './entries.js';

export interface ListDiff {
  /** In `now`, not in the parent. */
  added: FileEntry[];
  /** In both, but the content or metadata may differ: type, change key, symlink target, mode or owner. */
  changed: FileEntry[];
  /** In both and equal. */
  unchanged: FileEntry[];
  /** Paths the parent listed and `now` does not. */
  removed: string[];
}

/** True when `now` must be stored again although the parent listed the same path. */
export function entryChanged(parent: FileEntry, now: FileEntry): boolean {
  return (
    parent.type !== now.type ||
    parent.key !== now.key ||
    parent.target !== now.target ||
    parent.mode !== now.mode ||
    parent.uid !== now.uid ||
    parent.gid !== now.gid ||
    parent.size !== now.size
  );
}

/** Compares the parent's recorded list with the tree as walked now. Keeps `now`'s order. */
export function diffFileLists(parent: readonly FileEntry[], now: readonly FileEntry[]): ListDiff {
  const before = new Map(parent.map((e) => [e.path, e]));
  const out: ListDiff = { added: [], changed: [], unchanged: [], removed: [] };
  const present = new Set<string>();
  for (const e of now) {
    present.add(e.path);
    const old = before.get(e.path);
    if (!old) out.added.push(e);
    else if (entryChanged(old, e)) out.changed.push(e);
    else out.unchanged.push(e);
  }
  for (const e of parent) if (!present.has(e.path)) out.removed.push(e.path);
  return out;
}

/**
 * The list a backup records, with `stored` set: a full stores everything; an incremental stores
 * what was added or changed, plus every directory (a header only: it keeps the tar extractable on
 * its own with standard tools and costs 512 bytes). Returns the removed paths, too.
 */
export function selectStored(now: readonly FileEntry[], parent: readonly FileEntry[] | null): { files: FileEntry[]; removed: string[] } {
  if (parent === null) return { files: now.map((e) => ({ ...e, stored: true })), removed: [] };
  const d = diffFileLists(parent, now);
  const store = new Set([...d.added, ...d.changed].map((e) => e.path));
  return {
    files: now.map((e) => ({ ...e, stored: e.type === 'dir' || store.has(e.path) })),
    removed: d.removed,
  };
}

/**
 * Why `child` cannot be restored on top of `parent`, or [] when it can: every entry the child
 * does not store must be in the parent with the same type and change key (else its content would
 * come from a different version of the file). At most `limit` problems are returned.
 */
export function continuityProblems(parent: readonly FileEntry[], child: readonly FileEntry[], limit = 5): string[] {
  const before = new Map(parent.map((e) => [e.path, e]));
  const problems: string[] = [];
  for (const e of child) {
    if (e.stored) continue;
    const old = before.get(e.path);
    if (!old) problems.push(`${e.path} is neither stored nor in the parent`);
    else if (old.type !== e.type || old.key !== e.key || old.target !== e.target) problems.push(`${e.path} is not stored and differs from the parent's`);
    if (problems.length >= limit) break;
  }
  return problems;
}
