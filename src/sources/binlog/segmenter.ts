/**
 * Cuts one binlog file's event stream into segments, pure (no I/O, no clock: the caller passes
 * `now`). The archiver feeds it the bytes of the local copy mariadb-binlog writes, in order; it
 * returns finished segments (index.ts says what a segment holds). Cuts happen only between
 * transactions: when the open segment reached BINLOG_SEGMENT_BYTES, when it has been open for
 * BINLOG_SEGMENT_SECONDS (checked on every feed and by `tick`), and at the end of the file.
 */
import { createHash } from 'node:crypto';
import { BackupmateError } from '../../domain/errors.js';
import { advance, type Gtid, type GtidPos } from './gtid.js';
import type { SegmentIndex } from './index.js';
import { BINLOG_MAGIC, closesTransaction, EV, nextEventSize, parseEvent, type BinlogEvent } from './events.js';

/** The binlog facts of a segment are the ones its index object records (index.ts). */
export interface SegmentDraft extends Readonly<SegmentIndex['binlog']> {
  gtidStart: GtidPos;
  gtidEnd: GtidPos;
  first: GtidPos;
  last: GtidPos;
  firstEventTime: string | null;
  lastEventTime: string | null;
  lastCommitTime: string | null;
  events: number;
  transactions: number;
  /** The self-contained binlog bytes and their sha256. */
  bytes: Buffer;
  sha256: string;
}

export interface CutPolicy {
  maxBytes: number;
  maxSeconds: number;
}

function iso(ts: number): string {
  return new Date(ts * 1000).toISOString();
}

/** The highest seqno per domain of a Gtid_list (the binlog state lists every server of a domain). */
function posOfList(list: readonly Gtid[]): GtidPos {
  let pos: GtidPos = [];
  for (const g of list) {
    const cur = pos.find((p) => p.domain === g.domain);
    if (!cur || cur.seq < g.seq) pos = advance(pos, g);
  }
  return pos;
}

export class FileSegmenter {
  private buf: Buffer = Buffer.alloc(0);
  private headerDone = false;
  private fde: Buffer | null = null;
  private crc = false;
  private checksum: 'CRC32' | 'NONE' = 'NONE';
  private pos: GtidPos;
  /** Original file offset where the next event begins. */
  private nextPos = 0;
  private inTrx = false;
  private standalone = false;
  private trxGtid: Gtid | null = null;
  private trxTime = 0;
  // The open segment:
  private parts: Buffer[] = [];
  private partBytes = 0;
  private segStart = -1;
  private segStartsFile = false;
  private segGtidStart: GtidPos = [];
  private segFirst: GtidPos = [];
  private segLast: GtidPos = [];
  private segEvents = 0;
  private segTrx = 0;
  private segFirstTs: number | null = null;
  private segLastTs: number | null = null;
  private segCommitTs: number | null = null;
  private segOpenedAt = 0;
  private seenData = false;
  /** Set once the file ended (Rotate or Stop seen). */
  ended = false;
  nextFile: string | null = null;

  /**
   * `file`: the binlog file name; `gtidPos`: the GTID position before the first byte fed (the
   * archive's last end; at a file start the file's Gtid_list replaces it when `trustGtidList`).
   */
  constructor(
    readonly file: string,
    gtidPos: GtidPos,
    private readonly policy: CutPolicy,
    private readonly trustGtidList: boolean,
  ) {
    this.pos = gtidPos;
  }

  /** The GTID position after the last complete transaction fed. */
  get gtidPos(): GtidPos {
    return this.pos;
  }

  /** True while a transaction is open (bytes fed that are not yet part of any segment). */
  get midTransaction(): boolean {
    return this.inTrx;
  }

  /** Feeds bytes of the local file in order; returns the segments this completes. */
  feed(chunk: Buffer, nowMs: number): SegmentDraft[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: SegmentDraft[] = [];
    let off = 0;
    if (!this.headerDone) {
      if (this.buf.length < 4) return out;
      if (!this.buf.subarray(0, 4).equals(BINLOG_MAGIC)) throw new BackupmateError('INTEGRITY', `${this.file}: the local binlog copy does not start with the binlog magic`);
      off = 4;
    }
    for (;;) {
      const size = nextEventSize(this.buf, off);
      if (size === null || this.buf.length - off < size) break;
      const raw = this.buf.subarray(off, off + size);
      off += size;
      this.event(Buffer.from(raw), nowMs, out);
      if (this.ended) break;
    }
    this.buf = this.buf.subarray(off);
    if (!this.headerDone && this.fde) this.headerDone = true;
    const t = this.tick(nowMs);
    if (t) out.push(t);
    return out;
  }

