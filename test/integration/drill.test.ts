/**
 * Restore drills and metrics, through the real CLI and the real daemon, with a real mariadbd and
 * a file store:
 * - a drill of a good chain (full + incremental) passes: every table checked, compared with the
 *   inventory the backup recorded, a time to ready; its record lands next to the backup and
 *   `list` shows it; no scratch and no server left behind;
 * - a flipped byte in a volume fails at step restore (exit 65); a MyISAM table damaged on the
 *   source (so the backup carries it faithfully) fails at step check (exit 80); a table the
 *   inventory recorded but the restore lacks fails at step compare (exit 80); each leaves no
 *   scratch and no process behind;
 * - the daemon's /metrics before and after a backup, a failed backup and a drill: timestamps and
 *   counters move, `promtool check metrics` passes; METRICS_TEXTFILE is written.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir, type Store } from '../helpers/backupmate.js';
import { ctl, jsonResult, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { getFreePort } from '../helpers/ports.js';
import { renderDrill } from '../../src/cli/format.js';
import { FileStorage } from '../../src/storage/drivers/file.js';
import { archiveBinlogFiles } from '../helpers/binlog-archive.js';

const PASSWORD = 'dr1ll-pw';
let source: PrivateServer;
let storeDir: string;
let work: string;
const id = { full: '', inc: '' };

interface Report {
  status: string;
  backupId: string;
  chain: string[];
  failedStep?: string;
  error?: { code: string; message: string };
  timeToReadyMs: number | null;
  stepsMs: Record<string, number>;
  tables: { checked: number; failed: { table: string; message: string }[]; missing: string[]; emptied: string[]; recorded: number | null };
  rows: number;
  databases: number;
  replay?: { status: string; reason?: string; transactions?: number; reached?: string; upTo?: string; segments?: number };
}

const dirOf = (backupId: string) => (backupId === id.inc ? 'backupmate/incremental/' : 'backupmate/full/') + backupId + '/';

async function backup(args: string[]): Promise<string> {
  const r = await backupmate(work, ['backup', ...args]);
  expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  return logLines(r.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
}

/** stderr: the error lines only (the JSON log goes to stderr too when it is not a terminal). */
async function drill(args: string[]): Promise<{ exitCode: number; report: Report; stderr: string }> {
  const r = await backupmate(work, ['drill', ...args, '--json']);
  const stderr = r.stderr.split('\n').filter((l) => l.startsWith('backupmate: ')).join('\n');
  return { exitCode: r.exitCode, report: JSON.parse(r.stdout) as Report, stderr };
}

/** Nothing of a drill is left: no scratch dir, no mariadbd on one. */
async function nothingLeft(dir = work): Promise<void> {
  expect((await fs.readdir(path.join(dir, 'tmp'))).filter((n) => n.startsWith('drill-'))).toEqual([]);
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  expect(ps.split('\n').filter((l) => l.includes('mariadbd') && l.includes(path.join(dir, 'tmp')))).toEqual([]);
}

async function withFile(file: string, change: (b: Buffer) => Buffer, during: () => Promise<void>): Promise<void> {
  const original = await fs.readFile(file);
  await fs.writeFile(file, change(original));
  try {
    await during();
  } finally {
    await fs.writeFile(file, original);
  }
}

beforeAll(async () => {
  source = await startPrivateServer({ rootPassword: PASSWORD });
  await source.sql(
    'CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB; INSERT INTO app.t SELECT seq, MD5(seq) FROM seq_1_to_2000;' +
      'CREATE TABLE app.m (id INT PRIMARY KEY, v INT) ENGINE=MyISAM; INSERT INTO app.m SELECT seq, seq FROM seq_1_to_300;',
    'mysql',
  );
  storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-drill-store-'));
  const store: Store = { kind: 'file', path: storeDir };
  work = await makeWorkdir(source, store, { VOLUME_SIZE: '1MiB', LOG_LEVEL: 'info', MARIADB_OS_USER: 'mysql' });
  // The scratch server runs as mysql: it must traverse the directories above LOCAL_TEMP_DIR
  // (the drill gives traversal from LOCAL_TEMP_DIR down, never above it).
  await fs.chmod(work, 0o711);
  id.full = await backup(['--full']);
  await source.sql('INSERT INTO app.t SELECT seq + 5000, MD5(seq) FROM seq_1_to_500; CREATE TABLE app.later (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO app.later VALUES (1),(2);', 'mysql');
  id.inc = await backup(['--incremental']);
}, 120_000);

