/**
 * One-shot commands (`mariabackup --version`, a `mariadb -e` query, `chown -R`, the stop/start
 * commands): run to completion, output collected, never rejected (the caller words the error).
 *
 * Why not execa, as the rest of the card: loading it cost every backupmate process 15 MiB of
 * resident memory and ~0.1 s of start-up (measured with Node 20), which the memory target of the
 * backup process tree (benchmark case 2) cannot spare, for four call sites that need nothing
 * but spawn, collect and wait. Long-running pipeline stages are ChildStage (child.ts).
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  /** The exit code, or null when the program was killed or could not start. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  all: string;
  /** Did not start, exited non-zero, was killed or timed out. */
  failed: boolean;
  timedOut: boolean;
  /** errno code when the program could not be started (ENOENT, EACCES...). */
  code?: string;
  /** One line saying what happened, for error messages. */
  shortMessage: string;
}

export interface CommandOptions {
  /** Kill the command's process group (SIGTERM, then SIGKILL after 5 s) once this many ms have passed. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function runCommand(file: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const shown = [file, ...args].join(' ');
    let stdout = '';
    let stderr = '';
    let all = '';
    let timedOut = false;
    let settled = false;
    // Its own process group, so a timeout ends what a shell command started too (a grandchild
    // would otherwise keep the pipes open and the wait going).
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd, detached: true });
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      all += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      all += d;
    });
    let killTimer: NodeJS.Timeout | undefined;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            killGroup('SIGTERM');
            killTimer = setTimeout(() => killGroup('SIGKILL'), 5000);
          }, opts.timeoutMs);
    const finish = (r: Omit<CommandResult, 'stdout' | 'stderr' | 'all' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ ...r, stdout: stdout.replace(/\n$/, ''), stderr: stderr.replace(/\n$/, ''), all: all.replace(/\n$/, ''), timedOut });
    };
    child.once('error', (e: NodeJS.ErrnoException) =>
      finish({ exitCode: null, signal: null, failed: true, code: e.code, shortMessage: `Command failed: ${shown}: ${e.message}` }),
    );
    child.once('close', (exitCode, signal) => {
      const failed = timedOut || exitCode !== 0;
      const how = timedOut
        ? `timed out after ${opts.timeoutMs} ms`
        : signal
          ? `was killed with ${signal}`
          : `failed with exit code ${exitCode}`;
      finish({ exitCode, signal, failed, shortMessage: failed ? `Command ${how}: ${shown}` : '' });
    });
  });
}
