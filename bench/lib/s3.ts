/** The benchmark's own S3 access (SDK): emptying prefixes between runs, object sizes. */
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

export interface S3Target {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3Client(t: S3Target): S3Client {
  return new S3Client({
    endpoint: t.endpoint,
    region: t.region,
    forcePathStyle: true,
    credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Deletes every object under `prefix` (one DeleteObject each: there are only a few). */
export async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<number> {
  const keys = await listKeys(client, bucket, prefix);
  for (const { key } of keys) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  return keys.length;
}

export async function objectSize(client: S3Client, bucket: string, key: string): Promise<number> {
  const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return r.ContentLength ?? NaN;
}
