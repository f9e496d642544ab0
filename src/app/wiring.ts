/**
 * The composition root for one-shot commands: configuration in, storage/logger/settings out.
 * Everything with side effects is built here and nowhere else, so jobs receive only what they use.
 */
import { catalogPrefixes } from '../backup/decide.js';
import * as os from 'node:os';
import type { BackupSettings } from '../backup/job.js';
import type { Config } from '../config/load.js';
import type { ConnectionSettings } from '../mariadb/mariabackup.js';
import { secretValues } from '../config/redact.js';
import { createLogger, type Logger, type LoggerOptions } from '../log/logger.js';
import type { RestoreSettings } from '../restore/job.js';
import type { DrillSettings } from '../drill/drill.js';
import { DEFAULT_BINLOG_PREFIX } from '../restore/pitr.js';
import { makeSources } from './sources.js';
import type { PruneSettings } from '../retention/prune.js';
import { createDriver } from '../storage/drivers/index.js';
import type { RetryObserver } from '../metrics/metrics.js';
import { logRetry, RetryStorage, type RetryPolicy } from '../storage/retry.js';
import type { Storage } from '../storage/storage.js';
import { copyConfig } from '../storage/copy-config.js';
import { VERSION } from '../version.js';

/**
 * The configured driver (storage/drivers/index.ts, by STORAGE), wrapped in RetryStorage: every
 * storage operation retries what the driver classifies as transient, RETRY_ATTEMPTS times in
 * all, logging each retry to `logger` ('storage.retry'). Drivers with parted uploads (S3) retry
 * each part themselves with the same policy and log line (see storage/retry.ts).
 */
export function makeStorage(c: Config, logger: Logger, retries?: RetryObserver): Storage {
  const policy: RetryPolicy = { attempts: c.RETRY_ATTEMPTS, baseDelayMs: c.RETRY_BASE_DELAY_MS, maxDelayMs: c.RETRY_MAX_DELAY_MS };
  // The store's label in backupmate_storage_retries_total: its description (no secrets).
  let store = '';
  const counted = () => retries?.storageRetried(store);
  const driver = createDriver(c, {
    retry: policy,
    onRetry: (ev) => {
      logRetry(logger, ev);
      counted();
    },
  });
  const storage = new RetryStorage(driver, { ...policy, log: logger, onRetry: counted });
  store = storage.description;
  return storage;
}

/**
 * The second store (COPY_STORAGE), as the backup sequence's copy step and the daemon's catch-up
 * use it: its storage (same driver registry and retry policy as the primary), its configuration
 * (storage/copy-config.ts) and its retention settings. null when no copy is configured.
 */
export function makeCopyStore(c: Config, logger: Logger): { storage: Storage; config: Config; prune: PruneSettings } | null {
  const copy = copyConfig(c);
  return copy ? { storage: makeStorage(copy, logger), config: copy, prune: pruneSettings(copy) } : null;
}

/** Which of the process's streams are terminals. */
export interface Ttys {
  stdout: boolean;
  stderr: boolean;
}

export function processTtys(): Ttys {
  return { stdout: !!process.stdout.isTTY, stderr: !!process.stderr.isTTY };
}

/**
 * The console a command's logger gets (pure). A person at a terminal reads short warning and
 * error lines, not JSON: 'human' when the stream the JSON would go to is a terminal, unless
 * --json asked for JSON. The daemon (`run`) always writes JSON: it is for the journal, also when
 * someone runs it in the foreground. LOG_FILE gets JSON whatever this says.
 */
export function consoleMode(wanted: LoggerOptions['console'], command: string, ttys: Ttys, json = false): LoggerOptions['console'] {
  if (wanted === 'none' || wanted === 'human') return wanted;
  if (command === 'run' || json) return wanted;
  return ttys[wanted] ? 'human' : wanted;
}

