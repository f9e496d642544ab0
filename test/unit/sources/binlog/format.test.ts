import { BackupmateError } from '../../../../src/domain/errors.js';
import { checkContinuity } from '../../../../src/sources/binlog/continuity.js';
import { advance, formatGtidPos, includes, parseGtidPos, samePos } from '../../../../src/sources/binlog/gtid.js';
import { BINLOG_INDEX_FORMAT, parseGapRecord, parseSegmentIndex, segmentIndexJson, gapRecordJson, type SegmentIndex } from '../../../../src/sources/binlog/index.js';
import { classifyKey, gapName, segmentDataName, segmentIndexName, streamId } from '../../../../src/sources/binlog/layout.js';

const P = 'backupmate/binlog/';
const STREAM = 'server-7/20261202T160000Z';
const H = 'a'.repeat(64);

function seg(seq: number, over: Partial<SegmentIndex> & { start?: string; end?: string; file?: string; startPos?: number; endPos?: number; closes?: boolean; starts?: boolean } = {}): SegmentIndex {
  return {
    format: BINLOG_INDEX_FORMAT,
    stream: over.stream ?? STREAM,
    seq,
    object: `${String(seq).padStart(10, '0')}.0badcafe.binlog.zst`,
    server: { serverId: 7, hostname: 'db1', version: '10.11.19-MariaDB' },
    binlog: {
      file: over.file ?? 'mysql-bin.000001',
      startPos: over.startPos ?? 256,
      endPos: over.endPos ?? 1000,
      startsFile: over.starts ?? false,
      closesFile: over.closes ?? false,
      nextFile: null,
      checksum: 'CRC32',
    },
    gtid: { start: parseGtidPos(over.start ?? ''), end: parseGtidPos(over.end ?? '0-7-3'), first: [], last: [] },
    firstEventTime: `2026-12-02T16:0${seq}:00.000Z`,
    lastEventTime: `2026-12-02T16:0${seq}:30.000Z`,
    lastCommitTime: `2026-12-02T16:0${seq}:30.000Z`,
    events: 3,
    transactions: 1,
    rawBytes: 100,
    rawSha256: H,
    storedBytes: 50,
    sha256: H,
    compression: { algorithm: 'zstd' },
    encryption: null,
    writtenAt: '2026-12-02T16:10:00.000Z',
  };
}

describe('GTID positions', () => {
  test('parse, format, order per domain', () => {
    const p = parseGtidPos('1-2-5,\n0-7-100');
    expect(formatGtidPos(p)).toBe('0-7-100,1-2-5');
    expect(includes(p, parseGtidPos('0-9-99'))).toBe(true);
    expect(includes(p, parseGtidPos('0-7-101'))).toBe(false);
    expect(includes(p, parseGtidPos('2-1-1'))).toBe(false);
    expect(samePos(advance(p, { domain: 1, server: 3, seq: 6 }), parseGtidPos('0-7-100,1-3-6'))).toBe(true);
    expect(parseGtidPos('')).toEqual([]);
  });
  test('bad input names what was expected', () => {
    expect(() => parseGtidPos('0-1')).toThrow(/expected domain-server-seqno.*"0-1"/);
    expect(() => parseGtidPos('0-1-2,0-3-4')).toThrow(/domain 0 appears twice/);
  });
});

describe('layout', () => {
  test('keys carry the server identity and a sequence, never a file name', () => {
    const id = streamId(7, new Date('2026-12-02T16:00:00.123Z'));
    expect(id).toBe(STREAM);
    const data = segmentDataName(12, 'zstd', true);
    expect(data).toMatch(/^0000000012\.[0-9a-f]{8}\.binlog\.zst\.age$/);
    expect(segmentDataName(12, 'zstd', true)).not.toBe(data);
    expect(classifyKey(P, `${P}${id}/${data}`)).toEqual({ kind: 'data', stream: id, seq: 12, name: data });
    expect(classifyKey(P, `${P}${id}/${segmentIndexName(12)}`)).toEqual({ kind: 'index', stream: id, seq: 12 });
    expect(classifyKey(P, `${P}${id}/${gapName(3)}`)).toEqual({ kind: 'gap', stream: id, seq: 3 });
    expect(classifyKey(P, `${P}elsewhere/x.json`)).toEqual({ kind: 'other' });
    expect(classifyKey(P, `other/${id}/0000000001.json`)).toEqual({ kind: 'other' });
  });
});

