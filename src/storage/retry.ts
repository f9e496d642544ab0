/**
 * Retries for storage operations: one wrapper around any driver (restic's retry backend), so no
 * caller retries anything itself and every retry is decided, delayed and logged the same way.
 *
 * Who retries what (each request is tried at most RETRY_ATTEMPTS times, never attempts²):
 * - This wrapper retries every operation that can be replayed whole: `put(key, Buffer)`, `get`
 *   (only the request that opens the stream: a failure mid-body reaches the caller, and restore
 *   re-verifies every volume's sha256 anyway), `head`, `list`, `delete` (missing keys are not an
 *   error, so repeating it is harmless). The S3 driver sends these with a client that makes ONE
 *   attempt per request.
 * - `put(key, Readable)` is passed through ONCE: a consumed stream cannot be replayed. Inside it
 *   the S3 driver's upload client retries each request of the multipart upload on its own
 *   (CreateMultipartUpload, every UploadPart -- whose body is a buffered part -- and
 *   CompleteMultipartUpload) with the same policy, classification and log line (see
 *   drivers/s3.ts), so a failed part is sent again while the stream goes on. The file driver's streamed put is not
 *   retried (a local write that fails midway has nothing to resend).
 *
 * Backoff: exponential with EQUAL jitter (AWS architecture blog, "Exponential Backoff And
 * Jitter"): before retry n the ceiling is c = min(max, base * 2^(n-1)) and the delay is
 * c/2 + random(0, c/2). Not full jitter (random(0, c)): that can draw ~0 several times in a row,
 * so a request could use all its attempts within a second and a store that blinks fails the
 * backup. With half of every delay fixed, `retryWindow` gives a GUARANTEED minimum wait before
 * giving up (the outage a request surely rides out) and the maximum (how long a dead store can
 * hold a request), which the defaults are sized by (see RETRY_* in config/schema.ts).
 *
 * Not-found is an answer, not a failure: `head` returns null and `get` rejects with `notFound()`
 * at once. Permanent errors (credentials, missing bucket, bad request, no space...) fail at once
 * with the driver's what-to-check message.
 *
 * This file is the POLICY only (attempts, backoff, jitter, the window they give). Which errors
 * are transient is the driver's knowledge: the wrapper asks `driver.classify(error)` (see
 * drivers/driver.ts); S3 names live in drivers/s3.ts, errno codes in drivers/net-errors.ts.
 */
import type { Readable } from 'node:stream';
import type { StoredObject } from '../domain/catalog.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import { isStorageDriver } from './drivers/driver.js';
import { classifyChain, type ErrorClass } from './drivers/net-errors.js';
import { isNotFound, type PutOptions, type Storage } from './storage.js';

export type { ErrorClass } from './drivers/net-errors.js';

export interface RetryPolicy {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** One retry about to happen: `attempt` (1-based) failed, attempt `attempt + 1` follows after `delayMs`. */
export interface RetryEvent {
  /** `put`, `get`, `head`, `list`, `delete`, or the S3 command inside a streamed put (`UploadPart`...). */
  operation: string;
  key: string;
  /** Multipart part number, for UploadPart. */
  part?: number;
  attempt: number;
  attempts: number;
  delayMs: number;
  /** The failure, one line, no secrets (driver messages carry none; the logger redacts anyway). */
  cause: string;
}

/** What a retry log line is written to: a winston Logger fits. */
export interface RetryLog {
  warn(message: string, meta: Record<string, unknown>): unknown;
}

/** The one log line per retry, shared by the wrapper and the S3 driver's upload retries. */
export function logRetry(log: RetryLog, ev: RetryEvent): void {
  const what = ev.part !== undefined ? `${ev.operation} ${ev.key} part ${ev.part}` : `${ev.operation} ${ev.key}`;
  log.warn(`storage ${what} failed (attempt ${ev.attempt} of ${ev.attempts}): ${ev.cause}; retrying in ${ev.delayMs} ms`, {
    event: 'storage.retry',
    ...ev,
  });
}

/** Upper bound of the delay before retry number `attempt` (1 = the first retry): min(max, base·2^(attempt-1)). */
export function backoffCeiling(policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, attempt: number): number {
  const exp = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1);
  return Math.max(0, Math.min(policy.maxDelayMs, exp));
}

/** The fixed half of the delay before retry `attempt`: ceil(backoffCeiling / 2). */
export function backoffFloor(policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, attempt: number): number {
  return Math.ceil(backoffCeiling(policy, attempt) / 2);
}

/** Equal jitter: a uniformly random delay in [backoffFloor, backoffCeiling]; `random` returns [0, 1). */
export function backoffDelay(policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, attempt: number, random: () => number = Math.random): number {
  const r = Math.min(1, Math.max(0, random()));
  const floor = backoffFloor(policy, attempt);
  return floor + Math.round(r * (backoffCeiling(policy, attempt) - floor));
}

