/**
 * Point-in-time recovery decisions: which backup to restore, which archived binlog segments to
 * replay, where the replay stops, or an honest refusal naming the recoverable window and the
 * nearest restorable moments. Pure: the restore (restore/pitr.ts) reads the catalog and the
 * archive index, calls `planPointInTime`, downloads the chosen segments, scans them
 * (sources/binlog/replay-scan.ts) and calls `cutReplay` for the exact stop position.
 *
 * The one rule about time (binlog event times have one-second resolution). A transaction counts
 * as committed at the second stamped on its GTID event (the commit second). A restore to WHEN
 * replays the stream of transactions up to, not including, the first one stamped at or after the
 * second that contains WHEN. So "--time 14:05:17" holds every transaction stamped 14:05:16 or
 * earlier and none stamped 14:05:17 or later: a transaction in the second WHEN itself is NOT
 * replayed, because it may have committed after WHEN (the binlog cannot tell 14:05:17.2 from
 * 14:05:17.8). To include second S, ask for S+1. The cut is a prefix of the binlog (commit order),
 * so the result is a state the server really was in; a transaction stamped before WHEN that the
 * server wrote after one stamped at WHEN or later (clock steps) is left out with the rest.
 *
 * `--gtid X` means the prefix of the stream up to and including X (other domains: what the server
 * had written before X).
 *
 * A moment is restorable from backup B when B's consistent point is at or before it (B finished at
 * or before the start of WHEN's second, so every transaction B holds is in the cut), the archive
 * holds every transaction after B's GTID position (its first archived transaction of each domain
 * is at most one past B's), no gap lies between B and WHEN, and WHEN's second is at or before the
 * second of the last archived transaction (later transactions of that second may not be archived
 * yet; later than that we would answer with an older state than asked: refused).
 */
import { BackupmateError } from '../domain/errors.js';
import { beyond, formatGtid, formatPosition, positionCovers, seqIn, type Gtid, type GtidPosition } from '../sources/binlog/replay-gtid.js';
import type { ScannedTransaction } from '../sources/binlog/replay-scan.js';

/** A backup as the planner sees it (physical manifests: binlog.gtid of their consistent point). */
export interface PitrBackup {
  id: string;
  kind: string;
  finishedAt: string;
  /** The GTID position of the consistent point; null: the server had no binlog (cannot start a replay). */
  gtid: GtidPosition | null;
}

/** An archived segment as the planner sees it (from the archive's index objects). */
export interface PitrSegment {
  key: string;
  /** First and last GTID per domain held by the segment. */
  first: GtidPosition;
  last: GtidPosition;
  /** Commit times (ISO) of its first and last transaction. */
  firstEventTime: string;
  lastEventTime: string;
}

export interface PitrGap {
  /** The last archived transaction before the hole (ISO) and the first after it. */
  from: string;
  to: string;
}

export interface PitrArchive {
  /** In stream order. */
  segments: readonly PitrSegment[];
  gaps: readonly PitrGap[];
}

export type PitrRequest = { time: Date } | { gtid: Gtid };

export interface RestorableInterval {
  /** The backup that starts the replay. */
  backupId: string;
  /** ISO; the earliest and latest moment restorable from this backup (both inclusive, second precision for `to`: see the module header). */
  from: string;
  to: string;
}

export interface PitrPlan {
  backup: PitrBackup;
  /** Segment keys to download and replay, in stream order. */
  segments: string[];
  request: PitrRequest;
  /** Why this backup and these segments (for the log and the report). */
  reason: string;
  window: RestorableInterval[];
}

const sec = (iso: string) => Math.floor(Date.parse(iso) / 1000);
const isoSec = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
/** The start of the second that contains `d` (epoch seconds). */
export const cutSecond = (d: Date) => Math.floor(d.getTime() / 1000);

/**
 * A hole in the archive: transactions `fromSeq..toSeq` of `domain` are in no segment. Found from
 * the segments' GTIDs (a domain's first sequence in a segment is not one past its last before),
 * so it does not depend on the archiver having noticed the purge. The archive's start is a hole
 * too (from sequence 1 to one before the first archived), with `fromTime` null.
 */
export interface ArchiveHole {
  domain: number;
  fromSeq: bigint;
  toSeq: bigint;
  /** Commit second of the last archived transaction before the hole (null: the archive's start). */
  fromTime: number | null;
  /** Commit second of the first archived transaction after it. */
  toTime: number;
}

