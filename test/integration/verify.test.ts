/**
 * `backupmate verify` and the manifest MAC, through the real CLI (and backupmatectl against the
 * real daemon) with a real mariadbd, a file store and s3rver:
 * - verify passes a good chain, and catches a flipped byte in the middle of a volume, a truncated
 *   last volume and a missing incremental (the dependent reported as a broken chain), naming the
 *   object; exit 65 for corrupt;
 * - with MANIFEST_HMAC_KEY, a manifest with one field changed is refused by restore and verify,
 *   naming the backup, before the datadir is touched; a volume swapped in from another backup is
 *   refused by restore naming the object;
 * - an encrypted backup without AGE_IDENTITY_FILE: "could not check", exit 78 (its volumes' sums
 *   are still checked); with the identity: ok;
 * - S3_SSE / S3_STORAGE_CLASS reach S3 as headers (recorded by a proxy in front of s3rver).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir, type Store } from '../helpers/backupmate.js';
import { ctl, jsonResult, startDaemon } from '../helpers/daemon.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/proxy.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'v3rify-pw';
const KEY = randomBytes(32).toString('hex');
let source: PrivateServer;
let s3: S3Server;
let proxy: RecordingProxy;
let storeDir: string;
let work: string;
/** Backups in the file store, in the order taken: f2 (a full to swap volumes from), then the chain f1 ← i1 ← i2. */
const id = { f2: '', f1: '', i1: '', i2: '' };

const FULL = 'backupmate/full/';
const INC = 'backupmate/incremental/';
const dirOf = (backupId: string) => (backupId === id.i1 || backupId === id.i2 ? INC : FULL) + backupId + '/';
const fileOf = (backupId: string, name: string) => path.join(storeDir, dirOf(backupId), name);

interface Report {
  request: string;
  code: string | null;
  summary: string;
  backups: { id: string; kind: string; status: string; problems: string[]; warnings: string[]; checkedBytes: number }[];
}

async function backup(args: string[], env: Record<string, string> = {}, cwd = work): Promise<string> {
  const r = await backupmate(cwd, ['backup', ...args], env);
  expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  return logLines(r.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
}

async function verify(args: string[], env: Record<string, string> = {}, cwd = work) {
  const r = await backupmate(cwd, ['verify', ...args], env);
  return { ...r, errorLines: r.stderr.split('\n').filter((l) => l.startsWith('backupmate: ')) };
}

async function verifyJson(args: string[], env: Record<string, string> = {}, cwd = work): Promise<{ exitCode: number; report: Report; errorLines: string[] }> {
  const r = await verify([...args, '--json'], env, cwd);
  return { exitCode: r.exitCode, report: JSON.parse(r.stdout) as Report, errorLines: r.errorLines };
}

const statuses = (r: Report) => Object.fromEntries(r.backups.map((b) => [b.id, b.status]));

/** Replaces a store file for the duration of `during`, then puts the original back. */
async function withFile(file: string, change: (original: Buffer) => Buffer | null, during: () => Promise<void>): Promise<void> {
  const original = await fs.readFile(file);
  const changed = change(original);
  if (changed === null) await fs.rm(file);
  else await fs.writeFile(file, changed);
  try {
    await during();
  } finally {
    await fs.writeFile(file, original);
  }
}

/**
 * A datadir with a marker file, and the environment of a --copy-back restore into it (DB_SOCKET
 * where no server answers: the source server must not count as running on it). `untouched` checks
 * that nothing in or next to it changed.
 */
async function markedDatadir(): Promise<{ datadir: string; env: Record<string, string>; untouched: () => Promise<void> }> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-verify-datadir-'));
  const datadir = path.join(base, 'mysql');
  await fs.mkdir(datadir);
  await fs.writeFile(path.join(datadir, 'marker'), 'untouched');
  return {
    datadir,
    env: { MARIADB_DATADIR: datadir, DB_SOCKET: path.join(base, 'no-server.sock') },
    untouched: async () => {
      expect(await fs.readdir(base)).toEqual(['mysql']);
      expect(await fs.readdir(datadir)).toEqual(['marker']);
      expect(await fs.readFile(path.join(datadir, 'marker'), 'utf8')).toBe('untouched');
    },
  };
}

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  proxy = await startRecordingProxy(s3.endpoint);
  // ~3 MiB zstd cannot shrink: with 1 MiB volumes every full has several volumes of exactly 1 MiB.
  await source.sql(
    'CREATE DATABASE v; CREATE TABLE v.r (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB; INSERT INTO v.r SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_3000;',
    'mysql',
  );
  storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-verify-store-'));
  const store: Store = { kind: 'file', path: storeDir };
  work = await makeWorkdir(source, store, { VOLUME_SIZE: '1MiB', MANIFEST_HMAC_KEY: KEY, LOG_LEVEL: 'info' });
  id.f2 = await backup(['--full']);
  id.f1 = await backup(['--full']);
  await source.sql('INSERT INTO r SELECT seq + 10000, RANDOM_BYTES(512) FROM seq_1_to_500;', 'v');
  id.i1 = await backup(['--incremental']);
  await source.sql('UPDATE r SET b = RANDOM_BYTES(700) WHERE id % 7 = 0;', 'v');
  id.i2 = await backup(['--incremental']);
});

