import type { JobView } from '../../../src/daemon/protocol.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { lastOutcomes, lastSuccessAt, newestStored } from '../../../src/daemon/state.js';

const job = (id: string, state: JobView['state'], backupKind: JobView['backupKind'] = 'full'): JobView => ({
  id,
  kind: 'backup',
  backupKind,
  trigger: 'schedule',
  state,
  reason: '',
  queuedAt: '2026-11-21T04:00:00.000Z',
  bytes: 0,
});

describe('lastOutcomes', () => {
  test('a job that died with the daemon is the last failure; a cancellation is not', () => {
    const jobs = [job('1', 'succeeded'), job('2', 'failed'), job('3', 'crashed'), job('4', 'cancelled'), job('5', 'crashed', 'incremental')];
    expect(lastOutcomes(jobs, 'full')).toMatchObject({ success: { id: '1' }, failure: { id: '3', state: 'crashed' } });
    expect(lastOutcomes(jobs, 'incremental')).toMatchObject({ success: null, failure: { id: '5' } });
  });
});

describe('lastSuccessAt (the stale check)', () => {
  const none = { newest: { full: null, incremental: null } };
  const stored = (finishedAt: string) => ({ id: 'x', finishedAt, rawBytes: 1, storedBytes: 1 });
  const ok = { ...job('1', 'succeeded'), finishedAt: '2026-11-20T04:00:00.000Z' };

  test("a backup in the store that the CLI took counts, also when the daemon's own jobs are older or none", () => {
    expect(lastSuccessAt([], { newest: { full: stored('2026-11-21T03:00:00.000Z'), incremental: null } })).toBe('2026-11-21T03:00:00.000Z');
    expect(lastSuccessAt([ok], { newest: { full: stored('2026-11-19T03:00:00.000Z'), incremental: stored('2026-11-21T03:00:00.000Z') } })).toBe('2026-11-21T03:00:00.000Z');
  });
  test("the daemon's job when it is the newer; null when nothing is known", () => {
    expect(lastSuccessAt([ok], { newest: { full: stored('2026-11-19T03:00:00.000Z'), incremental: null } })).toBe(ok.finishedAt);
    expect(lastSuccessAt([job('2', 'failed')], none)).toBeNull();
  });
});

describe('newestStored', () => {
  test('the newest of each kind by finish time, with its sizes', () => {
    const m = (id: string, kind: string, finishedAt: string) => ({ id, kind, finishedAt, rawBytes: 10, storedBytes: 4 }) as unknown as Manifest;
    const r = newestStored([m('a', 'full', '2026-11-01T00:00:00Z'), m('b', 'full', '2026-11-08T00:00:00Z'), m('c', 'incremental', '2026-11-02T00:00:00Z')]);
    expect(r).toEqual({ full: { id: 'b', finishedAt: '2026-11-08T00:00:00Z', rawBytes: 10, storedBytes: 4 }, incremental: { id: 'c', finishedAt: '2026-11-02T00:00:00Z', rawBytes: 10, storedBytes: 4 } });
    expect(newestStored([])).toEqual({ full: null, incremental: null });
  });
});
