/**
 * Which binlog segments retention may delete, pure. The archive is kept from the first segment
 * the OLDEST KEPT backup replays from (its binlog GTID position, readers' segmentsFrom): every
 * kept backup, full or incremental, can start a point-in-time restore, and the newer ones start
 * later in the same history, so the window never has a hole that retention made. Everything
 * before that segment (segments and gap records of the same or older streams) goes. When no kept
 * backup can start a replay from the archive, nothing is deleted (nothing is known to be
 * unneeded). Per segment the index object goes first, so an interrupted prune leaves a data
 * object no index names (an orphan, removed by the next prune), never an index without data.
 */
import { parseGtidPos } from './gtid.js';
import { segmentsFrom, type ArchiveListing } from './reader.js';

export interface BinlogRetentionPlan {
  /** Keys in deletion order. */
  deleteKeys: string[];
  /** The first kept segment (null: nothing is kept because nothing is archived) and why. */
  keepFrom: { stream: string; seq: number; backupId: string } | null;
  reason: string;
}

export function planBinlogRetention(listing: ArchiveListing, kept: ReadonlyArray<{ id: string; finishedAt: string; gtid: string | null }>): BinlogRetentionPlan {
  if (!listing.segments.length) return { deleteKeys: [], keepFrom: null, reason: 'nothing is archived' };
  let first: number | null = null;
  let by: string | null = null;
  for (const b of kept) {
    if (b.gtid === null) continue;
    let span;
    try {
      span = segmentsFrom(listing, parseGtidPos(b.gtid));
    } catch {
      continue;
    }
    const i = listing.segments.indexOf(span.segments[0]!);
    if (first === null || i < first) {
      first = i;
      by = b.id;
    }
  }
  if (first === null) return { deleteKeys: [], keepFrom: null, reason: 'no kept backup replays from the archive: every segment is kept' };
  const keepSeg = listing.segments[first]!;
  const keys: string[] = [];
  for (const s of listing.segments.slice(0, first)) keys.push(s.indexKey, s.key);
  const before = new Set(listing.segments.slice(0, first).map((s) => s.stream));
  for (const g of listing.gapRecords) {
    if ((g.stream === keepSeg.stream && g.seq <= keepSeg.seq) || (g.stream !== keepSeg.stream && before.has(g.stream))) {
      keys.push(`${listing.prefix}${g.stream}/${String(g.seq).padStart(10, '0')}.gap.json`);
    }
  }
  return {
    deleteKeys: keys,
    keepFrom: { stream: keepSeg.stream, seq: keepSeg.seq, backupId: by! },
    reason: `the oldest kept backup ${by} replays from ${keepSeg.stream} segment ${keepSeg.seq}`,
  };
}
