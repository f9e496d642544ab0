/**
 * backupmatectl's pure parts: framing and message checks, connection error mapping, progress
 * lines, and the rendering of status, list, restore and other results.
 */
import { BackupmateError } from '../../../src/domain/errors.js';
import { MANIFEST_FORMAT, type Manifest } from '../../../src/domain/manifest.js';
import type { Catalog } from '../../../src/storage/catalog.js';
import { renderCatalog } from '../../../src/cli/format.js';
import type { JobView, StatusResult } from '../../../src/daemon/protocol.js';
import { connectError, groupNameFromFile, LineDecoder, parseMessage } from '../../../src/ctl/client.js';
import {
  describeJob,
  formatProgress,
  progressFromEvent,
  ProgressView,
  renderGeneric,
  renderList,
  renderRestore,
  renderStatus,
  when,
} from '../../../src/ctl/render.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function thrown(fn: () => unknown): BackupmateError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    return e as BackupmateError;
  }
  throw new Error('expected a throw');
}

describe('LineDecoder', () => {
  test('splits lines across chunks, reassembles UTF-8 cut mid-character, skips blank lines, accepts CRLF', () => {
    const d = new LineDecoder();
    const bytes = Buffer.from('{"a":"é"}\r\n\n{"b":1}\n{"c"', 'utf8');
    const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of é
    expect(d.push(bytes.subarray(0, cut))).toEqual([]);
    expect(d.push(bytes.subarray(cut))).toEqual(['{"a":"é"}', '{"b":1}']);
    expect(d.push(Buffer.from(':2}'))).toEqual([]);
    expect(d.end()).toBe('{"c":2}');
    expect(d.end()).toBeNull();
  });

  test('a line longer than the limit without a newline is a protocol error', () => {
    const d = new LineDecoder(10);
    expect(thrown(() => d.push('x'.repeat(11))).code).toBe('PROTOCOL');
  });
});

describe('parseMessage', () => {
  test('events, results and errors of version 1 pass', () => {
    expect(parseMessage('{"v":1,"id":1,"event":"progress","stage":"backup","bytes":1,"total":0}')).toMatchObject({ event: 'progress' });
    expect(parseMessage('{"v":1,"id":1,"result":null}')).toEqual({ v: 1, id: 1, result: null });
    expect(parseMessage('{"v":1,"id":0,"error":{"code":"BUSY","message":"busy"}}')).toMatchObject({ error: { code: 'BUSY' } });
  });

  test('another version, non-JSON, non-objects and shapeless messages are PROTOCOL errors', () => {
    const v2 = thrown(() => parseMessage('{"v":2,"id":1,"result":{}}'));
    expect(v2.code).toBe('PROTOCOL');
    expect(v2.message).toContain('version 2');
    expect(thrown(() => parseMessage('{"id":1,"result":{}}')).message).toContain('version null');
    expect(thrown(() => parseMessage('hello')).code).toBe('PROTOCOL');
    expect(thrown(() => parseMessage('[1]')).code).toBe('PROTOCOL');
    expect(thrown(() => parseMessage('{"v":1,"id":1}')).code).toBe('PROTOCOL');
    expect(thrown(() => parseMessage('{"v":1,"id":1,"error":"boom"}')).code).toBe('PROTOCOL');
  });
});

