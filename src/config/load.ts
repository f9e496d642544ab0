/**
 * Loads the configuration from defaults, env files and the environment, validates it and returns
 * a frozen, typed object. Every problem becomes one line of a single BackupmateError('CONFIG'),
 * among them an unknown key or a line that is not KEY=VALUE in an env file (a misspelt
 * FULL_BACKUP_SCHEDUEL would otherwise leave the schedule at its default without a word that
 * stops anyone). Only a secret in a file others can read is a warning.
 *
 * Precedence, lowest to highest:
 *   1. schema defaults
 *   2. <etcDir>/*.env (default /etc/backupmate), in name order; a missing directory is fine
 *   3. .backupmate.env in the working directory, if present
 *   (with `onlyFiles`, i.e. `--config FILE`, neither 2 nor 3 but:)
 *   4. explicit files (`--config FILE`), in the order given; each must be readable
 *   5. environment variables named like schema keys (other variables are ignored)
 */
import fs from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import dotenv from 'dotenv';
import { BackupmateError, errorText } from '../domain/errors.js';
import { scanEnvText, type EnvScan } from './envfile.js';
import { quoteValue } from './redact.js';
import {
  CONFIG_KEY_NAMES,
  SCHEMA,
  crossKeyProblems,
  envText,
  valueWarnings,
  isConfigKey,
  isSensitive,
  type ConfigKey,
  type ConfigValues,
} from './schema.js';

export const DEFAULT_ETC_DIR = '/etc/backupmate';
export const CWD_FILE_NAME = '.backupmate.env';

/** Prefix of every problem line, so each line stands alone in a journal. */
export const PROBLEM_PREFIX = 'invalid configuration: ';

export interface LoadOptions {
  /** Directory searched for .backupmate.env and against which relative `files` resolve. */
  cwd?: string;
  /** Environment to take schema keys from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Directory of system-wide *.env files; /etc/backupmate by default. */
  etcDir?: string;
  /** Files given with --config, lowest precedence first. */
  files?: string[];
  /**
   * Read only `files` (and the environment), not /etc/backupmate/*.env nor ./.backupmate.env:
   * `backupmate run --config /etc/backupmate/NAME.env` under the backupmate@NAME template must
   * not mix in the other instances' files.
   */
  onlyFiles?: boolean;
}

/** The loaded configuration. Frozen, like its `sources` and `warnings`. */
export type Config = Readonly<ConfigValues> & {
  /** Where each value came from: 'default', 'env' or the absolute path of an env file. */
  readonly sources: Readonly<Record<ConfigKey, string>>;
  /** Problems that did not stop loading, one line each, for the caller to log. */
  readonly warnings: readonly string[];
};

/** A value before coercion, as the user wrote it, and where it was written. */
interface RawValue {
  text: string;
  source: string;
}

interface EnvFile {
  path: string;
  values: Record<string, string>;
  mode: number;
  /** Every assignment with its line, and the lines that are not assignments. */
  scan: EnvScan;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;
  const etcDir = path.resolve(cwd, opts.etcDir ?? DEFAULT_ETC_DIR);

  // Reading problems stop here: validating without a file's values would report
  // consequences (a "missing" bucket) instead of the cause.
  const readProblems: string[] = [];
  const files: EnvFile[] = [];
  if (!opts.onlyFiles) {
    for (const file of listEnvFiles(etcDir, readProblems)) pushIfRead(files, readEnvFile(file, 'listed', readProblems));
    pushIfRead(files, readEnvFile(path.join(cwd, CWD_FILE_NAME), 'optional', readProblems));
  }
  for (const file of opts.files ?? []) pushIfRead(files, readEnvFile(path.resolve(cwd, file), 'explicit', readProblems));
  if (readProblems.length > 0) throw configError(readProblems, []);

  const warnings: string[] = [];
  // Lines of the files that set nothing: reported first, they are often the cause of what follows.
  const fileProblems: string[] = [];
  const raw = {} as Record<ConfigKey, RawValue>;
  for (const key of CONFIG_KEY_NAMES) raw[key] = { text: envText(key, SCHEMA[key].default), source: 'default' };
  for (const file of files) {
    fileProblems.push(...fileLineProblems(file));
    for (const [name, text] of Object.entries(file.values)) {
      if (isConfigKey(name)) raw[name] = { text, source: file.path };
    }
    warnings.push(...looseSecretWarnings(file));
  }
  for (const key of CONFIG_KEY_NAMES) {
    const text = env[key];
    if (text !== undefined) raw[key] = { text, source: 'env' };
  }

