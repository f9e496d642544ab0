import { describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { SCHEMA } from '../../../src/config/schema.js';
import { BackupmateError } from '../../../src/domain/errors.js';
import { FileStorage } from '../../../src/storage/drivers/file.js';
import {
  backoffCeiling,
  backoffDelay,
  backoffFloor,
  logRetry,
  retryWindow,
  RetryStorage,
  type RetryEvent,
  type RetryOptions,
} from '../../../src/storage/retry.js';
import { classifyS3 as classify, S3RetryStrategy, S3Storage } from '../../../src/storage/drivers/s3.js';
import type { StorageDriver } from '../../../src/storage/drivers/driver.js';
import { FILE_LIMITS } from '../../../src/storage/drivers/limits.js';
import { isNotFound, notFound, readAll, type Storage } from '../../../src/storage/storage.js';

jest.setTimeout(20_000);

// ---------------------------------------------------------------------------------------------
// Errors shaped like the ones the drivers see.

/** An AWS SDK service error: name = S3 error code, $metadata.httpStatusCode. */
function sdkError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, $fault: status >= 500 ? 'server' : 'client' });
}
function errnoError(code: string, message = `${code}: something`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
/** What s3.ts `wrap` makes of an SDK error. */
function wrapped(cause: Error & { $metadata?: { httpStatusCode?: number } }): BackupmateError {
  return new BackupmateError('STORAGE', `doing x on s3://b failed: ${cause.message}`, { httpStatus: cause.$metadata?.httpStatusCode }, { cause });
}
/** What file.ts `wrapIo` makes of an errno error. */
function wrappedIo(code: string): BackupmateError {
  const cause = errnoError(code);
  return new BackupmateError('STORAGE', `writing k failed: ${cause.message}`, { errno: code }, { cause });
}

// Equal jitter, not full jitter: full jitter can draw ~0 delays several times in a row, so with
// it a request could use all its attempts within a second (issue 11: a store that blinked for 2 s
// failed the backup). Half of every delay is now fixed; these expectations moved accordingly.
describe('backoff: exponential with equal jitter', () => {
  const policy = { baseDelayMs: 200, maxDelayMs: 20_000 };

  test('ceiling doubles per attempt from base, capped at max', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 20].map((n) => backoffCeiling(policy, n))).toEqual([
      200, 400, 800, 1600, 3200, 6400, 12_800, 20_000, 20_000, 20_000,
    ]);
  });

  test('delay = ceiling/2 + random(0, ceiling/2): the extremes and the middle', () => {
    expect(backoffDelay(policy, 3, () => 0)).toBe(400);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(600);
    expect(backoffDelay(policy, 3, () => 0.999_999_9)).toBe(800);
    expect(backoffDelay(policy, 30, () => 0)).toBe(10_000);
    expect(backoffDelay(policy, 30, () => 0.999_999_9)).toBe(20_000);
    // An odd ceiling: the floor rounds up, so the fixed half is never less than half.
    expect(backoffFloor({ baseDelayMs: 3, maxDelayMs: 100 }, 1)).toBe(2);
  });

  test('with Math.random every delay lies within [ceiling/2, ceiling] and they spread out', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const attempt = 1 + (i % 10);
      const d = backoffDelay(policy, attempt);
      expect(d).toBeGreaterThanOrEqual(backoffCeiling(policy, attempt) / 2);
      expect(d).toBeLessThanOrEqual(backoffCeiling(policy, attempt));
      seen.add(d);
    }
    expect(seen.size).toBeGreaterThan(500);
  });
});

