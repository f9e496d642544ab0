/**
 * A minimal stand-in for the AWS CLI, used by the shell baselines only when `aws` is absent
 * (or BENCH_S3_CLIENT=sdk):
 *
 *   node dist/bench/s3-cli.js put s3://BUCKET/KEY            < stream     (multipart, 16 MiB parts, 4 in flight)
 *   node dist/bench/s3-cli.js get-dir s3://BUCKET/PREFIX/ DIR             (every object under the prefix)
 *
 * Endpoint from AWS_ENDPOINT_URL, credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * region from AWS_DEFAULT_REGION (default us-east-1).
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listKeys, s3Client } from './lib/s3.js';

function parseUrl(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!m) throw new Error(`expected s3://BUCKET/KEY, got ${url}`);
  return { bucket: m[1]!, key: m[2]! };
}

async function main(argv: string[]): Promise<void> {
  const [cmd, url, dir] = argv;
  const { bucket, key } = parseUrl(url ?? '');
  const client = s3Client({
    endpoint: process.env.AWS_ENDPOINT_URL ?? '',
    bucket,
    region: process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
  });
  if (cmd === 'put') {
    await new Upload({ client, params: { Bucket: bucket, Key: key, Body: process.stdin }, partSize: 16 * 1024 * 1024, queueSize: 4 }).done();
  } else if (cmd === 'get-dir' && dir) {
    for (const o of await listKeys(client, bucket, key)) {
      const file = path.join(dir, o.key.slice(key.length));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }));
      await pipeline(r.Body as Readable, fs.createWriteStream(file));
    }
  } else {
    throw new Error('usage: s3-cli put s3://BUCKET/KEY < data | s3-cli get-dir s3://BUCKET/PREFIX/ DIR');
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(`s3-cli: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
