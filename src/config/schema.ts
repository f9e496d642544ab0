/**
 * The configuration schema: every key backupmate reads, its type, default, documentation and the
 * rules a value must follow.
 *
 * Contract:
 * - A key's schema path is its environment-variable name (`DB_HOST` has `env: 'DB_HOST'`), so the
 *   same name is used in env files, in the environment and in `cfg.get('DB_HOST')`.
 * - Values arrive as strings (env files, environment). Each format's `coerce` turns a string into
 *   the key's type and leaves it unchanged when it does not parse, so the format's `validate`
 *   rejects it and the error can quote exactly what the user wrote.
 * - `validate` messages start with "must ..." and are one line without the value: the loader adds
 *   the key in front and the (possibly redacted) value after.
 * - Rules that involve several keys live in `crossKeyProblems`, not in the per-key formats.
 * - config/backupmate.env is rendered from this file (see example.ts); a test keeps them equal.
 */
import fs from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import { Cron } from 'croner';
import { CRON_OPTIONS, SCHEDULE_PRESETS } from '../domain/schedule.js';
import { resolveRecipients } from '../domain/age.js';
import { connectionStringProblem, resolveAzureAuth } from '../storage/drivers/azure-auth.js';
import { AZURE_LIMITS, S3_LIMITS } from '../storage/drivers/limits.js';

// ---------------------------------------------------------------------------------------------
// Value types

export const STORAGE_KINDS = ['s3', 'file', 'azure', 'gcs'] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

/** COPY_STORAGE: '' = no second store. */
export const COPY_STORAGE_KINDS = ['', ...STORAGE_KINDS] as const;
export type CopyStorageKind = (typeof COPY_STORAGE_KINDS)[number];

