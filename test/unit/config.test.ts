import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import { BackupmateError } from '../../src/domain/errors.js';
import { renderExampleEnv } from '../../src/config/example.js';
import { CWD_FILE_NAME, PROBLEM_PREFIX, closestKey, loadConfig, type Config, type LoadOptions } from '../../src/config/load.js';
import { REDACTED, quoteValue, redactedView, secretValues } from '../../src/config/redact.js';
import {
  CONFIG_KEYS,
  CONFIG_KEY_NAMES,
  SCHEMA,
  SECTIONS,
  crossKeyProblems,
  formatByteSize,
  parseByteSize,
  scheduleProblem,
  type ConfigKey,
  type ConfigValues,
} from '../../src/config/schema.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE_FILE = path.join(REPO, 'config/backupmate.env');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Enough for the defaults to be valid: STORAGE defaults to s3, which needs a bucket. */
const BASE = { S3_BUCKET_NAME: 'bucket' };

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-config-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Writes an env file under tmp; values are single-quoted so spaces and "#" survive. */
function writeEnv(rel: string, values: Record<string, string>, mode = 0o600): string {
  const file = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}='${v}'\n`).join(''));
  fs.chmodSync(file, mode);
  return file;
}

/** Loads with nothing from the machine: a private etc dir, tmp as cwd and an empty environment. */
function load(opts: LoadOptions = {}): Config {
  return loadConfig({ cwd: tmp, etcDir: path.join(tmp, 'etc'), env: {}, ...opts });
}

function loadError(opts: LoadOptions = {}): BackupmateError {
  try {
    load(opts);
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    const err = e as BackupmateError;
    expect(err.code).toBe('CONFIG');
    expect(err.exitCode).toBe(78);
    expect(err.message).not.toMatch(/\n\s+at /);
    for (const line of err.message.split('\n')) expect(line.startsWith(PROBLEM_PREFIX) || line.startsWith('warning: ')).toBe(true);
    return err;
  }
  throw new Error('expected loadConfig to throw');
}

function problemLines(err: BackupmateError): string[] {
  return err.message.split('\n').filter((l) => l.startsWith(PROBLEM_PREFIX));
}

describe('defaults', () => {
  test('every key has its schema default and the source "default"', () => {
    const cfg = load({ env: BASE });
    for (const key of CONFIG_KEY_NAMES) {
      if (key === 'S3_BUCKET_NAME') continue;
      expect([key, cfg[key]]).toEqual([key, SCHEMA[key].default]);
      expect([key, cfg.sources[key]]).toEqual([key, 'default']);
    }
    expect(cfg.S3_BUCKET_NAME).toBe('bucket');
    expect(cfg.sources.S3_BUCKET_NAME).toBe('env');
    expect(cfg.warnings).toEqual([]);
  });

  test('documented defaults', () => {
    const cfg = load({ env: BASE });
    expect(cfg).toMatchObject({
      STORAGE: 's3',
      STORAGE_PATH: '/var/lib/backupmate/store',
      DB_HOST: 'localhost',
      DB_PORT: 3306,
      DB_SOCKET: '',
      DB_USER: 'root',
      DB_PASSWORD: '',
      MARIADB_BACKUP_PATH: 'mariabackup',
      MBSTREAM_PATH: 'mbstream',
      MARIADB_DATADIR: '/var/lib/mysql',
      MARIADB_OS_USER: 'mysql',
      AWS_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: false,
      S3_PART_SIZE: 8 * MiB,
      S3_QUEUE_SIZE: 4,
      VOLUME_SIZE: 8 * GiB,
      LOCAL_TEMP_DIR: '/var/tmp/backupmate',
      FULL_BACKUP_PREFIX: 'backupmate/full/',
      INCREMENTAL_BACKUP_PREFIX: 'backupmate/incremental/',
      FULL_BACKUP_SCHEDULE: 'weekly',
      INCREMENTAL_BACKUP_SCHEDULE: 'daily',
      COMPRESSION: 'zstd',
      COMPRESSION_LEVEL: 3,
      LOG_FILE: '',
      LOG_LEVEL: 'info',
      MARIABACKUP_PARALLEL: 2,
    });
  });

  test('defaults alone fail only for the bucket that STORAGE=s3 needs', () => {
    const err = loadError();
    expect(problemLines(err)).toEqual([
      `${PROBLEM_PREFIX}S3_BUCKET_NAME must be set when STORAGE=s3, got "" (default); STORAGE is "s3" (default)`,
    ]);
  });

  test('STORAGE=file needs no bucket (the quickstart setup)', () => {
    const cfg = load({ env: { STORAGE: 'file', STORAGE_PATH: path.join(tmp, 'store') } });
    expect(cfg.STORAGE).toBe('file');
    expect(cfg.STORAGE_PATH).toBe(path.join(tmp, 'store'));
  });

  test('the result is frozen, sources and warnings included', () => {
    const cfg = load({ env: BASE });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.sources)).toBe(true);
    expect(Object.isFrozen(cfg.warnings)).toBe(true);
  });

  test('a missing etc directory is fine', () => {
    expect(() => load({ env: BASE, etcDir: path.join(tmp, 'does-not-exist') })).not.toThrow();
  });
});

describe('precedence: defaults < etc/*.env < .backupmate.env < --config files < environment', () => {
  test('each layer overrides the ones below it and sources say which one won', () => {
    const etc10 = writeEnv('etc/10-base.env', {
      S3_BUCKET_NAME: 'etc-bucket',
      DB_HOST: 'etc10-host',
      DB_USER: 'etc10-user',
      MARIADB_OS_USER: 'etc10-os',
      COMPRESSION: 'gzip',
      DB_PORT: '1001',
    });
    const etc20 = writeEnv('etc/20-override.env', { DB_USER: 'etc20-user', DB_PORT: '1002' });
    // Not *.env, or hidden: a shell glob would not pick them either.
    writeEnv('etc/notes.txt', { DB_HOST: 'from-txt' });
    writeEnv('etc/.hidden.env', { DB_HOST: 'from-hidden' });
    const cwdFile = writeEnv(CWD_FILE_NAME, { MARIADB_OS_USER: 'cwd-os', COMPRESSION: 'zstd', DB_PORT: '1003' });
    const first = writeEnv('first.env', { COMPRESSION: 'gzip', DB_PORT: '1004' });
    const second = writeEnv('sub/second.env', { COMPRESSION: 'none', DB_PORT: '1005' });

    const cfg = load({
      files: [first, 'sub/second.env'],
      env: { DB_PORT: '1006', PATH: '/usr/bin', HOME: '/root', DB_HOTS: 'not-a-key' },
    });

    const expected: [ConfigKey, unknown, string][] = [
      ['DB_HOST', 'etc10-host', etc10],
      ['DB_USER', 'etc20-user', etc20],
      ['MARIADB_OS_USER', 'cwd-os', cwdFile],
      ['COMPRESSION', 'none', second],
      ['DB_PORT', 1006, 'env'],
      ['S3_BUCKET_NAME', 'etc-bucket', etc10],
      ['LOG_LEVEL', 'info', 'default'],
    ];
    for (const [key, value, source] of expected) {
      expect([key, cfg[key], cfg.sources[key]]).toEqual([key, value, source]);
    }
    // The environment's unrelated variables are neither loaded nor warned about.
    expect(cfg.warnings).toEqual([]);
  });

  test('a bad value in a file is harmless when a higher layer overrides it', () => {
    writeEnv(CWD_FILE_NAME, { ...BASE, DB_PORT: 'abc' });
    expect(load({ env: { DB_PORT: '3307' } }).DB_PORT).toBe(3307);
  });

  test('relative --config paths resolve against cwd and sources hold the absolute path', () => {
    const file = writeEnv('conf/backupmate.env', BASE);
    const cfg = load({ files: ['conf/backupmate.env'] });
    expect(cfg.sources.S3_BUCKET_NAME).toBe(file);
    expect(path.isAbsolute(cfg.sources.S3_BUCKET_NAME)).toBe(true);
  });

  test('an empty environment value is a value, not "unset"', () => {
    writeEnv(CWD_FILE_NAME, { ...BASE, DB_PASSWORD: 'from-file' });
    const cfg = load({ env: { DB_PASSWORD: '' } });
    expect(cfg.DB_PASSWORD).toBe('');
    expect(cfg.sources.DB_PASSWORD).toBe('env');
  });
});

describe('coercion', () => {
  test.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['Yes', true],
    ['on', true],
    ['ON', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['no', false],
    ['NO', false],
    ['off', false],
  ])('S3_FORCE_PATH_STYLE=%s is %s', (text, value) => {
    expect(load({ env: { ...BASE, S3_FORCE_PATH_STYLE: text } }).S3_FORCE_PATH_STYLE).toBe(value);
  });

  test('byte sizes, integers, enums and schedules', () => {
    const cfg = load({
      env: {
        ...BASE,
        S3_PART_SIZE: '64MiB',
        VOLUME_SIZE: '16G',
        S3_QUEUE_SIZE: ' 8 ',
        STORAGE: 'S3',
        LOG_LEVEL: 'DEBUG',
        FULL_BACKUP_SCHEDULE: 'Monthly',
        INCREMENTAL_BACKUP_SCHEDULE: '30 2 * * 1-5',
      },
    });
    expect(cfg.S3_PART_SIZE).toBe(64 * MiB);
    expect(cfg.VOLUME_SIZE).toBe(16 * GiB);
    expect(cfg.S3_QUEUE_SIZE).toBe(8);
    expect(cfg.STORAGE).toBe('s3');
    expect(cfg.LOG_LEVEL).toBe('debug');
    expect(cfg.FULL_BACKUP_SCHEDULE).toBe('monthly');
    expect(cfg.INCREMENTAL_BACKUP_SCHEDULE).toBe('30 2 * * 1-5');
  });

  test('6-field cron expressions (with seconds) are accepted', () => {
    expect(load({ env: { ...BASE, FULL_BACKUP_SCHEDULE: '0 0 3 * * 0' } }).FULL_BACKUP_SCHEDULE).toBe('0 0 3 * * 0');
  });

  test('a prefix without a trailing slash gets one', () => {
    const cfg = load({ env: { ...BASE, FULL_BACKUP_PREFIX: 'db1/full', INCREMENTAL_BACKUP_PREFIX: 'db1/incr/' } });
    expect(cfg.FULL_BACKUP_PREFIX).toBe('db1/full/');
    expect(cfg.INCREMENTAL_BACKUP_PREFIX).toBe('db1/incr/');
  });

  test('a password with "#" and spaces survives a single-quoted env file value', () => {
    writeEnv(CWD_FILE_NAME, { ...BASE, DB_PASSWORD: 'p#ss w0rd' });
    expect(load().DB_PASSWORD).toBe('p#ss w0rd');
  });
});

describe('byte sizes', () => {
  test.each([
    ['0', 0],
    ['1024', 1024],
    ['1B', 1],
    ['512K', 512 * 1024],
    ['512KiB', 512 * 1024],
    ['16M', 16 * MiB],
    ['16MiB', 16 * MiB],
    ['16mib', 16 * MiB],
    [' 16 MiB ', 16 * MiB],
    ['8G', 8 * GiB],
    ['8GiB', 8 * GiB],
    ['1.5GiB', 1.5 * GiB],
    ['2T', 2 * 1024 * GiB],
    ['5TiB', 5 * 1024 * GiB],
  ])('parseByteSize(%j) = %d', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  test.each(['', 'abc', 'MiB', '16MB', '16 GB', '8gb', '-1', '-16MiB', '1.5', '0.3K', '16MiBs', '1e3', '16 Mi B', '0x10', '99999999999T'])(
    'parseByteSize(%j) is undefined',
    (text) => {
      expect(parseByteSize(text)).toBeUndefined();
    },
  );

  test.each([
    [0, '0'],
    [1536, '1536'],
    [512 * 1024, '512KiB'],
    [16 * MiB, '16MiB'],
    [1.5 * GiB, '1536MiB'],
    [8 * GiB, '8GiB'],
    [5 * 1024 * GiB, '5TiB'],
  ])('formatByteSize(%d) = %s and parses back', (bytes, text) => {
    expect(formatByteSize(bytes)).toBe(text);
    expect(parseByteSize(text)).toBe(bytes);
  });
});

describe('schedules', () => {
  test.each(['hourly', 'daily', 'weekly', 'monthly', 'off', '0 3 * * 0', '*/15 * * * *', '0 30 2 * * 1-5', '0 3 * * MON'])('%j is valid', (s) => {
    expect(scheduleProblem(s)).toBeUndefined();
  });

  test.each(['', 'sometimes', '@daily', '* * * *', '0 0 0 1 1 * 2030', '61 * * * *', '0 0 30 2 *'])('%j is invalid', (s) => {
    expect(scheduleProblem(s)).toMatch(/^must be hourly, daily, weekly, monthly, off or a 5- or 6-field cron expression/);
  });
});

/**
 * One malformed input each. `values` go over BASE unless `noBase`; the case is run once with the
 * values in .backupmate.env and once in the environment, and must give exactly one problem line
 * naming the key, the value as written and where it came from.
 */
interface BadCase {
  name: string;
  values: Record<string, string>;
  key: ConfigKey;
  /** The bad value as the message must quote it (JSON); undefined = the key's default. */
  got?: string;
  /** Further text the line must contain (other keys, croner's reason...). */
  mentions?: string[];
  noBase?: boolean;
}

const BAD_CASES: BadCase[] = [
  { name: 'missing bucket with STORAGE=s3', values: { STORAGE: 's3' }, noBase: true, key: 'S3_BUCKET_NAME', got: '', mentions: ['STORAGE=s3'] },
  { name: 'bucket given as a URL', values: { S3_BUCKET_NAME: 's3://bucket/path' }, key: 'S3_BUCKET_NAME', mentions: ['bare bucket name'] },
  { name: 'unknown storage', values: { STORAGE: 'ftp' }, key: 'STORAGE', mentions: ['s3, file'] },
  { name: 'port not a number', values: { DB_PORT: 'abc' }, key: 'DB_PORT', mentions: ['port number 1-65535'] },
  { name: 'port too large', values: { DB_PORT: '70000' }, key: 'DB_PORT' },
  { name: 'negative port', values: { DB_PORT: '-1' }, key: 'DB_PORT' },
  { name: 'fractional port', values: { DB_PORT: '3306.5' }, key: 'DB_PORT' },
  { name: 'bad boolean', values: { S3_FORCE_PATH_STYLE: 'maybe' }, key: 'S3_FORCE_PATH_STYLE', mentions: ['true or false'] },
  { name: 'empty boolean', values: { S3_FORCE_PATH_STYLE: '' }, key: 'S3_FORCE_PATH_STYLE' },
  { name: 'cron field out of range', values: { FULL_BACKUP_SCHEDULE: '61 * * * *' }, key: 'FULL_BACKUP_SCHEDULE', mentions: ['croner:', 'minute'] },
  { name: 'cron with 4 fields', values: { INCREMENTAL_BACKUP_SCHEDULE: '* * * *' }, key: 'INCREMENTAL_BACKUP_SCHEDULE', mentions: ['croner:'] },
  { name: 'cron with 7 fields', values: { FULL_BACKUP_SCHEDULE: '0 0 0 1 1 * 2030' }, key: 'FULL_BACKUP_SCHEDULE', mentions: ['croner:'] },
  { name: 'cron that never fires', values: { FULL_BACKUP_SCHEDULE: '0 0 30 2 *' }, key: 'FULL_BACKUP_SCHEDULE', mentions: ['never'] },
  { name: 'cron nickname', values: { FULL_BACKUP_SCHEDULE: '@daily' }, key: 'FULL_BACKUP_SCHEDULE', mentions: ['write daily'] },
  { name: 'unknown schedule word', values: { INCREMENTAL_BACKUP_SCHEDULE: 'fortnightly' }, key: 'INCREMENTAL_BACKUP_SCHEDULE', mentions: ['hourly, daily, weekly, monthly, off'] },
  { name: 'endpoint not http(s)', values: { S3_ENDPOINT: 'ftp://minio:9000' }, key: 'S3_ENDPOINT', mentions: ['http://'] },
  { name: 'endpoint not a URL', values: { S3_ENDPOINT: 'not a url' }, key: 'S3_ENDPOINT' },
  { name: 'queue size zero', values: { S3_QUEUE_SIZE: '0' }, key: 'S3_QUEUE_SIZE', mentions: ['1-32'] },
  { name: 'negative queue size', values: { S3_QUEUE_SIZE: '-3' }, key: 'S3_QUEUE_SIZE' },
  { name: 'too many mariabackup threads', values: { MARIABACKUP_PARALLEL: '65' }, key: 'MARIABACKUP_PARALLEL', mentions: ['1-64'] },
  { name: 'decimal size suffix', values: { S3_PART_SIZE: '16MB' }, key: 'S3_PART_SIZE', mentions: ['M/MiB'] },
  { name: 'part size below the S3 minimum', values: { S3_PART_SIZE: '1MiB' }, key: 'S3_PART_SIZE', mentions: ['from 5MiB to 5GiB'] },
  { name: 'part size above the S3 maximum', values: { S3_PART_SIZE: '6GiB' }, key: 'S3_PART_SIZE' },
  { name: 'negative volume size', values: { VOLUME_SIZE: '-1GiB' }, key: 'VOLUME_SIZE' },
  { name: 'volume size in bytes by mistake', values: { VOLUME_SIZE: '8' }, key: 'VOLUME_SIZE', mentions: ['plain number is bytes'] },
  {
    name: 'volume too big for 10000 parts',
    values: { VOLUME_SIZE: '200GiB' },
    key: 'VOLUME_SIZE',
    mentions: ['10000 x S3_PART_SIZE = 80000MiB', 'S3_PART_SIZE is "8MiB" (default)'],
  },
  { name: 'volume smaller than a part', values: { VOLUME_SIZE: '8MiB', S3_PART_SIZE: '16MiB' }, key: 'VOLUME_SIZE', mentions: ['at least S3_PART_SIZE'] },
  { name: 'gzip level out of range', values: { COMPRESSION: 'gzip', COMPRESSION_LEVEL: '12' }, key: 'COMPRESSION_LEVEL', mentions: ['1-9 when COMPRESSION=gzip', 'COMPRESSION is "gzip"'] },
  { name: 'zstd level out of range', values: { COMPRESSION_LEVEL: '20' }, key: 'COMPRESSION_LEVEL' },
  { name: 'level zero', values: { COMPRESSION_LEVEL: '0' }, key: 'COMPRESSION_LEVEL' },
  { name: 'unknown compression', values: { COMPRESSION: 'lz4' }, key: 'COMPRESSION', mentions: ['zstd, gzip, none'] },
  {
    name: 'equal prefixes',
    values: { FULL_BACKUP_PREFIX: 'backups/', INCREMENTAL_BACKUP_PREFIX: 'backups' },
    key: 'INCREMENTAL_BACKUP_PREFIX',
    mentions: ['must differ from FULL_BACKUP_PREFIX'],
  },
  {
    name: 'incremental prefix inside the full one',
    values: { FULL_BACKUP_PREFIX: 'b/', INCREMENTAL_BACKUP_PREFIX: 'b/incr/' },
    key: 'INCREMENTAL_BACKUP_PREFIX',
    mentions: ['FULL_BACKUP_PREFIX is "b/"'],
  },
  {
    name: 'full prefix inside the incremental one',
    values: { FULL_BACKUP_PREFIX: 'b/full', INCREMENTAL_BACKUP_PREFIX: 'b' },
    key: 'FULL_BACKUP_PREFIX',
    mentions: ['INCREMENTAL_BACKUP_PREFIX'],
  },
  { name: 'absolute prefix', values: { FULL_BACKUP_PREFIX: '/backups/full/' }, key: 'FULL_BACKUP_PREFIX', mentions: ['not starting with "/"'] },
  { name: 'prefix escaping with ..', values: { INCREMENTAL_BACKUP_PREFIX: 'a/../b' }, key: 'INCREMENTAL_BACKUP_PREFIX' },
  { name: 'empty prefix', values: { FULL_BACKUP_PREFIX: '' }, key: 'FULL_BACKUP_PREFIX' },
  { name: 'file store without a path', values: { STORAGE: 'file', STORAGE_PATH: '' }, noBase: true, key: 'STORAGE_PATH', mentions: ['STORAGE=file'] },
  { name: 'relative store path', values: { STORAGE_PATH: 'relative/store' }, key: 'STORAGE_PATH', mentions: ['absolute path'] },
  { name: 'relative socket', values: { DB_SOCKET: 'mysqld.sock' }, key: 'DB_SOCKET' },
  { name: 'relative log file', values: { LOG_FILE: 'backupmate.log' }, key: 'LOG_FILE' },
  { name: 'unknown log level', values: { LOG_LEVEL: 'verbose' }, key: 'LOG_LEVEL', mentions: ['error, warn, info, debug'] },
  { name: 'relative program path', values: { MARIADB_BACKUP_PATH: 'bin/mariabackup' }, key: 'MARIADB_BACKUP_PATH', mentions: ['PATH'] },
  { name: 'empty user', values: { DB_USER: '' }, key: 'DB_USER', mentions: ['must not be empty'] },
  { name: 'access key without secret', values: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }, key: 'AWS_SECRET_ACCESS_KEY', got: '', mentions: ['AWS_ACCESS_KEY_ID is "AKIAEXAMPLE"'] },
  { name: 'unknown time zone', values: { SCHEDULE_TIMEZONE: 'Mars/Olympus' }, key: 'SCHEDULE_TIMEZONE', mentions: ['IANA time zone'] },
  { name: 'bad incremental base', values: { INCREMENTAL_BASE: 'newest' }, key: 'INCREMENTAL_BASE', mentions: ['latest, full'] },
  { name: 'zero chain length', values: { MAX_CHAIN_LENGTH: '0' }, key: 'MAX_CHAIN_LENGTH' },
  { name: 'negative retention days', values: { RETENTION_DAYS: '-3' }, key: 'RETENTION_DAYS' },
  { name: 'zero retry attempts', values: { RETRY_ATTEMPTS: '0' }, key: 'RETRY_ATTEMPTS' },
  { name: 'max retry delay below the base delay', values: { RETRY_BASE_DELAY_MS: '5000', RETRY_MAX_DELAY_MS: '100' }, key: 'RETRY_MAX_DELAY_MS', got: '100', mentions: ['RETRY_BASE_DELAY_MS'] },
  { name: 'malformed sender address', values: { NOTIFY_EMAIL_FROM: 'backupmate at db1' }, key: 'NOTIFY_EMAIL_FROM', mentions: ['e-mail addresses'] },
  { name: 'negative duration', values: { STALE_AFTER: '-5m' }, key: 'STALE_AFTER', mentions: ['duration'] },
  { name: 'e-mail recipients without SMTP_URL', values: { NOTIFY_EMAIL_TO: 'dba@example.com' }, key: 'SMTP_URL', got: '', mentions: ['NOTIFY_EMAIL_TO'] },
  { name: 'malformed e-mail address', values: { NOTIFY_EMAIL_TO: 'not an address', SMTP_URL: 'smtp://mail.example.com' }, key: 'NOTIFY_EMAIL_TO', mentions: ['e-mail addresses'] },
  { name: 'duration without a unit we know', values: { STALE_AFTER: '2 fortnights' }, key: 'STALE_AFTER', mentions: ['duration'] },
  { name: 'bad notify mode', values: { NOTIFY_ON: 'sometimes' }, key: 'NOTIFY_ON', mentions: ['failure, always'] },
  { name: 'service timeout too short', values: { MARIADB_SERVICE_TIMEOUT: '1' }, key: 'MARIADB_SERVICE_TIMEOUT' },
  { name: 'unknown server-side encryption', values: { S3_SSE: 'kms' }, key: 'S3_SSE', mentions: ['AES256 or aws:kms'] },
  { name: 'KMS key without S3_SSE=aws:kms', values: { S3_SSE: 'AES256', S3_SSE_KMS_KEY_ID: 'alias/backups' }, key: 'S3_SSE_KMS_KEY_ID', mentions: ['must be empty unless S3_SSE=aws:kms', 'S3_SSE is "AES256"'] },
  { name: 'unknown storage class', values: { S3_STORAGE_CLASS: 'COLD' }, key: 'S3_STORAGE_CLASS', got: 'COLD', mentions: ['STANDARD_IA', 'DEEP_ARCHIVE'] },
];

describe('malformed configuration', () => {
  test('there are at least 30 cases', () => {
    expect(BAD_CASES.length).toBeGreaterThanOrEqual(30);
  });

  describe.each([
    ['in .backupmate.env', 'file'],
    ['in the environment', 'env'],
  ] as const)('%s', (_label, via) => {
    test.each(BAD_CASES)('$name', (c) => {
      const values = c.noBase ? c.values : { ...BASE, ...c.values };
      const file = via === 'file' ? writeEnv(CWD_FILE_NAME, values) : undefined;
      const err = loadError(file ? {} : { env: values });

      const lines = problemLines(err);
      expect(lines).toHaveLength(1);
      const line = lines[0]!;
      expect(line.startsWith(`${PROBLEM_PREFIX}${c.key} `)).toBe(true);
      const given = c.key in values;
      const got = c.got ?? (given ? values[c.key]! : '');
      const where = !given ? 'default' : file ? `from ${file}` : 'from environment';
      expect(line).toContain(`got ${JSON.stringify(got)} (${where})`);
      for (const m of c.mentions ?? []) expect(line).toContain(m);
    });
  });

  test('a malformed secret URL is named but never shown', () => {
    const err = loadError({ env: { ...BASE, SMTP_URL: 'http://user:hunter2@mail.example.com', NOTIFY_EMAIL_TO: 'dba@example.com' } });
    expect(err.message).toContain('SMTP_URL must be empty or an smtp:// or smtps:// URL');
    expect(err.message).toContain('got <redacted>');
    expect(err.message).not.toContain('hunter2');
    expect(err.exitCode).toBe(78);
  });

  test('the documented message format', () => {
    const file = writeEnv(CWD_FILE_NAME, { ...BASE, DB_PORT: 'abc' });
    expect(loadError().message).toBe(`invalid configuration: DB_PORT must be a port number 1-65535, got "abc" (from ${file})`);
  });

  test('several problems give one line each, all in one error', () => {
    const err = loadError({ env: { DB_PORT: 'abc', LOG_LEVEL: 'loud', COMPRESSION: 'gzip', COMPRESSION_LEVEL: '15' } });
    const lines = problemLines(err);
    expect(lines).toHaveLength(4);
    // In schema order, whether a key failed its own format or a rule across keys.
    expect(lines.map((l) => l.slice(PROBLEM_PREFIX.length).split(' ')[0])).toEqual(['S3_BUCKET_NAME', 'DB_PORT', 'COMPRESSION_LEVEL', 'LOG_LEVEL']);
    expect(err.details['problems']).toEqual(lines);
  });

  test('a key that fails its own format is not reported again by the rules that involve it', () => {
    const lines = problemLines(loadError({ env: { ...BASE, S3_PART_SIZE: 'big', VOLUME_SIZE: '1TiB' } }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('S3_PART_SIZE must be a byte size');
  });

  test('long values are cut in messages', () => {
    const line = problemLines(loadError({ env: { ...BASE, LOG_LEVEL: 'x'.repeat(500) } }))[0]!;
    expect(line.length).toBeLessThan(400);
  });
});

describe('unreadable files', () => {
  test.each([
    ['a missing --config file', () => ({ files: ['missing.env'] }), 'missing.env (given with --config): no such file or directory'],
    [
      'a --config path that is a directory',
      () => {
        fs.mkdirSync(path.join(tmp, 'conf.d'));
        return { files: ['conf.d'] };
      },
      'conf.d (given with --config): is a directory',
    ],
    [
      'an etc entry that is a directory',
      () => {
        fs.mkdirSync(path.join(tmp, 'etc/broken.env'), { recursive: true });
        return {};
      },
      `${path.join('etc', 'broken.env')}: is a directory`,
    ],
    [
      'an etc path that is a file',
      () => {
        fs.writeFileSync(path.join(tmp, 'etc-file'), '');
        return { etcDir: path.join(tmp, 'etc-file') };
      },
      'etc-file: not a directory',
    ],
    [
      'a .backupmate.env that is a directory',
      () => {
        fs.mkdirSync(path.join(tmp, CWD_FILE_NAME));
        return {};
      },
      `${CWD_FILE_NAME}: is a directory`,
    ],
  ] as [string, () => LoadOptions, string][])('%s is an error naming the path', (_name, setup, expected) => {
    const err = loadError({ env: BASE, ...setup() });
    const lines = problemLines(err);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(tmp);
    expect(lines[0]).toContain(expected);
  });
});

describe('secrets', () => {
  const PASSWORD = 'hunter2-db-secret';
  const AWS_SECRET = 'aws-secret-value-123';
  const TOKEN = 'session-token-value-456';

  function expectNoSecrets(text: string): void {
    for (const s of [PASSWORD, AWS_SECRET, TOKEN, 'topsecret']) expect(text).not.toContain(s);
  }

  test('never appear in errors, whichever key fails', () => {
    writeEnv(CWD_FILE_NAME, { DB_PASSWORD: PASSWORD, AWS_SESSION_TOKEN: TOKEN, DB_PORT: 'nope' });
    const err = loadError({ env: { AWS_SECRET_ACCESS_KEY: AWS_SECRET } });
    expectNoSecrets(err.message);
    expectNoSecrets(JSON.stringify(err.details));
    // A secret without its access key id, and a token without credentials: both are named.
    expect(err.message).toContain('AWS_ACCESS_KEY_ID must be set when AWS_SECRET_ACCESS_KEY is set, got "" (default); AWS_SECRET_ACCESS_KEY is <redacted> (from environment)');
    expect(err.message).toContain(`AWS_SESSION_TOKEN must be empty unless AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set, got <redacted>`);
  });

  test('credentials in an endpoint URL are refused without being echoed', () => {
    const err = loadError({ env: { ...BASE, S3_ENDPOINT: 'https://AKIA:topsecret@minio:9000' } });
    expectNoSecrets(err.message);
    expect(err.message).toContain('S3_ENDPOINT must not contain credentials');
    expect(err.message).toContain(`got "https://${REDACTED}@minio:9000" (from environment)`);
  });

  test('never appear in the error about a misspelt secret key', () => {
    writeEnv(CWD_FILE_NAME, { ...BASE, DB_PASSWROD: PASSWORD });
    const err = loadError();
    expect(problemLines(err)).toHaveLength(1);
    expectNoSecrets(err.message);
    expectNoSecrets(JSON.stringify(err.details));
  });

  test('redactedView hides set secrets and shows empty ones as empty', () => {
    const cfg = load({ env: { ...BASE, DB_PASSWORD: PASSWORD, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: AWS_SECRET } });
    const view = redactedView(cfg);
    expect(view.DB_PASSWORD).toBe(REDACTED);
    expect(view.AWS_SECRET_ACCESS_KEY).toBe(REDACTED);
    expect(view.AWS_SESSION_TOKEN).toBe('');
    expect(view.AWS_ACCESS_KEY_ID).toBe('AKIAEXAMPLE');
    expect(view.DB_PORT).toBe(3306);
    expect(view.S3_FORCE_PATH_STYLE).toBe(false);
    expect(Object.keys(view)).toEqual(CONFIG_KEY_NAMES);
    expectNoSecrets(JSON.stringify(view));
  });

  test('secretValues lists exactly the set secrets', () => {
    const cfg = load({ env: { ...BASE, DB_PASSWORD: PASSWORD, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: AWS_SECRET } });
    expect(secretValues(cfg).sort()).toEqual([AWS_SECRET, PASSWORD].sort());
    expect(secretValues(load({ env: BASE }))).toEqual([]);
  });

  test('quoteValue redacts sensitive keys but not emptiness', () => {
    expect(quoteValue('DB_PASSWORD', PASSWORD)).toBe(REDACTED);
    expect(quoteValue('DB_PASSWORD', '')).toBe('""');
    expect(quoteValue('DB_HOST', 'db1')).toBe('"db1"');
  });

  test('exactly the secret keys are sensitive (passwords, keys, webhook and SMTP URLs)', () => {
    expect(CONFIG_KEYS.filter((k) => k.sensitive).map((k) => k.key).sort()).toEqual([
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AZURE_STORAGE_CONNECTION_STRING',
      'AZURE_STORAGE_KEY',
      'AZURE_STORAGE_SAS_TOKEN',
      'COPY_AWS_SECRET_ACCESS_KEY',
      'COPY_AWS_SESSION_TOKEN',
      'COPY_AZURE_STORAGE_CONNECTION_STRING',
      'COPY_AZURE_STORAGE_KEY',
      'COPY_AZURE_STORAGE_SAS_TOKEN',
      'COPY_GCS_HMAC_SECRET',
      'DB_PASSWORD',
      'GCS_HMAC_SECRET',
      'MANIFEST_HMAC_KEY',
      'RESTORE_DB_PASSWORD',
      'SLACK_WEBHOOK_URL',
      'SMTP_URL',
    ]);
  });

  test('an env file that sets a secret and is open to others gets a warning', () => {
    const loose = writeEnv(CWD_FILE_NAME, { ...BASE, DB_PASSWORD: PASSWORD }, 0o644);
    expect(load().warnings).toEqual([`${loose} sets DB_PASSWORD but group or others have access to it (mode 0644); chmod 600 it`]);
  });

  test('private files, and loose files without secrets, get no warning', () => {
    writeEnv('etc/secret.env', { DB_PASSWORD: PASSWORD }, 0o600);
    writeEnv('etc/public.env', { ...BASE, DB_PASSWORD: '' }, 0o644);
    expect(load().warnings).toEqual([]);
  });
});

describe('S3 server-side encryption, storage class, manifest MAC key', () => {
  test('S3_SSE and S3_STORAGE_CLASS are read in any case and kept as S3 spells them', () => {
    expect(load({ env: { ...BASE, S3_SSE: 'aes256' } }).S3_SSE).toBe('AES256');
    const kms = load({ env: { ...BASE, S3_SSE: 'AWS:KMS', S3_SSE_KMS_KEY_ID: 'alias/backups', S3_STORAGE_CLASS: 'standard_ia' } });
    expect([kms.S3_SSE, kms.S3_SSE_KMS_KEY_ID, kms.S3_STORAGE_CLASS]).toEqual(['aws:kms', 'alias/backups', 'STANDARD_IA']);
    const none = load({ env: BASE });
    expect([none.S3_SSE, none.S3_SSE_KMS_KEY_ID, none.S3_STORAGE_CLASS, none.MANIFEST_HMAC_KEY]).toEqual(['', '', '', '']);
  });

  test('aws:kms without a key id is fine (the account default key)', () => {
    expect(load({ env: { ...BASE, S3_SSE: 'aws:kms' } }).S3_SSE_KMS_KEY_ID).toBe('');
  });

  test.each(['GLACIER', 'DEEP_ARCHIVE'])('S3_STORAGE_CLASS=%s is accepted with a warning that restores need an archive restore first', (cls) => {
    const cfg = load({ env: { ...BASE, S3_STORAGE_CLASS: cls } });
    expect(cfg.warnings).toEqual([expect.stringContaining(`S3_STORAGE_CLASS=${cls}: backup volumes cannot be read until they are restored from the archive`)]);
    expect(load({ env: { STORAGE: 'file', STORAGE_PATH: '/srv/store', S3_STORAGE_CLASS: cls } }).warnings).toEqual([]);
    expect(load({ env: { ...BASE, S3_STORAGE_CLASS: 'GLACIER_IR' } }).warnings).toEqual([]);
  });

  test('MANIFEST_HMAC_KEY: at least 32 characters without spaces; a bad one is named, never shown', () => {
    const key = 'f'.repeat(64);
    const cfg = load({ env: { ...BASE, MANIFEST_HMAC_KEY: key } });
    expect(cfg.MANIFEST_HMAC_KEY).toBe(key);
    expect(redactedView(cfg).MANIFEST_HMAC_KEY).toBe(REDACTED);
    expect(secretValues(cfg)).toEqual([key]);
    for (const bad of ['too-short-0123456789', `${'a'.repeat(20)} ${'b'.repeat(20)}`]) {
      const err = loadError({ env: { ...BASE, MANIFEST_HMAC_KEY: bad } });
      expect(problemLines(err)).toEqual([
        `${PROBLEM_PREFIX}MANIFEST_HMAC_KEY must be empty or at least 32 characters without spaces (generate one with: openssl rand -hex 32), got <redacted> (from environment)`,
      ]);
      expect(err.message).not.toContain(bad);
    }
  });
});

describe('unknown keys and lines without "=" in env files are errors (exit 78)', () => {
  test.each([
    ['DB_HOTS', 'DB_HOST'],
    ['db_port', 'DB_PORT'],
    ['S3_BUCKET', 'S3_BUCKET_NAME'],
    ['COMPRESION', 'COMPRESSION'],
    ['MARIABACKUP_PATH', 'MARIADB_BACKUP_PATH'],
    ['FULL_BACKUP_SCHEDUEL', 'FULL_BACKUP_SCHEDULE'],
  ])('%s is an error naming file, line and key, with "did you mean %s?"', (name, suggestion) => {
    const file = writeEnv(CWD_FILE_NAME, { ...BASE, [name]: 'x' });
    expect(problemLines(loadError())).toEqual([`${PROBLEM_PREFIX}${file} line 2: unknown key ${name} (did you mean ${suggestion}?)`]);
    expect(closestKey(name)).toBe(suggestion);
  });

  test('a name close to nothing is an error without a suggestion', () => {
    const file = writeEnv(CWD_FILE_NAME, { ...BASE, TOTALLY_UNRELATED: 'x' });
    expect(problemLines(loadError())).toEqual([`${PROBLEM_PREFIX}${file} line 2: unknown key TOTALLY_UNRELATED`]);
  });

  test('the misspelt key comes first, then what it caused', () => {
    const file = writeEnv(CWD_FILE_NAME, { S3_BUCKET: 'mybucket' });
    const lines = problemLines(loadError());
    expect(lines[0]).toBe(`${PROBLEM_PREFIX}${file} line 1: unknown key S3_BUCKET (did you mean S3_BUCKET_NAME?)`);
    expect(lines[1]).toContain('S3_BUCKET_NAME must be set when STORAGE=s3');
  });

  test('a line without "=" is an error naming file, line and key (dotenv would drop it silently)', () => {
    const file = path.join(tmp, CWD_FILE_NAME);
    fs.writeFileSync(file, "S3_BUCKET_NAME=b\n\nFULL_BACKUP_SCHEDULE weekly\nFULL_BACKUP_SCHEDUEL\n", { mode: 0o600 });
    expect(problemLines(loadError())).toEqual([
      `${PROBLEM_PREFIX}${file} line 3: expected KEY=VALUE, got key FULL_BACKUP_SCHEDULE without "="`,
      `${PROBLEM_PREFIX}${file} line 4: expected KEY=VALUE, got FULL_BACKUP_SCHEDUEL (did you mean FULL_BACKUP_SCHEDULE?) without "="`,
    ]);
  });

  test('a lone word that may be a secret is not echoed', () => {
    const file = path.join(tmp, CWD_FILE_NAME);
    fs.writeFileSync(file, 'S3_BUCKET_NAME=b\nhunter2-Pa55\n', { mode: 0o600 });
    const err = loadError();
    expect(problemLines(err)).toEqual([`${PROBLEM_PREFIX}${file} line 2: expected KEY=VALUE, got a line (not shown: it may hold a secret) without "="`]);
    expect(err.message).not.toContain('hunter2');
  });

  test('blank lines, comments, export KEY=VALUE and multi-line quoted values are fine', () => {
    const file = path.join(tmp, CWD_FILE_NAME);
    fs.writeFileSync(
      file,
      ['# a comment', '', '  # indented comment', 'export S3_BUCKET_NAME=b', 'DB_HOST = db1 # trailing comment', 'MARIADB_STOP_COMMAND="systemctl', 'stop mariadb"', "DB_USER='x'", ''].join('\n'),
      { mode: 0o600 },
    );
    const cfg = load();
    expect(cfg.warnings).toEqual([]);
    expect([cfg.S3_BUCKET_NAME, cfg.DB_HOST, cfg.DB_USER]).toEqual(['b', 'db1', 'x']);
  });

  test('the same in a --config file and in /etc/backupmate/*.env', () => {
    const etc = writeEnv('etc/a.env', { ...BASE, DB_HOTS: 'x' });
    expect(problemLines(loadError())).toEqual([`${PROBLEM_PREFIX}${etc} line 2: unknown key DB_HOTS (did you mean DB_HOST?)`]);
    const given = writeEnv('given.env', { ...BASE, DB_HOTS: 'x' });
    expect(problemLines(loadError({ files: [given], onlyFiles: true }))).toEqual([`${PROBLEM_PREFIX}${given} line 2: unknown key DB_HOTS (did you mean DB_HOST?)`]);
  });
});

describe('schema', () => {
  test('each key is its own env name and has a one-line doc, a format and an example', () => {
    for (const key of CONFIG_KEY_NAMES) {
      const spec = SCHEMA[key];
      expect([key, spec.env]).toEqual([key, key]);
      expect(spec.doc).toMatch(/^\S.*\.$/);
      expect(spec.doc).not.toContain('\n');
      expect(spec.format).toMatch(/^bm-/);
      expect(SECTIONS).toContain(spec.section);
    }
  });

  test('CONFIG_KEYS lists every key in schema order with its default as written in an env file', () => {
    expect(CONFIG_KEYS.map((k) => k.key)).toEqual(CONFIG_KEY_NAMES);
    const byKey = Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, k]));
    expect(byKey['S3_PART_SIZE']!.defaultText).toBe('8MiB');
    expect(byKey['VOLUME_SIZE']!.defaultText).toBe('8GiB');
    expect(byKey['DB_PORT']!.defaultText).toBe('3306');
    expect(byKey['S3_FORCE_PATH_STYLE']!.defaultText).toBe('false');
  });

  test('the defaults pass the cross-key rules', () => {
    const defaults = Object.fromEntries(CONFIG_KEY_NAMES.map((k) => [k, SCHEMA[k].default])) as unknown as ConfigValues;
    expect(crossKeyProblems({ ...defaults, S3_BUCKET_NAME: 'b' })).toEqual([]);
  });

  test('COMPRESSION=none ignores the level range of gzip', () => {
    expect(load({ env: { ...BASE, COMPRESSION: 'none', COMPRESSION_LEVEL: '19' } }).COMPRESSION_LEVEL).toBe(19);
  });

  test('the part-count rule applies only to S3', () => {
    const cfg = load({ env: { STORAGE: 'file', STORAGE_PATH: '/srv/store', VOLUME_SIZE: '2MiB' } });
    expect(cfg.VOLUME_SIZE).toBe(2 * MiB);
  });
});

describe('config/backupmate.env', () => {
  /** Keys of the commented-out example lines ("#KEY=value"). */
  function exampleKeys(text: string): string[] {
    return [...text.matchAll(/^#([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
  }

  /** The example file with every example line uncommented. */
  function uncommented(text: string): string {
    return text.replace(/^#([A-Z][A-Z0-9_]*=)/gm, '$1');
  }

  test('example env file is what the schema renders (BACKUPMATE_UPDATE_EXAMPLE=1 rewrites it)', () => {
    const rendered = renderExampleEnv();
    if (process.env['BACKUPMATE_UPDATE_EXAMPLE'] === '1') fs.writeFileSync(EXAMPLE_FILE, rendered);
    expect(fs.readFileSync(EXAMPLE_FILE, 'utf8')).toBe(rendered);
  });

  test('every schema key appears exactly once, and no other key does', () => {
    const keys = exampleKeys(fs.readFileSync(EXAMPLE_FILE, 'utf8'));
    expect([...keys].sort()).toEqual([...CONFIG_KEY_NAMES].sort());
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('every key documents its default', () => {
    const text = fs.readFileSync(EXAMPLE_FILE, 'utf8');
    for (const k of CONFIG_KEYS) {
      expect(text).toContain(`# ${k.doc}\n# Default: ${k.defaultText === '' ? '(empty)' : k.defaultText}`);
    }
  });

  test('with nothing uncommented, the file sets nothing', () => {
    expect(dotenv.parse(fs.readFileSync(EXAMPLE_FILE, 'utf8'))).toEqual({});
  });

  test.each(['file', 's3'])('the uncommented examples load cleanly with STORAGE=%s', (storage) => {
    const file = path.join(tmp, 'example.env');
    fs.writeFileSync(file, uncommented(fs.readFileSync(EXAMPLE_FILE, 'utf8')), { mode: 0o600 });
    const cfg = load({ files: [file], env: { STORAGE: storage } });
    // The examples turn S3 Object Lock on: with STORAGE=file that is said (it has no effect there).
    expect(cfg.warnings).toEqual(storage === 'file' ? ['S3_OBJECT_LOCK_MODE=GOVERNANCE has no effect with STORAGE=file: only S3 has Object Lock'] : []);
    for (const key of CONFIG_KEY_NAMES) {
      if (key !== 'STORAGE') expect([key, cfg.sources[key]]).toEqual([key, file]);
    }
    // Each example differs from its default, so uncommenting one visibly changes something.
    for (const k of CONFIG_KEYS) expect([k.key, k.example]).not.toEqual([k.key, k.defaultText]);
  });
});
