/**
 * Where a restore may write, decided from the target itself (issue 11, items 5, 14 and 18):
 * a restore beside a running production server (DB_SOCKET answers, but for another datadir)
 * goes ahead; the source's own datadir is still refused while it runs, also when DB_SOCKET is
 * not configured (the locks mariadbd holds on ibdata1/aria_log_control tell); a read-only
 * LOCAL_TEMP_DIR is named as such, not as "not enough free space"; a failed --target-dir restore
 * leaves no empty parent directories behind.
 *
 * Real parts: a private mariadbd (the source, running throughout), the real CLI, a file store,
 * a second private server started on the restored datadir, tmpfs mounts (the tests run as root).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { findLockHolder, findRunningServer } from '../../src/mariadb/datadir.js';

const PASSWORD = 'Rt-target-pw';

let source: PrivateServer;
let work: string;
let storeDir: string;
let id: string;
const dirs: string[] = [];
const mounts: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Mounts a tmpfs at `dir` (unmounted in afterAll, also when a test fails). */
async function mountTmpfs(dir: string, options: string): Promise<void> {
  await execa('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  mounts.push(dir);
}

beforeAll(async () => {
  source = await startPrivateServer({ rootPassword: PASSWORD });
  await loadSampleData(source, { rows: 20_000 });
  storeDir = await tempDir('bm-store-');
  // DB_SOCKET points at the running source, as on a production host.
  work = await makeWorkdir(source, { kind: 'file', path: storeDir }, { MARIADB_OS_USER: 'mysql' });
  dirs.push(work);
  const b = await backupmate(work, ['backup', '--full']);
  expect({ exit: b.exitCode, stderr: b.stderr }).toEqual({ exit: 0, stderr: '' });
  id = logLines(b.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
});

afterAll(async () => {
  for (const m of mounts.reverse()) await execa('umount', [m], { reject: false });
  await stopAllServers();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('restore beside a running server', () => {
  test('copy-back into a new, empty datadir succeeds while the DB_SOCKET server (another datadir) runs; the copy equals the source', async () => {
    const base = await tempDir('bm-restored-');
    const datadir = path.join(base, 'data');
    const r = await backupmate(work, ['restore', 'latest', '--copy-back'], { MARIADB_DATADIR: datadir });
    expect({ exit: r.exitCode, stderr: r.exitCode ? r.stderr : '' }).toEqual({ exit: 0, stderr: '' });
    // The closing hint is about a second server on the scratch datadir, not the system's service.
    expect(r.stdout).not.toContain('systemctl start mariadb');
    expect(r.stdout).toContain(`--datadir=${datadir}`);
    expect(r.stdout).toContain('--user=mysql');
    expect(r.stdout).toMatch(/--skip-networking/);
    expect(r.stdout).toMatch(/--socket=\S+/);

    const restored = await startPrivateServer({ datadir, baseDir: base, rootPassword: PASSWORD });
    try {
      expect(await restored.checksums()).toEqual(await source.checksums());
    } finally {
      await restored.stop();
    }
  });

  test("the source's own datadir is refused while it runs (exit 73, naming the real reason); nothing is moved", async () => {
    const r = await backupmate(work, ['restore', 'latest', '--copy-back'], { MARIADB_DATADIR: source.datadir });
    expect(r.exitCode).toBe(73);
    expect(r.stderr).toContain(source.datadir);
    expect(r.stderr).toMatch(/ibdata1|working directory|@@datadir/);
    expect(r.stderr).not.toMatch(/DB_SOCKET\)/);
    const parent = path.dirname(source.datadir);
    expect((await fs.readdir(parent)).filter((n) => n.includes('before-restore'))).toEqual([]);
  });

  test('the lock check alone detects the running source; socket check not configured', async () => {
    const holder = await findLockHolder(source.datadir);
    expect(holder).toMatch(/lock on .*(ibdata1|aria_log_control)/);
    expect(holder).toMatch(/mariadbd/);
    // Without DB_SOCKET the verdict still says "running".
    expect(await findRunningServer(source.datadir, {})).not.toBeNull();
    // A datadir nobody runs on holds no locks.
    expect(await findLockHolder(await tempDir('bm-nolock-'))).toBeNull();
  });
});

describe('restore scratch space', () => {
  test('a read-only LOCAL_TEMP_DIR is reported as read-only (exit 74), not as "not enough free space"', async () => {
    const ro = await tempDir('bm-ro-');
    await mountTmpfs(ro, 'ro,size=64m');
    const base = await tempDir('bm-restored-');
    // No DB_SOCKET: this test is about the scratch space alone.
    const r = await backupmate(work, ['restore', 'latest', '--copy-back'], {
      MARIADB_DATADIR: path.join(base, 'data'),
      LOCAL_TEMP_DIR: ro,
      DB_SOCKET: path.join(base, 'none.sock'),
    });
    expect(r.exitCode).toBe(74);
    expect(r.stderr).toContain(ro);
    expect(r.stderr).toMatch(/read-only/);
    expect(r.stderr).not.toMatch(/free space/);
  });

  test('a failed --target-dir restore removes the parent directories it created (and only those)', async () => {
    // A 1 MiB tmpfs: the restore creates <mount>/a/b, then finds too little space and fails.
    const small = await tempDir('bm-small-');
    await mountTmpfs(small, 'size=1m,mode=0755');
    await fs.writeFile(path.join(small, 'keep'), 'not the restore\'s');
    const r = await backupmate(work, ['restore', id, '--target-dir', path.join(small, 'a', 'b', 'data')]);
    expect(r.exitCode).toBe(74);
    expect(r.stderr).toMatch(/free space/);
    expect((await fs.readdir(small)).sort()).toEqual(['keep']);
  });
});
