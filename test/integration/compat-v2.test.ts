/**
 * Backups written before the manifest envelope (backupmate/3) must keep restoring. The store in
 * test/fixtures/v2-store was written by backupmate a6a11d3 (manifest format backupmate/2): a full
 * and an incremental of a small `shop` database, zstd -19, age-encrypted, manifests with a MAC
 * (the key and the age identity are in the fixture; they protect nothing). The current CLI lists,
 * verifies and restores them, and the restored server's CHECKSUM TABLE equals the one recorded
 * when the fixture was made.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, makeWorkdir, ROOT } from '../helpers/backupmate.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

const FIXTURE = path.join(ROOT, 'test/fixtures/v2-store');

interface Expected {
  hmacKey: string;
  full: { id: string; checksums: Record<string, string> };
  incremental: { id: string; checksums: Record<string, string> };
}

let expected: Expected;
let work: string;
let placeholder: PrivateServer;

beforeAll(async () => {
  expected = JSON.parse(await fs.readFile(path.join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
  // A copy: nothing a command does may touch the fixture itself.
  const store = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-v2-store-'));
  await fs.cp(path.join(FIXTURE, 'store'), store, { recursive: true });
  // The workdir's DB_* settings point at a running server (restore --copy-back into another datadir never uses it).
  placeholder = await startPrivateServer({ rootPassword: 'fixture-pw' });
  work = await makeWorkdir(placeholder, { kind: 'file', path: store }, {
    AGE_IDENTITY_FILE: path.join(FIXTURE, 'age-identity.txt'),
    MANIFEST_HMAC_KEY: expected.hmacKey,
  });
});

afterAll(async () => {
  await stopAllServers();
});

test('list shows both old backups as one chain', async () => {
  const r = await backupmate(work, ['list', '--json']);
  expect(r.exitCode).toBe(0);
  const list = JSON.parse(r.stdout) as { backups: { id: string; kind: string; format: string }[] };
  expect(list.backups.map((b) => [b.id, b.kind, b.format])).toEqual([
    [expected.full.id, 'full', 'backupmate/2'],
    [expected.incremental.id, 'incremental', 'backupmate/2'],
  ]);
});

test('verify checks the old volumes and MACs', async () => {
  const r = await backupmate(work, ['verify', 'all']);
  expect({ exit: r.exitCode, stderr: r.exitCode ? r.stderr.slice(-3000) : '' }).toEqual({ exit: 0, stderr: '' });
});

test.each<['full' | 'incremental']>([['full'], ['incremental']])('restore of the old %s: CHECKSUM TABLE as recorded', async (which) => {
  const want = expected[which];
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-v2-restored-'));
  const datadir = path.join(base, 'data');
  const r = await backupmate(work, ['restore', want.id, '--copy-back'], {
    MARIADB_DATADIR: datadir,
    DB_SOCKET: path.join(base, 'none.sock'),
    MARIADB_OS_USER: 'mysql',
  });
  expect({ exit: r.exitCode, stderr: r.exitCode ? r.stderr.slice(-3000) : '' }).toEqual({ exit: 0, stderr: '' });
  const server = await startPrivateServer({ datadir, baseDir: base, rootPassword: 'fixture-pw' });
  expect(await server.checksums()).toEqual(want.checksums);
  await server.destroy();
});