describe('connectError', () => {
  const P = '/run/backupmate/backupmate.sock';

  test('ENOENT: the daemon is not running, no socket', () => {
    const e = connectError({ code: 'ENOENT' }, P);
    expect(e.code).toBe('DAEMON_UNAVAILABLE');
    expect(e.exitCode).toBe(68);
    expect(e.message).toBe(`the backupmate daemon is not running (no socket at ${P}): start it with systemctl start backupmate`);
  });

  test('ECONNREFUSED: the daemon is not running, nobody listens', () => {
    const e = connectError({ code: 'ECONNREFUSED' }, P);
    expect(e.code).toBe('DAEMON_UNAVAILABLE');
    expect(e.message).toBe(`the backupmate daemon is not running (nobody listens on ${P}): start it with systemctl start backupmate`);
  });

  test('EACCES: names the group to join and how', () => {
    const e = connectError({ code: 'EACCES' }, P, 'backupmate');
    expect(e.code).toBe('PERMISSION');
    expect(e.exitCode).toBe(77);
    expect(e.message).toBe(`permission denied on ${P}: add your user to group backupmate (usermod -aG backupmate $USER, then log in again) or run as root`);
    expect(connectError({ code: 'EACCES' }, P, '1234').message).toContain('add your user to group 1234 (usermod -aG 1234 $USER');
    expect(connectError({ code: 'EACCES' }, P, null).message).toContain(`ls -l ${P}`);
  });

  test('anything else: unavailable, with the system message', () => {
    const e = connectError({ code: 'EAGAIN', message: 'connect EAGAIN' }, P);
    expect(e.code).toBe('DAEMON_UNAVAILABLE');
    expect(e.message).toContain('connect EAGAIN');
  });
});

test('groupNameFromFile reads /etc/group lines', () => {
  const etc = 'root:x:0:\nbackupmate:x:998:alice,bob\n\nbroken\nmysql:x:27:\n';
  expect(groupNameFromFile(998, etc)).toBe('backupmate');
  expect(groupNameFromFile(0, etc)).toBe('root');
  expect(groupNameFromFile(5, etc)).toBeNull();
});

