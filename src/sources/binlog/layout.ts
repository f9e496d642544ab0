/**
 * Where the binlog archive lives in the store (BINLOG_PREFIX, default `backupmate/binlog/`).
 *
 * ```
 * <BINLOG_PREFIX><stream>/                     one continuous binlog history of one server
 *     0000000001.<token>.binlog[.zst|.gz][.age]   segment data: a self-contained binlog file
 *     0000000001.json                            its index object, written AFTER the data
 *     0000000002.gap.json                        a gap record: events before segment 2 are lost
 * ```
 * `<stream>` is `server-<server_id>/<UTC start, e.g. 20261202T162600Z>`: the server identity and
 * the moment this history began to be archived. Keys never carry binlog FILE names: names are
 * reused after RESET MASTER or a failover (mariadb-operator#1815); the file name and positions
 * are facts inside the index, next to the GTIDs that really order the history. A new stream
 * begins when the server changes (another server_id) or its history no longer continues ours
 * (RESET MASTER: its GTID position is behind what we archived).
 *
 * Nothing is ever rewritten (the store may be append-only, S3 Object Lock): a segment's data key
 * carries a random token, so a retry after a crash between data and index writes a NEW object;
 * an index object is written once, after its data; a data object without an index does not
 * exist for readers (and prune removes it). Sequence numbers are consecutive within a stream;
 * a missing number is a hole that verify reports.
 */
import { randomBytes } from 'node:crypto';
import { BackupmateError } from '../../domain/errors.js';
import type { CompressionAlgorithm } from '../../domain/manifest.js';

const SEQ_DIGITS = 10;

/** `server-7/20261202T162600Z` */
export function streamId(serverId: number, startedAt: Date): string {
  if (!Number.isInteger(serverId) || serverId < 0) throw new BackupmateError('INTERNAL', `bad server_id ${serverId}`);
  return `server-${serverId}/${compactUtc(startedAt)}`;
}

export function compactUtc(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

const STREAM_RE = /^server-(\d+)\/(\d{8}T\d{6}Z)$/;

export function parseStreamId(id: string): { serverId: number; startedAt: string } | null {
  const m = STREAM_RE.exec(id);
  return m ? { serverId: Number(m[1]), startedAt: m[2]! } : null;
}

export function seqName(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new BackupmateError('INTERNAL', `bad segment sequence ${seq}`);
  return String(seq).padStart(SEQ_DIGITS, '0');
}

export function streamDir(prefix: string, stream: string): string {
  return `${prefix}${stream}/`;
}

/** A new, never-used name for segment `seq`'s data (relative to its stream directory). */
export function segmentDataName(seq: number, compression: CompressionAlgorithm, encrypted: boolean): string {
  const ext = compression === 'zstd' ? '.zst' : compression === 'gzip' ? '.gz' : '';
  return `${seqName(seq)}.${randomBytes(4).toString('hex')}.binlog${ext}${encrypted ? '.age' : ''}`;
}

export function segmentIndexName(seq: number): string {
  return `${seqName(seq)}.json`;
}

export function gapName(seq: number): string {
  return `${seqName(seq)}.gap.json`;
}

/** What a key under BINLOG_PREFIX is: an index, a gap record, segment data, or something else. */
export type ArchiveKey =
  | { kind: 'index'; stream: string; seq: number }
  | { kind: 'gap'; stream: string; seq: number }
  | { kind: 'data'; stream: string; seq: number; name: string }
  | { kind: 'other' };

const NAME_RE = /^(\d{10})(?:\.(json)|\.(gap\.json)|\.([0-9a-f]{8}\.binlog(?:\.zst|\.gz)?(?:\.age)?))$/;

export function classifyKey(prefix: string, key: string): ArchiveKey {
  if (!key.startsWith(prefix)) return { kind: 'other' };
  const rest = key.slice(prefix.length);
  const slash = rest.lastIndexOf('/');
  if (slash < 0) return { kind: 'other' };
  const stream = rest.slice(0, slash);
  const name = rest.slice(slash + 1);
  if (!parseStreamId(stream)) return { kind: 'other' };
  const m = NAME_RE.exec(name);
  if (!m) return { kind: 'other' };
  const seq = Number(m[1]);
  if (m[2]) return { kind: 'index', stream, seq };
  if (m[3]) return { kind: 'gap', stream, seq };
  return { kind: 'data', stream, seq, name };
}
