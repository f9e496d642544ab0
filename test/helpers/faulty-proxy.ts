/**
 * A fault-injecting HTTP proxy in front of s3rver (loopback only), alongside the recording proxy
 * (proxy.ts). Per request it decides, with a configurable probability drawn from a seeded PRNG
 * (mulberry32, so a run is reproducible), whether to forward the request or to inject a fault:
 *
 *  - `500`:   reads the whole request, answers 500 InternalError (S3's XML error body);
 *  - `503`:   reads the whole request, answers 503 SlowDown (S3's throttling answer);
 *  - `reset`: reads PART of the request (the headers and the first body chunk, if any), then
 *             resets the client's connection (TCP RST) without answering;
 *  - `stall`: reads the whole request and never answers (the client's timeout must fire).
 *
 * Which kind: in rotation through `kinds` by default, so every kind is used once as many faults
 * were injected as there are kinds (tests can rely on each kind appearing); `pick: 'random'`
 * draws it from the PRNG instead. `failAll` fails every request. Everything injected is recorded.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export type FaultKind = '500' | '503' | 'reset' | 'stall';
export const FAULT_KINDS: readonly FaultKind[] = ['500', '503', 'reset', 'stall'];

export interface FaultOptions {
  /** Chance that a request fails, 0..1. */
  probability: number;
  /** Every request fails (probability 1). */
  failAll: boolean;
  kinds: readonly FaultKind[];
  pick: 'rotate' | 'random';
  /** Only requests this accepts may fail (default: all). */
  eligible: (method: string, url: string) => boolean;
}

export interface ProxiedRequest {
  method: string;
  url: string;
  /** Upstream status when forwarded. */
  status?: number;
  fault?: FaultKind;
}

export interface InjectedFault {
  kind: FaultKind;
  method: string;
  url: string;
}

export interface FaultyProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  injected: InjectedFault[];
  /** Injected faults per kind. */
  counts(): Record<FaultKind, number>;
  /** Changes the fault options from now on (the PRNG sequence continues; setting `kinds` restarts the rotation). */
  configure(opts: Partial<FaultOptions>): void;
  close(): Promise<void>;
}

/** mulberry32: a tiny deterministic PRNG, [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function s3Error(code: string, message: string, id: number): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-${id}</RequestId><HostId>faulty-proxy</HostId></Error>`;
}

export async function startFaultyProxy(target: string, options: Partial<FaultOptions> & { seed?: number } = {}): Promise<FaultyProxy> {
  const t = new URL(target);
  const { seed = 1, ...rest } = options;
  let opts: FaultOptions = { probability: 0, failAll: false, kinds: FAULT_KINDS, pick: 'rotate', eligible: () => true, ...rest };
  const check = (o: FaultOptions) => {
    if (!(o.probability >= 0 && o.probability <= 1)) throw new Error(`probability must be within 0..1, got ${o.probability}`);
    if (!o.kinds.length) throw new Error('at least one fault kind is needed');
  };
  check(opts);
  const random = mulberry32(seed);
  const requests: ProxiedRequest[] = [];
  const injected: InjectedFault[] = [];
  const stalled = new Set<Socket>();
  let rotation = 0;

  const decide = (method: string, url: string): FaultKind | undefined => {
    // One draw per request whatever the options, so the sequence depends only on the seed.
    const draw = random();
    if (!opts.eligible(method, url)) return undefined;
    if (!opts.failAll && !(draw < opts.probability)) return undefined;
    if (opts.pick === 'random') return opts.kinds[Math.floor(random() * opts.kinds.length)];
    return opts.kinds[rotation++ % opts.kinds.length];
  };

  const server = http.createServer((req, res) => {
    const method = req.method ?? '';
    const url = req.url ?? '';
    const rec: ProxiedRequest = { method, url };
    requests.push(rec);
    req.on('error', () => {});
    res.on('error', () => {});
    const fault = decide(method, url);
    if (fault) {
      rec.fault = fault;
      injected.push({ kind: fault, method, url });
      inject(fault, req, res, injected.length);
      return;
    }
    forward(req, res, rec);
  });

  function inject(kind: FaultKind, req: http.IncomingMessage, res: http.ServerResponse, id: number): void {
    switch (kind) {
      case '500':
      case '503': {
        const [status, code, message] =
          kind === '500' ? [500, 'InternalError', 'We encountered an internal error. Please try again.'] : [503, 'SlowDown', 'Please reduce your request rate.'];
        req.resume();
        req.once('end', () => {
          const body = s3Error(code, message, id);
          res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
        return;
      }
      case 'reset': {
        // After part of the request: the first body chunk, or the end of a bodiless request.
        const reset = () => {
          req.off('data', reset);
          req.off('end', reset);
          req.socket.resetAndDestroy();
        };
        req.on('data', reset);
        req.once('end', reset);
        return;
      }
      case 'stall': {
        // Consume the request and never answer; the socket is destroyed by the client's timeout or by close().
        stalled.add(req.socket);
        req.socket.once('close', () => stalled.delete(req.socket));
        req.resume();
        return;
      }
    }
  }

  function forward(req: http.IncomingMessage, res: http.ServerResponse, rec: ProxiedRequest): void {
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      rec.status = upRes.statusCode;
      upRes.on('error', () => res.destroy());
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    // Clients give up on requests (timeouts, aborts): a broken pipe on either side is expected.
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.on('error', () => up.destroy());
    res.on('error', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }

  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    injected,
    counts: () => {
      const c = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
      for (const f of injected) c[f.kind]++;
      return c;
    },
    configure: (o) => {
      const next = { ...opts, ...o };
      check(next);
      opts = next;
      if (o.kinds) rotation = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of stalled) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * An outage in front of s3rver, at the TCP level: while "down" nothing listens on the proxy's
 * port, so new connections are refused by the kernel (ECONNREFUSED, as when the store's process
 * died) and the connections that were open are destroyed (the requests in flight fail with a
 * reset). `up()` listens on the same port again and forwards as before. The bytes the clients
 * sent are counted so a test can start the outage mid-upload.
 */
export interface OutageProxy {
  endpoint: string;
  port: number;
  /** Bytes received from clients while up (request lines, headers and bodies). */
  bytesIn(): number;
  /** Resolves once `bytes` were received from clients (now, if they already were). */
  whenBytesIn(bytes: number): Promise<void>;
  /** Stops listening and destroys every open connection; resolves once the port is closed. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  isUp(): boolean;
  /** Connections refused is the kernel's business; this counts the ones accepted. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startOutageProxy(target: string): Promise<OutageProxy> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  let received = 0;
  let accepted = 0;
  let listening = false;
  const waiters: { bytes: number; resolve: () => void }[] = [];
  const wake = () => {
    for (const w of [...waiters]) {
      if (received >= w.bytes) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect({ host: t.hostname, port: Number(t.port) });
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('data', (d: Buffer) => {
      received += d.length;
      wake();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  const unlisten = () =>
    new Promise<void>((resolve) => {
      if (!listening) return resolve();
      listening = false;
      server.close(() => resolve());
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bytesIn: () => received,
    whenBytesIn: (bytes) =>
      new Promise<void>((resolve) => {
        waiters.push({ bytes, resolve });
        wake();
      }),
    down: unlisten,
    up: () => (listening ? Promise.resolve() : listen(port)),
    isUp: () => listening,
    accepted: () => accepted,
    close: async () => {
      await unlisten();
      for (const w of waiters.splice(0)) w.resolve();
    },
  };
}
