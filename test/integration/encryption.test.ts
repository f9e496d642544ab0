/**
 * Client-side encryption with age, through the real CLI against a real mariadbd and s3rver:
 * an encrypted full + incremental chain restores to equal CHECKSUM TABLE results; what lands in
 * the store is age ciphertext (no tar, xbstream or zstd to be seen) that the standard `age -d`
 * decrypts; a restore without an identity, or with the wrong one, refuses before anything is
 * downloaded or the target touched; a failing encryptor fails the backup like any other stage.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'age-pw';
const FULL = 'enc/full/';
const INC = 'enc/inc/';
let source: PrivateServer;
let s3: S3Server;
let client: S3Client;
let keys: string;
/** Identities: `ops` and `escrow` are the backups' recipients, `stranger` is not. */
const id = { ops: '', escrow: '', stranger: '' };
const pub = { ops: '', escrow: '', stranger: '' };

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  await loadSampleData(source, { rows: 100_000 });
  await source.sql('CREATE DATABASE enc; CREATE TABLE enc.t (id INT PRIMARY KEY, s VARCHAR(64)) ENGINE=InnoDB;');
  keys = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-age-keys-'));
  for (const who of ['ops', 'escrow', 'stranger'] as const) {
    id[who] = path.join(keys, `${who}.txt`);
    execFileSync('age-keygen', ['-o', id[who]], { stdio: 'ignore' });
    pub[who] = execFileSync('age-keygen', ['-y', id[who]], { encoding: 'utf8' }).trim();
  }
  client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});

afterAll(async () => {
  client?.destroy();
  await stopAllServers();
  await stopAllS3rvers();
  if (keys) await fs.rm(keys, { recursive: true, force: true });
});