export function makeLogger(
  c: Config,
  console: LoggerOptions['console'],
  command: string,
  opts: { ttys?: Ttys; json?: boolean } = {},
): Logger {
  const logger = createLogger({
    level: c.LOG_LEVEL,
    console: consoleMode(console, command, opts.ttys ?? processTtys(), opts.json),
    file: c.LOG_FILE || undefined,
    secrets: secretValues(c),
    defaultMeta: { app: 'backupmate', version: VERSION, command, host: os.hostname(), pid: process.pid },
  });
  for (const w of c.warnings) logger.warn(w, { event: 'config.warning' });
  return logger;
}

/** The DB_* connection, as the backup, the restore's target check and `check` use it. */
export function connectionSettings(c: Config): ConnectionSettings {
  return { user: c.DB_USER, password: c.DB_PASSWORD, host: c.DB_HOST, port: c.DB_PORT, socket: c.DB_SOCKET };
}

export function backupSettings(c: Config): BackupSettings {
  return {
    fullPrefix: c.FULL_BACKUP_PREFIX,
    incrementalPrefix: c.INCREMENTAL_BACKUP_PREFIX,
    // Where every source's backups live (sources/registry.ts): ids are unique across all of them.
    layout: catalogPrefixes(c),
    tempDir: c.LOCAL_TEMP_DIR,
    mariabackupPath: c.MARIADB_BACKUP_PATH,
    connection: connectionSettings(c),
    parallel: c.MARIABACKUP_PARALLEL,
    compression: { algorithm: c.COMPRESSION, level: c.COMPRESSION_LEVEL },
    volumeSize: c.VOLUME_SIZE,
    hostname: os.hostname(),
    encryption: c.ENCRYPTION === 'age' ? { type: 'age', recipients: c.AGE_RECIPIENTS } : null,
    manifestHmacKey: c.MANIFEST_HMAC_KEY,
  };
}

export function restoreSettings(c: Config): RestoreSettings {
  return {
    fullPrefix: c.FULL_BACKUP_PREFIX,
    incrementalPrefix: c.INCREMENTAL_BACKUP_PREFIX,
    // Where every source's backups live (sources/registry.ts): ids are unique across all of them.
    layout: catalogPrefixes(c),
    tempDir: c.LOCAL_TEMP_DIR,
    mariabackupPath: c.MARIADB_BACKUP_PATH,
    mbstreamPath: c.MBSTREAM_PATH,
    datadir: c.MARIADB_DATADIR,
    osUser: c.MARIADB_OS_USER,
    socket: c.DB_SOCKET,
    // Lets the "is a server using the target?" check ask the DB_SOCKET server for its own
    // @@datadir: a server beside the target is no reason to refuse.
    connection: connectionSettings(c),
    ageIdentityFile: c.AGE_IDENTITY_FILE,
    manifestHmacKey: c.MANIFEST_HMAC_KEY,
    parallel: c.MARIABACKUP_PARALLEL,
    prepareUseMemory: c.PREPARE_USE_MEMORY,
  };
}

/** A restore drill: the restore's settings plus the scratch server's options (DRILL_MARIADBD_OPTIONS). */
export function drillSettings(c: Config): DrillSettings {
  return { restore: restoreSettings(c), sources: makeSources(c), mariadbdOptions: c.DRILL_MARIADBD_OPTIONS.split(/\s+/).filter(Boolean), binlogPrefix: c.BINLOG_PREFIX || DEFAULT_BINLOG_PREFIX };
}

export function pruneSettings(c: Config): PruneSettings {
  return {
    fullPrefix: c.FULL_BACKUP_PREFIX,
    incrementalPrefix: c.INCREMENTAL_BACKUP_PREFIX,
    // Where every source's backups live (sources/registry.ts): ids are unique across all of them.
    layout: catalogPrefixes(c),
    keepFullCount: c.RETENTION_FULL_COUNT,
    keepDays: c.RETENTION_DAYS,
    incompleteGraceHours: c.INCOMPLETE_GRACE_HOURS,
    objectLockDays: c.S3_OBJECT_LOCK_MODE ? c.S3_OBJECT_LOCK_DAYS : 0,
    binlogPrefix: c.BINLOG_PREFIX,
  };
}
