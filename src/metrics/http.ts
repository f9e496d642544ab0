/**
 * METRICS_LISTEN: the daemon's /metrics endpoint (plain HTTP, GET /metrics only; anything else is
 * 404). Started at boot, closed at stop. A listen failure (port taken, bad address) is the
 * caller's to report: the daemon refuses to start rather than run silently without metrics.
 */
import * as http from 'node:http';
import type { Metrics } from './metrics.js';

export interface MetricsServer {
  /** The address actually bound (HOST:PORT). */
  readonly address: string;
  close(): Promise<void>;
}

/** Splits HOST:PORT ([v6]:PORT too) as config/schema.ts's bm-listen format accepts it. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(i + 1)) };
}

export async function serveMetrics(listen: string, metrics: Metrics): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('backupmate serves /metrics only\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const address = a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : listen;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
