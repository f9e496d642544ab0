/**
 * The second store on Azure Blob or GCS (COPY_STORAGE=azure|gcs): its own COPY_AZURE_* / COPY_GCS_*
 * keys reach the driver (never the primary's), the same rules as the primary's keys apply under
 * COPY_, and a copy in the primary's place is refused. No store contacted.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { secretValues } from '../../../src/config/redact.js';
import { SCHEMA, type ConfigKey } from '../../../src/config/schema.js';
import { COPY_KEY_PAIRS, copyConfig } from '../../../src/storage/copy-config.js';
import { AzureStorage } from '../../../src/storage/drivers/azure.js';
import { GcsStorage } from '../../../src/storage/drivers/gcs.js';
import { createDriver } from '../../../src/storage/drivers/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-copykeys-'));
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
const copyDriver = (env: Record<string, string>) => createDriver(copyConfig(load(env))!, deps);

const PRIMARY_S3 = { STORAGE: 's3', S3_BUCKET_NAME: 'main' };
const PRIMARY_AZURE = { STORAGE: 'azure', AZURE_CONTAINER: 'bkp', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'cHJpbWFyeQ==' };
const PRIMARY_GCS = { STORAGE: 'gcs', GCS_BUCKET_NAME: 'bk', GCS_HMAC_ACCESS_ID: 'GOOG1PRIMARY', GCS_HMAC_SECRET: 'primary-secret' };

describe('COPY_KEY_PAIRS', () => {
  test('every COPY_ key of the schema has its pair (but COPY_STORAGE and COPY_AWS_REGION, mapped on their own)', () => {
    const copyKeys = (Object.keys(SCHEMA) as ConfigKey[]).filter((k) => k.startsWith('COPY_') && k !== 'COPY_STORAGE' && k !== 'COPY_AWS_REGION');
    expect(COPY_KEY_PAIRS.map(([, copy]) => copy).sort()).toEqual(copyKeys.sort());
  });

  test.each(COPY_KEY_PAIRS.map(([p, c]) => [p, c]))('%s <- %s: same name, format, default and secrecy', (primary, copy) => {
    expect(copy).toBe(`COPY_${primary}`);
    const [ps, cs] = [SCHEMA[primary as ConfigKey], SCHEMA[copy as ConfigKey]];
    expect(cs.format).toBe(ps.format);
    expect(cs.section).toBe('Second store');
    expect(!!cs.sensitive).toBe(!!ps.sensitive);
    // The copy's file store has no default directory (a copy must be named); the rest default alike.
    if (primary !== 'STORAGE_PATH') expect(cs.default).toEqual(ps.default);
  });
});

describe('COPY_STORAGE=azure', () => {
  test("builds the azure driver from the COPY_AZURE_* keys, not the primary's", () => {
    const d = copyDriver({ ...PRIMARY_AZURE, COPY_STORAGE: 'azure', COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_ACCOUNT: 'acct2' });
    expect(d).toBeInstanceOf(AzureStorage);
    // Account only: the default credential chain, not the primary's shared key.
    expect(d.description).toBe('azure://acct2/offsite (default credential chain)');
  });

  test('a copy on Azure next to a primary on S3, with its own SAS and endpoint', () => {
    const c = copyConfig(
      load({ ...PRIMARY_S3, COPY_STORAGE: 'azure', COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_BLOB_ENDPOINT: 'http://127.0.0.1:10000/devstoreaccount1', COPY_AZURE_STORAGE_SAS_TOKEN: 'sv=1&sig=x' }),
    )!;
    expect([c.STORAGE, c.AZURE_CONTAINER, c.AZURE_BLOB_ENDPOINT, c.AZURE_STORAGE_SAS_TOKEN, c.AZURE_STORAGE_ACCOUNT]).toEqual([
      'azure',
      'offsite',
      'http://127.0.0.1:10000/devstoreaccount1',
      'sv=1&sig=x',
      '',
    ]);
    expect(createDriver(c, deps)).toBeInstanceOf(AzureStorage);
  });

  test.each([
    [{ COPY_AZURE_STORAGE_ACCOUNT: 'acct2' }, /COPY_AZURE_CONTAINER.*must be set when COPY_STORAGE=azure/],
    [{ COPY_AZURE_CONTAINER: 'offsite' }, /COPY_AZURE_STORAGE_ACCOUNT.*must be set when COPY_STORAGE=azure \(or set COPY_AZURE_BLOB_ENDPOINT/],
    [{ COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_KEY: 'a2V5' }, /COPY_AZURE_STORAGE_ACCOUNT.*must be set when COPY_AZURE_STORAGE_KEY is set/],
    [
      { COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_ACCOUNT: 'acct2', COPY_AZURE_STORAGE_KEY: 'a2V5', COPY_AZURE_STORAGE_SAS_TOKEN: 'sig=x' },
      /COPY_AZURE_STORAGE_SAS_TOKEN.*must be empty when COPY_AZURE_STORAGE_KEY is set/,
    ],
    [
      { COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;AccountKey=k', COPY_AZURE_STORAGE_ACCOUNT: 'acct2' },
      /COPY_AZURE_STORAGE_ACCOUNT.*must be empty when COPY_AZURE_STORAGE_CONNECTION_STRING is set/,
    ],
    [{ COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a' }, /COPY_AZURE_STORAGE_CONNECTION_STRING.*must contain AccountKey/],
    [{ COPY_AZURE_CONTAINER: 'Bad_Name', COPY_AZURE_STORAGE_ACCOUNT: 'acct2' }, /COPY_AZURE_CONTAINER.*must be an Azure container name/],
    [{ COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_BLOB_ENDPOINT: 'http://h/acct?sig=x' }, /COPY_AZURE_BLOB_ENDPOINT.*must not contain credentials or a query/],
    [{ COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_ACCOUNT: 'acct2', AZURE_BLOCK_SIZE: '1MiB', VOLUME_SIZE: '64GiB' }, /VOLUME_SIZE.*at most 50000 x AZURE_BLOCK_SIZE = .* when COPY_STORAGE=azure/],
  ])('%j is refused, naming the COPY_ key', (env, expected) => {
    const msg = problem({ ...PRIMARY_S3, COPY_STORAGE: 'azure', ...env });
    expect(msg).toMatch(expected);
  });

  test("the primary's Azure rules do not fire for the copy's keys, nor the copy's without COPY_STORAGE=azure", () => {
    expect(problem({ ...PRIMARY_S3, COPY_STORAGE: 'azure', COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_ACCOUNT: 'acct2' })).toBe('');
    expect(problem({ ...PRIMARY_S3, COPY_STORAGE: 'file', COPY_STORAGE_PATH: '/mnt/copy', COPY_AZURE_STORAGE_KEY: 'a2V5' })).toBe('');
  });

  test('the secrets never appear in messages, and are redacted', () => {
    const msg = problem({ ...PRIMARY_S3, COPY_STORAGE: 'azure', COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;TOPSECRET=1' });
    expect(msg).toMatch(/COPY_AZURE_STORAGE_CONNECTION_STRING/);
    expect(msg).not.toContain('TOPSECRET');
    const c = load({ ...PRIMARY_S3, COPY_STORAGE: 'azure', COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_ACCOUNT: 'acct2', COPY_AZURE_STORAGE_KEY: 'Y29weS1rZXk=' });
    expect(secretValues(c)).toContain('Y29weS1rZXk=');
  });

  describe('a copy in the same place as the primary is no copy', () => {
    test.each([
      ['same container, same account', { COPY_AZURE_CONTAINER: 'bkp', COPY_AZURE_STORAGE_ACCOUNT: 'acct' }],
      ['same container, same account through another credential', { COPY_AZURE_CONTAINER: 'bkp', COPY_AZURE_STORAGE_ACCOUNT: 'acct', COPY_AZURE_STORAGE_SAS_TOKEN: 'sig=x' }],
      ['same container, the default endpoint spelled out', { COPY_AZURE_CONTAINER: 'bkp', COPY_AZURE_BLOB_ENDPOINT: 'https://acct.blob.core.windows.net/', COPY_AZURE_STORAGE_SAS_TOKEN: 'sig=x' }],
      ['same container, a connection string to the same account', { COPY_AZURE_CONTAINER: 'bkp', COPY_AZURE_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5' }],
    ])('%s: refused', (_name, env) => {
      expect(problem({ ...PRIMARY_AZURE, COPY_STORAGE: 'azure', ...env })).toMatch(/COPY_AZURE_CONTAINER.*must name another container.*a copy in the same place is no copy/);
    });

    test.each([
      ['another container', { COPY_AZURE_CONTAINER: 'offsite', COPY_AZURE_STORAGE_ACCOUNT: 'acct' }],
      ['the same container name in another account', { COPY_AZURE_CONTAINER: 'bkp', COPY_AZURE_STORAGE_ACCOUNT: 'acct2' }],
      ['the same container name on another endpoint', { COPY_AZURE_CONTAINER: 'bkp', COPY_AZURE_BLOB_ENDPOINT: 'http://127.0.0.1:10000/devstoreaccount1', COPY_AZURE_STORAGE_SAS_TOKEN: 'sig=x' }],
    ])('%s: accepted', (_name, env) => {
      expect(problem({ ...PRIMARY_AZURE, COPY_STORAGE: 'azure', ...env })).toBe('');
    });
  });
});

describe('COPY_STORAGE=gcs', () => {
  test("builds the gcs driver from the COPY_GCS_* keys, not the primary's", () => {
    const env = { ...PRIMARY_GCS, COPY_STORAGE: 'gcs', COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1COPY', COPY_GCS_HMAC_SECRET: 'copy-secret', COPY_GCS_ENDPOINT: 'http://127.0.0.1:4443' };
    const c = copyConfig(load(env))!;
    expect([c.STORAGE, c.GCS_BUCKET_NAME, c.GCS_HMAC_ACCESS_ID, c.GCS_HMAC_SECRET, c.GCS_ENDPOINT]).toEqual(['gcs', 'offsite', 'GOOG1COPY', 'copy-secret', 'http://127.0.0.1:4443']);
    const d = createDriver(c, deps);
    expect(d).toBeInstanceOf(GcsStorage);
    expect(d.description).toBe('gs://offsite (http://127.0.0.1:4443)');
  });

  test('COPY_GCS_ENDPOINT defaults to Cloud Storage itself', () => {
    const c = copyConfig(load({ ...PRIMARY_S3, COPY_STORAGE: 'gcs', COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1COPY', COPY_GCS_HMAC_SECRET: 's' }))!;
    expect(createDriver(c, deps).description).toBe('gs://offsite');
  });

  test.each([
    [{ COPY_GCS_HMAC_ACCESS_ID: 'GOOG1X', COPY_GCS_HMAC_SECRET: 's' }, /COPY_GCS_BUCKET_NAME.*must be set when COPY_STORAGE=gcs/],
    [{ COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_SECRET: 's' }, /COPY_GCS_HMAC_ACCESS_ID.*must be set when COPY_STORAGE=gcs/],
    [{ COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1X' }, /COPY_GCS_HMAC_SECRET.*must be set when COPY_STORAGE=gcs/],
    [{ COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1X', COPY_GCS_HMAC_SECRET: 's', COPY_GCS_ENDPOINT: 'ftp://x' }, /COPY_GCS_ENDPOINT.*http:\/\/ or https:\/\/ URL/],
    [{ COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1X', COPY_GCS_HMAC_SECRET: 's', S3_PART_SIZE: '8MiB', VOLUME_SIZE: '4MiB' }, /VOLUME_SIZE.*between S3_PART_SIZE .* when COPY_STORAGE=gcs/],
  ])('%j is refused, naming the COPY_ key', (env, expected) => {
    expect(problem({ STORAGE: 'file', STORAGE_PATH: '/srv/store', COPY_STORAGE: 'gcs', ...env })).toMatch(expected);
  });

  test('the same bucket on the same endpoint is refused; on another endpoint it is another place', () => {
    const copy = { COPY_STORAGE: 'gcs', COPY_GCS_BUCKET_NAME: 'bk', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1COPY', COPY_GCS_HMAC_SECRET: 's' };
    expect(problem({ ...PRIMARY_GCS, ...copy })).toMatch(/COPY_GCS_BUCKET_NAME.*must name another bucket.*a copy in the same place is no copy/);
    expect(problem({ ...PRIMARY_GCS, ...copy, COPY_GCS_ENDPOINT: 'https://storage-mybackups.p.googleapis.com' })).toBe('');
    expect(problem({ ...PRIMARY_GCS, ...copy, COPY_GCS_BUCKET_NAME: 'offsite' })).toBe('');
  });

  test('COPY_S3_SSE and COPY_S3_STORAGE_CLASS are warned about as ignored', () => {
    const c = load({ ...PRIMARY_S3, COPY_STORAGE: 'gcs', COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1X', COPY_GCS_HMAC_SECRET: 's', COPY_S3_STORAGE_CLASS: 'STANDARD_IA' });
    expect(c.warnings.join('\n')).toContain('COPY_S3_STORAGE_CLASS=STANDARD_IA is ignored with COPY_STORAGE=gcs');
  });

  test('the HMAC secret is redacted', () => {
    const c = load({ ...PRIMARY_S3, COPY_STORAGE: 'gcs', COPY_GCS_BUCKET_NAME: 'offsite', COPY_GCS_HMAC_ACCESS_ID: 'GOOG1X', COPY_GCS_HMAC_SECRET: 'copy-hmac-secret' });
    expect(secretValues(c)).toContain('copy-hmac-secret');
  });
});
