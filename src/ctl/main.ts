/**
 * backupmatectl's commands, as a function of its arguments and its I/O: `main(args, io)` parses
 * the command line, talks to the daemon (one connection per command, see client.ts), renders what
 * comes back and returns the exit status. Nothing here touches `process`: the entry point
 * (backupmatectl.ts) passes the real streams, tests pass fakes.
 *
 * Exit statuses come from the error registry (src/domain/errors.ts): a daemon Error exits with its
 * code's status, connection problems with DAEMON_UNAVAILABLE / PERMISSION / PROTOCOL. Errors are
 * one line on stderr, `backupmatectl: ...`, never a stack.
 */
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import { BackupmateError, ERROR_CODES, type ErrorCode } from '../domain/errors.js';
import { DrillFailed, type DrillReport } from '../drill/drill.js';
import { PROTOCOL_VERSION, type DaemonMessage, type EventMessage, type JobView, type Method, type RestoreParams } from '../daemon/protocol.js';
import { VERSION } from '../version.js';
import { checkRestoreArgs } from '../cli/restore-args.js';
import { renderDrill, renderVerify } from '../cli/format.js';
import { verifyError, type VerifyReport } from '../verify/report.js';
import { openConnection, type ControlConnection, type Connector } from './client.js';
import { describeOrigin, resolveSocket, type SocketChoice } from './socket.js';
import {
  asJob,
  asStatus,
  describeJob,
  progressFromEvent,
  ProgressView,
  renderGeneric,
  renderJobDone,
  renderList,
  renderQueued,
  renderRestore,
  renderStatus,
} from './render.js';

export const NAME = 'backupmatectl';
/** Where the daemon listens unless CONTROL_SOCKET or --socket say otherwise (the config default). */
export const DEFAULT_SOCKET = '/run/backupmate/backupmate.sock';

interface Out {
  write(s: string): unknown;
}

/** Everything backupmatectl reads and writes; processIo() gives the real ones. */
export interface CtlIo {
  /** Where confirmation answers are read from (a line: y/yes or anything else = no). */
  stdin: NodeJS.ReadableStream;
  /** Results (human text, or JSON lines with --json). */
  stdout: Out;
  /** Errors, progress, prompts. */
  stderr: Out;
  /** stdin: may we ask for a confirmation? stderr: draw a progress bar, or write plain lines? */
  isTTY: { stdin: boolean; stderr: boolean };
  /** CONTROL_SOCKET (the default socket), BACKUPMATE_DEBUG (stacks of unexpected errors). */
  env: Record<string, string | undefined>;
  /** Relative --target-dir paths are resolved against this (the daemon has another cwd). */
  cwd: string;
  /** Clock for progress rates and throttling (default Date.now). */
  now?: () => number;
  /** How to open the socket (default net.createConnection). */
  connect?: Connector;
}

export function processIo(): CtlIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: { stdin: !!process.stdin.isTTY, stderr: !!process.stderr.isTTY },
    env: process.env,
    cwd: process.cwd(),
  };
}

interface GlobalOpts {
  socket?: string;
  json?: boolean;
}

