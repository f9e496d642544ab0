/**
 * Issue 15 items 3-4 through the real CLI, a real mariadbd and s3rver:
 * - the second store: an age-encrypted full + incremental chain in S3 is copied to a file-store
 *   copy (manifest last); while the copy is unreachable backups still succeed and the copy is
 *   reported behind; the next backup catches it up; a restore from the copy (`--store copy`)
 *   equals the source by CHECKSUM TABLE.
 * - the store lock: a live holder refuses backup and prune at once with exit 81 naming it; a dead
 *   pid's lock is taken over; two concurrent backups on one prefix (s3rver, which ignores
 *   If-None-Match: the per-writer-object scheme) -> one runs, the other is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'copy-pw';
let source: PrivateServer;
let s3: S3Server;
let tmp: string;
let identity: string;
let recipient: string;
const cleanup: string[] = [];

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  await source.sql('CREATE DATABASE cl; CREATE TABLE cl.t (id INT PRIMARY KEY, s VARCHAR(64)) ENGINE=InnoDB;');
  await source.sql('INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_5000;', 'cl');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-copylock-'));
  identity = path.join(tmp, 'id.txt');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
});

afterAll(async () => {
  await stopAllServers();
  await stopAllS3rvers();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  for (const d of cleanup) await fs.rm(d, { recursive: true, force: true });
});

async function backup(work: string, args: string[]): Promise<{ id: string; lines: Record<string, unknown>[] }> {
  const r = await backupmate(work, ['backup', ...args]);
  expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  const lines = logLines(r.stdout);
  return { id: lines.find((l) => l.event === 'backup.end')!.backupId as string, lines };
}

describe('second store (COPY_STORAGE=file) of an S3 primary, ENCRYPTION=age', () => {
  let work: string;
  let copyDir: string;
  const ids: string[] = [];
  let lastSums: Record<string, string>;

  beforeAll(async () => {
    copyDir = path.join(tmp, 'copy');
    work = await makeWorkdir(source, { kind: 's3', server: s3 }, {
      FULL_BACKUP_PREFIX: 'cl/full/',
      INCREMENTAL_BACKUP_PREFIX: 'cl/inc/',
      FULL_BACKUP_SCHEDULE: 'off',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: recipient,
      COPY_STORAGE: 'file',
      COPY_STORAGE_PATH: copyDir,
      // The copy's outage is not retried for long: one attempt per operation.
      RETRY_ATTEMPTS: '1',
    });
  });

  test('every backup reaches the copy, manifest last', async () => {
    const full = await backup(work, ['--full']);
    ids.push(full.id);
    const copied = full.lines.filter((l) => l.event === 'copy.backup').map((l) => l.id);
    expect(copied).toEqual([full.id]);
    const files = await fs.readdir(path.join(copyDir, 'cl/full', full.id));
    expect(files).toEqual(expect.arrayContaining(['manifest.json', 'SHA256SUMS', 'data.00000']));
    // Byte for byte the primary's manifest.
    const listed = JSON.parse((await backupmate(work, ['list', '--json', '--store', 'copy'])).stdout) as { backups: { id: string }[] };
    expect(listed.backups.map((b) => b.id)).toEqual([full.id]);
  });

  test('a copy that is down fails no backup: it is reported behind, and caught up by the next run', async () => {
    // The copy's directory replaced by a plain file: every write there fails (ENOTDIR).
    await fs.rename(copyDir, copyDir + '.away');
    await fs.writeFile(copyDir, 'not a directory');
    await source.sql("INSERT INTO t SELECT seq + 10000, MD5(seq) FROM seq_1_to_2000; UPDATE t SET s = 'x' WHERE id % 7 = 0;", 'cl');
    const inc1 = await backup(work, ['--incremental']);
    ids.push(inc1.id);
    const failed = inc1.lines.find((l) => l.event === 'copy.failed');
    expect(failed).toMatchObject({ level: 'warn', store: `file://${copyDir}` });
    expect(String(failed!.message)).toMatch(/the copy to file:\/\/.* is behind: .*the backup in the primary store is fine/);
    expect(inc1.lines.find((l) => l.event === 'backup.end')).toMatchObject({ status: 'succeeded' });

    await fs.rm(copyDir);
    await fs.rename(copyDir + '.away', copyDir);
    await source.sql('INSERT INTO t SELECT seq + 20000, MD5(seq) FROM seq_1_to_2000;', 'cl');
    const inc2 = await backup(work, ['--incremental']);
    ids.push(inc2.id);
    lastSums = await source.checksums();
    expect(inc2.lines.filter((l) => l.event === 'copy.backup').map((l) => l.id)).toEqual([inc1.id, inc2.id]);
    const listed = JSON.parse((await backupmate(work, ['list', '--json', '--store', 'copy'])).stdout) as { backups: { id: string }[] };
    expect(listed.backups.map((b) => b.id)).toEqual(ids);
  });

  test('restore --store copy of the chain equals the source by CHECKSUM TABLE', async () => {
    // Not under `tmp` (0700): the restored server runs as mysql and must reach its datadir.
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-copy-restore-'));
    cleanup.push(base);
    const target = path.join(base, 'data');
    // The primary is out of reach: the restore reads the copy only.
    const r = await backupmate(work, ['restore', ids[2], '--target-dir', target, '--store', 'copy'], { AGE_IDENTITY_FILE: identity, S3_ENDPOINT: 'http://127.0.0.1:9' });
    expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
    expect(r.stdout).toContain(`chain applied in order: ${ids.join(' -> ')}`);
    const server = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
    try {
      expect(await server.checksums()).toEqual(lastSums);
    } finally {
      await server.destroy();
    }
  });

  test('--store copy without a second store is a usage error', async () => {
    const r = await backupmate(work, ['list', '--store', 'copy'], { COPY_STORAGE: '' });
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('no second store is configured');
  });
});

test('config check with S3_OBJECT_LOCK_MODE asks the bucket; a server that cannot tell is a problem, not a pass', async () => {
  const work = await makeWorkdir(source, { kind: 's3', server: s3 }, { S3_OBJECT_LOCK_MODE: 'GOVERNANCE', S3_OBJECT_LOCK_DAYS: '7' });
  const r = await backupmate(work, ['config', 'check']);
  expect(r.exitCode).toBe(78);
  expect(r.stderr).toMatch(new RegExp(`S3_OBJECT_LOCK_MODE=GOVERNANCE: bucket ${s3.bucket}(: could not tell whether Object Lock is enabled| does not have Object Lock enabled)`));
});

describe('store lock', () => {
  const host = os.hostname();

  async function writeHolder(store: string, pid: number): Promise<void> {
    const dir = path.join(store, 'lk/.backupmate-lock');
    await fs.mkdir(dir, { recursive: true });
    const now = Date.now();
    await fs.writeFile(
      path.join(dir, 'holder.json'),
      JSON.stringify({ version: 1, host, pid, job: 'backup', since: new Date(now).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), nonce: 'other' }),
    );
  }

  test('a live holder refuses backup and prune at once (exit 81, holder named); a dead pid is taken over', async () => {
    const store = path.join(tmp, 'lockstore');
    const work = await makeWorkdir(source, { kind: 'file', path: store }, { FULL_BACKUP_PREFIX: 'lk/full/', INCREMENTAL_BACKUP_PREFIX: 'lk/inc/' });
    await writeHolder(store, process.pid);
    const started = Date.now();
    for (const args of [['backup', '--full'], ['prune']]) {
      const r = await backupmate(work, args);
      expect(r.exitCode).toBe(81);
      expect(r.stderr).toMatch(new RegExp(`another backupmate is at work on file://.*: backup by pid ${process.pid} on ${host} since \\d{4}-`));
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    // A pid that ran and exited: its holder is dead.
    const gone = spawnSync('true').pid!;
    await writeHolder(store, gone);
    const b = await backup(work, ['--full']);
    expect(b.lines.find((l) => l.event === 'lock.takeover')).toMatchObject({ level: 'warn', why: `pid ${gone} no longer runs on ${host}` });
    // Released at the end (the file store removes the emptied folder too).
    await expect(fs.stat(path.join(store, 'lk/.backupmate-lock/holder.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('two backups at once on one S3 prefix: one runs, the other is refused naming it', async () => {
    const work = await makeWorkdir(source, { kind: 's3', server: s3 }, { FULL_BACKUP_PREFIX: 'two/full/', INCREMENTAL_BACKUP_PREFIX: 'two/inc/' });
    const results = await Promise.all([backupmate(work, ['backup', '--full']), backupmate(work, ['backup', '--full'])]);
    const codes = results.map((r) => r.exitCode).sort();
    expect(codes).toEqual([0, 81]);
    const refused = results.find((r) => r.exitCode === 81)!;
    expect(refused.stderr).toMatch(/another backupmate is at work on s3:\/\/.*: backup by pid \d+ on .* since/);
    const winner = results.find((r) => r.exitCode === 0)!;
    expect(logLines(winner.stdout).find((l) => l.event === 'lock.acquired')).toMatchObject({ conditional: false });
  });
});
