/**
 * STORAGE=azure against Azurite (Microsoft's emulator, a real Blob service on loopback): the
 * shared storage contract (test/helpers/storage-contract.ts), what the driver says when the key
 * or the container is wrong, a SAS credential, and the round trip through the real CLI: an
 * age-encrypted full + incremental chain restored equal by CHECKSUM TABLE.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ContainerClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { BackupmateError } from '../../src/domain/errors.js';
import { AzureStorage, type AzureStorageOptions } from '../../src/storage/drivers/azure.js';
import { readAll } from '../../src/storage/storage.js';
import { startAzurite, stopAllAzurites, type AzuriteServer } from '../helpers/azurite.js';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { randomStream, storageContract } from '../helpers/storage-contract.js';

const MiB = 1024 * 1024;
const PASSWORD = 'az-pw';
let az: AzuriteServer;

beforeAll(async () => {
  az = await startAzurite();
}, 60_000);

afterAll(async () => {
  await stopAllAzurites();
  await stopAllServers();
});

function azureStore(extra: Partial<AzureStorageOptions> = {}): AzureStorage {
  return new AzureStorage({
    container: az.container,
    connectionString: '',
    account: az.account,
    key: az.key,
    sas: '',
    endpoint: az.endpoint,
    blockSize: MiB,
    concurrency: 2,
    ...extra,
  });
}

// A connection string, as the portal gives it: the same account, another way in.
storageContract('azure', () => azureStore({ connectionString: az.connectionString, account: '', key: '', endpoint: '', listPageSize: 100 }), {
  unfinished: 'listed',
  partSize: MiB,
  listObjects: 250,
});

describe('azure specifics', () => {
  test('a streamed put stages blocks and commits them once: the blob has exactly ceil(size / block size) blocks', async () => {
    const st = azureStore();
    const { stream, sha } = randomStream(3 * MiB + 5);
    await st.put('az-specific/blocks', stream);
    const blob = new ContainerClient(az.connectionString, az.container).getBlockBlobClient('az-specific/blocks');
    const list = await blob.getBlockList('all');
    expect(list.committedBlocks?.map((b) => b.size)).toEqual([MiB, MiB, MiB, 5]);
    expect(list.uncommittedBlocks ?? []).toEqual([]);
    const back = await readAll(await st.get('az-specific/blocks'));
    expect(back.length).toBe(3 * MiB + 5);
    expect((await import('node:crypto')).createHash('sha256').update(back).digest('hex')).toBe(sha);
    await st.delete(['az-specific/blocks']);
  });

  test('a body that fails after blocks were staged leaves neither a blob nor its staged blocks', async () => {
    const st = azureStore();
    const { stream } = randomStream(3 * MiB, new Error('producer died'));
    await expect(st.put('az-specific/failed', stream)).rejects.toThrow(/producer died/);
    const listed = [];
    for await (const b of new ContainerClient(az.connectionString, az.container).listBlobsFlat({ prefix: 'az-specific/failed', includeUncommitedBlobs: true })) listed.push(b.name);
    expect(listed).toEqual([]);
  });

  test('a wrong key: a permanent STORAGE error that names AZURE_STORAGE_KEY', async () => {
    const st = azureStore({ key: Buffer.from('not the key of this account, not at all').toString('base64') });
    const err = await st.put('az-specific/probe', Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('STORAGE');
    expect((err as Error).message).toMatch(/HTTP 403/);
    expect((err as Error).message).toContain('check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY');
    expect((err as Error).message).not.toContain(az.key);
    expect(st.classify(err)).toBe('permanent');
  });

  test('a missing container: a permanent STORAGE error that names AZURE_CONTAINER, not a missing object', async () => {
    const st = azureStore({ container: 'no-such-container' });
    const err = await st.list('x/').catch((e: unknown) => e);
    expect((err as Error).message).toContain('ContainerNotFound');
    expect((err as Error).message).toContain('check AZURE_CONTAINER (container "no-such-container" does not exist in account devstoreaccount1');
    expect(st.classify(err)).toBe('permanent');
    const head = await st.head('x/y').catch((e: unknown) => e);
    expect(head).toBeInstanceOf(BackupmateError); // not null: the container, not the blob, is missing
  });

  test('a SAS token scoped to the container works for every operation', async () => {
    const sas = generateBlobSASQueryParameters(
      { containerName: az.container, permissions: ContainerSASPermissions.parse('racwdl'), expiresOn: new Date(Date.now() + 3600_000) },
      new StorageSharedKeyCredential(az.account, az.key),
    ).toString();
    const st = azureStore({ key: '', sas: `?${sas}` });
    expect(st.description).toBe(`azure://devstoreaccount1/${az.container} (${az.endpoint}, SAS)`);
    const body = new PassThrough();
    body.end(Buffer.alloc(2 * MiB + 1, 7));
    await st.put('az-sas/obj', body);
    expect(await st.head('az-sas/obj')).toEqual({ size: 2 * MiB + 1 });
    expect((await st.list('az-sas/')).map((o) => o.key)).toEqual(['az-sas/obj']);
    await st.delete(['az-sas/obj']);
    expect(await st.head('az-sas/obj')).toBeNull();
  });

  test('an unreachable endpoint is transient (retried) and says what to check', async () => {
    const st = azureStore({ endpoint: 'http://127.0.0.1:9/devstoreaccount1', requestTimeoutMs: 5000 });
    const err = await st.head('x').catch((e: unknown) => e);
    expect((err as Error).message).toContain('check AZURE_STORAGE_ACCOUNT / AZURE_BLOB_ENDPOINT');
    expect(st.classify(err)).toBe('transient');
  });
});

describe('round trip through the CLI: ENCRYPTION=age, full + incremental, restored equal by CHECKSUM TABLE', () => {
  let source: PrivateServer;
  let work: string;
  let keys: string;
  let identity: string;
  const points: { id: string; sums: Record<string, string> }[] = [];

  beforeAll(async () => {
    source = await startPrivateServer({ rootPassword: PASSWORD });
    await source.sql('CREATE DATABASE az; CREATE TABLE az.t (id INT PRIMARY KEY, s VARCHAR(64)) ENGINE=InnoDB;');
    await source.sql('INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_30000;', 'az');
    keys = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-az-keys-'));
    identity = path.join(keys, 'id.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    work = await makeWorkdir(source, { kind: 'azure', server: az }, {
      FULL_BACKUP_PREFIX: 'az/full/',
      INCREMENTAL_BACKUP_PREFIX: 'az/inc/',
      FULL_BACKUP_SCHEDULE: 'off',
      ENCRYPTION: 'age',
      AGE_RECIPIENTS: recipient,
    });
    for (const kind of ['--full', '--incremental']) {
      if (kind === '--incremental') await source.sql("INSERT INTO t SELECT seq + 100000, MD5(seq) FROM seq_1_to_20000; UPDATE t SET s = 'changed' WHERE id % 3 = 0;", 'az');
      const r = await backupmate(work, ['backup', kind]);
      expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
      points.push({ id: logLines(r.stdout).find((l) => l.event === 'backup.end')!.backupId as string, sums: await source.checksums() });
    }
  }, 240_000);

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
    if (keys) await fs.rm(keys, { recursive: true, force: true });
  });

  test('the store holds both backups as age ciphertext in several blocks, manifests last', async () => {
    const c = new ContainerClient(az.connectionString, az.container);
    const names: string[] = [];
    for await (const b of c.listBlobsFlat({ prefix: 'az/' })) names.push(b.name);
    expect(names.filter((n) => n.endsWith('/manifest.json'))).toHaveLength(2);
    const first = names.find((n) => n.startsWith(`az/full/${points[0]!.id}/data.`))!;
    const blocks = await c.getBlockBlobClient(first).getBlockList('committed');
    expect(blocks.committedBlocks!.length).toBeGreaterThan(1);
    const head = await readAll((await c.getBlockBlobClient(first).download(0, 21)).readableStreamBody as unknown as PassThrough);
    expect(head.toString('latin1')).toBe('age-encryption.org/v1');
  });

  test('list shows the chain; each point restores with CHECKSUM TABLE equal to the source', async () => {
    const l = await backupmate(work, ['list']);
    expect(l.exitCode).toBe(0);
    for (const p of points) expect(l.stdout).toContain(p.id);
    for (const p of points) {
      const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-az-restore-'));
      const target = path.join(base, 'data');
      const r = await backupmate(work, ['restore', p.id, '--target-dir', target], { AGE_IDENTITY_FILE: identity });
      expect({ exit: r.exitCode, err: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, err: '' });
      const server = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: PASSWORD });
      expect(await server.checksums()).toEqual(p.sums);
      await server.destroy();
    }
  }, 180_000);

  test('backupmate check reaches the container: a wrong key and a missing container each fail the store line (exit 76) naming the key', async () => {
    const wrongKey = await backupmate(work, ['check'], { AZURE_STORAGE_KEY: Buffer.from('wrong key wrong key wrong key').toString('base64'), RETRY_ATTEMPTS: '2' });
    expect(wrongKey.exitCode).toBe(76);
    expect(wrongKey.stdout).toMatch(/^FAILED {2}the store azure:\/\/devstoreaccount1\/backupmate-test .*could not write a probe object: .*HTTP 403.*check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY$/m);
    const noContainer = await backupmate(work, ['check'], { AZURE_CONTAINER: 'missing-container', RETRY_ATTEMPTS: '2' });
    expect(noContainer.exitCode).toBe(76);
    expect(noContainer.stdout).toMatch(/^FAILED {2}the store azure:\/\/devstoreaccount1\/missing-container .*ContainerNotFound.*check AZURE_CONTAINER \(container "missing-container" does not exist/m);
  }, 60_000);
});