afterAll(async () => {
  await proxy?.close();
  await stopAllServers();
  await stopAllS3rvers();
});

describe('verify a good store', () => {
  test('the manifests carry a MAC; verify latest checks the whole chain end to end: ok, exit 0, a table', async () => {
    const m = JSON.parse(await fs.readFile(fileOf(id.i2, 'manifest.json'), 'utf8')) as { mac: { alg: string; value: string }; volumes: unknown[] };
    expect(m.mac).toEqual({ alg: 'hmac-sha256', value: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((JSON.parse(await fs.readFile(fileOf(id.f1, 'manifest.json'), 'utf8')) as { volumes: unknown[] }).volumes.length).toBeGreaterThan(2);

    const r = await verify(['latest']);
    expect({ exit: r.exitCode, errors: r.errorLines }).toEqual({ exit: 0, errors: [] });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+STATUS\s+DETAIL$/);
    expect(lines.slice(1, 4).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [id.f1, 'full', 'ok'],
      [id.i1, 'incremental', 'ok'],
      [id.i2, 'incremental', 'ok'],
    ]);
    expect(lines[1]).toMatch(/\d+ volumes, .* stored, .* unpacked: checked end to end/);
    expect(lines.at(-1)).toBe('verify latest: 3 backups: 3 ok');
    // Scratch directories are removed.
    expect((await fs.readdir(path.join(work, 'tmp'))).filter((n) => n.startsWith('verify-'))).toEqual([]);
  });
});

