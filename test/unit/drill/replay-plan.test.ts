import { planDrillReplay } from '../../../src/drill/replay-plan.js';
import type { PitrArchive, PitrBackup, PitrSegment } from '../../../src/restore/pitr-plan.js';
import { parsePosition } from '../../../src/sources/binlog/replay-gtid.js';

const T = (hms: string) => `2026-12-02T${hms}Z`;
const seg = (key: string, first: string, last: string, from: string, to: string): PitrSegment => ({
  key,
  first: parsePosition(first),
  last: parsePosition(last),
  firstEventTime: T(from),
  lastEventTime: T(to),
});
const backup = (id: string, finished: string, gtid: string | null): PitrBackup => ({ id, kind: 'full', finishedAt: T(finished), gtid: gtid === null ? null : parsePosition(gtid) });

const archive: PitrArchive = {
  segments: [seg('s1', '0-1-50', '0-1-150', '09:00:00', '11:00:00'), seg('s2', '0-1-151', '0-1-250', '11:00:01', '13:00:00'), seg('s3', '0-1-251', '0-1-300', '13:00:01', '14:05:17')],
  gaps: [],
};

describe('planDrillReplay', () => {
  it('replays the drilled backup (never a newer one) up to the last archived moment', () => {
    const d = planDrillReplay(backup('F', '10:00:00.500', '0-1-100'), archive, true);
    expect(d.replay).toBe(true);
    if (!d.replay) return;
    expect(d.plan.backup.id).toBe('F');
    expect(d.upTo).toBe(T('14:05:17'));
    expect(d.plan.request).toEqual({ time: new Date(T('14:05:17')) });
    expect(d.plan.segments).toEqual(['s1', 's2', 's3']);
  });
  it('stops at the last transaction before a hole after the backup', () => {
    const holed: PitrArchive = { segments: [archive.segments[0]!, archive.segments[1]!, seg('s3', '0-1-260', '0-1-300', '13:00:01', '14:05:17')], gaps: [] };
    const d = planDrillReplay(backup('F', '10:00:00.500', '0-1-100'), holed, true);
    expect(d.replay && d.upTo).toBe(T('13:00:00'));
    expect(d.replay && d.plan.segments).toEqual(['s1', 's2']);
  });
  it('no archive: no replay, saying so', () => {
    expect(planDrillReplay(backup('F', '10:00:00', '0-1-100'), { segments: [], gaps: [] }, false)).toEqual({ replay: false, reason: 'the store holds no binlog archive' });
    expect(planDrillReplay(backup('F', '10:00:00', '0-1-100'), { segments: [], gaps: [] }, true)).toMatchObject({ replay: false, reason: expect.stringMatching(/no segment/) });
  });
  it('an archive that cannot continue from the backup: no replay, with the reason', () => {
    expect(planDrillReplay(backup('F', '10:00:00', null), archive, true)).toMatchObject({ replay: false, reason: expect.stringMatching(/cannot continue from backup F: .*no GTID position/) });
    expect(planDrillReplay(backup('O', '08:00:00', '0-1-10'), archive, true)).toMatchObject({ replay: false, reason: expect.stringMatching(/archive starts after it/) });
    // Finished after the last archived transaction: nothing to replay after it.
    expect(planDrillReplay(backup('L', '15:00:00', '0-1-300'), archive, true)).toMatchObject({ replay: false, reason: expect.stringMatching(/cannot continue from backup L/) });
  });
});