describe('progress lines', () => {
  test('with a total: bar, percentage, bytes, rate; without: bytes and rate only', () => {
    const p = { stage: 'backup', backupId: '20261121T040000Z', bytes: 1.2 * GiB, total: 3 * GiB };
    expect(formatProgress(p, 85 * MiB, true)).toBe('backup 20261121T040000Z: [########------------] 40% 1.2 GiB 85.0 MiB/s');
    expect(formatProgress(p, null, false)).toBe('backup 20261121T040000Z: 40% 1.2 GiB');
    expect(formatProgress({ stage: 'prepare', bytes: 5 * MiB, total: 0 }, 1 * MiB, true)).toBe('prepare: 5.0 MiB 1.0 MiB/s');
    expect(formatProgress({ stage: 'x', bytes: 20, total: 10 }, null, true)).toBe('x: [####################] 100% 20 B');
  });

  test('progressFromEvent takes stage, bytes, total (0 = unknown) and backupId', () => {
    expect(progressFromEvent({ event: 'progress', stage: 'download', bytes: 5, total: -1, backupId: 'X' })).toEqual({ stage: 'download', bytes: 5, total: 0, backupId: 'X' });
    expect(progressFromEvent({ event: 'progress', stage: 'download' })).toBeNull();
  });

  test("'lines': one line per stage change, at most one per 5 s otherwise, with the rate over the window", () => {
    let t = 0;
    const out: string[] = [];
    const v = new ProgressView('lines', (s) => out.push(s), () => t);
    v.update({ stage: 'backup', bytes: 0, total: 100 * MiB });
    for (t = 1000; t <= 9000; t += 1000) v.update({ stage: 'backup', bytes: (t / 1000) * 10 * MiB, total: 100 * MiB });
    t = 9500;
    v.update({ stage: 'upload', bytes: 1, total: 0 });
    v.note('hello');
    expect(out).toEqual(['backup: 0% 0 B\n', 'backup: 50% 50.0 MiB 10.0 MiB/s\n', 'upload: 1 B\n', 'hello\n']);
  });

  test("'bar': redrawn in place, throttled, a stage change keeps the last line, notes do not garble it", () => {
    let t = 0;
    const out: string[] = [];
    const v = new ProgressView('bar', (s) => out.push(s), () => t);
    v.update({ stage: 'backup', bytes: 0, total: 100 });
    t = 50;
    v.update({ stage: 'backup', bytes: 10, total: 100 }); // within 100 ms: not drawn
    t = 200;
    v.update({ stage: 'backup', bytes: 50, total: 100 });
    v.note('a log line');
    t = 210;
    v.update({ stage: 'backup', bytes: 100, total: 100 }); // done: drawn at once
    v.update({ stage: 'prepare', bytes: 0, total: 0 });
    v.finish();
    expect(out).toEqual([
      '\rbackup: [--------------------] 0% 0 B\x1b[K',
      '\rbackup: [##########----------] 50% 50 B\x1b[K',
      '\r\x1b[Ka log line\nbackup: [##########----------] 50% 50 B',
      '\rbackup: [####################] 100% 100 B\x1b[K',
      '\n',
      '\rpreparing the backup…\x1b[K',
      '\n',
    ]);
  });

  test('a stage without bytes (stopping, starting MariaDB) is shown as what it does, not "0 B"', () => {
    expect(formatProgress({ stage: 'stop', bytes: 0, total: 0 }, null, true)).toBe('stopping MariaDB…');
    expect(formatProgress({ stage: 'start', bytes: 0, total: 0 }, null, false)).toBe('starting MariaDB…');
    expect(formatProgress({ stage: 'cleanup', bytes: 0, total: 0, backupId: 'X' }, null, false)).toBe('cleanup X…');
    // Bytes or a total still show as bytes.
    expect(formatProgress({ stage: 'upload', bytes: 0, total: 10 }, null, false)).toBe('upload: 0% 0 B');
    expect(formatProgress({ stage: 'upload', bytes: 5, total: 0 }, null, false)).toBe('upload: 5 B');
  });

  test('finish() first shows the newest sample that throttling held back, so nothing is redrawn after what follows', () => {
    let t = 0;
    const out: string[] = [];
    const v = new ProgressView('bar', (s) => out.push(s), () => t);
    v.update({ stage: 'backup', bytes: 0, total: 100 });
    t = 50;
    v.update({ stage: 'backup', bytes: 99, total: 100 }); // throttled
    v.finish();
    v.note('backup: succeeded');
    expect(out).toEqual(['\rbackup: [--------------------] 0% 0 B\x1b[K', '\rbackup: [###################-] 99% 99 B\x1b[K', '\n', 'backup: succeeded\n']);
    // The same when the next stage starts: the ended stage's line shows where it really ended.
    const staged: string[] = [];
    const b = new ProgressView('bar', (s) => staged.push(s), () => t);
    b.update({ stage: 'backup', bytes: 0, total: 100 });
    t += 50;
    b.update({ stage: 'backup', bytes: 80, total: 100 }); // throttled
    b.update({ stage: 'upload', bytes: 1, total: 0 });
    expect(staged).toEqual(['\rbackup: [--------------------] 0% 0 B\x1b[K', '\rbackup: [################----] 80% 80 B\x1b[K', '\n', '\rupload: 1 B\x1b[K']);
    const lines: string[] = [];
    const l = new ProgressView('lines', (s) => lines.push(s), () => t);
    l.update({ stage: 'backup', bytes: 1, total: 100 });
    t += 1000;
    l.update({ stage: 'backup', bytes: 60, total: 100 }); // within the 5 s period
    l.finish();
    l.finish(); // idempotent
    expect(lines).toEqual(['backup: 1% 1 B\n', 'backup: 60% 60 B 59 B/s\n']);
  });

  test("'off' writes nothing", () => {
    const out: string[] = [];
    const v = new ProgressView('off', (s) => out.push(s));
    v.update({ stage: 'backup', bytes: 1, total: 2 });
    v.note('x');
    v.finish();
    expect(out).toEqual([]);
  });
});

function job(over: Partial<JobView> = {}): JobView {
  return {
    id: '7',
    kind: 'backup',
    backupKind: 'full',
    trigger: 'schedule',
    state: 'succeeded',
    reason: 'FULL_BACKUP_SCHEDULE',
    backupId: '20261121T030000Z',
    queuedAt: '2026-11-21T03:00:00.000Z',
    startedAt: '2026-11-21T03:00:00.000Z',
    finishedAt: '2026-11-21T03:12:03.000Z',
    bytes: 1.2 * GiB,
    ...over,
  };
}