/** S3_OBJECT_LOCK_MODE: '' = no retention date on objects (S3 Object Lock's own modes otherwise). */
export const S3_OBJECT_LOCK_MODES = ['', 'GOVERNANCE', 'COMPLIANCE'] as const;
export type S3ObjectLockMode = (typeof S3_OBJECT_LOCK_MODES)[number];

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const ENCRYPTIONS = ['none', 'age'] as const;
export type Encryption = (typeof ENCRYPTIONS)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** S3_SSE: server-side encryption S3 applies to every object ('' = none requested: the bucket's default). */
export const S3_SSE_MODES = ['', 'AES256', 'aws:kms'] as const;
export type S3Sse = (typeof S3_SSE_MODES)[number];

/**
 * S3_STORAGE_CLASS values ('' = STANDARD, the bucket's default). GLACIER and DEEP_ARCHIVE objects
 * cannot be read until they are restored from the archive (S3 RestoreObject): accepted, with a
 * warning, for stores where that is wanted.
 */
export const S3_STORAGE_CLASSES = [
  '',
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'REDUCED_REDUNDANCY',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;
export type S3StorageClass = (typeof S3_STORAGE_CLASSES)[number];
/** Classes whose objects need an archive restore before anyone can read them. */
export const S3_ARCHIVE_CLASSES: readonly S3StorageClass[] = ['GLACIER', 'DEEP_ARCHIVE'];

/** MANIFEST_HMAC_KEY: shortest key accepted (characters); `openssl rand -hex 32` gives 64. */
export const MANIFEST_HMAC_KEY_MIN_LENGTH = 32;
export const INCREMENTAL_BASES = ['latest', 'full'] as const;
export const NOTIFY_ONS = ['failure', 'always'] as const;
export type NotifyOn = (typeof NOTIFY_ONS)[number];
export type IncrementalBase = (typeof INCREMENTAL_BASES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Compression level ranges per algorithm (zstd's --ultra levels 20-22 are not offered). */
export const COMPRESSION_LEVELS: Readonly<Record<Exclude<Compression, 'none'>, { min: number; max: number }>> = {
  zstd: { min: 1, max: 19 },
  gzip: { min: 1, max: 9 },
};

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

/** S3 multipart-upload limits: owned by the S3 driver, in a file without the SDK (storage/drivers/limits.ts). */
export { S3_LIMITS };

/** Every configuration value, typed. Byte sizes are numbers of bytes. */
export interface ConfigValues {
  STORAGE: StorageKind;
  STORAGE_PATH: string;
  S3_BUCKET_NAME: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_SESSION_TOKEN: string;
  S3_ENDPOINT: string;
  S3_FORCE_PATH_STYLE: boolean;
  S3_PART_SIZE: number;
  S3_QUEUE_SIZE: number;
  S3_SSE: S3Sse;
  S3_SSE_KMS_KEY_ID: string;
  S3_STORAGE_CLASS: S3StorageClass;
  VOLUME_SIZE: number;
  COPY_STORAGE: CopyStorageKind;
  COPY_STORAGE_PATH: string;
  COPY_S3_BUCKET_NAME: string;
  COPY_AWS_REGION: string;
  COPY_AWS_ACCESS_KEY_ID: string;
  COPY_AWS_SECRET_ACCESS_KEY: string;
  COPY_AWS_SESSION_TOKEN: string;
  COPY_S3_ENDPOINT: string;
  COPY_S3_FORCE_PATH_STYLE: boolean;
  COPY_S3_SSE: S3Sse;
  COPY_S3_SSE_KMS_KEY_ID: string;
  COPY_S3_STORAGE_CLASS: S3StorageClass;
  COPY_S3_OBJECT_LOCK_MODE: S3ObjectLockMode;
  COPY_S3_OBJECT_LOCK_DAYS: number;
  COPY_AZURE_CONTAINER: string;
  COPY_AZURE_STORAGE_ACCOUNT: string;
  COPY_AZURE_STORAGE_KEY: string;
  COPY_AZURE_STORAGE_SAS_TOKEN: string;
  COPY_AZURE_STORAGE_CONNECTION_STRING: string;
  COPY_AZURE_BLOB_ENDPOINT: string;
  COPY_GCS_BUCKET_NAME: string;
  COPY_GCS_HMAC_ACCESS_ID: string;
  COPY_GCS_HMAC_SECRET: string;
  COPY_GCS_ENDPOINT: string;
  STORE_LOCK_LEASE_SECONDS: number;
  S3_OBJECT_LOCK_MODE: S3ObjectLockMode;
  S3_OBJECT_LOCK_DAYS: number;
  FULL_BACKUP_PREFIX: string;
  INCREMENTAL_BACKUP_PREFIX: string;
  LOCAL_TEMP_DIR: string;
  DB_HOST: string;
  DB_PORT: number;
  DB_SOCKET: string;
  DB_USER: string;
  DB_PASSWORD: string;
  MARIADB_BACKUP_PATH: string;
  MARIABACKUP_PARALLEL: number;
  MBSTREAM_PATH: string;
  MARIADB_DATADIR: string;
  MARIADB_OS_USER: string;
  PREPARE_USE_MEMORY: number;
  FULL_BACKUP_SCHEDULE: string;
  INCREMENTAL_BACKUP_SCHEDULE: string;
  SCHEDULE_TIMEZONE: string;
  INCREMENTAL_BASE: IncrementalBase;
  MAX_CHAIN_LENGTH: number;
  DIRECTORY_BACKUP_PATHS: string;
  DIRECTORY_BACKUP_SCHEDULE: string;
  DIRECTORY_BACKUP_PREFIX: string;
  LOGICAL_BACKUP_SCHEDULE: string;
  LOGICAL_BACKUP_PREFIX: string;
  LOGICAL_DATABASES: string;
  LOGICAL_EXCLUDE_DATABASES: string;
  LOGICAL_OBJECTS: string;
  LOGICAL_PARALLEL: number;
  RESTORE_DB_USER: string;
  RESTORE_DB_PASSWORD: string;
  BINLOG_ARCHIVE: boolean;
  BINLOG_PREFIX: string;
  BINLOG_SEGMENT_SECONDS: number;
  BINLOG_SEGMENT_SIZE: number;
  MARIADB_BINLOG_PATH: string;
  RETENTION_FULL_COUNT: number;
  RETENTION_DAYS: number;
  INCOMPLETE_GRACE_HOURS: number;
  COMPRESSION: Compression;
  COMPRESSION_LEVEL: number;
  CONTROL_SOCKET: string;
  CONTROL_SOCKET_GROUP: string;
  STATE_DIR: string;
  MARIADB_STOP_COMMAND: string;
  MARIADB_START_COMMAND: string;
  MARIADB_SERVICE_TIMEOUT: number;
  RETRY_ATTEMPTS: number;
  RETRY_BASE_DELAY_MS: number;
  RETRY_MAX_DELAY_MS: number;
  S3_REQUEST_TIMEOUT_MS: number;
  NOTIFY_ON: NotifyOn;
  SLACK_WEBHOOK_URL: string;
  SMTP_URL: string;
  NOTIFY_EMAIL_TO: string;
  NOTIFY_EMAIL_FROM: string;
  STALE_AFTER: number;
  LOG_FILE: string;
  LOG_LEVEL: LogLevel;
  ENCRYPTION: Encryption;
  AGE_RECIPIENTS: string;
  AGE_IDENTITY_FILE: string;
  MANIFEST_HMAC_KEY: string;
  METRICS_LISTEN: string;
  METRICS_TEXTFILE: string;
  DRILL_SCHEDULE: string;
  DRILL_MARIADBD_OPTIONS: string;
  // Azure Blob (STORAGE=azure)
  AZURE_CONTAINER: string;
  AZURE_STORAGE_ACCOUNT: string;
  AZURE_STORAGE_KEY: string;
  AZURE_STORAGE_SAS_TOKEN: string;
  AZURE_STORAGE_CONNECTION_STRING: string;
  AZURE_BLOB_ENDPOINT: string;
  AZURE_BLOCK_SIZE: number;
  AZURE_CONCURRENCY: number;
  AZURE_REQUEST_TIMEOUT_MS: number;
  // Google Cloud Storage (STORAGE=gcs)
  GCS_BUCKET_NAME: string;
  GCS_HMAC_ACCESS_ID: string;
  GCS_HMAC_SECRET: string;
  GCS_ENDPOINT: string;
}

export type ConfigKey = keyof ConfigValues;

// ---------------------------------------------------------------------------------------------
// Byte sizes

const BYTE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: KiB,
  kib: KiB,
  m: MiB,
  mib: MiB,
  g: GiB,
  gib: GiB,
  t: TiB,
  tib: TiB,
};

/**
 * Parses a byte size: a plain integer (bytes) or a number with a binary unit, K/KiB, M/MiB, G/GiB
 * or T/TiB, case-insensitive, optionally with a space ("16MiB", "8 G", "1.5GiB"). Decimal units
 * (KB, MB, GB) are refused because readers disagree on whether they mean 1000 or 1024. Returns
 * undefined for anything else, including results that are not a whole number of bytes.
 */
/** "90s", "30m", "48h", "2d", "1w" or plain seconds → milliseconds; "" → 0; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === '') return 0;
  const m = /^(\d+)\s*(s|m|h|d|w)?$/.exec(t);
  if (!m) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m[2] ?? 's') as 's'];
  return Number(m[1]) * unit * 1000;
}

export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = BYTE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Number(m[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats bytes exactly in the largest binary unit that divides them: 16777216 → "16MiB". */
export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

// ---------------------------------------------------------------------------------------------
// Formats

/** Format parameters a key may carry next to the convict fields; the format reads them. */
interface FormatParams {
  /** bm-enum: accepted values (matched case-insensitively, stored lower-case). */
  values?: readonly string[];
  /** bm-int / bm-bytes: inclusive range. */
  min?: number;
  max?: number;
  /** bm-int: what the number is, for the message ("a port number"). */
  noun?: string;
  /** bm-path: the empty string is accepted (meaning "not used"). */
  optional?: boolean;
}

/** What convict hands a format's validate: the key's schema entry, with its format parameters. */
type ItemSchema = convict.SchemaObj & FormatParams;

type FormatName =
  | 'bm-enum'
  | 'bm-s3-object-lock-mode'
  | 'bm-int'
  | 'bm-bytes'
  | 'bm-bool'
  | 'bm-text'
  | 'bm-required-text'
  | 'bm-path'
  | 'bm-program'
  | 'bm-url'
  | 'bm-bucket'
  | 'bm-prefix'
  | 'bm-schedule'
  | 'bm-timezone'
  | 'bm-duration'
  | 'bm-smtp-url'
  | 'bm-emails'
  | 'bm-age-recipients'
  | 'bm-s3-sse'
  | 'bm-s3-storage-class'
  | 'bm-hmac-key'
  | 'bm-paths'
  | 'bm-listen'
  | 'bm-azure-container'
  | 'bm-azure-account'
  | 'bm-azure-connection-string'
  | 'bm-service-url';

/** Thrown by a format; the message is "must ..." and never contains the value. */
function reject(reason: string): never {
  throw new Error(reason);
}

function byteRange(p: FormatParams): string {
  return `from ${formatByteSize(p.min ?? 0)} to ${formatByteSize(p.max ?? Number.MAX_SAFE_INTEGER)}`;
}

const BYTE_SIZE_HINT = 'a plain number is bytes; units K/KiB, M/MiB, G/GiB, T/TiB are binary';

/**
 * Checks a schedule value; returns undefined if it is valid, else the reason. Presets are compared
 * as given, so call it after coercion (which lower-cases presets).
 */
export function scheduleProblem(value: string): string | undefined {
  if ((SCHEDULE_PRESETS as readonly string[]).includes(value)) return undefined;
  const expected = `must be ${SCHEDULE_PRESETS.join(', ')} or a 5- or 6-field cron expression`;
  // croner also accepts nicknames such as "@daily"; we offer the bare words instead, once.
  if (value.trim().startsWith('@')) return `${expected} (nicknames like "@daily" are not accepted; write daily)`;
  let cron: Cron | undefined;
  try {
    cron = new Cron(value, { ...CRON_OPTIONS, paused: true });
    if (cron.nextRun() === null) return `${expected} (croner: the expression never matches a future time)`;
    return undefined;
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
    return `${expected} (croner: ${reason})`;
  } finally {
    cron?.stop();
  }
}

/**
 * DIRECTORY_BACKUP_PATHS as a list: comma-separated absolute paths, '' = none. Call it on a
 * validated value (pathsProblem says why a value is not one).
 */
export function parseDirectoryPaths(value: string): string[] {
  return value.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

/** Why `value` is not a valid DIRECTORY_BACKUP_PATHS, or undefined. */
export function pathsProblem(value: string): string | undefined {
  const expected = 'must be empty (no directory backups) or comma-separated absolute paths like /etc/mysql,/etc/backupmate';
  if (value.trim() === '') return undefined;
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) return `${expected} (an empty entry between commas)`;
  for (const p of parts) {
    if (!path.isAbsolute(p)) return `${expected} (a relative path)`;
    if (p.replace(/\/+$/, '') === '') return `${expected} (not / itself: name the directories to keep)`;
    // "." and ".." would make the same tree appear under two names, and restores would follow them.
    if (p.split('/').some((seg, i, all) => seg === '.' || seg === '..' || (seg === '' && i > 0 && i < all.length - 1))) {
      return `${expected} (no ".", ".." or empty segments)`;
    }
  }
  return undefined;
}

/** A URL, or undefined when `x` is not a string that parses as one. */
function parseUrl(x: unknown): URL | undefined {
  try {
    return typeof x === 'string' ? new URL(x) : undefined;
  } catch {
    return undefined;
  }
}

const FORMATS: Record<FormatName, convict.Format> = {
  'bm-enum': {
    coerce: (v: string) => v.trim().toLowerCase(),
    validate(x: unknown, schema: ItemSchema) {
      const values = schema.values ?? [];
      if (typeof x !== 'string' || !values.includes(x)) reject(`must be one of ${values.join(', ')}`);
    },
  },
  'bm-int': {
    coerce: (v: string) => (/^\s*[+-]?\d+\s*$/.test(v) ? Number(v.trim()) : v),
    validate(x: unknown, schema: ItemSchema) {
      const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, noun = 'an integer' } = schema;
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) reject(`must be ${noun} ${min}-${max}`);
    },
  },
  'bm-bytes': {
    coerce: (v: string) => parseByteSize(v) ?? v,
    validate(x: unknown, schema: ItemSchema) {
      const { min = 0, max = Number.MAX_SAFE_INTEGER } = schema;
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) {
        reject(`must be a byte size ${byteRange(schema)} (${BYTE_SIZE_HINT})`);
      }
    },
  },
  'bm-bool': {
    coerce(v: string) {
      const t = v.trim().toLowerCase();
      if (t === 'true' || t === '1' || t === 'yes' || t === 'on') return true;
      if (t === 'false' || t === '0' || t === 'no' || t === 'off') return false;
      return v;
    },
    validate(x: unknown) {
      if (typeof x !== 'boolean') reject('must be true or false (1/0, yes/no and on/off are accepted too, in any case)');
    },
  },
  'bm-text': {
    validate(x: unknown) {
      if (typeof x !== 'string') reject('must be a string');
    },
  },
  'bm-required-text': {
    validate(x: unknown) {
      if (typeof x !== 'string' || x.trim() === '') reject('must not be empty');
      if (/\s/.test(x)) reject('must not contain spaces');
    },
  },
  // Relative paths would depend on the daemon's working directory (/ under systemd).
  'bm-path': {
    validate(x: unknown, schema: ItemSchema) {
      if (typeof x !== 'string') reject('must be an absolute path');
      if (x === '' && schema.optional) return;
      if (!path.isAbsolute(x)) reject(schema.optional ? 'must be an absolute path or empty' : 'must be an absolute path');
    },
  },
  'bm-program': {
    validate(x: unknown) {
      if (typeof x !== 'string' || x.trim() === '' || (x.includes('/') && !path.isAbsolute(x))) {
        reject('must be a program name looked up on PATH or an absolute path');
      }
    },
  },
  'bm-url': {
    validate(x: unknown) {
      if (x === '') return;
      const url = parseUrl(x);
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        reject('must be empty (AWS) or an http:// or https:// URL');
      }
      // Credentials in the URL would end up in logs; they belong in the AWS_* keys.
      if (url.username || url.password) reject('must not contain credentials (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)');
    },
  },
  'bm-bucket': {
    validate(x: unknown) {
      if (typeof x !== 'string') reject('must be a bucket name');
      if (/[\s/:]/.test(x)) reject('must be a bare bucket name without "s3://", "/" or spaces (put a path in the *_BACKUP_PREFIX keys)');
    },
  },
  // The trailing "/" is added rather than demanded: "backupmate/full" can only mean the folder.
  'bm-prefix': {
    coerce: (v: string) => (v !== '' && !v.endsWith('/') ? `${v}/` : v),
    validate(x: unknown) {
      const segments = typeof x === 'string' ? x.slice(0, -1).split('/') : [];
      // Segments "." and ".." would let a file store escape STORAGE_PATH; "" comes from "//".
      if (typeof x !== 'string' || x === '' || x.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) {
        reject('must be a relative prefix like "backupmate/full/" (not starting with "/", no empty, "." or ".." segments)');
      }
    },
  },
  // Durations: "90s", "30m", "48h", "2d" or plain seconds; stored as milliseconds; "" = 0 = derived.
  'bm-duration': {
    coerce: (v: string) => parseDuration(v) ?? v,
    validate(x: unknown) {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) reject('must be a duration like 90s, 30m, 48h or 2d (empty = derived from the schedules)');
    },
  },
  'bm-smtp-url': {
    validate(x: unknown) {
      if (x === '') return;
      const url = parseUrl(x);
      if (!url || (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')) reject('must be empty or an smtp:// or smtps:// URL, e.g. smtps://user:pass@mail.example.com:465');
    },
  },
  'bm-emails': {
    validate(x: unknown) {
      if (x === '') return;
      const list = typeof x === 'string' ? x.split(',').map((e) => e.trim()) : [];
      if (!list.length || list.some((e) => !/^[^\s@<>]+@[^\s@<>]+$/.test(e))) reject('must be empty or comma-separated e-mail addresses like dba@example.com');
    },
  },
  // age public keys inline, or the absolute path of a recipients file (read now, so `config check`
  // catches a bad file; a backup reads it again when it starts).
  'bm-age-recipients': {
    coerce: (v: string) => v.trim(),
    validate(x: unknown) {
      if (x === '') return;
      if (typeof x !== 'string') reject('must be age1... public keys or the absolute path of a recipients file');
      const r = resolveRecipients(x, (file) => fs.readFileSync(file, 'utf8'));
      if ('problem' in r) reject(r.problem);
    },
  },
  // S3's spellings are AES256 and aws:kms; any case is accepted and stored as S3 spells it.
  'bm-s3-sse': {
    coerce(v: string) {
      const t = v.trim();
      return S3_SSE_MODES.find((m) => m.toLowerCase() === t.toLowerCase()) ?? t;
    },
    validate(x: unknown) {
      if (typeof x !== 'string' || !(S3_SSE_MODES as readonly string[]).includes(x)) reject('must be empty (no header: the bucket\'s default encryption), AES256 or aws:kms');
    },
  },
  'bm-s3-object-lock-mode': {
    coerce: (v: string) => v.trim().toUpperCase(),
    validate(x: unknown) {
      if (typeof x !== 'string' || !(S3_OBJECT_LOCK_MODES as readonly string[]).includes(x)) reject('must be empty (no Object Lock retention), GOVERNANCE or COMPLIANCE');
    },
  },
  'bm-s3-storage-class': {
    coerce: (v: string) => v.trim().toUpperCase(),
    validate(x: unknown) {
      if (typeof x !== 'string' || !(S3_STORAGE_CLASSES as readonly string[]).includes(x)) {
        reject(`must be empty (STANDARD) or one of ${S3_STORAGE_CLASSES.filter((c) => c !== '').join(', ')}`);
      }
    },
  },
  // A secret: the message never includes the value (the loader redacts it, too).
  'bm-hmac-key': {
    validate(x: unknown) {
      if (x === '') return;
      if (typeof x !== 'string' || x.length < MANIFEST_HMAC_KEY_MIN_LENGTH || /\s/.test(x)) {
        reject(`must be empty or at least ${MANIFEST_HMAC_KEY_MIN_LENGTH} characters without spaces (generate one with: openssl rand -hex 32)`);
      }
    },
  },
  'bm-timezone': {
    validate(x: unknown) {
      if (x === '') return;
      try {
        if (typeof x !== 'string') throw new Error();
        new Intl.DateTimeFormat('en-US', { timeZone: x });
      } catch {
        reject('must be empty (the system time zone) or an IANA time zone name like Europe/Berlin or UTC');
      }
    },
  },
  // Trailing slashes are dropped: "/etc/mysql/" and "/etc/mysql" name the same tree.
  'bm-paths': {
    coerce: (v: string) =>
      v
        .split(',')
        .map((p) => p.trim())
        .map((p) => (p.length > 1 ? p.replace(/\/+$/, '') || '/' : p))
        .join(','),
    validate(x: unknown) {
      const problem = typeof x === 'string' ? pathsProblem(x) : 'must be a string';
      if (problem) reject(problem);
    },
  },
  // METRICS_LISTEN: HOST:PORT ([::1]:9187 for IPv6), or empty (off).
  'bm-listen': {
    coerce: (v: string) => v.trim(),
    validate(x: unknown) {
      if (x === '') return;
      const m = typeof x === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(x) : null;
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) reject('must be HOST:PORT (port 1-65535; [::1]:PORT for IPv6) or empty');
    },
  },
  // Azure's naming rules for containers: 3-63 of a-z, 0-9 and "-", no "--", letter or digit at both ends.
  'bm-azure-container': {
    validate(x: unknown) {
      if (x === '') return;
      if (typeof x !== 'string' || !/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(x)) {
        reject('must be an Azure container name: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit');
      }
    },
  },
  'bm-azure-account': {
    validate(x: unknown) {
      if (x === '') return;
      if (typeof x !== 'string' || !/^[a-z0-9]{3,24}$/.test(x)) reject('must be a storage account name: 3-24 lower-case letters and digits (the NAME of NAME.blob.core.windows.net)');
    },
  },
  // A secret: the reason never quotes it.
  'bm-azure-connection-string': {
    coerce: (v: string) => v.trim(),
    validate(x: unknown) {
      if (x === '') return;
      const problem = typeof x === 'string' ? connectionStringProblem(x) : 'must be a string';
      if (problem) reject(problem);
    },
  },
  // An endpoint of a store other than S3: no credentials and no query (a SAS has its own key).
  'bm-service-url': {
    coerce: (v: string) => v.trim(),
    validate(x: unknown) {
      if (x === '') return;
      const url = parseUrl(x);
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) reject("must be empty (the service's default endpoint) or an http:// or https:// URL");
      if (url.username || url.password || url.search) reject('must not contain credentials or a query (a SAS token goes in AZURE_STORAGE_SAS_TOKEN or COPY_AZURE_STORAGE_SAS_TOKEN)');
    },
  },
  'bm-schedule': {
    coerce(v: string) {
      const t = v.trim();
      return (SCHEDULE_PRESETS as readonly string[]).includes(t.toLowerCase()) ? t.toLowerCase() : t;
    },
    validate(x: unknown) {
      const problem = typeof x === 'string' ? scheduleProblem(x) : 'must be a string';
      if (problem) reject(problem);
    },
  },
};

