/**
 * One suite, every storage driver (restic's backend test pattern): the same contract is checked
 * against the local filesystem store and against a real S3 server (s3rver on loopback).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { FileStorage } from '../../src/storage/drivers/file.js';
import { S3Storage } from '../../src/storage/drivers/s3.js';
import { isNotFound, readAll, type Storage } from '../../src/storage/storage.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/proxy.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

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

const drivers: [string, () => Storage][] = [
  ['file', () => new FileStorage(fileRoot)],
  [
    's3',
    () =>
      new S3Storage({
        bucket: s3.bucket,
        region: s3.region,
        endpoint: proxy.endpoint,
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        partSize: 5 * MiB,
        queueSize: 2,
      }),
  ],
];

/** A stream of `n` bytes of random data in 64 KiB chunks, then optionally an error. */
function randomStream(n: number, failWith?: Error): { stream: Readable; sha: string } {
  const data = randomBytes(n);
  const sha = createHash('sha256').update(data).digest('hex');
  const stream = new PassThrough();
  (async () => {
    for (let off = 0; off < n; off += 64 * 1024) {
      if (!stream.write(data.subarray(off, off + 64 * 1024))) await new Promise((r) => stream.once('drain', r));
      await new Promise((r) => setImmediate(r));
    }
    if (failWith) stream.destroy(failWith);
    else stream.end();
  })();
  return { stream, sha };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(drivers)('storage contract: %s', (name, make) => {
  const p = `contract-${name}/`;

  test('put (buffer and stream), head, get, list, delete', async () => {
    const st = make();
    await st.put(`${p}a/small`, Buffer.from('hello'));
    const { stream, sha } = randomStream(12 * MiB + 123); // > 2 parts: a real multipart upload on S3
    await st.put(`${p}a/big`, stream);
    expect(await st.head(`${p}a/small`)).toEqual({ size: 5 });
    expect(await st.head(`${p}a/big`)).toEqual({ size: 12 * MiB + 123 });
    expect(await st.head(`${p}a/none`)).toBeNull();
    expect((await readAll(await st.get(`${p}a/small`))).toString()).toBe('hello');
    expect(sha256(await readAll(await st.get(`${p}a/big`)))).toBe(sha);
    expect((await st.list(`${p}a/`)).map((o) => [o.key, o.size])).toEqual([
      [`${p}a/big`, 12 * MiB + 123],
      [`${p}a/small`, 5],
    ]);
    expect(await st.list(`${p}nothing/`)).toEqual([]);
    await st.delete([`${p}a/small`, `${p}a/big`, `${p}a/never-existed`]);
    expect(await st.list(`${p}a/`)).toEqual([]);
  });

  test('get of a missing key rejects with a not-found error naming the key', async () => {
    const err = await make()
      .get(`${p}missing/key`)
      .then(() => null, (e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect((err as Error).message).toContain(`${p}missing/key`);
  });

  test('a body that errors mid-stream leaves no object', async () => {
    const st = make();
    const { stream } = randomStream(11 * MiB, new Error('producer died'));
    await expect(st.put(`${p}broken/obj`, stream)).rejects.toThrow();
    expect(await st.head(`${p}broken/obj`)).toBeNull();
    expect(await st.list(`${p}broken/`)).toEqual([]);
  });

  test('an aborted signal leaves no object', async () => {
    const st = make();
    const ac = new AbortController();
    const body = new PassThrough();
    const put = st.put(`${p}aborted/obj`, body, { signal: ac.signal });
    body.write(randomBytes(6 * MiB));
    setTimeout(() => ac.abort(new Error('job cancelled')), 200);
    await expect(put).rejects.toThrow();
    body.destroy();
    expect(await st.head(`${p}aborted/obj`)).toBeNull();
  });

  test('list is complete beyond one page (1,100 objects)', async () => {
    const st = make();
    const keys = Array.from({ length: 1100 }, (_, i) => `${p}many/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => st.put(k, Buffer.from('x'))));
    const listed = await st.list(`${p}many/`);
    expect(listed.map((o) => o.key)).toEqual(keys);
    await st.delete(keys);
  }, 120_000);
});

describe('s3 specifics', () => {
  test('a failed multipart upload is aborted on the server (AbortMultipartUpload sent)', async () => {
    const st = drivers[1][1]();
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
    await expect(st.list('x/')).rejects.toThrow(/S3_BUCKET_NAME/);
  });
});
