/**
 * S3 store: AWS S3 and S3-compatible servers (MinIO, Ceph, s3rver in tests).
 *
 * Lessons from mature tools, applied here:
 * - Object size: lib-storage's default 5 MiB part x 10,000 parts caps an object at ~48.8 GiB.
 *   We use a larger part (S3_PART_SIZE, default 16 MiB) AND cut the stream into volumes
 *   (VOLUME_SIZE <= part size x 10,000, checked by the config), so backup size is unbounded while
 *   memory stays ~ partSize x queueSize.
 * - Truncation: if a producer dies, lib-storage completes the upload with whatever it got. Callers
 *   end the body only after every upstream stage succeeded (see archive/volumes.ts); on any
 *   failure the body errors or the signal aborts, and we abort the multipart upload here, also
 *   sending AbortMultipartUpload ourselves because `Upload.abort()` only races the promise.
 * - Checksums: a streaming body with the SDK's default checksum mode is sent `aws-chunked`, which
 *   some S3-compatible servers store verbatim. `WHEN_REQUIRED` avoids that; integrity comes from
 *   our own sha256 per volume, recorded in the manifest.
 * - Retries (see retry.ts for the whole picture): two clients share one configuration.
 *   `client` makes ONE attempt per request; the RetryStorage wrapper retries whole operations
 *   (get/head/list/delete, put of a Buffer). `uploadClient` serves only streamed puts, which the
 *   wrapper cannot replay: its retry strategy (S3RetryStrategy below) retries each request of the
 *   multipart upload on its own -- an UploadPart body is a buffered part, so the part is sent
 *   again while the stream goes on -- with the same attempts, equal-jitter backoff, `classifyS3`
 *   and 'storage.retry' log line as the wrapper. So no request is tried more than RETRY_ATTEMPTS
 *   times, and none attempts² times.
 * - The cause of a failed streamed put: when one part gives up, lib-storage lets the other parts
 *   go on and, once aborted, rejects with its own "Upload aborted.", losing the part's error. A
 *   middleware outside the retry loop hands each request's final error to its put, which aborts
 *   the upload at once and rejects with THAT error (STORAGE, endpoint, errno, attempts).
 * - Errors: `classifyS3` below reads S3 error names and HTTP statuses (on top of the shared errno
 *   tables in net-errors.ts); RetryStorage asks `S3Storage.classify`, the upload client's retry
 *   strategy uses the same function. Limits: S3_LIMITS (limits.ts, dependency-free for config).
 * - Timeouts: `connectionTimeout` bounds connecting, `socketTimeout` bounds silence on an open
 *   request (no response, or a stalled body): both S3_REQUEST_TIMEOUT_MS. Not `requestTimeout`:
 *   in this SDK it is a deadline on the whole request (only a warning unless opted in) that would
 *   cut off a slow but progressing upload of a large part.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
  type S3ClientConfig,
  type ObjectLockMode,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import type { StoredObject } from '../../domain/catalog.js';
import { BackupmateError } from '../../domain/errors.js';
import { backoffDelay, type RetryEvent, type RetryPolicy } from '../retry.js';
import { checkKey, notFound, type PutOptions, type UnfinishedUpload } from '../storage.js';
import type { DriverEntry, StorageDriver } from './driver.js';
import { S3_LIMITS } from './limits.js';
import { classifyChain, errnoClass, httpStatusClass, isAbortError, UNREACHABLE_ERRNO, type ErrorClass } from './net-errors.js';

/** The default of S3_REQUEST_TIMEOUT_MS. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/** S3 error names (service codes) that mean "try again". S3's RequestTimeout is a 400 but transient. */
const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'SlowDownRead',
  'SlowDownWrite',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ConditionalRequestConflict',
]);

/** S3 error names that no retry can fix. */
const PERMANENT_NAMES = new Set([
  'AbortError',
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
  'RequestTimeTooSkewed',
  'NoSuchBucket',
  'NoSuchUpload',
  'InvalidBucketName',
  'PermanentRedirect',
  'InvalidArgument',
  'InvalidRequest',
  'InvalidPart',
  'InvalidPartOrder',
  'EntityTooLarge',
  'EntityTooSmall',
  'MalformedXML',
  'CredentialsProviderError',
  'NotImplemented',
]);

