/**
 * Which control socket backupmatectl talks to, found the way the daemon's loader finds
 * CONTROL_SOCKET (src/config/load.ts, without --config): `--socket`, else $CONTROL_SOCKET, else
 * the CONTROL_SOCKET key of /etc/backupmate/*.env in name order, then ./.backupmate.env (later
 * wins), else the default.
 *
 * Only that one key is taken from the files: they hold the database password, which a DBA's
 * client has no business parsing or keeping. A file it may not read (/etc/backupmate is 0750
 * root:backupmate and the env file 0600 root) is skipped and named, so "not running" can say
 * which file might have held another path. The reading is behind SocketFiles; the rest is pure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DEFAULT_ETC_DIR = '/etc/backupmate';
export const CWD_FILE_NAME = '.backupmate.env';

export interface SocketChoice {
  path: string;
  /** Where the path came from, for messages: "--socket", "$CONTROL_SOCKET", "CONTROL_SOCKET in FILE", "the default". */
  from: string;
  /** Files that could not be read (each "FILE: why"); they may have set another path. */
  skipped: string[];
}

/** A file to look in: its text, or why it could not be read. */
export type SourceFile = { path: string; text: string } | { path: string; error: string };

/**
 * The CONTROL_SOCKET value an env file's text assigns (the last assignment wins, as in dotenv),
 * or undefined. Quotes are removed as dotenv removes them; an unquoted value ends at " #".
 */
export function controlSocketIn(text: string): string | undefined {
  let found: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?CONTROL_SOCKET\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const v = m[1]!.trim();
    const quoted = /^(['"`])(.*?)\1(\s*#.*)?$/.exec(v);
    found = quoted ? quoted[2]! : v.replace(/\s+#.*$/, '').trim();
  }
  return found === '' ? undefined : found;
}

/** The choice from the sources, highest precedence first (pure). */
export function chooseSocket(option: string | undefined, env: Record<string, string | undefined>, files: readonly SourceFile[], fallback: string): SocketChoice {
  const skipped = files.filter((f): f is { path: string; error: string } => 'error' in f).map((f) => `${f.path}: ${f.error}`);
  if (option) return { path: option, from: '--socket', skipped: [] };
  if (env.CONTROL_SOCKET) return { path: env.CONTROL_SOCKET, from: '$CONTROL_SOCKET', skipped: [] };
  let choice: SocketChoice | undefined;
  for (const f of files) {
    if (!('text' in f)) continue;
    const value = controlSocketIn(f.text);
    if (value !== undefined) choice = { path: value, from: `CONTROL_SOCKET in ${f.path}`, skipped };
  }
  return choice ?? { path: fallback, from: 'the default (CONTROL_SOCKET is not set in $CONTROL_SOCKET, /etc/backupmate/*.env or ./.backupmate.env)', skipped };
}

/** Reads what chooseSocket looks at; injectable for tests. */
export interface SocketFiles {
  list(dir: string): string[];
  read(file: string): string;
}

export const nodeSocketFiles: SocketFiles = {
  list: (dir) => fs.readdirSync(dir),
  read: (file) => fs.readFileSync(file, 'utf8'),
};

function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : ((e as Error).message ?? String(e));
}

/**
 * The files the daemon's loader reads without --config, in its order: <etcDir>/*.env by name
 * (dotfiles excluded), then <cwd>/.backupmate.env. Missing ones are left out; unreadable ones
 * (the directory itself included) are returned with their error.
 */
export function sourceFiles(cwd: string, etcDir = DEFAULT_ETC_DIR, io: SocketFiles = nodeSocketFiles): SourceFile[] {
  const out: SourceFile[] = [];
  const read = (file: string, optional: boolean) => {
    try {
      out.push({ path: file, text: io.read(file) });
    } catch (e) {
      if (!(optional && (e as NodeJS.ErrnoException).code === 'ENOENT')) out.push({ path: file, error: why(e) });
    }
  };
  let names: string[] = [];
  try {
    names = io.list(etcDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') out.push({ path: `${etcDir}/*.env`, error: why(e) });
  }
  for (const n of names.filter((n) => n.endsWith('.env') && !n.startsWith('.')).sort()) read(path.join(etcDir, n), false);
  read(path.join(cwd, CWD_FILE_NAME), true);
  return out;
}

/** The socket for this invocation; files are read only when neither --socket nor $CONTROL_SOCKET decide. */
export function resolveSocket(
  option: string | undefined,
  env: Record<string, string | undefined>,
  cwd: string,
  fallback: string,
  etcDir = DEFAULT_ETC_DIR,
  io: SocketFiles = nodeSocketFiles,
): SocketChoice {
  const files = option || env.CONTROL_SOCKET ? [] : sourceFiles(cwd, etcDir, io);
  return chooseSocket(option, env, files, fallback);
}

/**
 * The tail of a "not running" message: where the path came from and which files were skipped
 * (empty for --socket: the user just typed the path).
 */
export function describeOrigin(c: Pick<SocketChoice, 'from' | 'skipped'>): string {
  if (c.from === '--socket') return '';
  const skipped = c.skipped.length ? `; could not read ${c.skipped.join(', ')} (it may set another CONTROL_SOCKET: run as a member of the backupmate group or root, or pass --socket)` : '';
  return `, ${c.from}${skipped}`;
}
