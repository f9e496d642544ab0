/**
 * Structured JSON logging (winston): one object per line, to stdout for journald and to LOG_FILE.
 *
 * When the console stream is the journal (systemd sets JOURNAL_STREAM=<dev>:<inode> of the
 * stream it connected; sd_journal_stream_fd(3) says to compare it with fstat of the fd), each
 * console line starts with the sd-daemon.h priority `<N>` (error 3, warn 4, info 6, debug 7):
 * journald strips it and files the line at that priority (SyslogLevelPrefix= defaults to yes),
 * so `journalctl -p warning` finds warnings. Not for cron, a terminal or a pipe, nor the file.
 *
 * At a terminal, commands whose output is for people use the 'human' console: no JSON there,
 * only warnings and errors as `backupmate: warning: ...` lines on stderr; the JSON still goes
 * to LOG_FILE.
 *
 * Every line passes through the redactor: any configured secret value is replaced with
 * `<redacted>` wherever it appears (message, fields, nested error text). Secrets are registered
 * once at start from the configuration; nothing else needs to remember to hide them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: string;
  /**
   * The console: JSON lines on 'stdout' (daemons, cron jobs, backup without a terminal) or
   * 'stderr' (interactive commands whose stdout is their result); 'human': only warnings and
   * errors, as one short line each on stderr, for a person at a terminal; 'none'.
   */
  console: 'stdout' | 'stderr' | 'human' | 'none';
  file?: string;
  secrets?: readonly string[];
  /** Fields added to every line (e.g. command, host). */
  defaultMeta?: Record<string, unknown>;
  /**
   * Whether the console stream is the journal (JSON lines get `<N>` priority prefixes).
   * Default: decided from $JOURNAL_STREAM and the console's file descriptor (isJournalStream).
   */
  journal?: boolean;
  /** Writes the console lines here instead of process.stdout/stderr (tests). */
  consoleStream?: Writable;
  /** The name human lines start with; default 'backupmate'. */
  name?: string;
}

/** sd-daemon.h priorities of our levels (SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG). */
export const JOURNAL_PRIORITY: Readonly<Record<string, number>> = { error: 3, warn: 4, info: 6, http: 6, verbose: 7, debug: 7, silly: 7 };

/**
 * Whether a stream whose fstat gave `st` is the one systemd connected to the journal (pure):
 * JOURNAL_STREAM is "<device>:<inode>" of that stream. A child that inherited the variable but
 * whose stdout was redirected (a pipe, a file, cron's mail) does not match.
 */
export function isJournalStream(journalStream: string | undefined, st: { dev: number | bigint; ino: number | bigint } | null): boolean {
  if (!journalStream || !st) return false;
  const m = /^(\d+):(\d+)$/.exec(journalStream.trim());
  return !!m && BigInt(m[1]!) === BigInt(st.dev) && BigInt(m[2]!) === BigInt(st.ino);
}

/** isJournalStream for one of this process's file descriptors. */
export function fdIsJournal(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!env.JOURNAL_STREAM) return false;
  try {
    return isJournalStream(env.JOURNAL_STREAM, fs.fstatSync(fd));
  } catch {
    return false;
  }
}

/** `<4>{"level":"warn",...}`: the line as journald's SyslogLevelPrefix= reads it (pure). */
export function journalLine(level: string, line: string): string {
  return `<${JOURNAL_PRIORITY[level] ?? 6}>${line}`;
}

/**
 * A log record as a person at a terminal reads it, or null for what only the log needs (pure):
 * warnings and errors only, as `backupmate: warning: text`. A job's end record (`*.end`) is left
 * out: the command reports its own outcome (its result, or its one-line error).
 */
export function humanLine(name: string, info: { level: string; message?: unknown; event?: unknown }): string | null {
  if (info.level !== 'warn' && info.level !== 'error') return null;
  if (typeof info.event === 'string' && info.event.endsWith('.end')) return null;
  return `${name}: ${info.level === 'warn' ? 'warning' : 'error'}: ${String(info.message ?? '')}`;
}

const MESSAGE = Symbol.for('message');

/** The console's rewrite of a record: journal prefix, human line, or the JSON as is. */
const consoleFormat = winston.format((info, opts: unknown) => {
  const o = opts as { mode: 'json' | 'journal' | 'human'; name: string };
  const rec = info as Record<string | symbol, unknown> & { level: string };
  if (o.mode === 'human') {
    const line = humanLine(o.name, rec as { level: string; message?: unknown; event?: unknown });
    if (line === null) return false;
    rec[MESSAGE] = line;
  } else if (o.mode === 'journal') {
    rec[MESSAGE] = journalLine(rec.level, String(rec[MESSAGE]));
  }
  return info;
});

export const REDACTED = '<redacted>';

/** Replaces every occurrence of every secret in strings found anywhere inside `value`. */
export function redactValue(value: unknown, secrets: readonly string[], seen = new WeakSet<object>()): unknown {
  if (!secrets.length) return value;
  if (typeof value === 'string') {
    let s = value;
    for (const secret of secrets) if (secret && s.includes(secret)) s = s.split(secret).join(REDACTED);
    return s;
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets, seen));
  if (value && typeof value === 'object') {
    if (seen.has(value)) return value;
    seen.add(value);
    if (value instanceof Error) return redactValue(value.message, secrets, seen);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, secrets, seen);
    return out;
  }
  return value;
}