/** An object (not a bucket) that is not there: NoSuchKey, HEAD's bare NotFound, any other 404. */
export function isS3NotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (err?.name === 'NoSuchBucket') return false;
  return err?.name === 'NoSuchKey' || err?.name === 'NotFound' || err?.$metadata?.httpStatusCode === 404;
}

interface SdkErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function classifyS3One(o: object): ErrorClass | undefined {
  const e = o as SdkErrorLike;
  const name = typeof e.name === 'string' ? e.name : '';
  if (PERMANENT_NAMES.has(name)) return 'permanent';
  if (TRANSIENT_NAMES.has(name)) return 'transient';
  if (isS3NotFound(e)) return 'not-found';
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status > 0) return httpStatusClass(status);
  const errno = errnoClass(e.code);
  if (errno) return errno;
  if (typeof e.message === 'string' && /socket hang up|ECONNRESET|EPIPE/i.test(e.message)) return 'transient';
  if (e.$retryable) return 'transient';
  return undefined;
}

/**
 * Pure: what an S3 driver error means. Transient: HTTP 5xx, 429 and throttling (SlowDown), S3's
 * RequestTimeout, connection reset/refused, broken pipe, socket hang up, timeouts, errors the
 * SDK marks retryable. Not found: NoSuchKey / 404 of an object, and our own `notFound()`.
 * Permanent: everything else, notably 4xx (403 AccessDenied, InvalidAccessKeyId,
 * SignatureDoesNotMatch, 404 NoSuchBucket, 400), 501, cancellations (AbortError), and any error
 * we do not recognise. Looks through `cause` (the driver wraps SDK errors in BackupmateError).
 */
export function classifyS3(error: unknown): ErrorClass {
  return classifyChain(error, classifyS3One);
}

export interface S3StorageOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  partSize: number;
  queueSize: number;
  /**
   * Retries of the requests inside a streamed put, the only ones this driver retries itself
   * (everything else: wrap the driver in RetryStorage). Absent: one attempt per request.
   */
  uploadRetry?: RetryPolicy & { onRetry?: (ev: RetryEvent) => void; random?: () => number };
  /** Connect timeout and longest silence on an open request, ms (S3_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** S3_SSE: server-side encryption requested for every object ('' or absent = the bucket's default). */
  sse?: '' | 'AES256' | 'aws:kms';
  /** S3_SSE_KMS_KEY_ID: the KMS key for sse 'aws:kms' ('' or absent = the account's aws/s3 key). */
  sseKmsKeyId?: string;
  /** S3_STORAGE_CLASS for backup volumes ('' or absent = STANDARD, the bucket's default). */
  storageClass?: string;
  /**
   * S3_OBJECT_LOCK_MODE/DAYS: every object but the store lock's gets this retention, counted from
   * its upload. The bucket must have Object Lock enabled (`objectLockEnabled`).
   */
  objectLock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number } | null;
}

/**
 * The fixed parameters of a put (everything but the body): bucket and key, server-side
 * encryption on every object, the storage class on data objects only. Metadata (manifest.json,
 * SHA256SUMS) stays STANDARD: every command reads it (list, planning, prune, the restore's chain
 * checks), which an archive class such as GLACIER would forbid, and IA classes bill small objects
 * as 128 KiB each.
 */
