/**
 * backupmatectl end to end against a tiny fake daemon: a net.Server on a Unix socket in a temp
 * dir that reads the request line and answers as the script of each test says. main(args, io)
 * runs in-process with fake streams, so prompts are answered through a fake stdin.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import type { JobView, StatusResult } from '../../../src/daemon/protocol.js';
import { groupNameFromFile, type Connector } from '../../../src/ctl/client.js';
import { main, type CtlIo } from '../../../src/ctl/main.js';
import { renderList } from '../../../src/ctl/render.js';
import { VERSION } from '../../../src/version.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Peer {
  /** Sends a message; v and id are filled in unless given. */
  send(msg: Json): void;
  /** Sends a line as is. */
  raw(line: string): void;
  /** The client's next line after the request, parsed (null when it closed). */
  next(): Promise<Json | null>;
  /** Ends the connection (after what was sent). */
  end(): void;
}

interface FakeDaemon {
  socket: string;
  /** Every line the client sent, parsed, in order. */
  received: Json[];
  /** Settles when the script of the (first) connection is done; rejects with its failure. */
  handled: Promise<void>;
}

let dir: string;
const servers: net.Server[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bmctl-'));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function fakeDaemon(script: (req: Json, peer: Peer) => Promise<void> | void): Promise<FakeDaemon> {
  const socket = path.join(dir, 'backupmate.sock');
  const received: Json[] = [];
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const handled = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  handled.catch(() => {}); // observed by the tests that care
  const server = net.createServer((conn) => {
    conn.on('error', () => {});
    const lines = createInterface({ input: conn, crlfDelay: Infinity });
    const queue: (Json | null)[] = [];
    let waiter: ((x: Json | null) => void) | null = null;
    const put = (x: Json | null) => {
      if (waiter) {
        const w = waiter;
        waiter = null;
        w(x);
      } else queue.push(x);
    };
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as Json;
      received.push(msg);
      put(msg);
    });
    lines.on('close', () => put(null));
    // readline re-emits its input's errors (EPIPE, ECONNRESET when the client goes): without a
    // listener they would be thrown.
    lines.on('error', () => {});
    const write = (line: string) => {
      if (!conn.destroyed && conn.writable) conn.write(line);
    };
    const next = (): Promise<Json | null> => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiter = r)));
    void (async () => {
      const req = await next();
      if (!req) return settle.resolve();
      const peer: Peer = {
        // Like the real daemon, writes nothing once the client has gone.
        send: (msg) => write(JSON.stringify({ v: 1, id: req.id, ...msg }) + '\n'),
        raw: (line) => write(line + '\n'),
        next,
        end: () => void conn.end(),
      };
      await script(req, peer);
    })().then(
      () => settle.resolve(),
      (e: unknown) => {
        settle.reject(e);
        conn.destroy();
      },
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { socket, received, handled };
}

function testIo(over: Partial<CtlIo> & { input?: string } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const stdin = new PassThrough();
  if (over.input !== undefined) stdin.end(over.input);
  let t = 0;
  const { input: _input, ...rest } = over;
  const io: CtlIo = {
    stdin,
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    isTTY: { stdin: false, stderr: false },
    env: {},
    cwd: '/work/here',
    // Each reading of the clock is one second later: rates and throttling are deterministic.
    now: () => (t += 1000),
    ...rest,
  };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

const MiB = 1024 ** 2;

function job(over: Partial<JobView> = {}): JobView {
  return {
    id: '7',
    kind: 'backup',
    backupKind: 'full',
    trigger: 'manual',
    state: 'queued',
    reason: '--full was given',
    queuedAt: '2026-11-21T04:00:00.000Z',
    bytes: 0,
    ...over,
  };
}

const done = job({ state: 'succeeded', backupId: '20261121T040000Z', startedAt: '2026-11-21T04:00:00.000Z', finishedAt: '2026-11-21T04:02:00.000Z', bytes: 300 * MiB });

function statusResult(): StatusResult {
  return {
    version: '0.2.0',
    pid: 4242,
    startedAt: '2026-11-20T08:00:00.000Z',
    state: 'idle',
    running: null,
    queued: [],
    next: { full: '2026-11-22T04:00:00.000Z', incremental: '2026-11-21T12:00:00.000Z' },
    timeZone: 'UTC',
    last: { full: { success: done, failure: null }, incremental: { success: null, failure: null } },
    recent: [],
    store: 'file:///srv/backups',
  };
}

describe('status', () => {
  test('renders the daemon, schedule and last results; the socket comes from CONTROL_SOCKET', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ result: statusResult() });
      peer.end();
    });
    const t = testIo({ env: { CONTROL_SOCKET: d.socket } });
    expect(await main(['status'], t.io)).toBe(0);
    expect(d.received).toEqual([{ v: 1, id: 1, method: 'status', params: {} }]);
    const out = t.out();
    expect(out).toMatch(/^state +idle$/m);
    expect(out).toMatch(/^daemon +backupmate 0\.2\.0, pid 4242, up since 2026-11-20T08:00$/m);
    expect(out).toMatch(/^store +file:\/\/\/srv\/backups$/m);
    expect(out).toMatch(/^next full +2026-11-22T04:00$/m);
    expect(out).toMatch(/^next incremental +2026-11-21T12:00$/m);
    expect(out).toMatch(/^full +last success {2}2026-11-21T04:02: backup 20261121T040000Z, 300\.0 MiB in 2m0s \(job 7\)$/m);
    expect(out).toMatch(/^incremental +last success {2}never$/m);
    expect(t.err()).toBe('');
  });
});

