/** The registry by STORAGE value, and makeStorage building from it (no store is contacted). */
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeStorage } from '../../../../src/app/wiring.js';
import { loadConfig, type Config } from '../../../../src/config/load.js';
import { STORAGE_KINDS } from '../../../../src/config/schema.js';
import { FileStorage } from '../../../../src/storage/drivers/file.js';
import { createDriver, DRIVERS } from '../../../../src/storage/drivers/index.js';
import { S3Storage } from '../../../../src/storage/drivers/s3.js';
import { RetryStorage } from '../../../../src/storage/retry.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-registry-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function load(env: Record<string, string>): Config {
  return loadConfig({ cwd: tmp, etcDir: path.join(tmp, 'etc'), env });
}
const silent = { warn: () => {}, info: () => {}, debug: () => {}, error: () => {} } as unknown as Parameters<typeof makeStorage>[1];
const deps = { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 } };

describe('driver registry', () => {
  test('one entry per STORAGE value, each with its limits', () => {
    expect(Object.keys(DRIVERS).sort()).toEqual([...STORAGE_KINDS].sort());
    for (const kind of STORAGE_KINDS) expect(DRIVERS[kind].limits.maxParts).toBeGreaterThanOrEqual(1);
  });

  test('STORAGE=file builds the file driver on STORAGE_PATH', () => {
    const d = createDriver(load({ STORAGE: 'file', STORAGE_PATH: '/srv/store' }), deps);
    expect(d).toBeInstanceOf(FileStorage);
    expect(d.name).toBe('file');
    expect(d.description).toBe('file:///srv/store');
  });

  test('STORAGE=s3 builds the s3 driver from the S3_* keys', () => {
    const d = createDriver(load({ STORAGE: 's3', S3_BUCKET_NAME: 'bkt', AWS_REGION: 'eu-west-1', S3_ENDPOINT: 'http://127.0.0.1:9' }), deps);
    expect(d).toBeInstanceOf(S3Storage);
    expect(d.name).toBe('s3');
    expect(d.description).toBe('s3://bkt (http://127.0.0.1:9)');
  });

  test('makeStorage wraps the configured driver in RetryStorage, which classifies with the driver', () => {
    const st = makeStorage(load({ STORAGE: 'file', STORAGE_PATH: '/srv/store', RETRY_ATTEMPTS: '2' }), silent);
    expect(st).toBeInstanceOf(RetryStorage);
    const inner = (st as RetryStorage).inner;
    expect(inner).toBeInstanceOf(FileStorage);
    const eio = Object.assign(new Error('EIO'), { code: 'EIO' });
    expect((st as RetryStorage).classify(eio)).toBe((inner as FileStorage).classify(eio));
    expect(st.listUnfinished).toBeDefined();
  });
});
