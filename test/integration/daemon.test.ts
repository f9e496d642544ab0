/**
 * The daemon as users meet it: a child process with second-level schedules against a private
 * mariadbd and s3rver, driven by the real backupmatectl over its Unix socket.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, makeWorkdir, type Store } from '../helpers/backupmate.js';
import { ctl, jsonResult, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'daemon-pw';
let source: PrivateServer;
let s3: S3Server;
const daemons: DaemonHandle[] = [];

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  await loadSampleData(source, { rows: 60_000 });
});

/** Directories this file made besides the daemons' own; removed with them at the end. */
const tempDirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL').catch(() => {});
  await stopAllServers();
  await stopAllS3rvers();
  for (const d of [...tempDirs, ...daemons.map((x) => x.dir)]) await fs.rm(d, { recursive: true, force: true }).catch(() => {});
});

async function daemon(store: Store, extra: Record<string, string>, env: Record<string, string> = {}, reuseDir?: string): Promise<DaemonHandle> {
  const d = await startDaemon(source, store, extra, env, reuseDir);
  daemons.push(d);
  return d;
}

type Listed = { backups: { id: string; kind: string; finishedAt: string }[]; incomplete: unknown[] };

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('scheduled backups', () => {
  test('a full at start (catch-up), then incrementals on a 4-second schedule; status and list show them; sd_notify READY and STATUS', async () => {
    const notifyDir = await tempDir('bm-notify-');
    const notifySocket = path.join(notifyDir, 'notify.sock');
    const listener = execa('python3', [path.resolve('test/helpers/notify-listener.py'), notifySocket], { buffer: false, reject: false });
    let notes = '';
    listener.stdout?.on('data', (d: Buffer) => (notes += d.toString()));
    await until('the notify listener', async () => notes.includes('LISTENING'), 10_000);
    try {
      const d = await daemon(
        { kind: 's3', server: s3 },
        { FULL_BACKUP_PREFIX: 'sched/full/', INCREMENTAL_BACKUP_PREFIX: 'sched/inc/', FULL_BACKUP_SCHEDULE: '0 0 1 1 *', INCREMENTAL_BACKUP_SCHEDULE: '*/4 * * * * *' },
        { NOTIFY_SOCKET: notifySocket },
      );
      const listed = await until('a full and two incrementals', async () => {
        const r = await ctl(d.socket, ['list', '--json']);
        if (r.exitCode !== 0) return null;
        const l = jsonResult(r.stdout) as Listed;
        return l.backups.filter((b) => b.kind === 'incremental').length >= 2 ? l : null;
      });
      expect(listed.backups[0].kind).toBe('full');
      expect(listed.incomplete).toEqual([]);
      const plan = d.logLines().find((l) => l.event === 'daemon.catch_up')!;
      expect(String(plan.reason)).toMatch(/no valid full/);

      const st = await ctl(d.socket, ['status']);
      expect(st.exitCode).toBe(0);
      expect(st.stdout).toMatch(/full/i);
      expect(st.stdout).toContain(listed.backups[0].id);
      const stj = jsonResult((await ctl(d.socket, ['--json', 'status'])).stdout) as {
        last: { full: { success: { backupId: string } | null }; incremental: { success: unknown } };
        next: { incremental: string | null };
      };
      expect(stj.last.full.success?.backupId).toBe(listed.backups[0].id);
      expect(stj.last.incremental.success).not.toBeNull();
      expect(stj.next.incremental).not.toBeNull();

      expect(notes).toMatch(/READY=1/);
      expect(notes).toMatch(/STATUS=(idle|backup)/);
      expect(await d.stop()).toBe(0);
      expect(notes).toMatch(/STOPPING=1/);
      // Every job left a JSON log line with its id, kind, status and duration.
      const finished = d.logLines().filter((l) => l.event === 'job.finished');
      expect(finished.length).toBeGreaterThanOrEqual(3);
      expect(finished[0]).toMatchObject({ status: 'succeeded', jobKind: 'backup' });
      expect(typeof finished[0].durationMs).toBe('number');
    } finally {
      listener.kill();
    }
  });
});