describe('backup', () => {
  const followScript = (final: Json) => (_req: Json, peer: Peer) => {
    peer.send({ event: 'state', job: job({ state: 'running', startedAt: '2026-11-21T04:00:00.000Z' }) });
    peer.send({ event: 'state', state: 'running', backupId: '20261121T040000Z', reason: 'requested with backupmatectl backup --full' });
    for (let i = 0; i <= 10; i++) peer.send({ event: 'progress', stage: 'backup', backupId: '20261121T040000Z', bytes: i * 30 * MiB, total: 300 * MiB });
    peer.send({ event: 'progress', stage: 'upload', backupId: '20261121T040000Z', bytes: 5 * MiB, total: 0 });
    peer.send(final);
    peer.end();
  };

  test('--wait follows progress (plain lines when stderr is no terminal) to success: exit 0', async () => {
    const d = await fakeDaemon(followScript({ result: done }));
    const t = testIo();
    expect(await main(['backup', '--full', '--wait', '--socket', d.socket], t.io)).toBe(0);
    expect(d.received[0]).toEqual({ v: 1, id: 1, method: 'backup', params: { kind: 'full', wait: true } });
    // A line at the stage's start, then at most one per 5 s (the fake clock ticks 1 s per event).
    // The job's time is in this machine's zone (the event does not name the daemon's).
    expect(t.err().replace(/since \S+:/, 'since T:')).toBe(
      [
        'job 7: full backup (manual), running since T: --full was given',
        'backup 20261121T040000Z: running (requested with backupmatectl backup --full)',
        'backup 20261121T040000Z: 0% 0 B',
        'backup 20261121T040000Z: 50% 150.0 MiB 30.0 MiB/s',
        'backup 20261121T040000Z: 100% 300.0 MiB 30.0 MiB/s',
        'upload 20261121T040000Z: 5.0 MiB',
        '',
      ].join('\n'),
    );
    expect(t.out()).toBe('backup 20261121T040000Z succeeded: full, 300.0 MiB in 2m0s (job 7)\n');
  });

  test('--wait on a terminal draws one bar redrawn in place and ends its line before the result', async () => {
    const d = await fakeDaemon(followScript({ result: done }));
    const t = testIo({ isTTY: { stdin: false, stderr: true } });
    expect(await main(['backup', '--wait', '--socket', d.socket], t.io)).toBe(0);
    expect(d.received[0].params).toEqual({ kind: 'auto', wait: true });
    const err = t.err();
    expect(err).toContain('\rbackup 20261121T040000Z: [##########----------] 50% 150.0 MiB 30.0 MiB/s\x1b[K');
    expect(err).toContain('\rbackup 20261121T040000Z: [####################] 100% 300.0 MiB');
    expect(err).toContain('\n\rupload 20261121T040000Z: 5.0 MiB\x1b[K');
    expect(err.endsWith('\n')).toBe(true);
    expect(err.split('\n').filter((l) => l.includes('%'))).toHaveLength(1); // one line, redrawn
  });

  test('--wait on a terminal: the final state line comes after the last bar, and no bar is redrawn after it', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ event: 'state', state: 'running', backupId: '20261121T040000Z', reason: 'r' });
      for (let i = 0; i <= 3; i++) peer.send({ event: 'progress', stage: 'backup', backupId: '20261121T040000Z', bytes: i * 100 * MiB, total: 400 * MiB });
      peer.send({ event: 'state', state: 'succeeded', backupId: '20261121T040000Z', reason: 'r' });
      peer.send({ result: done });
      peer.end();
    });
    const t = testIo({ isTTY: { stdin: false, stderr: true } });
    expect(await main(['backup', '--wait', '--socket', d.socket], t.io)).toBe(0);
    const err = t.err();
    const final = err.indexOf('backup 20261121T040000Z: succeeded (r)\n');
    expect(final).toBeGreaterThan(0);
    expect(err.slice(0, final)).toMatch(/75% 300\.0 MiB[^\n]*\x1b\[K\n$/); // the last sample, drawn, its line ended
    expect(err.slice(final)).toBe('backup 20261121T040000Z: succeeded (r)\n'); // nothing redrawn after it
    expect(t.out()).toBe('backup 20261121T040000Z succeeded: full, 300.0 MiB in 2m0s (job 7)\n');
  });

  test("--wait to a failure: the daemon's message, the exit status of its code", async () => {
    const d = await fakeDaemon(followScript({ error: { code: 'TOOL_FAILED', message: 'backup 20261121T040000Z failed: mariabackup exited with status 1' } }));
    const t = testIo();
    expect(await main(['backup', '--incremental', '--wait', '--socket', d.socket], t.io)).toBe(71);
    expect(d.received[0].params).toEqual({ kind: 'incremental', wait: true });
    expect(t.err().split('\n').at(-2)).toBe('backupmatectl: backup 20261121T040000Z failed: mariabackup exited with status 1');
    expect(t.out()).toBe('');
  });

  test('--wait ending in a result that is not a success still fails with the job error code', async () => {
    const failed = job({ state: 'failed', error: { code: 'STORAGE', message: 'the store refused the upload' } });
    const d = await fakeDaemon(followScript({ result: failed }));
    const t = testIo();
    expect(await main(['backup', '--wait', '--socket', d.socket], t.io)).toBe(76);
    expect(t.err()).toContain('backupmatectl: backup (job 7) failed: the store refused the upload\n');
  });

  test('without --wait: prints the queued job and its reason, exit 0', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ result: job() });
      peer.end();
    });
    const t = testIo();
    expect(await main(['backup', '--full', '--socket', d.socket], t.io)).toBe(0);
    expect(d.received[0].params).toEqual({ kind: 'full', wait: false });
    expect(t.out()).toMatch(/^job 7: full backup \(manual\), queued since .*: --full was given\n/);
  });

  test('--full with --incremental is a usage error (64), nothing is sent', async () => {
    const t = testIo();
    expect(await main(['backup', '--full', '--incremental', '--socket', path.join(dir, 'none.sock')], t.io)).toBe(64);
    expect(t.err()).toContain('cannot be used with');
  });
});

