/**
 * Checks before a backup, so a night's job fails in seconds with a precise message instead of
 * after an hour of streaming: the local temp dir is writable, the server answers and its version
 * matches mariabackup's, the backup user has the privileges mariabackup needs, and the store
 * accepts a write.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { majorMinor } from '../domain/chain.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { mariabackupVersion } from '../mariadb/mariabackup.js';
import { querySingleValue, serverVersion } from '../mariadb/server.js';
import type { Storage } from '../storage/storage.js';
import type { BackupSettings } from './job.js';

/** What mariabackup needs on MariaDB 10.5+ (SUPER no longer implies BINLOG MONITOR). */
export const REQUIRED_PRIVILEGES = ['RELOAD', 'PROCESS', 'LOCK TABLES', 'BINLOG MONITOR'] as const;

/** Privileges a SHOW GRANTS output lacks (pure). `ALL PRIVILEGES ON *.*` covers everything. */
export function missingPrivileges(grants: string): string[] {
  const global = grants
    .split('\n')
    .filter((l) => /\bON \*\.\* TO\b/i.test(l))
    .join('\n')
    .toUpperCase();
  if (/GRANT ALL PRIVILEGES ON \*\.\*/.test(global)) return [];
  return REQUIRED_PRIVILEGES.filter((p) => !new RegExp(`(GRANT |, )${p}(,| ON)`).test(global));
}

/**
 * CURRENT_USER()'s answer ("user@host") as an account name a DBA can paste into GRANT:
 * 'user'@'host'. The host part never holds an "@", the user part may, so the split is at the last
 * one; quotes inside are doubled. Pure.
 */
export function quoteAccount(currentUser: string): string {
  const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
  const at = currentUser.lastIndexOf('@');
  return at < 0 ? q(currentUser) : `${q(currentUser.slice(0, at))}@${q(currentUser.slice(at + 1))}`;
}

/** The message for missing privileges: what is missing and the GRANT that fixes it, for the real account. */
export function grantHint(dbUser: string, currentUser: string, missing: readonly string[]): string {
  return `the backup user ${dbUser} (DB_USER) lacks ${missing.join(', ')}: run GRANT ${REQUIRED_PRIVILEGES.join(', ')} ON *.* TO ${quoteAccount(currentUser)}`;
}

export async function preflightBackup(s: BackupSettings, storage: Storage, probePrefix: string, log: Logger): Promise<{ serverVersion: string }> {
  // 1. Local temp dir.
  try {
    await fs.mkdir(s.tempDir, { recursive: true, mode: 0o700 });
    const probe = path.join(s.tempDir, `.preflight-${process.pid}`);
    await fs.writeFile(probe, 'x', { mode: 0o600 });
    await fs.rm(probe);
  } catch (e) {
    throw new BackupmateError('LOCAL_IO', `LOCAL_TEMP_DIR ${s.tempDir} is not a writable directory: ${errorText(e)}`);
  }
  // 2. Server answers; versions match.
  const server = await serverVersion(s.connection, s.tempDir);
  const tool = await mariabackupVersion(s.mariabackupPath);
  const sv = majorMinor(server);
  const tv = majorMinor(tool);
  if (sv && tv && sv !== tv) {
    throw new BackupmateError(
      'TOOL_MISSING',
      `mariabackup ${tool} (MARIADB_BACKUP_PATH=${s.mariabackupPath}) does not match the server ${server}: install the mariadb-backup package of the server's version (${sv})`,
    );
  }
  if (server.split('-')[0] !== tool.split('-')[0]) {
    log.warn(`mariabackup ${tool} and the server ${server} differ in their patch version; prefer the same version`, { event: 'preflight.version' });
  }
  // 3. Privileges.
  const grants = await querySingleValue(s.connection, s.tempDir, 'SHOW GRANTS FOR CURRENT_USER()');
  const missing = missingPrivileges(grants);
  if (missing.length) {
    // The account the server matched (DB_USER@its host entry) is the one GRANT must name.
    const account = await querySingleValue(s.connection, s.tempDir, 'SELECT CURRENT_USER()');
    throw new BackupmateError('CONFIG', grantHint(s.connection.user, account, missing), { account });
  }
  // 4. The store accepts a write (and a delete).
  const key = `${probePrefix}.preflight-${randomBytes(6).toString('hex')}`;
  try {
    // With S3_SSE set the probe carries the header too, so a bucket policy or a KMS permission
    // that refuses it fails here, before mariabackup runs. As metadata: no archive/IA class for it.
    await storage.put(key, Buffer.from('backupmate preflight probe\n'), { role: 'metadata' });
    await storage.delete([key]);
  } catch (e) {
    throw e instanceof BackupmateError ? e : new BackupmateError('STORAGE', `the store ${storage.description} does not accept writes: ${errorText(e)}`);
  }
  log.info('preflight passed', { event: 'preflight.ok', serverVersion: server, mariabackupVersion: tool });
  return { serverVersion: server };
}
