/**
 * The index objects of the binlog archive (format `backupmate-binlog/1`), pure: build, parse,
 * validate. One small JSON object per segment (`<seq>.json`) and per recorded gap
 * (`<seq>.gap.json`), see layout.ts. Readers trust nothing that fails `parseSegmentIndex`.
 *
 * A segment's data, once decrypted and decompressed, is a SELF-CONTAINED binlog file: the 4-byte
 * magic, the binlog's Format_description event (copied from the file it came from), then whole
 * events of that file from `binlog.startPos` (inclusive) to `binlog.endPos` (exclusive), in the
 * server's own byte form (checksums included). The first segment of a file is exactly the prefix
 * of that file (its startPos is right after the Format_description event). So every segment can be
 * read on its own by `mariadb-binlog`, several segments replay in ONE session with
 * `mariadb-binlog seg1 seg2 ... | mariadb`, and a segment can be placed as a relay log.
 * Segments hold whole transactions only (cut before a GTID event or after a commit), except that
 * a segment ends where its binlog file ends.
 *
 * GTIDs (gtid.ts): `gtid.start` is the binlog position BEFORE the segment's first event (the
 * server's gtid_binlog_pos at that point), `gtid.end` the position AFTER its last event; `first`/
 * `last` are the first/last transaction GTID per domain inside the segment (empty when the
 * segment holds no transaction, e.g. only a Rotate). A backup whose binlog GTID position is P
 * replays from the segment with `includes(end, P) && !includes(start, P)`-or-equal, i.e. the
 * first segment whose end includes P, starting after P (`mariadb-binlog --start-position=P` is
 * exclusive).
 */
import { BackupmateError } from '../../domain/errors.js';
import type { CompressionAlgorithm, ManifestEncryption } from '../../domain/manifest.js';
import { isAgeRecipient } from '../../domain/age.js';
import { formatGtidPos, parseGtidPos, type GtidPos } from './gtid.js';

export const BINLOG_INDEX_FORMAT = 'backupmate-binlog/1' as const;

export interface SegmentIndex {
  format: typeof BINLOG_INDEX_FORMAT;
  /** layout.ts streamId: `server-<id>/<start>`. */
  stream: string;
  /** 1, 2, 3... consecutive within the stream. */
  seq: number;
  /** The data object's name, relative to the stream directory. */
  object: string;
  server: { serverId: number; hostname: string; version: string };
  binlog: {
    /** The binlog file on the server these events came from (a fact, not an identity). */
    file: string;
    /** Original byte offsets in that file: [startPos, endPos). */
    startPos: number;
    endPos: number;
    /** True when the segment begins its file (its data is the file's own prefix). */
    startsFile: boolean;
    /** True when the segment reaches the end of its file (ends with a Rotate or Stop event). */
    closesFile: boolean;
    /** The next file, from the Rotate event (null when not known: Stop event, or not closing). */
    nextFile: string | null;
    /** The binlog checksum algorithm of the file's Format_description event. */
    checksum: 'CRC32' | 'NONE';
  };
  gtid: { start: GtidPos; end: GtidPos; first: GtidPos; last: GtidPos };
  /** Event timestamps (one-second resolution), ISO. Null only for a segment without timed events. */
  firstEventTime: string | null;
  lastEventTime: string | null;
  /** Time of the last COMMITTED transaction in the segment (what a restore can reach), ISO or null. */
  lastCommitTime: string | null;
  events: number;
  transactions: number;
  /** Decoded (self-contained binlog) size and sha256. */
  rawBytes: number;
  rawSha256: string;
  /** Stored object size and sha256 (checkable without the age identity). */
  storedBytes: number;
  sha256: string;
  compression: { algorithm: CompressionAlgorithm };
  encryption: ManifestEncryption | null;
  /** When the archiver wrote the segment (lag = writtenAt - lastEventTime). */
  writtenAt: string;
}

