/**
 * The daemon's binlog archive component (BINLOG_ARCHIVE=true): one BinlogArchiver
 * (sources/binlog/archiver.ts) for the daemon's life, started after READY, stopped (with the
 * complete transactions already received uploaded) on SIGTERM. A gap is logged at error level
 * by the archiver and counted in `status`.
 */
import * as path from 'node:path';
import type { Config } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { connectionSettings } from '../app/wiring.js';
import { BinlogArchiver, type ArchiverStatus } from '../sources/binlog/archiver.js';
import type { Storage } from '../storage/storage.js';

export type BinlogArchiveStatus = ArchiverStatus & { prefix: string };

export function startBinlogArchive(c: Config, storage: Storage, log: Logger): BinlogArchiver | null {
  if (!c.BINLOG_ARCHIVE) return null;
  const a = new BinlogArchiver({
    storage,
    prefix: c.BINLOG_PREFIX,
    connection: connectionSettings(c),
    spoolDir: path.join(c.STATE_DIR, 'binlog-spool'),
    tempDir: c.LOCAL_TEMP_DIR,
    segmentSeconds: c.BINLOG_SEGMENT_SECONDS,
    segmentBytes: c.BINLOG_SEGMENT_SIZE,
    compression: { algorithm: c.COMPRESSION, level: c.COMPRESSION_LEVEL },
    recipients: c.ENCRYPTION === 'age' ? [...c.AGE_RECIPIENTS] : [],
    mariadbBinlogPath: c.MARIADB_BINLOG_PATH,
    log,
  });
  a.start();
  return a;
}

export function binlogStatus(c: Config, a: BinlogArchiver | null): BinlogArchiveStatus | null {
  return a ? { ...a.status(), prefix: c.BINLOG_PREFIX } : null;
}