/** One command's connection to the daemon and how it shows what comes back. */
class Session {
  readonly json: boolean;
  readonly socket: string;
  /** Where `socket` came from, for the "not running" message. */
  readonly target: SocketChoice;
  readonly progress: ProgressView;
  /** --yes: confirmations are answered yes without asking (the daemon should not even ask). */
  yes = false;
  /**
   * Set when this client answered a confirmation with "no": the command fails with it whatever the
   * daemon answers next (see confirm()).
   */
  private declined: BackupmateError | null = null;
  private declineTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly io: CtlIo,
    opts: GlobalOpts,
  ) {
    this.json = !!opts.json;
    // As the daemon finds it: --socket, $CONTROL_SOCKET, the env files' CONTROL_SOCKET, the default.
    this.target = resolveSocket(opts.socket, io.env, io.cwd, DEFAULT_SOCKET);
    this.socket = this.target.path;
    const write = (s: string) => void io.stderr.write(s);
    this.progress = new ProgressView(this.json ? 'off' : io.isTTY.stderr ? 'bar' : 'lines', write, io.now ?? Date.now);
  }

  /** Prints a result for people (nothing with --json: the result line was the output). */
  print(text: string): void {
    if (!this.json) this.io.stdout.write(text);
  }

  /**
   * Sends one request and follows the daemon's messages to the final one: events drive the
   * progress display and confirmations; a Result is returned; an Error is thrown as a
   * BackupmateError with the daemon's code (INTERNAL when this client does not know the code).
   */
  async call(method: Method, params: Record<string, unknown>): Promise<unknown> {
    const conn = await openConnection(this.socket, this.io.connect, describeOrigin(this.target));
    const id = 1;
    try {
      conn.send({ v: PROTOCOL_VERSION, id, method, params });
      for (;;) {
        let message: DaemonMessage;
        try {
          ({ message } = await conn.next());
        } catch (e) {
          // After a "no", the daemon closing (or us giving up on it) is the expected end.
          throw this.declined ?? e;
        }
        if (this.json) this.io.stdout.write(JSON.stringify(message) + '\n');
        if (isEvent(message)) {
          if (!this.declined) await this.onEvent(conn, id, method, message);
          continue;
        }
        this.progress.finish();
        if (this.declined) throw this.declined;
        if ('result' in message) return message.result;
        throw daemonError(message.error);
      }
    } finally {
      clearTimeout(this.declineTimer);
      this.progress.finish();
      conn.close();
    }
  }

  private async onEvent(conn: ControlConnection, id: number, method: Method, ev: EventMessage): Promise<void> {
    switch (ev.event) {
      case 'progress': {
        const p = progressFromEvent(ev);
        if (p) this.progress.update(p);
        return;
      }
      case 'log':
        if (typeof ev.message === 'string') this.progress.note(typeof ev.level === 'string' ? `${ev.level}: ${ev.message}` : ev.message);
        return;
      case 'state': {
        // Either {job: JobView} or the flat {state, backupId?, reason?|message?}.
        if (isJobLike(ev.job)) {
          if (FINAL_STATES.has(ev.job.state)) this.progress.finish();
          this.progress.note(describeJob(ev.job));
        }
        else if (typeof ev.state === 'string') {
          // The job's end: the bar's last state first, then this line; nothing redraws after it.
          if (FINAL_STATES.has(ev.state)) this.progress.finish();
          const who = typeof ev.backupId === 'string' && ev.backupId ? `backup ${ev.backupId}` : 'job';
          const why = typeof ev.message === 'string' ? ev.message : typeof ev.reason === 'string' ? ev.reason : '';
          this.progress.note(`${who}: ${ev.state}${why ? ` (${why})` : ''}`);
        }
        return;
      }
      case 'confirm':
        return this.confirm(conn, id, method, ev);
      default:
        // Events a newer daemon invented: --json shows them, people need not.
        return;
    }
  }

  /**
   * Answers a `confirm` event on the same connection with {method:'confirm', params:{yes}}.
   * - --yes: yes (the daemon should not ask then; if it does, the user has already agreed);
   * - stdin a terminal: the daemon's prompt on stderr, one line read from stdin, y/yes = yes;
   * - otherwise nobody can answer: no.
   * After a "no" the command fails with DECLINED (this client's message, which can say why), but
   * the connection stays open for the daemon's final answer (printed with --json), so the daemon
   * never writes to a connection we dropped; DECLINE_GRACE_MS bounds that wait.
   */
  private async confirm(conn: ControlConnection, id: number, method: Method, ev: EventMessage): Promise<void> {
    const answer = (yes: boolean) => conn.send({ v: PROTOCOL_VERSION, id, method: 'confirm', params: { yes } });
    const decline = (message: string) => {
      this.declined = new BackupmateError('DECLINED', message);
      answer(false);
      this.declineTimer = setTimeout(() => conn.close(), DECLINE_GRACE_MS);
    };
    if (this.yes) return answer(true);
    if (!this.io.isTTY.stdin) {
      return decline(`${method} needs a confirmation, and stdin is not a terminal to ask on: answered no, nothing was changed; pass --yes for non-interactive use`);
    }
    this.progress.finish();
    const prompt = typeof ev.prompt === 'string' && ev.prompt ? ev.prompt : `${method} will overwrite ${typeof ev.datadir === 'string' ? ev.datadir : 'the datadir'}.`;
    this.io.stderr.write(`${prompt.replace(/\s+$/, '')}\nproceed? [y/N] `);
    const line = await readLine(this.io.stdin);
    if (line === null) this.io.stderr.write('\n');
    if (line === null || !/^\s*y(es)?\s*$/i.test(line)) return decline(`${method} not confirmed: nothing was changed`);
    answer(true);
  }
}