// convict keeps formats in a module-wide registry; the "bm-" prefix keeps ours apart from others'.
for (const [name, format] of Object.entries(FORMATS)) convict.addFormat({ name, ...format });

// ---------------------------------------------------------------------------------------------
// Keys

/** Sections of config/backupmate.env, in file order. */
export const SECTIONS = ['Storage', 'Azure Blob', 'Google Cloud Storage', 'Second store', 'Store lock', 'Object lock', 'Database', 'Restore target', 'Schedules', 'Directory backups', 'Logical backups', 'Binlog archive', 'Retention', 'Compression', 'Encryption', 'Integrity', 'Daemon', 'Failure handling', 'Logging', 'Metrics', 'Restore drills'] as const;
export type Section = (typeof SECTIONS)[number];

/** One key's schema entry: the convict fields plus what the docs and the example file need. */
export interface KeySpec<T, K extends string = string> extends FormatParams {
  format: FormatName;
  default: T;
  /** Always the key itself. */
  env: K;
  /** One line. */
  doc: string;
  section: Section;
  /** Secrets: never shown in errors, `config show` or logs. */
  sensitive?: boolean;
  /** Example value, written commented-out in config/backupmate.env; it must be valid. */
  example: string;
}

export type Schema = { readonly [K in ConfigKey]: KeySpec<ConfigValues[K], K> };

