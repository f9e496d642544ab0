/**
 * Chain continuity with real parts (issue 11, item 1): after a restore to an older backup the
 * server's history no longer continues the chain, and no backup may be chained onto it.
 *
 * One private server and a file store, in order: full F → writes → incremental I1 → more writes →
 * stop → `backupmate restore F --move-back` into the server's own datadir → start → writes. Then:
 * `backup --incremental` is refused; a job forced onto I1 anyway fails before its manifest; the
 * automatic `backup` takes a full and says why; the next one chains on that full again. A forged
 * incremental ending below where it starts is reported corrupt by `verify` and refused by
 * `restore`. A server started on a restored --target-dir is a different server for the planner.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBackup, type BackupSettings } from '../../src/backup/job.js';
import { BackupmateError } from '../../src/domain/errors.js';
import type { Manifest as AnyManifest, PhysicalPayload } from '../../src/domain/manifest.js';

type Manifest = AnyManifest<PhysicalPayload>;
import { createLogger } from '../../src/log/logger.js';
import { FileStorage } from '../../src/storage/drivers/file.js';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

const PASSWORD = 'c0ntinuity-pw';
/** The restore marker's documented name (README, "Files and directories"). */
const RESTORE_MARKER_NAME = 'backupmate_restore.json';
let source: PrivateServer;
let storeDir: string;
let work: string;
/** Temp dirs this file creates besides the servers' own (removed in afterAll, also on failure). */
const temps: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}

beforeAll(async () => {
  source = await startPrivateServer({ rootPassword: PASSWORD });
  await loadSampleData(source, { rows: 20_000 });
  await source.sql('CREATE DATABASE cont; CREATE TABLE cont.t (id INT PRIMARY KEY, s VARCHAR(200)) ENGINE=InnoDB;');
  storeDir = await tempDir('bm-store-');
  work = await makeWorkdir(source, { kind: 'file', path: storeDir }, { FULL_BACKUP_SCHEDULE: 'off', MARIADB_DATADIR: source.datadir });
  temps.push(work);
});

afterAll(async () => {
  await stopAllServers();
  await Promise.all(temps.map((d) => fs.rm(d, { recursive: true, force: true })));
});

let round = 0;
/** `rows` InnoDB rows of 200 bytes: enough redo to move the LSN by roughly rows × 250. */
async function write(rows: number): Promise<void> {
  round++;
  const base = round * 1_000_000;
  await source.sql(`INSERT INTO t SELECT seq + ${base}, REPEAT(MD5(seq), 6) FROM seq_1_to_${rows}`, 'cont');
}

async function currentLsn(server: PrivateServer = source): Promise<bigint> {
  const out = await server.sql("SHOW GLOBAL STATUS LIKE 'Innodb_lsn_current'");
  return BigInt(out.trim().split('\t')[1]);
}

async function backup(args: string[] = [], env: Record<string, string> = {}, cwd = work) {
  const r = await backupmate(cwd, ['backup', ...args], env);
  expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  const lines = logLines(r.stdout);
  const end = lines.find((l) => l.event === 'backup.end')!;
  const plan = lines.find((l) => l.event === 'backup.plan')!;
  return { id: end.backupId as string, kind: end.kind as string, plan };
}

async function manifestOf(kind: 'full' | 'incremental', id: string, store = storeDir): Promise<Manifest> {
  return JSON.parse(await fs.readFile(path.join(store, 'backupmate', kind, id, 'manifest.json'), 'utf8')) as Manifest;
}

async function listIds(): Promise<string[]> {
  const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: { id: string }[]; incomplete: unknown[] };
  expect(list.incomplete).toEqual([]);
  return list.backups.map((b) => b.id);
}

function settings(tempDir: string): BackupSettings {
  return {
    fullPrefix: 'backupmate/full/',
    incrementalPrefix: 'backupmate/incremental/',
    tempDir,
    mariabackupPath: 'mariabackup',
    connection: { user: 'root', password: PASSWORD, host: 'localhost', port: 3306, socket: source.socket },
    parallel: 2,
    compression: { algorithm: 'zstd', level: 3 },
    volumeSize: 64 * 1024 * 1024,
    hostname: os.hostname(),
  };
}

