/**
 * Google Cloud Storage (STORAGE=gcs) through its S3-compatible XML API with an HMAC key, as
 * Percona's xbcloud does: the S3 driver (./s3.ts) with GCS's endpoint, GCS's names in messages,
 * and none of the S3 features GCS does not have. A native driver (@google-cloud/storage, OAuth
 * service-account credentials) is not here: it could not be tested for real on this machine
 * (fake-gcs-server is not reachable), and the XML API covers the whole Storage contract.
 *
 * GCS's differences from S3 and how they are met (Google's "Simple migration from Amazon S3" and
 * XML API reference; tested against s3rver behind test/helpers/gcs-proxy.ts, which refuses what
 * GCS refuses):
 * - No multi-object delete (POST ?delete): the S3 driver already deletes one key per request.
 * - Signing: AWS Signature V4 with the HMAC key's access id and secret; the region in the
 *   signature is `auto`. There is no AWS credential chain (instance roles, ~/.aws): the HMAC key
 *   is required (config/schema.ts).
 * - No x-amz-server-side-encryption (GCS encrypts every object; CMEK is a bucket default) and
 *   GCS's own storage classes: S3_SSE and S3_STORAGE_CLASS are never sent (config warns).
 * - No aws-chunked uploads or x-amz-checksum-* trailers: the S3 driver already sends checksums
 *   only WHEN_REQUIRED and signs streamed parts UNSIGNED-PAYLOAD, both of which GCS accepts.
 * - Multipart uploads (initiate, upload part, complete, abort, list uploads) exist in the XML
 *   API with S3's limits (5 MiB-5 GiB parts, 10,000 parts): S3_PART_SIZE, S3_QUEUE_SIZE and the
 *   VOLUME_SIZE rule apply unchanged, and `listUnfinished` works as on S3.
 * - Paths: path-style (https://storage.googleapis.com/BUCKET/KEY) always works; bucket names
 *   with dots would break virtual-hosted TLS.
 */
import type { DriverEntry } from './driver.js';
import { S3_LIMITS } from './limits.js';
import { S3Storage, type S3StorageOptions } from './s3.js';

export const GCS_DEFAULT_ENDPOINT = 'https://storage.googleapis.com';

export interface GcsStorageOptions {
  bucket: string;
  accessId: string;
  secret: string;
  endpoint?: string;
  partSize: number;
  queueSize: number;
  requestTimeoutMs?: number;
  listPageSize?: number;
  uploadRetry?: S3StorageOptions['uploadRetry'];
}

/** The S3 driver's options for GCS: fixed region, path style, no SSE and no storage class. */
export function gcsS3Options(o: GcsStorageOptions): S3StorageOptions {
  const endpoint = (o.endpoint || GCS_DEFAULT_ENDPOINT).replace(/\/+$/, '');
  return {
    bucket: o.bucket,
    region: 'auto',
    endpoint,
    forcePathStyle: true,
    accessKeyId: o.accessId,
    secretAccessKey: o.secret,
    partSize: o.partSize,
    queueSize: o.queueSize,
    ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    ...(o.uploadRetry ? { uploadRetry: o.uploadRetry } : {}),
    ...(o.listPageSize ? { listPageSize: o.listPageSize } : {}),
    sse: '',
    storageClass: '',
    dialect: {
      name: 'gcs',
      description: `gs://${o.bucket}` + (endpoint === GCS_DEFAULT_ENDPOINT ? '' : ` (${endpoint})`),
      keys: {
        credentials: 'GCS_HMAC_ACCESS_ID / GCS_HMAC_SECRET (an active HMAC key) and the service account\'s role on the bucket (roles/storage.objectAdmin)',
        bucket: 'GCS_BUCKET_NAME',
        region: 'GCS_ENDPOINT',
        endpoint: 'GCS_ENDPOINT',
      },
    },
  };
}

export class GcsStorage extends S3Storage {
  constructor(o: GcsStorageOptions) {
    super(gcsS3Options(o));
  }
}

/** STORAGE=gcs: the GCS_* keys, and the S3 transfer keys (parts, queue, timeout). */
export const gcsDriver: DriverEntry = {
  limits: S3_LIMITS,
  create: (c, deps) =>
    new GcsStorage({
      bucket: c.GCS_BUCKET_NAME,
      accessId: c.GCS_HMAC_ACCESS_ID,
      secret: c.GCS_HMAC_SECRET,
      endpoint: c.GCS_ENDPOINT,
      partSize: c.S3_PART_SIZE,
      queueSize: c.S3_QUEUE_SIZE,
      requestTimeoutMs: c.S3_REQUEST_TIMEOUT_MS,
      uploadRetry: { ...deps.retry, onRetry: deps.onRetry },
    }),
};
