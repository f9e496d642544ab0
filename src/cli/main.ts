/**
 * Process-level error handling shared by the CLIs: a BackupmateError prints its one-line message
 * and exits with its registered status; commander usage errors exit 64; anything else is a bug and
 * says so (with the stack only when BACKUPMATE_DEBUG=1).
 */
import { CommanderError } from 'commander';
import { BackupmateError, ERROR_CODES } from '../domain/errors.js';

export async function runMain(name: string, body: (argv: string[]) => Promise<void>): Promise<void> {
  try {
    await body(process.argv);
  } catch (e) {
    process.exitCode = report(name, e);
  }
}

export function report(name: string, e: unknown): number {
  if (e instanceof CommanderError) {
    // Help and version are not errors; commander already printed the usage message.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return ERROR_CODES.USAGE.exit;
  }
  if (e instanceof BackupmateError) {
    process.stderr.write(`${name}: ${e.message}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  process.stderr.write(`${name}: unexpected error (a bug; please report it with the log): ${err?.message ?? String(e)}\n`);
  if (process.env.BACKUPMATE_DEBUG === '1' && err?.stack) process.stderr.write(err.stack + '\n');
  return ERROR_CODES.INTERNAL.exit;
}
