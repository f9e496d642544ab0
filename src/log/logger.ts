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

/** Waits until every transport has flushed (call before process exit). */
export async function closeLogger(logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    let pending = 0;
    for (const t of logger.transports) {
      if (t instanceof winston.transports.File) {
        pending++;
        t.once('finish', () => --pending === 0 && resolve());
      }
    }
    logger.end();
    if (pending === 0) resolve();
    setTimeout(resolve, 2000).unref();
  });
}
