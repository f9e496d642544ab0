/**
 * The pure half of a logical dump: mydumper's command line from the settings, its metadata file
 * (the snapshot's binlog position and GTID), and the dump directory's file names classified into
 * the payload's tables, schemas and objects.
 *
 * Why mydumper 0.10 (Debian 12) and not N × mariadb-dump: it takes ONE consistent snapshot across
 * its threads (FLUSH TABLES WITH READ LOCK, SHOW MASTER STATUS, START TRANSACTION WITH CONSISTENT
 * SNAPSHOT on every connection, UNLOCK) and chunks big tables by primary key. On MariaDB 10.11 it
 * uses FTWRL, not backup locks (mydumper#1870/#2012 are about newer releases' BACKUP STAGE), and
 * its recorded GTID matched the rows in the dump exactly under concurrent inserts (README,
 * "Logical backups"). mariadb-dump --single-transaction is one connection: consistent but serial.
 */
import { LOGICAL_OBJECT_KINDS, type LogicalObjectKind, type LogicalPayload, type LogicalTable } from './payload.js';
import { BackupmateError } from '../../domain/errors.js';

export interface DumpSelection {
  /** LOGICAL_DATABASES: empty = every database not excluded. */
  databases: readonly string[];
  /** LOGICAL_EXCLUDE_DATABASES */
  exclude: readonly string[];
  objects: readonly LogicalObjectKind[];
}

/** Parses a comma-separated list (LOGICAL_DATABASES, LOGICAL_EXCLUDE_DATABASES): trimmed, no empties. */
export function parseNameList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Parses LOGICAL_OBJECTS ('' or 'all' = every kind); throws CONFIG naming an unknown kind. */
export function parseObjects(value: string): LogicalObjectKind[] {
  const names = parseNameList(value.toLowerCase());
  if (names.length === 0 || (names.length === 1 && names[0] === 'all')) return [...LOGICAL_OBJECT_KINDS];
  const bad = names.filter((n) => !(LOGICAL_OBJECT_KINDS as readonly string[]).includes(n));
  if (bad.length) throw new BackupmateError('CONFIG', `LOGICAL_OBJECTS: expected a comma-separated list of ${LOGICAL_OBJECT_KINDS.join(', ')} (or all), got ${bad.join(', ')}`);
  return LOGICAL_OBJECT_KINDS.filter((k) => names.includes(k));
}

/** Whether database `db` is in the dump. */
export function includesDatabase(sel: Pick<DumpSelection, 'databases' | 'exclude'>, db: string): boolean {
  if (sel.exclude.includes(db)) return false;
  return sel.databases.length === 0 || sel.databases.includes(db);
}

const reEscape = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** mydumper's --regex over 'db.table' for the selection (PCRE: a negative lookahead excludes). */
export function tableRegex(sel: Pick<DumpSelection, 'databases' | 'exclude'>): string {
  const not = sel.exclude.length ? `(?!(${sel.exclude.map(reEscape).join('|')})\\.)` : '';
  const only = sel.databases.length ? `(${sel.databases.map(reEscape).join('|')})\\.` : '';
  return `^${not}${only}`;
}

export interface MydumperArgs {
  optionFile: string;
  outputDir: string;
  threads: number;
  selection: DumpSelection;
  /** Rows per chunk of a big table (with a primary key). */
  chunkRows: number;
}

/**
 * mydumper's argv. The option file ([client], 0600) comes first and carries the credentials.
 * --long-query-guard: FTWRL waits behind a long query while every write queues behind FTWRL;
 * mydumper gives up after this many seconds instead of stalling production.
 */
export function mydumperArgv(a: MydumperArgs): string[] {
  const o = a.selection.objects;
  const argv = [
    `--defaults-file=${a.optionFile}`,
    `--outputdir=${a.outputDir}`,
    `--threads=${a.threads}`,
    `--rows=${a.chunkRows}`,
    `--regex=${tableRegex(a.selection)}`,
    '--long-query-guard=60',
    '--verbose=2',
  ];
  if (o.includes('triggers')) argv.push('--triggers');
  if (o.includes('events')) argv.push('--events');
  if (o.includes('routines')) argv.push('--routines');
  if (!o.includes('views')) argv.push('--no-views');
  if (!o.includes('data')) argv.push('--no-data');
  if (!o.includes('schema')) argv.push('--no-schemas');
  return argv;
}

/** mydumper's `metadata` file: the snapshot's binlog position and GTID (null: no binlog). */
export function parseMetadata(text: string): LogicalPayload['binlog'] {
  const log = /^\s*Log:\s*(\S+)\s*$/m.exec(text);
  const pos = /^\s*Pos:\s*(\d+)\s*$/m.exec(text);
  const gtid = /^\s*GTID:\s*(\S*)\s*$/m.exec(text);
  if (!/Finished dump at:/.test(text)) {
    throw new BackupmateError('TOOL_FAILED', 'mydumper: the metadata file has no "Finished dump at" line: the dump did not finish', { stage: 'mydumper' });
  }
  if (!log || !pos) return null;
  return { file: log[1], position: Number(pos[1]), gtid: gtid && gtid[1] ? gtid[1] : null };
}

/** A file of the dump directory, by what mydumper's name says it is. */
export type DumpFile =
  | { kind: 'create'; db: string }
  | { kind: 'post'; db: string }
  | { kind: 'schema'; db: string; table: string }
  | { kind: 'view'; db: string; table: string }
  | { kind: 'triggers'; db: string; table: string }
  | { kind: 'data'; db: string; table: string; chunk: number }
  | { kind: 'metadata' }
  | { kind: 'other' };