/** The schema, in the order keys appear in config/backupmate.env. Pass it to convict. */
export const SCHEMA: Schema = {
  // Storage
  STORAGE: {
    format: 'bm-enum',
    values: STORAGE_KINDS,
    default: 's3',
    env: 'STORAGE',
    section: 'Storage',
    doc: 'Where backups are stored: s3 (AWS S3 or an S3-compatible service), file (a local or mounted directory), azure (Azure Blob storage) or gcs (Google Cloud Storage through its S3-compatible XML API).',
    example: 'file',
  },
  STORAGE_PATH: {
    format: 'bm-path',
    optional: true,
    default: '/var/lib/backupmate/store',
    env: 'STORAGE_PATH',
    section: 'Storage',
    doc: 'Directory of the file store (absolute path); required when STORAGE=file.',
    example: '/srv/backupmate/store',
  },
  S3_BUCKET_NAME: {
    format: 'bm-bucket',
    default: '',
    env: 'S3_BUCKET_NAME',
    section: 'Storage',
    doc: 'Bucket that holds the backups (a bare name, no s3:// or path); required when STORAGE=s3.',
    example: 'my-db-backups',
  },
  AWS_REGION: {
    format: 'bm-required-text',
    default: 'us-east-1',
    env: 'AWS_REGION',
    section: 'Storage',
    doc: 'Region of the bucket.',
    example: 'eu-west-1',
  },
  AWS_ACCESS_KEY_ID: {
    format: 'bm-text',
    default: '',
    env: 'AWS_ACCESS_KEY_ID',
    section: 'Storage',
    doc: "Access key id; empty = use the AWS SDK's default credential chain (instance role, ~/.aws, ...).",
    example: 'AKIAIOSFODNN7EXAMPLE',
  },
  AWS_SECRET_ACCESS_KEY: {
    format: 'bm-text',
    default: '',
    env: 'AWS_SECRET_ACCESS_KEY',
    section: 'Storage',
    sensitive: true,
    doc: 'Secret access key; set it exactly when AWS_ACCESS_KEY_ID is set.',
    example: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  },
  AWS_SESSION_TOKEN: {
    format: 'bm-text',
    default: '',
    env: 'AWS_SESSION_TOKEN',
    section: 'Storage',
    sensitive: true,
    doc: 'Session token of temporary credentials; only together with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
    example: 'IQoJb3JpZ2luX2VjEXAMPLETOKEN',
  },
  S3_ENDPOINT: {
    format: 'bm-url',
    default: '',
    env: 'S3_ENDPOINT',
    section: 'Storage',
    doc: 'http(s) URL of an S3-compatible service (MinIO, Ceph, ...); empty = AWS.',
    example: 'http://127.0.0.1:9000',
  },
  S3_FORCE_PATH_STYLE: {
    format: 'bm-bool',
    default: false,
    env: 'S3_FORCE_PATH_STYLE',
    section: 'Storage',
    doc: 'Address buckets as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible services need true).',
    example: 'true',
  },
  S3_PART_SIZE: {
    format: 'bm-bytes',
    min: S3_LIMITS.minPartSize,
    max: S3_LIMITS.maxPartSize,
    default: 8 * MiB,
    env: 'S3_PART_SIZE',
    section: 'Storage',
    doc: 'Size of each multipart-upload part, 5MiB-5GiB (S3 limits); uploads buffer about S3_PART_SIZE x (S3_QUEUE_SIZE + 1) in memory.',
    example: '64MiB',
  },
  S3_QUEUE_SIZE: {
    format: 'bm-int',
    min: 1,
    max: 32,
    default: 4,
    env: 'S3_QUEUE_SIZE',
    section: 'Storage',
    doc: 'Number of parts uploaded concurrently, 1-32.',
    example: '8',
  },
  S3_SSE: {
    format: 'bm-s3-sse',
    default: '',
    env: 'S3_SSE',
    section: 'Storage',
    doc: "Server-side encryption S3 applies to every object: AES256 (S3-managed keys) or aws:kms (KMS keys); empty = send no header (the bucket's default encryption).",
    example: 'aws:kms',
  },
  S3_SSE_KMS_KEY_ID: {
    format: 'bm-text',
    default: '',
    env: 'S3_SSE_KMS_KEY_ID',
    section: 'Storage',
    doc: 'KMS key (id, alias or ARN) for S3_SSE=aws:kms; empty = the account\'s default aws/s3 key. Only with S3_SSE=aws:kms.',
    example: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  },
  S3_STORAGE_CLASS: {
    format: 'bm-s3-storage-class',
    default: '',
    env: 'S3_STORAGE_CLASS',
    section: 'Storage',
    doc: 'Storage class of backup volumes (manifests stay STANDARD): STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, ...; GLACIER and DEEP_ARCHIVE volumes must be restored from the archive before a restore or verify can read them.',
    example: 'STANDARD_IA',
  },
  VOLUME_SIZE: {
    format: 'bm-bytes',
    min: MiB,
    max: S3_LIMITS.maxObjectSize,
    default: 8 * GiB,
    env: 'VOLUME_SIZE',
    section: 'Storage',
    doc: 'Largest object a backup stream is split into; with STORAGE=s3 it must lie between S3_PART_SIZE and 10000 x S3_PART_SIZE.',
    example: '16GiB',
  },
  FULL_BACKUP_PREFIX: {
    format: 'bm-prefix',
    default: 'backupmate/full/',
    env: 'FULL_BACKUP_PREFIX',
    section: 'Storage',
    doc: 'Key prefix (sub-directory with STORAGE=file) of full backups; a missing trailing "/" is added.',
    example: 'db1/full/',
  },
  INCREMENTAL_BACKUP_PREFIX: {
    format: 'bm-prefix',
    default: 'backupmate/incremental/',
    env: 'INCREMENTAL_BACKUP_PREFIX',
    section: 'Storage',
    doc: 'Key prefix of incremental backups; must differ from FULL_BACKUP_PREFIX and neither may contain the other.',
    example: 'db1/incremental/',
  },
  LOCAL_TEMP_DIR: {
    format: 'bm-path',
    default: '/var/tmp/backupmate',
    env: 'LOCAL_TEMP_DIR',
    section: 'Storage',
    doc: 'Local scratch directory for temporary files of backups and restores (absolute path).',
    example: '/srv/backupmate/tmp',
  },

  // Azure Blob
  AZURE_CONTAINER: {
    format: 'bm-azure-container',
    default: '',
    env: 'AZURE_CONTAINER',
    section: 'Azure Blob',
    doc: 'Container that holds the backups (it must exist); required when STORAGE=azure.',
    example: 'db-backups',
  },
  AZURE_STORAGE_ACCOUNT: {
    format: 'bm-azure-account',
    default: '',
    env: 'AZURE_STORAGE_ACCOUNT',
    section: 'Azure Blob',
    doc: 'Storage account name; with AZURE_STORAGE_KEY (shared key), AZURE_STORAGE_SAS_TOKEN, or alone (the default credential chain: managed or workload identity, Azure CLI login).',
    example: 'mycompanybackups',
  },
  AZURE_STORAGE_KEY: {
    format: 'bm-text',
    default: '',
    env: 'AZURE_STORAGE_KEY',
    section: 'Azure Blob',
    sensitive: true,
    doc: 'Account access key (shared key); needs AZURE_STORAGE_ACCOUNT.',
    example: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  },
  AZURE_STORAGE_SAS_TOKEN: {
    format: 'bm-text',
    default: '',
    env: 'AZURE_STORAGE_SAS_TOKEN',
    section: 'Azure Blob',
    sensitive: true,
    doc: 'Shared access signature (the query string, with or without "?") with read, add, create, write, delete and list on the container; needs AZURE_STORAGE_ACCOUNT or AZURE_BLOB_ENDPOINT.',
    example: 'sv=2024-08-04&ss=b&srt=co&sp=racwdl&se=2027-12-31T00:00:00Z&sig=EXAMPLE',
  },
  AZURE_STORAGE_CONNECTION_STRING: {
    format: 'bm-azure-connection-string',
    default: '',
    env: 'AZURE_STORAGE_CONNECTION_STRING',
    section: 'Azure Blob',
    sensitive: true,
    doc: 'Connection string (account, endpoint and key or SAS in one); use it alone, without the other AZURE_STORAGE_* keys and AZURE_BLOB_ENDPOINT.',
    example: 'DefaultEndpointsProtocol=https;AccountName=mycompanybackups;AccountKey=EXAMPLEKEY==;EndpointSuffix=core.windows.net',
  },
  AZURE_BLOB_ENDPOINT: {
    format: 'bm-service-url',
    default: '',
    env: 'AZURE_BLOB_ENDPOINT',
    section: 'Azure Blob',
    doc: 'Blob service URL; empty = https://AZURE_STORAGE_ACCOUNT.blob.core.windows.net. For Azurite: http://127.0.0.1:10000/devstoreaccount1.',
    example: 'http://127.0.0.1:10000/devstoreaccount1',
  },
  AZURE_BLOCK_SIZE: {
    format: 'bm-bytes',
    min: AZURE_LIMITS.minPartSize,
    max: AZURE_LIMITS.maxPartSize,
    default: 8 * MiB,
    env: 'AZURE_BLOCK_SIZE',
    section: 'Azure Blob',
    doc: 'Size of each staged block of a streamed upload, 1MiB-4000MiB; a blob has at most 50000 blocks, and uploads buffer about AZURE_BLOCK_SIZE x (AZURE_CONCURRENCY + 1) in memory.',
    example: '32MiB',
  },
  AZURE_CONCURRENCY: {
    format: 'bm-int',
    min: 1,
    max: 32,
    default: 4,
    env: 'AZURE_CONCURRENCY',
    section: 'Azure Blob',
    doc: 'Number of blocks uploaded concurrently, 1-32.',
    example: '8',
  },
  AZURE_REQUEST_TIMEOUT_MS: {
    format: 'bm-int',
    min: 1000,
    max: 3600000,
    default: 120000,
    env: 'AZURE_REQUEST_TIMEOUT_MS',
    section: 'Azure Blob',
    doc: 'An Azure request not answered within this time (a block upload included) is aborted and retried.',
    example: '30000',
  },

  // Google Cloud Storage
  GCS_BUCKET_NAME: {
    format: 'bm-bucket',
    default: '',
    env: 'GCS_BUCKET_NAME',
    section: 'Google Cloud Storage',
    doc: 'Bucket that holds the backups (a bare name, no gs://); required when STORAGE=gcs. Transfers use S3_PART_SIZE, S3_QUEUE_SIZE and S3_REQUEST_TIMEOUT_MS.',
    example: 'my-db-backups',
  },
  GCS_HMAC_ACCESS_ID: {
    format: 'bm-text',
    default: '',
    env: 'GCS_HMAC_ACCESS_ID',
    section: 'Google Cloud Storage',
    doc: 'Access ID of an HMAC key (Cloud Storage > Settings > Interoperability) of a service account with roles/storage.objectAdmin on the bucket; required when STORAGE=gcs.',
    example: 'GOOG1EEXAMPLEACCESSID',
  },
  GCS_HMAC_SECRET: {
    format: 'bm-text',
    default: '',
    env: 'GCS_HMAC_SECRET',
    section: 'Google Cloud Storage',
    sensitive: true,
    doc: 'Secret of that HMAC key; required when STORAGE=gcs.',
    example: 'bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ',
  },
  GCS_ENDPOINT: {
    format: 'bm-service-url',
    default: 'https://storage.googleapis.com',
    env: 'GCS_ENDPOINT',
    section: 'Google Cloud Storage',
    doc: 'URL of the Cloud Storage XML API (change it only for a Private Service Connect endpoint or a test server).',
    example: 'https://storage-mybackups.p.googleapis.com',
  },

  // Second store
  COPY_STORAGE: {
    format: 'bm-enum',
    values: COPY_STORAGE_KINDS,
    default: '',
    env: 'COPY_STORAGE',
    section: 'Second store',
    doc: 'A second store every backup is also copied to (sha256-checked, manifest last): s3, file, azure or gcs, with the COPY_ keys below; empty = no copy. A copy that is down fails no backup: it is reported and caught up later.',
    example: 's3',
  },
  COPY_STORAGE_PATH: {
    format: 'bm-path',
    optional: true,
    default: '',
    env: 'COPY_STORAGE_PATH',
    section: 'Second store',
    doc: 'STORAGE_PATH of the copy (absolute path); required when COPY_STORAGE=file.',
    example: '/mnt/offsite/backupmate',
  },
  COPY_S3_BUCKET_NAME: {
    format: 'bm-bucket',
    default: '',
    env: 'COPY_S3_BUCKET_NAME',
    section: 'Second store',
    doc: 'S3_BUCKET_NAME of the copy; required when COPY_STORAGE=s3.',
    example: 'my-db-backups-copy',
  },
  COPY_AWS_REGION: {
    format: 'bm-text',
    default: '',
    env: 'COPY_AWS_REGION',
    section: 'Second store',
    doc: "AWS_REGION of the copy's bucket; empty = AWS_REGION.",
    example: 'eu-central-1',
  },
  COPY_AWS_ACCESS_KEY_ID: {
    format: 'bm-text',
    default: '',
    env: 'COPY_AWS_ACCESS_KEY_ID',
    section: 'Second store',
    doc: "Access key id for the copy; empty = the AWS SDK's default credential chain (not the primary's keys).",
    example: 'AKIAIOSFODNN7EXAMPLE',
  },
  COPY_AWS_SECRET_ACCESS_KEY: {
    format: 'bm-text',
    default: '',
    env: 'COPY_AWS_SECRET_ACCESS_KEY',
    section: 'Second store',
    sensitive: true,
    doc: 'Secret access key for the copy; set it exactly when COPY_AWS_ACCESS_KEY_ID is set.',
    example: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  },
  COPY_AWS_SESSION_TOKEN: {
    format: 'bm-text',
    default: '',
    env: 'COPY_AWS_SESSION_TOKEN',
    section: 'Second store',
    sensitive: true,
    doc: 'Session token for the copy; only together with COPY_AWS_ACCESS_KEY_ID and COPY_AWS_SECRET_ACCESS_KEY.',
    example: 'IQoJb3JpZ2luX2VjEXAMPLETOKEN',
  },
  COPY_S3_ENDPOINT: {
    format: 'bm-url',
    default: '',
    env: 'COPY_S3_ENDPOINT',
    section: 'Second store',
    doc: 'S3_ENDPOINT of the copy (another provider: MinIO, Ceph, ...); empty = AWS.',
    example: 'https://s3.eu-central-1.wasabisys.com',
  },
  COPY_S3_FORCE_PATH_STYLE: {
    format: 'bm-bool',
    default: false,
    env: 'COPY_S3_FORCE_PATH_STYLE',
    section: 'Second store',
    doc: 'S3_FORCE_PATH_STYLE of the copy.',
    example: 'true',
  },
  COPY_S3_SSE: {
    format: 'bm-s3-sse',
    default: '',
    env: 'COPY_S3_SSE',
    section: 'Second store',
    doc: 'S3_SSE of the copy: AES256, aws:kms or empty.',
    example: 'aws:kms',
  },
  COPY_S3_SSE_KMS_KEY_ID: {
    format: 'bm-text',
    default: '',
    env: 'COPY_S3_SSE_KMS_KEY_ID',
    section: 'Second store',
    doc: 'S3_SSE_KMS_KEY_ID of the copy; only with COPY_S3_SSE=aws:kms.',
    example: 'alias/backupmate-copy',
  },
  COPY_S3_STORAGE_CLASS: {
    format: 'bm-s3-storage-class',
    default: '',
    env: 'COPY_S3_STORAGE_CLASS',
    section: 'Second store',
    doc: 'S3_STORAGE_CLASS of the copy\'s backup volumes (manifests stay STANDARD).',
    example: 'GLACIER_IR',
  },
  COPY_S3_OBJECT_LOCK_MODE: {
    format: 'bm-s3-object-lock-mode',
    default: '',
    env: 'COPY_S3_OBJECT_LOCK_MODE',
    section: 'Second store',
    doc: 'S3_OBJECT_LOCK_MODE of the copy: GOVERNANCE, COMPLIANCE or empty.',
    example: 'COMPLIANCE',
  },
  COPY_S3_OBJECT_LOCK_DAYS: {
    format: 'bm-int',
    min: 0,
    max: 36500,
    default: 0,
    env: 'COPY_S3_OBJECT_LOCK_DAYS',
    section: 'Second store',
    doc: 'S3_OBJECT_LOCK_DAYS of the copy.',
    example: '30',
  },
  COPY_AZURE_CONTAINER: {
    format: 'bm-azure-container',
    default: '',
    env: 'COPY_AZURE_CONTAINER',
    section: 'Second store',
    doc: 'AZURE_CONTAINER of the copy (it must exist); required when COPY_STORAGE=azure. Transfers use AZURE_BLOCK_SIZE, AZURE_CONCURRENCY and AZURE_REQUEST_TIMEOUT_MS.',
    example: 'db-backups-copy',
  },
  COPY_AZURE_STORAGE_ACCOUNT: {
    format: 'bm-azure-account',
    default: '',
    env: 'COPY_AZURE_STORAGE_ACCOUNT',
    section: 'Second store',
    doc: "AZURE_STORAGE_ACCOUNT of the copy; with COPY_AZURE_STORAGE_KEY, COPY_AZURE_STORAGE_SAS_TOKEN, or alone (the default credential chain, not the primary's keys).",
    example: 'mycompanyoffsite',
  },
  COPY_AZURE_STORAGE_KEY: {
    format: 'bm-text',
    default: '',
    env: 'COPY_AZURE_STORAGE_KEY',
    section: 'Second store',
    sensitive: true,
    doc: 'AZURE_STORAGE_KEY of the copy (shared key); needs COPY_AZURE_STORAGE_ACCOUNT.',
    example: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  },
  COPY_AZURE_STORAGE_SAS_TOKEN: {
    format: 'bm-text',
    default: '',
    env: 'COPY_AZURE_STORAGE_SAS_TOKEN',
    section: 'Second store',
    sensitive: true,
    doc: "AZURE_STORAGE_SAS_TOKEN of the copy (read, add, create, write, delete and list on the copy's container); needs COPY_AZURE_STORAGE_ACCOUNT or COPY_AZURE_BLOB_ENDPOINT.",
    example: 'sv=2024-08-04&ss=b&srt=co&sp=racwdl&se=2027-12-31T00:00:00Z&sig=EXAMPLE',
  },
  COPY_AZURE_STORAGE_CONNECTION_STRING: {
    format: 'bm-azure-connection-string',
    default: '',
    env: 'COPY_AZURE_STORAGE_CONNECTION_STRING',
    section: 'Second store',
    sensitive: true,
    doc: 'AZURE_STORAGE_CONNECTION_STRING of the copy; use it alone, without the other COPY_AZURE_STORAGE_* keys and COPY_AZURE_BLOB_ENDPOINT.',
    example: 'DefaultEndpointsProtocol=https;AccountName=mycompanyoffsite;AccountKey=EXAMPLEKEY==;EndpointSuffix=core.windows.net',
  },
  COPY_AZURE_BLOB_ENDPOINT: {
    format: 'bm-service-url',
    default: '',
    env: 'COPY_AZURE_BLOB_ENDPOINT',
    section: 'Second store',
    doc: 'AZURE_BLOB_ENDPOINT of the copy; empty = https://COPY_AZURE_STORAGE_ACCOUNT.blob.core.windows.net.',
    example: 'http://127.0.0.1:10000/devstoreaccount1',
  },
  COPY_GCS_BUCKET_NAME: {
    format: 'bm-bucket',
    default: '',
    env: 'COPY_GCS_BUCKET_NAME',
    section: 'Second store',
    doc: 'GCS_BUCKET_NAME of the copy; required when COPY_STORAGE=gcs. Transfers use S3_PART_SIZE, S3_QUEUE_SIZE and S3_REQUEST_TIMEOUT_MS.',
    example: 'my-db-backups-copy',
  },
  COPY_GCS_HMAC_ACCESS_ID: {
    format: 'bm-text',
    default: '',
    env: 'COPY_GCS_HMAC_ACCESS_ID',
    section: 'Second store',
    doc: "GCS_HMAC_ACCESS_ID of the copy (an HMAC key with roles/storage.objectAdmin on the copy's bucket); required when COPY_STORAGE=gcs.",
    example: 'GOOG1EEXAMPLECOPYACCESSID',
  },
  COPY_GCS_HMAC_SECRET: {
    format: 'bm-text',
    default: '',
    env: 'COPY_GCS_HMAC_SECRET',
    section: 'Second store',
    sensitive: true,
    doc: 'Secret of that HMAC key; required when COPY_STORAGE=gcs.',
    example: 'bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ',
  },
  COPY_GCS_ENDPOINT: {
    format: 'bm-service-url',
    default: 'https://storage.googleapis.com',
    env: 'COPY_GCS_ENDPOINT',
    section: 'Second store',
    doc: "GCS_ENDPOINT of the copy (change it only for a Private Service Connect endpoint or a test server).",
    example: 'https://storage-mybackups.p.googleapis.com',
  },

  // Store lock
  STORE_LOCK_LEASE_SECONDS: {
    format: 'bm-int',
    min: 10,
    max: 86400,
    default: 300,
    env: 'STORE_LOCK_LEASE_SECONDS',
    section: 'Store lock',
    doc: 'Lease of the store lock a backup, prune or restore holds on its prefix (renewed every third of it while it runs): a holder on another host that died is taken over once its lease ran out; on the same host at once (its pid is gone).',
    example: '120',
  },

  // Object lock
  S3_OBJECT_LOCK_MODE: {
    format: 'bm-s3-object-lock-mode',
    default: '',
    env: 'S3_OBJECT_LOCK_MODE',
    section: 'Object lock',
    doc: 'S3 Object Lock retention of every object backupmate writes (the bucket must have Object Lock enabled; config check tells): GOVERNANCE (users with s3:BypassGovernanceRetention may still delete) or COMPLIANCE (nobody can, not even root, until the date); empty = none.',
    example: 'GOVERNANCE',
  },
  S3_OBJECT_LOCK_DAYS: {
    format: 'bm-int',
    min: 0,
    max: 36500,
    default: 0,
    env: 'S3_OBJECT_LOCK_DAYS',
    section: 'Object lock',
    doc: 'Days each object stays locked from its upload (with S3_OBJECT_LOCK_MODE, at least 1); prune keeps a chain until all its objects are unlocked. Keep it at or below RETENTION_DAYS.',
    example: '14',
  },

  // Database
  DB_HOST: {
    format: 'bm-required-text',
    default: 'localhost',
    env: 'DB_HOST',
    section: 'Database',
    doc: 'Host of the MariaDB server to back up; ignored when DB_SOCKET is set.',
    example: 'db1.internal',
  },
  DB_PORT: {
    format: 'bm-int',
    min: 1,
    max: 65535,
    noun: 'a port number',
    default: 3306,
    env: 'DB_PORT',
    section: 'Database',
    doc: 'TCP port of the MariaDB server; ignored when DB_SOCKET is set.',
    example: '3307',
  },
  DB_SOCKET: {
    format: 'bm-path',
    optional: true,
    default: '',
    env: 'DB_SOCKET',
    section: 'Database',
    doc: 'Unix socket of the MariaDB server (absolute path), used instead of DB_HOST/DB_PORT; empty = connect over TCP.',
    example: '/run/mysqld/mysqld.sock',
  },
  DB_USER: {
    format: 'bm-required-text',
    default: 'root',
    env: 'DB_USER',
    section: 'Database',
    doc: 'MariaDB user that mariabackup connects as.',
    example: 'backupmate',
  },
  DB_PASSWORD: {
    format: 'bm-text',
    default: '',
    env: 'DB_PASSWORD',
    section: 'Database',
    sensitive: true,
    doc: 'Password of DB_USER; empty = no password (e.g. unix_socket authentication).',
    example: 'change-me',
  },
  MARIADB_BACKUP_PATH: {
    format: 'bm-program',
    default: 'mariabackup',
    env: 'MARIADB_BACKUP_PATH',
    section: 'Database',
    doc: 'The mariabackup program: a name looked up on PATH or an absolute path.',
    example: '/usr/bin/mariabackup',
  },
  MARIABACKUP_PARALLEL: {
    format: 'bm-int',
    min: 1,
    max: 64,
    default: 2,
    env: 'MARIABACKUP_PARALLEL',
    section: 'Database',
    doc: 'Number of threads mariabackup copies data files with (--parallel), 1-64.',
    example: '4',
  },

  // Restore target
  MBSTREAM_PATH: {
    format: 'bm-program',
    default: 'mbstream',
    env: 'MBSTREAM_PATH',
    section: 'Restore target',
    doc: 'The mbstream program that unpacks backup streams: a name looked up on PATH or an absolute path.',
    example: '/usr/bin/mbstream',
  },
  MARIADB_DATADIR: {
    format: 'bm-path',
    default: '/var/lib/mysql',
    env: 'MARIADB_DATADIR',
    section: 'Restore target',
    doc: 'Data directory that restores write into (absolute path).',
    example: '/srv/mysql',
  },
  MARIADB_OS_USER: {
    format: 'bm-required-text',
    default: 'mysql',
    env: 'MARIADB_OS_USER',
    section: 'Restore target',
    doc: 'OS user that restored files are given to (the user mariadbd runs as).',
    example: 'mariadb',
  },
  PREPARE_USE_MEMORY: {
    format: 'bm-bytes',
    min: 16 * MiB,
    default: 256 * MiB,
    env: 'PREPARE_USE_MEMORY',
    section: 'Restore target',
    doc: "InnoDB buffer pool that mariabackup --prepare uses while it applies the redo log and incremental deltas (--use-memory; mariabackup's own default is 96MiB), at least 16MiB; a larger pool speeds up prepare of backups that carry much redo log (busy servers); it is held only while prepare runs, which the daemon does before it stops MariaDB, so leave room for the running server.",
    example: '4GiB',
  },

  // Schedules
  FULL_BACKUP_SCHEDULE: {
    format: 'bm-schedule',
    default: 'weekly',
    env: 'FULL_BACKUP_SCHEDULE',
    section: 'Schedules',
    doc: 'When full backups run: hourly, daily, weekly, monthly, off, or a 5-field cron expression (6 fields = with seconds first).',
    example: '0 3 * * 0',
  },
  INCREMENTAL_BACKUP_SCHEDULE: {
    format: 'bm-schedule',
    default: 'daily',
    env: 'INCREMENTAL_BACKUP_SCHEDULE',
    section: 'Schedules',
    doc: 'When incremental backups run; same forms as FULL_BACKUP_SCHEDULE.',
    example: '0 3 * * 1-6',
  },
  SCHEDULE_TIMEZONE: {
    format: 'bm-timezone',
    default: '',
    env: 'SCHEDULE_TIMEZONE',
    section: 'Schedules',
    doc: 'Time zone the schedules are read in (IANA name); empty = the system time zone.',
    example: 'Europe/Berlin',
  },
  INCREMENTAL_BASE: {
    format: 'bm-enum',
    values: INCREMENTAL_BASES,
    default: 'latest',
    env: 'INCREMENTAL_BASE',
    section: 'Schedules',
    doc: 'What an incremental is taken against: latest (the newest backup of the chain) or full (differential: restores need two backups).',
    example: 'full',
  },
  MAX_CHAIN_LENGTH: {
    format: 'bm-int',
    min: 1,
    max: 1000,
    default: 30,
    env: 'MAX_CHAIN_LENGTH',
    section: 'Schedules',
    doc: 'Most incrementals after one full; when reached, the next automatic backup is a full.',
    example: '14',
  },

  // Directory backups (sources/directory/)
  DIRECTORY_BACKUP_PATHS: {
    format: 'bm-paths',
    default: '',
    env: 'DIRECTORY_BACKUP_PATHS',
    section: 'Directory backups',
    doc: 'Directories (or files) that directory backups keep, comma-separated absolute paths; symlinks are kept as links, never followed; empty = no directory backups.',
    example: '/etc/mysql,/etc/backupmate',
  },
  DIRECTORY_BACKUP_SCHEDULE: {
    format: 'bm-schedule',
    default: 'off',
    env: 'DIRECTORY_BACKUP_SCHEDULE',
    section: 'Directory backups',
    doc: 'When directory backups run (a full when there is none or the chain is at MAX_CHAIN_LENGTH, else an incremental of what changed); same forms as FULL_BACKUP_SCHEDULE; needs DIRECTORY_BACKUP_PATHS.',
    example: 'daily',
  },
  DIRECTORY_BACKUP_PREFIX: {
    format: 'bm-prefix',
    default: 'backupmate/directories/',
    env: 'DIRECTORY_BACKUP_PREFIX',
    section: 'Directory backups',
    doc: 'Key prefix of directory backups (full and incremental); must not contain, or lie inside, FULL_BACKUP_PREFIX or INCREMENTAL_BACKUP_PREFIX.',
    example: 'db1/directories/',
  },

  // Logical backups (sources/logical/)
  LOGICAL_BACKUP_SCHEDULE: {
    format: 'bm-schedule',
    default: 'off',
    env: 'LOGICAL_BACKUP_SCHEDULE',
    section: 'Logical backups',
    doc: 'When logical backups (mydumper dumps, always full) run; same forms as FULL_BACKUP_SCHEDULE; off = only `backupmate backup --logical`.',
    example: 'daily',
  },
  LOGICAL_BACKUP_PREFIX: {
    format: 'bm-prefix',
    default: 'backupmate/logical/',
    env: 'LOGICAL_BACKUP_PREFIX',
    section: 'Logical backups',
    doc: 'Key prefix of logical backups; must not contain, or lie inside, another backup prefix.',
    example: 'db1/logical/',
  },
  LOGICAL_DATABASES: {
    format: 'bm-text',
    default: '',
    env: 'LOGICAL_DATABASES',
    section: 'Logical backups',
    doc: 'Databases a logical backup dumps, comma-separated; empty = every database not in LOGICAL_EXCLUDE_DATABASES.',
    example: 'shop,crm',
  },
  LOGICAL_EXCLUDE_DATABASES: {
    format: 'bm-text',
    default: 'mysql,information_schema,performance_schema,sys',
    env: 'LOGICAL_EXCLUDE_DATABASES',
    section: 'Logical backups',
    doc: 'Databases a logical backup never dumps, comma-separated (users and grants are kept as SQL by LOGICAL_OBJECTS=users instead of the mysql database).',
    example: 'mysql,information_schema,performance_schema,sys,scratch',
  },
  LOGICAL_OBJECTS: {
    format: 'bm-text',
    default: 'all',
    env: 'LOGICAL_OBJECTS',
    section: 'Logical backups',
    doc: 'What a logical backup keeps, comma-separated from schema, data, views, routines, triggers, events, users; all = every one.',
    example: 'schema,data,views,triggers',
  },
  LOGICAL_PARALLEL: {
    format: 'bm-int',
    min: 0,
    max: 64,
    default: 0,
    env: 'LOGICAL_PARALLEL',
    section: 'Logical backups',
    doc: 'Connections a logical backup dumps with and a restore loads with, 1-64; 0 = the number of CPU cores.',
    example: '4',
  },
  RESTORE_DB_USER: {
    format: 'bm-text',
    default: '',
    env: 'RESTORE_DB_USER',
    section: 'Logical backups',
    doc: 'User `restore --into-server` loads as (over DB_HOST/DB_PORT or DB_SOCKET); empty = DB_USER.',
    example: 'restorer',
  },
  RESTORE_DB_PASSWORD: {
    format: 'bm-text',
    default: '',
    env: 'RESTORE_DB_PASSWORD',
    section: 'Logical backups',
    sensitive: true,
    doc: "RESTORE_DB_USER's password; empty with RESTORE_DB_USER empty = DB_PASSWORD.",
    example: 'restore-secret',
  },

  // Binlog archive (sources/binlog/)
  BINLOG_ARCHIVE: {
    format: 'bm-bool',
    default: false,
    env: 'BINLOG_ARCHIVE',
    section: 'Binlog archive',
    doc: 'true: the daemon streams the server\'s binary logs into the store continuously (mariadb-binlog --read-from-remote-server; DB_USER needs REPLICATION SLAVE, the server log_bin and a server_id), the base of point-in-time recovery.',
    example: 'true',
  },
  BINLOG_PREFIX: {
    format: 'bm-prefix',
    default: 'backupmate/binlog/',
    env: 'BINLOG_PREFIX',
    section: 'Binlog archive',
    doc: 'Key prefix of the binlog archive (segments and their index objects); must not contain, or lie inside, the backup prefixes.',
    example: 'db1/binlog/',
  },
  BINLOG_SEGMENT_SECONDS: {
    format: 'bm-int',
    min: 1,
    max: 3600,
    default: 60,
    env: 'BINLOG_SEGMENT_SECONDS',
    section: 'Binlog archive',
    doc: 'A segment of the binlog stream is closed and uploaded once it has been open this many seconds (at the next transaction boundary): the archive\'s data-loss window when the host dies.',
    example: '10',
  },
  BINLOG_SEGMENT_SIZE: {
    format: 'bm-bytes',
    min: 64 * 1024,
    max: 1024 * MiB,
    default: 64 * MiB,
    env: 'BINLOG_SEGMENT_SIZE',
    section: 'Binlog archive',
    doc: 'A segment is also closed once it holds this many bytes of binlog (at the next transaction boundary); a segment is held in memory while it is compressed and encrypted.',
    example: '16MiB',
  },
  MARIADB_BINLOG_PATH: {
    format: 'bm-program',
    default: 'mariadb-binlog',
    env: 'MARIADB_BINLOG_PATH',
    section: 'Binlog archive',
    doc: 'The mariadb-binlog program (Debian package mariadb-client) that streams the binlogs.',
    example: '/usr/bin/mariadb-binlog',
  },

  // Compression
  COMPRESSION: {
    format: 'bm-enum',
    values: COMPRESSIONS,
    default: 'zstd',
    env: 'COMPRESSION',
    section: 'Compression',
    doc: 'Compression of backup streams: zstd, gzip or none.',
    example: 'gzip',
  },
  COMPRESSION_LEVEL: {
    format: 'bm-int',
    min: 1,
    max: 19,
    default: 3,
    env: 'COMPRESSION_LEVEL',
    section: 'Compression',
    doc: 'Compression level: 1-19 with zstd, 1-9 with gzip; ignored with none.',
    example: '6',
  },

  // Encryption
  ENCRYPTION: {
    format: 'bm-enum',
    values: ENCRYPTIONS,
    default: 'none',
    env: 'ENCRYPTION',
    section: 'Encryption',
    doc: 'Client-side encryption of new backups: age (to AGE_RECIPIENTS, after compression) or none. Restores follow each backup\'s manifest.',
    example: 'age',
  },
  AGE_RECIPIENTS: {
    format: 'bm-age-recipients',
    default: '',
    env: 'AGE_RECIPIENTS',
    section: 'Encryption',
    doc: 'Public keys new backups are encrypted to (age1..., from age-keygen -y), separated by commas or spaces, or the absolute path of a file with one per line; required when ENCRYPTION=age.',
    example: 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p,age15s8y3tcfjqzv6cfehya97256ar8875jgpac5lkrg4an2s8y3yausj6mxpc',
  },
  AGE_IDENTITY_FILE: {
    format: 'bm-path',
    optional: true,
    default: '',
    env: 'AGE_IDENTITY_FILE',
    section: 'Encryption',
    doc: 'Private age identity file (absolute path) that restores of encrypted backups decrypt with; backups never need it, so keep it off the database host until a restore.',
    example: '/run/backupmate/restore-identity.txt',
  },

  // Integrity
  MANIFEST_HMAC_KEY: {
    format: 'bm-hmac-key',
    default: '',
    env: 'MANIFEST_HMAC_KEY',
    section: 'Integrity',
    sensitive: true,
    doc: 'Secret key (at least 32 characters; generate with: openssl rand -hex 32) for an HMAC-SHA256 over every manifest written; when set, restore and verify refuse manifests whose MAC is wrong or missing. Keep a copy with the age identity.',
    example: 'replace-me-with-the-output-of-openssl-rand-hex-32',
  },

  // Logging
  RETENTION_FULL_COUNT: {
    format: 'bm-int',
    min: 0,
    max: 100000,
    default: 0,
    env: 'RETENTION_FULL_COUNT',
    section: 'Retention',
    doc: 'Keep the newest N chains (a full and its incrementals); 0 = no count limit. Whole chains only; with RETENTION_DAYS too, a chain either rule keeps is kept.',
    example: '4',
  },
  RETENTION_DAYS: {
    format: 'bm-int',
    min: 0,
    max: 36500,
    default: 0,
    env: 'RETENTION_DAYS',
    section: 'Retention',
    doc: 'Delete chains whose newest backup is older than N days; 0 = no age limit. The newest chain is always kept; with RETENTION_FULL_COUNT too, a chain either rule keeps is kept.',
    example: '30',
  },
  INCOMPLETE_GRACE_HOURS: {
    format: 'bm-int',
    min: 1,
    max: 8760,
    default: 24,
    env: 'INCOMPLETE_GRACE_HOURS',
    section: 'Retention',
    doc: 'Incomplete backups (objects without a manifest) older than this many hours are removed by prune.',
    example: '6',
  },
  CONTROL_SOCKET: {
    format: 'bm-path',
    default: '/run/backupmate/backupmate.sock',
    env: 'CONTROL_SOCKET',
    section: 'Daemon',
    doc: 'Unix socket the daemon listens on for backupmatectl (created mode 0660).',
    example: '/run/backupmate/main.sock',
  },
  CONTROL_SOCKET_GROUP: {
    format: 'bm-text',
    default: 'backupmate',
    env: 'CONTROL_SOCKET_GROUP',
    section: 'Daemon',
    doc: 'Group that owns the control socket; its members may use backupmatectl. Empty = the daemon user\'s group.',
    example: 'dba',
  },
  STATE_DIR: {
    format: 'bm-path',
    default: '/var/lib/backupmate',
    env: 'STATE_DIR',
    section: 'Daemon',
    doc: 'Directory for the daemon\'s small state file (job history, so status survives a restart).',
    example: '/var/lib/backupmate/main',
  },
  MARIADB_STOP_COMMAND: {
    format: 'bm-text',
    default: 'systemctl stop mariadb',
    env: 'MARIADB_STOP_COMMAND',
    section: 'Restore target',
    doc: 'Command (run with /bin/sh -c) that stops MariaDB before a daemon-managed copy-back/move-back.',
    example: 'systemctl stop mariadb@main',
  },
  MARIADB_START_COMMAND: {
    format: 'bm-text',
    default: 'systemctl start mariadb',
    env: 'MARIADB_START_COMMAND',
    section: 'Restore target',
    doc: 'Command (run with /bin/sh -c) that starts MariaDB after a daemon-managed restore.',
    example: 'systemctl start mariadb@main',
  },
  MARIADB_SERVICE_TIMEOUT: {
    format: 'bm-int',
    min: 5,
    max: 86400,
    default: 300,
    env: 'MARIADB_SERVICE_TIMEOUT',
    section: 'Restore target',
    doc: 'Seconds to wait for MariaDB to be really down after the stop command, or to answer a query after the start command.',
    example: '600',
  },
  RETRY_ATTEMPTS: {
    format: 'bm-int',
    min: 1,
    max: 20,
    default: 8,
    env: 'RETRY_ATTEMPTS',
    section: 'Failure handling',
    doc:
      'Attempts for every storage operation (and each multipart part) on transient errors: 5xx, throttling, refused or reset connections, timeouts. ' +
      'With the defaults (8 attempts, 1 s doubling up to 30 s) a request rides out an outage of at least 45 s and gives up after at most 91 s of waiting ' +
      '(plus the attempts themselves: a stalled one lasts S3_REQUEST_TIMEOUT_MS).',
    example: '10',
  },
  RETRY_BASE_DELAY_MS: {
    format: 'bm-int',
    min: 1,
    max: 600000,
    default: 1000,
    env: 'RETRY_BASE_DELAY_MS',
    section: 'Failure handling',
    doc:
      'Ceiling of the first retry delay in ms; doubles per retry up to RETRY_MAX_DELAY_MS. Equal jitter: each delay is at least half its ceiling, ' +
      'so a request waits at least the sum of the half-ceilings before giving up, and at most the sum of the ceilings.',
    example: '2000',
  },
  RETRY_MAX_DELAY_MS: {
    format: 'bm-int',
    min: 1,
    max: 3600000,
    default: 30000,
    env: 'RETRY_MAX_DELAY_MS',
    section: 'Failure handling',
    doc: 'Longest delay between two retries, in ms (the cap of the doubling ceiling).',
    example: '60000',
  },
  S3_REQUEST_TIMEOUT_MS: {
    format: 'bm-int',
    min: 1000,
    max: 3600000,
    default: 120000,
    env: 'S3_REQUEST_TIMEOUT_MS',
    section: 'Failure handling',
    doc: 'An S3 request that stalls this long (no response, or a stalled body) is aborted and retried.',
    example: '30000',
  },
  NOTIFY_ON: {
    format: 'bm-enum',
    values: NOTIFY_ONS,
    default: 'failure',
    env: 'NOTIFY_ON',
    section: 'Failure handling',
    doc: 'When to send notifications: failure (failed jobs and stale-backup alerts) or always (successes too).',
    example: 'always',
  },
  SLACK_WEBHOOK_URL: {
    format: 'bm-url',
    default: '',
    env: 'SLACK_WEBHOOK_URL',
    section: 'Failure handling',
    sensitive: true,
    doc: 'Slack incoming-webhook URL for notifications; empty = no Slack.',
    example: 'https://hooks.slack.com/services/T000/B000/XXXX',
  },
  SMTP_URL: {
    format: 'bm-smtp-url',
    default: '',
    env: 'SMTP_URL',
    section: 'Failure handling',
    sensitive: true,
    doc: 'SMTP server for e-mail notifications (smtp:// or smtps://, credentials in the URL); empty = no e-mail.',
    example: 'smtps://backupmate:secret@mail.example.com:465',
  },
  NOTIFY_EMAIL_TO: {
    format: 'bm-emails',
    default: '',
    env: 'NOTIFY_EMAIL_TO',
    section: 'Failure handling',
    doc: 'Comma-separated recipients of e-mail notifications.',
    example: 'dba@example.com,oncall@example.com',
  },
  NOTIFY_EMAIL_FROM: {
    format: 'bm-emails',
    default: '',
    env: 'NOTIFY_EMAIL_FROM',
    section: 'Failure handling',
    doc: 'Sender address of e-mail notifications; empty = backupmate@<hostname>.',
    example: 'backupmate@db1.example.com',
  },
  STALE_AFTER: {
    format: 'bm-duration',
    default: 0,
    env: 'STALE_AFTER',
    section: 'Failure handling',
    doc: 'Alert when no backup has succeeded for this long (90s, 30m, 48h, 2d); empty or 0 (the default) = twice the incremental schedule\'s period, the full schedule\'s when incrementals are off, never when both are off.',
    example: '36h',
  },
  LOG_FILE: {
    format: 'bm-path',
    optional: true,
    default: '',
    env: 'LOG_FILE',
    section: 'Logging',
    doc: 'File the log is also written to as JSON lines (absolute path); empty = no file. The console (journal, terminal) gets the log either way.',
    example: '/var/log/backupmate/backupmate.log',
  },
  LOG_LEVEL: {
    format: 'bm-enum',
    values: LOG_LEVELS,
    default: 'info',
    env: 'LOG_LEVEL',
    section: 'Logging',
    doc: 'Least severe level that is logged: error, warn, info or debug.',
    example: 'debug',
  },

  // Metrics (metrics/)
  METRICS_LISTEN: {
    format: 'bm-listen',
    default: '',
    env: 'METRICS_LISTEN',
    section: 'Metrics',
    doc: 'HOST:PORT where the daemon serves Prometheus metrics at /metrics (plain HTTP, no authentication: keep it on loopback or a private network); empty = off.',
    example: '127.0.0.1:9187',
  },
  METRICS_TEXTFILE: {
    format: 'bm-path',
    optional: true,
    default: '',
    env: 'METRICS_TEXTFILE',
    section: 'Metrics',
    doc: "File the same metrics are written to (atomically) after every job, for node_exporter's textfile collector; also from one-shot commands (cron); empty = off.",
    example: '/var/lib/node_exporter/textfile/backupmate.prom',
  },

  // Restore drills (drill/)
  DRILL_SCHEDULE: {
    format: 'bm-schedule',
    default: 'off',
    env: 'DRILL_SCHEDULE',
    section: 'Restore drills',
    doc: 'When the daemon drills the latest backup (restores its chain into LOCAL_TEMP_DIR, starts a throwaway mariadbd, checks every table); same forms as FULL_BACKUP_SCHEDULE.',
    example: 'daily',
  },
  DRILL_MARIADBD_OPTIONS: {
    format: 'bm-text',
    default: '',
    env: 'DRILL_MARIADBD_OPTIONS',
    section: 'Restore drills',
    doc: "More mariadbd options for the drill's throwaway server, space-separated (e.g. --innodb-buffer-pool-size=1G); it always runs with --skip-networking, no binlog, no replication and its own socket.",
    example: '--innodb-buffer-pool-size=512M',
  },
};

