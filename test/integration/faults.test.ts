/**
 * Fault injection with real parts: a real private mariadbd, real mariabackup, s3rver behind a
 * fault-injecting proxy (500, 503 SlowDown, connection resets, stalled responses) and the real
 * CLI. Transient store failures are retried (whole operations by the RetryStorage wrapper, each
 * multipart part by the SDK without restarting the stream), and a store that keeps failing makes
 * the backup fail cleanly after the configured attempts.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { RetryEvent } from '../../src/storage/retry.js';
import { S3Storage } from '../../src/storage/drivers/s3.js';
import { readAll } from '../../src/storage/storage.js';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { checkAllTables, loadSampleData } from '../helpers/data.js';
import { FAULT_KINDS, startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'f4ult-pw';
const MiB = 1024 * 1024;
let source: PrivateServer;
let s3: S3Server;
let proxy: FaultyProxy;

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  proxy = await startFaultyProxy(s3.endpoint, { seed: 7, probability: 0 });
  await loadSampleData(source, { rows: 20_000 });
  // ~40 MiB that zstd cannot shrink: with 5 MiB parts and 11 MiB volumes, four multipart uploads
  // of three parts each, ~60 requests in all, so faults land on parts, puts, lists, heads, gets.
  await source.sql(
    'CREATE DATABASE noise; CREATE TABLE noise.r (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB; INSERT INTO noise.r SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_40000;',
    'mysql',
  );
});

afterAll(async () => {
  await proxy?.close();
  await stopAllServers();
  await stopAllS3rvers();
});

/** The store seen directly, not through the proxy: what really is in the bucket. */
function direct(): S3Storage {
  return new S3Storage({
    bucket: s3.bucket,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    partSize: 5 * MiB,
    queueSize: 2,
  });
}

/** A workdir whose store is s3rver behind the faulty proxy, with fast retries and short timeouts. */
function faultyWorkdir(prefix: string, extra: Record<string, string> = {}): Promise<string> {
  return makeWorkdir(
    source,
    { kind: 's3', server: s3 },
    {
      S3_ENDPOINT: proxy.endpoint,
      FULL_BACKUP_PREFIX: `${prefix}/full/`,
      INCREMENTAL_BACKUP_PREFIX: `${prefix}/inc/`,
      RETRY_BASE_DELAY_MS: '50',
      RETRY_MAX_DELAY_MS: '500',
      S3_REQUEST_TIMEOUT_MS: '3000',
      S3_PART_SIZE: '5MiB',
      VOLUME_SIZE: '11MiB',
      ...extra,
    },
  );
}

/** Lines on stderr that are not JSON log lines: what a user reads. */
const humanLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));