/** Job states after which no progress follows. */
const FINAL_STATES: ReadonlySet<string> = new Set<JobView['state']>(['succeeded', 'failed', 'cancelled', 'crashed']);

/** How long to wait for the daemon's answer after declining before closing anyway. */
export const DECLINE_GRACE_MS = 5000;

function isEvent(m: DaemonMessage): m is EventMessage {
  return typeof (m as EventMessage).event === 'string';
}

/** A verify report (what this release's daemon answers), as opposed to another daemon's shape. */
function isVerifyReport(x: unknown): x is VerifyReport {
  const r = x as VerifyReport;
  return typeof x === 'object' && x !== null && typeof r.request === 'string' && typeof r.summary === 'string' && Array.isArray(r.backups) && (r.code === null || knownCode(r.code));
}

function isJobLike(x: unknown): x is JobView {
  return typeof x === 'object' && x !== null && typeof (x as JobView).id === 'string' && typeof (x as JobView).state === 'string';
}

function knownCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** A daemon Error as the error this process exits with. */
export function daemonError(e: { code: string; message: string; details?: Record<string, unknown> }): BackupmateError {
  if (knownCode(e.code)) return new BackupmateError(e.code, e.message, e.details ?? {});
  return new BackupmateError('INTERNAL', `${e.message} (error code ${e.code} from the daemon is unknown to this backupmatectl)`, e.details ?? {});
}

/** A finished job that did not succeed, as the error to exit with (its code, or CANCELLED/INTERNAL). */
function jobFailure(j: JobView): BackupmateError {
  const what = `${j.kind}${j.backupId ? ` ${j.backupId}` : ''} (job ${j.id}) ${j.state}`;
  if (j.error) return new BackupmateError(knownCode(j.error.code) ? j.error.code : 'INTERNAL', `${what}: ${j.error.message}`);
  return new BackupmateError(j.state === 'cancelled' ? 'CANCELLED' : 'INTERNAL', `${what}${j.state === 'cancelled' ? '' : ' without saying why'}`);
}

/** One line from `stdin`, or null at its end. Stops reading afterwards (so the process may exit). */
function readLine(stdin: NodeJS.ReadableStream): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: stdin, terminal: false });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!answered) resolve(null);
    });
  });
}

// --- the commands ------------------------------------------------------------------------------