  /** Cuts the open segment when it is old enough and between transactions (the timer's check). */
  tick(nowMs: number): SegmentDraft | null {
    if (!this.inTrx && this.segEvents > 0 && nowMs - this.segOpenedAt >= this.policy.maxSeconds * 1000) return this.cut(false);
    return null;
  }

  /** Cuts whatever complete transactions are open now (daemon stop); null when none. */
  flush(): SegmentDraft | null {
    return !this.inTrx && this.segEvents > 0 ? this.cut(false) : null;
  }

  private event(raw: Buffer, nowMs: number, out: SegmentDraft[]): void {
    const first = !this.fde;
    const e: BinlogEvent = parseEvent(raw, first ? false : this.crc);
    if (first) {
      if (e.type !== EV.FORMAT_DESCRIPTION) throw new BackupmateError('INTEGRITY', `${this.file}: the first event is of type ${e.type}, not a Format_description event`);
      this.fde = raw;
      this.checksum = e.checksum ?? 'NONE';
      this.crc = this.checksum === 'CRC32';
      // An FDE with log_pos 0 is the one the server sends when the dump starts inside the file.
      if (e.logPos > 0) {
        this.nextPos = e.logPos;
        this.openSegment(e.logPos, true, nowMs);
      }
      return;
    }
    if (e.artificial || e.logPos === 0) return; // made up by the server for the client, not in the file
    const start = e.logPos - e.size;
    if (this.segStart < 0) this.openSegment(start, false, nowMs);
    else if (start !== this.nextPos) {
      throw new BackupmateError('INTEGRITY', `${this.file}: event at ${start} does not follow the previous one (expected ${this.nextPos})`);
    }
    this.nextPos = e.logPos;
    this.parts.push(raw);
    this.partBytes += raw.length;
    this.segEvents++;
    if (e.timestamp) {
      this.segFirstTs ??= e.timestamp;
      this.segLastTs = e.timestamp;
    }
    if (e.type === EV.GTID_LIST && this.trustGtidList && !this.seenData) {
      this.pos = posOfList(e.gtidList ?? []);
      this.segGtidStart = this.pos;
    }
    if (e.type === EV.GTID && e.gtid) {
      this.seenData = true;
      this.inTrx = true;
      this.standalone = e.gtid.standalone;
      this.trxGtid = { domain: e.gtid.domain, server: e.gtid.server, seq: e.gtid.seq };
      this.trxTime = e.timestamp;
      return;
    }
    if (this.inTrx && closesTransaction(e, this.standalone)) {
      this.inTrx = false;
      const g = this.trxGtid!;
      this.pos = advance(this.pos, g);
      if (!this.segFirst.some((p) => p.domain === g.domain)) this.segFirst = advance(this.segFirst, g);
      this.segLast = advance(this.segLast, g);
      this.segTrx++;
      this.segCommitTs = e.timestamp || this.trxTime;
    }
    if (e.type === EV.ROTATE || e.type === EV.STOP) {
      this.ended = true;
      this.nextFile = e.type === EV.ROTATE ? (e.rotateTo ?? null) : null;
      // A Rotate/Stop inside an open transaction cannot happen in a sane binlog; keep the bytes anyway.
      this.inTrx = false;
      out.push(this.cut(true));
      return;
    }
    if (!this.inTrx && this.partBytes >= this.policy.maxBytes) out.push(this.cut(false));
  }

  private openSegment(start: number, startsFile: boolean, nowMs: number): void {
    this.segStart = start;
    this.segStartsFile = startsFile;
    this.segGtidStart = this.pos;
    this.segFirst = [];
    this.segLast = [];
    this.parts = [];
    this.partBytes = 0;
    this.segEvents = 0;
    this.segTrx = 0;
    this.segFirstTs = null;
    this.segLastTs = null;
    this.segCommitTs = null;
    this.segOpenedAt = nowMs;
  }

  private cut(closes: boolean): SegmentDraft {
    const bytes = Buffer.concat([BINLOG_MAGIC, this.fde!, ...this.parts]);
    const d: SegmentDraft = {
      file: this.file,
      startPos: this.segStart,
      endPos: this.nextPos,
      startsFile: this.segStartsFile,
      closesFile: closes,
      nextFile: closes ? this.nextFile : null,
      checksum: this.checksum,
      gtidStart: this.segGtidStart,
      gtidEnd: this.pos,
      first: this.segFirst,
      last: this.segLast,
      firstEventTime: this.segFirstTs === null ? null : iso(this.segFirstTs),
      lastEventTime: this.segLastTs === null ? null : iso(this.segLastTs),
      lastCommitTime: this.segCommitTs === null ? null : iso(this.segCommitTs),
      events: this.segEvents,
      transactions: this.segTrx,
      bytes,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    // The next segment of this file starts here (not at the file start).
    this.segStart = -1;
    this.parts = [];
    this.partBytes = 0;
    this.segEvents = 0;
    return d;
  }
}