async function getObject(key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function listKeys(prefix: string): Promise<string[]> {
  const r = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

async function backup(work: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await backupmate(work, ['backup', ...args], env);
  expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  return logLines(r.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
}

async function restoreAndChecksum(work: string, backupId: string, env: Record<string, string>): Promise<Record<string, string>> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-enc-restore-'));
  const target = path.join(base, 'data');
  const r = await backupmate(work, ['restore', backupId, '--target-dir', target], env);
  expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
  const server = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
  const sums = await server.checksums();
  await server.destroy();
  return sums;
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

describe('ENCRYPTION=age: full + incremental chain', () => {
  let work: string;
  const points: { id: string; dir: string; sums: Record<string, string> }[] = [];

  beforeAll(async () => {
    // The recipients as a file (one key per line, comments allowed), as age -R reads it.
    const recipients = path.join(keys, 'recipients.txt');
    await fs.writeFile(recipients, `# backupmate recipients\n${pub.ops}\n# offline escrow key\n${pub.escrow}\n`);
    // The backup side has only public keys: no AGE_IDENTITY_FILE anywhere in its configuration.
    work = await makeWorkdir(source, { kind: 's3', server: s3 }, {
      FULL_BACKUP_PREFIX: FULL,
      INCREMENTAL_BACKUP_PREFIX: INC,
      FULL_BACKUP_SCHEDULE: 'off',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: recipients,
    });
    await source.sql(`INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_20000;`, 'enc');
    const full = await backup(work, ['--full']);
    points.push({ id: full, dir: `${FULL}${full}/`, sums: await source.checksums() });
    await source.sql(`INSERT INTO t SELECT seq + 100000, MD5(seq) FROM seq_1_to_20000; UPDATE t SET s = 'changed' WHERE id % 3 = 0;`, 'enc');
    const inc = await backup(work, ['--incremental']);
    points.push({ id: inc, dir: `${INC}${inc}/`, sums: await source.checksums() });
    expect(points[1].sums).not.toEqual(points[0].sums);
  });

  test('the manifests record age and the public keys (and nothing secret)', async () => {
    for (const p of points) {
      const text = (await getObject(`${p.dir}manifest.json`)).toString();
      const m = JSON.parse(text) as { encryption: unknown; compression: { algorithm: string } };
      expect(m.encryption).toEqual({ type: 'age', recipients: [pub.ops, pub.escrow] });
      expect(m.compression.algorithm).toBe('zstd');
      expect(text).not.toContain('AGE-SECRET-KEY');
    }
  });

  test('the stored volumes are age ciphertext: no tar, xbstream or zstd, no container header', async () => {
    for (const p of points) {
      const volumes = (await listKeys(p.dir)).filter((k) => /\/data\.\d{5}$/.test(k));
      // The full spans several 5 MiB volumes: only the first starts with the age header.
      expect(volumes.length).toBeGreaterThan(p === points[0] ? 1 : 0);
      for (const [i, key] of volumes.entries()) {
        const bytes = await getObject(key);
        // One age stream over all volumes: its header opens the first one.
        if (i === 0) expect(bytes.subarray(0, 21).toString('latin1')).toBe('age-encryption.org/v1');
        expect(bytes.subarray(0, 4).equals(ZSTD_MAGIC)).toBe(false);
        for (const magic of ['ustar', 'XBSTCK01', 'backupmate-container', 'xtrabackup_checkpoints']) {
          expect([key, magic, bytes.includes(Buffer.from(magic, 'latin1'))]).toEqual([key, magic, false]);
        }
      }
    }
  });

  test('the standard age -d decrypts the volumes into the tar container of zstd chunks', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-enc-manual-'));
    const volumes = (await listKeys(points[0].dir)).filter((k) => /\/data\.\d{5}$/.test(k));
    for (const key of volumes) await fs.writeFile(path.join(dir, path.basename(key)), await getObject(key));
    const r = await execa('bash', ['-c', `set -o pipefail; cat data.* | age -d -i '${id.escrow}' | tar -t`], { cwd: dir, reject: false });
    expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
    const entries = r.stdout.split('\n');
    expect(entries.slice(0, 2)).toEqual(['backupmate.json', 'xbstream.zst/00000000']);
    expect(entries).toContain('meta/xtrabackup_checkpoints');
    const wrong = await execa('bash', ['-c', `cat data.* | age -d -i '${id.stranger}' >/dev/null`], { cwd: dir, reject: false });
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stderr).toContain('no identity matched any of the recipients');
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('each point restores with CHECKSUM TABLE equal to the source; either recipient can restore; the manifest, not ENCRYPTION, decides', async () => {
    // ENCRYPTION=none now: restores still decrypt, because the manifests say age.
    expect(await restoreAndChecksum(work, points[0].id, { ENCRYPTION: 'none', AGE_IDENTITY_FILE: id.ops })).toEqual(points[0].sums);
    expect(await restoreAndChecksum(work, points[1].id, { AGE_IDENTITY_FILE: id.escrow })).toEqual(points[1].sums);
  });

  test.each([
    ['no identity', () => ({}), () => `backup ${points[0].id} is encrypted (age); set AGE_IDENTITY_FILE to the identity of one of its recipients: ${pub.ops}, ${pub.escrow}`],
    [
      'the wrong identity',
      () => ({ AGE_IDENTITY_FILE: id.stranger }),
      () => `AGE_IDENTITY_FILE does not match any recipient of backup ${points[0].id}: it is encrypted to ${pub.ops}, ${pub.escrow}; ${id.stranger} is the identity of ${pub.stranger}`,
    ],
  ])('a restore with %s refuses (exit 78) before downloading; --target-dir never appears', async (_what, env, message) => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-enc-refuse-'));
    const r = await backupmate(work, ['restore', 'latest', '--target-dir', path.join(base, 'data')], env());
    expect(r.exitCode).toBe(78);
    const errorLine = r.stderr.split('\n').filter((l) => l.startsWith('backupmate: '));
    expect(errorLine).toEqual([`backupmate: ${message()}`]);
    expect(r.stderr).not.toContain('AGE-SECRET-KEY');
    const events = logLines(r.stderr).map((l) => l.event);
    expect(events).toContain('restore.start');
    expect(events).not.toContain('restore.downloaded');
    expect(await fs.readdir(base)).toEqual([]);
  });

  test('if age -d itself finds no matching identity while downloading, the error is as clear and the target never appears', async () => {
    // An age-keygen that vouches for the wrong identity gets past the up-front check; age -d then
    // refuses on the first volume, inside the staging directory.
    const bin = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-fake-keygen-'));
    await fs.writeFile(path.join(bin, 'age-keygen'), `#!/bin/sh\necho ${pub.ops}\n`, { mode: 0o755 });
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-enc-refuse-'));
    const r = await backupmate(work, ['restore', points[0].id, '--target-dir', path.join(base, 'data')], {
      AGE_IDENTITY_FILE: id.stranger,
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(r.exitCode).toBe(78);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('backupmate: '))).toEqual([
      `backupmate: AGE_IDENTITY_FILE does not match any recipient of backup ${points[0].id}: it is encrypted to ${pub.ops}, ${pub.escrow}`,
    ]);
    expect(logLines(r.stderr).find((l) => l.event === 'restore.end')).toMatchObject({ status: 'failed', code: 'CONFIG' });
    expect(await fs.readdir(base)).toEqual([]);
    await fs.rm(bin, { recursive: true, force: true });
  });

  test('--copy-back with no identity leaves the datadir as it was', async () => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-enc-datadir-'));
    const datadir = path.join(base, 'mysql');
    await fs.mkdir(datadir);
    await fs.writeFile(path.join(datadir, 'marker'), 'untouched');
    const r = await backupmate(work, ['restore', 'latest', '--copy-back'], { MARIADB_DATADIR: datadir });
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain('is encrypted (age); set AGE_IDENTITY_FILE');
    expect(await fs.readdir(base)).toEqual(['mysql']);
    expect(await fs.readdir(datadir)).toEqual(['marker']);
  });
});

describe('a failing encryptor', () => {
  test('fails the backup like any other stage: exit 71 naming it, no manifest, nothing left in the store', async () => {
    // An `age` that accepts --version, reads a little, then fails: first on PATH for this backup only.
    const bin = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-fake-age-'));
    await fs.writeFile(
      path.join(bin, 'age'),
      '#!/bin/sh\n[ "$1" = --version ] && { echo v1.1.1; exit 0; }\nhead -c 1000000 >/dev/null\necho "age: error: simulated failure" >&2\necho "age: report unexpected or unhelpful errors at https://filippo.io/age/report" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const work = await makeWorkdir(source, { kind: 's3', server: s3 }, {
      FULL_BACKUP_PREFIX: 'encfail/full/',
      INCREMENTAL_BACKUP_PREFIX: 'encfail/inc/',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: pub.ops,
    });
    const r = await backupmate(work, ['backup', '--full'], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.exitCode).toBe(71);
    expect(r.stderr).toContain('encryptor exited with code 1: age: error: simulated failure');
    const end = logLines(r.stdout).find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'failed', stage: 'encryptor', exitCode: 1 });
    expect(await listKeys('encfail/')).toEqual([]);
    await fs.rm(bin, { recursive: true, force: true });
  });

  test('a missing age fails before mariabackup starts (exit 69)', async () => {
    const work = await makeWorkdir(source, { kind: 's3', server: s3 }, {
      FULL_BACKUP_PREFIX: 'encmissing/full/',
      INCREMENTAL_BACKUP_PREFIX: 'encmissing/inc/',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: pub.ops,
    });
    // PATH without /usr/bin's age: a directory with links to everything else backupmate runs.
    const bin = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-no-age-'));
    for (const dir of (process.env.PATH ?? '').split(':')) {
      for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
        if (name === 'age') continue;
        await fs.symlink(path.join(dir, name), path.join(bin, name)).catch(() => {});
      }
    }
    const r = await backupmate(work, ['backup', '--full'], { PATH: bin });
    expect(r.exitCode).toBe(69);
    expect(r.stderr).toContain('ENCRYPTION=age needs the age program on PATH (Debian package age)');
    expect(logLines(r.stdout).some((l) => l.event === 'mariabackup.start')).toBe(false);
    expect(await listKeys('encmissing/')).toEqual([]);
    await fs.rm(bin, { recursive: true, force: true });
  });
});
