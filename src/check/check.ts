/**
 * `backupmate check` (pgBackRest's `check`): the whole preflight, reported line by line: the
 * local checks of `config check`, then the server as the backup user sees it (connects, version
 * against mariabackup's, the privileges mariabackup needs), then the store (a probe object is
 * written, read back, compared and deleted), then the free space in LOCAL_TEMP_DIR against what a
 * restore of the newest chain needs. A check that could not run is a failure, never a pass.
 *
 * Side effects come in through CheckDeps (the server's answers, the store, the local probe), wired
 * in cli/commands.ts; the ordering and the verdicts here are unit-testable.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { missingPrivileges, REQUIRED_PRIVILEGES } from '../backup/preflight.js';
import type { Config } from '../config/load.js';
import { majorMinor } from '../domain/chain.js';
import { BackupmateError, errorText, type ErrorCode } from '../domain/errors.js';
import { fmtBytes } from '../domain/units.js';
import { readAll, type Storage } from '../storage/storage.js';
import { localChecks, type CheckResult, type LocalProbe } from './local.js';

/** The server as DB_USER sees it; each call connects anew (the mariadb client). */
export interface ServerProbe {
  version(): Promise<string>;
  grants(): Promise<string>;
}

export interface CheckDeps {
  probe: LocalProbe;
  server: ServerProbe;
  /** `mariabackup --version`'s server version, e.g. "10.11.19-MariaDB". */
  mariabackupVersion(): Promise<string>;
  storage: Storage;
  /** Raw bytes of the newest chain in the store (what a restore stages), or null with none. */
  newestChainRawBytes(): Promise<number | null>;
}

const pass = (key: string, text: string): CheckResult => ({ key, ok: true, text, code: 'CONFIG' });
const fail = (key: string, text: string, code: ErrorCode): CheckResult => ({ key, ok: false, text, code });

function failure(key: string, e: unknown, fallback: ErrorCode): CheckResult {
  return fail(key, errorText(e), e instanceof BackupmateError ? e.code : fallback);
}

/** The server and tool versions agree on major.minor (pure; the same rule as the backup's preflight). */
export function versionCheck(server: string, tool: string, toolPath: string): CheckResult {
  const sv = majorMinor(server);
  const tv = majorMinor(tool);
  if (sv && tv && sv !== tv) {
    return fail(
      'MARIADB_BACKUP_PATH',
      `mariabackup ${tool} (MARIADB_BACKUP_PATH=${toolPath}) does not match the server ${server}: install the mariadb-backup package of the server's version (${sv})`,
      'TOOL_MISSING',
    );
  }
  const patch = server.split('-')[0] !== tool.split('-')[0] ? '; the patch versions differ, prefer the same version' : '';
  return pass('MARIADB_BACKUP_PATH', `server ${server} and mariabackup ${tool} match${patch}`);
}

/** DB_USER has what mariabackup needs (pure, over SHOW GRANTS). */
export function privilegeCheck(user: string, grants: string): CheckResult {
  const missing = missingPrivileges(grants);
  if (missing.length) {
    return fail('DB_USER', `the backup user ${user} (DB_USER) lacks ${missing.join(', ')}: run GRANT ${REQUIRED_PRIVILEGES.join(', ')} ON *.* TO ${user}`, 'CONFIG');
  }
  return pass('DB_USER', `the backup user ${user} has ${REQUIRED_PRIVILEGES.join(', ')}`);
}

/** Free space against the newest chain's raw size (pure). */
export function spaceCheck(dir: string, measuredAt: string, free: number, needed: number | null): CheckResult {
  const where = measuredAt === dir ? dir : `${dir} (measured at ${measuredAt}, which exists)`;
  if (needed === null) return pass('LOCAL_TEMP_DIR', `LOCAL_TEMP_DIR ${where}: ${fmtBytes(free)} free; no backup in the store yet to compare with`);
  const need = `a restore or verify of the newest chain stages about ${fmtBytes(needed)} unpacked`;
  if (free < needed) return fail('LOCAL_TEMP_DIR', `LOCAL_TEMP_DIR ${where}: only ${fmtBytes(free)} free, but ${need}`, 'LOCAL_IO');
  return pass('LOCAL_TEMP_DIR', `LOCAL_TEMP_DIR ${where}: ${fmtBytes(free)} free; ${need}`);
}

