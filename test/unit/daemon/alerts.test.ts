import { jobLogFields, jobOutcome } from '../../../src/daemon/alerts.js';
import type { JobView } from '../../../src/daemon/protocol.js';

const base: JobView = {
  id: '7',
  kind: 'backup',
  backupKind: 'incremental',
  trigger: 'schedule',
  state: 'failed',
  reason: 'incremental schedule tick',
  backupId: '20261122T040000Z',
  queuedAt: '2026-11-22T04:00:00.000Z',
  startedAt: '2026-11-22T04:00:01.000Z',
  finishedAt: '2026-11-22T04:00:11.000Z',
  bytes: 100,
  error: { code: 'TOOL_FAILED', message: 'mariabackup exited with code 1', stage: 'mariabackup' },
};

describe('jobOutcome', () => {
  test("a failed backup: the planned kind, the duration, and the error with the kept exit code and stderr tail", () => {
    expect(jobOutcome(base, 'db1', { exitCode: 1, stderrTail: ['InnoDB: error'] })).toEqual({
      host: 'db1',
      jobId: '7',
      kind: 'incremental',
      trigger: 'schedule',
      status: 'failed',
      backupId: '20261122T040000Z',
      error: { code: 'TOOL_FAILED', message: 'mariabackup exited with code 1', stage: 'mariabackup', exitCode: 1, stderrTail: ['InnoDB: error'] },
      startedAt: base.startedAt,
      finishedAt: base.finishedAt,
      bytes: 100,
      durationMs: 10_000,
    });
  });

  test('restore and verify jobs are named as such; a crashed job is a failure; a backup that never planned is auto', () => {
    expect(jobOutcome({ ...base, kind: 'restore' }, 'h').kind).toBe('restore');
    expect(jobOutcome({ ...base, kind: 'verify', state: 'succeeded', error: undefined }, 'h')).toMatchObject({ kind: 'verify', status: 'succeeded', error: undefined });
    expect(jobOutcome({ ...base, state: 'crashed' }, 'h').status).toBe('failed');
    expect(jobOutcome({ ...base, state: 'cancelled' }, 'h').status).toBe('cancelled');
    expect(jobOutcome({ ...base, backupKind: undefined }, 'h').kind).toBe('auto');
  });

  test('a job that did not finish has no duration', () => {
    expect(jobOutcome({ ...base, finishedAt: undefined }, 'h').durationMs).toBeUndefined();
  });
});

describe('jobLogFields', () => {
  test('the event name, the job facts, the duration and the error code and stage', () => {
    expect(jobLogFields(base, 'finished')).toEqual({
      event: 'job.finished',
      jobId: '7',
      jobKind: 'backup',
      kind: 'incremental',
      trigger: 'schedule',
      backupId: '20261122T040000Z',
      status: 'failed',
      reason: 'incremental schedule tick',
      bytes: 100,
      durationMs: 10_000,
      error: 'mariabackup exited with code 1',
      code: 'TOOL_FAILED',
      stage: 'mariabackup',
    });
  });

  test('a queued job has neither duration nor error fields', () => {
    const f = jobLogFields({ ...base, state: 'queued', startedAt: undefined, finishedAt: undefined, error: undefined }, 'queued');
    expect(f).not.toHaveProperty('durationMs');
    expect(f).not.toHaveProperty('code');
  });
});