export const CONFIG_KEY_NAMES: readonly ConfigKey[] = Object.keys(SCHEMA) as ConfigKey[];

export function isConfigKey(name: string): name is ConfigKey {
  return Object.prototype.hasOwnProperty.call(SCHEMA, name);
}

export function isSensitive(key: ConfigKey): boolean {
  return SCHEMA[key].sensitive === true;
}

/** A value as it is written in an env file; byte sizes in their exact binary unit. */
export function envText(key: ConfigKey, value: ConfigValues[ConfigKey]): string {
  if (SCHEMA[key].format === 'bm-bytes' && typeof value === 'number') return formatByteSize(value);
  return String(value);
}

/** What `config show --defaults` or a docs generator needs to know about one key. */
export interface KeyInfo {
  key: ConfigKey;
  section: Section;
  doc: string;
  sensitive: boolean;
  default: string | number | boolean;
  /** The default as written in an env file ("16MiB", "" for none). */
  defaultText: string;
  example: string;
}

/** Every key with its documentation, in schema order. */
export const CONFIG_KEYS: readonly KeyInfo[] = Object.freeze(
  CONFIG_KEY_NAMES.map((key) =>
    Object.freeze({
      key,
      section: SCHEMA[key].section,
      doc: SCHEMA[key].doc,
      sensitive: isSensitive(key),
      default: SCHEMA[key].default,
      defaultText: envText(key, SCHEMA[key].default),
      example: SCHEMA[key].example,
    }),
  ),
);

