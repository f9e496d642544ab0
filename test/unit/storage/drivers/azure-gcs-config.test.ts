/** STORAGE=azure and STORAGE=gcs: the configuration rules and the drivers the registry builds (no store contacted). */
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../../../src/config/load.js';
import { AzureStorage } from '../../../../src/storage/drivers/azure.js';
import { GcsStorage } from '../../../../src/storage/drivers/gcs.js';
import { createDriver } from '../../../../src/storage/drivers/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-azgcs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const load = (env: Record<string, string>) => loadConfig({ cwd: tmp, etcDir: path.join(tmp, 'etc'), env });
const problem = (env: Record<string, string>) => {
  try {
    load(env);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};
const deps = { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 } };

describe('STORAGE=azure configuration', () => {
  test('builds the azure driver from the AZURE_* keys', () => {
    const d = createDriver(load({ STORAGE: 'azure', AZURE_CONTAINER: 'bkp', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'a2V5' }), deps);
    expect(d).toBeInstanceOf(AzureStorage);
    expect(d.name).toBe('azure');
    expect(d.description).toBe('azure://acct/bkp (shared key)');
  });

  test.each([
    [{ AZURE_STORAGE_ACCOUNT: 'acct' }, /AZURE_CONTAINER.*must be set when STORAGE=azure/],
    [{ AZURE_CONTAINER: 'bkp' }, /AZURE_STORAGE_ACCOUNT.*must be set when STORAGE=azure/],
    [{ AZURE_CONTAINER: 'bkp', AZURE_STORAGE_KEY: 'a2V5' }, /AZURE_STORAGE_ACCOUNT.*must be set when AZURE_STORAGE_KEY is set/],
    [{ AZURE_CONTAINER: 'bkp', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'a2V5', AZURE_STORAGE_SAS_TOKEN: 'sig=x' }, /AZURE_STORAGE_SAS_TOKEN.*must be empty when AZURE_STORAGE_KEY is set/],
    [{ AZURE_CONTAINER: 'bkp', AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;AccountKey=k', AZURE_STORAGE_ACCOUNT: 'acct' }, /AZURE_STORAGE_ACCOUNT.*must be empty when AZURE_STORAGE_CONNECTION_STRING is set/],
    [{ AZURE_CONTAINER: 'bkp', AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a' }, /AZURE_STORAGE_CONNECTION_STRING.*must contain AccountKey/],
    [{ AZURE_CONTAINER: 'Bad_Name', AZURE_STORAGE_ACCOUNT: 'acct' }, /AZURE_CONTAINER.*must be an Azure container name/],
    [{ AZURE_CONTAINER: 'bkp', AZURE_STORAGE_ACCOUNT: 'Acct-1' }, /AZURE_STORAGE_ACCOUNT.*3-24 lower-case letters and digits/],
    [{ AZURE_CONTAINER: 'bkp', AZURE_BLOB_ENDPOINT: 'http://h/acct?sig=x' }, /AZURE_BLOB_ENDPOINT.*must not contain credentials or a query/],
    [{ AZURE_CONTAINER: 'bkp', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_BLOCK_SIZE: '1MiB', VOLUME_SIZE: '64GiB' }, /VOLUME_SIZE.*at most 50000 x AZURE_BLOCK_SIZE/],
  ])('%j is refused, naming the key', (env, expected) => {
    expect(problem({ STORAGE: 'azure', ...env })).toMatch(expected);
  });

  test('the secrets never appear in the messages', () => {
    const msg = problem({ STORAGE: 'azure', AZURE_CONTAINER: 'bkp', AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;TOPSECRET=1' });
    expect(msg).not.toContain('TOPSECRET');
  });

  test('a default-chain configuration (account only) is valid', () => {
    expect(problem({ STORAGE: 'azure', AZURE_CONTAINER: 'bkp', AZURE_STORAGE_ACCOUNT: 'acct' })).toBe('');
  });
});

describe('STORAGE=gcs configuration', () => {
  test('builds the gcs driver on the XML API with the S3 transfer keys', () => {
    const d = createDriver(load({ STORAGE: 'gcs', GCS_BUCKET_NAME: 'bk', GCS_HMAC_ACCESS_ID: 'GOOG1X', GCS_HMAC_SECRET: 's' }), deps);
    expect(d).toBeInstanceOf(GcsStorage);
    expect(d.name).toBe('gcs');
    expect(d.description).toBe('gs://bk');
  });

  test.each([
    [{ GCS_HMAC_ACCESS_ID: 'GOOG1X', GCS_HMAC_SECRET: 's' }, /GCS_BUCKET_NAME.*must be set when STORAGE=gcs/],
    [{ GCS_BUCKET_NAME: 'bk', GCS_HMAC_SECRET: 's' }, /GCS_HMAC_ACCESS_ID.*must be set when STORAGE=gcs/],
    [{ GCS_BUCKET_NAME: 'bk', GCS_HMAC_ACCESS_ID: 'GOOG1X' }, /GCS_HMAC_SECRET.*must be set when STORAGE=gcs/],
    [{ GCS_BUCKET_NAME: 'bk', GCS_HMAC_ACCESS_ID: 'GOOG1X', GCS_HMAC_SECRET: 's', S3_PART_SIZE: '8MiB', VOLUME_SIZE: '4MiB' }, /VOLUME_SIZE.*at least S3_PART_SIZE when STORAGE=gcs/],
  ])('%j is refused, naming the key', (env, expected) => {
    expect(problem({ STORAGE: 'gcs', ...env })).toMatch(expected);
  });

  test('S3_SSE and S3_STORAGE_CLASS are warned about as ignored', () => {
    const c = load({ STORAGE: 'gcs', GCS_BUCKET_NAME: 'bk', GCS_HMAC_ACCESS_ID: 'GOOG1X', GCS_HMAC_SECRET: 's', S3_SSE: 'AES256' });
    expect(c.warnings.join('\n')).toContain('S3_SSE=AES256 is ignored with STORAGE=gcs');
  });
});
