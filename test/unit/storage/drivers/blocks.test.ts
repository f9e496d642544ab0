/** The staged-block upload engine (drivers/blocks.ts) with fake stage/commit: pure logic, no store. */
import { describe, expect, test } from '@jest/globals';
import { PassThrough, Readable } from 'node:stream';
import { BackupmateError } from '../../../../src/domain/errors.js';
import { attemptsOf, blockIds, uploadBlocks, type BlockUploadOptions } from '../../../../src/storage/drivers/blocks.js';
import type { RetryEvent } from '../../../../src/storage/retry.js';

const transient = () => Object.assign(new Error('reset'), { code: 'ECONNRESET' });

function fake(over: Partial<BlockUploadOptions> = {}) {
  const staged = new Map<string, Buffer>();
  const commits: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const o: BlockUploadOptions = {
    key: 'k',
    blockSize: 4,
    concurrency: 2,
    maxBlocks: 100,
    stage: async (id, data) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      staged.set(id, Buffer.from(data));
    },
    commit: async (ids) => {
      commits.push([...ids]);
    },
    classify: (e) => ((e as { code?: string }).code === 'ECONNRESET' ? 'transient' : 'permanent'),
    describeError: (e) => String((e as Error).message),
    ...over,
  };
  return { o, staged, commits, maxInFlight: () => maxInFlight };
}

describe('uploadBlocks', () => {
  test('cuts the body into blocks of blockSize, at most `concurrency` in flight, and commits them in order once', async () => {
    const f = fake();
    const r = await uploadBlocks(Readable.from([Buffer.from('abcdefghij'), Buffer.from('klmnopq')]), f.o);
    expect(r).toEqual({ blocks: 5, bytes: 17 });
    expect(f.commits).toHaveLength(1);
    expect(f.commits[0]!.map((id) => f.staged.get(id)!.toString())).toEqual(['abcd', 'efgh', 'ijkl', 'mnop', 'q']);
    expect(f.maxInFlight()).toBeLessThanOrEqual(2);
  });

  test('an empty body commits an empty list (an empty object)', async () => {
    const f = fake();
    expect(await uploadBlocks(Readable.from([]), f.o)).toEqual({ blocks: 0, bytes: 0 });
    expect(f.commits).toEqual([[]]);
  });

  test('block ids have one length and base64 form, and differ between uploads', () => {
    const a = blockIds('aaaaaaaaaaaa');
    expect(new Set([a(0), a(1), a(999_999)].map((id) => id.length)).size).toBe(1);
    expect(Buffer.from(a(7), 'base64').toString()).toBe('aaaaaaaaaaaa-000007');
    expect(blockIds()(0)).not.toBe(blockIds()(0));
  });

  test('a transient block failure is retried with the policy and logged; the upload completes', async () => {
    let failures = 1;
    const events: RetryEvent[] = [];
    const f = fake();
    const stage = f.o.stage;
    f.o.stage = async (id, data, i, s) => {
      if (i === 1 && failures-- > 0) throw transient();
      return stage(id, data, i, s);
    };
    f.o.retry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, onRetry: (e) => events.push(e), sleep: async () => {} };
    await uploadBlocks(Readable.from([Buffer.from('abcdefgh')]), f.o);
    expect(events).toEqual([expect.objectContaining({ operation: 'StageBlock', key: 'k', part: 2, attempt: 1, attempts: 3, cause: 'reset' })]);
    expect(f.commits).toHaveLength(1);
  });

  test('a block that keeps failing fails the upload with ITS error, records the attempts, and nothing is committed', async () => {
    const f = fake();
    const err = transient();
    f.o.stage = async (_id, _d, i) => {
      if (i === 2) throw err;
    };
    f.o.retry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => {} };
    await expect(uploadBlocks(Readable.from([Buffer.alloc(40)]), f.o)).rejects.toBe(err);
    expect(attemptsOf(err)).toBe(3);
    expect(f.commits).toEqual([]);
  });

  test('a permanent block error is not retried', async () => {
    let calls = 0;
    const f = fake();
    f.o.stage = async () => {
      calls++;
      throw new Error('403');
    };
    f.o.retry = { attempts: 5, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => {} };
    await expect(uploadBlocks(Readable.from([Buffer.alloc(4)]), f.o)).rejects.toThrow('403');
    expect(calls).toBe(1);
  });

  test('a body that errors fails the upload with the body error; nothing is committed', async () => {
    const f = fake();
    const body = new PassThrough();
    const done = uploadBlocks(body, f.o);
    body.write(Buffer.alloc(10));
    setTimeout(() => body.destroy(new Error('producer died')), 5);
    await expect(done).rejects.toThrow('producer died');
    expect(f.commits).toEqual([]);
  });

  test('an aborted signal ends a wait for data at once, with the reason; nothing is committed', async () => {
    const f = fake();
    const ac = new AbortController();
    const body = new PassThrough();
    const done = uploadBlocks(body, { ...f.o, signal: ac.signal });
    body.write(Buffer.alloc(6));
    setTimeout(() => ac.abort(new Error('job cancelled')), 5);
    await expect(done).rejects.toThrow('job cancelled');
    expect(f.commits).toEqual([]);
  });

  test('more blocks than the store allows: a clear STORAGE error naming the limit, nothing committed', async () => {
    const f = fake({ maxBlocks: 2 });
    const err = await uploadBlocks(Readable.from([Buffer.alloc(12)]), f.o).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as Error).message).toContain('more than 2 blocks');
    expect(f.commits).toEqual([]);
  });
});