export function buildProgram(io: CtlIo): Command {
  const session = (cmd: Command) => new Session(io, cmd.optsWithGlobals<GlobalOpts>());
  const program = new Command(NAME)
    .description('control the backupmate daemon over its Unix socket: status, list, backup, cancel, restore, verify')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--socket <path>', `the daemon's control socket (default: $CONTROL_SOCKET, else CONTROL_SOCKET in /etc/backupmate/*.env and ./.backupmate.env as the daemon reads them, else ${DEFAULT_SOCKET})`)
    .option('--json', 'print every message from the daemon as one JSON line on stdout and nothing else (for scripts)')
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit status 0 on success, else the status of the error code (see the README): e.g. 68 the daemon is not\n' +
        'running, 77 no permission on the socket, 67 not confirmed, 79 protocol mismatch, 81 another backupmate\n' +
        'holds the store lock of the prefix.',
    );

  program
    .command('status')
    .description("the daemon's state, the running job and its progress, the queue, the next scheduled runs, the last success (the daemon's own or the store's newest backup, e.g. from cron) and failure of each kind, the store")
    .action(async (_opts, cmd: Command) => {
      const s = session(cmd);
      const result = await s.call('status', {});
      s.print(renderStatus(asStatus(result)));
    });

  program
    .command('list')
    .description("the store's backups as chains, like backupmate list (with --json: the daemon's answer, whose result is backupmate list --json)")
    .action(async (_opts, cmd: Command) => {
      const s = session(cmd);
      const result = await s.call('list', {});
      s.print(renderList(result));
    });

  program
    .command('backup')
    .description('queue a backup: full or incremental as the planner decides, or as forced')
    .addOption(new Option('--full', 'take a full backup').conflicts('incremental'))
    .addOption(new Option('--incremental', 'take an incremental on the current chain'))
    .addOption(new Option('--logical', 'take a logical backup (a consistent parallel dump, always full) instead').conflicts('incremental'))
    .option('--wait', "follow the job's progress until it ends; exit with its result")
    .addHelpText('after', '\nWithout --wait: prints the queued job and exits 0. Interrupting --wait only stops watching; the backup goes on.')
    .action(async (opts: { full?: boolean; incremental?: boolean; logical?: boolean; wait?: boolean }, cmd: Command) => {
      const s = session(cmd);
      const kind = opts.full || opts.logical ? 'full' : opts.incremental ? 'incremental' : 'auto';
      const job = asJob(await s.call('backup', { kind, wait: !!opts.wait, ...(opts.logical ? { source: 'logical' } : {}) }), 'backup');
      if (!opts.wait) return s.print(renderQueued(job));
      if (job.state !== 'succeeded') throw jobFailure(job);
      s.print(renderJobDone(job));
    });

  program
    .command('cancel')
    .description('cancel a job: children killed, uploads aborted, no manifest written')
    .argument('[job]', 'the job id (default: the running job)')
    .action(async (job: string | undefined, _opts, cmd: Command) => {
      const s = session(cmd);
      const view = asJob(await s.call('cancel', job === undefined ? {} : { job }), 'cancel');
      s.print(describeJob(view) + '\n');
    });

  program
    .command('restore')
    .description('have the daemon download, verify, prepare and put a backup in place')
    .argument(
      '[id]',
      'backup id (20261121T040000Z: exactly that backup), an unambiguous prefix, "latest", or any other time form ("2026-11-21 14:05:17"): that moment (point in time)',
    )
    .addOption(new Option('--time <when>', 'restore the database to this moment, e.g. "2026-11-21 14:05:17" (SCHEDULE_TIMEZONE): a backup, then the archived binlogs up to it'))
    .addOption(new Option('--gtid <gtid>', 'restore the database up to and including this transaction, e.g. 0-1-4711'))
    .addOption(new Option('--target-dir <dir>', 'put the prepared backup in this new or empty directory (relative to the current directory)'))
    .addOption(new Option('--copy-back', 'copy the prepared backup into MARIADB_DATADIR (the old datadir is moved aside)'))
    .addOption(new Option('--move-back', 'move the prepared backup into MARIADB_DATADIR (the old datadir is moved aside)'))
    .addOption(new Option('--into-server', "load a logical backup into the daemon's server (DB_HOST/DB_SOCKET as RESTORE_DB_USER), staged and checked"))
    .addOption(new Option('--database <db>', 'with --into-server: only this database'))
    .addOption(new Option('--table <db.table>', 'with --into-server: only this table'))
    .addOption(new Option('--replace', 'with --into-server: move an existing database/table aside (renamed, never dropped) instead of refusing'))
    .option('--yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .option('--no-start', 'do not start MariaDB after --copy-back/--move-back')
    .addHelpText(
      'after',
      '\nExactly one of --target-dir, --copy-back, --move-back, --into-server, and one of an id, --time or --gtid.\n' +
        'Point in time (needs the binlog archive): every transaction committed before the moment, none after; one\n' +
        'committed in that very second is not replayed (binlog times have one-second resolution). Outside the window:\n' +
        'exit 85, with the window and the nearest restorable moments. --into-server loads a logical backup (all,\n' +
        '--database or --table) without stopping anything: an existing one is refused unless --replace (renamed to\n' +
        '<name>_before_<id>); a failed staged check stops the load naming the table (exit 65).\n' +
        'Before it stops MariaDB or replaces the datadir (--copy-back/--move-back)\n' +
        'the daemon asks for a confirmation (answer y), unless --yes was given. Without a terminal\n' +
        'on stdin and without --yes, --copy-back/--move-back are declined at once (exit 67), before anything is downloaded.',
    )
    .action(
      async (
        id: string | undefined,
        opts: { time?: string; gtid?: string; targetDir?: string; copyBack?: boolean; moveBack?: boolean; intoServer?: boolean; database?: string; table?: string; replace?: boolean; yes?: boolean; start?: boolean },
        cmd: Command,
      ) => {
      const mode: RestoreParams['mode'] = checkRestoreArgs(id, opts);
      // Who can answer the confirmation: a person at the terminal stdin is (confirm() reads it).
      const interactive = io.isTTY.stdin;
      const asks = mode !== 'target-dir' && mode !== 'into-server' && !opts.yes;
      if (asks && !interactive) {
        // Decided here, before the daemon downloads and prepares the whole chain for nothing.
        throw new BackupmateError('DECLINED', 'restore not confirmed: no terminal to ask and no --yes given; nothing was downloaded or changed');
      }
      const s = session(cmd);
      s.yes = !!opts.yes;
      const params: RestoreParams = {
        ...(id !== undefined ? { id } : {}),
        ...(opts.time !== undefined ? { time: opts.time } : {}),
        ...(opts.gtid !== undefined ? { gtid: opts.gtid } : {}),
        mode,
        // The daemon runs elsewhere (another cwd): send an absolute path.
        ...(opts.targetDir !== undefined ? { targetDir: path.resolve(io.cwd, opts.targetDir) } : {}),
        yes: !!opts.yes,
        noStart: opts.start === false,
        interactive,
        ...(opts.database !== undefined ? { database: opts.database } : {}),
        ...(opts.table !== undefined ? { table: opts.table } : {}),
        ...(opts.replace ? { replace: true } : {}),
      };
      const result = await s.call('restore', params as unknown as Record<string, unknown>);
      s.print(renderRestore(result));
    },
    );

  program
    .command('verify')
    .description("have the daemon check backups end to end: manifest (and MAC), chain, every volume's sha256, the whole stream unpacked")
    .argument('[id]', 'backup id, timestamp or prefix (checks its chain), "latest" or "all" (default: latest, as the daemon decides)')
    .addHelpText('after', '\nExit status: 0 all ok; 65 something is corrupt; otherwise the code of why a backup could not be checked (e.g. 78, 76).')
    .action(async (id: string | undefined, _opts, cmd: Command) => {
      const s = session(cmd);
      const result = await s.call('verify', id === undefined ? {} : { id });
      if (!isVerifyReport(result)) return s.print(renderGeneric(result));
      s.print(renderVerify(result));
      const err = verifyError(result);
      if (err) throw err;
    });

  program
    .command('drill')
    .description('have the daemon drill a backup: restore it into LOCAL_TEMP_DIR (replaying the binlog archive up to its last archived moment when there is one), start a throwaway mariadbd, CHECK TABLE every table (a queued job, never during a backup)')
    .argument('[id]', 'backup id, timestamp or prefix, or "latest" (default)')
    .addHelpText('after', '\nExit status: as backupmate drill: 0 passed; 80 server or tables failed; 65 corrupt volume; 71 prepare failed; 74 no room.')
    .action(async (id: string | undefined, _opts, cmd: Command) => {
      const s = session(cmd);
      const result = await s.call('drill', id === undefined ? {} : { id });
      if (!isDrillReport(result)) return s.print(renderGeneric(result));
      s.print(renderDrill(result));
      if (result.status !== 'ok') throw new DrillFailed(result);
    });

  return program;
}

function isDrillReport(x: unknown): x is DrillReport {
  return !!x && typeof x === 'object' && (x as { format?: unknown }).format === 'backupmate-drill/1';
}

/**
 * Runs backupmatectl with `args` (the arguments after the program name, i.e. process.argv.slice(2))
 * and returns the exit status. Never throws: every failure is reported on io.stderr as one line.
 */
export async function main(args: string[], io: CtlIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    return report(e, io);
  }
}

/** Like cli/main.ts's report, onto io.stderr: one line, the registered exit status. */
export function report(e: unknown, io: Pick<CtlIo, 'stderr' | 'env'>): number {
  if (e instanceof CommanderError) {
    // Help and version are not errors; commander already printed what it had to say.
    // Help shown because no command was given is a usage error (commander proposes exit 1 for it).
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || (e.code === 'commander.help' && e.exitCode === 0)) return 0;
    return ERROR_CODES.USAGE.exit;
  }
  if (e instanceof BackupmateError) {
    io.stderr.write(`${NAME}: ${e.message}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  io.stderr.write(`${NAME}: unexpected error (a bug; please report it): ${err?.message ?? String(e)}\n`);
  if (io.env.BACKUPMATE_DEBUG === '1' && err?.stack) io.stderr.write(err.stack + '\n');
  return ERROR_CODES.INTERNAL.exit;
}