// ---------------------------------------------------------------------------------------------
// Rules across keys

/** A value that is valid alone but not together with others. `key` is the one to change. */
export interface CrossKeyProblem {
  key: ConfigKey;
  /** "must ...", naming the other keys involved; never contains a value. */
  reason: string;
  /** The other keys involved; their values are shown next to the problem. */
  related: readonly ConfigKey[];
}

/**
 * Checks the rules that span keys. A rule runs only when each of its keys passed its own format
 * (`isValid`), so one bad value is reported once, not again through every rule it touches.
 */
export function crossKeyProblems(v: Readonly<ConfigValues>, isValid: (key: ConfigKey) => boolean = () => true): CrossKeyProblem[] {
  const problems: CrossKeyProblem[] = [];
  const when = (keys: readonly ConfigKey[], check: () => CrossKeyProblem | undefined): void => {
    if (!keys.every(isValid)) return;
    const p = check();
    if (p) problems.push(p);
  };

  when(['STORAGE', 'S3_BUCKET_NAME'], () =>
    v.STORAGE === 's3' && v.S3_BUCKET_NAME === ''
      ? { key: 'S3_BUCKET_NAME', reason: 'must be set when STORAGE=s3', related: ['STORAGE'] }
      : undefined,
  );
  for (const p of azureProblems(v, isValid)) problems.push(p);
  for (const p of gcsProblems(v, isValid)) problems.push(p);
  // The second store on Azure or GCS: the same rules under COPY_, and not in the primary's place.
  for (const p of azureProblems(v, isValid, COPY_KEYS)) problems.push(p);
  for (const p of gcsProblems(v, isValid, COPY_KEYS)) problems.push(p);
  const samePlace = copySamePlaceProblem(v, isValid);
  if (samePlace) problems.push(samePlace);
  when(['STORAGE', 'STORAGE_PATH'], () =>
    v.STORAGE === 'file' && v.STORAGE_PATH === ''
      ? { key: 'STORAGE_PATH', reason: 'must be set when STORAGE=file', related: ['STORAGE'] }
      : undefined,
  );

  // A volume is uploaded as one multipart object: at least one full part, at most maxParts parts.
  when(['STORAGE', 'VOLUME_SIZE', 'S3_PART_SIZE'], () => {
    // GCS goes through the S3 driver (same parts, same limits).
    if (v.STORAGE !== 's3' && v.STORAGE !== 'gcs') return undefined;
    if (v.VOLUME_SIZE < v.S3_PART_SIZE) {
      return { key: 'VOLUME_SIZE', reason: `must be at least S3_PART_SIZE when STORAGE=${v.STORAGE}`, related: ['S3_PART_SIZE'] };
    }
    const limit = v.S3_PART_SIZE * S3_LIMITS.maxParts;
    if (v.VOLUME_SIZE > limit) {
      return {
        key: 'VOLUME_SIZE',
        reason:
          `must be at most ${S3_LIMITS.maxParts} x S3_PART_SIZE = ${formatByteSize(limit)} when STORAGE=${v.STORAGE} ` +
          `(S3 allows ${S3_LIMITS.maxParts} parts per object)`,
        related: ['S3_PART_SIZE'],
      };
    }
    return undefined;
  });

  when(['RETRY_BASE_DELAY_MS', 'RETRY_MAX_DELAY_MS'], () =>
    v.RETRY_MAX_DELAY_MS < v.RETRY_BASE_DELAY_MS
      ? { key: 'RETRY_MAX_DELAY_MS', reason: 'must be at least RETRY_BASE_DELAY_MS', related: ['RETRY_BASE_DELAY_MS'] }
      : undefined,
  );
  when(['SMTP_URL', 'NOTIFY_EMAIL_TO'], () =>
    v.SMTP_URL !== '' && v.NOTIFY_EMAIL_TO === ''
      ? { key: 'NOTIFY_EMAIL_TO', reason: 'must name at least one recipient when SMTP_URL is set', related: ['SMTP_URL'] }
      : v.SMTP_URL === '' && v.NOTIFY_EMAIL_TO !== ''
        ? { key: 'SMTP_URL', reason: 'must be set when NOTIFY_EMAIL_TO is set', related: ['NOTIFY_EMAIL_TO'] }
        : undefined,
  );

  when(['COMPRESSION', 'COMPRESSION_LEVEL'], () => {
    if (v.COMPRESSION === 'none') return undefined;
    const { min, max } = COMPRESSION_LEVELS[v.COMPRESSION];
    return v.COMPRESSION_LEVEL < min || v.COMPRESSION_LEVEL > max
      ? { key: 'COMPRESSION_LEVEL', reason: `must be ${min}-${max} when COMPRESSION=${v.COMPRESSION}`, related: ['COMPRESSION'] }
      : undefined;
  });

  // Backups are told apart by prefix; nested prefixes would make one kind list the other's objects.
  when(['FULL_BACKUP_PREFIX', 'INCREMENTAL_BACKUP_PREFIX'], () => {
    const full = v.FULL_BACKUP_PREFIX;
    const incr = v.INCREMENTAL_BACKUP_PREFIX;
    if (full === incr) {
      return { key: 'INCREMENTAL_BACKUP_PREFIX', reason: 'must differ from FULL_BACKUP_PREFIX', related: ['FULL_BACKUP_PREFIX'] };
    }
    if (incr.startsWith(full)) {
      return { key: 'INCREMENTAL_BACKUP_PREFIX', reason: 'must not lie inside FULL_BACKUP_PREFIX', related: ['FULL_BACKUP_PREFIX'] };
    }
    if (full.startsWith(incr)) {
      return { key: 'FULL_BACKUP_PREFIX', reason: 'must not lie inside INCREMENTAL_BACKUP_PREFIX', related: ['INCREMENTAL_BACKUP_PREFIX'] };
    }
    return undefined;
  });

  // Directory backups are told apart from physical ones by prefix, like full and incremental.
  for (const other of ['FULL_BACKUP_PREFIX', 'INCREMENTAL_BACKUP_PREFIX'] as const) {
    when(['DIRECTORY_BACKUP_PREFIX', other], () => {
      const dir = v.DIRECTORY_BACKUP_PREFIX;
      if (dir === v[other]) return { key: 'DIRECTORY_BACKUP_PREFIX', reason: `must differ from ${other}`, related: [other] };
      if (dir.startsWith(v[other])) return { key: 'DIRECTORY_BACKUP_PREFIX', reason: `must not lie inside ${other}`, related: [other] };
      if (v[other].startsWith(dir)) return { key: 'DIRECTORY_BACKUP_PREFIX', reason: `must not contain ${other}`, related: [other] };
      return undefined;
    });
  }
  // The binlog archive lives apart from every backup prefix (prune and list read them separately).
  for (const other of ['FULL_BACKUP_PREFIX', 'INCREMENTAL_BACKUP_PREFIX', 'DIRECTORY_BACKUP_PREFIX'] as const) {
    when(['BINLOG_PREFIX', other], () => {
      const b = v.BINLOG_PREFIX;
      if (b === v[other]) return { key: 'BINLOG_PREFIX', reason: `must differ from ${other}`, related: [other] };
      if (b.startsWith(v[other])) return { key: 'BINLOG_PREFIX', reason: `must not lie inside ${other}`, related: [other] };
      if (v[other].startsWith(b)) return { key: 'BINLOG_PREFIX', reason: `must not contain ${other}`, related: [other] };
      return undefined;
    });
  }
  when(['DIRECTORY_BACKUP_SCHEDULE', 'DIRECTORY_BACKUP_PATHS'], () =>
    v.DIRECTORY_BACKUP_SCHEDULE !== 'off' && v.DIRECTORY_BACKUP_PATHS === ''
      ? { key: 'DIRECTORY_BACKUP_PATHS', reason: 'must name at least one path when DIRECTORY_BACKUP_SCHEDULE is not off', related: ['DIRECTORY_BACKUP_SCHEDULE'] }
      : undefined,
  );

  // Logical backups: their own prefix, and a known list of object kinds.
  for (const other of ['FULL_BACKUP_PREFIX', 'INCREMENTAL_BACKUP_PREFIX', 'DIRECTORY_BACKUP_PREFIX'] as const) {
    when(['LOGICAL_BACKUP_PREFIX', other], () => {
      const lp = v.LOGICAL_BACKUP_PREFIX;
      if (lp === v[other]) return { key: 'LOGICAL_BACKUP_PREFIX', reason: `must differ from ${other}`, related: [other] };
      if (lp.startsWith(v[other])) return { key: 'LOGICAL_BACKUP_PREFIX', reason: `must not lie inside ${other}`, related: [other] };
      if (v[other].startsWith(lp)) return { key: 'LOGICAL_BACKUP_PREFIX', reason: `must not contain ${other}`, related: [other] };
      return undefined;
    });
  }
  when(['LOGICAL_OBJECTS'], () => {
    const kinds = ['schema', 'data', 'views', 'routines', 'triggers', 'events', 'users'];
    const names = v.LOGICAL_OBJECTS.toLowerCase().split(',').map((s) => s.trim()).filter(Boolean);
    if (names.length === 1 && names[0] === 'all') return undefined;
    const bad = names.filter((n) => !kinds.includes(n));
    if (names.length === 0 || bad.length) {
      return { key: 'LOGICAL_OBJECTS', reason: `must be all or a comma-separated list of ${kinds.join(', ')}${bad.length ? ` (unknown: ${bad.join(', ')})` : ''}`, related: [] };
    }
    return undefined;
  });
  when(['RESTORE_DB_USER', 'RESTORE_DB_PASSWORD'], () =>
    v.RESTORE_DB_USER === '' && v.RESTORE_DB_PASSWORD !== ''
      ? { key: 'RESTORE_DB_PASSWORD', reason: 'must be empty unless RESTORE_DB_USER is set (without it the restore uses DB_USER and DB_PASSWORD)', related: ['RESTORE_DB_USER'] }
      : undefined,
  );

  when(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'], () => {
    if (v.AWS_ACCESS_KEY_ID !== '' && v.AWS_SECRET_ACCESS_KEY === '') {
      return { key: 'AWS_SECRET_ACCESS_KEY', reason: 'must be set when AWS_ACCESS_KEY_ID is set', related: ['AWS_ACCESS_KEY_ID'] };
    }
    if (v.AWS_ACCESS_KEY_ID === '' && v.AWS_SECRET_ACCESS_KEY !== '') {
      return { key: 'AWS_ACCESS_KEY_ID', reason: 'must be set when AWS_SECRET_ACCESS_KEY is set', related: ['AWS_SECRET_ACCESS_KEY'] };
    }
    return undefined;
  });
  when(['ENCRYPTION', 'AGE_RECIPIENTS'], () =>
    v.ENCRYPTION === 'age' && v.AGE_RECIPIENTS === ''
      ? { key: 'AGE_RECIPIENTS', reason: 'must be set when ENCRYPTION=age', related: ['ENCRYPTION'] }
      : undefined,
  );
  when(['S3_SSE', 'S3_SSE_KMS_KEY_ID'], () =>
    v.S3_SSE_KMS_KEY_ID !== '' && v.S3_SSE !== 'aws:kms'
      ? { key: 'S3_SSE_KMS_KEY_ID', reason: 'must be empty unless S3_SSE=aws:kms', related: ['S3_SSE'] }
      : undefined,
  );
  // Second store: the same rules as the primary's keys, under COPY_.
  when(['COPY_STORAGE', 'COPY_STORAGE_PATH'], () =>
    v.COPY_STORAGE === 'file' && v.COPY_STORAGE_PATH === ''
      ? { key: 'COPY_STORAGE_PATH', reason: 'must be set when COPY_STORAGE=file', related: ['COPY_STORAGE'] }
      : undefined,
  );
  when(['COPY_STORAGE', 'COPY_S3_BUCKET_NAME'], () =>
    v.COPY_STORAGE === 's3' && v.COPY_S3_BUCKET_NAME === ''
      ? { key: 'COPY_S3_BUCKET_NAME', reason: 'must be set when COPY_STORAGE=s3', related: ['COPY_STORAGE'] }
      : undefined,
  );
  when(['COPY_STORAGE', 'STORAGE', 'COPY_STORAGE_PATH', 'STORAGE_PATH', 'COPY_S3_BUCKET_NAME', 'S3_BUCKET_NAME', 'COPY_S3_ENDPOINT', 'S3_ENDPOINT'], () => {
    if (v.COPY_STORAGE !== v.STORAGE) return undefined;
    if (v.STORAGE === 'file' && path.resolve(v.COPY_STORAGE_PATH) === path.resolve(v.STORAGE_PATH)) {
      return { key: 'COPY_STORAGE_PATH', reason: 'must name another directory than STORAGE_PATH (a copy in the same place is no copy)', related: ['STORAGE_PATH'] };
    }
    if (v.STORAGE === 's3' && v.COPY_S3_BUCKET_NAME === v.S3_BUCKET_NAME && v.COPY_S3_ENDPOINT === v.S3_ENDPOINT) {
      return { key: 'COPY_S3_BUCKET_NAME', reason: 'must name another bucket (or COPY_S3_ENDPOINT another service) than S3_BUCKET_NAME: a copy in the same place is no copy', related: ['S3_BUCKET_NAME', 'S3_ENDPOINT'] };
    }
    return undefined;
  });
  when(['COPY_AWS_ACCESS_KEY_ID', 'COPY_AWS_SECRET_ACCESS_KEY'], () => {
    if (v.COPY_AWS_ACCESS_KEY_ID !== '' && v.COPY_AWS_SECRET_ACCESS_KEY === '') {
      return { key: 'COPY_AWS_SECRET_ACCESS_KEY', reason: 'must be set when COPY_AWS_ACCESS_KEY_ID is set', related: ['COPY_AWS_ACCESS_KEY_ID'] };
    }
    if (v.COPY_AWS_ACCESS_KEY_ID === '' && v.COPY_AWS_SECRET_ACCESS_KEY !== '') {
      return { key: 'COPY_AWS_ACCESS_KEY_ID', reason: 'must be set when COPY_AWS_SECRET_ACCESS_KEY is set', related: ['COPY_AWS_SECRET_ACCESS_KEY'] };
    }
    return undefined;
  });
  when(['COPY_S3_SSE', 'COPY_S3_SSE_KMS_KEY_ID'], () =>
    v.COPY_S3_SSE_KMS_KEY_ID !== '' && v.COPY_S3_SSE !== 'aws:kms'
      ? { key: 'COPY_S3_SSE_KMS_KEY_ID', reason: 'must be empty unless COPY_S3_SSE=aws:kms', related: ['COPY_S3_SSE'] }
      : undefined,
  );
  when(['COPY_STORAGE', 'VOLUME_SIZE', 'S3_PART_SIZE'], () =>
    // GCS goes through the S3 driver (same parts, same limits).
    (v.COPY_STORAGE === 's3' || v.COPY_STORAGE === 'gcs') && (v.VOLUME_SIZE < v.S3_PART_SIZE || v.VOLUME_SIZE > v.S3_PART_SIZE * S3_LIMITS.maxParts)
      ? { key: 'VOLUME_SIZE', reason: `must lie between S3_PART_SIZE and ${S3_LIMITS.maxParts} x S3_PART_SIZE when COPY_STORAGE=${v.COPY_STORAGE}`, related: ['COPY_STORAGE', 'S3_PART_SIZE'] }
      : undefined,
  );

  // Object Lock: a mode and a number of days go together (with a non-S3 store: a warning, valueWarnings).
  for (const [mode, days] of [
    ['S3_OBJECT_LOCK_MODE', 'S3_OBJECT_LOCK_DAYS'],
    ['COPY_S3_OBJECT_LOCK_MODE', 'COPY_S3_OBJECT_LOCK_DAYS'],
  ] as const) {
    when([mode, days], () => {
      if (v[mode] !== '' && v[days] < 1) return { key: days, reason: `must be at least 1 when ${mode} is set`, related: [mode] };
      if (v[mode] === '' && v[days] > 0) return { key: mode, reason: `must be GOVERNANCE or COMPLIANCE when ${days} is set`, related: [days] };
      return undefined;
    });
  }

  when(['AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN'], () =>
    v.AWS_SESSION_TOKEN !== '' && v.AWS_ACCESS_KEY_ID === ''
      ? {
          key: 'AWS_SESSION_TOKEN',
          reason: 'must be empty unless AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set',
          related: ['AWS_ACCESS_KEY_ID'],
        }
      : undefined,
  );

  return problems;
}