describe('restore and its confirmation', () => {
  const restored = {
    id: '20261121T040000Z',
    chain: ['20261121T040000Z'],
    mode: 'copy-back',
    destination: '/var/lib/mysql',
    movedAside: '/var/lib/mysql.before-restore-x',
    serverStarted: true,
    timings: { downloadMs: 1000, totalMs: 5000 },
  };
  const prompt = 'restore 20261121T040000Z will stop MariaDB (systemctl stop mariadb) and replace /var/lib/mysql';

  /** A daemon that downloads, asks, and answers with the result or DECLINED; the answer line is recorded. */
  const askingDaemon = () =>
    fakeDaemon(async (_req, peer) => {
      peer.send({ event: 'progress', stage: 'download', backupId: '20261121T040000Z', bytes: 10, total: 10 });
      peer.send({ event: 'confirm', prompt, datadir: '/var/lib/mysql', stopCommand: 'systemctl stop mariadb' });
      const answer = await peer.next();
      if (answer?.method === 'confirm' && answer.params?.yes === true) {
        peer.send({ event: 'progress', stage: 'put-back', bytes: 5, total: 10 });
        peer.send({ result: restored });
      } else {
        peer.send({ error: { code: 'DECLINED', message: 'restore not confirmed by the daemon' } });
      }
      peer.end();
    });

  test('on a terminal: shows the prompt, "y" on stdin sends yes on the same connection, the restore goes on', async () => {
    const d = await askingDaemon();
    const t = testIo({ isTTY: { stdin: true, stderr: false }, input: 'y\n' });
    expect(await main(['restore', 'latest', '--copy-back', '--socket', d.socket], t.io)).toBe(0);
    await d.handled;
    expect(d.received).toEqual([
      { v: 1, id: 1, method: 'restore', params: { id: 'latest', mode: 'copy-back', yes: false, noStart: false, interactive: true } },
      { v: 1, id: 1, method: 'confirm', params: { yes: true } },
    ]);
    expect(t.err()).toContain(`${prompt}\nproceed? [y/N] `);
    expect(t.out()).toContain('restored backup 20261121T040000Z into /var/lib/mysql (copy-back)');
    expect(t.out()).toContain('MariaDB was started again');
  });

  test('on a terminal: anything but y is no: "no" is sent, DECLINED (67)', async () => {
    const d = await askingDaemon();
    const t = testIo({ isTTY: { stdin: true, stderr: true }, input: '\n' });
    expect(await main(['restore', '20261121', '--move-back', '--socket', d.socket], t.io)).toBe(67);
    await d.handled;
    expect(d.received[1]).toEqual({ v: 1, id: 1, method: 'confirm', params: { yes: false } });
    expect(t.err()).toMatch(/backupmatectl: restore not confirmed: nothing was changed\n$/);
  });

  test.each([['--copy-back'], ['--move-back']])(
    'stdin is no terminal and no --yes (%s): declined before anything is sent (nothing downloaded), 67',
    async (mode) => {
      const d = await askingDaemon();
      const t = testIo({ input: 'y\n' }); // even a "y" in a pipe is not a person answering
      expect(await main(['restore', 'latest', mode, '--socket', d.socket], t.io)).toBe(67);
      expect(d.received).toEqual([]);
      expect(t.err()).toBe('backupmatectl: restore not confirmed: no terminal to ask and no --yes given; nothing was downloaded or changed\n');
      expect(t.out()).toBe('');
    },
  );

  test('a --target-dir restore needs no confirmation: sent without a terminal, saying it is not interactive', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ result: { ...restored, mode: 'target-dir', destination: '/work/here/x', movedAside: null, serverStarted: false } });
      peer.end();
    });
    const t = testIo();
    expect(await main(['restore', 'latest', '--target-dir', 'x', '--socket', d.socket], t.io)).toBe(0);
    expect(d.received[0].params).toEqual({ id: 'latest', mode: 'target-dir', targetDir: '/work/here/x', yes: false, noStart: false, interactive: false });
  });

  test('after a "no" the daemon may close without answering: still DECLINED; with --json its lines are printed', async () => {
    const d = await fakeDaemon(async (_req, peer) => {
      peer.send({ event: 'confirm', prompt, datadir: '/var/lib/mysql', stopCommand: null });
      await peer.next();
      peer.end();
    });
    const t = testIo();
    // A daemon that asks anyway, with no terminal to ask on: answered no.
    expect(await main(['--json', 'restore', 'latest', '--target-dir', 'x', '--socket', d.socket], t.io)).toBe(67);
    await d.handled;
    expect(d.received[1]).toEqual({ v: 1, id: 1, method: 'confirm', params: { yes: false } });
    expect(JSON.parse(t.out())).toEqual({ v: 1, id: 1, event: 'confirm', prompt, datadir: '/var/lib/mysql', stopCommand: null });
    expect(t.err()).toMatch(/^backupmatectl: restore needs a confirmation.*pass --yes for non-interactive use\n$/);
  });

  test('--yes, --no-start, --time, --target-dir resolved against the cwd; a confirm that comes anyway is answered yes', async () => {
    const d = await askingDaemon();
    const t = testIo();
    expect(await main(['restore', '--time', '2026-11-21 10:30', '--target-dir', 'restored', '--yes', '--no-start', '--socket', d.socket], t.io)).toBe(0);
    await d.handled;
    expect(d.received).toEqual([
      { v: 1, id: 1, method: 'restore', params: { time: '2026-11-21 10:30', mode: 'target-dir', targetDir: '/work/here/restored', yes: true, noStart: true, interactive: false } },
      { v: 1, id: 1, method: 'confirm', params: { yes: true } },
    ]);
    expect(t.err()).not.toContain('proceed?');
  });

  test.each([
    [['restore', 'latest'], 'expected exactly one of --target-dir DIR, --copy-back, --move-back, --into-server, got none'],
    [['restore', 'latest', '--copy-back', '--move-back'], 'got --copy-back and --move-back'],
    [['restore', '--copy-back'], 'got neither'],
    [['restore', 'latest', '--time', 'yesterday', '--copy-back'], 'got both ("latest" and --time "yesterday")'],
  ])('usage errors exit 64 without connecting: %j', async (args, message) => {
    const t = testIo();
    expect(await main([...args, '--socket', path.join(dir, 'none.sock')], t.io)).toBe(64);
    expect(t.err()).toContain(message);
    expect(t.err().split('\n')).toHaveLength(2);
  });
});

