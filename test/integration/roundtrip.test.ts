/**
 * The product's promise, end to end with real parts: a real private mariadbd, real mariabackup,
 * a real S3 server (s3rver on loopback) and the real CLI. Every backup proves itself by being
 * restored into a second server and compared with CHECKSUM TABLE.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir, watchArgv, type Store } from '../helpers/backupmate.js';
import { checkAllTables, checkBankInvariants, loadSampleData, setupBank, startBankWriter } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'Rt-s3cret "quoted" #hash';

let source: PrivateServer;
let s3: S3Server;

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  await loadSampleData(source, { rows: 120_000 });
});

afterAll(async () => {
  await stopAllServers();
  await stopAllS3rvers();
});

/** Restores `id` with --copy-back into a fresh datadir, starts a server on it and returns it. */
async function restoreIntoNewServer(work: string, id: string): Promise<{ server: PrivateServer; stdout: string; datadir: string }> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-restored-'));
  const datadir = path.join(base, 'data');
  const r = await backupmate(work, ['restore', id, '--copy-back'], {
    MARIADB_DATADIR: datadir,
    // The "server running?" check asks DB_SOCKET; here the target has none yet.
    DB_SOCKET: path.join(base, 'none.sock'),
    MARIADB_OS_USER: 'mysql',
  });
  expect({ exit: r.exitCode, stderr: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, stderr: '' });
  // The staging copy is removed by a detached rm -rf that outlives the command.
  const logged = logLines(r.stdout + (await fs.readFile(path.join(work, 'backupmate.log'), 'utf8')));
  expect(logged.filter((l) => l.event === 'restore.cleanup').at(-1)).toMatchObject({ background: true });
  const tmp = path.join(work, 'tmp');
  for (let i = 0; i < 300 && (await fs.readdir(tmp)).some((n) => n.startsWith('restore-')); i++) await new Promise((res) => setTimeout(res, 100));
  expect((await fs.readdir(tmp)).filter((n) => n.startsWith('restore-'))).toEqual([]);
  const st = await fs.stat(path.join(datadir, 'ibdata1'));
  const mysqlUid = Number((await fs.readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('mysql:'))!.split(':')[2]);
  expect(st.uid).toBe(mysqlUid);
  const server = await startPrivateServer({ datadir, baseDir: base, rootPassword: PASSWORD });
  return { server, stdout: r.stdout, datadir };
}

