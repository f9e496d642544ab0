/**
 * backupmatectl's side of the control socket: connecting (with connection failures turned into
 * one-line BackupmateErrors that say what to do), newline-delimited JSON framing, and checking
 * each daemon message against the protocol (src/daemon/protocol.ts) before anyone uses it.
 *
 * One connection carries one request: the caller opens a connection, sends its Request, reads
 * messages until the final Result or Error, and may send a `confirm` line in between.
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { BackupmateError } from '../domain/errors.js';
import { PROTOCOL_VERSION, type DaemonMessage, type ErrorMessage, type EventMessage, type Request, type ResultMessage } from '../daemon/protocol.js';

/** Opens a stream socket to a Unix socket path (net.createConnection); injectable for tests. */
export type Connector = (socketPath: string) => net.Socket;

export const defaultConnector: Connector = (socketPath) => net.createConnection({ path: socketPath });

/**
 * A line longer than this is not a message we could mean: refuse it instead of buffering without
 * bound. Generous because `list` carries every manifest of the store in one line.
 */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

const CLOSED_WITHOUT_ANSWER = 'the daemon closed the connection without an answer (see journalctl -u backupmate)';

// --- framing -----------------------------------------------------------------------------------

/**
 * Splits a byte stream into lines. UTF-8 sequences cut across chunks are reassembled; `\r\n` is
 * accepted; blank lines are skipped (they carry no message).
 */
export class LineDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly maxLine = MAX_LINE_BYTES) {}

  push(chunk: Buffer | string): string[] {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.utf8.write(chunk));
    const parts = text.split('\n');
    this.partial = parts.pop()!;
    if (this.partial.length > this.maxLine) {
      throw new BackupmateError('PROTOCOL', `the daemon sent a line longer than ${this.maxLine} characters without a newline (malformed message)`);
    }
    return parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => l.trim() !== '');
  }

  /** What is left when the stream ends: a last line without its newline, or null. */
  end(): string | null {
    const rest = (this.partial + this.utf8.end()).replace(/\r$/, '');
    this.partial = '';
    return rest.trim() === '' ? null : rest;
  }
}

/** One request as its wire line. */
export function encodeRequest(req: Request): string {
  return JSON.stringify(req) + '\n';
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Parses and checks one daemon line. Throws BackupmateError('PROTOCOL') for anything that is not a
 * protocol message of our version: not JSON, not an object, another `v` (checked first, so a
 * daemon of another release is named as such even if its messages look different), or neither an
 * event, a result nor a well-formed error. The `id` is not checked: one connection carries one
 * request, and a daemon that could not parse a request answers with id 0.
 */
export function parseMessage(line: string): DaemonMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (e) {
    throw new BackupmateError('PROTOCOL', `the daemon sent a line that is not JSON (${(e as Error).message}): ${clip(line)}`);
  }
  if (!isObject(raw)) throw new BackupmateError('PROTOCOL', `the daemon sent ${clip(line)}, expected a JSON object`);
  if (raw.v !== PROTOCOL_VERSION) {
    throw new BackupmateError(
      'PROTOCOL',
      `the daemon speaks control protocol version ${JSON.stringify(raw.v ?? null)}, this backupmatectl speaks ${PROTOCOL_VERSION}: use the backupmatectl of the daemon's release`,
    );
  }
  if (typeof raw.event === 'string') return raw as EventMessage;
  if ('result' in raw) return raw as unknown as ResultMessage;
  if (isObject(raw.error) && typeof raw.error.code === 'string' && typeof raw.error.message === 'string') return raw as unknown as ErrorMessage;
  throw new BackupmateError('PROTOCOL', `the daemon sent a message that is neither an event, a result nor an error: ${clip(line)}`);
}

function clip(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

// --- connection failures -----------------------------------------------------------------------

/** The name of group `gid` in /etc/group's text, or null. Pure. */
export function groupNameFromFile(gid: number, etcGroup: string): string | null {
  for (const line of etcGroup.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && id.trim() !== '' && Number(id) === gid) return name;
  }
  return null;
}

/**
 * The group a user must join to use the socket: the socket's group, or, when the socket itself
 * cannot be examined (its directory is not searchable for us), the directory's group, which the
 * daemon sets up the same way. Named from /etc/group, else the number; null when nothing can be
 * examined.
 */
export async function socketGroup(socketPath: string, etcGroupPath = '/etc/group'): Promise<string | null> {
  let gid: number | null = null;
  for (const p of [socketPath, path.dirname(path.resolve(socketPath))]) {
    try {
      gid = (await fs.stat(p)).gid;
      break;
    } catch {
      /* try the directory */
    }
  }
  if (gid === null) return null;
  try {
    return groupNameFromFile(gid, await fs.readFile(etcGroupPath, 'utf8')) ?? String(gid);
  } catch {
    return String(gid);
  }
}

/**
 * The user-facing error for a failed connect (pure). `group` is socketGroup's answer, needed only
 * for EACCES/EPERM. `origin` (ctl/socket.ts describeOrigin) says where the path came from and
 * which env files could not be read, so "not running" never hides that another path was meant.
 */
