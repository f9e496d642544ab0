/**
 * The logical (mydumper) manifest payload: the snapshot's binlog position and GTID, what was
 * dumped (databases, object kinds, users), and per table what a restore checks itself against:
 * the row count at the snapshot and the files holding its schema and data. Checked when a catalog
 * is read: a restore trusts nothing else.
 */
import { BackupmateError } from '../../domain/errors.js';
import type { Manifest, SourcePayload } from '../../domain/manifest.js';

export const LOGICAL = 'logical';

/** The object kinds LOGICAL_OBJECTS may name. */
export const LOGICAL_OBJECT_KINDS = ['schema', 'data', 'views', 'routines', 'triggers', 'events', 'users'] as const;
export type LogicalObjectKind = (typeof LOGICAL_OBJECT_KINDS)[number];

/** One table (or view, or sequence) of the dump. */
export interface LogicalTable {
  db: string;
  name: string;
  kind: 'table' | 'view' | 'sequence';
  /** Rows in the dump files (= at the snapshot); null for a view, or when data was not dumped. */
  rows: number | null;
  /** Its files in the dump directory: schema first, then data chunks in order, then triggers. */
  schemaFile: string | null;
  dataFiles: string[];
  triggersFile: string | null;
}

export interface LogicalPayload extends SourcePayload {
  type: 'logical';
  /** Binary log position and GTID (gtid_binlog_pos) of the snapshot; null when the server logs no binlog. */
  binlog: { file: string; position: number; gtid: string | null } | null;
  /** The databases in the dump, sorted. */
  databases: string[];
  objects: LogicalObjectKind[];
  /** The file with CREATE USER/GRANT statements (mariadb-dump --system=users), or null. */
  usersFile: string | null;
  /** Per database: the file creating it, and the one with its routines and events (or null). */
  schemas: { db: string; createFile: string; postFile: string | null }[];
  tables: LogicalTable[];
  versions: { server: string; dumper: string };
}

/** Checks a `source` object of type logical; throws INTEGRITY saying what was expected. */
export function parseLogicalPayload(raw: unknown, where = 'a manifest'): LogicalPayload {
  const p = raw as Record<string, unknown>;
  if (typeof p !== 'object' || p === null || p.type !== LOGICAL) throw new BackupmateError('INTEGRITY', `${where}: expected source.type "logical"`);
  const problems: string[] = [];
  const need = (cond: boolean, what: string) => {
    if (!cond) problems.push(what);
  };
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  const b = p.binlog as Record<string, unknown> | null | undefined;
  need(b === null || (typeof b === 'object' && str(b.file) && Number.isSafeInteger(b.position) && (b.gtid === null || typeof b.gtid === 'string')), 'source.binlog null or {file, position, gtid}');
  need(Array.isArray(p.databases) && p.databases.every(str), 'source.databases as a list of names');
  need(Array.isArray(p.objects) && p.objects.every((o) => (LOGICAL_OBJECT_KINDS as readonly unknown[]).includes(o)), `source.objects from ${LOGICAL_OBJECT_KINDS.join(', ')}`);
  need(p.usersFile === null || str(p.usersFile), 'source.usersFile null or a file name');
  need(Array.isArray(p.schemas) && (p.schemas as Record<string, unknown>[]).every((s) => str(s.db) && str(s.createFile) && (s.postFile === null || str(s.postFile))), 'source.schemas as [{db, createFile, postFile}]');
  need(
    Array.isArray(p.tables) &&
      (p.tables as Record<string, unknown>[]).every(
        (t) =>
          str(t.db) &&
          str(t.name) &&
          ['table', 'view', 'sequence'].includes(t.kind as string) &&
          (t.rows === null || (Number.isSafeInteger(t.rows) && (t.rows as number) >= 0)) &&
          (t.schemaFile === null || str(t.schemaFile)) &&
          Array.isArray(t.dataFiles) &&
          t.dataFiles.every(str) &&
          (t.triggersFile === null || str(t.triggersFile)),
      ),
    'source.tables as [{db, name, kind, rows, schemaFile, dataFiles, triggersFile}]',
  );
  const v = p.versions as Record<string, unknown> | undefined;
  need(!!v && typeof v.server === 'string' && typeof v.dumper === 'string', 'source.versions.server and .dumper as strings');
  if (problems.length) throw new BackupmateError('INTEGRITY', `${where} is malformed: expected ${problems.join('; ')}`);
  // Every file named must be a plain name inside the dump directory (no path, no ..).
  const files = [
    ...(p.usersFile ? [p.usersFile as string] : []),
    ...(p.schemas as { createFile: string; postFile: string | null }[]).flatMap((s) => [s.createFile, ...(s.postFile ? [s.postFile] : [])]),
    ...(p.tables as LogicalTable[]).flatMap((t) => [...(t.schemaFile ? [t.schemaFile] : []), ...t.dataFiles, ...(t.triggersFile ? [t.triggersFile] : [])]),
  ];
  const bad = files.find((f) => f.includes('/') || f === '..' || f === '.');
  if (bad !== undefined) throw new BackupmateError('INTEGRITY', `${where} is malformed: file name ${JSON.stringify(bad)} is not a plain name`);
  return raw as LogicalPayload;
}

export function isLogical(m: Manifest): m is Manifest<LogicalPayload> {
  return m.source.type === LOGICAL;
}
