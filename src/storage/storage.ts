/**
 * The store: where backups live. One small interface, several drivers (drivers/: S3, local
 * filesystem; chosen by STORAGE in drivers/index.ts), one shared test suite
 * (test/helpers/storage-contract.ts, run in test/integration/storage.test.ts) that every driver
 * must pass. Jobs see only this interface, wrapped in RetryStorage (retry.ts); the driver side
 * (name, limits, error classification) is drivers/driver.ts.
 *
 * Contract every driver keeps:
 * - `put` streams a body of unknown length into one object with bounded memory. The object
 *   becomes visible only if the body ENDS normally and the signal was not aborted. If the body
 *   errors or the signal aborts, no object appears and any partial upload (S3 multipart, temp
 *   file) is removed. Callers rely on this to never leave a truncated object looking complete.
 * - `get` returns the object's bytes as a stream; a missing key rejects with `notFound()` (code
 *   BACKUP_NOT_FOUND, `details.notFound`), so callers can name exactly what is missing.
 * - Keys are `/`-separated relative paths; drivers refuse keys that escape their root.
 */
import type { Readable } from 'node:stream';
import type { StoredObject } from '../domain/catalog.js';
import { BackupmateError } from '../domain/errors.js';

export interface PutOptions {
  signal?: AbortSignal;
  /**
   * 'data' (default): backup volumes, the bulk. 'metadata': small objects every command reads
   * (manifest.json, SHA256SUMS). Drivers may store them differently: the S3 driver applies
   * S3_STORAGE_CLASS to data only, so a GLACIER class never makes manifests unreadable.
   * 'lock': the store lock's own object (storage/lock.ts), the one object rewritten in place and
   * deleted while young: it never gets an Object Lock retention date.
   */
  role?: 'data' | 'metadata' | 'lock';
}

export interface Storage {
  /** Human description for logs and errors, without secrets, e.g. `s3://bucket (http://127.0.0.1:9000)`. */
  readonly description: string;
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void>;
  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;
  /** Size of an object, or null when it does not exist. */
  head(key: string): Promise<{ size: number } | null>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Deletes the given keys; missing keys are not an error. The ONLY way anything is removed. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Uploads that were started and never finished (S3 multipart uploads, `.partial-` files of the
   * file store) under `prefix`, where the store can list them; left by killed processes.
   */
  listUnfinished?(prefix: string): Promise<UnfinishedUpload[]>;
  abortUnfinished?(u: UnfinishedUpload): Promise<void>;
  /**
   * Writes a small object only when no object has that key (S3 `If-None-Match: *`, the file store
   * by link(2)): true when this call created it, false when the key existed. Some S3-compatible
   * servers ignore the condition and overwrite: storage/lock.ts probes before relying on it.
   */
  putIfAbsent?(key: string, body: Buffer): Promise<boolean>;
}

export interface UnfinishedUpload {
  key: string;
  /** Driver-specific handle (multipart upload id, partial file name). */
  handle: string;
  startedAt: Date | null;
}

export function notFound(storage: Storage, key: string): BackupmateError {
  return new BackupmateError('BACKUP_NOT_FOUND', `object ${key} is missing from ${storage.description}`, { key, notFound: true });
}

export function isNotFound(e: unknown): boolean {
  return e instanceof BackupmateError && e.details.notFound === true;
}

/** Rejects keys that are empty, absolute, or climb out of the store's root. */
export function checkKey(key: string): void {
  if (!key || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.') || key.includes('\0')) {
    throw new BackupmateError('INTERNAL', `invalid storage key "${key}"`);
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