export function connectError(err: { code?: string; message?: string }, socketPath: string, group: string | null = null, origin = ''): BackupmateError {
  const details = { socket: socketPath, errno: err.code };
  switch (err.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new BackupmateError('DAEMON_UNAVAILABLE', `the backupmate daemon is not running (no socket at ${socketPath}${origin}): start it with systemctl start backupmate`, details);
    case 'ECONNREFUSED':
      return new BackupmateError('DAEMON_UNAVAILABLE', `the backupmate daemon is not running (nobody listens on ${socketPath}${origin}): start it with systemctl start backupmate`, details);
    case 'EACCES':
    case 'EPERM': {
      const how =
        group !== null
          ? `add your user to group ${group} (usermod -aG ${group} $USER, then log in again) or run as root`
          : `add your user to the group that owns it (ls -l ${socketPath}), then log in again, or run as root`;
      return new BackupmateError('PERMISSION', `permission denied on ${socketPath}: ${how}`, { ...details, group });
    }
    default:
      return new BackupmateError('DAEMON_UNAVAILABLE', `cannot connect to the backupmate daemon on ${socketPath}${origin}: ${err.message ?? err.code ?? 'unknown error'}`, details);
  }
}

// --- the connection ----------------------------------------------------------------------------

type Item = { kind: 'message'; message: DaemonMessage; line: string } | { kind: 'error'; error: BackupmateError } | { kind: 'end' };

/** A received message, with the line it came in (for error messages and debugging). */
export interface Received {
  message: DaemonMessage;
  line: string;
}

/**
 * An open control connection. Messages are queued as they arrive and handed out in order by
 * next(); after the daemon closes (or a framing/protocol error), next() rejects with PROTOCOL.
 */
export class ControlConnection {
  private readonly queue: Item[] = [];
  private waiter: ((item: Item) => void) | null = null;
  private done = false;

  constructor(private readonly socket: net.Socket) {
    const decoder = new LineDecoder();
    socket.on('data', (chunk: Buffer) => {
      if (this.done) return;
      let lines: string[];
      try {
        lines = decoder.push(chunk);
      } catch (e) {
        this.fail(e as BackupmateError);
        return;
      }
      for (const line of lines) {
        try {
          this.put({ kind: 'message', message: parseMessage(line), line });
        } catch (e) {
          this.fail(e as BackupmateError);
          return;
        }
      }
    });
    const finish = () => {
      if (this.done) return;
      const rest = decoder.end();
      if (rest !== null) {
        try {
          this.put({ kind: 'message', message: parseMessage(rest), line: rest });
        } catch {
          // A cut-off last line: the daemon went away in the middle of a message.
          this.fail(new BackupmateError('PROTOCOL', `${CLOSED_WITHOUT_ANSWER}; its last message was cut off`));
          return;
        }
      }
      this.done = true;
      this.put({ kind: 'end' });
    };
    socket.on('end', finish);
    socket.on('close', finish);
    // After connecting, a reset or broken pipe means the daemon went away: same as a close.
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (this.done) return;
      this.fail(new BackupmateError('PROTOCOL', `${CLOSED_WITHOUT_ANSWER}; ${e.code ?? e.message}`));
    });
  }

  private put(item: Item): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w(item);
    } else {
      this.queue.push(item);
    }
  }

  private fail(error: BackupmateError): void {
    this.done = true;
    this.put({ kind: 'error', error });
    this.socket.destroy();
  }

  send(msg: Request): void {
    if (!this.socket.destroyed) this.socket.write(encodeRequest(msg));
  }

  /** The next message; rejects with PROTOCOL when the connection ended before one came. */
  async next(): Promise<Received> {
    const item = this.queue.shift() ?? (await new Promise<Item>((resolve) => (this.waiter = resolve)));
    if (item.kind === 'message') return { message: item.message, line: item.line };
    if (item.kind === 'error') {
      this.queue.unshift(item);
      throw item.error;
    }
    this.queue.unshift(item);
    throw new BackupmateError('PROTOCOL', CLOSED_WITHOUT_ANSWER);
  }

  /** Closes the connection; a next() waiting (or called later) rejects as for a daemon close. */
  close(): void {
    if (!this.done) {
      this.done = true;
      this.put({ kind: 'end' });
    }
    this.socket.destroy();
  }
}

/**
 * Connects to the daemon's socket. Connection failures become BackupmateErrors (connectError),
 * with the socket's group looked up for permission problems.
 */
export async function openConnection(socketPath: string, connect: Connector = defaultConnector, origin = ''): Promise<ControlConnection> {
  const socket = connect(socketPath);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve();
      });
      socket.once('error', reject);
    });
  } catch (e) {
    socket.destroy();
    const err = e as NodeJS.ErrnoException;
    const group = err.code === 'EACCES' || err.code === 'EPERM' ? await socketGroup(socketPath) : null;
    throw connectError(err, socketPath, group, origin);
  }
  return new ControlConnection(socket);
}