describe('--json', () => {
  test('every daemon message is one JSON line on stdout, nothing else', async () => {
    const messages = [
      { v: 1, id: 1, event: 'progress', stage: 'backup', bytes: 1, total: 2 },
      { v: 1, id: 1, event: 'log', level: 'info', message: 'decided on a full backup' },
      { v: 1, id: 1, result: done },
    ];
    const d = await fakeDaemon((_req, peer) => {
      for (const m of messages) peer.send(m);
      peer.end();
    });
    const t = testIo({ isTTY: { stdin: false, stderr: true } });
    expect(await main(['--json', 'backup', '--wait', '--socket', d.socket], t.io)).toBe(0);
    expect(t.out().split('\n').slice(0, -1).map((l) => JSON.parse(l))).toEqual(messages);
    expect(t.err()).toBe('');
  });

  test('list --json (after the command) prints the answer line; an Error still exits with its status and one stderr line', async () => {
    const listJson = { backups: [], incomplete: [], unreadable: [] };
    let d = await fakeDaemon((_req, peer) => {
      peer.send({ result: listJson });
      peer.end();
    });
    let t = testIo();
    expect(await main(['list', '--json', '--socket', d.socket], t.io)).toBe(0);
    expect(t.out()).toBe(JSON.stringify({ v: 1, id: 1, result: listJson }) + '\n');

    await new Promise((r) => servers.pop()!.close(r));
    d = await fakeDaemon((_req, peer) => {
      peer.send({ error: { code: 'STORAGE', message: 'the store did not answer' } });
      peer.end();
    });
    t = testIo();
    expect(await main(['list', '--json', '--socket', d.socket], t.io)).toBe(76);
    expect(JSON.parse(t.out())).toEqual({ v: 1, id: 1, error: { code: 'STORAGE', message: 'the store did not answer' } });
    expect(t.err()).toBe('backupmatectl: the store did not answer\n');
  });
});