export function putParams(
  opts: Pick<S3StorageOptions, 'bucket' | 'sse' | 'sseKmsKeyId' | 'storageClass' | 'objectLock'>,
  key: string,
  role: 'data' | 'metadata' | 'lock' = 'data',
  now: Date = new Date(),
): Omit<PutObjectCommandInput, 'Body'> {
  const params: Omit<PutObjectCommandInput, 'Body'> = { Bucket: opts.bucket, Key: key };
  if (opts.sse) {
    params.ServerSideEncryption = opts.sse as ServerSideEncryption;
    if (opts.sse === 'aws:kms' && opts.sseKmsKeyId) params.SSEKMSKeyId = opts.sseKmsKeyId;
  }
  if (opts.storageClass && role === 'data') params.StorageClass = opts.storageClass as StorageClass;
  // The store lock is rewritten and deleted while young: it must stay mutable.
  if (opts.objectLock && role !== 'lock') {
    params.ObjectLockMode = opts.objectLock.mode as ObjectLockMode;
    params.ObjectLockRetainUntilDate = new Date(now.getTime() + opts.objectLock.days * 86_400_000);
  }
  return params;
}

/** Which request an SDK error came from: the SDK's retry strategy is not told, so a middleware records it. */
interface RequestInfo {
  operation: string;
  key: string;
  part?: number;
}

type SdkRetryStrategy = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { refreshRetryTokenForRetry: unknown }>;
type SdkRetryToken = Awaited<ReturnType<SdkRetryStrategy['acquireInitialRetryToken']>>;
type SdkRetryErrorInfo = Parameters<SdkRetryStrategy['refreshRetryTokenForRetry']>[1];

const retryToken = (retryCount: number, delayMs: number): SdkRetryToken => ({
  getRetryCount: () => retryCount,
  getRetryDelay: () => delayMs,
});

/**
 * The SDK's retry strategy for streamed uploads: the wrapper's policy and classification,
 * applied per request. No retry quota (the SDK's default token bucket would stop retrying parts
 * of a long upload after enough failures, failing a backup for a hiccup).
 */
export class S3RetryStrategy implements SdkRetryStrategy {
  constructor(
    private readonly policy: RetryPolicy,
    private readonly onRetry: ((ev: RetryEvent) => void) | undefined,
    private readonly requestOf: (error: unknown) => RequestInfo | undefined,
    private readonly random: () => number = Math.random,
  ) {}

  async acquireInitialRetryToken(): Promise<SdkRetryToken> {
    return retryToken(0, 0);
  }

  async refreshRetryTokenForRetry(token: SdkRetryToken, info: SdkRetryErrorInfo): Promise<SdkRetryToken> {
    const attempt = token.getRetryCount() + 1; // the attempt that just failed
    const error = info.error;
    // Throwing ends the retries: the SDK then rejects with the request's own error.
    if (attempt >= this.policy.attempts || classifyS3(error) !== 'transient') throw error ?? new Error('no retry');
    const delayMs = backoffDelay(this.policy, attempt, this.random);
    const req = this.requestOf(error);
    this.onRetry?.({
      operation: req?.operation ?? 'request',
      key: req?.key ?? '',
      ...(req?.part !== undefined ? { part: req.part } : {}),
      attempt,
      attempts: this.policy.attempts,
      delayMs,
      cause: sdkErrorText(error),
    });
    return retryToken(attempt, delayMs);
  }

  recordSuccess(): void {}
}

/** `InternalError (HTTP 500): We encountered...`, `TimeoutError: socket hang up`... */
export function sdkErrorText(e: unknown): string {
  const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const status = err?.$metadata?.httpStatusCode;
  const code = err?.code && err.code !== err.name ? ` ${err.code}` : '';
  return `${err?.name ?? 'Error'}${code}${status ? ` (HTTP ${status})` : ''}: ${err?.message ?? String(e)}`;
}

export class S3Storage implements StorageDriver {
  readonly name = 's3';
  readonly limits = S3_LIMITS;
  readonly description: string;
  /** One attempt per request: RetryStorage retries these operations whole. */
  private readonly client: S3Client;
  /** Streamed puts only: retries each request of the upload (see the header). */
  private readonly uploadClient: S3Client;
  private readonly requests = new WeakMap<object, RequestInfo>();
  /**
   * Streamed puts in progress, by key: told the final error (after its retries) of any request of
   * that upload. lib-storage keeps the other parts going after one part gave up and then loses
   * that part's error to its own "Upload aborted." (see put), so the driver records it itself.
   */
  private readonly uploadFailures = new Map<string, (error: unknown) => void>();

