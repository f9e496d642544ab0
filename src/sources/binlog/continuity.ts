/**
 * Is the archive one unbroken history? Pure: from the parsed index objects (segments sorted by
 * stream start, then seq) and the archiver's gap records, the gaps a restore cannot cross and the
 * problems verify must report. Used by listArchive (reader.ts), so every reader (list, status,
 * restore, verify, retention) sees the same answer.
 *
 * Two consecutive segments a → b of a stream continue each other when
 *   - b.seq = a.seq + 1 (a missing number is a lost index object: a hole);
 *   - bytes: b starts where a ended (same file, b.startPos = a.endPos), or a closed its file and b
 *     starts the next one (a's Rotate names b's file when it had one);
 *   - GTIDs: b.gtid.start = a.gtid.end. A start beyond a's end means events are missing (hole);
 *     one behind it means the same transactions twice (overlap).
 * A gap record at seq k explains a break before segment k (binlogs purged before we had them):
 * it is a gap, not a problem. Between streams (a new server or a RESET MASTER), the history
 * continues only when the new stream starts at the GTID position where the old one ended.
 */
import { formatGtidPos, includes, samePos } from './gtid.js';
import type { GapRecord, SegmentIndex } from './index.js';

export interface ArchiveGap {
  /** Last archived event time before the gap (null: the gap is at the start of the archive). */
  from: string | null;
  /** First archived event time after it (null: nothing archived after it yet). */
  to: string | null;
  stream: string;
  /** The gap lies before this segment of `stream`. */
  beforeSeq: number;
  /** 'recorded': the archiver saw binlogs purged before it had them; 'hole': something is missing
   * from the store; 'history': a new stream that does not continue the previous one. */
  kind: 'recorded' | 'hole' | 'history';
  reason: string;
}

export interface ArchiveProblem {
  kind: 'hole' | 'overlap' | 'order';
  stream: string;
  seq: number;
  message: string;
}

export interface Continuity {
  gaps: ArchiveGap[];
  problems: ArchiveProblem[];
}

export function checkContinuity(segments: readonly SegmentIndex[], gapRecords: readonly GapRecord[]): Continuity {
  const gaps: ArchiveGap[] = [];
  const problems: ArchiveProblem[] = [];
  const recorded = new Map(gapRecords.map((g) => [`${g.stream}\0${g.seq}`, g]));
  const used = new Set<GapRecord>();
  let prev: SegmentIndex | null = null;
  for (const b of segments) {
    const rec = recorded.get(`${b.stream}\0${b.seq}`);
    if (rec) used.add(rec);
    const a: SegmentIndex | null = prev;
    prev = b;
    if (rec) {
      gaps.push({ from: rec.from ?? a?.lastEventTime ?? null, to: rec.to ?? b.firstEventTime, stream: b.stream, beforeSeq: b.seq, kind: 'recorded', reason: rec.reason });
      continue;
    }
    // The oldest segment may have any number: retention deletes the archive's beginning
    // (retention.ts), and the window starts at a kept backup anyway.
    if (!a) continue;
    if (a.stream !== b.stream) {
      if (!samePos(a.gtid.end, b.gtid.start) || b.seq !== 1) {
        gaps.push({
          from: a.lastEventTime,
          to: b.firstEventTime,
          stream: b.stream,
          beforeSeq: b.seq,
          kind: 'history',
          reason: `a new binlog history begins (${b.stream}, server ${b.server.serverId}) at GTID ${formatGtidPos(b.gtid.start) || '(empty)'}; the previous one ended at ${formatGtidPos(a.gtid.end) || '(empty)'}`,
        });
      }
      continue;
    }
    const where = `${b.stream} segment ${b.seq}`;
    const broken: string[] = [];
    if (b.seq !== a.seq + 1) broken.push(`segment numbers jump from ${a.seq} to ${b.seq}`);
    if (a.binlog.closesFile) {
      if (!b.binlog.startsFile) broken.push(`${a.binlog.file} ended but segment ${b.seq} starts inside ${b.binlog.file} at ${b.binlog.startPos}`);
      else if (a.binlog.nextFile && a.binlog.nextFile !== b.binlog.file) broken.push(`${a.binlog.file} rotated to ${a.binlog.nextFile} but segment ${b.seq} is ${b.binlog.file}`);
    } else if (a.binlog.file !== b.binlog.file || a.binlog.endPos !== b.binlog.startPos) {
      broken.push(`segment ${a.seq} ends at ${a.binlog.file}:${a.binlog.endPos}, segment ${b.seq} starts at ${b.binlog.file}:${b.binlog.startPos}`);
    }
    const overlap = !samePos(a.gtid.end, b.gtid.start) && includes(a.gtid.end, b.gtid.start);
    if (!samePos(a.gtid.end, b.gtid.start)) {
      broken.push(`GTID position ${formatGtidPos(a.gtid.end) || '(empty)'} after segment ${a.seq}, ${formatGtidPos(b.gtid.start) || '(empty)'} before segment ${b.seq}`);
    }
    if (!broken.length) continue;
    if (overlap && b.seq === a.seq + 1) {
      problems.push({ kind: 'overlap', stream: b.stream, seq: b.seq, message: `${where} repeats transactions of segment ${a.seq}: ${broken.join('; ')}` });
    } else {
      problems.push({ kind: 'hole', stream: b.stream, seq: b.seq, message: `${where} does not continue segment ${a.seq}: ${broken.join('; ')}` });
      gaps.push({ from: a.lastEventTime, to: b.firstEventTime, stream: b.stream, beforeSeq: b.seq, kind: 'hole', reason: broken.join('; ') });
    }
  }
  // A gap recorded after the last segment (nothing archived since): still a gap, open-ended.
  for (const g of gapRecords) {
    if (!used.has(g)) gaps.push({ from: g.from, to: g.to, stream: g.stream, beforeSeq: g.seq, kind: 'recorded', reason: g.reason });
  }
  return { gaps, problems };
}
