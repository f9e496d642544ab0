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
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import type { StoredObject } from '../domain/catalog.js';
import { BackupmateError } from '../domain/errors.js';
import { checkKey, notFound, type PutOptions, type Storage } from './storage.js';

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
}

export class S3Storage implements Storage {
  readonly description: string;
  private readonly client: S3Client;

  constructor(private readonly opts: S3StorageOptions) {
    this.description = `s3://${opts.bucket}` + (opts.endpoint ? ` (${opts.endpoint})` : ` (${opts.region})`);
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
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
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    checkKey(key);
    const signal = options.signal;
    if (signal?.aborted) throw signal.reason;
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.opts.bucket, Key: key, Body: body },
      partSize: this.opts.partSize,
      queueSize: this.opts.queueSize,
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort();
    signal?.addEventListener('abort', abort, { once: true });
    // An erroring body must never let the upload complete.
    if (!Buffer.isBuffer(body)) body.once('error', abort);
    try {
      await upload.done();
      if (signal?.aborted) {
        // Completed in the same tick the job failed: the object must not survive.
        await this.delete([key]);
        throw signal.reason;
      }
    } catch (e) {
      await this.abortMultipart(key, (upload as unknown as { uploadId?: string }).uploadId);
      throw this.wrap(e, `uploading ${key}`);
    } finally {
      signal?.removeEventListener('abort', abort);
      if (!Buffer.isBuffer(body)) body.off('error', abort);
    }
  }

  /** Best effort: some servers (s3rver) cannot abort; the missing manifest keeps such leftovers invalid. */
  private async abortMultipart(key: string, uploadId: string | undefined): Promise<void> {
    if (!uploadId) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: key, UploadId: uploadId }));
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

  async delete(keys: readonly string[]): Promise<void> {
    // One request per key: DeleteObjects needs Content-MD5, which not every S3-compatible server
    // accepts in the SDK's default checksum mode; backups have few objects each.
    for (const key of keys) {
      checkKey(key);
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      } catch (e) {
        if (!isS3NotFound(e)) throw this.wrap(e, `deleting ${key}`);
      }
    }
  }

  /** Turns SDK errors into one line that says what to check. */
  private wrap(e: unknown, doing: string): unknown {
    if (e instanceof BackupmateError) return e;
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
    if (err?.name === 'AbortError') return e;
    const status = err?.$metadata?.httpStatusCode;
    let hint = '';
    if (status === 403 || err?.name === 'InvalidAccessKeyId' || err?.name === 'SignatureDoesNotMatch') {
      hint = '; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy';
    } else if (err?.name === 'NoSuchBucket') {
      hint = `; check S3_BUCKET_NAME (bucket "${this.opts.bucket}" does not exist)`;
    } else if (status === 301 || err?.name === 'PermanentRedirect' || err?.name === 'AuthorizationHeaderMalformed') {
      hint = '; check AWS_REGION';
    } else if (err?.code === 'ECONNREFUSED' || err?.code === 'ENOTFOUND' || err?.name === 'TimeoutError') {
      hint = '; check S3_ENDPOINT and the network';
    }
    return new BackupmateError(
      'STORAGE',
      `${doing} on ${this.description} failed: ${err?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err?.message ?? String(e)}${hint}`,
      { httpStatus: status },
      { cause: e },
    );
  }
}

function isS3NotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (err?.name === "NoSuchBucket") return false;
  return err?.name === "NoSuchKey" || err?.name === "NotFound" || err?.$metadata?.httpStatusCode === 404;
}