  const supplied: Record<string, string> = {};
  for (const key of CONFIG_KEY_NAMES) if (raw[key].source !== 'default') supplied[key] = raw[key].text;
  // Handing the values over as convict's environment makes convict coerce them like real
  // environment variables; `args: []` keeps it from reading process.argv.
  const cfg = convict<ConfigValues>(SCHEMA, { env: supplied, args: [] });

  const invalid = new Map<ConfigKey, string>();
  const problems: { key?: ConfigKey; text: string }[] = [];
  try {
    cfg.validate({ allowed: 'strict' });
  } catch (e) {
    for (const failure of parseConvictFailures(errorText(e))) {
      if (failure.key) invalid.set(failure.key, failure.reason);
      else problems.push({ text: failure.reason });
    }
  }
  for (const [key, reason] of invalid) problems.push({ key, text: `${key} ${reason}, got ${shown(key, raw[key])}` });

  const values = cfg.getProperties();
  for (const p of crossKeyProblems(values, (key) => !invalid.has(key))) {
    const context = p.related.map((k) => `${k} is ${shown(k, raw[k])}`).join(', ');
    problems.push({ key: p.key, text: `${p.key} ${p.reason}, got ${shown(p.key, raw[p.key])}; ${context}` });
  }
  if (problems.length > 0 || fileProblems.length > 0) {
    // Schema order, so the lines read like the example file; a stable sort keeps a key's own lines in order.
    const rank = (key?: ConfigKey) => (key ? CONFIG_KEY_NAMES.indexOf(key) : CONFIG_KEY_NAMES.length);
    problems.sort((a, b) => rank(a.key) - rank(b.key));
    throw configError([...fileProblems, ...problems.map((p) => p.text)], warnings);
  }

  warnings.push(...valueWarnings(values));
  const sources = {} as Record<ConfigKey, string>;
  const ordered = {} as Record<ConfigKey, unknown>;
  for (const key of CONFIG_KEY_NAMES) {
    sources[key] = raw[key].source;
    ordered[key] = values[key];
  }
  return Object.freeze({
    ...(ordered as ConfigValues),
    sources: Object.freeze(sources),
    warnings: Object.freeze(warnings),
  });
}

/** `"abc" (from /etc/backupmate/backupmate.env)`, with secrets redacted. */
function shown(key: ConfigKey, raw: RawValue): string {
  const where = raw.source === 'default' ? 'default' : raw.source === 'env' ? 'from environment' : `from ${raw.source}`;
  return `${quoteValue(key, raw.text)} (${where})`;
}

/**
 * One problem per line; warnings follow as "warning: ..." lines.
 */
function configError(problems: string[], warnings: string[]): BackupmateError {
  const lines = problems.map((p) => PROBLEM_PREFIX + p);
  const message = [...lines, ...warnings.map((w) => `warning: ${w}`)].join('\n');
  return new BackupmateError('CONFIG', message, { problems: lines, warnings: [...warnings] });
}

// ---------------------------------------------------------------------------------------------
// Files

function pushIfRead(files: EnvFile[], file: EnvFile | undefined): void {
  if (file) files.push(file);
}

/** The *.env files of a directory in name order, dotfiles excluded as a shell glob would. */
function listEnvFiles(dir: string, problems: string[]): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') problems.push(`cannot list ${dir}: ${describeFsError(e)}`);
    return [];
  }
  return names
    .filter((n) => n.endsWith('.env') && !n.startsWith('.'))
    .sort()
    .map((n) => path.join(dir, n));
}

/**
 * Reads one env file. 'optional' files may be missing; any other failure, including a listed
 * file that is unreadable, is a problem: skipping a file that holds settings would run the
 * daemon with a configuration nobody wrote.
 */
