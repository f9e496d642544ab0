import type { DaemonContext } from '../../../src/daemon/context.js';
import { statusLine, statusView } from '../../../src/daemon/handlers/status.js';
import type { JobView } from '../../../src/daemon/protocol.js';

function context(over: { current?: JobView | null; stopping?: boolean; paused?: boolean; jobs?: JobView[] } = {}): DaemonContext {
  return {
    config: { SCHEDULE_TIMEZONE: 'Europe/Paris' },
    storage: { description: 'file:///srv/backups' },
    logger: {},
    queue: { current: over.current ?? null, queued: [] },
    startedAt: new Date('2026-11-21T03:00:00.000Z'),
    stopping: over.stopping ?? false,
    schedulesPaused: over.paused ?? false,
    nextRuns: () => ({ full: '2026-11-22T04:00:00.000Z', incremental: null }),
    jobs: over.jobs ?? [],
    catalog: { view: { newest: { full: null, incremental: null }, readAt: null }, backups: [] },
    refreshCatalog: async () => {},
    keepErrorDetail: () => {},
  } as unknown as DaemonContext;
}

const running: JobView = {
  id: '3',
  kind: 'backup',
  backupKind: 'full',
  trigger: 'manual',
  state: 'running',
  reason: '',
  backupId: '20261121T040000Z',
  queuedAt: '2026-11-21T04:00:00.000Z',
  bytes: 0,
  progress: { stage: 'backup', bytes: 512 * 1024 * 1024, total: 1024 * 1024 * 1024 },
};

describe('statusLine', () => {
  test('idle: the next tick of each schedule, off when there is none', () => {
    expect(statusLine(context())).toBe('idle; next full 2026-11-22 04:00Z, next incremental off, next directories off, next logical off, next drill off');
  });

  test('a running backup with its percentage and bytes; planning before it has an id', () => {
    expect(statusLine(context({ current: running }))).toMatch(/^backup 20261121T040000Z: 50% 512/);
    expect(statusLine(context({ current: { ...running, backupId: undefined, progress: undefined } }))).toMatch(/^backup \(planning\): 0/);
  });

  test('stopping wins', () => {
    expect(statusLine(context({ current: running, stopping: true }))).toBe('stopping');
  });
});

describe('statusView', () => {
  test('state follows stopping, paused (a restore runs), running, idle; the store and zone are shown', () => {
    expect(statusView(context()).state).toBe('idle');
    expect(statusView(context({ current: running })).state).toBe('running');
    expect(statusView(context({ current: running, paused: true })).state).toBe('paused');
    expect(statusView(context({ paused: true, stopping: true })).state).toBe('stopping');
    expect(statusView(context())).toMatchObject({ store: 'file:///srv/backups', timeZone: 'Europe/Paris', next: { full: '2026-11-22T04:00:00.000Z', incremental: null } });
  });
});
