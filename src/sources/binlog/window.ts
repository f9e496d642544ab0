/**
 * The recoverable window, pure: from the oldest backup a replay can start from (its binlog GTID
 * position lies inside the archive) to the last archived commit, with every gap. What `list`
 * prints and `list --json` gives as `pointInTime` (null when nothing is archived). `from` is null
 * when segments exist but no backup can start a replay from them (the archive began after every
 * backup: take a new backup).
 */
import { parseGtidPos } from './gtid.js';
import { segmentsFrom, type ArchiveListing } from './reader.js';

export interface PointInTimeWindow {
  from: string | null;
  /** The id of the backup `from` is. */
  fromBackup: string | null;
  to: string | null;
  gaps: Array<{ from: string | null; to: string | null; reason: string }>;
}

export interface WindowBackup {
  id: string;
  /** The backup's consistent point (its end time). */
  finishedAt: string;
  /** The binlog GTID position recorded at the consistent point, or null. */
  gtid: string | null;
}

export function recoverableWindow(listing: ArchiveListing, backups: readonly WindowBackup[]): PointInTimeWindow | null {
  if (!listing.segments.length) return null;
  const last = listing.segments.at(-1)!;
  const to = last.lastCommitTime ?? last.lastEventTime;
  let start: WindowBackup | null = null;
  for (const b of [...backups].sort((a, b) => (a.finishedAt < b.finishedAt ? -1 : 1))) {
    if (b.gtid === null) continue;
    try {
      segmentsFrom(listing, parseGtidPos(b.gtid));
      start = b;
      break;
    } catch {
      /* not covered by the archive */
    }
  }
  const gaps = listing.gaps
    .filter((g) => !start || g.to === null || g.to > start.finishedAt)
    .map((g) => ({ from: g.from, to: g.to, reason: g.reason }));
  return { from: start?.finishedAt ?? null, fromBackup: start?.id ?? null, to, gaps };
}