/** Classifies one of mydumper's file names (names with '.' in a database name are not told apart). */
export function classifyDumpFile(name: string): DumpFile {
  if (name === 'metadata') return { kind: 'metadata' };
  let m = /^([^.]+)-schema-create\.sql$/.exec(name);
  if (m) return { kind: 'create', db: m[1] };
  m = /^([^.]+)-schema-post\.sql$/.exec(name);
  if (m) return { kind: 'post', db: m[1] };
  m = /^([^.]+)\.(.+)-schema-view\.sql$/.exec(name);
  if (m) return { kind: 'view', db: m[1], table: m[2] };
  m = /^([^.]+)\.(.+)-schema-triggers\.sql$/.exec(name);
  if (m) return { kind: 'triggers', db: m[1], table: m[2] };
  m = /^([^.]+)\.(.+)-schema\.sql$/.exec(name);
  if (m) return { kind: 'schema', db: m[1], table: m[2] };
  m = /^([^.]+)\.(.+?)(?:\.(\d{5}))?\.sql$/.exec(name);
  if (m) return { kind: 'data', db: m[1], table: m[2], chunk: m[3] === undefined ? 0 : Number(m[3]) };
  return { kind: 'other' };
}

/**
 * The payload's schemas and tables from the dump directory's names (pure). `isSequence` says
 * which schema files create a sequence (read by the caller: `SEQUENCE=1` in the CREATE), `rows`
 * the rows counted in each data file.
 */
export function describeDump(
  names: readonly string[],
  sel: Pick<DumpSelection, 'databases' | 'exclude'>,
  isSequence: (schemaFile: string) => boolean,
  rows: (dataFile: string) => number,
  dataDumped: boolean,
): { schemas: LogicalPayload['schemas']; tables: LogicalTable[]; skipped: string[] } {
  const schemas = new Map<string, { db: string; createFile: string; postFile: string | null }>();
  const tables = new Map<string, LogicalTable>();
  const skipped: string[] = [];
  const table = (db: string, name: string): LogicalTable => {
    const k = `${db}\u0000${name}`;
    let t = tables.get(k);
    if (!t) tables.set(k, (t = { db, name, kind: 'table', rows: dataDumped ? 0 : null, schemaFile: null, dataFiles: [], triggersFile: null }));
    return t;
  };
  const chunks = new Map<string, { file: string; chunk: number }[]>();
  for (const name of [...names].sort()) {
    const f = classifyDumpFile(name);
    if (f.kind === 'metadata') continue;
    if (f.kind === 'other' || !includesDatabase(sel, f.db)) {
      skipped.push(name);
      continue;
    }
    if (f.kind === 'create') schemas.set(f.db, { db: f.db, createFile: name, postFile: schemas.get(f.db)?.postFile ?? null });
    else if (f.kind === 'post') {
      const s = schemas.get(f.db);
      if (s) s.postFile = name;
      else schemas.set(f.db, { db: f.db, createFile: '', postFile: name });
    } else if (f.kind === 'schema') {
      const t = table(f.db, f.table);
      if (t.kind !== 'view') t.schemaFile = name;
      if (isSequence(name)) t.kind = 'sequence';
    } else if (f.kind === 'view') {
      const t = table(f.db, f.table);
      t.kind = 'view';
      t.schemaFile = name;
      t.rows = null;
    } else if (f.kind === 'triggers') table(f.db, f.table).triggersFile = name;
    else {
      const t = table(f.db, f.table);
      const list = chunks.get(`${f.db}\u0000${f.table}`) ?? [];
      list.push({ file: name, chunk: f.chunk });
      chunks.set(`${f.db}\u0000${f.table}`, list);
    }
  }
  for (const [k, list] of chunks) {
    const t = tables.get(k)!;
    if (t.kind === 'view') continue;
    t.dataFiles = list.sort((a, b) => a.chunk - b.chunk).map((c) => c.file);
    t.rows = t.dataFiles.reduce((n, f) => n + rows(f), 0);
  }
  const missing = [...schemas.values()].filter((s) => s.createFile === '');
  if (missing.length) throw new BackupmateError('TOOL_FAILED', `mydumper wrote ${missing[0].postFile} but no ${missing[0].db}-schema-create.sql`, { stage: 'mydumper' });
  const list = [...tables.values()].sort((a, b) => (a.db === b.db ? (a.name < b.name ? -1 : 1) : a.db < b.db ? -1 : 1));
  for (const t of list) {
    if (!schemas.has(t.db)) throw new BackupmateError('TOOL_FAILED', `mydumper wrote files of ${t.db}.${t.name} but no ${t.db}-schema-create.sql`, { stage: 'mydumper' });
  }
  return { schemas: [...schemas.values()].sort((a, b) => (a.db < b.db ? -1 : 1)), tables: list, skipped };
}

/**
 * Counts rows in one of mydumper's data files, line by line (feed it every line, in order): its
 * INSERT statements put one row per line, each starting with '(' (values never hold a raw
 * newline: mydumper escapes them as \n).
 */
export class RowCounter {
  rows = 0;
  private inInsert = false;

  line(line: string): void {
    if (line.startsWith('INSERT INTO ')) {
      this.inInsert = true;
      // A statement may carry its first row on the same line.
      if (/\bVALUES\s*\(/.test(line)) this.rows++;
    } else if (this.inInsert && line.startsWith('(')) this.rows++;
    if (line.endsWith(';')) this.inInsert = false;
  }
}

export function countRowsInChunk(text: string): number {
  const c = new RowCounter();
  for (const l of text.split('\n')) c.line(l);
  return c.rows;
}
