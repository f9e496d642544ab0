/**
 * The store drivers, by STORAGE value. `app/wiring.ts:makeStorage` builds the configured one
 * from here and wraps it in RetryStorage; nothing else names a driver. Adding a store (Azure,
 * GCS) = one file in this folder exporting its DriverEntry, one line below, and its STORAGE value
 * (STORAGE_KINDS) and keys in config/schema.ts: the Record type fails to compile until all agree.
 */
import type { Config } from '../../config/load.js';
import type { StorageKind } from '../../config/schema.js';
import type { DriverDeps, DriverEntry, StorageDriver } from './driver.js';
import { azureDriver } from './azure.js';
import { fileDriver } from './file.js';
import { gcsDriver } from './gcs.js';
import { s3Driver } from './s3.js';

export const DRIVERS: Readonly<Record<StorageKind, DriverEntry>> = {
  file: fileDriver,
  s3: s3Driver,
  azure: azureDriver,
  gcs: gcsDriver,
};

/** The driver the configuration names (unwrapped: callers add RetryStorage). */
export function createDriver(c: Config, deps: DriverDeps): StorageDriver {
  return DRIVERS[c.STORAGE].create(c, deps);
}
