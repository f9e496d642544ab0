/**
 * A recording HTTP proxy in front of s3rver (loopback only). It records every request's method,
 * URL and headers so tests can prove what the client sent (e.g. AbortMultipartUpload, which
 * s3rver itself does not implement, or the x-amz-server-side-encryption header). Later: fault
 * injection.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  /** As received (lower-case names). */
  headers: http.IncomingHttpHeaders;
  status?: number;
}

export interface RecordingProxy {
  endpoint: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const t = new URL(target);
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } };
    requests.push(rec);
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        rec.status = upRes.statusCode;
        upRes.on('error', () => res.destroy());
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    // Clients abort uploads on purpose (that is what the tests provoke): a broken pipe on either
    // side is expected and must not surface as an unhandled 'error' event in the test process.
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.on('error', () => up.destroy());
    res.on('error', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