/**
 * The names of one store's keys: the primary's (STORAGE, AZURE_*, GCS_*) or the second store's
 * (COPY_STORAGE, COPY_AZURE_*, COPY_GCS_*), so one set of rules checks both with messages that name
 * the keys the user set. Shared tuning keys (AZURE_BLOCK_SIZE, VOLUME_SIZE) have no COPY_ twin.
 */
type StoreKeyName =
  | 'AZURE_CONTAINER'
  | 'AZURE_STORAGE_ACCOUNT'
  | 'AZURE_STORAGE_KEY'
  | 'AZURE_STORAGE_SAS_TOKEN'
  | 'AZURE_STORAGE_CONNECTION_STRING'
  | 'AZURE_BLOB_ENDPOINT'
  | 'GCS_BUCKET_NAME'
  | 'GCS_HMAC_ACCESS_ID'
  | 'GCS_HMAC_SECRET';
interface StoreKeys {
  storage: 'STORAGE' | 'COPY_STORAGE';
  name: (k: StoreKeyName) => ConfigKey;
}
const PRIMARY_KEYS: StoreKeys = { storage: 'STORAGE', name: (k) => k };
const COPY_KEYS: StoreKeys = { storage: 'COPY_STORAGE', name: (k) => `COPY_${k}` as ConfigKey };

