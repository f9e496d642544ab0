/**
 * Questions to the running server, asked with the `mariadb` client (a dependency of the
 * mariadb-backup package, so always present where mariabackup is). The password travels in a
 * 0600 option file given first on the command line, never in argv.
 */
import { runCommand } from '../archive/command.js';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BackupmateError } from '../domain/errors.js';
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