  constructor(private readonly opts: S3StorageOptions) {
    this.description = `s3://${opts.bucket}` + (opts.endpoint ? ` (${opts.endpoint})` : ` (${opts.region})`);
    const timeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      // S3 demands a checksum (Content-MD5 or x-amz-checksum-*) on every put with a retention
      // date: with Object Lock the SDK adds its CRC32 to each request it can.
      requestChecksumCalculation: opts.objectLock ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Options for the SDK's NodeHttpHandler (one per client).
      requestHandler: { connectionTimeout: timeout, socketTimeout: timeout },
      maxAttempts: 1,
    };
    if (opts.endpoint) config.endpoint = opts.endpoint;
    if (opts.accessKeyId && opts.secretAccessKey) {
      config.credentials = {
        accessKeyId: opts.accessKeyId,
        secretAccessKey: opts.secretAccessKey,
        ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}),
      };
    }
    this.client = new S3Client(config);
    const retry = opts.uploadRetry;
    this.uploadClient = new S3Client(
      retry
        ? {
            ...config,
            maxAttempts: retry.attempts,
            retryStrategy: new S3RetryStrategy(retry, retry.onRetry, (e) => (e && typeof e === 'object' ? this.requests.get(e) : undefined), retry.random),
          }
        : config,
    );
    // Streamed puts (backup volumes) are signed with UNSIGNED-PAYLOAD, as the AWS CLI signs its
    // uploads over HTTPS: otherwise the signer computes a second sha256 of every byte of every part
    // on the event loop (measured: ~0.45 s per GB stored, taken from the compressor on two cores).
    // The data's integrity is checked end to end by the volume sha256 in the manifest (restore,
    // verify) and in transit by TLS; small metadata puts (manifest, SHA256SUMS) stay signed.
    this.uploadClient.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request?.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'backupmateUnsignedPayload' },
    );
    // Runs OUTSIDE the retry loop (initialize step), once per request: its error is the final one,
    // after every attempt (`$metadata.attempts`), and goes to the streamed put of that key.
    this.uploadClient.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (e) {
          const key = (args.input as { Key?: string }).Key;
          if (key !== undefined) this.uploadFailures.get(key)?.(e);
          throw e;
        }
      },
      { step: 'initialize', name: 'backupmateUploadFailure' },
    );
    if (retry) {
      // Runs inside the retry loop (deserialize step), once per attempt: remembers which request
      // an error came from, for the retry log line.
      this.uploadClient.middlewareStack.add(
        (next, context) => async (args) => {
          try {
            return await next(args);
          } catch (e) {
            if (e && typeof e === 'object') {
              const input = args.input as { Key?: string; PartNumber?: number };
              this.requests.set(e, { operation: (context.commandName ?? 'request').replace(/Command$/, ''), key: input.Key ?? '', part: input.PartNumber });
            }
            throw e;
          }
        },
        { step: 'deserialize', priority: 'high', name: 'backupmateRequestInfo' },
      );
    }
  }

  classify(error: unknown): ErrorClass {
    return classifyS3(error);
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    checkKey(key);
    const signal = options.signal;
    if (signal?.aborted) throw signal.reason;
    // A Buffer is retried whole by RetryStorage: one attempt per request here. A stream cannot be
    // replayed: the upload client retries each of its requests (parts) instead.
    const client = Buffer.isBuffer(body) ? this.client : this.uploadClient;
    const upload = new Upload({
      client,
      params: { ...putParams(this.opts, key, options.role), Body: body },
      partSize: this.opts.partSize,
      queueSize: this.opts.queueSize,
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort();
    signal?.addEventListener('abort', abort, { once: true });
    // An erroring body must never let the upload complete.
    if (!Buffer.isBuffer(body)) body.once('error', abort);
    // The root cause of a failed streamed upload: the first request that failed for good (a part
    // after all its attempts), unless the job had already stopped us (then it is a consequence).
    // When one part gives up, lib-storage lets the other parts go on, ends the body's iteration
    // (which destroys the body under the writer) and, once aborted, rejects with "Upload aborted.",
    // dropping the part's error. So the first final failure aborts the whole upload at once (no
    // point sending parts of an upload that cannot complete) and is what this put rejects with.
    let failure: unknown;
    if (!Buffer.isBuffer(body)) {
      this.uploadFailures.set(key, (e) => {
        if (failure !== undefined || signal?.aborted || isAbortError(e)) return;
        failure = e;
        abort();
      });
    }
    try {
      await upload.done();
      if (failure !== undefined) throw failure;
      if (signal?.aborted) {
        // Completed in the same tick the job failed: the object must not survive.
        await this.deleteWith(client, [key]);
        throw signal.reason;
      }
    } catch (e) {
      // Best effort and ONE attempt: after a failure the store is likely down, and retrying this
      // would delay the report of the real cause by a whole retry window.
      await this.abortMultipart(this.client, key, (upload as unknown as { uploadId?: string }).uploadId);
      throw this.wrap(failure ?? e, `uploading ${key}`);
    } finally {
      if (!Buffer.isBuffer(body)) this.uploadFailures.delete(key);
      signal?.removeEventListener('abort', abort);
      if (!Buffer.isBuffer(body)) body.off('error', abort);
    }
  }

  /**
   * Create-if-absent with `If-None-Match: *` (AWS S3 since August 2024, MinIO, Ceph recent):
   * 412 PreconditionFailed = the key exists. Servers that ignore the header (s3rver) overwrite
   * and answer 200: storage/lock.ts probes for that before it relies on this. 409
   * ConditionalRequestConflict (a concurrent create in flight) reads as transient (retried).
   */
  async putIfAbsent(key: string, body: Buffer): Promise<boolean> {
    checkKey(key);
    try {
      await this.client.send(new PutObjectCommand({ ...putParams(this.opts, key, 'lock'), Body: body, IfNoneMatch: '*' }));
      return true;
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (err?.name === 'PreconditionFailed' || err?.$metadata?.httpStatusCode === 412) return false;
      throw this.wrap(e, `creating ${key}`);
    }
  }

  /**
   * Whether the bucket has Object Lock enabled (GetObjectLockConfiguration), for `config check`:
   * 'enabled', 'disabled', or why it could not be told (a server without the API, no permission).
   */
  async objectLockStatus(): Promise<{ state: 'enabled' | 'disabled' } | { state: 'unknown'; why: string }> {
    try {
      const out = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.opts.bucket }));
      return { state: out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled' ? 'enabled' : 'disabled' };
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'ObjectLockConfigurationNotFoundError') return { state: 'disabled' };
      return { state: 'unknown', why: sdkErrorText(e) };
    }
  }

  /** Best effort: some servers (s3rver) cannot abort; the missing manifest keeps such leftovers invalid. */
  private async abortMultipart(client: S3Client, key: string, uploadId: string | undefined): Promise<void> {
    if (!uploadId) return;
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: key, UploadId: uploadId }));
    } catch {
      /* tolerated: leftover parts are cleaned by the store's lifecycle rules or the next cleanup */
    }
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    checkKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }), { abortSignal: options.signal });
      const body = out.Body;
      if (!(body instanceof Readable)) throw new BackupmateError('STORAGE', `unexpected body type for ${key}`);
      return body;
    } catch (e) {
      if (isS3NotFound(e)) throw notFound(this, key);
      throw this.wrap(e, `downloading ${key}`);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    checkKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      return { size: out.ContentLength ?? 0 };
    } catch (e) {
      if (isS3NotFound(e)) return null;
      throw this.wrap(e, `checking ${key}`);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.wrap(e, `listing ${prefix}`);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Multipart uploads never completed nor aborted (a killed process): they cost storage until aborted. */
  async listUnfinished(prefix: string): Promise<UnfinishedUpload[]> {
    const out: UnfinishedUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.opts.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        );
        for (const u of page.Uploads ?? []) {
          if (u.Key && u.UploadId) out.push({ key: u.Key, handle: u.UploadId, startedAt: u.Initiated ?? null });
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (e) {
      throw this.wrap(e, `listing unfinished multipart uploads under ${prefix}`);
    }
    return out;
  }

  async abortUnfinished(u: UnfinishedUpload): Promise<void> {
    checkKey(u.key);
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: u.key, UploadId: u.handle }));
    } catch (e) {
      if (!isS3NotFound(e)) throw this.wrap(e, `aborting the multipart upload of ${u.key}`);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    return this.deleteWith(this.client, keys);
  }

  private async deleteWith(client: S3Client, keys: readonly string[]): Promise<void> {
    // One request per key: DeleteObjects needs Content-MD5, which not every S3-compatible server
    // accepts in the SDK's default checksum mode; backups have few objects each.
    for (const key of keys) {
      checkKey(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      } catch (e) {
        if (!isS3NotFound(e)) throw this.wrap(e, `deleting ${key}`);
      }
    }
  }

  /** Turns SDK errors into one line that says what to check. */
  private wrap(e: unknown, doing: string): unknown {
    if (e instanceof BackupmateError) return e;
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; attempts?: number }; code?: string };
    if (err?.name === 'AbortError') return e;
    const status = err?.$metadata?.httpStatusCode;
    // Set by the SDK when its own retries (streamed puts) were used up.
    const tries = err?.$metadata?.attempts ?? 1;
    let hint = '';
    if (status === 403 || err?.name === 'InvalidAccessKeyId' || err?.name === 'SignatureDoesNotMatch') {
      hint = '; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy';
    } else if (err?.name === 'NoSuchBucket') {
      hint = `; check S3_BUCKET_NAME (bucket "${this.opts.bucket}" does not exist)`;
    } else if (status === 301 || err?.name === 'PermanentRedirect' || err?.name === 'AuthorizationHeaderMalformed') {
      hint = '; check AWS_REGION';
    } else if (UNREACHABLE_ERRNO.has(String(err?.code)) || err?.name === 'TimeoutError') {
      hint = "; check S3_ENDPOINT, the network and the store's status";
    }
    const errno = typeof err?.code === 'string' && err.code !== err.name ? err.code : undefined;
    return new BackupmateError(
      'STORAGE',
      `${doing} on ${this.description} failed: ${err?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err?.message ?? String(e)}${hint}` +
        (tries > 1 ? ` (gave up after ${tries} attempts)` : ''),
      {
        httpStatus: status,
        ...(errno ? { errno } : {}),
        ...(this.opts.endpoint ? { endpoint: this.opts.endpoint } : {}),
        ...(tries > 1 ? { attempts: tries } : {}),
      },
      { cause: e },
    );
  }
}