/**
 * Pure: how long one request waits in all between its first and its last attempt, at least and
 * at most (the sum of the floors and of the ceilings of its `attempts - 1` delays). `minWaitMs`
 * is the outage a request surely rides out: a store back within it is reached again; `maxWaitMs`
 * bounds how long a dead store holds a request before it gives up. Neither counts the attempts'
 * own time (instant when a connection is refused; up to S3_REQUEST_TIMEOUT_MS when one stalls).
 */
export function retryWindow(policy: RetryPolicy): { minWaitMs: number; maxWaitMs: number } {
  let minWaitMs = 0;
  let maxWaitMs = 0;
  for (let retry = 1; retry < policy.attempts; retry++) {
    minWaitMs += backoffFloor(policy, retry);
    maxWaitMs += backoffCeiling(policy, retry);
  }
  return { minWaitMs, maxWaitMs };
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Waits `ms`; an aborted signal ends the wait at once with its reason. */
export const abortableSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export interface RetryOptions extends RetryPolicy {
  log: RetryLog;
  /** Told of every retry after it is logged (metrics count them: app/wiring.ts). Must not throw. */
  onRetry?: (ev: RetryEvent) => void;
  /**
   * What an error means. Default: the driver's own `classify` when `inner` is a StorageDriver,
   * else the shared reading (our errors, HTTP status, errno codes) of drivers/net-errors.ts.
   */
  classify?: (error: unknown) => ErrorClass;
  /** Injectable for tests. */
  sleep?: Sleep;
  /** Injectable for tests: [0, 1). */
  random?: () => number;
}

export class RetryStorage implements Storage {
  readonly description: string;
  /** Present exactly when the driver has them (callers feature-test), retried like the rest. */
  readonly listUnfinished?: Storage['listUnfinished'];
  readonly abortUnfinished?: Storage['abortUnfinished'];
  readonly putIfAbsent?: Storage['putIfAbsent'];
  /** The classification the retries follow (see RetryOptions.classify). */
  readonly classify: (error: unknown) => ErrorClass;

  constructor(
    readonly inner: Storage,
    private readonly opts: RetryOptions,
  ) {
    if (!Number.isInteger(opts.attempts) || opts.attempts < 1) throw new BackupmateError('INTERNAL', `retry attempts must be >= 1, got ${opts.attempts}`);
    this.description = inner.description;
    this.classify = opts.classify ?? (isStorageDriver(inner) ? (e) => inner.classify(e) : (e) => classifyChain(e));
    const { listUnfinished, abortUnfinished } = inner;
    if (listUnfinished) this.listUnfinished = (prefix) => this.run('listUnfinished', prefix, () => listUnfinished.call(inner, prefix));
    if (abortUnfinished) this.abortUnfinished = (u) => this.run('abortUnfinished', u.key, () => abortUnfinished.call(inner, u));
    // A retried create whose first attempt did land answers "exists": the lock then reads the
    // object and finds its own nonce in it (storage/lock.ts), so a retry is safe here.
    const { putIfAbsent } = inner;
    if (putIfAbsent) this.putIfAbsent = (key, body) => this.run('putIfAbsent', key, () => putIfAbsent.call(inner, key, body));
  }

  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void> {
    // A stream cannot be replayed: one attempt here, the driver retries what it buffered (parts).
    if (!Buffer.isBuffer(body)) return this.inner.put(key, body, options);
    return this.run('put', key, () => this.inner.put(key, body, options), options?.signal);
  }

  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable> {
    return this.run('get', key, () => this.inner.get(key, options), options?.signal);
  }

  head(key: string): Promise<{ size: number } | null> {
    return this.run('head', key, () => this.inner.head(key));
  }

  list(prefix: string): Promise<StoredObject[]> {
    return this.run('list', prefix, () => this.inner.list(prefix));
  }

  delete(keys: readonly string[]): Promise<void> {
    if (!keys.length) return this.inner.delete(keys);
    const label = keys.length === 1 ? keys[0] : `${keys[0]} (and ${keys.length - 1} more)`;
    return this.run('delete', label, () => this.inner.delete(keys));
  }

  private async run<T>(operation: string, key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const { attempts } = this.opts;
    const sleep = this.opts.sleep ?? abortableSleep;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (isNotFound(e) || signal?.aborted || this.classify(e) !== 'transient') throw e;
        if (attempt >= attempts) throw gaveUp(e, attempt);
        const delayMs = backoffDelay(this.opts, attempt, this.opts.random);
        const ev: RetryEvent = { operation, key, attempt, attempts, delayMs, cause: errorText(e) };
        logRetry(this.opts.log, ev);
        this.opts.onRetry?.(ev);
        await sleep(delayMs, signal);
      }
    }
  }
}

/** The last transient error, saying that retries were exhausted (only when there was more than one attempt). */
function gaveUp(e: unknown, attempts: number): unknown {
  if (attempts <= 1 || !(e instanceof BackupmateError)) return e;
  return new BackupmateError(e.code, `${e.message} (gave up after ${attempts} attempts)`, { ...e.details, attempts }, { cause: e });
}