describe('a store that keeps failing', () => {
  test('100% of requests fail: exit 76 after RETRY_ATTEMPTS attempts, one clear line, nothing stored, temp dir empty', async () => {
    const work = await faultyWorkdir('allfail', { RETRY_ATTEMPTS: '5' });
    proxy.configure({ failAll: true, kinds: FAULT_KINDS });
    const seen = proxy.requests.length;
    const t0 = Date.now();
    const r = await backupmate(work, ['backup', '--full']);
    const took = Date.now() - t0;
    proxy.configure({ failAll: false, probability: 0 });
    const sent = proxy.requests.slice(seen);

    expect(r.exitCode).toBe(76);
    const human = humanLines(r.stderr);
    expect(human).toHaveLength(1);
    expect(human[0]).toMatch(/^backupmate: uploading allfail\/full\/\.preflight-\w+ on s3:\/\/backupmate-test \(http:\/\/127\.0\.0\.1:\d+\) failed: .* \(gave up after 5 attempts\)$/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace

    // Bounded: the failing operation was sent exactly RETRY_ATTEMPTS times, every one failed, and
    // nothing else was attempted after it.
    expect(sent).toHaveLength(5);
    expect(sent.every((q) => q.fault !== undefined && q.method === 'PUT')).toBe(true);
    const retries = logLines(r.stdout).filter((l) => l.event === 'storage.retry');
    expect(retries.map((l) => [l.operation, l.attempt, l.attempts])).toEqual([1, 2, 3, 4].map((n) => ['put', n, 5]));
    for (const l of retries) {
      expect(l).toMatchObject({ level: 'warn', key: expect.stringMatching(/^allfail\/full\/\.preflight-/) });
      expect((l.delayMs as number) >= 0 && (l.delayMs as number) <= 500).toBe(true);
      expect(typeof l.cause).toBe('string');
    }

    // Nothing in the bucket (seen directly), no manifest, temp dir empty.
    expect(await direct().list('')).toEqual([]);
    expect(await fs.readdir(path.join(work, 'tmp'))).toEqual([]);
    // 4 waits of at most 500 ms and at most one 3 s stall (kinds rotate) per 5 attempts.
    expect(took).toBeLessThan(20_000);
  });
});

describe('multipart parts are retried alone by the SDK', () => {
  test('part 2 fails with a 500, then a reset: only part 2 is sent again, the stream goes on, the object is intact', async () => {
    let failed = 0;
    proxy.configure({
      failAll: true,
      kinds: ['500', 'reset'],
      eligible: (method, url) => method === 'PUT' && /[?&]partNumber=2(&|$)/.test(url) && failed++ < 2,
    });
    const seen = proxy.requests.length;
    const events: RetryEvent[] = [];
    const store = new S3Storage({
      bucket: s3.bucket,
      region: s3.region,
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      partSize: 5 * MiB,
      queueSize: 2,
      uploadRetry: { attempts: 5, baseDelayMs: 10, maxDelayMs: 50, onRetry: (e) => events.push(e) },
      requestTimeoutMs: 3000,
    });
    const data = randomBytes(12 * MiB + 123);
    const body = new PassThrough();
    (async () => {
      for (let off = 0; off < data.length; off += 256 * 1024) {
        if (!body.write(data.subarray(off, off + 256 * 1024))) await new Promise((r) => body.once('drain', r));
      }
      body.end();
    })();
    try {
      await store.put('parts/obj', body);
    } finally {
      proxy.configure({ failAll: false, probability: 0, kinds: FAULT_KINDS, eligible: () => true });
    }
    const sent = proxy.requests.slice(seen);
    const parts = (n: number) => sent.filter((q) => q.method === 'PUT' && new RegExp(`[?&]partNumber=${n}(&|$)`).test(q.url));
    expect(sent.filter((q) => q.method === 'POST' && /[?&]uploads/.test(q.url))).toHaveLength(1); // one multipart upload
    expect(parts(1)).toHaveLength(1);
    expect(parts(2).map((q) => q.fault ?? q.status)).toEqual(['500', 'reset', 200]);
    expect(parts(3)).toHaveLength(1);
    expect(events.map((e) => [e.operation, e.key, e.part, e.attempt, e.attempts])).toEqual([
      ['UploadPart', 'parts/obj', 2, 1, 5],
      ['UploadPart', 'parts/obj', 2, 2, 5],
    ]);
    expect(events[0].cause).toMatch(/InternalError \(HTTP 500\)/);
    expect(events[1].cause).toMatch(/ECONNRESET|EPIPE|socket hang up/);
    const stored = await readAll(await direct().get('parts/obj'));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    await direct().delete(['parts/obj']);
  });
});

describe('a flaky store', () => {
  test('20% of requests fail (500, 503 SlowDown, resets, stalls): backup --full completes and restores with equal CHECKSUM TABLE', async () => {
    // 8 attempts: at 20% a request fails 8 times in a row with p = 2.6e-6 (5 would be 3e-4 per
    // request); the seeded PRNG makes the run reproducible anyway.
    const work = await faultyWorkdir('flaky', { RETRY_ATTEMPTS: '8' });
    const before = await source.checksums();
    proxy.configure({ probability: 0.2, failAll: false, kinds: FAULT_KINDS, pick: 'rotate' });
    const seen = proxy.requests.length;
    const injectedBefore = proxy.injected.length;

    const b = await backupmate(work, ['backup', '--full']);
    expect({ exit: b.exitCode, stderr: b.exitCode ? b.stderr : '' }).toEqual({ exit: 0, stderr: '' });
    const lines = logLines(b.stdout);
    const end = lines.find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'succeeded', kind: 'full' });
    expect(end.volumes as number).toBeGreaterThan(1);
    const backupRetries = lines.filter((l) => l.event === 'storage.retry');
    expect(backupRetries.length).toBeGreaterThan(0);
    for (const l of backupRetries) {
      expect(l).toMatchObject({ level: 'warn', attempts: 8 });
      expect(typeof l.operation).toBe('string');
      expect(typeof l.key).toBe('string');
      expect(l.attempt as number).toBeGreaterThanOrEqual(1);
      expect(l.attempt as number).toBeLessThan(8);
      expect((l.delayMs as number) >= 0 && (l.delayMs as number) <= 500).toBe(true);
      expect(typeof l.cause).toBe('string');
    }
    expect(await fs.readdir(path.join(work, 'tmp'))).toEqual([]);
    const backupRequests = proxy.requests.slice(seen);
    // Faults hit multipart parts, and the SDK's part retries got them through.
    expect(backupRequests.some((q) => q.fault && q.method === 'PUT' && /[?&]partNumber=/.test(q.url))).toBe(true);
    expect(backupRetries.some((l) => l.operation === 'UploadPart')).toBe(true);

    // The backup is complete in the bucket itself: manifest and every volume.
    const stored = (await direct().list(`flaky/full/${end.backupId}/`)).map((o) => o.key.split('/').pop());
    expect(stored).toContain('manifest.json');
    expect(stored.filter((k) => k!.startsWith('data.'))).toHaveLength(end.volumes as number);

    // Restore through the same faulty proxy into a fresh server.
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-restored-'));
    const datadir = path.join(base, 'data');
    const r = await backupmate(work, ['restore', 'latest', '--copy-back'], {
      MARIADB_DATADIR: datadir,
      DB_SOCKET: path.join(base, 'none.sock'),
      MARIADB_OS_USER: 'mysql',
    });
    proxy.configure({ probability: 0 });
    expect({ exit: r.exitCode, stderr: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, stderr: '' });
    expect(r.stdout).toContain(`restored backup ${end.backupId}`);
    const restoreRetries = logLines(r.stderr).filter((l) => l.event === 'storage.retry');

    const injected = proxy.injected.slice(injectedBefore);
    const kinds = Object.fromEntries(FAULT_KINDS.map((k) => [k, injected.filter((f) => f.kind === k).length]));
    for (const k of FAULT_KINDS) expect({ kind: k, injected: kinds[k] > 0 }).toEqual({ kind: k, injected: true });
    // Every fault was answered by a retry (a log line each), none surfaced. (At least: a reused
    // keep-alive connection the server just closed would be one more, and rightly retried.)
    expect(backupRetries.length + restoreRetries.length).toBeGreaterThanOrEqual(injected.length);

    const server = await startPrivateServer({ datadir, baseDir: base, rootPassword: PASSWORD });
    try {
      expect(await server.checksums()).toEqual(before);
      expect(await checkAllTables(server)).toEqual([]);
    } finally {
      await server.destroy();
    }
    // FAULTS_DEBUG=1 prints every request of this test with its fault or status.
    if (process.env.FAULTS_DEBUG) {
      console.log(proxy.requests.slice(seen).map((q) => `${q.fault ?? q.status} ${q.method} ${q.url.replace(/uploadId=[^&]+/, 'uploadId=…')}`).join('\n'));
    }
    // For the report: what this run went through.
    console.log(
      `faults: ${proxy.requests.length - seen} requests, injected ${JSON.stringify(kinds)}, ` +
        `${backupRetries.length} retries in the backup, ${restoreRetries.length} in the restore`,
    );
  });
});
