/**
 * Incremental and differential chains with real parts: every point of a chain restores into a
 * fresh server whose CHECKSUM TABLE equals the source's right after that backup was taken.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir, type Store } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'chain-pw';
let source: PrivateServer;
let s3: S3Server;

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  await loadSampleData(source, { rows: 100_000 });
  await source.sql(
    'CREATE DATABASE chain; CREATE TABLE chain.t (id INT PRIMARY KEY, n INT, s VARCHAR(64)) ENGINE=InnoDB; CREATE TABLE chain.m (id INT PRIMARY KEY, n INT) ENGINE=MyISAM;',
  );
});

afterAll(async () => {
  await stopAllServers();
  await stopAllS3rvers();
});

let round = 0;
/** Writes that touch InnoDB and MyISAM: inserts, updates and deletes. */
async function write(): Promise<void> {
  round++;
  const base = round * 10_000;
  await source.sql(
    `INSERT INTO t SELECT seq + ${base}, seq, MD5(seq + ${base}) FROM seq_1_to_5000;
     UPDATE t SET n = n + ${round} WHERE id % 7 = ${round % 7};
     DELETE FROM t WHERE id % 11 = ${round % 11} AND id < ${base};
     INSERT INTO m SELECT seq + ${base}, seq FROM seq_1_to_500;`,
    'chain',
  );
}

async function backup(work: string, args: string[] = [], env: Record<string, string> = {}): Promise<{ id: string; kind: string; lines: Record<string, unknown>[] }> {
  const r = await backupmate(work, ['backup', ...args], env);
  expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  const lines = logLines(r.stdout);
  const end = lines.find((l) => l.event === 'backup.end')!;
  return { id: end.backupId as string, kind: end.kind as string, lines };
}

async function restoreAndChecksum(work: string, args: string[]): Promise<{ sums: Record<string, string>; stdout: string }> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-chain-'));
  const target = path.join(base, 'data');
  const r = await backupmate(work, ['restore', ...args, '--target-dir', target]);
  expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
  const server = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
  const sums = await server.checksums();
  await server.destroy();
  return { sums, stdout: r.stdout };
}

describe.each<[string, 'latest' | 'full']>([
  ['incremental chain (INCREMENTAL_BASE=latest)', 'latest'],
  ['differential chain (INCREMENTAL_BASE=full)', 'full'],
])('%s: full → inc1 → inc2 → inc3, restore to every point', (_name, base) => {
  test('each restore equals the source right after that backup', async () => {
    const store: Store = { kind: 's3', server: s3 };
    const work = await makeWorkdir(source, store, {
      FULL_BACKUP_PREFIX: `chain-${base}/full/`,
      INCREMENTAL_BACKUP_PREFIX: `chain-${base}/inc/`,
      INCREMENTAL_BASE: base,
      FULL_BACKUP_SCHEDULE: 'off',
    });
    const points: { id: string; sums: Record<string, string> }[] = [];
    for (let i = 0; i < 4; i++) {
      if (i > 0) await write();
      const b = await backup(work);
      expect(b.kind).toBe(i === 0 ? 'full' : 'incremental');
      const plan = b.lines.find((l) => l.event === 'backup.plan')!;
      expect(typeof plan.reason).toBe('string');
      if (i > 0) expect(plan.parentId).toBe(base === 'full' ? points[0].id : points[i - 1].id);
      points.push({ id: b.id, sums: await source.checksums() });
    }
    // Writes pause around each backup, so consecutive points differ.
    expect(points[1].sums).not.toEqual(points[0].sums);

    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: { id: string; parentId: string | null; fullId: string }[] };
    expect(list.backups.map((b) => b.id)).toEqual(points.map((p) => p.id));
    expect(list.backups.every((b) => b.fullId === points[0].id)).toBe(true);
    const table = (await backupmate(work, ['list'])).stdout;
    expect(table).toContain(`└─ ${points[3].id}`);

    for (const [i, p] of points.entries()) {
      const { sums, stdout } = await restoreAndChecksum(work, [i === 3 ? 'latest' : p.id]);
      expect(sums).toEqual(p.sums);
      const applied = base === 'full' && i > 0 ? [points[0].id, p.id] : points.slice(0, i + 1).map((q) => q.id);
      expect(stdout).toContain(`chain applied in order: ${applied.join(' -> ')}`);
    }

    // --time picks the newest backup finished at or before the instant (here: inc2).
    const inc2 = list.backups[2] as unknown as { finishedAt: string };
    const { sums } = await restoreAndChecksum(work, ['--time', new Date(Date.parse(inc2.finishedAt) + 500).toISOString()]);
    expect(sums).toEqual(points[2].sums);
  });
});

