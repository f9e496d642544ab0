/**
 * Benchmark data: sysbench-shaped InnoDB tables filled with INSERT … SELECT from the SEQUENCE
 * engine (seq_1_to_N), mixing MD5 hex, repetitive words and a few RANDOM_BYTES so that zstd -3
 * compresses the mariabackup stream about 3-5× (like real data, unlike zeros or pure noise).
 *
 * Size is measured on disk (the .ibd files of the schema), which is what mariabackup reads.
 * Nothing goes to the binary log (sql_log_bin=0): it is not part of a physical backup and would
 * only slow the load down.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PrivateServer } from '../../test/helpers/mariadb.js';

export const ROWS_PER_STATEMENT = 50_000;

export interface LoadResult {
  schema: string;
  tables: number;
  rows: number;
  /** Sum of the schema's .ibd file sizes after the load. */
  bytesOnDisk: number;
  durationMs: number;
}

function tableName(i: number): string {
  return `sbtest${i + 1}`;
}

const WORDS_A = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike'];
const WORDS_B = ['shipped', 'pending', 'cancelled', 'returned', 'paid', 'refunded', 'on hold', 'in transit', 'delivered', 'lost', 'new'];
const WORDS_C = ['Berlin', 'Paris', 'Lisbon', 'Oslo', 'Tokyo', 'Lima', 'Quito', 'Dakar', 'Perth', 'Austin', 'Porto'];
const elt = (words: string[], expr: string) => `ELT(1 + (${expr}) MOD ${words.length}, ${words.map((w) => `'${w}'`).join(', ')})`;

/** SELECT list producing one row per `seq`, ids from base+1. */
function rowSelect(base: number): string {
  const id = `(${base} + seq)`;
  return `SELECT ${id},
    (${id} * 2654435761) MOD 1000000,
    CONCAT(MD5(${id}), '-', MD5(${id} * 7), '-', MD5(${id} * 13), '-', SUBSTRING(MD5(${id} * 17), 1, 21)),
    CONCAT(${elt(WORDS_C, `${id} DIV 7`)}, REPEAT('-', 20), LPAD(${id} MOD 1000, 8, '0')),
    CONCAT_WS(' ', 'order', ${id}, ${elt(WORDS_A, id)}, ${elt(WORDS_B, `${id} DIV 3`)}, 'from', ${elt(WORDS_C, `${id} DIV 11`)},
              'via', ${elt(WORDS_A, `${id} DIV 5`)}, 'note:', ${elt(WORDS_B, `${id} DIV 17`)}, ${elt(WORDS_C, `${id} DIV 101`)}),
    RANDOM_BYTES(16),
    ((${id} * 7919) MOD 10000000) / 100,
    TIMESTAMP'2024-01-01 00:00:00' + INTERVAL ${id} SECOND
  FROM seq_1_to_`;
}

function createTable(schema: string, table: string): string {
  return `CREATE TABLE \`${schema}\`.\`${table}\` (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  k INT UNSIGNED NOT NULL,
  c CHAR(120) NOT NULL,
  pad CHAR(60) NOT NULL,
  note VARCHAR(255) NOT NULL,
  tag VARBINARY(32) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  created DATETIME NOT NULL,
  KEY k_1 (k)
) ENGINE=InnoDB`;
}

/** Sum of the sizes of the schema's .ibd files (what mariabackup will read for it). */
export function schemaBytesOnDisk(server: PrivateServer, schema: string): number {
  const dir = path.join(server.datadir, schema);
  let total = 0;
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.ibd')) total += fs.statSync(path.join(dir, f)).size;
  return total;
}

/** Current max id per table (so later inserts append). */
async function maxIds(server: PrivateServer, schema: string, tables: number): Promise<number[]> {
  const q = Array.from({ length: tables }, (_, i) => `SELECT COALESCE(MAX(id), 0) FROM \`${schema}\`.\`${tableName(i)}\`;`).join('\n');
  return (await server.sql(q)).trim().split('\n').map(Number);
}

async function insertRows(server: PrivateServer, schema: string, table: string, base: number, rows: number): Promise<void> {
  // seq_1_to_N lives in the current database: run in `schema`.
  await server.sql(`SET SESSION sql_log_bin = 0;\nINSERT INTO \`${schema}\`.\`${table}\` ${rowSelect(base)}${rows};`, schema);
}

/**
 * Creates `schema` (dropped first) with `tables` tables and fills them round-robin, one
 * INSERT … SELECT of ROWS_PER_STATEMENT rows at a time, until the .ibd files hold `targetBytes`.
 */