function status(over: Partial<StatusResult> = {}): StatusResult {
  return {
    version: '0.2.0',
    pid: 4242,
    startedAt: '2026-11-20T08:00:00.000Z',
    state: 'running',
    running: job({ id: '9', trigger: 'manual', state: 'running', finishedAt: undefined, reason: '--full was given', backupId: '20261121T100000Z', progress: { stage: 'backup', bytes: 1.2 * GiB, total: 3 * GiB } }),
    queued: [job({ id: '10', backupKind: 'auto', trigger: 'catch-up', state: 'queued', backupId: undefined, startedAt: undefined, finishedAt: undefined, reason: 'missed 04:00' })],
    next: { full: '2026-11-22T03:00:00.000Z', incremental: null },
    timeZone: 'Europe/Berlin',
    last: {
      full: { success: job(), failure: job({ id: '5', state: 'failed', finishedAt: '2026-11-20T03:01:00.000Z', error: { code: 'TOOL_FAILED', message: 'mariabackup exited with status 1', stage: 'backup' } }) },
      incremental: { success: null, failure: null },
    },
    recent: [],
    store: 's3://bucket/backups/',
    ...over,
  };
}

describe('renderStatus', () => {
  test('state, daemon, store, running job with progress, queue, next runs and last results in the daemon zone', () => {
    const text = renderStatus(status());
    expect(text).toBe(
      [
        'state             running',
        'daemon            backupmate 0.2.0, pid 4242, up since 2026-11-20T09:00',
        'store             s3://bucket/backups/',
        'time zone         Europe/Berlin (times below are wall-clock times there)',
        'running           job 9: full backup 20261121T100000Z (manual), running since 2026-11-21T04:00: --full was given',
        '                  backup 20261121T100000Z: 40% 1.2 GiB',
        'queued            job 10: backup (catch-up), queued since 2026-11-21T04:00: missed 04:00',
        'next full         2026-11-22T04:00',
        'next incremental  not scheduled (INCREMENTAL_BACKUP_SCHEDULE=off)',
        'full              last success  2026-11-21T04:12:03: backup 20261121T030000Z, 1.2 GiB in 12m3s (job 7)',
        '                  last failure  2026-11-20T04:01: TOOL_FAILED: mariabackup exited with status 1 (stage backup) (job 5)',
        'incremental       last success  never',
        '                  last failure  never',
        '',
      ].join('\n'),
    );
  });

  test("last success: the store's newest backup when it is newer than the daemon's own (a cron backup); crashed jobs read as crashed", () => {
    const text = renderStatus(
      status({
        last: {
          full: { success: job(), failure: job({ id: '8', state: 'crashed', finishedAt: '2026-11-21T05:00:00.000Z', error: { code: 'INTERNAL', message: 'the daemon was killed or crashed while this job ran (daemon died)' } }) },
          incremental: { success: null, failure: null },
        },
        catalog: {
          newest: {
            full: { id: '20261120T030000Z', finishedAt: '2026-11-20T03:30:00.000Z', rawBytes: 2 * GiB, storedBytes: GiB },
            incremental: { id: '20261121T110000Z', finishedAt: '2026-11-21T11:05:00.000Z', rawBytes: 2 * MiB, storedBytes: MiB },
          },
          readAt: '2026-11-21T11:10:00.000Z',
        },
      }),
    );
    // The daemon's full job (11-21) is newer than the store's newest full (11-20): the job is shown.
    expect(text).toMatch(/^full +last success {2}2026-11-21T04:12:03: backup 20261121T030000Z, 1\.2 GiB in 12m3s \(job 7\)$/m);
    expect(text).toMatch(/^ +last failure {2}2026-11-21T06:00: crashed: the daemon was killed or crashed while this job ran \(daemon died\) \(job 8\)$/m);
    expect(text).toMatch(/^incremental +last success {2}2026-11-21T12:05: backup 20261121T110000Z, 1\.0 MiB \(in the store, not taken by this daemon\)$/m);
    expect(text).not.toMatch(/catalog could not be read/);
  });

  test("a catalog that could not be read says so under the store; an older daemon's status (no catalog) still renders", () => {
    const text = renderStatus(status({ catalog: { newest: { full: null, incremental: null }, readAt: null, error: 'STORAGE: connect ECONNREFUSED 127.0.0.1:9000' } }));
    expect(text).toMatch(/^store +s3:\/\/bucket\/backups\/\n +its catalog could not be read: STORAGE: connect ECONNREFUSED 127\.0\.0\.1:9000$/m);
    expect(renderStatus(status())).toMatch(/^incremental +last success {2}never$/m);
  });

  test('idle with nothing queued', () => {
    const text = renderStatus(status({ state: 'idle', running: null, queued: [] }));
    expect(text).toMatch(/^running +nothing$/m);
    expect(text).toMatch(/^queued +nothing$/m);
  });

  test('times fall back to ISO for a zone this Node does not know', () => {
    expect(when('2026-11-21T03:00:00.000Z', 'Mars/Olympus')).toBe('2026-11-21T03:00:00.000Z');
    expect(when(null)).toBe('-');
  });
});

