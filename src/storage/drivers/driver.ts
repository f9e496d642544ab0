/**
 * What a store driver is, beyond the `Storage` the jobs use: its name (the STORAGE value), its
 * limits, and its own reading of its errors. The RetryStorage wrapper (../retry.ts) holds the
 * retry POLICY and asks the driver whether an error is worth another attempt; the driver retries
 * the parts of its own streamed uploads (only it can: it buffered them), with that same policy
 * and log line, handed to it at creation (`DriverDeps`).
 *
 * Streamed, parted uploads: `put(key, Readable)` cuts the body into parts of at most
 * `limits.maxPartSize` (at least `minPartSize` but the last), no more than `limits.maxParts` of
 * them, keeps memory bounded (about part size x concurrency), retries a failed part while the
 * stream goes on, and makes the object visible only when the body ended normally (see the
 * contract in ../storage.ts). A driver without parts (the file store) writes through and
 * publishes by rename.
 *
 * A new driver is one file here plus one line in ./index.ts (and its STORAGE value and keys in
 * config/schema.ts); test/helpers/storage-contract.ts is the suite it must pass.
 */
import type { Config } from '../../config/load.js';
import type { RetryEvent, RetryPolicy } from '../retry.js';
import type { Storage } from '../storage.js';
import type { DriverLimits } from './limits.js';
import type { ErrorClass } from './net-errors.js';

export type { DriverLimits } from './limits.js';
export type { ErrorClass } from './net-errors.js';

export interface StorageDriver extends Storage {
  /** The STORAGE value that selects it: 'file', 's3'. */
  readonly name: string;
  readonly limits: DriverLimits;
  /**
   * Pure: what an error from this driver (or wrapping one of its errors) means. 'transient' may
   * pass on retry; 'not-found' is an answer (head: null, get: `notFound()`); 'permanent' fails
   * at once with the driver's what-to-check message.
   */
  classify(error: unknown): ErrorClass;
}

/** What a driver gets besides its configuration. */
export interface DriverDeps {
  /** The policy for the requests the driver retries itself (parts of streamed uploads). */
  retry: RetryPolicy;
  /** Told of each such retry: the caller logs it with `logRetry`, as the wrapper does its own. */
  onRetry?: (ev: RetryEvent) => void;
}

export function isStorageDriver(s: Storage): s is StorageDriver {
  return typeof (s as Partial<StorageDriver>).classify === 'function' && typeof (s as Partial<StorageDriver>).name === 'string';
}

/** One line of the registry (./index.ts): what a STORAGE value can hold and how to build it. */
export interface DriverEntry {
  readonly limits: DriverLimits;
  create(config: Config, deps: DriverDeps): StorageDriver;
}
