/**
 * Which store a command works on: the primary (STORAGE, STORAGE_PATH, S3_*, AWS_*) or the second
 * store (the same keys under COPY_). Pure: the copy is the configuration with the primary's store
 * keys replaced by the COPY_ ones, so every driver, every command and the store lock work on it
 * unchanged (`--store copy` of list/restore/verify/prune; the copy step after each backup).
 * A driver that gains keys (Azure, GCS) adds its pairs to COPY_KEY_PAIRS.
 */
import type { Config } from '../config/load.js';
import type { ConfigKey, StorageKind } from '../config/schema.js';
import { BackupmateError } from '../domain/errors.js';

export type StoreName = 'primary' | 'copy';

/** [primary key, copy key]: the copy's value replaces the primary's. */
export const COPY_KEY_PAIRS: readonly (readonly [ConfigKey, ConfigKey])[] = [
  ['STORAGE_PATH', 'COPY_STORAGE_PATH'],
  ['S3_BUCKET_NAME', 'COPY_S3_BUCKET_NAME'],
  ['AWS_ACCESS_KEY_ID', 'COPY_AWS_ACCESS_KEY_ID'],
  ['AWS_SECRET_ACCESS_KEY', 'COPY_AWS_SECRET_ACCESS_KEY'],
  ['AWS_SESSION_TOKEN', 'COPY_AWS_SESSION_TOKEN'],
  ['S3_ENDPOINT', 'COPY_S3_ENDPOINT'],
  ['S3_FORCE_PATH_STYLE', 'COPY_S3_FORCE_PATH_STYLE'],
  ['S3_SSE', 'COPY_S3_SSE'],
  ['S3_SSE_KMS_KEY_ID', 'COPY_S3_SSE_KMS_KEY_ID'],
  ['S3_STORAGE_CLASS', 'COPY_S3_STORAGE_CLASS'],
  ['S3_OBJECT_LOCK_MODE', 'COPY_S3_OBJECT_LOCK_MODE'],
  ['S3_OBJECT_LOCK_DAYS', 'COPY_S3_OBJECT_LOCK_DAYS'],
];

/** The configuration as seen by the second store, or null when COPY_STORAGE is empty. */
export function copyConfig(c: Config): Config | null {
  if (c.COPY_STORAGE === '') return null;
  const out: Record<string, unknown> = { ...c, STORAGE: c.COPY_STORAGE as StorageKind };
  for (const [primary, copy] of COPY_KEY_PAIRS) out[primary] = c[copy];
  // Empty COPY_AWS_REGION: the copy's bucket is in the primary's region.
  out.AWS_REGION = c.COPY_AWS_REGION || c.AWS_REGION;
  return out as Config;
}

/** `--store NAME` (default primary): the configuration of that store, or a USAGE error. */
export function storeConfig(c: Config, store: string | undefined): Config {
  if (store === undefined || store === 'primary') return c;
  if (store !== 'copy') throw new BackupmateError('USAGE', `--store: expected primary or copy, got "${store}"`);
  const copy = copyConfig(c);
  if (!copy) throw new BackupmateError('USAGE', '--store copy: no second store is configured (set COPY_STORAGE and its COPY_ keys)');
  return copy;
}
