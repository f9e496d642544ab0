import { archiveHoles, cutReplay, planPointInTime, restorableWindow, type PitrArchive, type PitrBackup, type PitrSegment } from '../../../src/restore/pitr-plan.js';
import { formatPosition, parseGtid, parsePosition } from '../../../src/sources/binlog/replay-gtid.js';
import type { ScannedTransaction } from '../../../src/sources/binlog/replay-scan.js';
import { BackupmateError } from '../../../src/domain/errors.js';

const T = (hms: string) => `2026-12-02T${hms}Z`;
const seg = (key: string, first: string, last: string, from: string, to: string): PitrSegment => ({
  key,
  first: parsePosition(first),
  last: parsePosition(last),
  firstEventTime: T(from),
  lastEventTime: T(to),
});
const backup = (id: string, kind: string, finished: string, gtid: string | null): PitrBackup => ({ id, kind, finishedAt: T(finished), gtid: gtid === null ? null : parsePosition(gtid) });

// Full at 10:00 (0-1-100), incremental at 12:00 (0-1-200); the archive is continuous from 0-1-50 to 0-1-300.
const backups = [backup('F', 'full', '10:00:00.500', '0-1-100'), backup('I', 'incremental', '12:00:00', '0-1-200')];
const archive: PitrArchive = {
  segments: [seg('s1', '0-1-50', '0-1-150', '09:00:00', '11:00:00'), seg('s2', '0-1-151', '0-1-250', '11:00:01', '13:00:00'), seg('s3', '0-1-251', '0-1-300', '13:00:01', '14:05:17')],
  gaps: [],
};

