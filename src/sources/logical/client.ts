/**
 * SQL against a running server through the `mariadb` client, for the logical source's checks and
 * loads. The credentials live in a 0600 [client] option file given first on every command line
 * (never argv); the caller owns the directory it is written in and removes it.
 */
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ChildStage } from '../../archive/child.js';
import { runCommand } from '../../archive/command.js';
import { BackupmateError } from '../../domain/errors.js';
import { backupOptionFileText, writeOptionFile, type ConnectionSettings } from '../../mariadb/mariabackup.js';

/** Quotes an identifier for SQL (`name`, backticks doubled). */
export function ident(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** Quotes a string literal for SQL. */
export function literal(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** Undoes the `mariadb --batch` escaping of one field (\t \n \\ \0). */
function unescapeField(f: string): string {
  return f.replace(/\\([tn0\\])/g, (_m, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === '0' ? '\0' : '\\'));
}

export class SqlClient {
  private constructor(
    readonly optionFile: string,
    readonly where: string,
    private readonly user: string,
  ) {}

  /** Writes the option file into `dir` (private to the caller) and returns a client using it. */
  static async open(c: ConnectionSettings, dir: string, name = 'client.cnf'): Promise<SqlClient> {
    const file = path.join(dir, name);
    await writeOptionFile(file, backupOptionFileText(c, 'client'));
    return new SqlClient(file, c.socket ? `socket ${c.socket}` : `${c.host}:${c.port}`, c.user);
  }

  /** Runs SQL and returns its rows (fields unescaped); TOOL_FAILED with the server's message. */
  async query(sql: string, db?: string): Promise<string[][]> {
    const r = await runCommand('mariadb', [`--defaults-file=${this.optionFile}`, '--batch', '--skip-column-names', ...(db ? [`--database=${db}`] : []), '-e', sql]);
    if (r.failed) {
      throw new BackupmateError(
        r.code === 'ENOENT' ? 'TOOL_MISSING' : 'TOOL_FAILED',
        `the server at ${this.where} (as ${this.user}) refused: ${String(r.stderr || r.shortMessage).trim().split('\n').pop()}`,
        { stage: 'mariadb-client' },
      );
    }
    const out = String(r.stdout);
    return out === '' ? [] : out.replace(/\n$/, '').split('\n').map((l) => l.split('\t').map(unescapeField));
  }

  /**
   * Feeds an SQL file to the server in database `db` (null: none selected); every statement must
   * succeed (the client stops at the first error and exits non-zero: that is the failure).
   */
  async runFile(file: string, db: string | null, stage: string, signal?: AbortSignal): Promise<void> {
    const child = new ChildStage({
      stage,
      file: 'mariadb',
      args: [`--defaults-file=${this.optionFile}`, '--batch', ...(db ? [`--database=${db}`] : [])],
      stdout: 'ignore',
    });
    const onAbort = () => child.kill();
    signal?.addEventListener('abort', onAbort, { once: true });
    // A file that could not be read to its end closes the client's input early: it then exits 0
    // having run part of the file, so the feed's own outcome counts as much as the exit status.
    const fed = pipeline(createReadStream(file), child.stdin!).then(
      () => null,
      (e: unknown) => e,
    );
    try {
      await child.done;
      const e = await fed;
      if (e) throw new BackupmateError('LOCAL_IO', `${stage}: ${file} could not be read to its end: ${e instanceof Error ? e.message : String(e)}`, { stage });
      if (signal?.aborted) throw new BackupmateError('CANCELLED', `${stage} was cancelled`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
