/**
 * Which store a command works on: the primary (STORAGE, STORAGE_PATH, S3_*, AWS_*, AZURE_*,
 * GCS_*) or the second store (the same keys under COPY_). Pure: the copy is the configuration with
 * the primary's store keys replaced by the COPY_ ones, so every driver, every command and the
 * store lock work on it unchanged (`--store copy` of list/restore/verify/prune; the copy step after each backup).
 * A driver that gains keys adds its pairs to COPY_KEY_PAIRS (and COPY_ keys to the schema).
 */
import type { Config } from '../config/load.js';
import type { ConfigKey, StorageKind } from '../config/schema.js';
import { BackupmateError } from '../domain/errors.js';

export type StoreName = 'primary' | 'copy';

/**
 * [primary key, copy key]: the copy's value replaces the primary's, always (an empty COPY_ key
 * means the driver's default, e.g. the default credential chain, never the primary's value).
 * Every COPY_ key but COPY_STORAGE and COPY_AWS_REGION is here (a unit test checks it); transfer
 * tuning (S3_PART_SIZE, AZURE_BLOCK_SIZE, ...) and the prefixes are shared.
 */
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
  ['AZURE_CONTAINER', 'COPY_AZURE_CONTAINER'],
  ['AZURE_STORAGE_ACCOUNT', 'COPY_AZURE_STORAGE_ACCOUNT'],
  ['AZURE_STORAGE_KEY', 'COPY_AZURE_STORAGE_KEY'],
  ['AZURE_STORAGE_SAS_TOKEN', 'COPY_AZURE_STORAGE_SAS_TOKEN'],
  ['AZURE_STORAGE_CONNECTION_STRING', 'COPY_AZURE_STORAGE_CONNECTION_STRING'],
  ['AZURE_BLOB_ENDPOINT', 'COPY_AZURE_BLOB_ENDPOINT'],
  ['GCS_BUCKET_NAME', 'COPY_GCS_BUCKET_NAME'],
  ['GCS_HMAC_ACCESS_ID', 'COPY_GCS_HMAC_ACCESS_ID'],
  ['GCS_HMAC_SECRET', 'COPY_GCS_HMAC_SECRET'],
  ['GCS_ENDPOINT', 'COPY_GCS_ENDPOINT'],
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