function refusal(f: () => unknown): BackupmateError {
  try {
    f();
  } catch (e) {
    if (e instanceof BackupmateError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('restorable window', () => {
  it('one interval per usable backup, from the first whole second after it finished to the last archived transaction', () => {
    expect(restorableWindow(backups, archive).intervals).toEqual([
      { backupId: 'F', from: T('10:00:01'), to: T('14:05:17') },
      { backupId: 'I', from: T('12:00:00'), to: T('14:05:17') },
    ]);
  });
  it('a backup without GTID or older than the archive starts no replay, with the reason', () => {
    const w = restorableWindow([backup('X', 'full', '08:00:00', '0-1-10'), backup('N', 'full', '10:30:00', null)], archive);
    expect(w.intervals).toEqual([]);
    expect(w.unusable.map((u) => u.id)).toEqual(['X', 'N']);
    expect(w.unusable[0]!.reason).toMatch(/archive starts after it: .*0-1-10.*domain 0 has sequence 50/);
    expect(w.unusable[1]!.reason).toMatch(/no GTID position/);
  });
  it('a GTID hole between segments ends the interval of the backups before it', () => {
    const holed: PitrArchive = { segments: [archive.segments[0]!, seg('s2', '0-1-170', '0-1-250', '11:30:00', '13:00:00')], gaps: [] };
    expect(archiveHoles(holed).map((h) => [h.domain, String(h.fromSeq), String(h.toSeq)])).toEqual([
      [0, '1', '49'],
      [0, '151', '169'],
    ]);
    expect(restorableWindow(backups, holed).intervals).toEqual([
      { backupId: 'F', from: T('10:00:01'), to: T('11:00:00') },
      { backupId: 'I', from: T('12:00:00'), to: T('13:00:00') },
    ]);
  });
});

describe('planPointInTime --time', () => {
  it('picks the newest backup finished by WHEN and the segments after its position up to WHEN', () => {
    const p = planPointInTime(backups, archive, { time: new Date(T('12:30:00')) });
    expect(p.backup.id).toBe('I');
    expect(p.segments).toEqual(['s2']);
    expect(p.reason).toMatch(/incremental I is the newest backup finished by 2026-12-02T12:30:00Z/);
    const q = planPointInTime(backups, archive, { time: new Date(T('11:59:59.900')) });
    expect(q.backup.id).toBe('F');
    expect(q.segments).toEqual(['s1', 's2']);
  });
  it('refuses a time before the oldest usable backup, naming the window and the nearest moment', () => {
    const e = refusal(() => planPointInTime(backups, archive, { time: new Date(T('09:30:00')) }));
    expect(e.code).toBe('NOT_RESTORABLE');
    expect(e.message).toMatch(/cannot restore to 2026-12-02T09:30:00.000Z: it is before the oldest backup that can start a replay; restorable: 2026-12-02T10:00:01Z .. 2026-12-02T14:05:17Z; the earliest after it is 2026-12-02T10:00:01Z/);
  });
  it('refuses a time after the last archived transaction', () => {
    const e = refusal(() => planPointInTime(backups, archive, { time: new Date(T('14:05:18')) }));
    expect(e.message).toMatch(/after the last archived transaction \(2026-12-02T14:05:17Z.*the latest restorable moment before it is 2026-12-02T14:05:17Z/);
    // Inside the last archived second is still fine (the cut leaves that second out).
    expect(planPointInTime(backups, archive, { time: new Date(T('14:05:17.900')) }).backup.id).toBe('I');
  });
  it('refuses a time inside a gap the archiver reported, with the moments on both sides', () => {
    const gapped: PitrArchive = { ...archive, gaps: [{ from: T('12:10:00'), to: T('12:20:00') }] };
    const e = refusal(() => planPointInTime([backups[0]!, backups[1]!, backup('J', 'incremental', '12:30:00', '0-1-230')], gapped, { time: new Date(T('12:15:00')) }));
    expect(e.message).toMatch(/inside a gap of the binlog archive/);
    expect(e.message).toMatch(/the latest restorable moment before it is 2026-12-02T12:10:00Z, the earliest after it is 2026-12-02T12:30:00Z/);
    expect(e.details).toMatchObject({ nearestBefore: T('12:10:00'), nearestAfter: T('12:30:00') });
  });
  it('refuses when the archive is empty', () => {
    expect(refusal(() => planPointInTime(backups, { segments: [], gaps: [] }, { time: new Date(T('12:00:00')) })).message).toMatch(/holds no segment yet/);
  });
});

describe('planPointInTime --gtid', () => {
  it('picks the newest backup at or before the GTID and the segments up to the one holding it', () => {
    const p = planPointInTime(backups, archive, { gtid: parseGtid('0-1-180') });
    expect(p.backup.id).toBe('F');
    expect(p.segments).toEqual(['s1', 's2']);
    expect(planPointInTime(backups, archive, { gtid: parseGtid('0-1-260') }).segments).toEqual(['s2', 's3']);
  });
  it('refuses a GTID past the archive or of an unknown domain', () => {
    expect(refusal(() => planPointInTime(backups, archive, { gtid: parseGtid('0-1-301') })).message).toMatch(/after the last archived transaction of domain 0 \(sequence 300\)/);
    expect(refusal(() => planPointInTime(backups, archive, { gtid: parseGtid('5-1-1') })).message).toMatch(/holds no transaction of domain 5/);
  });
});

const tx = (gtid: string, hms: string, file = 'f', offset = 0): ScannedTransaction => ({ gtid: parseGtid(gtid), time: Date.parse(T(hms)) / 1000, file, offset });

describe('cutReplay', () => {
  const start = parsePosition('0-1-5,2-1-3');
  const txs = [tx('0-1-4', '10:00:00'), tx('0-1-5', '10:00:01'), tx('0-1-6', '10:00:02'), tx('2-1-4', '10:00:02'), tx('0-1-7', '10:00:03'), tx('3-1-1', '10:00:04'), tx('0-1-8', '10:00:05')];
  it('time: replays the prefix before the first transaction of the second that contains WHEN', () => {
    const c = cutReplay(start, txs, { time: new Date(T('10:00:03.700')) });
    expect(formatPosition(c.stop)).toBe('0-1-6,2-1-4');
    expect(c.transactions).toBe(2);
    expect(c.firstLeftOut?.gtid).toEqual(parseGtid('0-1-7'));
    const d = cutReplay(start, txs, { time: new Date(T('10:00:04')) });
    expect(formatPosition(d.stop)).toBe('0-1-7,2-1-4');
  });
  it('time after every transaction: all of them, a new domain from its first sequence', () => {
    const c = cutReplay(start, txs, { time: new Date(T('10:00:09')) });
    expect(formatPosition(c.stop)).toBe('0-1-8,2-1-4,3-1-1');
    expect(c.firstLeftOut).toBeNull();
  });
  it('gtid: up to and including it, other domains as the server had written them before it', () => {
    expect(formatPosition(cutReplay(start, txs, { gtid: parseGtid('0-1-7') }).stop)).toBe('0-1-7,2-1-4');
    expect(() => cutReplay(start, txs, { gtid: parseGtid('0-1-99') })).toThrow(/GTID 0-1-99 is not in the downloaded segments/);
  });
  it('refuses a hole, a duplicate and a backup newer than WHEN (INTEGRITY)', () => {
    expect(() => cutReplay(start, [tx('0-1-6', '10:00:02'), tx('0-1-8', '10:00:03', 'seg2', 99)], { time: new Date(T('11:00:00')) })).toThrow(
      /miss transactions of domain 0: after 0-1-6 comes 0-1-8 \(seg2 offset 99.*expected sequence 7/,
    );
    expect(() => cutReplay(start, [tx('0-1-6', '10:00:02'), tx('0-1-6', '10:00:02')], { time: new Date(T('11:00:00')) })).toThrow(/apply it twice/);
    expect(() => cutReplay(start, [tx('0-1-5', '10:00:09')], { time: new Date(T('10:00:05')) })).toThrow(/newer than the moment asked/);
  });
});

describe('pointInTimeOfId (backupmatectl restore <timestamp>)', () => {
  // Imported lazily: pitr.ts pulls in the archive reader.
  const ids = ['20261202T040000Z', '20261202T120000Z'];
  it('an exact id, the same instant as a time, "latest" or a prefix name a backup; any other time is a moment', async () => {
    const { pointInTimeOfId } = await import('../../../src/restore/pitr.js');
    expect(pointInTimeOfId('20261202T040000Z', ids, 'UTC')).toBeNull();
    expect(pointInTimeOfId('2026-12-02 04:00:00', ids, 'UTC')).toBeNull();
    expect(pointInTimeOfId('latest', ids, 'UTC')).toBeNull();
    expect(pointInTimeOfId('20261202T04', ids, 'UTC')).toBeNull();
    expect(pointInTimeOfId('2026-12-02 14:05:17', ids, 'UTC')?.toISOString()).toBe('2026-12-02T14:05:17.000Z');
    expect(pointInTimeOfId('2026-12-02T14:05:17+01:00', ids, 'UTC')?.toISOString()).toBe('2026-12-02T13:05:17.000Z');
  });
});