/** The holes of the archive's GTID sequence, in stream order. */
export function archiveHoles(archive: PitrArchive): ArchiveHole[] {
  const holes: ArchiveHole[] = [];
  const lastSeq = new Map<number, bigint>();
  let lastTime: number | null = null;
  for (const s of archive.segments) {
    for (const g of [...s.first.values()].sort((a, b) => a.domain - b.domain)) {
      const before = lastSeq.get(g.domain) ?? 0n;
      if (g.seq > before + 1n) {
        holes.push({ domain: g.domain, fromSeq: before + 1n, toSeq: g.seq - 1n, fromTime: lastSeq.has(g.domain) ? lastTime : null, toTime: sec(s.firstEventTime) });
      }
    }
    for (const g of s.last.values()) if (g.seq > (lastSeq.get(g.domain) ?? 0n)) lastSeq.set(g.domain, g.seq);
    lastTime = sec(s.lastEventTime);
  }
  return holes;
}

/**
 * The restorable intervals: one per backup that can start a replay, from its finish to the first
 * hole after it (a GTID hole between segments, or a gap the archiver reported) or the last
 * archived transaction. Backups without a GTID position, older than the archive's first
 * transaction, or taken inside a hole, start none (the reason is in `unusable`).
 */
export function restorableWindow(backups: readonly PitrBackup[], archive: PitrArchive): { intervals: RestorableInterval[]; unusable: { id: string; reason: string }[] } {
  const unusable: { id: string; reason: string }[] = [];
  const intervals: RestorableInterval[] = [];
  if (archive.segments.length === 0) return { intervals, unusable: backups.map((b) => ({ id: b.id, reason: 'the binlog archive is empty' })) };
  const lastSec = Math.max(...archive.segments.map((s) => sec(s.lastEventTime)));
  const holes = archiveHoles(archive);
  for (const b of [...backups].sort((x, y) => Date.parse(x.finishedAt) - Date.parse(y.finishedAt) || (x.id < y.id ? -1 : 1))) {
    if (!b.gtid) {
      unusable.push({ id: b.id, reason: 'its manifest has no GTID position (the server had no binary log when it was taken)' });
      continue;
    }
    // Earliest moment: the start of the first whole second after the backup finished (its consistent point is before that).
    const from = sec(b.finishedAt) + (Date.parse(b.finishedAt) % 1000 === 0 ? 0 : 1);
    // A hole blocks this backup when the backup lacks some of the missing transactions.
    const blocking = holes.filter((h) => seqIn(b.gtid!, h.domain) < h.toSeq);
    const startHole = blocking.find((h) => h.fromTime === null || h.fromSeq <= seqIn(b.gtid!, h.domain));
    if (startHole) {
      unusable.push({
        id: b.id,
        reason:
          startHole.fromTime === null
            ? `the archive starts after it: it is at ${formatPosition(b.gtid) || 'an empty position'}, the first archived transaction of domain ${startHole.domain} has sequence ${startHole.toSeq + 1n}`
            : `its position ${formatPosition(b.gtid)} lies inside the archive's hole (domain ${startHole.domain}, sequences ${startHole.fromSeq}..${startHole.toSeq})`,
      });
      continue;
    }
    let to = lastSec;
    for (const h of blocking) to = Math.min(to, h.fromTime!);
    // Gaps the archiver reported (e.g. a purge it noticed) count too, when they end after the backup.
    for (const g of archive.gaps) if (sec(g.to) >= from) to = Math.min(to, sec(g.from));
    if (to < from) {
      unusable.push({ id: b.id, reason: `nothing it could replay was archived after it (restorable only up to ${isoSec(to)})` });
      continue;
    }
    intervals.push({ backupId: b.id, from: isoSec(from), to: isoSec(to) });
  }
  return { intervals, unusable };
}

/** The window as one line: "2026-12-02T10:00:05Z .. 2026-12-02T14:05:17Z (from backup X), ...". */
export function describeWindow(intervals: readonly RestorableInterval[]): string {
  if (intervals.length === 0) return 'nothing is restorable to a point in time';
  // Merge overlapping intervals for the reader; each keeps the backup that starts it.
  const merged: { from: number; to: number }[] = [];
  for (const i of [...intervals].sort((a, b) => sec(a.from) - sec(b.from))) {
    const last = merged.at(-1);
    if (last && sec(i.from) <= last.to + 1) last.to = Math.max(last.to, sec(i.to));
    else merged.push({ from: sec(i.from), to: sec(i.to) });
  }
  return merged.map((m) => `${isoSec(m.from)} .. ${isoSec(m.to)}`).join(', ');
}

