/**
 * `config check`'s Object Lock line: with S3_OBJECT_LOCK_MODE (or COPY_S3_OBJECT_LOCK_MODE) set,
 * asks the bucket whether Object Lock is enabled (GetObjectLockConfiguration). A bucket without it
 * rejects every put that carries a retention date, so that is a problem; a check that could not
 * run (no permission s3:GetBucketObjectLockConfiguration, a server without the API) is a problem
 * too, never a pass.
 */
import type { Config } from '../config/load.js';
import { copyConfig } from './copy-config.js';
import { S3Storage } from './drivers/s3.js';
import { s3Driver } from './drivers/s3.js';

export interface ObjectLockCheck {
  ok: boolean;
  text: string;
}

export async function objectLockChecks(c: Config): Promise<ObjectLockCheck[]> {
  const out: ObjectLockCheck[] = [];
  const stores: [string, Config | null][] = [
    ['S3_OBJECT_LOCK_MODE', c],
    ['COPY_S3_OBJECT_LOCK_MODE', copyConfig(c)],
  ];
  for (const [key, sc] of stores) {
    if (!sc || sc.STORAGE !== 's3' || !sc.S3_OBJECT_LOCK_MODE) continue;
    const driver = s3Driver.create(sc, { retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } });
    if (!(driver instanceof S3Storage)) continue;
    const st = await driver.objectLockStatus();
    const what = `${key}=${sc.S3_OBJECT_LOCK_MODE}: bucket ${sc.S3_BUCKET_NAME}`;
    if (st.state === 'enabled') out.push({ ok: true, text: `${what} has Object Lock enabled (objects are kept ${sc.S3_OBJECT_LOCK_DAYS} days)` });
    else if (st.state === 'disabled') out.push({ ok: false, text: `${what} does not have Object Lock enabled: puts with a retention date would fail (Object Lock can only be enabled on a versioned bucket)` });
    else if (st.state === 'unknown') out.push({ ok: false, text: `${what}: could not tell whether Object Lock is enabled (${st.why})` });
  }
  return out;
}
