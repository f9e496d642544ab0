/**
 * `backupmate restore <id> --into-server [--database DB | --table DB.TABLE] [--replace]`: a
 * logical backup loaded into the running server (sources/logical/load.ts: staged, checked,
 * nothing overwritten: --replace moves the old objects aside). The download and decode are the
 * generic source restore's, into a staging directory under LOCAL_TEMP_DIR removed afterwards.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { logicalSource } from '../app/sources.js';
import type { Config } from '../config/load.js';
import { BackupmateError } from '../domain/errors.js';
import { fmtBytes, fmtDuration } from '../domain/units.js';
import type { Logger } from '../log/logger.js';
import { runSourceRestore, type SourceRestoreSettings } from '../restore/source-restore.js';
import { parseTableArg, type LoadReport } from '../sources/logical/load.js';
import { SourceRegistry } from '../sources/registry.js';
import { directorySource } from '../app/sources.js';
import { catalogPrefixes } from '../backup/decide.js';
import type { Storage } from '../storage/storage.js';

export interface IntoServerOptions {
  database?: string;
  table?: string;
  replace?: boolean;
}

export interface IntoServerResult {
  id: string;
  load: LoadReport;
  downloadedBytes: number;
  totalMs: number;
}

/** Runs the restore; `physicalId`: the id names a physical backup (not supported into a server yet). */
export async function restoreIntoServer(
  c: Config,
  storage: Storage,
  logger: Logger,
  settings: SourceRestoreSettings,
  req: { id: string; time?: Date; signal?: AbortSignal } & IntoServerOptions,
): Promise<IntoServerResult> {
  const table = req.table !== undefined ? parseTableArg(req.table) : undefined;
  let load: LoadReport | null = null;
  const logical = logicalSource(c, {
    into: { ...(req.database !== undefined ? { database: req.database } : {}), ...(table ? { table } : {}), replace: !!req.replace },
    onLoaded: (r) => (load = r),
  });
  const sources = new SourceRegistry([directorySource(c), logical], catalogPrefixes(c));
  const r = await runSourceRestore(storage, logger, settings, sources, {
    id: req.id,
    time: req.time,
    mode: 'into-server',
    source: 'logical',
    // Only the staging directory's place: the result goes into the server, not here.
    destination: path.join(c.LOCAL_TEMP_DIR, 'into-server'),
    signal: req.signal,
    // Refusals (an existing table without --replace, a name the backup lacks) before any download.
    beforeDownload: async (m) => {
      await fs.mkdir(c.LOCAL_TEMP_DIR, { recursive: true, mode: 0o700 });
      const dir = await fs.mkdtemp(path.join(c.LOCAL_TEMP_DIR, 'into-server-preflight-'));
      try {
        await logical.preflightInto({ log: logger, jobDir: dir }, { ...m, source: logical.parsePayload(m.source) }, dir);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  });
  if (!load) throw new BackupmateError('INTERNAL', 'the logical restore finished without a load report');
  return { id: r.id, load, downloadedBytes: r.downloadedBytes, totalMs: r.timings.totalMs };
}

/** The human report (pure). */
export function intoServerLines(r: IntoServerResult, where: string): string[] {
  const l = r.load;
  const lines = [
    `restored logical backup ${r.id} into the server at ${where}: ${l.databases.join(', ')}`,
    `  ${l.tables} table(s), ${l.rows} row(s); schema, CHECK TABLE, data, CHECK TABLE and row counts all passed`,
    `  downloaded ${fmtBytes(r.downloadedBytes)}; schema ${fmtDuration(l.timings.schemaMs)}, data ${fmtDuration(l.timings.dataMs)}, views/triggers/routines/events/users ${fmtDuration(l.timings.objectsMs)}, total ${fmtDuration(r.totalMs)}`,
  ];
  for (const m of l.movedAside) lines.push(`  moved aside before the load (--replace): ${m} (drop it yourself once the restore is confirmed)`);
  return lines;
}