export interface GapRecord {
  format: typeof BINLOG_INDEX_FORMAT;
  kind: 'gap';
  stream: string;
  /** The gap lies before segment `seq` of the stream. */
  seq: number;
  /** Last archived moment before the gap (null: nothing before it in this stream), ISO. */
  from: string | null;
  /** First moment archived after the gap (the first event of the oldest binlog still on the server), ISO. */
  to: string | null;
  /** GTID positions around the gap. */
  gtidFrom: GtidPos;
  gtidTo: GtidPos;
  /** Binlog files we lost, when known. */
  lostFiles: string[];
  reason: string;
  detectedAt: string;
}

/** JSON form: GTID positions as strings (`0-1-5,1-2-3`), like the server prints them. */
export function segmentIndexJson(s: SegmentIndex): string {
  return JSON.stringify(
    { ...s, gtid: { start: formatGtidPos(s.gtid.start), end: formatGtidPos(s.gtid.end), first: formatGtidPos(s.gtid.first), last: formatGtidPos(s.gtid.last) } },
    null,
    2,
  );
}

export function gapRecordJson(g: GapRecord): string {
  return JSON.stringify({ ...g, gtidFrom: formatGtidPos(g.gtidFrom), gtidTo: formatGtidPos(g.gtidTo) }, null, 2);
}

type Obj = Record<string, unknown>;

function fail(key: string, what: string, got: unknown): never {
  throw new BackupmateError('INTEGRITY', `binlog index ${key}: ${what} (got ${JSON.stringify(got)?.slice(0, 80)})`, { key });
}

function obj(key: string, v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(key, `${what} must be an object`, v);
  return v as Obj;
}
function int(key: string, v: unknown, what: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(key, `${what} must be an integer >= ${min}`, v);
  return v as number;
}
function str(key: string, v: unknown, what: string): string {
  if (typeof v !== 'string') fail(key, `${what} must be a string`, v);
  return v as string;
}
function time(key: string, v: unknown, what: string, nullable: boolean): string | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) fail(key, `${what} must be an ISO time${nullable ? ' or null' : ''}`, v);
  return v as string;
}
function hex(key: string, v: unknown, what: string): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) fail(key, `${what} must be a hex sha256`, v);
  return v as string;
}
function gtid(key: string, v: unknown, what: string): GtidPos {
  if (typeof v !== 'string') fail(key, `${what} must be a GTID position string`, v);
  try {
    return parseGtidPos(v as string, `binlog index ${key}: ${what}`);
  } catch (e) {
    if (e instanceof BackupmateError) throw new BackupmateError('INTEGRITY', e.message, { key });
    throw e;
  }
}
function parseJson(key: string, text: string | Buffer): Obj {
  let v: unknown;
  try {
    v = JSON.parse(String(text));
  } catch {
    fail(key, 'is not JSON', String(text).slice(0, 40));
  }
  const o = obj(key, v, 'the object');
  if (o.format !== BINLOG_INDEX_FORMAT) fail(key, `format must be "${BINLOG_INDEX_FORMAT}"`, o.format);
  return o;
}