const redactFormat = winston.format((info, opts: unknown) => {
  const secrets = ((opts as { secrets?: readonly string[] }).secrets ?? []).filter((s) => s.length > 0);
  if (!secrets.length) return info;
  for (const key of Object.keys(info)) {
    (info as Record<string, unknown>)[key] = redactValue((info as Record<string, unknown>)[key], secrets);
  }
  return info;
});

export function createLogger(opts: LoggerOptions): Logger {
  const redaction = { secrets: opts.secrets ?? [] };
  const format = winston.format.combine(
    winston.format.timestamp(),
    redactFormat(redaction),
    winston.format.json(),
  );
  const transports: winston.transport[] = [];
  if (opts.console !== 'none') {
    const toStderr = opts.console !== 'stdout';
    const journal = opts.console !== 'human' && (opts.journal ?? (opts.consoleStream ? false : fdIsJournal(toStderr ? 2 : 1)));
    const format = consoleFormat({ mode: opts.console === 'human' ? 'human' : journal ? 'journal' : 'json', name: opts.name ?? 'backupmate' });
    transports.push(
      opts.consoleStream
        ? new winston.transports.Stream({ stream: opts.consoleStream, format })
        : new winston.transports.Console({
            format,
            // stderrLevels decides per level; for 'stderr' and 'human' send everything there.
            stderrLevels: toStderr ? ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] : [],
          }),
    );
  }
  let fileProblem: string | null = null;
  if (opts.file) {
    try {
      fs.mkdirSync(path.dirname(opts.file), { recursive: true });
      fs.accessSync(path.dirname(opts.file), fs.constants.W_OK);
      transports.push(new winston.transports.File({ filename: opts.file }));
    } catch (e) {
      fileProblem = `cannot write LOG_FILE ${opts.file}: ${(e as Error).message}; logging to the console only`;
    }
  }
  if (!transports.length) transports.push(new winston.transports.Console({ silent: true }));
  const logger = winston.createLogger({ level: opts.level, format, transports, defaultMeta: opts.defaultMeta });
  if (fileProblem) logger.warn(fileProblem, { event: 'log.file_unwritable' });
  redactions.set(logger, redaction);
  return logger;
}

const redactions = new WeakMap<Logger, { secrets: readonly string[] }>();

/**
 * Replaces the secrets a logger redacts (after a configuration reload changed a password): every
 * later line, from this logger and its children, hides the new values as well as the old ones.
 */
export function updateSecrets(logger: Logger, secrets: readonly string[]): void {
  const r = redactions.get(logger);
  if (r) r.secrets = [...new Set([...r.secrets, ...secrets])];
}

/**
 * Ends the logger once every line logged so far has been written by every transport (File and
 * Console alike); call before the process exits. Idempotent: later calls, also through a child,
 * wait for the same close. From the moment it is called every log call on the logger or any of
 * its children is a harmless no-op: late lines (a child process's last stderr line, a detached
 * job's error handler, a progress timer) must neither throw nor become an unhandled 'error'
 * ("write after end") that would end a command with a stack trace.
 */
export function closeLogger(logger: Logger): Promise<void> {
  const root = rootOf(logger);
  let closing = closings.get(root);
  if (!closing) {
    closing = endAndDrain(root);
    closings.set(root, closing);
  }
  return closing;
}

/** How long closeLogger waits for the transports at most: a wedged one must not keep the process alive. */
const CLOSE_TIMEOUT_MS = 5_000;

const closings = new WeakMap<object, Promise<void>>();

/** winston children are `Object.create(parent)`: the first ancestor that is not a child is the stream itself. */
function rootOf(logger: Logger): Logger {
  let l: Logger = logger;
  while (!Object.prototype.hasOwnProperty.call(l, '_writableState')) {
    const parent: unknown = Object.getPrototypeOf(l);
    if (!(parent instanceof winston.Logger)) break;
    l = parent;
  }
  return l;
}

function endAndDrain(logger: Logger): Promise<void> {
  // Children write through the parent's `write` (looked up at call time), so this one own
  // property silences the logger and every child; the log methods all end in `write`.
  Object.defineProperty(logger, 'write', { value: () => true, configurable: true, writable: true });
  // Anything still emitted on the ended stream or a transport is past caring about.
  logger.on('error', () => {});
  for (const t of logger.transports) t.on('error', () => {});
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // The logger's own 'finish' waits for every piped transport's 'finish' (winston's _final);
    // each transport is also awaited here so a transport unpiped by winston does not lose lines.
    const pending = logger.transports.map((t) => finished(t));
    pending.push(finished(logger));
    void Promise.all(pending).then(done);
    logger.end();
  });
}

/** Resolves on the stream's 'finish' (or 'close', or at once if it already finished). */
function finished(stream: NodeJS.EventEmitter & { writableFinished?: boolean; destroyed?: boolean }): Promise<void> {
  if (stream.writableFinished || stream.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    stream.once('finish', () => resolve());
    stream.once('close', () => resolve());
  });
}