describe('verify finds damage, naming the object', () => {
  test('a flipped byte in the middle of a volume: corrupt, exit 65', async () => {
    const key = `${dirOf(id.f1)}data.00001`;
    await withFile(
      fileOf(id.f1, 'data.00001'),
      (b) => {
        const d = Buffer.from(b);
        d[Math.floor(d.length / 2)] ^= 0x01;
        return d;
      },
      async () => {
        const { exitCode, report, errorLines } = await verifyJson([id.f1]);
        expect(exitCode).toBe(65);
        expect(report.code).toBe('INTEGRITY');
        expect(report.backups).toHaveLength(1);
        expect(report.backups[0]).toMatchObject({ id: id.f1, status: 'corrupt' });
        expect(report.backups[0]!.problems.join('\n')).toContain(`backup ${id.f1}: volume ${key} is corrupt`);
        expect(errorLines).toEqual([`backupmate: verify ${id.f1}: 1 backup: 0 ok, 1 corrupt; corrupt: ${id.f1}`]);
      },
    );
  });

  test('a truncated last volume: corrupt, naming the object and both sizes, exit 65', async () => {
    const m = JSON.parse(await fs.readFile(fileOf(id.f2, 'manifest.json'), 'utf8')) as { volumes: { name: string; size: number }[] };
    const last = m.volumes.at(-1)!;
    await withFile(fileOf(id.f2, last.name), (b) => b.subarray(0, b.length - 100), async () => {
      const r = await verify([id.f2]);
      expect(r.exitCode).toBe(65);
      expect(r.stdout).toMatch(new RegExp(`${id.f2}\\s+full\\s+corrupt\\s+volume ${dirOf(id.f2)}${last.name} has ${last.size - 100} bytes, the manifest says ${last.size}`));
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`verify ${id.f2}: 1 backup: 0 ok, 1 corrupt`);
    });
  });

  test('a missing incremental: the dependent one is a broken chain; incomplete is not corrupt; exit 65', async () => {
    // Without its manifest i1 is incomplete (a job that did not finish); i2 cannot be restored.
    // Run without the key: a MAC that cannot be checked is a warning, not a failure.
    await withFile(fileOf(id.i1, 'manifest.json'), () => null, async () => {
      const { exitCode, report } = await verifyJson(['all'], { MANIFEST_HMAC_KEY: '' });
      expect(exitCode).toBe(65);
      expect(statuses(report)).toEqual({ [id.f2]: 'ok', [id.f1]: 'ok', [id.i1]: 'incomplete', [id.i2]: 'corrupt' });
      const i2 = report.backups.find((b) => b.id === id.i2)!;
      expect(i2.problems).toEqual([
        `broken chain: cannot restore ${id.i2}: backup ${id.i2} needs its parent ${id.i1}, which is incomplete (it has no manifest: the job that wrote it did not finish)`,
      ]);
      // Its own data was still checked end to end.
      expect(i2.checkedBytes).toBeGreaterThan(0);
      expect(report.backups.find((b) => b.id === id.f1)!.warnings).toEqual([
        `manifest of backup ${id.f1} carries a MAC but MANIFEST_HMAC_KEY is not set: cannot authenticate it`,
      ]);
      expect(report.summary).toBe('4 backups: 2 ok, 1 corrupt, 1 incomplete');
    });
    // Its whole directory gone: the parent is missing from the store.
    const away = path.join(storeDir, 'i1-away');
    await fs.rename(path.join(storeDir, dirOf(id.i1)), away);
    try {
      const r = await verify([id.i2]);
      expect(r.exitCode).toBe(65);
      expect(r.stdout).toContain(`broken chain: cannot restore ${id.i2}: backup ${id.i2} needs its parent ${id.i1}, which is missing from the store`);
    } finally {
      await fs.rename(away, path.join(storeDir, dirOf(id.i1)));
    }
  });
});

