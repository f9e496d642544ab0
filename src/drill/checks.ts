/**
 * What a drill asks the restored (scratch) server: its base tables, CHECK TABLE of each, exact
 * row counts, and how that compares with the inventory recorded at backup time. The SQL goes
 * through ScratchServer.query (the private superuser over the scratch socket); the parsing and
 * the verdicts are pure functions, unit-tested.
 */
import type { Inventory } from '../sources/physical/inventory.js';

export interface TableRef {
  schema: string;
  name: string;
}

export interface TableCheck {
  /** `schema.name` */
  table: string;
  status: 'ok' | 'failed' | 'uncheckable';
  /** CHECK TABLE's message when not OK. */
  message: string;
}

interface Querier {
  query(sql: string): Promise<string>;
}

/** Tables per CHECK TABLE / COUNT statement: one round trip each, short enough statements. */
const BATCH = 50;

const VIRTUAL_SCHEMAS = "('information_schema', 'performance_schema', 'sys')";

export function quoteIdent(s: string): string {
  return '`' + s.replace(/`/g, '``') + '`';
}

export function tableName(t: TableRef): string {
  return `${t.schema}.${t.name}`;
}

function unescapeBatch(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === '0' ? '\0' : c));
}

function rows(out: string): string[][] {
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t').map(unescapeBatch));
}

export async function listTables(server: Querier): Promise<TableRef[]> {
  const out = await server.query(
    `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ${VIRTUAL_SCHEMAS} ORDER BY TABLE_SCHEMA, TABLE_NAME`,
  );
  return rows(out).map(([schema, name]) => ({ schema: schema!, name: name! }));
}

/**
 * CHECK TABLE's result rows (Table, Op, Msg_type, Msg_text) to one verdict per table (pure). A
 * table fails on any `error` row or a final `status` other than OK; a `note` saying the engine
 * cannot check (CSV logs, some system tables) makes it uncheckable, not failed. A table with no
 * row at all failed: a check that did not run is not a pass.
 */
export function checkVerdicts(tables: readonly TableRef[], out: string): TableCheck[] {
  const byTable = new Map<string, string[][]>();
  for (const r of rows(out)) {
    const list = byTable.get(r[0]!) ?? [];
    list.push(r);
    byTable.set(r[0]!, list);
  }
  return tables.map((t): TableCheck => {
    const table = tableName(t);
    const msgs = byTable.get(table) ?? [];
    if (!msgs.length) return { table, status: 'failed', message: 'CHECK TABLE returned nothing for it' };
    const error = msgs.find((m) => m[2]?.toLowerCase() === 'error');
    if (error) return { table, status: 'failed', message: error[3] ?? 'error' };
    const status = msgs.filter((m) => m[2]?.toLowerCase() === 'status').pop();
    if (status && status[3] === 'OK') return { table, status: 'ok', message: '' };
    const note = msgs.find((m) => m[2]?.toLowerCase() === 'note');
    if (!status && note && /doesn't support check/i.test(note[3] ?? '')) return { table, status: 'uncheckable', message: note[3]! };
    if (status && /doesn't support check/i.test(status[3] ?? '')) return { table, status: 'uncheckable', message: status[3]! };
    return { table, status: 'failed', message: (status ?? msgs[msgs.length - 1]!)[3] ?? 'not OK' };
  });
}

export async function checkTables(server: Querier, tables: readonly TableRef[]): Promise<TableCheck[]> {
  const out: TableCheck[] = [];
  for (let i = 0; i < tables.length; i += BATCH) {
    const batch = tables.slice(i, i + BATCH);
    const sql = `CHECK TABLE ${batch.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`).join(', ')}`;
    out.push(...checkVerdicts(batch, await server.query(sql)));
  }
  return out;
}

/**
 * Engines whose row estimate means "there were rows": InnoDB's is an estimate but never > 0 for
 * an empty table it has analysed; MyISAM's and Aria's are exact. CSV (the log tables) and others
 * report numbers that do not count rows, and mariabackup does not copy the log tables' contents.
 */
const COUNTED_ENGINES = new Set(['innodb', 'myisam', 'aria']);
const LOG_TABLES = new Set(['mysql.general_log', 'mysql.slow_log']);

/** The comparison with the backup-time inventory (pure): missing tables, tables restored empty. */
export function inventoryVerdict(found: ReadonlyMap<string, number>, inventory: Inventory | undefined): { missing: string[]; emptied: string[] } {
  if (!inventory) return { missing: [], emptied: [] };
  const missing: string[] = [];
  const emptied: string[] = [];
  for (const t of inventory.tables) {
    const name = tableName(t);
    const n = found.get(name);
    if (n === undefined) missing.push(name);
    else if (n === 0 && (t.rows ?? 0) > 0 && COUNTED_ENGINES.has((t.engine ?? '').toLowerCase()) && !LOG_TABLES.has(name)) emptied.push(name);
  }
  return { missing, emptied };
}

/** Exact row counts of every restored table, compared with the inventory. */
export async function compareInventory(server: Querier, tables: readonly TableRef[], inventory: Inventory | undefined): Promise<{ rows: number; missing: string[]; emptied: string[] }> {
  const counts = new Map<string, number>();
  for (let i = 0; i < tables.length; i += BATCH) {
    const batch = tables.slice(i, i + BATCH);
    const sql = batch.map((t, j) => `SELECT ${i + j}, COUNT(*) FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`).join(' UNION ALL ');
    for (const [idx, n] of rows(await server.query(sql))) counts.set(tableName(tables[Number(idx)]!), Number(n));
  }
  let total = 0;
  for (const n of counts.values()) total += n;
  return { rows: total, ...inventoryVerdict(counts, inventory) };
}
