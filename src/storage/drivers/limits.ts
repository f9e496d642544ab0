/**
 * What each store driver can hold, as plain numbers: no imports, so `config/schema.ts` checks
 * VOLUME_SIZE and S3_PART_SIZE against them without loading any driver's SDK at config time.
 * The drivers (drivers/*.ts) expose the same objects as their `limits`.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

export interface DriverLimits {
  /** Largest single object the store accepts, bytes. */
  maxObjectSize: number;
  /** Most parts one streamed (multipart) upload may have. */
  maxParts: number;
  /** Smallest part (all but the last), bytes. */
  minPartSize: number;
  /** Largest part, bytes. */
  maxPartSize: number;
}

/** S3 multipart-upload limits (AWS documentation "Amazon S3 multipart upload limits"). */
export const S3_LIMITS = { minPartSize: 5 * MiB, maxPartSize: 5 * GiB, maxParts: 10_000, maxObjectSize: 5 * TiB } as const satisfies DriverLimits;

/**
 * The file store writes one file per object with no parts: its limits are the filesystem's
 * (not known in advance; ENOSPC/EFBIG say so at write time).
 */
export const FILE_LIMITS = {
  minPartSize: 0,
  maxPartSize: Number.POSITIVE_INFINITY,
  maxParts: Number.POSITIVE_INFINITY,
  maxObjectSize: Number.POSITIVE_INFINITY,
} as const satisfies DriverLimits;

/**
 * Azure block blobs (Microsoft documentation "Scalability and performance targets for Blob
 * storage", service version 2019-12-12 and later): a block of at most 4000 MiB, at most 50,000
 * committed blocks, so at most 50,000 x 4000 MiB (~190.7 TiB) per blob. There is no minimum block
 * size; 1 MiB is the smallest AZURE_BLOCK_SIZE accepted (smaller blocks only cost requests).
 */
export const AZURE_LIMITS = {
  minPartSize: MiB,
  maxPartSize: 4000 * MiB,
  maxParts: 50_000,
  maxObjectSize: 50_000 * 4000 * MiB,
} as const satisfies DriverLimits;
