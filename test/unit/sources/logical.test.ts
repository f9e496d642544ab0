/** The logical source's pure decisions: mydumper's argv and metadata, file classification, row counting, load selection and checks. */
import { describe, expect, test } from '@jest/globals';
import { classifyDumpFile, countRowsInChunk, describeDump, mydumperArgv, parseMetadata, parseObjects, tableRegex } from '../../../src/sources/logical/dump.js';
import { asideName, checkTableProblems, parseTableArg, rowCountProblems, selectForLoad } from '../../../src/sources/logical/load.js';
import { parseLogicalPayload, type LogicalPayload } from '../../../src/sources/logical/payload.js';
import { grantWithoutAuth, idempotentCreate } from '../../../src/sources/logical/users.js';
import { checkRestoreArgs } from '../../../src/cli/restore-args.js';

const sel = { databases: [] as string[], exclude: ['mysql', 'sys'], objects: parseObjects('all') };

describe('dump', () => {
  test('regex: exclusions by lookahead, inclusions as a group, names escaped', () => {
    expect(tableRegex(sel)).toBe('^(?!(mysql|sys)\\.)');
    expect(tableRegex({ databases: ['a.b', 'shop'], exclude: [] })).toBe('^(a\\.b|shop)\\.');
    expect(new RegExp(tableRegex(sel)).test('mysql.user')).toBe(false);
    expect(new RegExp(tableRegex(sel)).test('shop.orders')).toBe(true);
  });

  test('argv: options from LOGICAL_OBJECTS, the option file first', () => {
    const a = mydumperArgv({ optionFile: '/x/dump.cnf', outputDir: '/x/out', threads: 3, selection: { ...sel, objects: parseObjects('schema,data') }, chunkRows: 1000 });
    expect(a[0]).toBe('--defaults-file=/x/dump.cnf');
    expect(a).toEqual(expect.arrayContaining(['--threads=3', '--rows=1000', '--no-views']));
    expect(a).not.toContain('--triggers');
    expect(mydumperArgv({ optionFile: 'f', outputDir: 'o', threads: 1, selection: sel, chunkRows: 1 })).toEqual(expect.arrayContaining(['--triggers', '--events', '--routines']));
  });

  test('LOGICAL_OBJECTS: unknown kinds are a CONFIG error naming them', () => {
    expect(() => parseObjects('schema,tables')).toThrow(/LOGICAL_OBJECTS.*got tables/);
  });

  test('metadata: binlog file, position and GTID; an unfinished dump is refused', () => {
    const text = 'Started dump at: x\nSHOW MASTER STATUS:\n\tLog: bin.000002\n\tPos: 4430\n\tGTID:0-1-3827,2-1-2\n\nFinished dump at: y\n';
    expect(parseMetadata(text)).toEqual({ file: 'bin.000002', position: 4430, gtid: '0-1-3827,2-1-2' });
    expect(parseMetadata('Started\nFinished dump at: y\n')).toBeNull();
    expect(() => parseMetadata('Started dump at: x\n')).toThrow(/did not finish/);
  });

  test('file names', () => {
    expect(classifyDumpFile('shop-schema-create.sql')).toEqual({ kind: 'create', db: 'shop' });
    expect(classifyDumpFile('shop.t-schema.sql')).toEqual({ kind: 'schema', db: 'shop', table: 't' });
    expect(classifyDumpFile('shop.v-schema-view.sql')).toEqual({ kind: 'view', db: 'shop', table: 'v' });
    expect(classifyDumpFile('shop.t-schema-triggers.sql')).toEqual({ kind: 'triggers', db: 'shop', table: 't' });
    expect(classifyDumpFile('shop.t.00003.sql')).toEqual({ kind: 'data', db: 'shop', table: 't', chunk: 3 });
    expect(classifyDumpFile('shop.t.sql')).toEqual({ kind: 'data', db: 'shop', table: 't', chunk: 0 });
  });

  test('rows: one per line inside INSERTs', () => {
    expect(countRowsInChunk('/*!40101 SET NAMES binary*/;\nINSERT INTO `t` VALUES\n(1,"a;"),\n(2,"(x"),\n(3,"b\\nc");\nINSERT INTO `t` VALUES\n(4,"d");\n')).toBe(4);
    expect(countRowsInChunk('')).toBe(0);
  });

  test('describeDump: tables with chunks in order, views without rows, sequences, other databases skipped', () => {
    const names = ['metadata', 'shop-schema-create.sql', 'shop-schema-post.sql', 'shop.t-schema.sql', 'shop.t.00001.sql', 'shop.t.00000.sql', 'shop.v-schema.sql', 'shop.v-schema-view.sql', 'shop.s-schema.sql', 'shop.s.sql', 'mysql-schema-create.sql'];
    const d = describeDump(names, sel, (f) => f === 'shop.s-schema.sql', () => 5, true);
    expect(d.skipped).toEqual(['mysql-schema-create.sql']);
    expect(d.schemas).toEqual([{ db: 'shop', createFile: 'shop-schema-create.sql', postFile: 'shop-schema-post.sql' }]);
    expect(d.tables.map((t) => [t.name, t.kind, t.rows, t.schemaFile, t.dataFiles])).toEqual([
      ['s', 'sequence', 5, 'shop.s-schema.sql', ['shop.s.sql']],
      ['t', 'table', 10, 'shop.t-schema.sql', ['shop.t.00000.sql', 'shop.t.00001.sql']],
      ['v', 'view', null, 'shop.v-schema-view.sql', []],
    ]);
  });
});

