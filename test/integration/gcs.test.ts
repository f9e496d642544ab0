/**
 * STORAGE=gcs: the S3 driver speaking to GCS's XML API, tested against s3rver behind a proxy that
 * refuses what GCS refuses (test/helpers/gcs-proxy.ts: multi-object delete, SSE headers, S3
 * storage classes, aws-chunked bodies and flexible checksums). The shared storage contract, the
 * GCS names in messages, and an age-encrypted full + incremental restored equal by CHECKSUM TABLE
 * through the real CLI, with not one request refused.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { GcsStorage, type GcsStorageOptions } from '../../src/storage/drivers/gcs.js';
import { S3Storage } from '../../src/storage/drivers/s3.js';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { startGcsProxy, type GcsProxy } from '../helpers/gcs-proxy.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';
import { randomStream, storageContract } from '../helpers/storage-contract.js';

const MiB = 1024 * 1024;
const PASSWORD = 'gcs-pw';
let s3: S3Server;
let proxy: GcsProxy;

beforeAll(async () => {
  s3 = await startS3rver();
  proxy = await startGcsProxy(s3.endpoint);
});

afterAll(async () => {
  await proxy?.close();
  await stopAllServers();
  await stopAllS3rvers();
});

function gcsStore(extra: Partial<GcsStorageOptions> = {}): GcsStorage {
  return new GcsStorage({ bucket: s3.bucket, accessId: s3.accessKeyId, secret: s3.secretAccessKey, endpoint: proxy.endpoint, partSize: 5 * MiB, queueSize: 2, ...extra });
}

// s3rver has no ListMultipartUploads (GCS has): the suite checks the clear refusal there.
storageContract('gcs', () => gcsStore({ listPageSize: 100 }), { unfinished: 'unsupported', partSize: 5 * MiB, listObjects: 250 });

describe('gcs specifics', () => {
  test('the proxy refuses what GCS refuses: an S3 client with SSE and a multi-object delete is turned away', async () => {
    const plain = new S3Storage({ bucket: s3.bucket, region: 'us-east-1', endpoint: proxy.endpoint, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, partSize: 5 * MiB, queueSize: 1, sse: 'AES256' });
    await expect(plain.put('gcs-specific/sse', Buffer.from('x'))).rejects.toThrow(/InvalidArgument/);
    const r = await fetch(`${proxy.endpoint}/${s3.bucket}?delete`, { method: 'POST', body: '<Delete/>' });
    expect(r.status).toBe(501);
  });

  test('the gcs driver signs for region auto, never sends SSE, a storage class or checksums, and deletes key by key', async () => {
    const st = gcsStore();
    const seen = proxy.requests.length;
    const { stream } = randomStream(11 * MiB);
    await st.put('gcs-specific/parted', stream);
    await st.put('gcs-specific/small', Buffer.from('x'), { role: 'metadata' });
    await st.delete(['gcs-specific/parted', 'gcs-specific/small']);
    const sent = proxy.requests.slice(seen);
    expect(sent.filter((r) => r.method === 'PUT' && /partNumber=/.test(r.url))).toHaveLength(3);
    expect(sent.filter((r) => r.method === 'DELETE')).toHaveLength(2);
    for (const r of sent) {
      expect(String(r.headers.authorization)).toMatch(/Credential=S3RVER\/\d{8}\/auto\/s3\/aws4_request/);
      expect(r.status).toBeLessThan(300);
    }
    expect(await st.list('gcs-specific/')).toEqual([]);
  });

  test('errors name the GCS keys: a wrong secret names GCS_HMAC_*, a missing bucket GCS_BUCKET_NAME', async () => {
    // s3rver checks the access id (not the secret): an unknown id is its 403.
    const wrong = gcsStore({ accessId: 'GOOG1WRONG' });
    expect(wrong.name).toBe('gcs');
    expect(wrong.description).toBe(`gs://${s3.bucket} (${proxy.endpoint})`);
    const e1 = await wrong.put('gcs-specific/x', Buffer.from('x')).catch((e: unknown) => e);
    expect((e1 as Error).message).toContain('check GCS_HMAC_ACCESS_ID / GCS_HMAC_SECRET');
    const e2 = await gcsStore({ bucket: 'no-such-bucket' }).list('x/').catch((e: unknown) => e);
    expect((e2 as Error).message).toContain('check GCS_BUCKET_NAME (bucket "no-such-bucket" does not exist)');
  });
});

describe('round trip through the CLI and the GCS proxy: ENCRYPTION=age, full + incremental', () => {
  let source: PrivateServer;
  let work: string;
  let keys: string;
  let identity: string;
  const points: { id: string; sums: Record<string, string> }[] = [];

  beforeAll(async () => {
    source = await startPrivateServer({ rootPassword: PASSWORD });
    await source.sql('CREATE DATABASE g; CREATE TABLE g.t (id INT PRIMARY KEY, s VARCHAR(64)) ENGINE=InnoDB;');
    await source.sql('INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_30000;', 'g');
    keys = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-gcs-keys-'));
    identity = path.join(keys, 'id.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    work = await makeWorkdir(source, { kind: 'gcs', server: s3, endpoint: proxy.endpoint }, {
      FULL_BACKUP_PREFIX: 'g/full/',
      INCREMENTAL_BACKUP_PREFIX: 'g/inc/',
      FULL_BACKUP_SCHEDULE: 'off',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: recipient,
    });
    for (const kind of ['--full', '--incremental']) {
      if (kind === '--incremental') await source.sql("INSERT INTO t SELECT seq + 100000, MD5(seq) FROM seq_1_to_20000; UPDATE t SET s = 'changed' WHERE id % 3 = 0;", 'g');
      const r = await backupmate(work, ['backup', kind]);
      expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
      points.push({ id: logLines(r.stdout).find((l) => l.event === 'backup.end')!.backupId as string, sums: await source.checksums() });
    }
  }, 240_000);

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
    if (keys) await fs.rm(keys, { recursive: true, force: true });
  });

  test('the incremental restores with CHECKSUM TABLE equal to the source, and GCS refused nothing', async () => {
    const p = points[1]!;
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-gcs-restore-'));
    const target = path.join(base, 'data');
    const r = await backupmate(work, ['restore', p.id, '--target-dir', target], { AGE_IDENTITY_FILE: identity });
    expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
    const server = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
    expect(await server.checksums()).toEqual(p.sums);
    await server.destroy();
    // Only the deliberate refusals of the specifics above.
    expect(proxy.refused.filter((x) => !x.url.includes('gcs-specific/sse') && !/\?delete/.test(x.url))).toEqual([]);
  }, 180_000);
});