describe('the store as status sees it', () => {
  test('a full the CLI took shows in status of a daemon started afterwards, and sizes the next full\'s progress (never 100% before the end)', async () => {
    const store: Store = { kind: 'file', path: await tempDir('bm-store-') };
    const work = await makeWorkdir(source, store);
    tempDirs.push(work);
    const cli = await backupmate(work, ['backup', '--full']);
    expect(cli.exitCode).toBe(0);
    const manifests = (await fs.readdir(store.path, { recursive: true })).map(String).filter((f) => f.endsWith('manifest.json'));
    expect(manifests).toHaveLength(1);
    const cliId = path.basename(path.dirname(manifests[0]));

    const d = await daemon(store, { FULL_BACKUP_SCHEDULE: 'off', INCREMENTAL_BACKUP_SCHEDULE: 'off' });
    const st = await until('status with the catalog read', async () => {
      const s = jsonResult((await ctl(d.socket, ['--json', 'status'])).stdout) as { catalog?: { readAt: string | null; newest: { full: { id: string } | null } } };
      return s.catalog?.readAt ? s : null;
    });
    expect(st.catalog?.newest.full?.id).toBe(cliId);
    const human = await ctl(d.socket, ['status']);
    expect(human.stdout).toMatch(new RegExp(`^full +last success {2}.*: backup ${cliId}, .* \\(in the store, not taken by this daemon\\)$`, 'm'));
    expect(human.stdout).not.toMatch(/^full +last success {2}never/m);

    // The daemon has no full of its own: the estimate comes from the store's (the CLI's) full.
    const b = await ctl(d.socket, ['backup', '--full', '--wait']);
    expect(b.exitCode).toBe(0);
    const backupLines = b.stderr.split('\n').filter((l) => /^backup \d{8}T\d{6}Z: \d+% /.test(l));
    expect(backupLines.length).toBeGreaterThan(0);
    expect(backupLines.filter((l) => /: 100% /.test(l))).toEqual([]);
    expect(await d.stop()).toBe(0);
  });
});