describe('other commands', () => {
  test('list renders the store like backupmate list', async () => {
    const listJson = {
      backups: [],
      incomplete: [{ id: '20261121T040000Z', kind: 'full', status: 'incomplete', objects: ['full/20261121T040000Z/data.00000'], bytes: 2048 }],
      unreadable: [],
    };
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ result: listJson });
      peer.end();
    });
    const t = testIo();
    expect(await main(['list', '--socket', d.socket], t.io)).toBe(0);
    expect(d.received[0]).toEqual({ v: 1, id: 1, method: 'list', params: {} });
    expect(t.out()).toBe(renderList(listJson));
    expect(t.out()).toMatch(/^20261121T040000Z +physical +full +incomplete +- +2\.0 KiB/m);
  });

  test('cancel sends the job id and prints the job', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ result: job({ state: 'cancelled', finishedAt: '2026-11-21T04:01:00.000Z' }) });
      peer.end();
    });
    const t = testIo();
    expect(await main(['cancel', '7', '--socket', d.socket], t.io)).toBe(0);
    expect(d.received[0]).toEqual({ v: 1, id: 1, method: 'cancel', params: { job: '7' } });
    expect(t.out()).toMatch(/^job 7: full backup \(manual\), cancelled at /);
  });

  test("verify prints the result, or the daemon's error with its status", async () => {
    let d = await fakeDaemon((_req, peer) => {
      peer.send({ result: { id: '20261121T040000Z', volumes: 2, ok: true } });
      peer.end();
    });
    let t = testIo();
    expect(await main(['verify', '20261121T040000Z', '--socket', d.socket], t.io)).toBe(0);
    expect(d.received[0]).toEqual({ v: 1, id: 1, method: 'verify', params: { id: '20261121T040000Z' } });
    expect(t.out()).toBe('id:       20261121T040000Z\nvolumes:  2\nok:       true\n');

    await new Promise((r) => servers.pop()!.close(r));
    d = await fakeDaemon((_req, peer) => {
      peer.send({ error: { code: 'INTEGRITY', message: 'backup 20261121T040000Z: data.00001 has sha256 x, the manifest says y' } });
      peer.end();
    });
    t = testIo();
    expect(await main(['verify', '--socket', d.socket], t.io)).toBe(65);
    expect(d.received[0].params).toEqual({});
    expect(t.err()).toBe('backupmatectl: backup 20261121T040000Z: data.00001 has sha256 x, the manifest says y\n');
  });

  test('verify with a report: the table, and the exit status of its code (65 corrupt, 78 could not check, 0 ok)', async () => {
    const report = (status: string, code: string | null, problems: string[]) => ({
      request: 'all',
      summary: `1 backup: ${status === 'ok' ? '1 ok' : status === 'corrupt' ? '0 ok, 1 corrupt' : '0 ok, 1 could not be checked'}`,
      code,
      durationMs: 5,
      backups: [{ id: '20261121T040000Z', kind: 'full', status, problems, warnings: [], volumes: 2, storedBytes: 2048, rawBytes: 8192, checkedBytes: 2048, durationMs: 5 }],
    });
    const cases: [ReturnType<typeof report>, number, string, string][] = [
      [report('ok', null, []), 0, '20261121T040000Z  full  ok      2 volumes, 2.0 KiB stored, 8.0 KiB unpacked: checked end to end in 5ms', ''],
      [
        report('corrupt', 'INTEGRITY', ['backup 20261121T040000Z: volume f/20261121T040000Z/data.00001 is corrupt']),
        65,
        '20261121T040000Z  full  corrupt  backup 20261121T040000Z: volume f/20261121T040000Z/data.00001 is corrupt',
        'backupmatectl: verify all: 1 backup: 0 ok, 1 corrupt; corrupt: 20261121T040000Z\n',
      ],
      [
        report('unchecked', 'CONFIG', ['could not check: backup 20261121T040000Z is encrypted (age); set AGE_IDENTITY_FILE']),
        78,
        '20261121T040000Z  full  could not check  could not check: backup 20261121T040000Z is encrypted (age); set AGE_IDENTITY_FILE',
        'backupmatectl: verify all: 1 backup: 0 ok, 1 could not be checked; 20261121T040000Z: could not check: backup 20261121T040000Z is encrypted (age); set AGE_IDENTITY_FILE\n',
      ],
    ];
    for (const [result, exit, row, err] of cases) {
      const d = await fakeDaemon((_req, peer) => {
        peer.send({ result });
        peer.end();
      });
      const t = testIo();
      expect(await main(['verify', 'all', '--socket', d.socket], t.io)).toBe(exit);
      expect(d.received[0].params).toEqual({ id: 'all' });
      expect(t.out().split('\n')[1]).toBe(row);
      expect(t.out().trimEnd().split('\n').at(-1)).toBe(`verify all: ${result.summary}`);
      expect(t.err()).toBe(err);
      await new Promise((r) => servers.pop()!.close(r));
    }
  });

  test('an error code this client does not know exits INTERNAL (70) with the message', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ error: { code: 'QUOTA', message: 'over quota' } });
      peer.end();
    });
    const t = testIo();
    expect(await main(['status', '--socket', d.socket], t.io)).toBe(70);
    expect(t.err()).toBe('backupmatectl: over quota (error code QUOTA from the daemon is unknown to this backupmatectl)\n');
  });

  test('--version and --help exit 0', async () => {
    let t = testIo();
    expect(await main(['--version'], t.io)).toBe(0);
    expect(t.out()).toBe(`${VERSION}\n`);
    t = testIo();
    expect(await main(['restore', '--help'], t.io)).toBe(0);
    expect(t.out()).toContain('--target-dir <dir>');
    expect(t.out()).toContain('--socket <path>');
  });
});

