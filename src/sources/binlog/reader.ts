/**
 * The READ side of the binlog archive: what list, status, verify, retention and the
 * point-in-time restore know of it. Stable API (restore codes against it):
 *
 * - `listArchive(storage, prefix)`: every segment whose index object is valid, in history order
 *   (stream start, then seq), with the gaps and continuity problems of checkContinuity.
 *   Segment data without an index object is not a segment (a crash between the two writes): it
 *   is listed in `orphans` for prune, never replayed.
 * - `openSegment(storage, segment, options)`: the segment's decoded bytes, a self-contained
 *   binlog file (index.ts says exactly what it holds), as a stream. The stored object's sha256
 *   and size, and the decoded sha256 and size, are checked as the bytes flow; a mismatch, or a
 *   failing age/zstd, errors the stream at its end (INTEGRITY naming the key, or TOOL_FAILED),
 *   so a consumer that reads to the end never takes a damaged segment for a good one.
 * - `segmentsFrom(listing, gtidPos)`: the segments a replay from a backup's GTID position needs,
 *   up to the first gap.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChildStage } from '../../archive/child.js';
import { decompressCommand } from '../../archive/compression.js';
import { ageStderrIsFatal, decryptCommand } from '../../archive/encryption.js';
import { HashCounter } from '../../archive/hash.js';
import { runStages, type StageOutcome } from '../../archive/stages.js';
import { BackupmateError } from '../../domain/errors.js';
import { readAll, type Storage } from '../../storage/storage.js';
import { checkContinuity, type ArchiveGap, type ArchiveProblem } from './continuity.js';
import { formatGtidPos, includes, type GtidPos } from './gtid.js';
import { parseGapRecord, parseSegmentIndex, type GapRecord, type SegmentIndex } from './index.js';
import { classifyKey, parseStreamId, streamDir } from './layout.js';

export type { ArchiveGap, ArchiveProblem } from './continuity.js';

/** A segment as found in the store: its index, and the full keys of its data and index objects. */
export interface ArchivedSegment extends SegmentIndex {
  /** Full store key of the data object. */
  key: string;
  /** Full store key of the index object. */
  indexKey: string;
}

export interface ArchiveListing {
  prefix: string;
  segments: ArchivedSegment[];
  gaps: ArchiveGap[];
  problems: ArchiveProblem[];
  gapRecords: GapRecord[];
  /** Data objects no index names (unfinished writes), and index objects that failed to parse. */
  orphans: string[];
  invalid: Array<{ key: string; message: string }>;
}