function refuse(message: string, intervals: RestorableInterval[], details: Record<string, unknown>): never {
  throw new BackupmateError('NOT_RESTORABLE', message, { window: intervals, ...details });
}

/**
 * Chooses the backup and the segments for a restore to `request`, or refuses (NOT_RESTORABLE)
 * with the window and the nearest restorable moments. Every decision names its reason.
 */
export function planPointInTime(backups: readonly PitrBackup[], archive: PitrArchive, request: PitrRequest): PitrPlan {
  const { intervals, unusable } = restorableWindow(backups, archive);
  const windowText = describeWindow(intervals);
  const unusableNote = unusable.length ? `; backups that cannot start a replay: ${unusable.slice(-3).map((u) => `${u.id} (${u.reason})`).join('; ')}` : '';
  if (archive.segments.length === 0) {
    refuse(`no point-in-time restore is possible: the binlog archive holds no segment yet (is BINLOG_ARCHIVE on and the daemon running?)`, intervals, {});
  }
  if (intervals.length === 0) refuse(`no point-in-time restore is possible: no backup can start a replay${unusableNote}`, intervals, {});

  if ('time' in request) {
    const when = cutSecond(request.time);
    const whenText = request.time.toISOString();
    const hit = intervals.filter((i) => sec(i.from) <= when && when <= sec(i.to)).sort((a, b) => sec(b.from) - sec(a.from))[0];
    if (!hit) {
      const before = intervals.filter((i) => sec(i.to) < when).sort((a, b) => sec(b.to) - sec(a.to))[0];
      const after = intervals.filter((i) => sec(i.from) > when).sort((a, b) => sec(a.from) - sec(b.from))[0];
      const first = Math.min(...intervals.map((i) => sec(i.from)));
      const last = Math.max(...intervals.map((i) => sec(i.to)));
      const where =
        when < first
          ? `it is before the oldest backup that can start a replay`
          : when > last
            ? `it is after the last archived transaction (${isoSec(last)}; a later moment would silently miss what was not archived yet)`
            : `it falls inside a gap of the binlog archive (binlogs the server purged before they were archived)`;
      const nearest = [before && `the latest restorable moment before it is ${before.to}`, after && `the earliest after it is ${after.from}`].filter(Boolean).join(', ');
      refuse(`cannot restore to ${whenText}: ${where}; restorable: ${windowText}${nearest ? `; ${nearest}` : ''}${unusableNote}`, intervals, {
        time: whenText,
        nearestBefore: before?.to ?? null,
        nearestAfter: after?.from ?? null,
      });
    }
    const backup = backups.find((b) => b.id === hit.backupId)!;
    const segments = archive.segments.filter((s) => beyond(backup.gtid!, s.last).length > 0 && sec(s.firstEventTime) < when).map((s) => s.key);
    return {
      backup,
      segments,
      request,
      window: intervals,
      reason: `${backup.kind} ${backup.id} is the newest backup finished by ${isoSec(when)} with the archive continuous from its position ${formatPosition(backup.gtid!)}; replay ${segments.length} segment(s) up to the last transaction committed before ${isoSec(when)}`,
    };
  }

  const x = request.gtid;
  const xText = formatGtid(x);
  const holding = archive.segments.find((s) => seqIn(s.first, x.domain) !== 0n && seqIn(s.first, x.domain) <= x.seq && x.seq <= seqIn(s.last, x.domain));
  const candidates = intervals
    .map((i) => ({ i, b: backups.find((b) => b.id === i.backupId)! }))
    .filter(({ b }) => seqIn(b.gtid!, x.domain) <= x.seq)
    .filter(({ i }) => holding !== undefined && sec(holding.lastEventTime) >= sec(i.from) && sec(holding.firstEventTime) <= sec(i.to))
    .sort((p, q) => Date.parse(q.b.finishedAt) - Date.parse(p.b.finishedAt));
  if (!holding || candidates.length === 0) {
    const lastOfDomain = archive.segments.map((s) => seqIn(s.last, x.domain)).reduce((a, b) => (a > b ? a : b), 0n);
    const why = !holding
      ? lastOfDomain === 0n
        ? `the archive holds no transaction of domain ${x.domain}`
        : x.seq > lastOfDomain
          ? `it is after the last archived transaction of domain ${x.domain} (sequence ${lastOfDomain})`
          : `no archived segment holds it (before the archive's start, or inside a gap)`
      : `no backup that can start a replay is at or before it with the archive continuous up to it`;
    refuse(`cannot restore up to GTID ${xText}: ${why}; restorable: ${windowText}${unusableNote}`, intervals, { gtid: xText });
  }
  const { b: backup } = candidates[0]!;
  const holdingIndex = archive.segments.indexOf(holding);
  const segments = archive.segments
    .filter((s, idx) => idx <= holdingIndex && beyond(backup.gtid!, s.last).length > 0)
    .map((s) => s.key);
  return {
    backup,
    segments,
    request,
    window: intervals,
    reason: `${backup.kind} ${backup.id} is the newest backup at or before ${xText} (position ${formatPosition(backup.gtid!)}) with the archive continuous up to it; replay ${segments.length} segment(s) up to and including ${xText}`,
  };
}

