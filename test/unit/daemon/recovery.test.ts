import type { Logger } from '../../../src/log/logger.js';
import type { JobView } from '../../../src/daemon/protocol.js';
import { markDeadJobs, reportLastFailures } from '../../../src/daemon/recovery.js';

function recorder() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const record = (level: string) => (msg: string, fields?: Record<string, unknown>) => lines.push({ level, msg, fields });
  return { lines, log: { info: record('info'), warn: record('warn'), error: record('error') } as unknown as Logger };
}

const job = (id: string, state: JobView['state'], extra: Partial<JobView> = {}): JobView => ({
  id,
  kind: 'backup',
  backupKind: 'full',
  trigger: 'schedule',
  state,
  reason: '',
  queuedAt: '2026-11-21T04:00:00.000Z',
  bytes: 0,
  ...extra,
});

describe('markDeadJobs', () => {
  test('running and queued jobs of a dead daemon become crashed (INTERNAL, stage daemon), each logged; finished ones stay', () => {
    const { lines, log } = recorder();
    const jobs = [job('1', 'succeeded'), job('2', 'running', { startedAt: '2026-11-21T04:00:01.000Z', backupId: '20261121T040001Z' }), job('3', 'queued')];
    const now = new Date('2026-11-21T05:00:00.000Z');
    const dead = markDeadJobs(jobs, log, now);
    expect(dead.map((j) => j.id)).toEqual(['2', '3']);
    expect(jobs[0].state).toBe('succeeded');
    for (const j of dead) {
      expect(j).toMatchObject({ state: 'crashed', finishedAt: now.toISOString(), error: { code: 'INTERNAL', stage: 'daemon' } });
      expect(j.error!.message).toContain('daemon died');
    }
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'job 2 was running when the daemon died; recorded as crashed'],
      ['warn', 'job 3 was queued when the daemon died; recorded as crashed'],
    ]);
    expect(lines[0].fields).toMatchObject({ event: 'daemon.dead_job', jobId: '2', backupId: '20261121T040001Z' });
  });

  test('nothing to do: no line, nothing returned', () => {
    const { lines, log } = recorder();
    expect(markDeadJobs([job('1', 'failed'), job('2', 'cancelled')], log)).toEqual([]);
    expect(lines).toEqual([]);
  });
});

describe('reportLastFailures', () => {
  test('a kind whose last failure is newer than its last success is reported; a recovered one is not', () => {
    const { lines, log } = recorder();
    reportLastFailures(
      [
        job('1', 'failed', { finishedAt: '2026-11-21T04:00:00.000Z', error: { code: 'STORAGE', message: 'store down' } }),
        job('2', 'succeeded', { finishedAt: '2026-11-21T05:00:00.000Z' }),
        job('3', 'succeeded', { backupKind: 'incremental', finishedAt: '2026-11-21T06:00:00.000Z' }),
        job('4', 'crashed', { backupKind: 'incremental', finishedAt: '2026-11-21T07:00:00.000Z', error: { code: 'INTERNAL', message: 'daemon died' } }),
      ],
      log,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0].msg).toBe('the last incremental backup failed (job 4 at 2026-11-21T07:00:00.000Z: daemon died); it is retried at the next tick');
    expect(lines[0].fields).toMatchObject({ event: 'daemon.last_failure', kind: 'incremental', jobId: '4' });
  });
});