test('describeJob says what, why, and since when', () => {
  expect(describeJob(job({ kind: 'restore', backupKind: undefined, state: 'cancelled', trigger: 'manual', reason: '' }), 'UTC')).toBe(
    'job 7: restore of 20261121T030000Z (manual), cancelled at 2026-11-21T03:12:03',
  );
});

function manifest(id: string, kind: 'full' | 'incremental', parentId: string | null, fullId: string): Manifest {
  return {
    format: MANIFEST_FORMAT,
    id,
    source: {
      type: 'physical',
      lsn: { from: kind === 'full' ? '0' : '100', to: '200', last: '200' },
      binlog: null,
      versions: { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB' },
    } as Manifest['source'],
    kind,
    parentId,
    fullId,
    versions: { backupmate: '0.1.0' },
    host: 'db1',
    compression: { algorithm: 'zstd', level: 3 },
    encryption: null,
    container: { format: 'tar', chunkSize: 4 * MiB },
    volumes: [{ name: 'data.00000', size: 1034, sha256: 'a'.repeat(64) }],
    rawBytes: 4096,
    storedBytes: 1034,
    startedAt: '2026-11-21T04:00:00.000Z',
    finishedAt: '2026-11-21T04:10:00.000Z',
    durationMs: 600_000,
  };
}

test('renderList prints what backupmate list prints for the same store', () => {
  const full = manifest('20261121T040000Z', 'full', null, '20261121T040000Z');
  const inc1 = manifest('20261121T120000Z', 'incremental', full.id, full.id);
  const inc2 = manifest('20261121T180000Z', 'incremental', inc1.id, full.id);
  const orphan = manifest('20261120T120000Z', 'incremental', '20261120T040000Z', '20261120T040000Z');
  const dir = (id: string, kind: string, objects: { key: string; size: number }[] = []) => ({ id, source: 'physical', kind, dir: `${kind}/${id}/`, hasManifest: true, objects });
  const catalog: Catalog = {
    backups: [orphan, full, inc1, inc2].map((m) => ({ dir: dir(m.id, m.kind), manifest: m })),
    incomplete: [{ ...dir('20261122T040000Z', 'full', [{ key: 'full/20261122T040000Z/data.00000', size: 3 * MiB }, { key: 'full/20261122T040000Z/data.00001', size: MiB }]), hasManifest: false }],
    broken: [{ dir: dir('20261119T040000Z', 'full'), error: 'manifest full/20261119T040000Z/manifest.json is not valid JSON' }],
  };
  // What `backupmate list --json` prints for that catalog (src/cli/commands.ts listCommand).
  const json = JSON.parse(
    JSON.stringify({
      backups: catalog.backups.map((b) => ({ ...b.manifest, status: 'ok' })),
      incomplete: catalog.incomplete.map((d) => ({ id: d.id, kind: d.kind, status: 'incomplete', objects: d.objects.map((o) => o.key), bytes: d.objects.reduce((a, o) => a + o.size, 0) })),
      unreadable: catalog.broken.map((b) => ({ id: b.dir.id, kind: b.dir.kind, status: 'unreadable', error: b.error })),
    }),
  ) as unknown;
  const text = renderList(json);
  expect(text).toBe(renderCatalog(catalog));
  expect(text).toContain('└─ 20261121T180000Z');
  expect(text).toContain('orphan (full missing)');
  expect(text).toMatch(/20261122T040000Z +physical +full +incomplete +- +4\.0 MiB/);
  expect(text).toContain('unreadable');
  expect(renderList({ backups: [], incomplete: [], unreadable: [] })).toBe('no backups in the store\n');
  expect(thrown(() => renderList({ backups: 'x' })).code).toBe('PROTOCOL');
});

test('renderList shows LAST_DRILL like backupmate list when the daemon sends lastDrills', () => {
  const full = manifest('20261121T040000Z', 'full', null, '20261121T040000Z');
  const inc = manifest('20261121T120000Z', 'incremental', full.id, full.id);
  const dir = (id: string, kind: string) => ({ id, source: 'physical', kind, dir: `${kind}/${id}/`, hasManifest: true, objects: [] });
  const catalog: Catalog = { backups: [full, inc].map((m) => ({ dir: dir(m.id, m.kind), manifest: m })), incomplete: [], broken: [] };
  const json = JSON.parse(
    JSON.stringify({
      backups: catalog.backups.map((b) => ({ ...b.manifest, status: 'ok' })),
      incomplete: [],
      unreadable: [],
      lastDrills: { [full.id]: { status: 'ok', timeToReadyMs: 252_000 }, [inc.id]: { status: 'failed', failedStep: 'replay', timeToReadyMs: null } },
    }),
  ) as unknown;
  const text = renderList(json);
  expect(text).toBe(renderCatalog(catalog, new Map([[full.id, 'ok, 4m12s to ready'], [inc.id, 'FAILED at replay']])));
  expect(text).toContain('LAST_DRILL');
  expect(text).toContain('FAILED at replay');
});

test('renderRestore: where it went, the chain, timings, what to do next', () => {
  const text = renderRestore({
    id: '20261121T120000Z',
    chain: ['20261121T040000Z', '20261121T120000Z'],
    mode: 'copy-back',
    destination: '/var/lib/mysql',
    movedAside: '/var/lib/mysql.before-restore-20261121T130000Z',
    serverStarted: true,
    timings: { downloadMs: 1500, prepareMs: 62_000, putBackMs: 4000, totalMs: 67_000 },
  });
  expect(text).toBe(
    [
      'restored backup 20261121T120000Z into /var/lib/mysql (copy-back)',
      '  chain applied in order: 20261121T040000Z -> 20261121T120000Z',
      '  download 1.5s, prepare 1m2s, put back 4.0s, total 1m7s',
      '  the previous datadir was moved aside to /var/lib/mysql.before-restore-20261121T130000Z (delete it yourself once the restore is confirmed)',
      '  MariaDB was started again',
      '',
    ].join('\n'),
  );
});

test('renderGeneric: key/value lines, lists joined, nested as JSON', () => {
  expect(renderGeneric({ id: 'X', ok: true, volumes: ['a', 'b'], sizes: { a: 1 } })).toBe('id:       X\nok:       true\nvolumes:  a, b\nsizes:    {"a":1}\n');
  expect(renderGeneric(null)).toBe('ok\n');
  expect(renderGeneric({})).toBe('ok\n');
  expect(renderGeneric({ message: 'all good' })).toBe('all good\n');
});