/** Every check, in order; never throws (a check that throws is a failed line). */
export async function runChecks(c: Config, d: CheckDeps): Promise<CheckResult[]> {
  const results = await localChecks(c, d.probe);

  // The server, as the backup user.
  const where = c.DB_SOCKET ? `socket ${c.DB_SOCKET}` : `${c.DB_HOST}:${c.DB_PORT}`;
  let server: string | null = null;
  try {
    server = await d.server.version();
    results.push(pass('DB_USER', `connected to the server at ${where} as ${c.DB_USER}: ${server}`));
  } catch (e) {
    results.push(failure('DB_USER', e, 'TOOL_FAILED'));
  }
  if (server !== null) {
    try {
      results.push(versionCheck(server, await d.mariabackupVersion(), c.MARIADB_BACKUP_PATH));
    } catch (e) {
      results.push(failure('MARIADB_BACKUP_PATH', e, 'TOOL_MISSING'));
    }
    try {
      results.push(privilegeCheck(c.DB_USER, await d.server.grants()));
    } catch (e) {
      results.push(failure('DB_USER', e, 'TOOL_FAILED'));
    }
  } else {
    results.push(fail('DB_USER', `the version and privileges of ${c.DB_USER} could not be checked: no connection to the server`, 'TOOL_FAILED'));
  }

  // The store: write, read back, delete, and the object is gone.
  results.push(await storeCheck(c, d.storage));

  // Free space where restores and verify stage.
  try {
    const at = nearestExisting(c.LOCAL_TEMP_DIR, d.probe);
    let needed: number | null = null;
    try {
      needed = await d.newestChainRawBytes();
    } catch {
      // The store check above already reported why the store cannot be read.
    }
    results.push(spaceCheck(c.LOCAL_TEMP_DIR, at, d.probe.freeBytes(at), needed));
  } catch (e) {
    results.push(fail('LOCAL_TEMP_DIR', `LOCAL_TEMP_DIR ${c.LOCAL_TEMP_DIR}: free space could not be measured: ${errorText(e)}`, 'LOCAL_IO'));
  }
  return results;
}

async function storeCheck(c: Config, storage: Storage): Promise<CheckResult> {
  const key = `${c.FULL_BACKUP_PREFIX}.check-${randomBytes(6).toString('hex')}`;
  const body = Buffer.from(`backupmate check probe ${randomBytes(8).toString('hex')}\n`);
  let step = 'write';
  const wrote = () => step !== 'write';
  try {
    await storage.put(key, body, { role: 'metadata' });
    step = 'read back';
    const back = await readAll(await storage.get(key));
    if (!back.equals(body)) {
      return fail('STORAGE', `the store ${storage.description} returned other bytes for the probe object ${key} than were written (${back.length} bytes, expected ${body.length})`, 'STORAGE');
    }
    step = 'delete';
    await storage.delete([key]);
    step = 'confirm the deletion of';
    if ((await storage.head(key)) !== null) return fail('STORAGE', `the store ${storage.description} still lists the probe object ${key} after deleting it`, 'STORAGE');
    return pass('STORAGE', `the store ${storage.description} accepts a write, returns the same bytes and deletes (probe ${key})`);
  } catch (e) {
    if (wrote()) await storage.delete([key]).catch(() => {});
    const code: ErrorCode = e instanceof BackupmateError ? e.code : 'STORAGE';
    return fail('STORAGE', `the store ${storage.description}: could not ${step} a probe object: ${errorText(e)}`, code === 'INTERNAL' ? 'STORAGE' : code);
  }
}

function nearestExisting(dir: string, probe: LocalProbe): string {
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    if (probe.kind(p) === 'dir' || path.dirname(p) === p) return p;
  }
}

/**
 * The check's outcome as an error, or null when every line passed: the first failure's code is
 * the exit status (CONFIG 78, STORAGE 76, TOOL_FAILED 71, ...).
 */
export function checkError(results: readonly CheckResult[]): BackupmateError | null {
  const failed = results.filter((r) => !r.ok);
  if (!failed.length) return null;
  return new BackupmateError(failed[0]!.code, `check: ${failed.length} of ${results.length} checks failed; the first: ${failed[0]!.text}`, {
    failed: failed.map((f) => f.text),
  });
}

/** One line per check: "ok      ..." or "FAILED  ...". */
export function renderChecks(results: readonly CheckResult[]): string {
  return results.map((r) => `${r.ok ? 'ok    ' : 'FAILED'}  ${r.text}\n`).join('');
}