describe('signals', () => {
  test('SIGTERM during a backup: exit 0, no manifest, nothing left in the store, no mariabackup left running', async () => {
    const storeDir = await tempDir('bm-store-');
    // Slow compression so the backup is surely still running when SIGTERM arrives.
    const d = await daemon({ kind: 'file', path: storeDir }, { FULL_BACKUP_SCHEDULE: 'off', INCREMENTAL_BACKUP_SCHEDULE: 'off', COMPRESSION_LEVEL: '19' });
    const q = await ctl(d.socket, ['backup', '--full']);
    expect(q.exitCode).toBe(0);
    await d.waitForLog((l) => l.event === 'mariabackup.start');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await d.stop('SIGTERM')).toBe(0);
    const end = d.logLines().find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'cancelled', code: 'CANCELLED' });
    const files = await fs.readdir(storeDir, { recursive: true });
    expect(files.filter((f) => String(f).endsWith('manifest.json'))).toEqual([]);
    expect(files.filter((f) => String(f).includes('data.'))).toEqual([]);
    const ps = await execa('pgrep', ['-f', `mariabackup.*${d.dir}`], { reject: false });
    expect(ps.stdout).toBe('');
  });

  test('kill -9 of the daemon mid-backup: nothing valid-looking, no child left; the next start cleans up (store and LOCAL_TEMP_DIR), shows the job as crashed, and the next backup succeeds', async () => {
    const storeDir = await tempDir('bm-store-');
    const store: Store = { kind: 'file', path: storeDir };
    const extra = { FULL_BACKUP_SCHEDULE: 'off', INCREMENTAL_BACKUP_SCHEDULE: 'off', COMPRESSION_LEVEL: '19' };
    const d1 = await daemon(store, extra);
    expect((await ctl(d1.socket, ['backup', '--full'])).exitCode).toBe(0);
    await d1.waitForLog((l) => l.event === 'mariabackup.start');
    // Kill once compressed data has reached the store (a partial volume file exists).
    await until('a partial volume in the store', async () =>
      (await fs.readdir(storeDir, { recursive: true }).catch(() => [] as string[])).map(String).some((f) => f.includes('.partial-')),
    );
    await d1.stop('SIGKILL');
    // The kernel takes the children with the daemon (setpriv --pdeathsig).
    await until(
      'no mariabackup or zstd of that daemon left',
      async () => {
        const ps = await execa('pgrep', ['-f', '(mariabackup|zstd)'], { reject: false });
        for (const pid of ps.stdout.split('\n').filter(Boolean)) {
          const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
          if (cmd.includes(d1.dir) || /^zstd .*-19/.test(cmd)) return false;
        }
        return true;
      },
      10_000,
    );
    const files = (await fs.readdir(storeDir, { recursive: true })).map(String);
    expect(files.filter((f) => f.endsWith('manifest.json'))).toEqual([]);
    expect(files.some((f) => f.includes('.partial-') || /data\.\d+$/.test(f))).toBe(true); // leftovers exist
    // The dead job's temp dir holds the 0600 option file with the DB password.
    const tmp = path.join(d1.dir, 'tmp');
    const optionFiles = async () => (await fs.readdir(tmp, { recursive: true })).map(String).filter((f) => f.startsWith('backup-') && f.endsWith('.cnf'));
    expect(await optionFiles()).not.toEqual([]);
    // A one-shot backup beside the daemon (cron) works in a dir of its own: it must survive.
    const live = path.join(tmp, 'backup-20991231T000000Z-cron01');
    await fs.mkdir(live);
    const beside = execa('sleep', ['300'], { cwd: live, reject: false });

    try {
      // A new daemon on the same state dir and config: the dead job is recorded as crashed, its
      // leftovers in the store (objects and partial files) and in LOCAL_TEMP_DIR are removed.
      const d2 = await daemon(store, extra, {}, d1.dir);
      const cleanup = await d2.waitForLog((l) => l.event === 'daemon.cleanup' && 'keys' in l);
      expect((cleanup.keys as string[]).length + (cleanup.aborted as string[]).length).toBeGreaterThan(0);
      const left = (await fs.readdir(storeDir, { recursive: true })).map(String);
      expect(left.filter((f) => f.includes('.partial-') || /data\.\d+$/.test(f))).toEqual([]);
      expect(await optionFiles()).toEqual([]);
      expect((await fs.readdir(tmp)).filter((f) => f.startsWith('backup-'))).toEqual([path.basename(live)]);
      const removed = d2.logLines().filter((l) => l.event === 'daemon.cleanup' && l.status === 'removed');
      expect(removed.length).toBeGreaterThan(0);
      expect(removed.every((l) => String(l.path).startsWith(`${tmp}/backup-`))).toBe(true);
      expect(d2.logLines().find((l) => l.event === 'daemon.cleanup' && l.status === 'kept')).toMatchObject({ path: live, reason: `process ${beside.pid} uses it` });

      const st = jsonResult((await ctl(d2.socket, ['--json', 'status'])).stdout) as { last: { full: { failure: { state: string; error: { message: string } } | null } } };
      expect(st.last.full.failure?.state).toBe('crashed');
      expect(st.last.full.failure?.error.message).toMatch(/killed or crashed/);
      expect((await ctl(d2.socket, ['status'])).stdout).toMatch(/^ +last failure {2}.*: crashed: the daemon was killed or crashed while this job ran/m);

      const b = await ctl(d2.socket, ['backup', '--full', '--wait']);
      expect(b.exitCode).toBe(0);
      const listed = jsonResult((await ctl(d2.socket, ['list', '--json'])).stdout) as Listed;
      expect(listed.backups).toHaveLength(1);
      expect(listed.incomplete).toEqual([]);
      expect(await d2.stop()).toBe(0);
    } finally {
      beside.kill('SIGKILL');
      await beside;
    }
  });

  test('SIGHUP with a broken configuration keeps the old one; a valid one is applied', async () => {
    const d = await daemon({ kind: 'file', path: await tempDir('bm-store-') }, { FULL_BACKUP_SCHEDULE: 'off', INCREMENTAL_BACKUP_SCHEDULE: '0 3 * * *' });
    const before = jsonResult((await ctl(d.socket, ['--json', 'status'])).stdout) as { next: { incremental: string } };
    const good = await fs.readFile(d.configFile, 'utf8');
    await fs.writeFile(d.configFile, good.replace("INCREMENTAL_BACKUP_SCHEDULE='0 3 * * *'", "INCREMENTAL_BACKUP_SCHEDULE='every tuesday'"));
    d.proc.kill('SIGHUP');
    const rejected = await d.waitForLog((l) => l.event === 'config.reload');
    expect(rejected.status).toBe('rejected');
    expect(String(rejected.message)).toMatch(/INCREMENTAL_BACKUP_SCHEDULE/);
    const during = jsonResult((await ctl(d.socket, ['--json', 'status'])).stdout) as { next: { incremental: string } };
    expect(during.next.incremental).toBe(before.next.incremental);

    await fs.writeFile(d.configFile, good.replace("INCREMENTAL_BACKUP_SCHEDULE='0 3 * * *'", "INCREMENTAL_BACKUP_SCHEDULE='0 5 * * *'"));
    d.proc.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'config.reload' && l.status === 'applied');
    const after = jsonResult((await ctl(d.socket, ['--json', 'status'])).stdout) as { next: { incremental: string } };
    expect(after.next.incremental).not.toBe(before.next.incremental);
    expect(await d.stop()).toBe(0);
  });
});