describe('a broken chain is refused before anything is touched', () => {
  test('restoring inc2 when inc1 has no manifest fails naming inc1, and the target never appears', async () => {
    const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-'));
    const work = await makeWorkdir(source, { kind: 'file', path: storeDir }, { FULL_BACKUP_SCHEDULE: 'off' });
    const full = await backup(work);
    await write();
    const inc1 = await backup(work, ['--incremental']);
    await write();
    const inc2 = await backup(work, ['--incremental']);
    expect([full.kind, inc1.kind, inc2.kind]).toEqual(['full', 'incremental', 'incremental']);
    await fs.rm(path.join(storeDir, 'backupmate/incremental', inc1.id, 'manifest.json'));

    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-target-'));
    const r = await backupmate(work, ['restore', inc2.id, '--target-dir', path.join(base, 'data')]);
    expect(r.exitCode).toBe(65);
    expect(r.stderr).toContain(inc1.id);
    expect(r.stderr).toMatch(/incomplete/);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('{')).some((l) => l.includes('restore.downloaded'))).toBe(false);
    expect(await fs.readdir(base)).toEqual([]);

    // The planner does not build on the broken chain either: the next automatic backup is a full.
    const next = await backup(work);
    expect(next.kind).toBe('full');
  });
});

describe('retention', () => {
  test('prune --dry-run lists exactly what prune deletes; whole chains only; kept backups keep their parents', async () => {
    const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-'));
    const work = await makeWorkdir(source, { kind: 'file', path: storeDir }, { FULL_BACKUP_SCHEDULE: 'off', RETENTION_FULL_COUNT: '0' });
    const ids: string[][] = [];
    for (let chain = 0; chain < 3; chain++) {
      const f = await backup(work, ['--full']);
      await write();
      const i1 = await backup(work, ['--incremental']);
      ids.push([f.id, i1.id]);
    }
    // A stale incomplete backup (a killed job's leftovers, two days old) and a fresh one.
    const stale = path.join(storeDir, 'backupmate/full/20200101T000000Z/data.00000');
    await fs.mkdir(path.dirname(stale), { recursive: true });
    await fs.writeFile(stale, 'partial');
    const old = new Date(Date.now() - 48 * 3600_000);
    await fs.utimes(stale, old, old);
    const fresh = path.join(storeDir, 'backupmate/full/20300101T000000Z/data.00000');
    await fs.mkdir(path.dirname(fresh), { recursive: true });
    await fs.writeFile(fresh, 'partial');

    const env = { RETENTION_FULL_COUNT: '2' };
    const dry = await backupmate(work, ['prune', '--dry-run'], env);
    expect(dry.exitCode).toBe(0);
    const wouldDelete = dry.stdout.split('\n').filter((l) => l.startsWith('  would delete: ')).map((l) => l.slice('  would delete: '.length));
    expect(wouldDelete.length).toBeGreaterThan(0);
    // Nothing deleted by the dry run.
    expect(await fs.readFile(stale, 'utf8')).toBe('partial');

    const real = await backupmate(work, ['prune'], env);
    expect(real.exitCode).toBe(0);
    const deleted = real.stdout.split('\n').filter((l) => l.startsWith('  deleted: ')).map((l) => l.slice('  deleted: '.length));
    expect(deleted).toEqual(wouldDelete);
    // The oldest chain, whole, manifest first; the stale incomplete backup; not the fresh one.
    expect(deleted[0]).toBe(`backupmate/incremental/${ids[0][1]}/manifest.json`);
    expect(deleted.some((k) => k.includes(ids[0][0]))).toBe(true);
    expect(deleted).toContain('backupmate/full/20200101T000000Z/data.00000');
    expect(deleted.some((k) => k.includes('20300101T000000Z'))).toBe(false);
    expect(deleted.some((k) => k.includes(ids[1][0]) || k.includes(ids[2][0]) || k.includes(ids[1][1]) || k.includes(ids[2][1]))).toBe(false);

    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: { id: string; parentId: string | null }[] };
    const kept = new Set(list.backups.map((b) => b.id));
    expect([...kept].sort()).toEqual([...ids[1], ...ids[2]].sort());
    for (const b of list.backups) if (b.parentId) expect(kept.has(b.parentId)).toBe(true);

    // Retention also runs after every backup: with RETENTION_FULL_COUNT=1 a new full expires chain 2.
    const f4 = await backup(work, ['--full'], { RETENTION_FULL_COUNT: '1' });
    const after = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: { id: string }[] };
    expect(after.backups.map((b) => b.id)).toEqual([f4.id]);
  });
});
