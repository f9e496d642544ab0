/**
 * A child process as a pipeline stage (restic's rule: a command is a stream whose error at EOF is
 * the command's exit status).
 *
 * - `done` resolves when the program exits 0 and rejects with a TOOL_FAILED error that names the
 *   stage, the exit code or signal, and the last lines of its stderr.
 * - `kill()` ends it (SIGKILL: a stage we kill is one whose output we already decided to throw
 *   away). A killed stage is marked so that its own exit does not mask the cause that killed it.
 * - stderr is forwarded line by line to `onStderr` (the job's logger) and the tail is kept; the
 *   error message quotes the tail's meaningful line (`summarizeStderr`), the details keep it all.
 * - Environment and arguments never carry passwords: callers pass them through a 0600 option file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BackupmateError } from '../domain/errors.js';

export interface ChildStageOptions {
  /** Stage name used in errors and logs: mariabackup, compressor, mbstream... */
  stage: string;
  file: string;
  args: readonly string[];
  /**
   * 'pipe' (default), 'ignore', or another stage (the producer): the producer's stdout pipe is
   * handed to this child as stdin and our end is closed, so the bytes flow producer → consumer in
   * the kernel without passing through Node. If this consumer dies, the producer fails on EPIPE;
   * its error is then marked `brokenPipe` (a consequence, see stages.ts), so the consumer's own
   * failure is the one reported.
   */
  stdin?: 'pipe' | 'ignore' | ChildStage;
  stdout?: 'pipe' | 'ignore';
  cwd?: string;
  env?: Record<string, string>;
  onStderr?: (line: string) => void;
  /** Extra check of stderr: some tools (mbstream) print errors and still exit 0. */
  stderrIsFatal?: (line: string) => boolean;
}

