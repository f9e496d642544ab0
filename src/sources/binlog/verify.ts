/**
 * Verify of the binlog archive: the continuity of its index objects (listArchive: numbering,
 * positions, GTID sequence, no overlap, no hole), then every segment read back through
 * openSegment (stored and decoded sha256 and size), and inside each decoded segment the binlog
 * magic and the GTID events' order (every GTID after the segment's start position, none beyond
 * its end). Says which window is really restorable: the problems found, and the gaps.
 */
import { BackupmateError, errorText } from '../../domain/errors.js';
import type { Storage } from '../../storage/storage.js';
import { readAll } from '../../storage/storage.js';
import { BINLOG_MAGIC, EV, nextEventSize, parseEvent } from './events.js';
import { formatGtid, includes, seqOf } from './gtid.js';
import { listArchive, openSegment, type ArchiveGap, type ArchivedSegment } from './reader.js';

export interface ArchiveVerifyReport {
  segments: number;
  rawBytes: number;
  problems: string[];
  gaps: ArchiveGap[];
  ok: boolean;
}

export async function verifyArchive(storage: Storage, prefix: string, options: { ageIdentityFile?: string; signal?: AbortSignal } = {}): Promise<ArchiveVerifyReport> {
  const listing = await listArchive(storage, prefix, options);
  const problems = listing.problems.map((p) => p.message);
  let rawBytes = 0;
  for (const s of listing.segments) {
    try {
      const bytes = await readAll(await openSegment(storage, s, options));
      rawBytes += bytes.length;
      problems.push(...checkSegmentEvents(s, bytes));
    } catch (e) {
      if (e instanceof BackupmateError && e.code === 'CANCELLED') throw e;
      problems.push(errorText(e));
    }
  }
  return { segments: listing.segments.length, rawBytes, problems, gaps: listing.gaps, ok: problems.length === 0 };
}

/** The decoded segment's own events agree with its index (pure). */
export function checkSegmentEvents(s: Pick<ArchivedSegment, 'key' | 'gtid' | 'binlog' | 'transactions'>, bytes: Buffer): string[] {
  const out: string[] = [];
  if (!bytes.subarray(0, 4).equals(BINLOG_MAGIC)) return [`binlog segment ${s.key}: does not start with the binlog magic`];
  const crc = s.binlog.checksum === 'CRC32';
  let off = 4;
  let first = true;
  let gtids = 0;
  let pos = s.gtid.start;
  while (off < bytes.length) {
    const size = nextEventSize(bytes, off);
    if (size === null || off + size > bytes.length) {
      out.push(`binlog segment ${s.key}: truncated event at offset ${off}`);
      break;
    }
    const e = parseEvent(bytes.subarray(off, off + size), first ? false : crc);
    first = false;
    off += size;
    if (e.type === EV.GTID && e.gtid) {
      gtids++;
      const before = seqOf(pos, e.gtid.domain);
      if (before !== null && e.gtid.seq <= before) out.push(`binlog segment ${s.key}: GTID ${formatGtid(e.gtid)} is not after ${e.gtid.domain}-*-${before} (duplicate or out of order)`);
      pos = [...pos.filter((p) => p.domain !== e.gtid!.domain), e.gtid].sort((a, b) => a.domain - b.domain);
    }
  }
  if (!includes(s.gtid.end, pos)) out.push(`binlog segment ${s.key}: holds GTIDs beyond its index's end position`);
  if (gtids !== s.transactions) out.push(`binlog segment ${s.key}: holds ${gtids} transactions, its index says ${s.transactions}`);
  return out;
}