describe('index objects', () => {
  test('round trip', () => {
    const s = seg(1, { start: '0-7-1', end: '0-7-3' });
    expect(parseSegmentIndex('k', segmentIndexJson(s))).toEqual(s);
  });
  test('invalid objects are INTEGRITY errors naming the key and the field', () => {
    const bad = JSON.parse(segmentIndexJson(seg(1)));
    bad.gtid.end = '0-7';
    expect(() => parseSegmentIndex('backupmate/binlog/x.json', JSON.stringify(bad))).toThrow(/binlog index backupmate\/binlog\/x\.json.*gtid\.end/);
    try {
      parseSegmentIndex('k', '{"format":"other"}');
    } catch (e) {
      expect(e).toBeInstanceOf(BackupmateError);
      expect((e as BackupmateError).code).toBe('INTEGRITY');
    }
    expect(() => parseSegmentIndex('k', 'not json')).toThrow(/is not JSON/);
    const obj = JSON.parse(segmentIndexJson(seg(2)));
    obj.object = '../x';
    expect(() => parseSegmentIndex('k', JSON.stringify(obj))).toThrow(/object must be/);
  });
  test('gap records', () => {
    const g = { format: BINLOG_INDEX_FORMAT, kind: 'gap' as const, stream: STREAM, seq: 3, from: null, to: '2026-12-02T16:00:00.000Z', gtidFrom: [], gtidTo: parseGtidPos('0-7-9'), lostFiles: ['mysql-bin.000002'], reason: 'purged', detectedAt: '2026-12-02T16:00:00.000Z' };
    expect(parseGapRecord('k', gapRecordJson(g))).toEqual(g);
  });
});

describe('continuity', () => {
  test('contiguous segments, across a rotation: no gap, no problem', () => {
    const r = checkContinuity(
      [
        seg(1, { start: '', end: '0-7-3', starts: true, endPos: 900 }),
        seg(2, { start: '0-7-3', end: '0-7-5', startPos: 900, endPos: 1200, closes: true }),
        seg(3, { start: '0-7-5', end: '0-7-6', file: 'mysql-bin.000002', starts: true }),
      ],
      [],
    );
    expect(r).toEqual({ gaps: [], problems: [] });
  });
  test('a missing segment is a hole; a repeated transaction is an overlap', () => {
    const hole = checkContinuity([seg(1, { end: '0-7-3', endPos: 900 }), seg(3, { start: '0-7-5', end: '0-7-6', startPos: 1100 })], []);
    expect(hole.gaps).toHaveLength(1);
    expect(hole.gaps[0]).toMatchObject({ kind: 'hole', from: '2026-12-02T16:01:30.000Z', to: '2026-12-02T16:03:00.000Z' });
    expect(hole.problems[0]!.message).toMatch(/jump from 1 to 3/);
    const over = checkContinuity([seg(1, { end: '0-7-3', endPos: 900 }), seg(2, { start: '0-7-2', end: '0-7-6', startPos: 900 })], []);
    expect(over.problems).toEqual([expect.objectContaining({ kind: 'overlap', seq: 2 })]);
    expect(over.gaps).toEqual([]);
  });
  test('a recorded gap explains a break; a new history that does not continue is a gap', () => {
    const g = { format: BINLOG_INDEX_FORMAT, kind: 'gap' as const, stream: STREAM, seq: 2, from: '2026-12-02T16:01:30.000Z', to: '2026-12-02T16:02:00.000Z', gtidFrom: [], gtidTo: [], lostFiles: ['mysql-bin.000002'], reason: 'purged before archived', detectedAt: 'x' };
    const r = checkContinuity([seg(1, { end: '0-7-3' }), seg(2, { start: '0-7-9', end: '0-7-10', file: 'mysql-bin.000003', starts: true })], [g]);
    expect(r.problems).toEqual([]);
    expect(r.gaps).toEqual([expect.objectContaining({ kind: 'recorded', reason: 'purged before archived' })]);
    const other = 'server-8/20261202T170000Z';
    const h = checkContinuity([seg(1, { end: '0-7-3' }), seg(1, { stream: other, start: '', end: '0-8-1', starts: true })], []);
    expect(h.gaps).toEqual([expect.objectContaining({ kind: 'history', stream: other })]);
    const same = checkContinuity([seg(1, { end: '0-7-3' }), seg(1, { stream: other, start: '0-7-3', end: '0-8-4', starts: true })], []);
    expect(same.gaps).toEqual([]);
  });
});

