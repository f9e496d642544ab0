/**
 * The store goes away in the middle of a backup, with real parts: a private mariadbd, real
 * mariabackup, s3rver behind a TCP proxy that stops listening (new connections are refused by
 * the kernel, open ones are reset: what a dead or restarting store looks like), and the built CLI.
 *
 * - A store that stays away: the backup fails as a STORAGE problem (exit 76) whose one line names
 *   the real cause (ECONNREFUSED), the endpoint and how many attempts were made, and no manifest
 *   is written.
 * - A store that blinks for a few seconds: the default retry settings ride it out, the backup
 *   succeeds and restores to the same CHECKSUM TABLE as the source.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { S3Storage } from '../../src/storage/drivers/s3.js';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startOutageProxy, type OutageProxy } from '../helpers/faulty-proxy.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'Out4ge-pw';
const MiB = 1024 * 1024;

let source: PrivateServer;
let s3: S3Server;
let proxy: OutageProxy;
const dirs: string[] = [];

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  proxy = await startOutageProxy(s3.endpoint);
  await loadSampleData(source, { rows: 20_000 });
  // ~32 MiB that zstd cannot shrink, so the upload is long enough to interrupt.
  await source.sql('CREATE DATABASE noise; CREATE TABLE noise.r (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB; INSERT INTO noise.r SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_32000;', 'mysql');
});

afterAll(async () => {
  await proxy?.close();
  await stopAllServers();
  await stopAllS3rvers();
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** The store seen through the proxy, as the CLI sees it; one volume of several 5 MiB parts (a multipart upload). */
async function workdir(prefix: string, extra: Record<string, string> = {}): Promise<string> {
  const work = await makeWorkdir(
    source,
    { kind: 's3', server: { ...s3, endpoint: proxy.endpoint } },
    { FULL_BACKUP_PREFIX: `${prefix}/full/`, INCREMENTAL_BACKUP_PREFIX: `${prefix}/inc/`, VOLUME_SIZE: '256MiB', COMPRESSION: 'zstd', ...extra },
  );
  dirs.push(work);
  return work;
}

/** The bucket read directly (not through the proxy). */
const direct = () =>
  new S3Storage({
    bucket: s3.bucket,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    partSize: 5 * MiB,
    queueSize: 1,
  });

describe('the store goes away mid-upload', () => {
  test('and stays away: exit 76 naming ECONNREFUSED, the endpoint and the attempts; no manifest; backup.end code STORAGE', async () => {
    const work = await workdir('dead', { RETRY_ATTEMPTS: '3', RETRY_BASE_DELAY_MS: '50', RETRY_MAX_DELAY_MS: '100' });
    const start = proxy.bytesIn();
    const running = backupmate(work, ['backup', '--full']);
    // Mid-upload: more than two 5 MiB parts have been sent.
    await proxy.whenBytesIn(start + 12 * MiB);
    await proxy.down();
    const r = await running.finally(() => proxy.up());

    expect(r.exitCode).toBe(76);
    const line = r.stderr.split('\n').find((l) => l.startsWith('backupmate: '));
    expect(line).toBeDefined();
    expect(line).toMatch(/ECONNREFUSED/);
    expect(line).toContain(proxy.endpoint);
    expect(line).toMatch(/gave up after 3 attempts/);
    expect(line).toMatch(/check S3_ENDPOINT/);
    expect(line).not.toMatch(/Upload aborted/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const end = logLines(r.stdout).find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'failed', code: 'STORAGE', stage: 'upload' });
    const keys = (await direct().list('dead/')).map((o) => o.key);
    expect(keys.filter((k) => k.endsWith('manifest.json'))).toEqual([]);
    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: unknown[] };
    expect(list.backups).toEqual([]);
  });

  test('for a few seconds: the default retries ride it out; the backup restores to equal CHECKSUM TABLE', async () => {
    const before = await source.checksums();
    const work = await workdir('blink');
    const start = proxy.bytesIn();
    const running = backupmate(work, ['backup', '--full']);
    await proxy.whenBytesIn(start + 12 * MiB);
    await proxy.down();
    // The length of the outage, not a timing assertion.
    await new Promise((res) => setTimeout(res, 2500));
    await proxy.up();
    const b = await running;
    expect({ exit: b.exitCode, stderr: b.stderr }).toEqual({ exit: 0, stderr: '' });
    const lines = logLines(b.stdout);
    // The outage was seen, and retried.
    expect(lines.some((l) => l.event === 'storage.retry')).toBe(true);
    const end = lines.find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'succeeded', kind: 'full' });

    const base = await tempDir('bm-outage-target-');
    const target = path.join(base, 'data');
    const r = await backupmate(work, ['restore', end.backupId as string, '--target-dir', target]);
    expect({ exit: r.exitCode, stderr: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, stderr: '' });
    const restored = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
    try {
      expect(await restored.checksums()).toEqual(before);
    } finally {
      await restored.destroy();
    }
  });
});
