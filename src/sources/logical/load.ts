/**
 * Loading a logical backup into a running server, staged, each stage checked before the next:
 *
 *   preflight: what is selected exists in the backup; nothing it would create exists on the
 *              server (else refuse, or with --replace move the old one aside: RENAME, never DROP)
 *   schema:    databases, then tables and sequences (parallel) → CHECK TABLE
 *   data:      every chunk file, LOGICAL_PARALLEL at a time → CHECK TABLE → row counts equal the
 *              counts recorded at the snapshot
 *   objects:   views, triggers, routines and events; users and grants (whole restores only)
 *
 * A failed check stops the load and says which table and what differs; what was loaded so far
 * stays for inspection (it is new: nothing that existed before was changed, except what
 * --replace moved aside, named in the message).
 */
import * as path from 'node:path';
import { BackupmateError } from '../../domain/errors.js';
import type { Logger } from '../../log/logger.js';
import { ident, literal, type SqlClient } from './client.js';
import type { LogicalPayload, LogicalTable } from './payload.js';

export interface IntoServerRequest {
  /** --database DB: only this database (its tables, views, triggers, routines, events). */
  database?: string;
  /** --table DB.TABLE: only this table (its schema, data and triggers). */
  table?: { db: string; name: string };
  /** --replace: move existing objects aside instead of refusing. */
  replace: boolean;
  /** Files loaded at once (LOGICAL_PARALLEL). */
  parallel: number;
}

/** What a load selects from a backup (pure). */
export interface LoadSelection {
  schemas: LogicalPayload['schemas'];
  tables: LogicalTable[];
  /** Routines and events (schema-post files) are loaded: whole databases only. */
  post: boolean;
  users: boolean;
}

/** Parses --table DB.TABLE; USAGE when it is not that shape. */
export function parseTableArg(value: string): { db: string; name: string } {
  const i = value.indexOf('.');
  if (i <= 0 || i === value.length - 1) throw new BackupmateError('USAGE', `--table: expected DB.TABLE, e.g. shop.orders, got "${value}"`);
  return { db: value.slice(0, i), name: value.slice(i + 1) };
}

export function selectForLoad(p: LogicalPayload, req: Pick<IntoServerRequest, 'database' | 'table'>, backupId: string): LoadSelection {
  const db = req.table?.db ?? req.database;
  if (db !== undefined && !p.databases.includes(db)) {
    throw new BackupmateError('USAGE', `backup ${backupId} has no database "${db}" (it holds ${p.databases.join(', ') || 'none'})`);
  }
  if (req.table) {
    const t = p.tables.find((x) => x.db === req.table!.db && x.name === req.table!.name);
    if (!t) {
      const names = p.tables.filter((x) => x.db === req.table!.db).map((x) => x.name);
      throw new BackupmateError('USAGE', `backup ${backupId} has no table ${req.table.db}.${req.table.name} (${req.table.db} holds ${names.join(', ') || 'nothing'})`);
    }
    return { schemas: p.schemas.filter((s) => s.db === t.db), tables: [t], post: false, users: false };
  }
  if (db !== undefined) return { schemas: p.schemas.filter((s) => s.db === db), tables: p.tables.filter((t) => t.db === db), post: true, users: false };
  return { schemas: p.schemas, tables: p.tables, post: true, users: p.usersFile !== null };
}

/** The name a table or database is moved aside to: `<name>_before_<id>`, cut to MariaDB's 64 characters. */
export function asideName(name: string, backupId: string): string {
  const suffix = `_before_${backupId}`;
  return name.slice(0, 64 - suffix.length) + suffix;
}

/** CHECK TABLE's result rows: the problems (empty = every table reported status OK). */
export function checkTableProblems(rows: readonly string[][]): string[] {
  const byTable = new Map<string, string[][]>();
  for (const r of rows) byTable.set(r[0], [...(byTable.get(r[0]) ?? []), r]);
  const problems: string[] = [];
  for (const [table, rs] of byTable) {
    const last = rs[rs.length - 1];
    const bad = rs.filter((r) => r[2] === 'error' || r[2] === 'Error');
    if (bad.length || last[2] !== 'status' || last[3] !== 'OK') problems.push(`${table}: ${(bad.length ? bad : [last]).map((r) => `${r[2]}: ${r[3]}`).join('; ')}`);
  }
  return problems;
}

/** Row-count problems: recorded at the snapshot vs found after the load (pure). */
export function rowCountProblems(expected: readonly { table: string; rows: number }[], found: ReadonlyMap<string, number>): string[] {
  return expected
    .filter((e) => found.get(e.table) !== e.rows)
    .map((e) => `${e.table}: ${e.rows} row(s) recorded at the backup, ${found.get(e.table) ?? 'no count'} in the server after the load`);
}

