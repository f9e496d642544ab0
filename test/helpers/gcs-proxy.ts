/**
 * A loopback proxy in front of s3rver that answers like Google Cloud Storage's XML API where it
 * differs from S3, so the gcs driver (src/storage/drivers/gcs.ts) is tested against those
 * differences with a real S3 server behind:
 *  - no multi-object delete: POST ?delete answers 501 NotImplemented;
 *  - no x-amz-server-side-encryption* headers (GCS encrypts every object): 400 InvalidArgument;
 *  - no S3 storage classes (x-amz-storage-class other than GCS's STANDARD, NEARLINE, COLDLINE,
 *    ARCHIVE): 400 InvalidStorageClass;
 *  - no aws-chunked bodies or flexible checksums (Content-Encoding: aws-chunked,
 *    x-amz-content-sha256: STREAMING-*, x-amz-checksum-*, x-amz-sdk-checksum-algorithm,
 *    x-amz-trailer): 400 InvalidArgument.
 * Everything else is passed through unchanged (the Host header too, so s3rver's SigV4 check
 * holds). Every request is recorded, with the status it got.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RecordedRequest } from './proxy.js';

export interface GcsProxy {
  endpoint: string;
  requests: RecordedRequest[];
  /** The requests the proxy refused, and why (the GCS error code). */
  refused: { method: string; url: string; code: string }[];
  close(): Promise<void>;
}

const GCS_CLASSES = new Set(['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE']);

/** Pure: what GCS would refuse in this request (code and message), or null. */
export function gcsRefusal(method: string, url: string, headers: http.IncomingHttpHeaders): { status: number; code: string; message: string } | null {
  const query = new URLSearchParams(url.split('?')[1] ?? '');
  if (method === 'POST' && query.has('delete')) {
    return { status: 501, code: 'NotImplemented', message: 'A header or query you provided requested a function that is not implemented: multi-object delete (POST ?delete).' };
  }
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-amz-server-side-encryption')) return { status: 400, code: 'InvalidArgument', message: `Invalid argument: ${name} is not supported.` };
    if (name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm' || name === 'x-amz-trailer') {
      return { status: 400, code: 'InvalidArgument', message: `Invalid argument: ${name} is not supported.` };
    }
  }
  const sc = headers['x-amz-storage-class'];
  if (typeof sc === 'string' && !GCS_CLASSES.has(sc)) return { status: 400, code: 'InvalidStorageClass', message: `The storage class you specified is not valid: ${sc}.` };
  if (/aws-chunked/i.test(String(headers['content-encoding'] ?? '')) || /^STREAMING-/.test(String(headers['x-amz-content-sha256'] ?? ''))) {
    return { status: 400, code: 'InvalidArgument', message: 'Invalid argument: aws-chunked uploads are not supported.' };
  }
  return null;
}

export async function startGcsProxy(target: string): Promise<GcsProxy> {
  const t = new URL(target);
  const requests: RecordedRequest[] = [];
  const refused: GcsProxy['refused'] = [];
  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } };
    requests.push(rec);
    const no = gcsRefusal(rec.method, rec.url, req.headers);
    if (no) {
      refused.push({ method: rec.method, url: rec.url, code: no.code });
      rec.status = no.status;
      req.resume();
      res.writeHead(no.status, { 'content-type': 'application/xml; charset=UTF-8' });
      res.end(`<?xml version='1.0' encoding='UTF-8'?><Error><Code>${no.code}</Code><Message>${no.message}</Message></Error>`);
      return;
    }
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      rec.status = upRes.statusCode;
      upRes.on('error', () => res.destroy());
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
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
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