/** util-linux setpriv with --pdeathsig (Debian 12 has 2.38); probed once. */
const PDEATHSIG = (() => {
  try {
    return spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
})();

/** Live children, killed if our process exits first (a dead job must not leave mariabackup running). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('close', () => live.delete(child));
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
  private readonly proc: ChildProcess;
  /** The stage our stdout was handed to (see ChildStageOptions.stdin). */
  private consumer: ChildStage | null = null;

  constructor(opts: ChildStageOptions) {
    this.stage = opts.stage;
    // Plain child_process: every stream's error is ours to handle, nothing re-emitted elsewhere.
    // Through `setpriv --pdeathsig KILL` when available: if we are SIGKILLed (no exit hook runs),
    // the kernel kills the child too, so a dead daemon never leaves mariabackup running.
    const producer = opts.stdin instanceof ChildStage ? opts.stdin : null;
    const [file, args] = PDEATHSIG ? ['setpriv', ['--pdeathsig', 'KILL', '--', opts.file, ...opts.args]] : [opts.file, [...opts.args]];
    const proc = spawn(file, args, {
      stdio: [producer ? producer.stdout! : opts.stdin === 'ignore' ? 'ignore' : 'pipe', opts.stdout ?? 'pipe', 'pipe'],
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    // Our copy of a handed-over pipe must close now, before the event loop runs: Node would
    // otherwise start reading from it (taking bytes meant for the child), and a producer whose
    // consumer died would block on a pipe we keep open instead of failing with EPIPE.
    if (producer) {
      producer.stdout!.destroy();
      producer.consumer = this;
    }
    this.proc = proc;
    this.pid = proc.pid;
    track(proc);
    this.stdin = proc.stdin;
    this.stdout = proc.stdout;
    // Writes into a dead child's stdin fail with EPIPE; the exit status is the real story.
    proc.stdin?.on('error', () => {});
    proc.stdout?.on('error', () => {});
    const stderrDone = new Promise<void>((resolve) => {
      if (!proc.stderr) return resolve();
      const rl = createInterface({ input: proc.stderr, crlfDelay: Infinity });
      rl.on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
        if (!this.fatalLine && opts.stderrIsFatal?.(line)) this.fatalLine = line;
        opts.onStderr?.(line);
      });
      rl.on('close', () => resolve());
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: NodeJS.ErrnoException }>((resolve) => {
      proc.once('error', (e: NodeJS.ErrnoException) => resolve({ code: null, signal: null, spawnError: e }));
      proc.once('close', (code, signal) => resolve({ code, signal }));
    });
    this.done = (async () => {
      const r = await exited;
      if (!r.spawnError) await stderrDone;
      if (r.spawnError || r.code !== 0 || this.fatalLine) {
        // Spawned directly, a missing program is a spawn error; through setpriv it is exit 127/126
        // with "setpriv: failed to execute ...".
        const missing =
          (r.spawnError && (r.spawnError.code === 'ENOENT' || r.spawnError.code === 'EACCES')) ||
          (PDEATHSIG && (r.code === 127 || r.code === 126) && this.tail.some((l) => l.startsWith('setpriv: failed to execute')));
        const how = r.spawnError
          ? `could not run "${opts.file}": ${r.spawnError.message}`
          : r.signal
            ? `was killed by ${r.signal}`
            : r.code !== 0
              ? `exited with code ${r.code}`
              : 'reported an error';
        const last = this.fatalLine ?? summarizeStderr(this.tail);
        throw new BackupmateError(
          missing ? 'TOOL_MISSING' : 'TOOL_FAILED',
          missing
            ? `${opts.stage}: program "${opts.file}" not found or not executable`
            : `${opts.stage} ${how}${last ? `: ${last.trim()}` : ''}`,
          {
            stage: opts.stage,
            exitCode: r.code ?? undefined,
            signal: r.signal ?? undefined,
            stderrTail: this.tail.slice(),
            killedByUs: this.killedByUs,
            ...((await this.consumerFailed()) ? { brokenPipe: true } : {}),
          },
        );
      }
    })();
    // Observed by whoever awaits it; avoid an unhandled rejection if nobody does.
    this.done.catch(() => {});
  }

  /**
   * Bytes the program has read so far (Linux `rchar` in /proc/PID/io), for progress while its
   * input does not pass through Node; null when unknown.
   */
  bytesRead(): number | null {
    if (this.pid === undefined) return null;
    try {
      const m = /^rchar:\s*(\d+)/m.exec(readFileSync(`/proc/${this.pid}/io`, 'utf8'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  /**
   * True when the stage reading our stdout failed on its own (not killed by us): our failure is
   * then most likely the broken pipe it left. Waiting for it is safe: our exit closed its input.
   */
  private async consumerFailed(): Promise<boolean> {
    if (!this.consumer) return false;
    const e = await this.consumer.done.then(
      () => null,
      (x: unknown) => x,
    );
    return e instanceof BackupmateError && !e.details.killedByUs;
  }

  get stderrTail(): readonly string[] {
    return this.tail;
  }

  get wasKilledByUs(): boolean {
    return this.killedByUs;
  }

  /**
   * stdout as a stream whose end carries the exit status (restic's command reader): it ends only
   * once the program exited 0 and errors with the stage's failure otherwise, so whoever reads it
   * to the end cannot take a failed program's output for a complete stream. Destroying it kills
   * the program (a command not read to the end is one whose output we threw away).
   */
  reader(): Readable {
    const out = this.stdout;
    if (!out) throw new BackupmateError('INTERNAL', `${this.stage} has no stdout to read`);
    const done = this.done;
    const kill = () => this.kill();
    const r = Readable.from(
      (async function* () {
        const it = out[Symbol.asyncIterator]();
        let ended = false;
        try {
          for (;;) {
            const next = await it.next();
            if (next.done) break;
            yield next.value as Buffer;
          }
          ended = true;
        } finally {
          // Not read to the end (destroyed, or the consumer stopped): the program is killed
          // BEFORE its pipe closes, so its own EPIPE is never taken for the cause.
          if (!ended) {
            kill();
            await it.return?.();
          }
        }
        await done;
      })(),
      { objectMode: false },
    );
    return r;
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

/**
 * Lines programs print while shutting down after the real failure, which say nothing about it:
 * mariabackup's `Error in my_thread_global_end(): 2 threads didn't exit` and its "files and
 * streams left open" warning.
 */
const SHUTDOWN_NOISE = [/\bmy_thread_global_end\b/, /\bfiles and \d+ streams (is|are) left open\b/];

/** What an error line looks like in mariabackup, mariadbd (InnoDB), zstd, gzip, age, mbstream. */
const ERROR_LIKE = /\[ERROR\]|\bFATAL\b|\berror\b|\bfailed\b|\breturned -?\d+\b/i;

/** `2026-12-02  6:45:56 0 ` (server log format) and `[00] 2026-12-02 06:45:56 ` (mariabackup's own). */
const TIMESTAMP_PREFIX = /^(\[\d+\] )?\d{4}-\d\d-\d\d +\d?\d:\d\d:\d\d( \d+)? /;

function stripTimestamp(line: string): string {
  return line.trim().replace(TIMESTAMP_PREFIX, '');
}

/**
 * Pure: the one line of a failed program's stderr tail that says what went wrong, for the
 * error's one-line message (the whole tail stays in the error's details).
 *
 * The last line that looks like an error (`[ERROR]`, `error`, `failed`, `returned <n>`, `FATAL`),
 * skipping known shutdown noise; failing that the last line that is not noise, failing that the
 * last non-blank line. A `... returned <n>` line (mariabackup: `srv_start() returned 37 (Data
 * structure corruption).`) states only the outcome: when an `[ERROR]` line came before it, that
 * line, which says why, is added. Timestamps are dropped.
 */
export function summarizeStderr(tail: readonly string[]): string {
  const lines = tail.map(stripTimestamp).filter((l) => l.length > 0);
  const meaningful = lines.filter((l) => !SHUTDOWN_NOISE.some((re) => re.test(l)));
  const lastIndex = (from: readonly string[], re: RegExp) => {
    for (let i = from.length - 1; i >= 0; i--) if (re.test(from[i])) return i;
    return -1;
  };
  const errorAt = lastIndex(meaningful, ERROR_LIKE);
  if (errorAt < 0) return meaningful.at(-1) ?? lines.at(-1) ?? '';
  const line = meaningful[errorAt];
  if (!/\breturned -?\d+\b/.test(line)) return line;
  const before = meaningful.slice(0, errorAt);
  const whyAt = lastIndex(before, /\[ERROR\]/);
  return whyAt >= 0 ? `${line.replace(/\.$/, '')}; before it: ${before[whyAt]}` : line;
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