describe('recoverable window', () => {
  test('from the oldest backup the archive continues, to the last commit, with gaps; null when nothing is archived', async () => {
    const { recoverableWindow } = await import('../../../../src/sources/binlog/window.js');
    const segs = [seg(1, { start: '0-7-1', end: '0-7-3', endPos: 900 }), seg(2, { start: '0-7-3', end: '0-7-5', startPos: 900 })].map((s) => ({ ...s, key: 'k', indexKey: 'i' }));
    const listing = { prefix: P, segments: segs, gaps: [], problems: [], gapRecords: [], orphans: [], invalid: [] };
    const w = recoverableWindow(listing, [
      { id: 'old', finishedAt: '2026-12-01T00:00:00.000Z', gtid: '0-7-0' },
      { id: 'b1', finishedAt: '2026-12-02T16:00:10.000Z', gtid: '0-7-2' },
      { id: 'b2', finishedAt: '2026-12-02T16:02:10.000Z', gtid: '0-7-4' },
    ]);
    expect(w).toEqual({ from: '2026-12-02T16:00:10.000Z', fromBackup: 'b1', to: '2026-12-02T16:02:30.000Z', gaps: [] });
    expect(recoverableWindow({ ...listing, segments: [] }, [])).toBeNull();
    expect(recoverableWindow(listing, [{ id: 'x', finishedAt: 'z', gtid: null }])!.from).toBeNull();
  });
});

describe('binlog retention', () => {
  test('keeps from the segment the oldest kept backup replays from; nothing deleted when no kept backup replays', async () => {
    const { planBinlogRetention } = await import('../../../../src/sources/binlog/retention.js');
    const segs = [
      seg(1, { start: '', end: '0-7-3', endPos: 900 }),
      seg(2, { start: '0-7-3', end: '0-7-5', startPos: 900, endPos: 1000 }),
      seg(3, { start: '0-7-5', end: '0-7-8', startPos: 1000 }),
    ].map((s) => ({ ...s, key: `d${s.seq}`, indexKey: `i${s.seq}` }));
    const listing = { prefix: P, segments: segs, gaps: [], problems: [], gapRecords: [], orphans: [], invalid: [] };
    const p = planBinlogRetention(listing, [
      { id: 'new', finishedAt: 'b', gtid: '0-7-6' },
      { id: 'old', finishedAt: 'a', gtid: '0-7-4' },
    ]);
    expect(p.keepFrom).toEqual({ stream: STREAM, seq: 2, backupId: 'old' });
    expect(p.deleteKeys).toEqual(['i1', 'd1']);
    expect(planBinlogRetention(listing, [{ id: 'x', finishedAt: 'a', gtid: '5-1-1' }]).deleteKeys).toEqual([]);
    expect(planBinlogRetention(listing, []).deleteKeys).toEqual([]);
  });
  test('a pruned beginning is not a hole', () => {
    expect(checkContinuity([seg(4, { start: '0-7-5', end: '0-7-6' })], [])).toEqual({ gaps: [], problems: [] });
  });
});