/** Lists and checks the whole archive under `prefix` (BINLOG_PREFIX). Reads every index object. */
export async function listArchive(storage: Storage, prefix: string, options: { signal?: AbortSignal } = {}): Promise<ArchiveListing> {
  const objects = await storage.list(prefix);
  const dataKeys = new Set<string>();
  const indexKeys: string[] = [];
  const gapKeys: string[] = [];
  for (const o of objects) {
    const k = classifyKey(prefix, o.key);
    if (k.kind === 'data') dataKeys.add(o.key);
    else if (k.kind === 'index') indexKeys.push(o.key);
    else if (k.kind === 'gap') gapKeys.push(o.key);
  }
  const invalid: ArchiveListing['invalid'] = [];
  const segments: ArchivedSegment[] = [];
  const referenced = new Set<string>();
  // Small objects, read a few at a time.
  const results = await mapLimit(indexKeys, 8, async (key) => {
    const text = await readAll(await storage.get(key, { signal: options.signal }));
    return { key, text };
  });
  for (const { key, text } of results) {
    const k = classifyKey(prefix, key) as { kind: 'index'; stream: string; seq: number };
    try {
      const s = parseSegmentIndex(key, text);
      if (s.stream !== k.stream || s.seq !== k.seq) throw new BackupmateError('INTEGRITY', `binlog index ${key} describes ${s.stream} segment ${s.seq}, not the segment its key names`, { key });
      const dataKey = streamDir(prefix, s.stream) + s.object;
      referenced.add(dataKey);
      if (!dataKeys.has(dataKey)) throw new BackupmateError('INTEGRITY', `binlog index ${key} names ${dataKey}, which is missing from ${storage.description}`, { key: dataKey });
      segments.push({ ...s, key: dataKey, indexKey: key });
    } catch (e) {
      if (!(e instanceof BackupmateError)) throw e;
      invalid.push({ key, message: e.message });
    }
  }
  const gapRecords: GapRecord[] = [];
  for (const { key, text } of await mapLimit(gapKeys, 8, async (key) => ({ key, text: await readAll(await storage.get(key, { signal: options.signal })) }))) {
    try {
      gapRecords.push(parseGapRecord(key, text));
    } catch (e) {
      if (!(e instanceof BackupmateError)) throw e;
      invalid.push({ key, message: e.message });
    }
  }
  segments.sort(historyOrder);
  gapRecords.sort(historyOrder);
  const { gaps, problems } = checkContinuity(segments, gapRecords);
  for (const inv of invalid) {
    const k = classifyKey(prefix, inv.key) as { stream?: string; seq?: number };
    problems.push({ kind: 'hole', stream: k.stream ?? '', seq: k.seq ?? 0, message: inv.message });
  }
  return {
    prefix,
    segments,
    gaps,
    problems,
    gapRecords,
    orphans: [...dataKeys].filter((k) => !referenced.has(k)).sort(),
    invalid,
  };
}

/** Streams by their start time (the id sorts as text), then seq. */
function historyOrder(a: { stream: string; seq: number }, b: { stream: string; seq: number }): number {
  const sa = parseStreamId(a.stream)?.startedAt ?? a.stream;
  const sb = parseStreamId(b.stream)?.startedAt ?? b.stream;
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (a.stream !== b.stream) return a.stream < b.stream ? -1 : 1;
  return a.seq - b.seq;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export interface OpenSegmentOptions {
  /** AGE_IDENTITY_FILE, needed for encrypted segments. */
  ageIdentityFile?: string;
  signal?: AbortSignal;
}

/**
 * The decoded bytes of one segment (a self-contained binlog file) as a stream; the stream errors
 * at its end when any check or stage failed (see the header). Destroying it early stops the
 * download and kills the decoders.
 */
export async function openSegment(storage: Storage, seg: ArchivedSegment, options: OpenSegmentOptions = {}): Promise<Readable> {
  if (seg.encryption && !options.ageIdentityFile) {
    throw new BackupmateError('CONFIG', `binlog segment ${seg.key} is encrypted (age); set AGE_IDENTITY_FILE to the identity of one of its recipients: ${seg.encryption.recipients.join(', ')}`, {
      key: seg.key,
    });
  }
  const body = await storage.get(seg.key, { signal: options.signal });
  const stored = new HashCounter();
  const raw = new HashCounter();
  const children: ChildStage[] = [];
  if (seg.encryption) {
    const c = decryptCommand(options.ageIdentityFile!);
    children.push(new ChildStage({ stage: 'decryptor', file: c.file, args: c.args, stderrIsFatal: ageStderrIsFatal }));
  }
  const dc = decompressCommand(seg.compression.algorithm);
  if (dc) children.push(new ChildStage({ stage: 'decompressor', file: dc.file, args: dc.args.filter((a) => a !== '-vv') }));
  const out = new PassThrough();
  const stages: StageOutcome[] = [];
  let cur: Readable = body;
  let first = true;
  for (const c of children) {
    stages.push({ stage: first ? 'download' : `${c.stage}-input`, promise: first ? pipeline(cur, stored, c.stdin!) : pipeline(cur, c.stdin!) });
    stages.push({ stage: c.stage, promise: c.done });
    cur = c.stdout!;
    first = false;
  }
  let consumerGone = false;
  out.once('close', () => {
    if (!out.writableFinished) consumerGone = true;
  });
  const deliver = async function (source: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of source) {
      if (consumerGone) throw new BackupmateError('CANCELLED', 'the reader closed the segment stream');
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve).once('close', resolve));
    }
  };
  const copy = first ? pipeline(body, stored, raw, deliver) : pipeline(cur, raw, deliver);
  stages.push({ stage: 'decode', promise: copy });
  const kill = () => {
    body.destroy();
    for (const c of children) c.kill();
  };
  out.once('close', () => {
    if (consumerGone) kill();
  });
  void runStages(stages, kill, options.signal).then(
    () => {
      if (stored.bytes !== seg.storedBytes || stored.digest() !== seg.sha256) {
        out.destroy(integrity(seg, `the stored object has ${stored.bytes} bytes with sha256 ${stored.digest()}, its index says ${seg.storedBytes} bytes with sha256 ${seg.sha256}`));
      } else if (raw.bytes !== seg.rawBytes || raw.digest() !== seg.rawSha256) {
        out.destroy(integrity(seg, `it decodes to ${raw.bytes} bytes with sha256 ${raw.digest()}, its index says ${seg.rawBytes} bytes with sha256 ${seg.rawSha256}`));
      } else out.end();
    },
    (e: unknown) => {
      if (consumerGone) return;
      out.destroy(e instanceof BackupmateError && e.code !== 'CANCELLED' && e.code !== 'TOOL_MISSING' ? integrityOrTool(seg, e) : (e as Error));
    },
  );
  return out;
}