afterAll(async () => {
  await stopAllServers();
  if (storeDir) await fs.rm(storeDir, { recursive: true, force: true });
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe('backupmate drill', () => {
  test('a good chain passes: every table checked and compared, a time to ready, a record next to the backup, LAST_DRILL in list', async () => {
    const m = JSON.parse(await fs.readFile(path.join(storeDir, dirOf(id.inc), 'manifest.json'), 'utf8')) as { source: { inventory: { tables: { schema: string; name: string; rows: number }[] } } };
    expect(m.source.inventory.tables.filter((t) => t.schema === 'app').map((t) => t.name)).toEqual(['later', 'm', 't']);

    const { exitCode, report, stderr } = await drill(['latest']);
    expect({ exitCode, stderr, error: report.error }).toEqual({ exitCode: 0, stderr: '', error: undefined });
    if (process.env.BACKUPMATE_SAMPLE_DIR) await fs.writeFile(path.join(process.env.BACKUPMATE_SAMPLE_DIR, 'drill.txt'), renderDrill(report as never));
    expect(report).toMatchObject({ status: 'ok', backupId: id.inc, chain: [id.full, id.inc] });
    expect(report.replay).toEqual({ status: 'skipped', reason: 'the store holds no binlog archive' });
    expect(report.tables.failed).toEqual([]);
    expect(report.tables.missing).toEqual([]);
    expect(report.tables.recorded).toBe(m.source.inventory.tables.length);
    expect(report.tables.checked).toBeGreaterThanOrEqual(3);
    expect(report.rows).toBeGreaterThanOrEqual(2500 + 300 + 2);
    expect(report.timeToReadyMs).toBeGreaterThan(0);
    for (const step of ['preflight', 'restore', 'start', 'check', 'compare']) expect(report.stepsMs[step]).toBeGreaterThanOrEqual(0);
    await nothingLeft();

    const records = await fs.readdir(path.join(storeDir, dirOf(id.inc), 'drills'));
    expect(records).toHaveLength(1);
    const list = await backupmate(work, ['list']);
    expect(list.stdout.split('\n')[0]).toMatch(/LAST_DRILL$/);
    expect(list.stdout).toMatch(new RegExp(`${id.inc}.*ok, [\\d.ms]+ to ready`));
  }, 120_000);

  test('a flipped byte in a volume fails at step restore, exit 65, nothing left behind', async () => {
    await withFile(
      path.join(storeDir, dirOf(id.full), 'data.00000'),
      (b) => {
        const d = Buffer.from(b);
        d[Math.floor(d.length / 2)] ^= 0x01;
        return d;
      },
      async () => {
        const { exitCode, report, stderr } = await drill([id.full]);
        expect(exitCode).toBe(65);
        expect(report).toMatchObject({ status: 'failed', failedStep: 'restore', backupId: id.full, timeToReadyMs: null, error: { code: 'INTEGRITY' } });
        expect(stderr).toContain(`backupmate: drill of backup ${id.full} failed at step restore:`);
        await nothingLeft();
      },
    );
  }, 60_000);

  test('a table the inventory recorded but the restore lacks fails at step compare, exit 80', async () => {
    const file = path.join(storeDir, dirOf(id.inc), 'manifest.json');
    await withFile(
      file,
      (b) => {
        const m = JSON.parse(b.toString()) as { source: { inventory: { tables: unknown[] } } };
        m.source.inventory.tables.push({ schema: 'app', name: 'ghost', engine: 'InnoDB', rows: 10 });
        return Buffer.from(JSON.stringify(m));
      },
      async () => {
        const { exitCode, report } = await drill([id.inc]);
        expect(exitCode).toBe(80);
        expect(report).toMatchObject({ status: 'failed', failedStep: 'compare', error: { code: 'DRILL_FAILED' } });
        expect(report.tables.missing).toEqual(['app.ghost']);
        expect(report.error!.message).toContain('app.ghost');
        expect(report.timeToReadyMs).toBeGreaterThan(0);
        await nothingLeft();
      },
    );
  }, 60_000);

  test('a table damaged on the source (carried faithfully by the backup) fails at step check, exit 80', async () => {
    await source.sql('CREATE DATABASE broken; CREATE TABLE broken.b (id INT PRIMARY KEY, v INT) ENGINE=MyISAM; INSERT INTO broken.b SELECT seq, seq FROM seq_1_to_500; FLUSH TABLES broken.b;', 'mysql');
    // The data file shorter than its index says: CHECK TABLE reports an error.
    const myd = path.join(source.datadir, 'broken', 'b.MYD');
    const size = (await fs.stat(myd)).size;
    await fs.truncate(myd, Math.floor(size / 2));
    const damaged = await backup(['--full']);
    try {
      const { exitCode, report } = await drill([damaged]);
      expect(exitCode).toBe(80);
      expect(report).toMatchObject({ status: 'failed', failedStep: 'check', error: { code: 'DRILL_FAILED' } });
      expect(report.tables.failed.map((f) => f.table)).toEqual(['broken.b']);
      await nothingLeft();
    } finally {
      await source.sql('DROP DATABASE broken;', 'mysql');
      await fs.rm(path.join(storeDir, 'backupmate/full', damaged), { recursive: true, force: true });
    }
  }, 90_000);
});

describe('metrics from the daemon', () => {
  let daemon: DaemonHandle;
  let url: string;
  const get = async () => (await fetch(url)).text();
  const value = (text: string, sample: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  };

  afterAll(async () => {
    await daemon?.stop();
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  test('/metrics before and after a backup, a failed backup and a drill; promtool check metrics passes; METRICS_TEXTFILE too', async () => {
    const port = await getFreePort();
    url = `http://127.0.0.1:${port}/metrics`;
    const textfileDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-drill-textfile-'));
    try {
      const textfile = path.join(textfileDir, 'backupmate.prom');
      daemon = await startDaemon(source, { kind: 'file', path: storeDir }, { METRICS_LISTEN: `127.0.0.1:${port}`, METRICS_TEXTFILE: textfile });
      await fs.chmod(daemon.dir, 0o711);
      const full = 'backupmate_last_success_timestamp_seconds{source="physical",kind="full"}';
      const fail = 'backupmate_job_failures_total{job="backup"}';
      const before = await get();
      execFileSync('promtool', ['check', 'metrics'], { input: before });
      expect(value(before, 'backupmate_up')).toBe(1);
      // Seeded from the store's catalog: the CLI's backups above count.
      const t0 = value(before, full)!;
      expect(t0).toBeGreaterThan(0);
      expect(value(before, fail)).toBe(0);
      expect(value(before, 'backupmate_store_backups{source="physical",store="' + (daemon.logLines().find((l) => l.event === 'daemon.start')!.store as string) + '"}')).toBe(2);

      const ok = await ctl(daemon.socket, ['backup', '--full', '--wait']);
      expect(ok.exitCode).toBe(0);
      const afterOk = await get();
      expect(value(afterOk, full)!).toBeGreaterThan(t0);
      expect(value(afterOk, 'backupmate_backup_size_bytes{source="physical",kind="full",stage="stored"}')).toBeGreaterThan(0);

      await source.stop();
      try {
        const bad = await ctl(daemon.socket, ['backup', '--full', '--wait']);
        expect(bad.exitCode).not.toBe(0);
      } finally {
        await source.start();
      }
      const afterFail = await get();
      execFileSync('promtool', ['check', 'metrics'], { input: afterFail });
      expect(value(afterFail, fail)).toBe(1);
      expect(value(afterFail, 'backupmate_last_failure_timestamp_seconds{source="physical",kind="full"}')).toBeGreaterThan(value(afterOk, full)!);
      expect(value(afterFail, full)).toBe(value(afterOk, full));

      expect(value(afterFail, 'backupmate_drill_last_success_timestamp_seconds')).toBe(0);
      const d = await ctl(daemon.socket, ['--json', 'drill', 'latest']);
      expect({ exit: d.exitCode, stderr: d.stderr }).toEqual({ exit: 0, stderr: '' });
      expect((jsonResult(d.stdout) as Report).status).toBe('ok');
      const afterDrill = await get();
      if (process.env.BACKUPMATE_SAMPLE_DIR) await fs.writeFile(path.join(process.env.BACKUPMATE_SAMPLE_DIR, 'metrics.txt'), afterDrill);
      expect(value(afterDrill, 'backupmate_drill_last_success_timestamp_seconds')).toBeGreaterThan(0);
      expect(value(afterDrill, 'backupmate_drill_time_to_ready_seconds')).toBeGreaterThan(0);
      const status = jsonResult((await ctl(daemon.socket, ['--json', 'status'])).stdout) as { lastDrill?: { status: string; timeToReadyMs: number } };
      expect(status.lastDrill).toMatchObject({ status: 'ok', timeToReadyMs: expect.any(Number) });
      // backupmatectl list shows LAST_DRILL like backupmate list.
      const listed = await ctl(daemon.socket, ['list']);
      expect({ exit: listed.exitCode, stderr: listed.stderr }).toEqual({ exit: 0, stderr: '' });
      expect(listed.stdout).toContain('LAST_DRILL');
      expect(listed.stdout).toMatch(/ok, \S+ to ready/);
      await nothingLeft(daemon.dir);

      // The textfile follows the jobs (written after each one, atomically).
      const deadline = Date.now() + 10_000;
      let file = '';
      while (Date.now() < deadline && !/backupmate_drill_last_success_timestamp_seconds [1-9]/.test(file)) {
        file = await fs.readFile(textfile, 'utf8').catch(() => '');
        await new Promise((r) => setTimeout(r, 100));
      }
      execFileSync('promtool', ['check', 'metrics'], { input: file });
      expect(value(file, fail)).toBe(1);
    } finally {
      await fs.rm(textfileDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('drill with a binlog archive', () => {
  test('replays the archive onto the drilled chain up to its last archived moment, as a timed replay step', async () => {
    // Two transactions one second apart: a drill replays up to the last archived second, leaving that second out (restore --time's rule).
    await source.sql('INSERT INTO app.later VALUES (3),(4)', 'mysql');
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    await source.sql('INSERT INTO app.later VALUES (5); FLUSH BINARY LOGS', 'mysql');
    const binlogDir = path.join(source.baseDir, 'binlog');
    const names = (await fs.readdir(binlogDir)).filter((n) => /^mysql-bin\.\d+$/.test(n)).sort();
    await archiveBinlogFiles(new FileStorage(storeDir), 'backupmate/binlog/', names.slice(0, -1).map((n) => path.join(binlogDir, n)));

    const { exitCode, report, stderr } = await drill([id.inc]);
    expect({ exitCode, stderr, error: report.error }).toEqual({ exitCode: 0, stderr: '', error: undefined });
    expect(report.replay).toMatchObject({ status: 'replayed', reached: expect.stringMatching(/^0-1-\d+$/) });
    expect(report.replay!.transactions).toBeGreaterThanOrEqual(1);
    expect(report.stepsMs.replay).toBeGreaterThan(0);
    expect(renderDrill(report as never)).toMatch(/replay: +\d+ transaction\(s\) from \d+ archived segment\(s\) up to /);
    await nothingLeft();
    expect((await fs.readdir(path.join(work, 'tmp'))).filter((n) => n.startsWith('bm-pitr-'))).toEqual([]);
  }, 120_000);
});