describe('after a restore to an older backup, no backup chains onto the other history', () => {
  let F: Manifest;
  let I1: Manifest;

  test('full, writes, incremental: the manifests record the server they were taken from', async () => {
    const f = await backup();
    expect(f.kind).toBe('full');
    await write(40_000);
    // A clean restart checkpoints: I1's to_lsn (its starting checkpoint) is then past F's end.
    await source.stop();
    await source.start();
    const i1 = await backup();
    expect(i1.kind).toBe('incremental');
    expect(i1.plan.parentId).toBe(f.id);
    F = await manifestOf('full', f.id);
    I1 = await manifestOf('incremental', i1.id);
    const hostname = (await source.sql('SELECT @@hostname')).trim();
    expect(F.source.server).toEqual({ host: hostname, datadir: await fs.realpath(source.datadir), serverId: 1 });
    expect(I1.source.server).toEqual(F.source.server);
    expect(BigInt(I1.source.lsn.to)).toBeGreaterThan(BigInt(F.source.lsn.last));
  });

  test('restore of the full with --move-back into the stopped server\'s datadir leaves a marker owned like the datadir', async () => {
    await write(2_000); // undone by the restore
    await source.stop();
    const r = await backupmate(work, ['restore', F.id, '--move-back']);
    // Started again whatever the assertions say, so one failure here does not hide the tests after it.
    await source.start();
    expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
    const marker = JSON.parse(await fs.readFile(path.join(source.datadir, RESTORE_MARKER_NAME), 'utf8')) as Record<string, string>;
    expect(marker).toMatchObject({ restoredBackupId: F.id, toLsn: F.source.lsn.to, host: os.hostname() });
    expect(Date.parse(marker.restoredAt)).toBeGreaterThan(Date.parse(I1.finishedAt));
    const dir = await fs.stat(source.datadir);
    const file = await fs.stat(path.join(source.datadir, RESTORE_MARKER_NAME));
    expect([file.uid, file.gid]).toEqual([dir.uid, dir.gid]);
    // What mariabackup itself leaves in the datadir (see the comment in mariadb/restore-marker.ts).
    const names = await fs.readdir(source.datadir);
    expect(names).toEqual(expect.arrayContaining(['xtrabackup_info', 'xtrabackup_binlog_pos_innodb']));
  });

  test('after the restore: the server runs again, with a few writes, and its LSN is back below where I1 ended', async () => {
    await write(200);
    // The premise of the refusals below: the server's LSN is below where I1 ended, and its
    // checkpoint (where a new backup's to_lsn comes from) below where I1 started from.
    expect(await currentLsn()).toBeLessThan(BigInt(I1.source.lsn.to));
  });

  test('backup --incremental is refused (exit 66) naming the parent and why, and nothing is written', async () => {
    const before = await listIds();
    const r = await backupmate(work, ['backup', '--incremental']);
    expect(r.exitCode).toBe(66);
    expect(r.stderr).toContain(`cannot take an incremental backup on ${I1.id}: the server's history does not continue it (`);
    expect(r.stderr).toContain(`backup ${F.id} was restored into the server's datadir at `);
    expect(r.stderr).toMatch(new RegExp(`the server's current LSN \\d+ is below ${I1.source.lsn.last}, where ${I1.id} ends \\(its last_lsn\\)`));
    expect(r.stderr).toContain('take a full backup');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const plan = logLines(r.stdout).find((l) => l.event === 'backup.plan')!;
    expect(plan).toMatchObject({ kind: 'refused', lastRestore: { restoredBackupId: F.id } });
    expect(await listIds()).toEqual(before);
  });

  test('a job forced onto I1 anyway fails with INTEGRITY before its manifest, naming both LSNs, and leaves nothing', async () => {
    const before = await listIds();
    const tmp = await tempDir('bm-cont-tmp-');
    const storage = new FileStorage(storeDir);
    const logger = createLogger({ level: 'debug', console: 'none' });
    let err: unknown;
    try {
      await runBackup(storage, logger, settings(tmp), { kind: 'incremental', parentId: I1.id, fullId: F.id, fromLsn: I1.source.lsn.to });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackupmateError);
    const e = err as BackupmateError;
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toMatch(new RegExp(`^the incremental on ${I1.id} ends at LSN \\d+, below where it starts \\(the parent's to_lsn ${I1.source.lsn.to}\\)`));
    expect(e.message).toContain('take a full backup');
    expect(await listIds()).toEqual(before);
    // Volumes were removed: no directory of the failed job remains.
    const incs = await fs.readdir(path.join(storeDir, 'backupmate', 'incremental'));
    expect(incs).toEqual([I1.id]);
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  let F2: string;
  test('the automatic backup takes a full and logs why; the next one chains on that full', async () => {
    const b = await backup();
    expect(b.kind).toBe('full');
    expect(b.plan.reason).toMatch(new RegExp(`^the server's history does not continue ${I1.id} \\(chain of ${F.id}\\): `));
    expect(b.plan.reason).toContain(`backup ${F.id} was restored into the server's datadir at `);
    expect(b.plan.lastRestore).toMatchObject({ restoredBackupId: F.id });
    F2 = b.id;
    await write(500);
    const next = await backup();
    expect(next.kind).toBe('incremental');
    expect(next.plan.parentId).toBe(F2);
  });

  test('verify all: every real backup is ok', async () => {
    const r = await backupmate(work, ['verify', 'all', '--json']);
    expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
  });

  test('a server started on a restored --target-dir is another server: its first backup into the same store is a full', async () => {
    const base = await tempDir('bm-cont-target-');
    const target = path.join(base, 'data');
    const r = await backupmate(work, ['restore', F2, '--target-dir', target]);
    expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
    expect(JSON.parse(await fs.readFile(path.join(target, RESTORE_MARKER_NAME), 'utf8'))).toMatchObject({ restoredBackupId: F2 });
    // The marker does not stop mariadbd from starting on the restored directory.
    const scratch = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
    const scratchWork = await makeWorkdir(scratch, { kind: 'file', path: storeDir }, { FULL_BACKUP_SCHEDULE: 'off' });
    temps.push(scratchWork);
    const b = await backup([], {}, scratchWork);
    expect(b.kind).toBe('full');
    expect(b.plan.reason).toContain(`the server's datadir is ${await fs.realpath(target)} but `);
    expect(b.plan.reason).toContain(`was taken from datadir ${await fs.realpath(source.datadir)}`);
    await scratch.destroy();
  });
});

describe('a chain whose incremental ends below where it starts, from the manifests alone', () => {
  test('verify reports it corrupt (broken chain) and restore refuses it, naming the backup and both LSNs', async () => {
    // A forged pair: a real full and incremental copied into a store of their own, the
    // incremental's manifest saying what a backup taken after a restore said (to_lsn < from_lsn).
    const forged = await tempDir('bm-forged-');
    const ids = (await fs.readdir(path.join(storeDir, 'backupmate', 'incremental'))).sort();
    const inc = await manifestOf('incremental', ids[0]);
    for (const [kind, id] of [
      ['full', inc.fullId],
      ['incremental', inc.id],
    ] as const) {
      await fs.cp(path.join(storeDir, 'backupmate', kind, id), path.join(forged, 'backupmate', kind, id), { recursive: true });
    }
    const to = String(BigInt(inc.source.lsn.from) - 1000n);
    const bad: Manifest = { ...inc, source: { ...inc.source, lsn: { from: inc.source.lsn.from, to, last: to } } };
    await fs.writeFile(path.join(forged, 'backupmate', 'incremental', inc.id, 'manifest.json'), JSON.stringify(bad, null, 2) + '\n');
    const fw = await makeWorkdir(source, { kind: 'file', path: forged }, { FULL_BACKUP_SCHEDULE: 'off' });
    temps.push(fw);

    const v = await backupmate(fw, ['verify', 'all', '--json']);
    expect(v.exitCode).toBe(65);
    const report = JSON.parse(v.stdout) as {
      backups: { id: string; status: string; problems: string[] }[];
    };
    const byId = new Map(report.backups.map((b) => [b.id, b]));
    expect(byId.get(inc.fullId)?.status).toBe('ok');
    expect(byId.get(inc.id)?.status).toBe('corrupt');
    expect(byId.get(inc.id)?.problems).toContainEqual(
      expect.stringContaining(`broken chain: cannot restore ${inc.id}: incremental ${inc.id} ends at LSN ${to}, before it starts at LSN ${inc.source.lsn.from}`),
    );

    const base = await tempDir('bm-forged-target-');
    const r = await backupmate(fw, ['restore', inc.id, '--target-dir', path.join(base, 'data')]);
    expect(r.exitCode).toBe(65);
    expect(r.stderr).toContain(`incremental ${inc.id} ends at LSN ${to}, before it starts at LSN ${inc.source.lsn.from}`);
    expect(await fs.readdir(base)).toEqual([]);
  });
});

describe('the GRANT hint', () => {
  test('names the real account the server matched', async () => {
    await source.sql("CREATE USER 'weak'@'localhost' IDENTIFIED BY 'weak-pw'");
    const r = await backupmate(work, ['backup', '--full'], { DB_USER: 'weak', DB_PASSWORD: 'weak-pw' });
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain("the backup user weak (DB_USER) lacks RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR: run GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'weak'@'localhost'");
  });
});
