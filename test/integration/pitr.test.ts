/**
 * Point-in-time restore through the real CLI (issue 13, items 3 and 4): a full backup, writes
 * (across a binlog rotation), a quiet moment T (CHECKSUM TABLE recorded), DROP TABLE, more
 * writes; the server's binlog files archived into the file store in the archive's format
 * (test/helpers/binlog-archive.ts); `restore --time T --target-dir` gives the checksums of T;
 * a moment after the last archived transaction is refused with exit 85 and the window.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStorage } from '../../src/storage/drivers/file.js';
import { backupmate, makeWorkdir } from '../helpers/backupmate.js';
import { archiveBinlogFiles } from '../helpers/binlog-archive.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

let src: PrivateServer;
let work: string;
let storeDir: string;
let T: Date;
let atT: Record<string, string>;
let lastCommit: Date;
const dirs: string[] = [];
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  src = await startPrivateServer({ extraArgs: ['--gtid-strict-mode=1'] });
  await src.sql(
    'CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20)) ENGINE=InnoDB; CREATE TABLE shop.audit (id INT PRIMARY KEY AUTO_INCREMENT, n INT) ENGINE=InnoDB;' +
      'INSERT INTO shop.orders (v) VALUES ("o1"),("o2")',
  );
  storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-'));
  dirs.push(storeDir);
  work = await makeWorkdir(src, { kind: 'file', path: storeDir }, { MARIADB_OS_USER: 'mysql' });
  dirs.push(work);
  const b = await backupmate(work, ['backup', '--full']);
  expect({ exit: b.exitCode, stderr: b.stderr }).toEqual({ exit: 0, stderr: '' });
  await src.sql('INSERT INTO shop.orders (v) VALUES ("o3"); FLUSH BINARY LOGS; INSERT INTO shop.orders (v) VALUES ("o4"); INSERT INTO shop.audit (n) VALUES (1)');
  atT = await src.checksums(['shop']);
  await wait(1000 - (Date.now() % 1000) + 20);
  T = new Date(Math.floor(Date.now() / 1000) * 1000);
  await src.sql('DROP TABLE shop.orders; INSERT INTO shop.audit (n) VALUES (2),(3)');
  lastCommit = new Date();
  await src.sql('FLUSH BINARY LOGS');
  const binlogDir = path.join(src.baseDir, 'binlog');
  const names = (await fs.readdir(binlogDir)).filter((n) => /^mysql-bin\.\d+$/.test(n)).sort();
  // Every closed file (the last one is the server's open file).
  await archiveBinlogFiles(new FileStorage(storeDir), 'backupmate/binlog/', names.slice(0, -1).map((n) => path.join(binlogDir, n)));
}, 120_000);

afterAll(async () => {
  await stopAllServers();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('restore --time (point in time)', () => {
  test('restores the backup and replays to T: checksums equal those at T, the dropped table is back', async () => {
    const target = path.join(work, 'restored');
    const r = await backupmate(work, ['restore', '--time', T.toISOString(), '--target-dir', target]);
    expect({ exit: r.exitCode, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n') }).toEqual({ exit: 0, stderr: '' });
    expect(r.stdout).toMatch(/replayed \d+ transaction\(s\) before .*: reached GTID 0-1-\d+.*first left out 0-1-\d+/);
    const s = await startPrivateServer({ datadir: target });
    try {
      expect(await s.checksums(['shop'])).toEqual(atT);
    } finally {
      await s.destroy();
    }
    // Nothing of the replay is left in LOCAL_TEMP_DIR.
    expect((await fs.readdir(path.join(work, 'tmp')).catch(() => [])).filter((n) => n.startsWith('bm-pitr-'))).toEqual([]);
  }, 120_000);

  test('a time after the last archived transaction is refused with exit 85, the window and the nearest moment', async () => {
    const late = new Date(lastCommit.getTime() + 120_000);
    const r = await backupmate(work, ['restore', '--time', late.toISOString(), '--target-dir', path.join(work, 'late')]);
    expect(r.exitCode).toBe(85);
    expect(r.stderr).toMatch(/cannot restore to .*: it is after the last archived transaction \(.*\); restorable: \S+ \.\. \S+; the latest restorable moment before it is /);
    await expect(fs.access(path.join(work, 'late'))).rejects.toThrow();
  }, 60_000);
});
