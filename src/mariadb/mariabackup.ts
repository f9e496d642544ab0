/**
 * mariabackup and mbstream: argument builders, option files and the parsers of what they write.
 *
 * Rules learned the hard way (design notes, section 3):
 * - `--defaults-file=` (our own 0600 file) or `--no-defaults` comes FIRST, or mariabackup reads
 *   /etc/mysql and may target the system datadir.
 * - The password reaches mariabackup only through that option file, never argv (/proc/PID/cmdline
 *   is world-readable) and never the environment of a long-lived process.
 * - `--extra-lsndir` gives us the checkpoints (LSNs) locally while the data streams away. Newer
 *   versions name the file `mariadb_backup_checkpoints`; both names are accepted.
 * - `--copy-back` copies an unprepared backup without complaint: callers check `backup_type`.
 */
import { runCommand } from '../archive/command.js';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BackupmateError } from '../domain/errors.js';

export interface ConnectionSettings {
  user: string;
  password: string;
  host: string;
  port: number;
  socket: string;
}

/** Quotes a value for a MySQL option file: double quotes with backslash escapes. */
export function quoteOptionValue(v: string): string {
  if (/[\n\r]/.test(v)) throw new BackupmateError('CONFIG', 'option values cannot contain line breaks');
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** Text of the option file for a backup run. Holds the password: written 0600, removed after. */
export function backupOptionFileText(c: ConnectionSettings, group: 'mariabackup' | 'client' = 'mariabackup'): string {
  const lines = [`[${group}]`, `user=${quoteOptionValue(c.user)}`];
  if (c.password) lines.push(`password=${quoteOptionValue(c.password)}`);
  if (c.socket) lines.push(`socket=${quoteOptionValue(c.socket)}`);
  else lines.push(`host=${quoteOptionValue(c.host)}`, `port=${c.port}`);
  return lines.join('\n') + '\n';
}

/** Writes the option file with mode 0600 from the start (never briefly world-readable). */
export async function writeOptionFile(file: string, text: string): Promise<void> {
  const fh = await fs.open(file, 'wx', 0o600);
  try {
    await fh.writeFile(text);
  } finally {
    await fh.close();
  }
}

export interface BackupArgs {
  optionFile: string;
  targetDir: string;
  lsnDir: string;
  parallel: number;
  incrementalLsn?: string;
}

export function backupArgv(a: BackupArgs): string[] {
  const argv = [
    `--defaults-file=${a.optionFile}`,
    '--backup',
    '--stream=xbstream',
    `--target-dir=${a.targetDir}`,
    `--extra-lsndir=${a.lsnDir}`,
    `--parallel=${a.parallel}`,
  ];
  if (a.incrementalLsn !== undefined) argv.push(`--incremental-lsn=${a.incrementalLsn}`);
  return argv;
}

/**
 * `mariabackup --prepare` of the full (`incrementalDir` absent) or applying one incremental to it.
 * `useMemory` (bytes) becomes `--use-memory`, the InnoDB buffer pool prepare applies logs and
 * deltas in (mariabackup's default is 96M); absent = mariabackup's default.
 */
export function prepareArgv(targetDir: string, incrementalDir?: string, useMemory?: number): string[] {
  const argv = ['--no-defaults', '--prepare', `--target-dir=${targetDir}`];
  if (incrementalDir) argv.push(`--incremental-dir=${incrementalDir}`);
  if (useMemory !== undefined) argv.push(`--use-memory=${memoryOption(useMemory)}`);
  return argv;
}

/** `parallel` becomes `--parallel` (threads copying or moving the data files); absent = mariabackup's default (1). */
export function putBackArgv(mode: 'copy-back' | 'move-back', targetDir: string, datadir: string, parallel?: number): string[] {
  const argv = ['--no-defaults', `--${mode}`, `--target-dir=${targetDir}`, `--datadir=${datadir}`];
  if (parallel !== undefined) argv.push(`--parallel=${parallel}`);
  return argv;
}

/** A byte count as mariabackup's numeric options take it: whole MiB as "<n>M", anything else in bytes. */
function memoryOption(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new BackupmateError('INTERNAL', `--use-memory needs a positive whole number of bytes, got ${bytes}`);
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)}M` : String(bytes);
}

export function mbstreamExtractArgv(dir: string): string[] {
  return ['-x', '-C', dir];
}

export interface Checkpoints {
  backupType: string;
  fromLsn: string;
  toLsn: string;
  lastLsn: string;
}

/** Parses `xtrabackup_checkpoints` (key = value lines). */
export function parseCheckpoints(text: string): Checkpoints {
  const kv = parseKeyValues(text);
  const need = (k: string) => {
    const v = kv.get(k);
    if (v === undefined) throw new BackupmateError('TOOL_FAILED', `mariabackup checkpoints file lacks "${k}"`);
    return v;
  };
  return { backupType: need('backup_type'), fromLsn: need('from_lsn'), toLsn: need('to_lsn'), lastLsn: need('last_lsn') };
}

export interface BackupInfo {
  serverVersion: string | null;
  toolVersion: string | null;
  binlog: { file: string; position: number; gtid: string | null } | null;
}

/** Parses `xtrabackup_info`, which carries versions and the binlog position. */
export function parseBackupInfo(text: string): BackupInfo {
  const kv = parseKeyValues(text);
  const pos = kv.get('binlog_pos');
  let binlog: BackupInfo['binlog'] = null;
  if (pos) {
    // e.g. filename 'mysql-bin.000002', position '342', GTID of the last change '0-1-2'
    const m = /filename '([^']*)', position '(\d+)'(?:, GTID of the last change '([^']*)')?/.exec(pos);
    if (m) binlog = { file: m[1], position: Number(m[2]), gtid: m[3] || null };
  }
  return { serverVersion: kv.get('server_version') ?? null, toolVersion: kv.get('tool_version') ?? null, binlog };
}

function parseKeyValues(text: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return kv;
}

export const CHECKPOINT_FILES = ['xtrabackup_checkpoints', 'mariadb_backup_checkpoints'];
export const INFO_FILES = ['xtrabackup_info', 'mariadb_backup_info'];

/** Reads the first of `names` that exists in `dir`, or null. */
export async function readFirst(dir: string, names: readonly string[]): Promise<{ name: string; text: string } | null> {
  for (const name of names) {
    try {
      return { name, text: await fs.readFile(path.join(dir, name), 'utf8') };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return null;
}

/** `mariabackup --version` → "10.11.19-MariaDB". */
export async function mariabackupVersion(file: string): Promise<string> {
  const r = await runCommand(file, ['--version']);
  if (r.failed) {
    throw new BackupmateError(
      r.code === 'ENOENT' ? 'TOOL_MISSING' : 'TOOL_FAILED',
      `cannot run "${file} --version" (MARIADB_BACKUP_PATH): ${r.shortMessage}`,
    );
  }
  const m = /based on MariaDB server (\S+)/.exec(String(r.all ?? ''));
  return m ? m[1] : String(r.all ?? '').trim().split('\n')[0];
}
