/**
 * The binlog archive against a real mariadbd with --log-bin: writes, a FLUSH BINARY LOGS, a
 * server restart and an archiver (daemon) restart while archiving; every transaction is in the
 * archive exactly once (parsed back with mariadb-binlog) and replaying the archive into a fresh
 * server gives the source's CHECKSUM TABLE. Then binlogs purged before they were archived: the
 * gap is recorded and reported.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { createLogger } from '../../src/log/logger.js';
import { FileStorage } from '../../src/storage/drivers/file.js';
import { BinlogArchiver, type ArchiverSettings } from '../../src/sources/binlog/archiver.js';
import type { GapRecord } from '../../src/sources/binlog/index.js';
import { formatGtidPos, includes, parseGtidPos } from '../../src/sources/binlog/gtid.js';
import { listArchive, openSegment } from '../../src/sources/binlog/reader.js';
import { verifyArchive } from '../../src/sources/binlog/verify.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

const PREFIX = 'backupmate/binlog/';
let server: PrivateServer;
let work: string;
let storage: FileStorage;
let identity: string;
let recipient: string;
const gaps: GapRecord[] = [];

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-binlog-'));
  server = await startPrivateServer({ extraArgs: ['--binlog-format=ROW'] });
  await server.sql('CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(40)) ENGINE=InnoDB');
  storage = new FileStorage(path.join(work, 'store'));
  identity = path.join(work, 'key.txt');
  await execa('age-keygen', ['-o', identity]);
  recipient = (await execa('age-keygen', ['-y', identity])).stdout.trim();
}, 120_000);

afterAll(async () => {
  await stopAllServers();
  if (!process.env.BACKUPMATE_KEEP_TEST_DIRS) await fs.rm(work, { recursive: true, force: true });
});

function archiver(): BinlogArchiver {
  const s: ArchiverSettings = {
    storage,
    prefix: PREFIX,
    connection: { user: 'root', password: '', host: '', port: 0, socket: server.socket },
    spoolDir: path.join(work, 'spool'),
    tempDir: path.join(work, 'tmp'),
    segmentSeconds: 1,
    segmentBytes: 4096,
    compression: { algorithm: 'zstd', level: 3 },
    recipients: [recipient],
    log: createLogger({ level: 'debug', console: 'none' }),
    onGap: (g) => gaps.push(g),
    retryMs: 200,
  };
  const a = new BinlogArchiver(s);
  a.start();
  return a;
}

async function insert(n: number, tag: string): Promise<void> {
  // One client call, one transaction per statement (autocommit).
  await server.sql(Array.from({ length: n }, (_, i) => `INSERT INTO shop.orders (v) VALUES ('${tag}-${i}')`).join(';'));
}

/** Waits until the archive's last segment reaches the server's current GTID position. */
async function archived(timeoutMs = 20_000): Promise<number> {
  const want = parseGtidPos(await server.sql('SELECT @@gtid_binlog_pos'));
  const t0 = Date.now();
  for (;;) {
    const l = await listArchive(storage, PREFIX);
    const end = l.segments.at(-1)?.gtid.end ?? [];
    if (includes(end, want)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`archive stuck at ${formatGtidPos(end)}, server at ${formatGtidPos(want)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('binlog archive', () => {
  test('writes, FLUSH BINARY LOGS, a server restart and an archiver restart: every transaction archived exactly once', async () => {
    let a = archiver();
    await insert(15, 'a');
    await server.sql('FLUSH BINARY LOGS');
    await insert(15, 'b');
    await archived();
    // Lag: one commit to its segment being listed in the store.
    const lags: number[] = [];
    for (let i = 0; i < 3; i++) {
      await insert(1, `lag${i}`);
      lags.push(await archived());
    }
    console.log(`binlog archive lag (commit -> in store, BINLOG_SEGMENT_SECONDS=1): ${lags.join(', ')} ms`);
    await a.stop();
    await insert(10, 'c'); // written while no archiver runs
    a = archiver();
    await insert(10, 'd');
    await server.stop();
    await server.start();
    await insert(10, 'e');
    await server.sql('FLUSH BINARY LOGS');
    await insert(5, 'f');
    await archived();
    await a.stop();

    const l = await listArchive(storage, PREFIX);
    expect(l.problems).toEqual([]);
    expect(l.gaps).toEqual([]);
    expect(l.orphans).toEqual([]);
    expect(new Set(l.segments.map((s) => s.stream)).size).toBe(1);
    expect(new Set(l.segments.map((s) => s.binlog.file)).size).toBeGreaterThanOrEqual(4);
    // Decode every segment (age + zstd, sha256 checked) and parse them back.
    const files: string[] = [];
    for (const s of l.segments) {
      const f = path.join(work, `seg-${s.seq}.bin`);
      await pipeline(await openSegment(storage, s, { ageIdentityFile: identity }), createWriteStream(f));
      files.push(f);
    }
    const text = (await execa('mariadb-binlog', ['--base64-output=never', ...files])).stdout;
    if (process.env.BACKUPMATE_KEEP_TEST_DIRS) await fs.writeFile(path.join(work, 'all.txt'), text);
    const gtids = [...text.matchAll(/\tGTID (\d+-\d+-\d+)/g)].map((m) => m[1]!);
    const seqs = gtids.map((g) => Number(g.split('-')[2]));
    expect(new Set(gtids).size).toBe(gtids.length); // no duplicate
    const last = parseGtidPos(await server.sql('SELECT @@gtid_binlog_pos'))[0]!.seq;
    expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1)); // no hole, in order
    // Replay everything into a fresh server: same data as the source.
    const fresh = await startPrivateServer();
    await execa('bash', ['-o', 'pipefail', '-c', 'f="$1"; shift; mariadb-binlog "$@" | mariadb --defaults-file="$f"', 'replay', fresh.clientDefaultsFile, ...files]);
    expect(await fresh.checksums(['shop'])).toEqual(await server.checksums(['shop']));
    expect(Number(await fresh.sql('SELECT COUNT(*) FROM shop.orders'))).toBe(68);
    await fresh.destroy();
    // verify: continuity, every segment's sha256, the GTID order inside each.
    const v = await verifyArchive(storage, PREFIX, { ageIdentityFile: identity });
    expect(v).toMatchObject({ ok: true, problems: [], gaps: [], segments: l.segments.length });
    // A changed segment is found and named.
    const victim = l.segments[1]!;
    const file = path.join(work, 'store', victim.key);
    const saved = await fs.readFile(file);
    await fs.writeFile(file, Buffer.concat([saved.subarray(0, saved.length - 1), Buffer.from([saved[saved.length - 1]! ^ 1])]));
    const bad = await verifyArchive(storage, PREFIX, { ageIdentityFile: identity });
    expect(bad.ok).toBe(false);
    expect(bad.problems.join('\n')).toContain(victim.key);
    await fs.writeFile(file, saved);
  }, 120_000);

  test('binlogs purged before they were archived: a gap is recorded and reported', async () => {
    await insert(3, 'g');
    await server.sql('FLUSH BINARY LOGS');
    await insert(3, 'h');
    await server.sql('FLUSH BINARY LOGS');
    const current = (await server.sql('SHOW MASTER STATUS')).split('\t')[0]!;
    await server.sql(`PURGE BINARY LOGS TO '${current}'`);
    await insert(2, 'i');
    const a = archiver();
    await archived();
    await a.stop();
    const l = await listArchive(storage, PREFIX);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.lostFiles.length).toBe(1);
    expect(l.gaps).toEqual([expect.objectContaining({ kind: 'recorded', reason: expect.stringMatching(/purged from the server before it was archived/) })]);
    expect(l.gaps[0]!.from).not.toBeNull();
    expect(l.gaps[0]!.to).not.toBeNull();
    expect(l.problems).toEqual([]);
  }, 60_000);
});