function integrity(seg: ArchivedSegment, what: string): BackupmateError {
  return new BackupmateError('INTEGRITY', `binlog segment ${seg.key} is corrupt: ${what} (changed, truncated or replaced since it was archived)`, { key: seg.key });
}

/** A decoder failure on archived bytes is most likely damage: say which object, keep the tool's words. */
function integrityOrTool(seg: ArchivedSegment, e: BackupmateError): BackupmateError {
  if (e.code === 'TOOL_FAILED') return new BackupmateError('INTEGRITY', `binlog segment ${seg.key} could not be decoded: ${e.message}`, { key: seg.key, ...e.details }, { cause: e });
  return e;
}

/** What a replay from GTID position `start` needs: the segments from the one holding `start` up to the first gap. */
export interface ReplaySpan {
  segments: ArchivedSegment[];
  /** The gap that ends the span (null: the span reaches the last archived segment). */
  endsAtGap: ArchiveGap | null;
}

/**
 * The segments that replay history after GTID position `start` (a backup's binlog GTID), in
 * order, without crossing a gap. The first one is the earliest segment whose [gtid.start,
 * gtid.end] contains `start`. Throws BACKUP_NOT_FOUND when no segment does (the archive began
 * after the backup, or a gap swallowed that moment).
 */
export function segmentsFrom(listing: ArchiveListing, start: GtidPos): ReplaySpan {
  const i = listing.segments.findIndex((s) => includes(start, s.gtid.start) && includes(s.gtid.end, start));
  if (i < 0) {
    throw new BackupmateError(
      'BACKUP_NOT_FOUND',
      `the binlog archive under ${listing.prefix} holds no segment that continues from GTID position ${formatGtidPos(start) || '(empty)'}` +
        (listing.segments.length
          ? ` (it covers ${formatGtidPos(listing.segments[0]!.gtid.start) || '(empty)'} to ${formatGtidPos(listing.segments.at(-1)!.gtid.end)})`
          : ' (it is empty)'),
      { gtid: formatGtidPos(start) },
    );
  }
  const out: ArchivedSegment[] = [];
  for (let j = i; j < listing.segments.length; j++) {
    const s = listing.segments[j]!;
    if (j > i) {
      const gap = listing.gaps.find((g) => g.stream === s.stream && g.beforeSeq === s.seq);
      if (gap) return { segments: out, endsAtGap: gap };
    }
    out.push(s);
  }
  return { segments: out, endsAtGap: null };
}