describe('the manifest is authenticated (MANIFEST_HMAC_KEY)', () => {
  const notAuthentic = (backupId: string) =>
    `manifest of backup ${backupId} is not authentic (MAC mismatch): it was changed after it was written, or MANIFEST_HMAC_KEY differs`;

  test('one field changed (rawBytes): restore refuses naming the backup before touching the datadir; verify says corrupt', async () => {
    const file = fileOf(id.f2, 'manifest.json');
    await withFile(
      file,
      (b) => {
        const m = JSON.parse(b.toString('utf8')) as { rawBytes: number };
        m.rawBytes += 4096;
        return Buffer.from(JSON.stringify(m, null, 2) + '\n');
      },
      async () => {
        const { env, untouched } = await markedDatadir();
        const r = await backupmate(work, ['restore', id.f2, '--copy-back'], env);
        expect(r.exitCode).toBe(65);
        expect(r.stderr.split('\n').filter((l) => l.startsWith('backupmate: '))).toEqual([`backupmate: ${notAuthentic(id.f2)}`]);
        expect(logLines(r.stderr).some((l) => l.event === 'restore.start')).toBe(false);
        await untouched();

        const v = await verifyJson([id.f2]);
        expect(v.exitCode).toBe(65);
        expect(v.report.backups).toEqual([expect.objectContaining({ id: id.f2, status: 'corrupt', problems: [notAuthentic(id.f2)], checkedBytes: 0 })]);
      },
    );
  });

  test('one LSN changed in an incremental restores nothing: the chain is refused naming it', async () => {
    await withFile(
      fileOf(id.i1, 'manifest.json'),
      (b) => Buffer.from(b.toString('utf8').replace(/"to": "(\d+)"/, (_m, lsn: string) => `"to": "${BigInt(lsn) + 1n}"`)),
      async () => {
        const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-verify-target-'));
        const r = await backupmate(work, ['restore', id.i2, '--target-dir', path.join(base, 'data')]);
        expect(r.exitCode).toBe(65);
        expect(r.stderr).toContain(`backupmate: ${notAuthentic(id.i1)}`);
        expect(await fs.readdir(base)).toEqual([]);
      },
    );
  });

  test('a volume swapped in from another backup (same name, same size): restore refuses naming the object, datadir untouched', async () => {
    const victim = fileOf(id.f2, 'data.00000');
    const donor = await fs.readFile(fileOf(id.f1, 'data.00000'));
    expect(donor.length).toBe((await fs.stat(victim)).size);
    await withFile(victim, () => donor, async () => {
      const { env, untouched } = await markedDatadir();
      const r = await backupmate(work, ['restore', id.f2, '--copy-back'], env);
      expect(r.exitCode).toBe(65);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('backupmate: '));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(`backup ${id.f2}: volume ${dirOf(id.f2)}data.00000 is corrupt`);
      expect(errors[0]).toContain('(changed, truncated or replaced since the backup was written)');
      await untouched();
      expect((await fs.readdir(path.join(work, 'tmp'))).filter((n) => n.startsWith('restore-'))).toEqual([]);
    });
  });
});

describe('encrypted backups', () => {
  test('without AGE_IDENTITY_FILE: "could not check", exit 78, the volumes\' sums still checked; with it: ok', async () => {
    const keys = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-verify-age-'));
    const identity = path.join(keys, 'key.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    const encWork = await makeWorkdir(source, { kind: 'file', path: storeDir }, {
      FULL_BACKUP_PREFIX: 'enc/full/',
      INCREMENTAL_BACKUP_PREFIX: 'enc/inc/',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: recipient,
      MANIFEST_HMAC_KEY: KEY,
      LOG_LEVEL: 'info',
    });
    const encId = await backup(['--full'], {}, encWork);

    const r = await verify(['latest'], {}, encWork);
    expect(r.exitCode).toBe(78);
    expect(r.stdout).toMatch(new RegExp(`^${encId}\\s+full\\s+could not check\\s+could not check the stream \\(every volume's sha256 is ok\\): backup ${encId} is encrypted \\(age\\); set AGE_IDENTITY_FILE`, 'm'));
    expect(r.errorLines).toEqual([
      `backupmate: verify latest: 1 backup: 0 ok, 1 could not be checked; ${encId}: could not check the stream (every volume's sha256 is ok): backup ${encId} is encrypted (age); set AGE_IDENTITY_FILE to the identity of one of its recipients: ${recipient}`,
    ]);

    const ok = await verifyJson(['latest'], { AGE_IDENTITY_FILE: identity }, encWork);
    expect({ exit: ok.exitCode, statuses: statuses(ok.report), code: ok.report.code }).toEqual({ exit: 0, statuses: { [encId]: 'ok' }, code: null });
    await fs.rm(keys, { recursive: true, force: true });
  });
});