describe.each<['s3' | 'file']>([['s3'], ['file']])('full backup round trip, quiet source (%s store)', (kind) => {
  let work: string;
  let store: Store;

  beforeAll(async () => {
    store = kind === 's3' ? { kind: 's3', server: s3 } : { kind: 'file', path: await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-')) };
    work = await makeWorkdir(source, store, kind === 's3' ? { FULL_BACKUP_PREFIX: `rt-${kind}/full/`, INCREMENTAL_BACKUP_PREFIX: `rt-${kind}/inc/` } : {});
  });

  test('backup --full, list, restore --copy-back into a second server: CHECKSUM TABLE equal', async () => {
    const before = await source.checksums();
    expect(Object.keys(before).length).toBeGreaterThanOrEqual(3);

    // The password must never be visible in any process's argv while the backup runs.
    const { result: b, hits, samples } = await watchArgv(PASSWORD, () => backupmate(work, ['backup', '--full']));
    expect(b.stderr).toBe('');
    expect(b.exitCode).toBe(0);
    expect(samples).toBeGreaterThan(3);
    expect(hits).toEqual([]);
    const end = logLines(b.stdout).find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'succeeded', kind: 'full' });
    expect(end.rawBytes as number).toBeGreaterThan(10 * 1024 * 1024);
    // No log line carries the password.
    expect(b.stdout).not.toContain(PASSWORD);
    expect(await fs.readFile(path.join(work, 'backupmate.log'), 'utf8')).not.toContain(PASSWORD);
    // No local copy of the data: the temp dir is empty again.
    expect(await fs.readdir(path.join(work, 'tmp'))).toEqual([]);

    const list = await backupmate(work, ['list', '--json']);
    expect(list.exitCode).toBe(0);
    const listed = JSON.parse(list.stdout) as { backups: { id: string; kind: string; volumes: unknown[]; lsn: { to: string } }[]; incomplete: unknown[] };
    expect(listed.backups).toHaveLength(1);
    expect(listed.incomplete).toEqual([]);
    expect(listed.backups[0].id).toBe(end.backupId);
    if (kind === 's3') expect(listed.backups[0].volumes.length).toBeGreaterThan(1); // 5 MiB volumes
    const table = await backupmate(work, ['list']);
    expect(table.stdout).toMatch(new RegExp(`${end.backupId}\\s+physical\\s+full\\s+ok`));

    const { server, stdout } = await restoreIntoNewServer(work, 'latest');
    expect(stdout).toContain(`restored backup ${end.backupId}`);
    expect(await server.checksums()).toEqual(before);
    expect(await checkAllTables(server)).toEqual([]);
    await server.destroy();
  });

  test('restore --target-dir gives a prepared datadir a server starts on', async () => {
    const before = await source.checksums();
    const b = await backupmate(work, ['backup', '--full']);
    expect(b.exitCode).toBe(0);
    const id = logLines(b.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-target-'));
    const target = path.join(base, 'data');
    // Accepts an ISO timestamp for the id.
    const iso = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`;
    const r = await backupmate(work, ['restore', iso, '--target-dir', target]);
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('{'))).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(await fs.readFile(path.join(target, 'xtrabackup_checkpoints'), 'utf8')).toContain('backup_type = log-applied');
    // No staging leftovers next to the target.
    expect(await fs.readdir(base)).toEqual(['data']);
    const server = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
    expect(await server.checksums()).toEqual(before);
    await server.destroy();
  });
});

describe('full backup round trip under load', () => {
  test('a writer keeps transferring during the backup; the restored server passes CHECK TABLE and keeps the invariants', async () => {
    await setupBank(source, { accounts: 1000, total: 1_000_000 });
    const store: Store = { kind: 's3', server: s3 };
    const work = await makeWorkdir(source, store, { FULL_BACKUP_PREFIX: 'load/full/', INCREMENTAL_BACKUP_PREFIX: 'load/inc/' });
    const writer = startBankWriter(source);
    await new Promise((r) => setTimeout(r, 500));
    const b = await backupmate(work, ['backup', '--full']);
    const transfers = await writer.stop();
    expect(b.exitCode).toBe(0);
    expect(transfers).toBeGreaterThan(10);
    // The writer really ran during the backup: the source moved on past the backup's point.
    const srcCheck = await checkBankInvariants(source, 1_000_000);
    expect(srcCheck.problems).toEqual([]);

    const { server } = await restoreIntoNewServer(work, 'latest');
    expect(await checkAllTables(server)).toEqual([]);
    const check = await checkBankInvariants(server, 1_000_000);
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    expect(check.ledgerCount).toBeGreaterThan(0);
    expect(check.ledgerCount).toBeLessThanOrEqual(srcCheck.ledgerCount);
    await server.destroy();
  });
});

describe.each<['gzip' | 'none']>([['gzip'], ['none']])('COMPRESSION=%s', (algorithm) => {
  test('is recorded in the manifest and restore follows it, not the current configuration', async () => {
    const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-'));
    const work = await makeWorkdir(source, { kind: 'file', path: storeDir }, { COMPRESSION: algorithm, COMPRESSION_LEVEL: algorithm === 'gzip' ? '1' : '3' });
    const before = await source.checksums();
    const b = await backupmate(work, ['backup', '--full']);
    expect(b.exitCode).toBe(0);
    const listed = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: { compression: { algorithm: string } }[] };
    expect(listed.backups[0].compression.algorithm).toBe(algorithm);
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-target-'));
    const target = path.join(base, 'data');
    // The configuration now says zstd: the manifest decides how to read the backup.
    const r = await backupmate(work, ['restore', 'latest', '--target-dir', target], { COMPRESSION: 'zstd', COMPRESSION_LEVEL: '3' });
    expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
    const server = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
    expect(await server.checksums()).toEqual(before);
    await server.destroy();
  });
});