describe('protocol failures', () => {
  test('the daemon closes before a final message: PROTOCOL (79), the bar line ended first', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ event: 'progress', stage: 'backup', bytes: 1, total: 2 });
      peer.end();
    });
    const t = testIo({ isTTY: { stdin: false, stderr: true } });
    expect(await main(['backup', '--wait', '--socket', d.socket], t.io)).toBe(79);
    expect(t.err()).toMatch(/\x1b\[K\nbackupmatectl: the daemon closed the connection without an answer \(see journalctl -u backupmate\)\n$/);
  });

  test('the daemon closes without a word: PROTOCOL', async () => {
    const d = await fakeDaemon((_req, peer) => peer.end());
    const t = testIo();
    expect(await main(['status', '--socket', d.socket], t.io)).toBe(79);
    expect(t.err()).toBe('backupmatectl: the daemon closed the connection without an answer (see journalctl -u backupmate)\n');
  });

  test('a message of another protocol version: PROTOCOL', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.send({ v: 2, result: {} });
      peer.end();
    });
    const t = testIo();
    expect(await main(['status', '--socket', d.socket], t.io)).toBe(79);
    expect(t.err()).toBe("backupmatectl: the daemon speaks control protocol version 2, this backupmatectl speaks 1: use the backupmatectl of the daemon's release\n");
  });

  test('a line that is not JSON: PROTOCOL', async () => {
    const d = await fakeDaemon((_req, peer) => {
      peer.raw('<html>');
      peer.end();
    });
    const t = testIo();
    expect(await main(['status', '--socket', d.socket], t.io)).toBe(79);
    expect(t.err()).toMatch(/^backupmatectl: the daemon sent a line that is not JSON .*<html>\n$/);
  });
});

