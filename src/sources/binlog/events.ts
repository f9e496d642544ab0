/**
 * Binlog v4 events, pure: just enough of the format to cut a stream at transaction boundaries and
 * to record GTIDs, times and file positions. Every event starts with a 19-byte header:
 * timestamp(4) type(1) server_id(4) event_size(4) log_pos(4, the END offset in the original
 * file; 0 for artificial events) flags(2), all little-endian; with binlog_checksum=CRC32 the
 * last 4 bytes are a checksum (announced by the Format_description event).
 */
import { BackupmateError } from '../../domain/errors.js';
import type { Gtid } from './gtid.js';

export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
export const HEADER_LEN = 19;

export const EV = {
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  GTID: 162,
  GTID_LIST: 163,
  XA_PREPARE: 182,
} as const;

/** LOG_EVENT_ARTIFICIAL_F: an event the server made up for the client, not in the file. */
const ARTIFICIAL = 0x20;
/** MariaDB GTID event flags2 FL_STANDALONE: the transaction is the single following event (DDL). */
const FL_STANDALONE = 1;

export interface BinlogEvent {
  type: number;
  timestamp: number;
  serverId: number;
  size: number;
  /** End offset in the original file (0: artificial / unknown). */
  logPos: number;
  artificial: boolean;
  /** Present for GTID events. */
  gtid?: Gtid & { standalone: boolean };
  /** Present for Rotate events: the next file. */
  rotateTo?: string;
  /** Present for Query events: the statement (e.g. BEGIN, COMMIT, DDL). */
  query?: string;
  /** Present for Gtid_list events. */
  gtidList?: Gtid[];
  /** Present for Format_description events: the checksum algorithm it announces. */
  checksum?: 'CRC32' | 'NONE';
}

/** The size of the next event in `buf` at `off`, or null when the header is not complete yet. */
export function nextEventSize(buf: Buffer, off: number): number | null {
  if (buf.length - off < HEADER_LEN) return null;
  const size = buf.readUInt32LE(off + 9);
  if (size < HEADER_LEN || size > 1 << 30) throw new BackupmateError('INTEGRITY', `binlog event at offset ${off} has an impossible size ${size}`);
  return size;
}

/** Parses one complete event (`ev` holds exactly its bytes). `crc`: the file's events end with a CRC32. */
export function parseEvent(ev: Buffer, crc: boolean): BinlogEvent {
  const type = ev.readUInt8(4);
  const flags = ev.readUInt16LE(17);
  const e: BinlogEvent = {
    type,
    timestamp: ev.readUInt32LE(0),
    serverId: ev.readUInt32LE(5),
    size: ev.readUInt32LE(9),
    logPos: ev.readUInt32LE(13),
    artificial: (flags & ARTIFICIAL) !== 0,
  };
  const body = ev.subarray(HEADER_LEN, ev.length - (crc && type !== EV.FORMAT_DESCRIPTION ? 4 : 0));
  switch (type) {
    case EV.FORMAT_DESCRIPTION: {
      // binlog_version(2) server_version(50) create_timestamp(4) header_len(1) post-header lengths...
      // then checksum_alg(1) + CRC(4) at the very end when the server knows checksums.
      const alg = ev.readUInt8(ev.length - 5);
      e.checksum = alg === 1 ? 'CRC32' : 'NONE';
      break;
    }
    case EV.GTID: {
      const seq = Number(body.readBigUInt64LE(0));
      e.gtid = { domain: body.readUInt32LE(8), server: e.serverId, seq, standalone: (body.readUInt8(12) & FL_STANDALONE) !== 0 };
      break;
    }
    case EV.ROTATE:
      // position(8) then the file name.
      e.rotateTo = body.subarray(8).toString('utf8');
      break;
    case EV.QUERY: {
      // thread_id(4) exec_time(4) db_len(1) error_code(2) status_vars_len(2) status_vars db\0 query
      const dbLen = body.readUInt8(8);
      const varsLen = body.readUInt16LE(11);
      e.query = body.subarray(13 + varsLen + dbLen + 1).toString('utf8');
      break;
    }
    case EV.GTID_LIST: {
      const n = body.readUInt32LE(0) & 0x0fffffff;
      e.gtidList = [];
      for (let i = 0; i < n; i++) {
        const o = 4 + i * 16;
        e.gtidList.push({ domain: body.readUInt32LE(o), server: body.readUInt32LE(o + 4), seq: Number(body.readBigUInt64LE(o + 8)) });
      }
      break;
    }
  }
  return e;
}

/**
 * Transaction boundaries. `open` after a GTID event; closed by an Xid (InnoDB commit), a Query
 * COMMIT/ROLLBACK (non-transactional engines), an XA PREPARE, or, for a standalone GTID (DDL),
 * by the single statement that follows it.
 */
export function closesTransaction(e: BinlogEvent, standalone: boolean): boolean {
  if (e.type === EV.XID || e.type === EV.XA_PREPARE) return true;
  if (e.type === EV.QUERY) {
    if (standalone) return true;
    const q = (e.query ?? '').trim().toUpperCase();
    return q === 'COMMIT' || q.startsWith('ROLLBACK') || q.startsWith('XA COMMIT') || q.startsWith('XA ROLLBACK');
  }
  return false;
}