describe('S3 server-side encryption and storage class', () => {
  test('S3_SSE=AES256 on every object, S3_STORAGE_CLASS on volumes only; the backup verifies through S3', async () => {
    const s3Work = await makeWorkdir(source, { kind: 's3', server: s3 }, {
      S3_ENDPOINT: proxy.endpoint,
      S3_SSE: 'AES256',
      S3_STORAGE_CLASS: 'STANDARD_IA',
      FULL_BACKUP_PREFIX: 'sse/full/',
      INCREMENTAL_BACKUP_PREFIX: 'sse/inc/',
      LOG_LEVEL: 'info',
    });
    proxy.requests.length = 0;
    const sseId = await backup(['--full'], {}, s3Work);
    // Objects are created by PutObject (PUT without uploadId) or CreateMultipartUpload (POST ?uploads).
    const creates = proxy.requests.filter((r) => (r.method === 'PUT' && !r.url.includes('uploadId=')) || (r.method === 'POST' && r.url.includes('?uploads')));
    const objectOf = (url: string) => decodeURIComponent(url.split('?')[0]!).replace(`/${s3.bucket}/`, '');
    const sent = creates.map((r) => [objectOf(r.url), r.headers['x-amz-server-side-encryption'], r.headers['x-amz-storage-class'] ?? null]);
    const dir = `sse/full/${sseId}/`;
    expect(sent.filter(([k]) => String(k).includes('/data.')).length).toBeGreaterThan(0);
    for (const [key, sse, cls] of sent) {
      const volume = /\/data\.\d{5}$/.test(String(key));
      expect([key, sse, cls]).toEqual([key, 'AES256', volume ? 'STANDARD_IA' : null]);
    }
    expect(sent.map(([k]) => k)).toEqual(expect.arrayContaining([`${dir}manifest.json`, `${dir}SHA256SUMS`, `${dir}data.00000`]));

    const v = await verifyJson(['latest'], {}, s3Work);
    expect({ exit: v.exitCode, statuses: statuses(v.report) }).toEqual({ exit: 0, statuses: { [sseId]: 'ok' } });
  });
});

describe('backupmatectl verify', () => {
  test('runs as a daemon job and prints the same table; a corrupt backup exits 65', async () => {
    const d = await startDaemon(source, { kind: 'file', path: storeDir }, {
      VOLUME_SIZE: '1MiB',
      MANIFEST_HMAC_KEY: KEY,
      FULL_BACKUP_SCHEDULE: 'off',
      INCREMENTAL_BACKUP_SCHEDULE: 'off',
    });
    try {
      const ok = await ctl(d.socket, ['verify', id.f2]);
      // stderr: progress lines only (no terminal: no bar).
      expect({ exit: ok.exitCode, errors: ok.stderr.split('\n').filter((l) => !/^verify: \d+% /.test(l) && l !== '') }).toEqual({ exit: 0, errors: [] });
      expect(ok.stdout).toMatch(new RegExp(`^${id.f2}\\s+full\\s+ok\\s+\\d+ volumes`, 'm'));
      expect(ok.stdout.trimEnd().split('\n').at(-1)).toBe(`verify ${id.f2}: 1 backup: 1 ok`);

      const m = JSON.parse(await fs.readFile(fileOf(id.f2, 'manifest.json'), 'utf8')) as { volumes: { name: string }[] };
      await withFile(fileOf(id.f2, m.volumes.at(-1)!.name), (b) => b.subarray(1), async () => {
        const bad = await ctl(d.socket, ['verify', id.f2]);
        expect(bad.exitCode).toBe(65);
        expect(bad.stdout).toMatch(new RegExp(`^${id.f2}\\s+full\\s+corrupt\\s+volume `, 'm'));
        expect(bad.stderr.trim()).toBe(`backupmatectl: verify ${id.f2}: 1 backup: 0 ok, 1 corrupt; corrupt: ${id.f2}`);
      });
      // Recorded as jobs: the corrupt result failed its job (status and notifications show it).
      const st = jsonResult((await ctl(d.socket, ['--json', 'status'])).stdout) as { recent: { kind: string; state: string; backupId?: string; error?: { code: string } }[] };
      expect(st.recent.filter((j) => j.kind === 'verify').map((j) => [j.backupId, j.state, j.error?.code])).toEqual([
        [id.f2, 'succeeded', undefined],
        [id.f2, 'failed', 'INTEGRITY'],
      ]);
    } finally {
      await d.stop();
    }
  });
});
