/**
 * What a physical backup held, recorded cheaply when it is taken, so a restore drill
 * (drill/drill.ts) can tell a restore that "worked" from one that lost tables: every base table
 * (schema, name, engine) and the server's row estimate (information_schema.TABLES.TABLE_ROWS:
 * exact for MyISAM/Aria, an estimate for InnoDB). No COUNT(*): that would read the whole
 * database a second time during the backup.
 *
 * Read right after mariabackup finished (its consistent point is at its end), so a table made or
 * dropped in the seconds between can differ: the drill treats only a missing table, or a table
 * that had rows and came back empty, as a failure.
 *
 * Best effort: a failed read is logged and the backup goes on without an inventory (older
 * manifests have none either); the drill then checks every table it finds.
 */
import { BackupmateError, errorText } from '../../domain/errors.js';
import type { Logger } from '../../log/logger.js';
import type { ConnectionSettings } from '../../mariadb/mariabackup.js';
import { querySingleValue } from '../../mariadb/server.js';

export interface InventoryTable {
  schema: string;
  name: string;
  engine: string | null;
  /** The server's row estimate at backup time (null when it had none). */
  rows: number | null;
}

export interface Inventory {
  /** When it was read (ISO). */
  at: string;
  tables: InventoryTable[];
  /** More base tables than MAX_INVENTORY_TABLES: only the first ones are listed. */
  truncated?: boolean;
}

/** Beyond this many tables the manifest would grow past a few MB: list the first ones only. */
export const MAX_INVENTORY_TABLES = 20_000;

/** Schemas that are views over the running server, not data a backup holds. */
const VIRTUAL_SCHEMAS = ['information_schema', 'performance_schema', 'sys'];

export const INVENTORY_SQL =
  'SELECT TABLE_SCHEMA, TABLE_NAME, IFNULL(ENGINE, \'\'), IFNULL(TABLE_ROWS, \'\') FROM information_schema.TABLES ' +
  `WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (${VIRTUAL_SCHEMAS.map((s) => `'${s}'`).join(', ')}) ` +
  `ORDER BY TABLE_SCHEMA, TABLE_NAME LIMIT ${MAX_INVENTORY_TABLES + 1}`;

/** Parses `mariadb --batch --skip-column-names` output of INVENTORY_SQL (pure). */
export function parseInventory(text: string, at: Date): Inventory {
  const rows = text.split('\n').filter((l) => l.trim() !== '');
  const tables = rows.slice(0, MAX_INVENTORY_TABLES).map((l): InventoryTable => {
    const [schema, name, engine, n] = l.split('\t');
    if (schema === undefined || name === undefined) throw new BackupmateError('INTERNAL', `unexpected inventory line: ${JSON.stringify(l)}`);
    return { schema: unescape(schema), name: unescape(name), engine: engine ? engine : null, rows: n && /^\d+$/.test(n) ? Number(n) : null };
  });
  return { at: at.toISOString(), tables, ...(rows.length > MAX_INVENTORY_TABLES ? { truncated: true } : {}) };
}

/** The batch client escapes \t, \n and \\ in values. */
function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === '0' ? '\0' : c));
}

/** Reads the inventory from the server being backed up; null (logged) when it cannot. */
export async function readInventory(c: ConnectionSettings, tempDir: string, log: Logger): Promise<Inventory | null> {
  try {
    return parseInventory(await querySingleValue(c, tempDir, INVENTORY_SQL), new Date());
  } catch (e) {
    log.warn(`could not record the backup's table inventory (restore drills will check the tables they find): ${errorText(e)}`, { event: 'backup.inventory', status: 'failed' });
    return null;
  }
}