const payload: LogicalPayload = {
  type: 'logical',
  binlog: { file: 'bin.1', position: 4, gtid: '0-1-1' },
  databases: ['shop'],
  objects: parseObjects('all'),
  usersFile: 'backupmate-users.sql',
  schemas: [{ db: 'shop', createFile: 'shop-schema-create.sql', postFile: null }],
  tables: [{ db: 'shop', name: 't', kind: 'table', rows: 2, schemaFile: 'shop.t-schema.sql', dataFiles: ['shop.t.sql'], triggersFile: null }],
  versions: { server: '10.11', dumper: 'mydumper 0.10' },
};

describe('payload', () => {
  test('a good payload reads back; a file name with a path is refused', () => {
    expect(parseLogicalPayload(JSON.parse(JSON.stringify(payload)))).toEqual(payload);
    const bad = { ...payload, tables: [{ ...payload.tables[0], dataFiles: ['../etc/passwd'] }] };
    expect(() => parseLogicalPayload(bad)).toThrow(/not a plain name/);
    expect(() => parseLogicalPayload({ ...payload, tables: [{ ...payload.tables[0], rows: -1 }] })).toThrow(/source.tables/);
  });
});

describe('load decisions', () => {
  test('selection: everything, one database, one table; unknown names say what the backup holds', () => {
    expect(selectForLoad(payload, {}, 'B').users).toBe(true);
    expect(selectForLoad(payload, { database: 'shop' }, 'B')).toMatchObject({ users: false, post: true });
    expect(selectForLoad(payload, { table: { db: 'shop', name: 't' } }, 'B')).toMatchObject({ post: false, tables: [payload.tables[0]] });
    expect(() => selectForLoad(payload, { database: 'crm' }, 'B')).toThrow('backup B has no database "crm" (it holds shop)');
    expect(() => selectForLoad(payload, { table: { db: 'shop', name: 'x' } }, 'B')).toThrow('backup B has no table shop.x (shop holds t)');
  });

  test('--table must be DB.TABLE', () => {
    expect(parseTableArg('shop.orders')).toEqual({ db: 'shop', name: 'orders' });
    expect(() => parseTableArg('orders')).toThrow(/expected DB.TABLE/);
  });

  test('aside names fit in 64 characters', () => {
    expect(asideName('orders', '20261202T170103Z')).toBe('orders_before_20261202T170103Z');
    expect(asideName('x'.repeat(64), '20261202T170103Z')).toHaveLength(64);
  });

  test('CHECK TABLE and row counts', () => {
    expect(checkTableProblems([['shop.t', 'check', 'status', 'OK']])).toEqual([]);
    expect(checkTableProblems([['shop.t', 'check', 'error', 'Corrupt'], ['shop.t', 'check', 'status', 'Operation failed']])).toEqual(['shop.t: error: Corrupt']);
    expect(rowCountProblems([{ table: 'shop.t', rows: 2 }], new Map([['shop.t', 1]]))).toEqual(['shop.t: 2 row(s) recorded at the backup, 1 in the server after the load']);
  });

  test('restore arguments: --database/--table/--replace only with --into-server, not together', () => {
    expect(checkRestoreArgs('latest', { intoServer: true, table: 'a.b', replace: true })).toBe('into-server');
    expect(() => checkRestoreArgs('latest', { targetDir: '/x', replace: true })).toThrow('--replace go with --into-server, not --target-dir');
    expect(() => checkRestoreArgs('latest', { intoServer: true, database: 'a', table: 'a.b' })).toThrow(/at most one of --database/);
  });
});

describe('users', () => {
  test('accounts are created only when missing, grants never carry a password', () => {
    expect(idempotentCreate("CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*AB'")).toBe("CREATE USER IF NOT EXISTS `app`@`%` IDENTIFIED BY PASSWORD '*AB'");
    expect(grantWithoutAuth("GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB'")).toBe('GRANT USAGE ON *.* TO `app`@`%`');
    expect(grantWithoutAuth("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED BY PASSWORD '*CD' WITH GRANT OPTION")).toBe('GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION');
  });
});
