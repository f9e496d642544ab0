/**
 * Structured JSON logging (winston): one object per line, to stdout for journald and to LOG_FILE.
 *
 * Every line passes through the redactor: any configured secret value is replaced with
 * `<redacted>` wherever it appears (message, fields, nested error text). Secrets are registered
 * once at start from the configuration; nothing else needs to remember to hide them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: string;
  /** Where human-facing output does not go: 'stdout' for daemons and cron jobs, 'stderr' for interactive commands. */
  console: 'stdout' | 'stderr' | 'none';
  file?: string;
  secrets?: readonly string[];
  /** Fields added to every line (e.g. command, host). */
  defaultMeta?: Record<string, unknown>;
}

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
    transports.push(
      new winston.transports.Console({
        // stderrLevels decides per level; for 'stderr' mode send everything there.
        stderrLevels: opts.console === 'stderr' ? ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] : [],
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
