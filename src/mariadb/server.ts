/**
 * Questions to the running server, asked with the `mariadb` client (a dependency of the
 * mariadb-backup package, so always present where mariabackup is). The password travels in a
 * 0600 option file given first on the command line, never in argv.
 */
import { runCommand } from '../archive/command.js';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BackupmateError } from '../domain/errors.js';
import type { ServerIdentity } from '../domain/manifest.js';
import { backupOptionFileText, writeOptionFile, type ConnectionSettings } from './mariabackup.js';

export async function querySingleValue(c: ConnectionSettings, tempDir: string, sql: string): Promise<string> {
  await fs.mkdir(tempDir, { recursive: true, mode: 0o700 });
  const dir = await fs.mkdtemp(path.join(tempDir, 'query-'));
  try {
    const file = path.join(dir, 'client.cnf');
    await writeOptionFile(file, backupOptionFileText(c, 'client'));
    const r = await runCommand('mariadb', [`--defaults-file=${file}`, '--batch', '--skip-column-names', '-e', sql]);
    if (r.failed) {
      const where = c.socket ? `socket ${c.socket}` : `${c.host}:${c.port}`;
      throw new BackupmateError(
        r.code === 'ENOENT' ? 'TOOL_MISSING' : 'TOOL_FAILED',
        `cannot query the server at ${where} as ${c.user} (DB_* settings): ${String(r.stderr || r.shortMessage).trim().split('\n').pop()}`,
        { stage: 'mariadb-client' },
      );
    }
    return String(r.stdout).trim();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The running server's version, e.g. "10.11.19-MariaDB-0+deb12u1-log". */
export function serverVersion(c: ConnectionSettings, tempDir: string): Promise<string> {
  return querySingleValue(c, tempDir, 'SELECT VERSION()');
}

/** What the planner needs to know about the running server's history (domain/plan.ts rule 3). */
export interface ServerState {
  identity: ServerIdentity;
  /** Innodb_lsn_current; undefined when the server does not report it. */
  currentLsn: string | undefined;
}

const STATE_SQL = "SELECT @@hostname, @@datadir, @@server_id; SHOW GLOBAL STATUS LIKE 'Innodb_lsn_current'";

/**
 * Parses the answer to STATE_SQL (`--batch --skip-column-names`: one tab-separated line per row).
 * The datadir is returned as the server wrote it, without trailing slashes. Pure.
 */
export function parseServerState(out: string): { identity: ServerIdentity; currentLsn: string | undefined } {
  const lines = out.split('\n').filter((l) => l.length > 0);
  const first = (lines[0] ?? '').split('\t');
  const serverId = Number(first[2]);
  if (first.length !== 3 || !first[0] || !first[1] || !Number.isSafeInteger(serverId) || serverId < 0) {
    throw new BackupmateError('TOOL_FAILED', `unexpected answer to "SELECT @@hostname, @@datadir, @@server_id": expected host, datadir and server_id, got "${lines[0] ?? ''}"`, {
      stage: 'mariadb-client',
    });
  }
  const lsnRow = lines.slice(1).map((l) => l.split('\t')).find((r) => r[0]?.toLowerCase() === 'innodb_lsn_current');
  const currentLsn = lsnRow && /^\d+$/.test(lsnRow[1] ?? '') ? lsnRow[1] : undefined;
  return { identity: { host: first[0], datadir: first[1].replace(/(.)\/+$/, '$1'), serverId }, currentLsn };
}

/**
 * The server's identity (@@hostname, @@datadir as a real path, @@server_id) and current LSN, in
 * one client call. The datadir is resolved here because backups run on the server's host
 * (mariabackup reads the datadir); where it cannot be resolved it is kept as the server says it.
 */
export async function serverState(c: ConnectionSettings, tempDir: string): Promise<ServerState> {
  const s = parseServerState(await querySingleValue(c, tempDir, STATE_SQL));
  const datadir = await fs.realpath(s.identity.datadir).catch(() => s.identity.datadir);
  return { identity: { ...s.identity, datadir }, currentLsn: s.currentLsn };
}