describe('connection failures', () => {
  test('no socket (ENOENT): the daemon is not running, 68', async () => {
    const socket = path.join(dir, 'missing.sock');
    const t = testIo();
    expect(await main(['status', '--socket', socket], t.io)).toBe(68);
    expect(t.err()).toBe(`backupmatectl: the backupmate daemon is not running (no socket at ${socket}): start it with systemctl start backupmate\n`);
  });

  test('a stale socket nobody listens on (ECONNREFUSED): 68', async () => {
    // A hard link keeps the socket file after its server closed (and removed the original name).
    const live = path.join(dir, 'live.sock');
    const stale = path.join(dir, 'stale.sock');
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(live, r));
    fs.linkSync(live, stale);
    await new Promise((r) => server.close(r));
    const t = testIo();
    expect(await main(['status', '--socket', stale], t.io)).toBe(68);
    expect(t.err()).toBe(`backupmatectl: the backupmate daemon is not running (nobody listens on ${stale}): start it with systemctl start backupmate\n`);
  });

  test("permission denied (EACCES): names the socket's group, 77", async () => {
    const d = await fakeDaemon(() => {});
    const gid = fs.statSync(d.socket).gid;
    const group = groupNameFromFile(gid, fs.readFileSync('/etc/group', 'utf8')) ?? String(gid);
    // Tests may run as root, who is never refused: the refusal comes from an injected connect.
    const connect: Connector = (p) => {
      const s = new net.Socket();
      process.nextTick(() => s.emit('error', Object.assign(new Error(`connect EACCES ${p}`), { code: 'EACCES' })));
      return s;
    };
    const t = testIo({ connect });
    expect(await main(['status', '--socket', d.socket], t.io)).toBe(77);
    expect(t.err()).toBe(`backupmatectl: permission denied on ${d.socket}: add your user to group ${group} (usermod -aG ${group} $USER, then log in again) or run as root\n`);
  });
});
