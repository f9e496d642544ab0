/**
 * Process-level error handling shared by the CLIs: a BackupmateError prints its one-line message
 * and exits with its registered status; commander usage errors exit 64; anything else is a bug and
 * says so (with the stack only when BACKUPMATE_DEBUG=1).
 */
import { CommanderError } from 'commander';
import { BackupmateError, ERROR_CODES } from '../domain/errors.js';

export async function runMain(name: string, body: (argv: string[]) => Promise<void>): Promise<void> {
  process.on('unhandledRejection', onUnhandledRejection(name));
  try {
    await body(process.argv);
  } catch (e) {
    process.exitCode = report(name, e);
  }
}

/**
 * Asked-for help (`--help`, `help [cmd]`) and `--version` exit 0. Help that commander printed
 * because of a usage error (no command, `config` without its subcommand) exits 64 like every
 * other usage error: a cron line that only printed help must not look like a success.
 * commander marks the difference in the exit code it proposes (1 for help shown as an error).
 */
export function commanderExit(e: CommanderError): number {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
  if (e.code === 'commander.help' && e.exitCode === 0) return 0;
  return ERROR_CODES.USAGE.exit;
}

export function report(name: string, e: unknown): number {
  if (e instanceof CommanderError) {
    return commanderExit(e);
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

/**
 * The process-level handler of a promise rejection nobody awaited (a bug): Node 20 would print a
 * stack and exit 1, a status the README does not document. This says what happened on stderr
 * (the journal, under systemd) and exits with INTERNAL's status (70) at once: a process that lost
 * track of one of its own steps must not go on as if it had succeeded.
 */
export function onUnhandledRejection(name: string, exit: (code: number) => void = (c) => process.exit(c), write: (s: string) => void = (s) => void process.stderr.write(s)): (reason: unknown) => void {
  return (reason) => {
    const err = reason as Error;
    write(`${name}: unexpected error (a bug; please report it with the log): unhandled rejection: ${err?.message ?? String(reason)}\n`);
    if (process.env.BACKUPMATE_DEBUG === '1' && err?.stack) write(err.stack + '\n');
    exit(ERROR_CODES.INTERNAL.exit);
  };
}