describe('retryWindow: the outage a request surely rides out, and how long a dead store can hold it', () => {
  test('sums the floors and the ceilings of the attempts-1 delays', () => {
    // ceilings 100, 200, 400, 800, 1000, 1000
    expect(retryWindow({ attempts: 7, baseDelayMs: 100, maxDelayMs: 1000 })).toEqual({ minWaitMs: 1750, maxWaitMs: 3500 });
    expect(retryWindow({ attempts: 1, baseDelayMs: 100, maxDelayMs: 1000 })).toEqual({ minWaitMs: 0, maxWaitMs: 0 });
  });

  test('the drawn delays of a whole run always fall inside the window', () => {
    const policy = { attempts: 6, baseDelayMs: 250, maxDelayMs: 3000 };
    const w = retryWindow(policy);
    for (const r of [() => 0, () => 0.999_999_9, Math.random]) {
      let total = 0;
      for (let retry = 1; retry < policy.attempts; retry++) total += backoffDelay(policy, retry, r);
      expect(total).toBeGreaterThanOrEqual(w.minWaitMs);
      expect(total).toBeLessThanOrEqual(w.maxWaitMs);
    }
  });

  test('the defaults ride out at least ~30 s and give up within a couple of minutes, as the docs say', () => {
    const d = (key: 'RETRY_ATTEMPTS' | 'RETRY_BASE_DELAY_MS' | 'RETRY_MAX_DELAY_MS') => SCHEMA[key].default as number;
    const w = retryWindow({ attempts: d('RETRY_ATTEMPTS'), baseDelayMs: d('RETRY_BASE_DELAY_MS'), maxDelayMs: d('RETRY_MAX_DELAY_MS') });
    // The old defaults (5, 200, 20000) gave 1.5 s .. 3 s.
    expect(w.minWaitMs).toBeGreaterThanOrEqual(30_000);
    expect(w.maxWaitMs).toBeLessThanOrEqual(150_000);
    const seconds = (ms: number) => `${Math.floor(ms / 1000)} s`;
    const doc = SCHEMA.RETRY_ATTEMPTS.doc;
    expect(doc).toContain(`rides out an outage of at least ${seconds(w.minWaitMs)}`);
    expect(doc).toContain(`gives up after at most ${seconds(w.maxWaitMs)}`);
    const readme = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../../README.md'), 'utf8');
    expect(readme).toContain(`rides out an outage of at least ${seconds(w.minWaitMs)}`);
    expect(readme).toContain(`gives up after at most ${seconds(w.maxWaitMs)}`);
  });
});

// ---------------------------------------------------------------------------------------------
// The wrapper, around a scripted fake store.

type Op = 'put' | 'get' | 'head' | 'list' | 'delete';

/** A store whose every operation first throws the queued errors, then succeeds. */
class FakeStorage implements Storage {
  readonly description = 'fake://store';
  readonly calls: { op: Op; key: string }[] = [];
  private readonly failures: Record<Op, unknown[]> = { put: [], get: [], head: [], list: [], delete: [] };

  failNext(op: Op, ...errors: unknown[]): this {
    this.failures[op].push(...errors);
    return this;
  }

  private step(op: Op, key: string): void {
    this.calls.push({ op, key });
    if (this.failures[op].length) throw this.failures[op].shift();
  }

  async put(key: string, body: Readable | Buffer): Promise<void> {
    this.step('put', key);
    if (!Buffer.isBuffer(body)) await readAll(body);
  }
  async get(key: string): Promise<Readable> {
    this.step('get', key);
    return Readable.from([Buffer.from(`body of ${key}`)]);
  }
  async head(key: string): Promise<{ size: number } | null> {
    this.step('head', key);
    return key === 'missing' ? null : { size: 7 };
  }
  async list(prefix: string) {
    this.step('list', prefix);
    return [{ key: `${prefix}a`, size: 1 }];
  }
  async delete(keys: readonly string[]): Promise<void> {
    this.step('delete', keys.join(','));
  }
}

const transient = () => wrapped(sdkError('InternalError', 500, 'We encountered an internal error. Please try again.'));

function harness(attempts = 5, randoms: number[] = []) {
  const fake = new FakeStorage();
  const sleeps: number[] = [];
  const lines: { message: string; meta: Record<string, unknown> }[] = [];
  let r = 0;
  const opts: RetryOptions = {
    attempts,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    log: { warn: (message, meta) => lines.push({ message, meta }) },
    classify,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => (r < randoms.length ? randoms[r++] : 0.5),
  };
  return { fake, store: new RetryStorage(fake, opts), sleeps, lines };
}