describe('control channel', () => {
  test('an unprivileged user is refused with a message naming the group to join', async () => {
    const d = await daemon({ kind: 'file', path: await tempDir('bm-store-') }, { FULL_BACKUP_SCHEDULE: 'off', INCREMENTAL_BACKUP_SCHEDULE: 'off' });
    // The test's temp dirs must be traversable for the socket's own permissions to decide.
    await fs.chmod(d.dir, 0o755);
    await fs.chmod(path.dirname(d.socket), 0o755);
    const r = await ctl(d.socket, ['status'], { user: 'nobody' });
    expect(r.exitCode).toBe(77);
    expect(r.stderr).toMatch(/permission denied/i);
    expect(r.stderr).toMatch(/group/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await d.stop()).toBe(0);
  });

  test('daemon not running: exit 68 with a one-line message', async () => {
    const r = await ctl('/nonexistent/bm.sock', ['status']);
    expect(r.exitCode).toBe(68);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('server-managed restore', () => {
  test('backupmatectl restore <timestamp> --move-back --yes stops the server, moves the datadir aside, restores, chowns and starts it', async () => {
    const startScript = path.join(await tempDir('bm-svc-'), 'start.sh');
    await fs.writeFile(
      startScript,
      `#!/bin/sh\nsetsid ${source.commandLine.map((a) => `'${a}'`).join(' ')} </dev/null >/dev/null 2>&1 &\n`,
      { mode: 0o755 },
    );
    const d = await daemon(
      { kind: 's3', server: s3 },
      {
        FULL_BACKUP_PREFIX: 'managed/full/',
        INCREMENTAL_BACKUP_PREFIX: 'managed/inc/',
        FULL_BACKUP_SCHEDULE: 'off',
        INCREMENTAL_BACKUP_SCHEDULE: 'off',
        MARIADB_STOP_COMMAND: `kill $(cat '${source.pidFile}')`,
        MARIADB_START_COMMAND: startScript,
        MARIADB_SERVICE_TIMEOUT: '60',
      },
    );
    const b = await ctl(d.socket, ['backup', '--full', '--wait']);
    expect({ exit: b.exitCode, err: b.stderr.split('\n').filter((l) => /error|fail/i.test(l)) }).toEqual({ exit: 0, err: [] });
    const expected = await source.checksums();
    const listed = jsonResult((await ctl(d.socket, ['list', '--json'])).stdout) as Listed;
    const id = listed.backups[listed.backups.length - 1].id;
    // Changes after the backup, which the restore must undo.
    await source.sql('CREATE DATABASE after_backup; CREATE TABLE after_backup.t (id INT PRIMARY KEY); INSERT INTO after_backup.t VALUES (1);');
    const ts = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`;

    const r = await ctl(d.socket, ['restore', ts, '--move-back', '--yes']);
    expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
    const parent = path.dirname(source.datadir);
    const aside = (await fs.readdir(parent)).filter((n) => n.startsWith(`${path.basename(source.datadir)}.before-restore-`));
    expect(aside).toHaveLength(1);
    expect(r.stdout).toContain(aside[0]);
    // The server answers again (started by the daemon through MARIADB_START_COMMAND).
    expect(await source.sql('SELECT 1')).toBe('1');
    const got = await source.checksums();
    expect(got).toEqual(expected);
    expect(await source.sql("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name='after_backup'")).toBe('0');
    const st = await fs.stat(path.join(source.datadir, 'ibdata1'));
    const mysqlUid = Number((await fs.readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('mysql:'))!.split(':')[2]);
    expect(st.uid).toBe(mysqlUid);
    // The old datadir is intact aside.
    expect(await fs.readdir(path.join(parent, aside[0], 'after_backup'))).toContain('t.frm');
    expect(await d.stop()).toBe(0);
    // The harness does not know the pid the daemon's start script gave the server: stop it here.
    const pid = Number((await fs.readFile(source.pidFile, 'utf8')).trim());
    process.kill(pid, 'SIGTERM');
    await until('the restarted server to stop', async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 60_000);
  });
});