export async function loadData(
  server: PrivateServer,
  schema: string,
  targetBytes: number,
  tables: number,
  progress: (msg: string) => void,
): Promise<LoadResult> {
  const t0 = Date.now();
  await server.sql(
    `SET SESSION sql_log_bin = 0;\nDROP DATABASE IF EXISTS \`${schema}\`;\nCREATE DATABASE \`${schema}\`;\n` +
      Array.from({ length: tables }, (_, i) => createTable(schema, tableName(i)) + ';').join('\n'),
  );
  const next = new Array<number>(tables).fill(0);
  let rows = 0;
  let statements = 0;
  let lastReport = Date.now();
  for (;;) {
    const bytes = schemaBytesOnDisk(server, schema);
    if (bytes >= targetBytes) break;
    // Near the end, smaller statements so the load does not overshoot much.
    const perRow = rows > 0 ? bytes / rows : 400;
    // Statements small enough that every table gets rows even at small sizes.
    const perStatement = Math.min(ROWS_PER_STATEMENT, Math.ceil(targetBytes / 400 / tables / 2));
    const n = Math.max(1000, Math.min(perStatement, Math.ceil((targetBytes - bytes) / perRow)));
    const t = statements % tables;
    await insertRows(server, schema, tableName(t), next[t]!, n);
    next[t]! += n;
    rows += n;
    statements++;
    if (Date.now() - lastReport > 10_000) {
      progress(`  loading ${schema}: ${(bytes / 1e6).toFixed(0)} of ${(targetBytes / 1e6).toFixed(0)} MB, ${rows} rows`);
      lastReport = Date.now();
    }
  }
  return { schema, tables, rows, bytesOnDisk: schemaBytesOnDisk(server, schema), durationMs: Date.now() - t0 };
}

export interface WriteResult {
  insertedRows: number;
  updatedRows: number;
  /** Estimated bytes of inserted rows (rows × average on-disk bytes per row of the load). */
  insertedBytesEstimate: number;
  durationMs: number;
}

/**
 * A fixed amount of writes between incrementals: appends about `insertBytes` worth of new rows
 * (spread over all tables) and updates `updateRows` existing rows spread evenly over each
 * table's id range (so the changed pages are scattered, not only at the end).
 */
export async function writeWorkload(
  server: PrivateServer,
  schema: string,
  tables: number,
  bytesPerRow: number,
  insertBytes: number,
  updateRows: number,
): Promise<WriteResult> {
  const t0 = Date.now();
  const ids = await maxIds(server, schema, tables);
  const insertPerTable = Math.max(1, Math.round(insertBytes / bytesPerRow / tables));
  const updatePerTable = Math.max(1, Math.round(updateRows / tables));
  for (let t = 0; t < tables; t++) {
    const existing = ids[t]!;
    for (let done = 0; done < insertPerTable; done += ROWS_PER_STATEMENT) {
      const n = Math.min(ROWS_PER_STATEMENT, insertPerTable - done);
      await insertRows(server, schema, tableName(t), existing + done, n);
    }
    const step = Math.max(1, Math.floor(existing / updatePerTable));
    await server.sql(
      `SET SESSION sql_log_bin = 0;\nUPDATE \`${schema}\`.\`${tableName(t)}\` t JOIN seq_1_to_${updatePerTable} s ON t.id = s.seq * ${step}\n` +
        `SET t.k = t.k + 1, t.note = CONCAT('updated ', s.seq, ' ', LEFT(t.note, 200));`,
      schema,
    );
  }
  return {
    insertedRows: insertPerTable * tables,
    updatedRows: updatePerTable * tables,
    insertedBytesEstimate: Math.round(insertPerTable * tables * bytesPerRow),
    durationMs: Date.now() - t0,
  };
}

/** Row count per table of the schema, for checking a restored copy. */
export async function rowCounts(server: PrivateServer, schema: string, tables: number): Promise<number[]> {
  const q = Array.from({ length: tables }, (_, i) => `SELECT COUNT(*) FROM \`${schema}\`.\`${tableName(i)}\`;`).join('\n');
  return (await server.sql(q)).trim().split('\n').map(Number);
}

/**
 * Flushes the buffer pool's dirty pages (so every backup of a run starts from a settled server
 * with little redo to copy), then restores the flushing settings.
 */
export async function settle(server: PrivateServer, timeoutMs = 180_000): Promise<void> {
  const names = ['innodb_max_dirty_pages_pct', 'innodb_max_dirty_pages_pct_lwm', 'innodb_io_capacity_max', 'innodb_io_capacity'];
  const values = (await server.sql(`SELECT ${names.map((n) => `@@GLOBAL.${n}`).join(', ')}`)).trim().split('\t');
  // The page cleaner flushes at innodb_io_capacity (200 pages/s by default): far too slow here.
  await server.sql(
    'SET GLOBAL innodb_io_capacity_max = 100000; SET GLOBAL innodb_io_capacity = 50000;' +
      ' SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0.001; SET GLOBAL innodb_max_dirty_pages_pct = 0;',
  );
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const out = await server.sql("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'");
      if (Number(out.trim().split('\t')[1]) === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    // io_capacity before io_capacity_max: the server refuses a capacity above the max.
    await server.sql(
      `SET GLOBAL innodb_max_dirty_pages_pct = ${values[0]}; SET GLOBAL innodb_max_dirty_pages_pct_lwm = ${values[1]};` +
        ` SET GLOBAL innodb_io_capacity = ${values[3]}; SET GLOBAL innodb_io_capacity_max = ${values[2]};`,
    );
  }
}