/** STORAGE=s3: the S3_* and AWS_* keys; the parts of streamed puts retried with the wrapper's policy. */
export const s3Driver: DriverEntry = {
  limits: S3_LIMITS,
  create: (c, deps) =>
    new S3Storage({
      bucket: c.S3_BUCKET_NAME,
      region: c.AWS_REGION,
      endpoint: c.S3_ENDPOINT || undefined,
      forcePathStyle: c.S3_FORCE_PATH_STYLE,
      accessKeyId: c.AWS_ACCESS_KEY_ID || undefined,
      secretAccessKey: c.AWS_SECRET_ACCESS_KEY || undefined,
      sessionToken: c.AWS_SESSION_TOKEN || undefined,
      partSize: c.S3_PART_SIZE,
      queueSize: c.S3_QUEUE_SIZE,
      uploadRetry: { ...deps.retry, onRetry: deps.onRetry },
      requestTimeoutMs: c.S3_REQUEST_TIMEOUT_MS,
      sse: c.S3_SSE,
      sseKmsKeyId: c.S3_SSE_KMS_KEY_ID,
      storageClass: c.S3_STORAGE_CLASS,
      objectLock: c.S3_OBJECT_LOCK_MODE ? { mode: c.S3_OBJECT_LOCK_MODE, days: c.S3_OBJECT_LOCK_DAYS } : null,
    }),
};
