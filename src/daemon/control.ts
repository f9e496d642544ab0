/**
 * The control channel: a Unix socket speaking newline-delimited JSON (see protocol.ts).
 *
 * One request per connection; the handler for its method (one file each in handlers/, registered
 * in one table) may send events, wait for a confirmation line, and returns the final result; a
 * thrown BackupmateError becomes an Error message with its registry code. The socket is created
 * mode 0660 with group CONTROL_SOCKET_GROUP, so only root and that group can talk to the daemon.
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { PROTOCOL_VERSION, type DaemonMessage, type Method, type Request } from './protocol.js';

export interface Connection {
  readonly requestId: number;
  /** Sends an interim event; ignored once the client has gone. */
  event(name: 'progress' | 'log' | 'state' | 'confirm', fields: Record<string, unknown>): void;
  /** Waits for the client's next request line with this method (null if the client disconnects). */
  next(method: Method): Promise<Request | null>;
  readonly closed: boolean;
}

export type Handler = (params: Record<string, unknown>, conn: Connection) => Promise<unknown>;

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly socketPath: string,
    private readonly group: string,
    private readonly handlers: Readonly<Record<string, Handler>>,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    await fs.mkdir(path.dirname(this.socketPath), { recursive: true, mode: 0o750 });
    await this.removeStaleSocket();
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error(`control socket error: ${e.message}`, { event: 'control.error' }));
    this.server = server;
    await fs.chmod(this.socketPath, 0o660);
    const gid = await groupId(this.group);
    if (gid !== null) await fs.chown(this.socketPath, process.getuid?.() ?? 0, gid).catch(() => {});
    else if (this.group) this.log.warn(`CONTROL_SOCKET_GROUP "${this.group}" does not exist: only root can use backupmatectl`, { event: 'control.group_missing' });
    this.log.info('control socket listening', { event: 'control.listen', socket: this.socketPath, group: gid !== null ? this.group : null });
  }

  /** A socket file nobody answers on is left over from a crash; one that answers is another daemon. */
  private async removeStaleSocket(): Promise<void> {
    try {
      await fs.lstat(this.socketPath);
    } catch {
      return;
    }
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.connect(this.socketPath);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (alive) throw new BackupmateError('BUSY', `another backupmate daemon is listening on ${this.socketPath} (CONTROL_SOCKET)`);
    await fs.rm(this.socketPath, { force: true });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await fs.rm(this.socketPath, { force: true });
  }

  /** Ends client connections still open (after the final answers were sent). */
  dropClients(): void {
    for (const s of this.sockets) s.destroy();
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const lines = createInterface({ input: socket, crlfDelay: Infinity });
    // readline re-emits its input's errors: a client that vanishes mid-write (EPIPE, ECONNRESET)
    // must not become an uncaught exception that takes the daemon down.
    lines.on('error', () => {});
    const waiting: { method: Method; resolve: (r: Request | null) => void }[] = [];
    let first: Request | null = null;
    let closed = false;
    socket.on('close', () => {
      closed = true;
      for (const w of waiting.splice(0)) w.resolve(null);
    });
    const send = (msg: DaemonMessage) => {
      if (!closed && !socket.destroyed) socket.write(JSON.stringify(msg) + '\n');
    };
    lines.on('line', (line) => {
      let req: Request;
      try {
        req = JSON.parse(line) as Request;
        if (typeof req !== 'object' || req === null || typeof req.method !== 'string') throw new Error('not a request');
      } catch {
        send({ v: PROTOCOL_VERSION, id: 0, error: { code: 'PROTOCOL', message: 'malformed request line (expected one JSON object per line)' } });
        socket.end();
        return;
      }
      if (first) {
        const w = waiting.findIndex((x) => x.method === req.method);
        if (w >= 0) waiting.splice(w, 1)[0].resolve(req);
        return;
      }
      first = req;
      const conn: Connection = {
        requestId: req.id,
        event: (name, fields) => send({ v: PROTOCOL_VERSION, id: req.id, event: name, ...fields }),
        next: (method) => (closed ? Promise.resolve(null) : new Promise((resolve) => waiting.push({ method, resolve }))),
        get closed() {
          return closed;
        },
      };
      void this.dispatch(req, conn).then((msg) => {
        send(msg);
        socket.end();
      });
    });
  }

  private async dispatch(req: Request, conn: Connection): Promise<DaemonMessage> {
    const id = typeof req.id === 'number' ? req.id : 0;
    if (req.v !== PROTOCOL_VERSION) {
      return {
        v: PROTOCOL_VERSION,
        id,
        error: { code: 'PROTOCOL', message: `protocol version ${String(req.v)} is not supported (daemon speaks ${PROTOCOL_VERSION}): use the backupmatectl of the same release` },
      };
    }
    const handler = this.handlers[req.method];
    if (!handler) return { v: PROTOCOL_VERSION, id, error: { code: 'PROTOCOL', message: `unknown method "${req.method}"` } };
    this.log.info(`control request ${req.method}`, { event: 'control.request', method: req.method });
    try {
      return { v: PROTOCOL_VERSION, id, result: await handler(req.params ?? {}, conn) };
    } catch (e) {
      const err = e instanceof BackupmateError ? e : new BackupmateError('INTERNAL', errorText(e));
      if (err.code === 'INTERNAL') this.log.error(`control request ${req.method} failed: ${err.message}`, { event: 'control.error', method: req.method });
      return { v: PROTOCOL_VERSION, id, error: { code: err.code, message: err.message } };
    }
  }
}

async function groupId(name: string): Promise<number | null> {
  if (!name) return null;
  if (/^\d+$/.test(name)) return Number(name);
  try {
    for (const line of (await fs.readFile('/etc/group', 'utf8')).split('\n')) {
      const [n, , gid] = line.split(':');
      if (n === name) return Number(gid);
    }
  } catch {
    /* no /etc/group */
  }
  return null;
}