/** Parses and validates a segment index object (`key` names it in errors). Throws INTEGRITY. */
export function parseSegmentIndex(key: string, text: string | Buffer): SegmentIndex {
  const o = parseJson(key, text);
  const server = obj(key, o.server, 'server');
  const b = obj(key, o.binlog, 'binlog');
  const g = obj(key, o.gtid, 'gtid');
  const comp = obj(key, o.compression, 'compression');
  const algorithm = comp.algorithm;
  if (algorithm !== 'zstd' && algorithm !== 'gzip' && algorithm !== 'none') fail(key, 'compression.algorithm must be zstd, gzip or none', algorithm);
  let encryption: ManifestEncryption | null = null;
  if (o.encryption !== null) {
    const e = obj(key, o.encryption, 'encryption');
    if (e.type !== 'age' || !Array.isArray(e.recipients) || !e.recipients.length || !e.recipients.every(isAgeRecipient)) {
      fail(key, 'encryption must be null or {type "age", recipients: [age1...]}', e);
    }
    encryption = { type: 'age', recipients: [...(e.recipients as string[])] };
  }
  if (b.checksum !== 'CRC32' && b.checksum !== 'NONE') fail(key, 'binlog.checksum must be CRC32 or NONE', b.checksum);
  if (typeof b.startsFile !== 'boolean') fail(key, 'binlog.startsFile must be a boolean', b.startsFile);
  if (typeof b.closesFile !== 'boolean') fail(key, 'binlog.closesFile must be a boolean', b.closesFile);
  if (b.nextFile !== null && typeof b.nextFile !== 'string') fail(key, 'binlog.nextFile must be a string or null', b.nextFile);
  const s: SegmentIndex = {
    format: BINLOG_INDEX_FORMAT,
    stream: str(key, o.stream, 'stream'),
    seq: int(key, o.seq, 'seq', 1),
    object: str(key, o.object, 'object'),
    server: { serverId: int(key, server.serverId, 'server.serverId'), hostname: str(key, server.hostname, 'server.hostname'), version: str(key, server.version, 'server.version') },
    binlog: {
      file: str(key, b.file, 'binlog.file'),
      startPos: int(key, b.startPos, 'binlog.startPos', 4),
      endPos: int(key, b.endPos, 'binlog.endPos', 4),
      startsFile: b.startsFile as boolean,
      closesFile: b.closesFile as boolean,
      nextFile: (b.nextFile as string | null) ?? null,
      checksum: b.checksum,
    },
    gtid: { start: gtid(key, g.start, 'gtid.start'), end: gtid(key, g.end, 'gtid.end'), first: gtid(key, g.first, 'gtid.first'), last: gtid(key, g.last, 'gtid.last') },
    firstEventTime: time(key, o.firstEventTime, 'firstEventTime', true),
    lastEventTime: time(key, o.lastEventTime, 'lastEventTime', true),
    lastCommitTime: time(key, o.lastCommitTime, 'lastCommitTime', true),
    events: int(key, o.events, 'events'),
    transactions: int(key, o.transactions, 'transactions'),
    rawBytes: int(key, o.rawBytes, 'rawBytes', 4),
    rawSha256: hex(key, o.rawSha256, 'rawSha256'),
    storedBytes: int(key, o.storedBytes, 'storedBytes', 1),
    sha256: hex(key, o.sha256, 'sha256'),
    compression: { algorithm },
    encryption,
    writtenAt: time(key, o.writtenAt, 'writtenAt', false)!,
  };
  if (s.binlog.endPos < s.binlog.startPos) fail(key, 'binlog.endPos must be >= binlog.startPos', [s.binlog.startPos, s.binlog.endPos]);
  if (s.object.includes('/') || !s.object.startsWith(String(s.seq).padStart(10, '0') + '.')) fail(key, 'object must be this segment\'s data name in the same directory', s.object);
  return s;
}

/** Parses and validates a gap record. Throws INTEGRITY. */
export function parseGapRecord(key: string, text: string | Buffer): GapRecord {
  const o = parseJson(key, text);
  if (o.kind !== 'gap') fail(key, 'kind must be "gap"', o.kind);
  if (!Array.isArray(o.lostFiles) || !o.lostFiles.every((f) => typeof f === 'string')) fail(key, 'lostFiles must be a list of file names', o.lostFiles);
  return {
    format: BINLOG_INDEX_FORMAT,
    kind: 'gap',
    stream: str(key, o.stream, 'stream'),
    seq: int(key, o.seq, 'seq', 1),
    from: time(key, o.from, 'from', true),
    to: time(key, o.to, 'to', true),
    gtidFrom: gtid(key, o.gtidFrom, 'gtidFrom'),
    gtidTo: gtid(key, o.gtidTo, 'gtidTo'),
    lostFiles: [...(o.lostFiles as string[])],
    reason: str(key, o.reason, 'reason'),
    detectedAt: time(key, o.detectedAt, 'detectedAt', false)!,
  };
}
