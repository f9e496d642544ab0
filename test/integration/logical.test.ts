/**
 * Logical backups end to end with the built CLI (issue 14): `backup --logical` (mydumper) while
 * transfers between accounts run, then `restore --into-server` of everything into an EMPTY
 * server (MyISAM, Aria, a partitioned table, a view, a trigger, routines, an event, a sequence, a
 * system-versioned table, a user with grants) equal by CHECKSUM TABLE, with the total balance of
 * the snapshot unchanged; a refusal without --replace; one table and one database with --replace
 * (the old ones renamed aside, not dropped); a failed staged check naming the table; and the
 * plain files of `--target-dir` loaded without backupmate (the README recipe, myloader).
 *
 * Real parts: two private mariadbd (source with binlog, target), mydumper, the file store.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, makeWorkdir, type CliResult, type Store } from '../helpers/backupmate.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

const PASSWORD = 'l0gical-pw';
let source: PrivateServer;
let target: PrivateServer;
let dir: string;
let work: string;
let store: Extract<Store, { kind: 'file' }>;
let backupId: string;

const SHOP_TABLES = ['shop.a', 'shop.m', 'shop.p', 'shop.sq'];

/** Exit 0, or a failure that shows the command's error lines. */
function ok(r: CliResult): void {
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr.split('\n').filter((l) => !l.includes('"level":"debug"')).slice(-5).join('\n')}`);
  expect(r.stderr).not.toContain('"level":"error"');
}

async function checksums(s: PrivateServer, tables: string[]): Promise<Record<string, string>> {
  const out = await s.sql(`CHECKSUM TABLE ${tables.join(', ')}`);
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]));
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-logical-'));
  [source, target] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startPrivateServer({ rootPassword: PASSWORD })]);
  await source.sql(
    [
      'CREATE DATABASE bank',
      // The seq_1_to_N tables of the Sequence engine resolve in the current database.
      'USE bank',
      'CREATE TABLE bank.acct (id INT PRIMARY KEY, bal BIGINT NOT NULL) ENGINE=InnoDB',
      'INSERT INTO bank.acct SELECT seq, 1000 FROM seq_1_to_200',
      'CREATE DATABASE shop',
      "CREATE TABLE shop.m (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=MyISAM",
      "INSERT INTO shop.m VALUES (1,'a'),(2,'b\\nc'),(3,'tab\\there')",
      'CREATE TABLE shop.a (id INT PRIMARY KEY, t TEXT) ENGINE=Aria',
      "INSERT INTO shop.a SELECT seq, REPEAT('x', seq) FROM seq_1_to_50",
      'CREATE TABLE shop.p (id INT PRIMARY KEY, k INT) PARTITION BY HASH(id) PARTITIONS 3',
      'INSERT INTO shop.p SELECT seq, seq * 7 FROM seq_1_to_1000',
      'CREATE VIEW shop.vw AS SELECT id, v FROM shop.m',
      'CREATE SEQUENCE shop.sq START WITH 100',
      'CREATE TABLE shop.sv (id INT PRIMARY KEY, x INT) WITH SYSTEM VERSIONING',
      'INSERT INTO shop.sv VALUES (1, 1), (2, 2)',
      'UPDATE shop.sv SET x = 3 WHERE id = 1',
      'CREATE TRIGGER shop.tr BEFORE INSERT ON shop.m FOR EACH ROW SET NEW.v = UPPER(NEW.v)',
      'CREATE PROCEDURE shop.pr() SELECT 1',
      'CREATE FUNCTION shop.fn() RETURNS INT DETERMINISTIC RETURN 42',
      'CREATE EVENT shop.ev ON SCHEDULE EVERY 1 DAY DO SELECT 1',
      "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'",
      "GRANT SELECT, INSERT ON shop.* TO 'app'@'%'",
    ].join(';\n'),
  );
  store = { kind: 'file', path: path.join(dir, 'store') };
  work = await makeWorkdir(source, store, { LOGICAL_PARALLEL: '2' });
}, 120_000);

afterAll(async () => {
  await stopAllServers();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe('backup --logical', () => {
  test('one snapshot while transfers run: binlog/GTID and row counts in the manifest', async () => {
    // Transfers between accounts, each one transaction that keeps the total at 200 * 1000.
    const transfers = Array.from({ length: 600 }, (_, i) => {
      const a = (i % 200) + 1;
      const b = ((i * 7) % 200) + 1;
      return `START TRANSACTION; UPDATE bank.acct SET bal = bal - 3 WHERE id = ${a}; UPDATE bank.acct SET bal = bal + 3 WHERE id = ${b}; COMMIT;`;
    }).join('\n');
    const writer = execa('mariadb', [`--defaults-file=${source.clientDefaultsFile}`], { input: transfers });
    // Let the writer get going, so the dump's snapshot falls among the transfers.
    await new Promise((r) => setTimeout(r, 150));
    const r = await backupmate(work, ['backup', '--logical']);
    await writer;
    ok(r);
    const ids = await fs.readdir(path.join(store.path, 'backupmate/logical'));
    expect(ids).toHaveLength(1);
    backupId = ids[0];
    const m = JSON.parse(await fs.readFile(path.join(store.path, 'backupmate/logical', backupId, 'manifest.json'), 'utf8'));
    expect(m.source.type).toBe('logical');
    expect(m.kind).toBe('full');
    expect(m.source.binlog.file).toMatch(/^mysql-bin\.\d+$/);
    expect(m.source.binlog.gtid).toMatch(/^\d+-\d+-\d+/);
    expect(m.source.databases).toEqual(['bank', 'shop']);
    const rows = Object.fromEntries(m.source.tables.map((t: { db: string; name: string; rows: number | null }) => [`${t.db}.${t.name}`, t.rows]));
    expect(rows).toMatchObject({ 'bank.acct': 200, 'shop.m': 3, 'shop.a': 50, 'shop.p': 1000, 'shop.vw': null, 'shop.sv': 2 });
    const list = await backupmate(work, ['list']);
    expect(list.stdout).toMatch(new RegExp(`${backupId}\\s+logical\\s+full\\s+ok`));
    ok(await backupmate(work, ['verify', backupId]));
  }, 120_000);
});

describe('restore --into-server', () => {
  test('everything into an empty server: equal by CHECKSUM TABLE, balance of the snapshot unchanged, users and objects back', async () => {
    const r = await backupmate(work, ['restore', backupId, '--into-server'], { DB_SOCKET: target.socket });
    ok(r);
    expect(r.stdout).toContain('row counts all passed');
    expect(await checksums(target, SHOP_TABLES)).toEqual(await checksums(source, SHOP_TABLES));
    // System-versioned tables come back with their current rows (history is not dumped: README).
    expect(await target.sql('SELECT id, x FROM shop.sv ORDER BY id')).toBe(await source.sql('SELECT id, x FROM shop.sv ORDER BY id'));
    expect(await target.sql('SELECT SUM(bal), COUNT(*) FROM bank.acct')).toBe('200000\t200');
    expect(await target.sql("SELECT GROUP_CONCAT(ROUTINE_NAME ORDER BY ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='shop'")).toBe('fn,pr');
    expect(await target.sql("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA='shop'")).toBe('ev');
    expect(await target.sql("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='shop'")).toBe('tr');
    expect(await target.sql('SELECT COUNT(*) FROM shop.vw')).toBe('3');
    expect(await target.sql('SELECT NEXTVAL(shop.sq)')).toBe('100');
    expect(await target.sql("SHOW GRANTS FOR 'app'@'%'")).toContain('GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`');
  }, 120_000);

  test('an existing database is refused without --replace, naming it and what it holds', async () => {
    const r = await backupmate(work, ['restore', backupId, '--into-server', '--database', 'shop'], { DB_SOCKET: target.socket });
    expect(r.exitCode).toBe(73);
    expect(r.stderr).toContain('database shop exists on the server');
    expect(r.stderr).toContain('--replace');
    const t = await backupmate(work, ['restore', backupId, '--into-server', '--table', 'shop.p'], { DB_SOCKET: target.socket });
    expect(t.exitCode).toBe(73);
    expect(t.stderr).toContain('shop.p exists on the server');
  }, 60_000);

  test('one table with --replace: the old one is renamed aside, the restored one equals the source', async () => {
    await target.sql('DELETE FROM shop.p WHERE id > 10');
    const r = await backupmate(work, ['restore', backupId, '--into-server', '--table', 'shop.p', '--replace'], { DB_SOCKET: target.socket });
    ok(r);
    const aside = `p_before_${backupId}`;
    expect(r.stdout).toContain(`shop.p -> shop.${aside}`);
    expect(await checksums(target, ['shop.p'])).toEqual(await checksums(source, ['shop.p']));
    expect(await target.sql(`SELECT COUNT(*) FROM shop.\`${aside}\``)).toBe('10');
  }, 60_000);

  test('one database with --replace: its tables are moved to <db>_before_<id>, the database comes back whole', async () => {
    await target.sql('UPDATE bank.acct SET bal = 0');
    const r = await backupmate(work, ['restore', backupId, '--into-server', '--database', 'bank', '--replace'], { DB_SOCKET: target.socket });
    ok(r);
    expect(await target.sql('SELECT SUM(bal), COUNT(*) FROM bank.acct')).toBe('200000\t200');
    expect(await target.sql(`SELECT SUM(bal) FROM \`bank_before_${backupId}\`.acct`)).toBe('0');
  }, 60_000);

  test('a failed staged check stops the load and says which table and what differs', async () => {
    // A manifest whose recorded count disagrees with the dump (as a load that lost rows would).
    const file = path.join(store.path, 'backupmate/logical', backupId, 'manifest.json');
    const original = await fs.readFile(file, 'utf8');
    const m = JSON.parse(original);
    m.source.tables.find((t: { db: string; name: string }) => t.db === 'shop' && t.name === 'a').rows = 51;
    await fs.writeFile(file, JSON.stringify(m, null, 2));
    try {
      const r = await backupmate(work, ['restore', backupId, '--into-server', '--table', 'shop.a', '--replace'], { DB_SOCKET: target.socket });
      expect(r.exitCode).toBe(65);
      expect(r.stderr).toContain('shop.a: 51 row(s) recorded at the backup, 50 in the server after the load');
      expect(r.stderr).toContain(`moved aside before the load: shop.a -> shop.a_before_${backupId}`);
    } finally {
      await fs.writeFile(file, original);
    }
  }, 60_000);
});

describe('restore --target-dir of a logical backup', () => {
  test('writes the plain SQL files, which myloader loads without backupmate (README recipe)', async () => {
    const out = path.join(dir, 'plain');
    ok(await backupmate(work, ['restore', backupId, '--target-dir', out]));
    const files = await fs.readdir(out);
    expect(files).toEqual(expect.arrayContaining(['metadata', 'backupmate-users.sql', 'shop-schema-create.sql', 'shop.p-schema.sql', 'shop.p.sql']));
    await execa('myloader', [`--defaults-file=${target.clientDefaultsFile}`, '--directory', out, '--source-db', 'bank', '--database', 'bank_plain', '--threads', '2']);
    expect(await target.sql('SELECT SUM(bal), COUNT(*) FROM bank_plain.acct')).toBe('200000\t200');
  }, 60_000);
});