function readEnvFile(file: string, kind: 'listed' | 'optional' | 'explicit', problems: string[]): EnvFile | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const mode = fs.fstatSync(fd).mode;
    const text = fs.readFileSync(fd, 'utf8');
    return { path: file, values: dotenv.parse(text), mode, scan: scanEnvText(text) };
  } catch (e) {
    if (kind === 'optional' && errnoCode(e) === 'ENOENT') return undefined;
    problems.push(`cannot read ${file}${kind === 'explicit' ? ' (given with --config)' : ''}: ${describeFsError(e)}`);
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function describeFsError(e: unknown): string {
  switch (errnoCode(e)) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return errorText(e).replace(/\s+/g, ' ');
  }
}

// ---------------------------------------------------------------------------------------------
// Lines that set nothing

/**
 * One problem per unknown key and per line that is not KEY=VALUE, naming the file, the line and
 * the key (a line without "=" is named by its first word only: it may be a secret).
 */
function fileLineProblems(file: EnvFile): string[] {
  const problems: { line: number; text: string }[] = [];
  for (const { name, line } of file.scan.assignments) {
    if (isConfigKey(name)) continue;
    const suggestion = closestKey(name);
    problems.push({ line, text: `${file.path} line ${line}: unknown key ${name}${suggestion ? ` (did you mean ${suggestion}?)` : ''}` });
  }
  for (const { line, word } of file.scan.bad) {
    // Named only when it reads as a key: a lone word may be a password on a line of its own.
    const suggestion = word === null || isConfigKey(word) ? undefined : closestKey(word);
    const what =
      word !== null && isConfigKey(word)
        ? `key ${word}`
        : word !== null && (suggestion || /^[A-Z][A-Z0-9_]*$/.test(word))
          ? `${word}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`
          : 'a line (not shown: it may hold a secret)';
    problems.push({ line, text: `${file.path} line ${line}: expected KEY=VALUE, got ${what} without "="` });
  }
  return problems.sort((a, b) => a.line - b.line).map((p) => p.text);
}

// ---------------------------------------------------------------------------------------------
// Warnings

/**
 * The schema key `name` most likely stands for, compared case-insensitively: the nearest by edit
 * distance if near enough, else the shortest key containing it ("S3_BUCKET" → S3_BUCKET_NAME).
 */
export function closestKey(name: string): ConfigKey | undefined {
  const wanted = name.toUpperCase();
  let best: ConfigKey | undefined;
  let bestDistance = Infinity;
  for (const key of CONFIG_KEY_NAMES) {
    const d = editDistance(wanted, key);
    if (d < bestDistance) {
      best = key;
      bestDistance = d;
    }
  }
  if (bestDistance <= Math.max(2, Math.floor(wanted.length / 3))) return best;
  if (wanted.length < 5) return undefined;
  return CONFIG_KEY_NAMES.filter((key) => key.includes(wanted)).sort((a, b) => a.length - b.length)[0];
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** A file that sets a secret must be private to its owner (config/backupmate.env says 0600). */
function looseSecretWarnings(file: EnvFile): string[] {
  const secrets = Object.entries(file.values)
    .filter(([name, value]) => isConfigKey(name) && isSensitive(name) && value !== '')
    .map(([name]) => name);
  if (secrets.length === 0 || (file.mode & 0o077) === 0) return [];
  const mode = `0${(file.mode & 0o777).toString(8).padStart(3, '0')}`;
  return [`${file.path} sets ${secrets.join(', ')} but group or others have access to it (mode ${mode}); chmod 600 it`];
}

// ---------------------------------------------------------------------------------------------
// convict's report

/**
 * convict reports all format failures as one message, a line per key: "KEY: reason" and, for
 * non-sensitive keys, ": value was <JSON>". Our formats' reasons are single lines without that
 * marker, so the key and reason can be taken back out; the loader quotes the raw value itself.
 */
function parseConvictFailures(message: string): { key?: ConfigKey; reason: string }[] {
  return message
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const key = CONFIG_KEY_NAMES.find((k) => line.startsWith(`${k}: `));
      if (!key) return { reason: line };
      const rest = line.slice(key.length + 2);
      const cut = rest.indexOf(': value was ');
      return { key, reason: cut >= 0 ? rest.slice(0, cut) : rest };
    });
}