export interface ReplayCut {
  /** The GTID position after the replay (the backup's, advanced by every replayed transaction). */
  stop: Map<number, Gtid>;
  /** How many transactions the replay applies. */
  transactions: number;
  lastReplayed: ScannedTransaction | null;
  /** The first transaction left out (time mode), or null when the files end before the cut. */
  firstLeftOut: ScannedTransaction | null;
}

/**
 * The exact stop of a replay over the scanned transactions of the downloaded segments (stream
 * order), starting after `start` (the backup's position). Refuses (INTEGRITY) files that cannot
 * give an honest answer: a transaction seen twice (overlapping segments would apply it twice), a
 * hole in a domain's sequence (a missing transaction), a backup transaction stamped at or after
 * WHEN (the backup would be newer than the moment asked), or a --gtid that is not in the files.
 */
export function cutReplay(start: GtidPosition, transactions: readonly ScannedTransaction[], request: PitrRequest): ReplayCut {
  const stop = new Map<number, Gtid>(start);
  const seen = new Map<number, bigint>(); // highest seq seen per domain, backup transactions included
  let count = 0;
  let lastReplayed: ScannedTransaction | null = null;
  const when = 'time' in request ? cutSecond(request.time) : null;
  const where = (t: ScannedTransaction) => `${formatGtid(t.gtid)} (${t.file} offset ${t.offset}, committed ${isoSec(t.time)})`;
  for (const t of transactions) {
    const d = t.gtid.domain;
    const prev = seen.get(d);
    if (prev !== undefined && t.gtid.seq <= prev) {
      throw new BackupmateError('INTEGRITY', `the archived binlogs hold transaction ${where(t)} after sequence ${prev} of its domain: overlapping or reordered segments; the replay would apply it twice`, {
        gtid: formatGtid(t.gtid),
      });
    }
    seen.set(d, t.gtid.seq);
    const inBackup = t.gtid.seq <= seqIn(start, d);
    if (inBackup) {
      if (when !== null && t.time >= when) {
        throw new BackupmateError('INTEGRITY', `the chosen backup already holds ${where(t)}, which is at or after ${isoSec(when)}: it is newer than the moment asked`, {});
      }
      continue;
    }
    const expected = (stop.get(d)?.seq ?? 0n) + 1n;
    if (when !== null && t.time >= when) return { stop, transactions: count, lastReplayed, firstLeftOut: t };
    if (t.gtid.seq !== expected && (stop.has(d) || t.gtid.seq !== 1n)) {
      throw new BackupmateError(
        'INTEGRITY',
        `the archived binlogs miss transactions of domain ${d}: after ${stop.has(d) ? formatGtid(stop.get(d)!) : 'its start'} comes ${where(t)} (expected sequence ${expected}); refusing to replay over a hole`,
        { domain: d, expected: String(expected), got: formatGtid(t.gtid) },
      );
    }
    stop.set(d, t.gtid);
    count++;
    lastReplayed = t;
    if ('gtid' in request && d === request.gtid.domain && t.gtid.seq === request.gtid.seq) {
      return { stop, transactions: count, lastReplayed, firstLeftOut: null };
    }
  }
  if ('gtid' in request) {
    const x = request.gtid;
    if (seqIn(start, x.domain) >= x.seq) return { stop, transactions: 0, lastReplayed: null, firstLeftOut: null };
    throw new BackupmateError('INTEGRITY', `GTID ${formatGtid(x)} is not in the downloaded segments (the archive index says it is): the archive is inconsistent`, {
      gtid: formatGtid(x),
    });
  }
  return { stop, transactions: count, lastReplayed, firstLeftOut: null };
}

/** Whether the replay's stop contains the backup's start (the planner's promise, rechecked before replaying). */
export function stopCoversStart(start: GtidPosition, stop: GtidPosition): boolean {
  return positionCovers(stop, start);
}