/** STORAGE=azure (or COPY_STORAGE=azure): a container, and exactly one way to the account and its credential (see storage/drivers/azure-auth.ts). */
function azureProblems(v: Readonly<ConfigValues>, isValid: (key: ConfigKey) => boolean, s: StoreKeys = PRIMARY_KEYS): CrossKeyProblem[] {
  const n = s.name;
  const str = (k: StoreKeyName): string => v[n(k)] as string;
  const keys: readonly ConfigKey[] = [s.storage, ...(['AZURE_CONTAINER', 'AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_STORAGE_CONNECTION_STRING', 'AZURE_BLOB_ENDPOINT'] as const).map(n), 'AZURE_BLOCK_SIZE', 'VOLUME_SIZE'];
  if (!keys.every(isValid) || v[s.storage] !== 'azure') return [];
  const when = `when ${s.storage}=azure`;
  const out: CrossKeyProblem[] = [];
  if (str('AZURE_CONTAINER') === '') out.push({ key: n('AZURE_CONTAINER'), reason: `must be set ${when}`, related: [s.storage] });
  if (str('AZURE_STORAGE_CONNECTION_STRING') !== '') {
    for (const other of ['AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_BLOB_ENDPOINT'] as const) {
      if (str(other) !== '') {
        out.push({ key: n(other), reason: `must be empty when ${n('AZURE_STORAGE_CONNECTION_STRING')} is set (the connection string names the account, endpoint and credential)`, related: [n('AZURE_STORAGE_CONNECTION_STRING')] });
      }
    }
  } else {
    if (str('AZURE_STORAGE_KEY') !== '' && str('AZURE_STORAGE_SAS_TOKEN') !== '') {
      out.push({ key: n('AZURE_STORAGE_SAS_TOKEN'), reason: `must be empty when ${n('AZURE_STORAGE_KEY')} is set (use one credential)`, related: [n('AZURE_STORAGE_KEY')] });
    }
    if (str('AZURE_STORAGE_KEY') !== '' && str('AZURE_STORAGE_ACCOUNT') === '') {
      out.push({ key: n('AZURE_STORAGE_ACCOUNT'), reason: `must be set when ${n('AZURE_STORAGE_KEY')} is set (a shared key signs for one account)`, related: [n('AZURE_STORAGE_KEY')] });
    } else if (str('AZURE_STORAGE_ACCOUNT') === '' && str('AZURE_BLOB_ENDPOINT') === '') {
      out.push({
        key: n('AZURE_STORAGE_ACCOUNT'),
        reason: `must be set ${when} (or set ${n('AZURE_BLOB_ENDPOINT')}, or ${n('AZURE_STORAGE_CONNECTION_STRING')} instead)`,
        related: [s.storage, n('AZURE_BLOB_ENDPOINT'), n('AZURE_STORAGE_CONNECTION_STRING')],
      });
    }
  }
  const limit = v.AZURE_BLOCK_SIZE * AZURE_LIMITS.maxParts;
  if (v.VOLUME_SIZE > limit) {
    out.push({
      key: 'VOLUME_SIZE',
      reason: `must be at most ${AZURE_LIMITS.maxParts} x AZURE_BLOCK_SIZE = ${formatByteSize(limit)} ${when} (a blob has at most ${AZURE_LIMITS.maxParts} blocks)`,
      related: s.storage === 'STORAGE' ? ['AZURE_BLOCK_SIZE'] : ['COPY_STORAGE', 'AZURE_BLOCK_SIZE'],
    });
  }
  return out;
}

/** STORAGE=gcs (or COPY_STORAGE=gcs): a bucket and an HMAC key (the XML API signs with it; there is no credential chain there). */
function gcsProblems(v: Readonly<ConfigValues>, isValid: (key: ConfigKey) => boolean, s: StoreKeys = PRIMARY_KEYS): CrossKeyProblem[] {
  const n = s.name;
  const keys: readonly ConfigKey[] = [s.storage, n('GCS_BUCKET_NAME'), n('GCS_HMAC_ACCESS_ID'), n('GCS_HMAC_SECRET')];
  if (!keys.every(isValid) || v[s.storage] !== 'gcs') return [];
  const when = `when ${s.storage}=gcs`;
  const out: CrossKeyProblem[] = [];
  if (v[n('GCS_BUCKET_NAME')] === '') out.push({ key: n('GCS_BUCKET_NAME'), reason: `must be set ${when}`, related: [s.storage] });
  if (v[n('GCS_HMAC_ACCESS_ID')] === '') out.push({ key: n('GCS_HMAC_ACCESS_ID'), reason: `must be set ${when} (an HMAC key of a service account)`, related: [s.storage] });
  if (v[n('GCS_HMAC_SECRET')] === '') out.push({ key: n('GCS_HMAC_SECRET'), reason: `must be set ${when} (the secret of the HMAC key)`, related: [s.storage, n('GCS_HMAC_ACCESS_ID')] });
  return out;
}

/**
 * COPY_STORAGE equal to STORAGE on azure or gcs: the copy must live somewhere else (another
 * container or account/endpoint; another bucket or endpoint). The file and s3 cases are in
 * crossKeyProblems. Credentials do not count: the same container reached with another key is the
 * same place.
 */
function copySamePlaceProblem(v: Readonly<ConfigValues>, isValid: (key: ConfigKey) => boolean): CrossKeyProblem | undefined {
  if (v.COPY_STORAGE !== v.STORAGE) return undefined;
  if (v.STORAGE === 'azure') {
    const keys = ['AZURE_CONTAINER', 'AZURE_STORAGE_ACCOUNT', 'AZURE_BLOB_ENDPOINT', 'AZURE_STORAGE_CONNECTION_STRING'] as const;
    if (![...keys, ...keys.map((k) => COPY_KEYS.name(k))].every(isValid)) return undefined;
    if (v.COPY_AZURE_CONTAINER === '' || v.COPY_AZURE_CONTAINER !== v.AZURE_CONTAINER) return undefined;
    // Where each one's credential leads (the driver's own resolution), lower-cased.
    const place = (account: string, endpoint: string, connectionString: string): string =>
      resolveAzureAuth({ account, endpoint, connectionString, key: '', sas: '' }).endpoint.toLowerCase();
    const primary = place(v.AZURE_STORAGE_ACCOUNT, v.AZURE_BLOB_ENDPOINT, v.AZURE_STORAGE_CONNECTION_STRING);
    const copy = place(v.COPY_AZURE_STORAGE_ACCOUNT, v.COPY_AZURE_BLOB_ENDPOINT, v.COPY_AZURE_STORAGE_CONNECTION_STRING);
    if (primary !== copy) return undefined;
    return {
      key: 'COPY_AZURE_CONTAINER',
      reason: 'must name another container (or COPY_AZURE_STORAGE_ACCOUNT / COPY_AZURE_BLOB_ENDPOINT another account) than AZURE_CONTAINER: a copy in the same place is no copy',
      related: ['AZURE_CONTAINER', 'AZURE_STORAGE_ACCOUNT', 'AZURE_BLOB_ENDPOINT'],
    };
  }
  if (v.STORAGE === 'gcs') {
    if (!(['GCS_BUCKET_NAME', 'GCS_ENDPOINT', 'COPY_GCS_BUCKET_NAME', 'COPY_GCS_ENDPOINT'] as const).every(isValid)) return undefined;
    const endpoint = (e: string): string => e.replace(/\/+$/, '').toLowerCase();
    if (v.COPY_GCS_BUCKET_NAME === '' || v.COPY_GCS_BUCKET_NAME !== v.GCS_BUCKET_NAME || endpoint(v.COPY_GCS_ENDPOINT) !== endpoint(v.GCS_ENDPOINT)) return undefined;
    return {
      key: 'COPY_GCS_BUCKET_NAME',
      reason: 'must name another bucket (or COPY_GCS_ENDPOINT another service) than GCS_BUCKET_NAME: a copy in the same place is no copy',
      related: ['GCS_BUCKET_NAME', 'GCS_ENDPOINT'],
    };
  }
  return undefined;
}

/**
 * Valid settings worth a warning (logged by every command, shown by `config check`): they work,
 * but probably not as the user expects.
 */
export function valueWarnings(v: Readonly<ConfigValues>): string[] {
  const warnings: string[] = [];
  // Object Lock is an S3 feature: with another store the keys do nothing (said, not refused, so
  // one env file can switch STORAGE for a test).
  if (v.S3_OBJECT_LOCK_MODE !== '' && v.STORAGE !== 's3') warnings.push(`S3_OBJECT_LOCK_MODE=${v.S3_OBJECT_LOCK_MODE} has no effect with STORAGE=${v.STORAGE}: only S3 has Object Lock`);
  if (v.COPY_S3_OBJECT_LOCK_MODE !== '' && v.COPY_STORAGE !== 's3') warnings.push(`COPY_S3_OBJECT_LOCK_MODE=${v.COPY_S3_OBJECT_LOCK_MODE} has no effect with COPY_STORAGE=${v.COPY_STORAGE || '(none)'}: only S3 has Object Lock`);
  if (v.STORAGE === 's3' && S3_ARCHIVE_CLASSES.includes(v.S3_STORAGE_CLASS)) {
    warnings.push(
      `S3_STORAGE_CLASS=${v.S3_STORAGE_CLASS}: backup volumes cannot be read until they are restored from the archive (S3 RestoreObject, hours); ` +
        'restore and verify fail with a storage error until then',
    );
  }
  if (v.STORAGE === 'gcs') {
    for (const key of ['S3_SSE', 'S3_STORAGE_CLASS'] as const) {
      if (v[key] !== '') warnings.push(`${key}=${v[key]} is ignored with STORAGE=gcs (Cloud Storage encrypts every object and uses the bucket's default storage class)`);
    }
  }
  if (v.COPY_STORAGE === 'gcs') {
    for (const key of ['COPY_S3_SSE', 'COPY_S3_STORAGE_CLASS'] as const) {
      if (v[key] !== '') warnings.push(`${key}=${v[key]} is ignored with COPY_STORAGE=gcs (Cloud Storage encrypts every object and uses the bucket's default storage class)`);
    }
  }
  return warnings;
}
