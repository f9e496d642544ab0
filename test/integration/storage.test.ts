/**
 * One suite, every storage driver (restic's backend test pattern): the shared contract
 * (test/helpers/storage-contract.ts) runs against the local filesystem store and against a real
 * S3 server (s3rver on loopback, behind a recording proxy). A new driver adds one line here.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStorage } from '../../src/storage/drivers/file.js';
import { S3Storage, type S3StorageOptions } from '../../src/storage/drivers/s3.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/proxy.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';
import { randomStream, storageContract } from '../helpers/storage-contract.js';

const MiB = 1024 * 1024;
let s3: S3Server;
let proxy: RecordingProxy;
let fileRoot: string;

beforeAll(async () => {
  s3 = await startS3rver();
  proxy = await startRecordingProxy(s3.endpoint);
  fileRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-filestore-'));
});

afterAll(async () => {
  await proxy?.close();
  await stopAllS3rvers();
  await fs.rm(fileRoot, { recursive: true, force: true });
});

function s3Store(extra: Partial<S3StorageOptions> = {}): S3Storage {
  return new S3Storage({
    bucket: s3.bucket,
    region: s3.region,
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    partSize: 5 * MiB,
    queueSize: 2,
    ...extra,
  });
}

/** The storage class the S3 driver sent with the request that created `key` (PutObject or CreateMultipartUpload). */
async function sentStorageClass(key: string): Promise<'data' | 'metadata'> {
  const created = proxy.requests.filter((r) => {
    const [pathname, query = ''] = r.url.split('?');
    if (decodeURIComponent(pathname) !== `/${s3.bucket}/${key}`) return false;
    return (r.method === 'PUT' && !/partNumber=/.test(query)) || (r.method === 'POST' && /(^|&)uploads/.test(query));
  });
  expect(created.length).toBeGreaterThan(0);
  return created[created.length - 1].headers['x-amz-storage-class'] === 'STANDARD_IA' ? 'data' : 'metadata';
}

storageContract('file', () => new FileStorage(fileRoot), { unfinished: 'listed' });
// s3rver has no ListMultipartUploads (it answers 501): the suite checks the clear, permanent
// refusal prune relies on. The storage class (STANDARD_IA) goes on data objects only.
storageContract('s3', () => s3Store({ storageClass: 'STANDARD_IA' }), { unfinished: 'unsupported', partSize: 5 * MiB, storedRole: sentStorageClass });

describe('s3 specifics', () => {
  test('a streamed put of several parts is a multipart upload, each part sent once, completed once', async () => {
    const st = s3Store();
    const seen = proxy.requests.length;
    const { stream } = randomStream(12 * MiB + 1);
    await st.put('s3-specific/parted', stream);
    const sent = proxy.requests.slice(seen);
    const parts = sent.filter((r) => r.method === 'PUT' && /partNumber=/.test(r.url)).map((r) => /partNumber=(\d+)/.exec(r.url)![1]);
    expect(parts.sort()).toEqual(['1', '2', '3']);
    expect(sent.filter((r) => r.method === 'POST' && /uploadId=/.test(r.url))).toHaveLength(1);
    await st.delete(['s3-specific/parted']);
  });

  test('a failed multipart upload is aborted on the server (AbortMultipartUpload sent)', async () => {
    const st = s3Store();
    const seen = proxy.requests.length;
    const { stream } = randomStream(12 * MiB, new Error('producer died'));
    await expect(st.put('s3-specific/aborted', stream)).rejects.toThrow();
    const sent = proxy.requests.slice(seen);
    expect(sent.some((r) => r.method === 'POST' && /[?&]uploads/.test(r.url))).toBe(true);
    expect(sent.some((r) => r.method === 'DELETE' && /uploadId=/.test(r.url))).toBe(true);
    expect(sent.some((r) => r.method === 'POST' && /uploadId=/.test(r.url))).toBe(false); // never completed
  });

  test('errors say what to check: a wrong bucket names S3_BUCKET_NAME', async () => {
    const st = new S3Storage({
      bucket: 'no-such-bucket',
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      partSize: 5 * MiB,
      queueSize: 1,
    });
    const err = await st.list('x/').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/S3_BUCKET_NAME/);
    expect(st.classify(err)).toBe('permanent'); // a missing bucket is not a missing object
  });
});
