/**
 * Progress percentages of a backup: how many raw bytes (mariabackup's xbstream) to expect. Pure.
 *
 * The store's catalog is the source, not the daemon's own job history: backups the CLI took (cron)
 * count, a fresh daemon on an existing store has an estimate for its first job, and the size is
 * the backup's own rawBytes rather than a progress counter.
 */
import type { Manifest } from '../domain/manifest.js';

/**
 * Expected raw bytes of the next backup of `kind` (0 = unknown: the client shows bytes, no bar).
 *
 * - full: the newest full's rawBytes. A data set changes slowly between fulls; when it grew, the
 *   excess is handled by progressTotal (never 100% before the end).
 * - incremental on `parentId`: the newest incremental of the same chain (same fullId) — the same
 *   workload over a similar period (the schedule's) changes a similar number of pages; else the
 *   newest incremental in the store on any chain. No guess from the full: an incremental's size is
 *   the pages changed since its parent plus every non-InnoDB file, which bears no fixed relation
 *   to the full's size (a quiet day: a few MiB of a 1 TiB full; a bulk load: most of it), so any
 *   fraction would be a made-up bar. Nor the LSN distance: redo bytes since the parent overcount
 *   pages written repeatedly by orders of magnitude, and reading the server's LSN costs a query.
 *   The first incremental after the first full therefore has bytes but no percentage.
 * `backups` is the catalog's valid backups, in any order.
 */
export function estimateRaw(backups: readonly Manifest[], kind: 'full' | 'incremental', fullId?: string): number {
  const newest = (ms: Manifest[]) => ms.sort((a, b) => b.id.localeCompare(a.id))[0];
  if (kind === 'full') return newest(backups.filter((m) => m.kind === 'full'))?.rawBytes ?? 0;
  const incs = backups.filter((m) => m.kind === 'incremental');
  const sameChain = fullId ? newest(incs.filter((m) => m.fullId === fullId)) : undefined;
  return (sameChain ?? newest(incs))?.rawBytes ?? 0;
}

/**
 * The total to report with `bytes` read so far, from an estimate: the estimate while the backup
 * is below it; once it is exceeded (the data grew), just above what was read, so the percentage
 * stays at 99 until the job ends (the job's end, not the bar, says it is done). 0 stays unknown.
 */
export function progressTotal(estimate: number, bytes: number): number {
  if (!(estimate > 0)) return 0;
  if (bytes < estimate * 0.99) return estimate;
  // bytes < total <= bytes * 100 / 99 makes floor(bytes * 100 / total) exactly 99.
  return Math.max(bytes + 1, Math.floor((bytes * 100) / 99));
}
