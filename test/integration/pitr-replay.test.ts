/**
 * The replay (src/sources/binlog/replay.ts) on real parts: a private mariadbd with its binlog
 * (gtid_strict_mode ON, two GTID domains, a FLUSH BINARY LOGS in the middle and a temporary table
 * used across the two files), a mariabackup backup prepared in a scratch directory, the server's
 * own binlog files copied as they are, and the scratch server. The replayed datadir is then
 * started and its CHECKSUM TABLE compared with the source's at the moment asked.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackupmateError } from '../../src/domain/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { replayBinlogs } from '../../src/sources/binlog/replay.js';
import { parseGtid, parsePosition } from '../../src/sources/binlog/replay-gtid.js';
import { parseBackupInfo } from '../../src/mariadb/mariabackup.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

const log = createLogger({ level: 'info', console: 'none' });
let src: PrivateServer;
let base: string;
let prepared: string;
let start: Map<number, ReturnType<typeof parseGtid>>;
let files: string[];
let atT: Record<string, string>;
let T: Date;
let beforeDrop: string;
let atEnd: Record<string, string>;

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-pitr-'));
  src = await startPrivateServer({ extraArgs: ['--gtid-strict-mode=1', '--binlog-format=MIXED'] });
  await src.sql(
    'CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20)) ENGINE=InnoDB;' +
      'CREATE TABLE shop.audit (id INT PRIMARY KEY AUTO_INCREMENT, n INT) ENGINE=InnoDB; INSERT INTO shop.orders (v) VALUES ("before-backup")',
  );
  const bk = path.join(base, 'backup');
  await execa('mariabackup', [`--defaults-extra-file=${src.clientDefaultsFile}`, '--backup', `--target-dir=${bk}`], { all: true });
  const info = parseBackupInfo(await fs.readFile(path.join(bk, 'xtrabackup_info'), 'utf8'));
  start = parsePosition(info.binlog!.gtid!);
  await execa('mariabackup', ['--prepare', `--target-dir=${bk}`], { all: true });
  prepared = bk;

  // After the backup: writes in domain 0 and 1, a temporary table living across a binlog rotation.
  await src.sql(
    'INSERT INTO shop.orders (v) VALUES ("a"),("b"); SET SESSION gtid_domain_id=1; INSERT INTO shop.audit (n) VALUES (1); SET SESSION gtid_domain_id=0;' +
      'SET SESSION binlog_format=STATEMENT; CREATE TEMPORARY TABLE shop.tmp (n INT); INSERT INTO shop.tmp VALUES (10),(20);' +
      'FLUSH BINARY LOGS; INSERT INTO shop.audit (n) SELECT SUM(n) FROM shop.tmp; START TRANSACTION; INSERT INTO shop.orders (v) VALUES ("c"); INSERT INTO shop.orders (v) VALUES ("d"); COMMIT',
  );
  atT = await src.checksums(['shop']);
  // A quiet moment: T is the start of a second after every write above.
  await wait(1000 - (Date.now() % 1000) + 20);
  T = new Date(Math.floor(Date.now() / 1000) * 1000);
  beforeDrop = (await src.sql('SELECT @@gtid_binlog_pos')).trim();
  await src.sql('DROP TABLE shop.orders; SET SESSION gtid_domain_id=1; INSERT INTO shop.audit (n) VALUES (99)');
  atEnd = await src.checksums(['shop']);
  await src.sql('FLUSH BINARY LOGS');
  const binlogDir = path.join(src.baseDir, 'binlog');
  const copied = path.join(base, 'binlogs');
  await fs.mkdir(copied);
  files = [];
  for (const f of (await fs.readdir(binlogDir)).filter((n) => /^mysql-bin\.\d+$/.test(n)).sort()) {
    await fs.copyFile(path.join(binlogDir, f), path.join(copied, f));
    files.push(path.join(copied, f));
  }
}, 120_000);

afterAll(async () => {
  await stopAllServers();
  await fs.rm(base, { recursive: true, force: true });
});

async function copyPrepared(name: string): Promise<string> {
  const d = path.join(base, name);
  await execa('cp', ['-a', prepared, d]);
  return d;
}

async function checksumsOf(datadir: string): Promise<Record<string, string>> {
  const s = await startPrivateServer({ datadir });
  try {
    return await s.checksums(['shop']);
  } finally {
    await s.destroy();
  }
}

describe('binlog replay on a scratch server', () => {
  test('--time T: every transaction before T (both domains, across files, temp table), the DROP after T left out', async () => {
    const d = await copyPrepared('d-time');
    const r = await replayBinlogs({ datadir: d, workDir: path.join(base, 'w1'), files, start, request: { time: T }, log, serverOptions: ['--gtid-strict-mode=1'] });
    expect(r.reached).toBe(beforeDrop.split(',').sort().join(','));
    expect(r.transactions).toBeGreaterThanOrEqual(6);
    expect(r.firstLeftOut).not.toBeNull();
    expect(await checksumsOf(d)).toEqual(atT);
  }, 90_000);

  test('--gtid: up to and including the last GTID of domain 1, i.e. to the end', async () => {
    const d = await copyPrepared('d-gtid');
    const end = (await src.sql('SELECT @@gtid_binlog_pos')).trim();
    const last1 = end.split(',').find((g) => g.startsWith('1-'))!;
    const r = await replayBinlogs({ datadir: d, workDir: path.join(base, 'w2'), files, start, request: { gtid: parseGtid(last1) }, log });
    expect(r.reached).toBe(end.split(',').sort().join(','));
    expect(await checksumsOf(d)).toEqual(atEnd);
  }, 90_000);

  test('a missing file (hole) is refused before the server starts; the datadir is untouched', async () => {
    const d = await copyPrepared('d-hole');
    const e = await replayBinlogs({ datadir: d, workDir: path.join(base, 'w3'), files: files.slice(1), start, request: { time: new Date(T.getTime() + 3600_000) }, log }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(BackupmateError);
    expect((e as BackupmateError).code).toBe('INTEGRITY');
    expect((e as BackupmateError).message).toMatch(/miss transactions of domain \d+: after .* comes .*refusing to replay over a hole/);
    await expect(fs.access(path.join(base, 'w3'))).rejects.toThrow();
  }, 60_000);
});
