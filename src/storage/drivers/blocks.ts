/**
 * Streamed upload as staged blocks (Azure block blobs: Put Block, then Put Block List): the body
 * is cut into blocks of `blockSize` bytes (the last may be shorter), at most `concurrency` of
 * them are in flight while the next one fills, so memory stays at about
 * blockSize x (concurrency + 1). Each block request is retried on its own (its body is a buffer)
 * with the wrapper's policy and log line; the block list is committed only after the body ENDED
 * normally and every block was staged, and it is the one request that makes the object exist.
 *
 * Who calls it: drivers/azure.ts for `put(key, Readable)`. The store side is injected
 * (`stage`, `commit`), so this file is pure logic over two functions and is unit-tested with
 * fakes; the round trip is the storage contract against Azurite.
 *
 * Failure: the body erroring, a block failing for good, the signal aborting, or more blocks than
 * the store allows: the blocks still in flight are aborted and awaited, nothing is committed,
 * and the upload rejects with the FIRST cause (a block's own error, not "aborted"). Staged but
 * uncommitted blocks are invisible to readers; the caller discards them (azure.ts) and Azure
 * garbage-collects any it could not discard after 7 days.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BackupmateError } from '../../domain/errors.js';
import { abortableSleep, backoffDelay, type RetryEvent, type RetryPolicy, type Sleep } from '../retry.js';
import { isAbortError, type ErrorClass } from './net-errors.js';

export interface BlockUploadOptions {
  key: string;
  blockSize: number;
  /** Blocks in flight at once (the filling one not counted). */
  concurrency: number;
  /** Most blocks one object may have (a body that needs more fails clearly, nothing committed). */
  maxBlocks: number;
  signal?: AbortSignal;
  /** Sends one block. `id` is the store's block id; `index` is 0-based. */
  stage(id: string, data: Buffer, index: number, signal: AbortSignal): Promise<void>;
  /** Makes the object: exactly the given blocks, in order (none = an empty object). */
  commit(ids: readonly string[], signal: AbortSignal): Promise<void>;
  /** Retries of each block and of the commit (absent: one attempt each). */
  retry?: RetryPolicy & { onRetry?: (ev: RetryEvent) => void; random?: () => number; sleep?: Sleep };
  classify(error: unknown): ErrorClass;
  /** One line for the retry log (no secrets). */
  describeError(error: unknown): string;
}

/**
 * Block ids of one upload: base64 of `<12 hex nonce>-<6-digit index>`. Azure requires all ids of
 * a blob to have the same length (and at most 64 bytes before encoding); the nonce keeps two
 * uploads of one key (a retried job, a racing writer) from committing each other's blocks.
 */
export function blockIds(nonce: string = randomBytes(6).toString('hex')): (index: number) => string {
  return (index) => Buffer.from(`${nonce}-${String(index).padStart(6, '0')}`).toString('base64');
}

export async function uploadBlocks(body: Readable, o: BlockUploadOptions): Promise<{ blocks: number; bytes: number }> {
  if (o.signal?.aborted) throw o.signal.reason;
  const inner = new AbortController();
  let failure: unknown;
  const fail = (e: unknown) => {
    if (failure === undefined) failure = e;
    inner.abort(e);
  };
  // The job's abort: stop reading (destroying the body ends a wait for data that may never come)
  // and abort every request in flight.
  const onAbort = () => {
    fail(o.signal!.reason);
    body.destroy();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const idOf = blockIds();
  const ids: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let bytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  const send = (data: Buffer) => {
    const index = ids.length;
    if (index >= o.maxBlocks) {
      throw new BackupmateError(
        'STORAGE',
        `uploading ${o.key}: the stream needs more than ${o.maxBlocks} blocks of ${data.length} bytes, the most one object may have; ` +
          'lower VOLUME_SIZE or raise the block size',
        { key: o.key },
      );
    }
    const id = idOf(index);
    ids.push(id);
    const p = attempt(o, 'StageBlock', index + 1, inner.signal, () => o.stage(id, data, index, inner.signal)).then(
      () => {
        inFlight.delete(p);
      },
      (e: unknown) => {
        inFlight.delete(p);
        fail(e);
      },
    );
    inFlight.add(p);
  };

  try {
    try {
      for await (const chunk of body) {
        if (failure !== undefined) break;
        let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        bytes += buf.length;
        while (buf.length > 0) {
          const take = Math.min(buf.length, o.blockSize - pendingBytes);
          pending.push(buf.subarray(0, take));
          pendingBytes += take;
          buf = buf.subarray(take);
          if (pendingBytes === o.blockSize) {
            // Bounded memory: wait for a slot before the next block may fill.
            while (inFlight.size >= o.concurrency && failure === undefined) await Promise.race(inFlight);
            if (failure !== undefined) break;
            send(Buffer.concat(pending, pendingBytes));
            pending = [];
            pendingBytes = 0;
          }
        }
      }
    } catch (e) {
      // The body errored (a stage upstream failed), or we destroyed it on abort.
      fail(o.signal?.aborted ? o.signal.reason : e);
    }
    if (failure === undefined && pendingBytes > 0) {
      while (inFlight.size >= o.concurrency && failure === undefined) await Promise.race(inFlight);
      if (failure === undefined) send(Buffer.concat(pending, pendingBytes));
    }
    pending = [];
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    await attempt(o, 'CommitBlockList', undefined, inner.signal, () => o.commit(ids, inner.signal));
    if (o.signal?.aborted) throw o.signal.reason;
    return { blocks: ids.length, bytes };
  } catch (e) {
    fail(e);
    await Promise.allSettled([...inFlight]);
    throw failure;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

const gaveUpAfter = new WeakMap<object, number>();

/** How many attempts a block or commit request made before it gave up with `error` (1 when not recorded). */
export function attemptsOf(error: unknown): number {
  return error !== null && typeof error === 'object' ? (gaveUpAfter.get(error) ?? 1) : 1;
}

/** One request with its retries: transient errors only, never after an abort. */
async function attempt(o: BlockUploadOptions, operation: string, part: number | undefined, signal: AbortSignal, fn: () => Promise<void>): Promise<void> {
  const attempts = o.retry?.attempts ?? 1;
  for (let n = 1; ; n++) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted || isAbortError(e) || o.classify(e) !== 'transient') throw e;
      if (n >= attempts) {
        if (n > 1 && e !== null && typeof e === 'object') gaveUpAfter.set(e, n);
        throw e;
      }
      const delayMs = backoffDelay(o.retry!, n, o.retry!.random);
      o.retry!.onRetry?.({ operation, key: o.key, ...(part !== undefined ? { part } : {}), attempt: n, attempts, delayMs, cause: o.describeError(e) });
      await (o.retry!.sleep ?? abortableSleep)(delayMs, signal);
    }
  }
}