export interface LoadReport {
  databases: string[];
  tables: number;
  rows: number;
  /** What --replace moved aside: "shop.orders -> shop.orders_before_<id>". */
  movedAside: string[];
  timings: { schemaMs: number; dataMs: number; objectsMs: number };
}

/** Runs `jobs` with at most `n` at once; the first failure stops new starts and is thrown after the running ones end. */
async function pool<T>(items: readonly T[], n: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (failure === null && next < items.length) {
      const item = items[next++];
      try {
        await job(item);
      } catch (e) {
        if (failure === null) failure = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failure !== null) throw failure;
}

const qualified = (t: { db: string; name: string }) => `${ident(t.db)}.${ident(t.name)}`;

export async function loadIntoServer(
  client: SqlClient,
  dir: string,
  payload: LogicalPayload,
  backupId: string,
  req: IntoServerRequest,
  log: Logger,
  signal?: AbortSignal,
): Promise<LoadReport> {
  const sel = selectForLoad(payload, req, backupId);
  const movedAside = await makeRoom(client, sel, backupId, req, log);
  const file = (f: string) => path.join(dir, f);
  const cancelled = () => {
    if (signal?.aborted) throw new BackupmateError('CANCELLED', 'the load was cancelled');
  };
  const inDbs = [...new Set(sel.tables.map((t) => t.db).concat(sel.schemas.map((s) => s.db)))].sort();
  const stored = sel.tables.filter((t) => t.kind !== 'view');
  const fail = (stage: string, problems: string[]) => {
    throw new BackupmateError(
      'INTEGRITY',
      `restore into the server stopped after the ${stage}: ${problems.join('; ')}` +
        ` (what was loaded so far is left in place for inspection${movedAside.length ? `; moved aside before the load: ${movedAside.join(', ')}` : ''})`,
      { stage: `load-${stage}`, problems },
    );
  };
  const check = async (stage: string) => {
    const tables = stored.filter((t) => t.kind === 'table');
    if (!tables.length) return;
    const problems = checkTableProblems(await client.query(`CHECK TABLE ${tables.map(qualified).join(', ')}`));
    if (problems.length) fail(`${stage} (CHECK TABLE)`, problems);
  };

  // 1. Schema.
  const t0 = Date.now();
  const existing = new Set((await client.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA')).map((r) => r[0]));
  for (const s of sel.schemas) if (!existing.has(s.db)) await client.runFile(file(s.createFile), null, `create database ${s.db}`, signal);
  await pool(stored, req.parallel, (t) => client.runFile(file(t.schemaFile!), t.db, `schema of ${t.db}.${t.name}`, signal));
  cancelled();
  await check('schema');
  log.info(`schema of ${stored.length} table(s) created and checked`, { event: 'logical.load.schema', tables: stored.length });

  // 2. Data, then its checks.
  const t1 = Date.now();
  const chunks = stored.flatMap((t) => t.dataFiles.map((f) => ({ t, f })));
  await pool(chunks, req.parallel, (c) => client.runFile(file(c.f), c.t.db, `data of ${c.t.db}.${c.t.name} (${c.f})`, signal));
  cancelled();
  await check('data');
  const counted = stored.filter((t) => t.rows !== null);
  const found = new Map<string, number>();
  if (counted.length) {
    const rows = await client.query(counted.map((t) => `SELECT ${literal(`${t.db}.${t.name}`)}, COUNT(*) FROM ${qualified(t)}`).join(' UNION ALL '));
    for (const r of rows) found.set(r[0], Number(r[1]));
  }
  const problems = rowCountProblems(
    counted.map((t) => ({ table: `${t.db}.${t.name}`, rows: t.rows! })),
    found,
  );
  if (problems.length) fail('data (row counts)', problems);
  const rows = counted.reduce((n, t) => n + t.rows!, 0);
  log.info(`data of ${stored.length} table(s) loaded: ${rows} row(s), counts equal the backup's`, { event: 'logical.load.data', tables: stored.length, rows });

  // 3. Views (one may use another: retried while some succeed), triggers, routines and events, users.
  const t2 = Date.now();
  let views = sel.tables.filter((t) => t.kind === 'view' && t.schemaFile);
  while (views.length) {
    const failed: { t: LogicalTable; e: unknown }[] = [];
    for (const v of views) await client.runFile(file(v.schemaFile!), v.db, `view ${v.db}.${v.name}`, signal).catch((e: unknown) => failed.push({ t: v, e }));
    if (failed.length === views.length) throw failed[0].e;
    views = failed.map((f) => f.t);
  }
  for (const t of sel.tables) if (t.triggersFile) await client.runFile(file(t.triggersFile), t.db, `triggers of ${t.db}.${t.name}`, signal);
  if (sel.post) for (const s of sel.schemas) if (s.postFile) await client.runFile(file(s.postFile), s.db, `routines and events of ${s.db}`, signal);
  if (sel.users && payload.usersFile) await client.runFile(file(payload.usersFile), null, 'users and grants', signal);
  cancelled();
  return {
    databases: inDbs,
    tables: stored.length,
    rows,
    movedAside,
    timings: { schemaMs: t1 - t0, dataMs: t2 - t1, objectsMs: Date.now() - t2 },
  };
}

/**
 * Preflight: the objects the load would create must not exist. Without --replace that is a
 * refusal naming them; with it, tables are RENAMEd aside (never dropped). A database holding
 * views, triggers, routines or events cannot be moved aside by RENAME TABLE: that is refused.
 */
/**
 * The refusals of the load's preflight, without changing anything (no --replace renames): run
 * before the backup is downloaded, so a refused restore costs no download.
 */
export async function checkRoom(client: SqlClient, payload: LogicalPayload, backupId: string, req: Omit<IntoServerRequest, 'parallel'>, log: Logger): Promise<void> {
  await makeRoom(client, selectForLoad(payload, req, backupId), backupId, { ...req, parallel: 1 }, log, true);
}

async function makeRoom(client: SqlClient, sel: LoadSelection, backupId: string, req: IntoServerRequest, log: Logger, dryRun = false): Promise<string[]> {
  const moved: string[] = [];
  if (req.table) {
    const t = sel.tables[0];
    const rows = await client.query(`SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA=${literal(t.db)} AND TABLE_NAME=${literal(t.name)}`);
    if (!rows.length) return moved;
    if (!req.replace) {
      throw new BackupmateError('TARGET_STATE', `${t.db}.${t.name} exists on the server: give --replace to move it aside first (renamed to ${t.db}.${asideName(t.name, backupId)}, never dropped)`);
    }
    const triggers = await client.query(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA=${literal(t.db)} AND EVENT_OBJECT_TABLE=${literal(t.name)}`);
    if (triggers.length && t.triggersFile) {
      throw new BackupmateError('TARGET_STATE', `${t.db}.${t.name} has triggers (${triggers.map((r) => r[0]).join(', ')}) whose names the restored table's triggers would take: rename or drop them yourself, then restore`);
    }
    const aside = asideName(t.name, backupId);
    if (dryRun) return moved;
    await client.query(`RENAME TABLE ${qualified(t)} TO ${ident(t.db)}.${ident(aside)}`);
    moved.push(`${t.db}.${t.name} -> ${t.db}.${aside}`);
    log.warn(`moved ${t.db}.${t.name} aside to ${t.db}.${aside} (--replace)`, { event: 'logical.load.aside', from: `${t.db}.${t.name}`, to: `${t.db}.${aside}` });
    return moved;
  }
  for (const s of sel.schemas) {
    const counts = await client.query(
      `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=${literal(s.db)} AND TABLE_TYPE<>'VIEW'),` +
        ` (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA=${literal(s.db)}),` +
        ` (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=${literal(s.db)}),` +
        ` (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=${literal(s.db)}),` +
        ` (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA=${literal(s.db)})`,
    );
    const [tables, views, triggers, routines, events] = counts[0].map(Number);
    if (tables + views + triggers + routines + events === 0) continue;
    const held = [
      tables && `${tables} table(s)`,
      views && `${views} view(s)`,
      triggers && `${triggers} trigger(s)`,
      routines && `${routines} routine(s)`,
      events && `${events} event(s)`,
    ].filter(Boolean);
    const aside = asideName(s.db, backupId);
    if (!req.replace) {
      throw new BackupmateError('TARGET_STATE', `database ${s.db} exists on the server and holds ${held.join(', ')}: give --replace to move its tables aside first (to database ${aside}, never dropped), or restore one table with --table`);
    }
    if (views + triggers + routines + events > 0) {
      throw new BackupmateError(
        'TARGET_STATE',
        `database ${s.db} holds ${held.join(', ')}: --replace moves tables aside with RENAME TABLE, which cannot move views, triggers, routines or events; move or drop those yourself (or restore tables one by one with --table), then restore`,
      );
    }
    if (dryRun) continue;
    const names = (await client.query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=${literal(s.db)} ORDER BY TABLE_NAME`)).map((r) => r[0]);
    await client.query(`CREATE DATABASE ${ident(aside)}`);
    await client.query(`RENAME TABLE ${names.map((n) => `${ident(s.db)}.${ident(n)} TO ${ident(aside)}.${ident(n)}`).join(', ')}`);
    moved.push(`database ${s.db} (${names.length} table(s)) -> ${aside}`);
    log.warn(`moved the ${names.length} table(s) of ${s.db} aside to database ${aside} (--replace)`, { event: 'logical.load.aside', from: s.db, to: aside, tables: names.length });
  }
  return moved;
}
