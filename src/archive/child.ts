/**
 * A child process as a pipeline stage (restic's rule: a command is a stream whose error at EOF is
 * the command's exit status).
 *
 * - `done` resolves when the program exits 0 and rejects with a TOOL_FAILED error that names the
 *   stage, the exit code or signal, and the last lines of its stderr.
 * - `kill()` ends it (SIGKILL: a stage we kill is one whose output we already decided to throw
 *   away). A killed stage is marked so that its own exit does not mask the cause that killed it.
 * - stderr is forwarded line by line to `onStderr` (the job's logger) and the tail is kept.
 * - Environment and arguments never carry passwords: callers pass them through a 0600 option file.
 */
import { execa, type ResultPromise } from 'execa';
import type { Readable, Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BackupmateError } from '../domain/errors.js';

export interface ChildStageOptions {
  /** Stage name used in errors and logs: mariabackup, compressor, mbstream... */
  stage: string;
  file: string;
  args: readonly string[];
  stdin?: 'pipe' | 'ignore';
  stdout?: 'pipe' | 'ignore';
  cwd?: string;
  env?: Record<string, string>;
  onStderr?: (line: string) => void;
  /** Extra check of stderr: some tools (mbstream) print errors and still exit 0. */
  stderrIsFatal?: (line: string) => boolean;
}

const TAIL_LINES = 20;

export class ChildStage {
  readonly stage: string;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly done: Promise<void>;
  readonly pid: number | undefined;
  private readonly tail: string[] = [];
  private killedByUs = false;
  private fatalLine: string | null = null;
  private readonly proc: ResultPromise;

  constructor(opts: ChildStageOptions) {
    this.stage = opts.stage;
    const proc = execa(opts.file, [...opts.args], {
      stdin: opts.stdin ?? 'pipe',
      stdout: opts.stdout ?? 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cwd: opts.cwd,
      env: opts.env,
      extendEnv: true,
      // Our own process may die: take the children with it.
      cleanup: true,
      encoding: 'buffer',
    });
    this.proc = proc;
    this.pid = proc.pid;
    this.stdin = this.proc.stdin;
    this.stdout = this.proc.stdout;
    const stderrDone = new Promise<void>((resolve) => {
      if (!this.proc.stderr) return resolve();
      const rl = createInterface({ input: this.proc.stderr, crlfDelay: Infinity });
      rl.on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
        if (!this.fatalLine && opts.stderrIsFatal?.(line)) this.fatalLine = line;
        opts.onStderr?.(line);
      });
      rl.on('close', () => resolve());
    });
    // Writes into a dead child's stdin fail with EPIPE; the exit status is the real story.
    this.stdin?.on('error', () => {});
    this.done = (async () => {
      const result = await proc;
      await stderrDone;
      if (result.failed || this.fatalLine) {
        const how = result.failed
          ? result.signal
            ? `was killed by ${result.signal}`
            : result.exitCode !== undefined
              ? `exited with code ${result.exitCode}`
              : `could not run: ${result.message ?? result.shortMessage}`
          : `reported an error`;
        const last = this.fatalLine ?? this.tail.filter((l) => l.trim()).slice(-1)[0] ?? '';
        const missing = (result as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(result.message ?? ''));
        throw new BackupmateError(
          missing ? 'TOOL_MISSING' : 'TOOL_FAILED',
          missing
            ? `${opts.stage}: program "${opts.file}" not found or not executable`
            : `${opts.stage} ${how}${last ? `: ${last.trim()}` : ''}`,
          {
            stage: opts.stage,
            exitCode: result.exitCode,
            signal: result.signal,
            stderrTail: this.tail.slice(),
            killedByUs: this.killedByUs,
          },
        );
      }
    })();
    // Observed by whoever awaits it; avoid an unhandled rejection if nobody does.
    this.done.catch(() => {});
  }

  get stderrTail(): readonly string[] {
    return this.tail;
  }

  get wasKilledByUs(): boolean {
    return this.killedByUs;
  }

  kill(): void {
    // A child that already died (a zombie not yet reaped) was not killed by us: its death is the
    // cause we must report, not a consequence of our cleanup.
    if (this.proc.exitCode === null && this.proc.signalCode === null && isRunning(this.pid)) {
      this.killedByUs = true;
      this.proc.kill('SIGKILL');
    }
  }
}

/** True while `pid` exists and is not a zombie (Linux /proc; elsewhere assume running). */
function isRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