describe('RetryStorage', () => {
  test('keeps the driver description', () => {
    expect(harness().store.description).toBe('fake://store');
  });

  test.each<[Op, (s: Storage) => Promise<unknown>]>([
    ['put', (s) => s.put('k', Buffer.from('x'))],
    ['get', (s) => s.get('k').then(readAll)],
    ['head', (s) => s.head('k')],
    ['list', (s) => s.list('k')],
    ['delete', (s) => s.delete(['k'])],
  ])('%s: transient failures are retried until it succeeds', async (op, call) => {
    const { fake, store, sleeps, lines } = harness(5);
    fake.failNext(op, transient(), transient(), transient());
    await expect(call(store).then(() => 'ok')).resolves.toBe('ok');
    expect(fake.calls.filter((c) => c.op === op)).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
    expect(lines.map((l) => l.meta.attempt)).toEqual([1, 2, 3]);
    expect(lines.every((l) => l.meta.operation === op)).toBe(true);
  });

  test('gives up after RETRY_ATTEMPTS attempts in all, saying so, with the last error', async () => {
    const { fake, store, sleeps, lines } = harness(4);
    fake.failNext('list', transient(), transient(), transient(), transient(), transient());
    const err = await store.list('p/').then(
      () => null,
      (e: unknown) => e as BackupmateError,
    );
    expect(fake.calls).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
    expect(lines).toHaveLength(3);
    expect(err).toBeInstanceOf(BackupmateError);
    expect(err!.code).toBe('STORAGE');
    expect(err!.message).toBe('doing x on s3://b failed: We encountered an internal error. Please try again. (gave up after 4 attempts)');
    expect(err!.details).toMatchObject({ httpStatus: 500, attempts: 4 });
    expect(classify(err)).toBe('transient');
  });

  test('delays follow equal jitter within [c/2, c], c = min(max, base·2^(n-1))', async () => {
    const randoms = [0.999_999, 0.25, 0, 0.5, 0.999_999, 0.75];
    const { fake, store, sleeps, lines } = harness(7, randoms);
    fake.failNext('head', ...Array.from({ length: 6 }, transient));
    await store.head('k');
    // base 100, max 1000: ceilings 100, 200, 400, 800, 1000, 1000
    expect(sleeps).toEqual([100, 125, 200, 600, 1000, 875]);
    sleeps.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(backoffCeiling({ baseDelayMs: 100, maxDelayMs: 1000 }, i + 1) / 2);
      expect(d).toBeLessThanOrEqual(backoffCeiling({ baseDelayMs: 100, maxDelayMs: 1000 }, i + 1));
    });
    expect(lines.map((l) => l.meta.delayMs)).toEqual(sleeps);
  });

  test('one warn line per retry: event storage.retry, operation, key, attempt of attempts, delay, cause', async () => {
    const { fake, store, lines } = harness(3, [0.5, 0.5]);
    fake.failNext('get', transient(), wrapped(errnoError('ECONNRESET', 'socket hang up')));
    await store.get('backupmate/full/X/data.00001');
    expect(lines).toHaveLength(2);
    expect(lines[0].meta).toEqual({
      event: 'storage.retry',
      operation: 'get',
      key: 'backupmate/full/X/data.00001',
      attempt: 1,
      attempts: 3,
      delayMs: 75,
      cause: 'doing x on s3://b failed: We encountered an internal error. Please try again.',
    });
    expect(lines[0].message).toBe(
      'storage get backupmate/full/X/data.00001 failed (attempt 1 of 3): doing x on s3://b failed: We encountered an internal error. Please try again.; retrying in 75 ms',
    );
    expect(lines[1].meta).toMatchObject({ attempt: 2, attempts: 3, delayMs: 150, cause: 'doing x on s3://b failed: socket hang up' });
  });

  test.each([
    ['403 AccessDenied', wrapped(sdkError('AccessDenied', 403, 'Access Denied; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy'))],
    ['InvalidAccessKeyId', wrapped(sdkError('InvalidAccessKeyId', 403))],
    ['SignatureDoesNotMatch', wrapped(sdkError('SignatureDoesNotMatch', 403))],
    ['NoSuchBucket', wrapped(sdkError('NoSuchBucket', 404, 'check S3_BUCKET_NAME'))],
    ['400', wrapped(sdkError('BadRequest', 400))],
    ['ENOSPC', wrappedIo('ENOSPC')],
    ['EACCES', wrappedIo('EACCES')],
    ['an unknown error', new Error('bug')],
  ])('permanent %s: fails at once with the driver error itself, nothing logged', async (_n, e) => {
    const { fake, store, sleeps, lines } = harness(5);
    fake.failNext('put', e);
    await expect(store.put('k', Buffer.from('x'))).rejects.toBe(e);
    expect(fake.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(lines).toEqual([]);
  });

  test('a transient failure then a permanent one: stops at the permanent one', async () => {
    const { fake, store } = harness(5);
    const denied = wrapped(sdkError('AccessDenied', 403));
    fake.failNext('delete', transient(), denied);
    await expect(store.delete(['a', 'b'])).rejects.toBe(denied);
    expect(fake.calls).toHaveLength(2);
  });

  test('not-found is an answer: get rejects with it at once, head returns null at once', async () => {
    const { fake, store, sleeps } = harness(5);
    const nf = notFound(fake, 'missing');
    fake.failNext('get', nf);
    const err = await store.get('missing').catch((e: unknown) => e);
    expect(err).toBe(nf);
    expect(isNotFound(err)).toBe(true);
    expect(await store.head('missing')).toBeNull();
    expect(fake.calls).toEqual([
      { op: 'get', key: 'missing' },
      { op: 'head', key: 'missing' },
    ]);
    expect(sleeps).toEqual([]);
  });

  test('a transient failure then not-found: the not-found comes back unchanged', async () => {
    const { fake, store } = harness(5);
    const nf = notFound(fake, 'k');
    fake.failNext('get', transient(), nf);
    await expect(store.get('k')).rejects.toBe(nf);
  });

  test('put(key, Readable) is NOT retried by the wrapper (a stream cannot be replayed)', async () => {
    const { fake, store, sleeps, lines } = harness(5);
    const e = transient();
    fake.failNext('put', e);
    await expect(store.put('k', Readable.from([Buffer.from('data')]))).rejects.toBe(e);
    expect(fake.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(lines).toEqual([]);
  });

  test('put(key, Buffer) is retried whole', async () => {
    const { fake, store } = harness(5);
    fake.failNext('put', transient());
    await store.put('k', Buffer.from('data'));
    expect(fake.calls).toEqual([
      { op: 'put', key: 'k' },
      { op: 'put', key: 'k' },
    ]);
  });

  test('RETRY_ATTEMPTS=1: no retry at all', async () => {
    const { fake, store, lines } = harness(1);
    const e = transient();
    fake.failNext('list', e);
    await expect(store.list('p')).rejects.toBe(e);
    expect(fake.calls).toHaveLength(1);
    expect(lines).toEqual([]);
  });

  test('an abort during the wait ends the retries with the abort reason (real sleep)', async () => {
    const fake = new FakeStorage().failNext('put', transient(), transient());
    const store = new RetryStorage(fake, { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 1, classify, log: { warn: () => {} } });
    const ac = new AbortController();
    const reason = new BackupmateError('CANCELLED', 'job cancelled');
    const p = store.put('k', Buffer.from('x'), { signal: ac.signal });
    setTimeout(() => ac.abort(reason), 50);
    const t0 = Date.now();
    await expect(p).rejects.toBe(reason);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(fake.calls).toHaveLength(1);
  });

  test('delete of several keys is logged under the first key', async () => {
    const { fake, store, lines } = harness(5);
    fake.failNext('delete', transient());
    await store.delete(['a/1', 'a/2', 'a/3']);
    expect(lines[0].meta.key).toBe('a/1 (and 2 more)');
  });

  test('optional driver methods (unfinished uploads) are passed on, retried, and absent when the driver lacks them', async () => {
    const { store: bare } = harness(3);
    expect(bare.listUnfinished).toBeUndefined();
    expect(bare.abortUnfinished).toBeUndefined();

    const fake = new FakeStorage() as FakeStorage & Required<Pick<Storage, 'listUnfinished' | 'abortUnfinished'>>;
    const calls: string[] = [];
    let failures = 2;
    const upload = { key: 'p/data.00000', handle: 'upload-1', startedAt: null };
    fake.listUnfinished = async (prefix) => {
      calls.push(`list ${prefix}`);
      if (failures-- > 0) throw transient();
      return [upload];
    };
    fake.abortUnfinished = async (u) => {
      calls.push(`abort ${u.handle}`);
    };
    const lines: Record<string, unknown>[] = [];
    const store = new RetryStorage(fake, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => {}, classify, log: { warn: (_m, meta) => lines.push(meta) } });
    expect(await store.listUnfinished!('p/')).toEqual([upload]);
    await store.abortUnfinished!(upload);
    expect(calls).toEqual(['list p/', 'list p/', 'list p/', 'abort upload-1']);
    expect(lines.map((l) => [l.operation, l.attempt])).toEqual([
      ['listUnfinished', 1],
      ['listUnfinished', 2],
    ]);
  });

  test('asks the DRIVER whether an error is transient: the wrapper holds only the policy', async () => {
    // A driver-specific error no shared table knows: only the driver's classify makes it transient.
    const odd = Object.assign(new Error('the store says: later'), { name: 'ComeBackLater' });
    const fake = new FakeStorage().failNext('list', odd, odd) as FakeStorage & Pick<StorageDriver, 'name' | 'limits' | 'classify'>;
    Object.assign(fake, { name: 'fake', limits: FILE_LIMITS, classify: (e: unknown) => (e === odd ? 'transient' : 'permanent') });
    const store = new RetryStorage(fake, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => {}, log: { warn: () => {} } });
    expect(store.classify(odd)).toBe('transient');
    await expect(store.list('p/')).resolves.toHaveLength(1);
    expect(fake.calls).toHaveLength(3);
    // Without a driver classify, the shared reading (our errors, errno) does not know it: one attempt.
    const plain = new FakeStorage().failNext('list', odd);
    const store2 = new RetryStorage(plain, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => {}, log: { warn: () => {} } });
    await expect(store2.list('p/')).rejects.toBe(odd);
    expect(plain.calls).toHaveLength(1);
  });

  test('a driver that answers not-found is not retried', async () => {
    const { fake, store, sleeps } = harness(5);
    fake.failNext('get', wrapped(sdkError('NoSuchKey', 404)));
    await expect(store.get('k')).rejects.toThrow();
    expect(fake.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  test('refuses attempts < 1', () => {
    expect(() => new RetryStorage(new FakeStorage(), { attempts: 0, baseDelayMs: 1, maxDelayMs: 1, log: { warn: () => {} } })).toThrow(/attempts/);
  });

  test('logRetry names the part of an UploadPart', () => {
    const lines: string[] = [];
    const ev: RetryEvent = { operation: 'UploadPart', key: 'k/data.00000', part: 3, attempt: 2, attempts: 5, delayMs: 12, cause: 'InternalError (HTTP 500): x' };
    logRetry({ warn: (m) => lines.push(m) }, ev);
    expect(lines).toEqual(['storage UploadPart k/data.00000 part 3 failed (attempt 2 of 5): InternalError (HTTP 500): x; retrying in 12 ms']);
  });
});

describe('RetryStorage around the file driver', () => {
  test('a missing object: not found at once; a full disk would be permanent', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-retry-file-'));
    try {
      const lines: unknown[] = [];
      const store = new RetryStorage(new FileStorage(root), { attempts: 5, baseDelayMs: 1, maxDelayMs: 1, log: { warn: (_m, meta) => lines.push(meta) } });
      const err = await store.get('nope/x').catch((e: unknown) => e);
      expect(isNotFound(err)).toBe(true);
      expect(await store.head('nope/x')).toBeNull();
      await store.put('a/b', Buffer.from('hello'));
      expect((await readAll(await store.get('a/b'))).toString()).toBe('hello');
      expect(lines).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The SDK side: the strategy the upload client uses, and real SDK errors from a scripted server.

describe('S3RetryStrategy (the SDK retries of a streamed put)', () => {
  const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };
  type Info = Parameters<S3RetryStrategy['refreshRetryTokenForRetry']>[1];
  const info = (error: Error, errorType: Info['errorType']): Info => ({ error: error as Info['error'], errorType });

  test('transient: a token with the retry count and an equal-jitter delay, and one log event naming the part', async () => {
    const events: RetryEvent[] = [];
    const err = sdkError('SlowDown', 503, 'Please reduce your request rate.');
    const s = new S3RetryStrategy(policy, (ev) => events.push(ev), (e) => (e === err ? { operation: 'UploadPart', key: 'k', part: 2 } : undefined), () => 0.5);
    let token = await s.acquireInitialRetryToken();
    expect(token.getRetryCount()).toBe(0);
    token = await s.refreshRetryTokenForRetry(token, info(err, 'THROTTLING'));
    expect([token.getRetryCount(), token.getRetryDelay()]).toEqual([1, 75]);
    token = await s.refreshRetryTokenForRetry(token, info(err, 'THROTTLING'));
    expect([token.getRetryCount(), token.getRetryDelay()]).toEqual([2, 150]);
    token = await s.refreshRetryTokenForRetry(token, info(err, 'THROTTLING'));
    expect([token.getRetryCount(), token.getRetryDelay()]).toEqual([3, 300]);
    // The 4th attempt failed: attempts are used up, the strategy refuses, the SDK throws the error.
    await expect(s.refreshRetryTokenForRetry(token, info(err, 'THROTTLING'))).rejects.toBe(err);
    expect(events).toEqual([1, 2, 3].map((attempt, i) => ({
      operation: 'UploadPart',
      key: 'k',
      part: 2,
      attempt,
      attempts: 4,
      delayMs: [75, 150, 300][i],
      cause: 'SlowDown (HTTP 503): Please reduce your request rate.',
    })));
  });

  test('permanent: refused at once, nothing logged', async () => {
    const events: RetryEvent[] = [];
    const s = new S3RetryStrategy(policy, (ev) => events.push(ev), () => undefined);
    const err = sdkError('AccessDenied', 403);
    await expect(s.refreshRetryTokenForRetry(await s.acquireInitialRetryToken(), info(err, 'CLIENT_ERROR'))).rejects.toBe(err);
    expect(events).toEqual([]);
  });
});

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A loopback HTTP server answering with `handler`, counting requests. */
async function scriptedServer(handler: Handler): Promise<{ endpoint: string; hits: { method: string; url: string }[]; close(): Promise<void> }> {
  const hits: { method: string; url: string }[] = [];
  const server = http.createServer((req, res) => {
    hits.push({ method: req.method ?? '', url: req.url ?? '' });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function xmlError(status: number, code: string, message: string): Handler {
  return (req, res) => {
    req.resume();
    req.on('end', () => {
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>r</RequestId></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(method(req) === 'HEAD' ? undefined : body);
    });
  };
}
const method = (req: http.IncomingMessage) => req.method ?? '';

function s3At(endpoint: string, extra: Partial<ConstructorParameters<typeof S3Storage>[0]> = {}): S3Storage {
  return new S3Storage({
    bucket: 'bkt',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'not-a-real-secret',
    partSize: 5 * 1024 * 1024,
    queueSize: 2,
    ...extra,
  });
}

describe('real S3 driver errors (scripted server): classification and one attempt per request', () => {
  test.each<[string, Handler, 'transient' | 'permanent', RegExp]>([
    ['500 InternalError', xmlError(500, 'InternalError', 'We encountered an internal error.'), 'transient', /InternalError \(HTTP 500\)/],
    ['503 SlowDown', xmlError(503, 'SlowDown', 'Please reduce your request rate.'), 'transient', /SlowDown \(HTTP 503\)/],
    ['connection reset', (req) => req.socket.resetAndDestroy(), 'transient', /ECONNRESET|socket hang up/],
    ['403 AccessDenied', xmlError(403, 'AccessDenied', 'Access Denied'), 'permanent', /HTTP 403.*check AWS_ACCESS_KEY_ID/],
    ['403 InvalidAccessKeyId', xmlError(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist'), 'permanent', /InvalidAccessKeyId.*check AWS_ACCESS_KEY_ID/],
    ['403 SignatureDoesNotMatch', xmlError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match'), 'permanent', /SignatureDoesNotMatch/],
    ['404 NoSuchBucket', xmlError(404, 'NoSuchBucket', 'The specified bucket does not exist'), 'permanent', /check S3_BUCKET_NAME/],
    ['400 bad request', xmlError(400, 'InvalidRequest', 'Bad request'), 'permanent', /HTTP 400/],
  ])('%s on list: %s, one request', async (_n, handler, verdict, message) => {
    const srv = await scriptedServer(handler);
    try {
      const err = await s3At(srv.endpoint).list('p/').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupmateError);
      expect((err as BackupmateError).message).toMatch(message);
      expect(classify(err)).toBe(verdict);
      expect(srv.hits).toHaveLength(1); // the plain client never retries: the wrapper does
    } finally {
      await srv.close();
    }
  });

  test('a stalled response: TimeoutError after S3_REQUEST_TIMEOUT_MS, transient', async () => {
    const srv = await scriptedServer((req) => req.resume());
    try {
      const t0 = Date.now();
      const err = await s3At(srv.endpoint, { requestTimeoutMs: 1000 }).head('k').catch((e: unknown) => e);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect((err as Error).message).toMatch(/TimeoutError.*timed out/);
      expect(classify(err)).toBe('transient');
    } finally {
      await srv.close();
    }
  });

  test('wrapped in RetryStorage: exactly RETRY_ATTEMPTS requests for a failing get, one for a permanent one', async () => {
    let mode: 'slowdown' | 'denied' = 'slowdown';
    const srv = await scriptedServer((req, res) =>
      (mode === 'slowdown' ? xmlError(503, 'SlowDown', 'Please reduce your request rate.') : xmlError(403, 'AccessDenied', 'Access Denied'))(req, res),
    );
    try {
      const lines: Record<string, unknown>[] = [];
      const store = new RetryStorage(s3At(srv.endpoint), { attempts: 3, baseDelayMs: 1, maxDelayMs: 5, log: { warn: (_m, meta) => lines.push(meta) } });
      const err = (await store.get('a/b').catch((e: unknown) => e)) as Error;
      expect(srv.hits).toHaveLength(3);
      expect(err.message).toMatch(/^downloading a\/b on s3:\/\/bkt \(http:\/\/127\.0\.0\.1:\d+\) failed: SlowDown \(HTTP 503\): Please reduce your request rate\. \(gave up after 3 attempts\)$/);
      expect(lines.map((l) => [l.operation, l.key, l.attempt, l.attempts])).toEqual([
        ['get', 'a/b', 1, 3],
        ['get', 'a/b', 2, 3],
      ]);
      expect(JSON.stringify(lines)).not.toContain('not-a-real-secret');
      mode = 'denied';
      srv.hits.length = 0;
      await expect(store.get('a/b')).rejects.toThrow(/AccessDenied \(HTTP 403\).*check AWS_ACCESS_KEY_ID/);
      expect(srv.hits).toHaveLength(1);
    } finally {
      await srv.close();
    }
  });

  test('a Buffer put goes through the plain client: one request, the wrapper retries it', async () => {
    const srv = await scriptedServer(xmlError(500, 'InternalError', 'x'));
    try {
      const events: RetryEvent[] = [];
      const err = await s3At(srv.endpoint, { uploadRetry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 1, onRetry: (e) => events.push(e) } })
        .put('k', Buffer.from('small'))
        .catch((e: unknown) => e);
      expect(classify(err)).toBe('transient');
      expect(srv.hits).toHaveLength(1);
      expect(events).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  test('a streamed put: the upload client retries the request itself, logging each retry, and stops at the bound', async () => {
    const srv = await scriptedServer(xmlError(503, 'SlowDown', 'Please reduce your request rate.'));
    try {
      const events: RetryEvent[] = [];
      const body = new PassThrough();
      body.end(Buffer.from('a small streamed body'));
      const err = (await s3At(srv.endpoint, { uploadRetry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2, onRetry: (e) => events.push(e) } })
        .put('dir/obj', body)
        .catch((e: unknown) => e)) as Error;
      // Shorter than a part: one PutObject, tried 3 times by the SDK.
      expect(srv.hits.map((h) => h.method)).toEqual(['PUT', 'PUT', 'PUT']);
      expect(err.message).toMatch(/^uploading dir\/obj on .* failed: SlowDown \(HTTP 503\): Please reduce your request rate\. \(gave up after 3 attempts\)$/);
      expect(events.map((e) => [e.operation, e.key, e.attempt, e.attempts])).toEqual([
        ['PutObject', 'dir/obj', 1, 3],
        ['PutObject', 'dir/obj', 2, 3],
      ]);
      expect(events.every((e) => e.delayMs >= 0 && e.delayMs <= 2 && /SlowDown \(HTTP 503\)/.test(e.cause))).toBe(true);
    } finally {
      await srv.close();
    }
  });
});
