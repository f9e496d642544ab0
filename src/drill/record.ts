/**
 * The drill record: a small JSON object next to the backup in the store,
 * `<backup dir>drills/<drill id>.json`, one per drill. A new object each time: the backup's own
 * objects (volumes, SHA256SUMS, manifest) are never rewritten, so a store with Object Lock keeps
 * working, and retention deletes the records with their backup (prune removes the whole dir).
 * `list` shows the newest record of each backup ("last drilled: ok, 4m12s to ready").
 */
import { errorText } from '../domain/errors.js';
import { fmtDuration } from '../domain/units.js';
import type { Logger } from '../log/logger.js';
import type { CatalogEntry } from '../storage/catalog.js';
import { mapLimit } from '../storage/catalog.js';
import { readAll, type Storage } from '../storage/storage.js';
import type { DrillReport } from './drill.js';

export const DRILLS_DIR = 'drills/';

/** What a record keeps (the report without the long lists). */
export type DrillRecord = Omit<DrillReport, 'tables'> & { tables: { checked: number; failed: number; missing: number; emptied: number; recorded: number | null } };

export function drillRecordKey(backupDir: string, drillId: string): string {
  return `${backupDir}${DRILLS_DIR}${drillId}.json`;
}

export function toRecord(r: DrillReport): DrillRecord {
  return {
    ...r,
    tables: { checked: r.tables.checked, failed: r.tables.failed.length, missing: r.tables.missing.length, emptied: r.tables.emptied.length, recorded: r.tables.recorded },
  };
}

/** Writes the record; a failure is logged, never thrown (the drill's verdict stands without it). */
export async function writeDrillRecord(storage: Storage, r: DrillReport, log: Logger): Promise<string | null> {
  if (!r.backupDir) return null;
  const key = drillRecordKey(r.backupDir, r.drillId);
  try {
    await storage.put(key, Buffer.from(JSON.stringify(toRecord(r), null, 2) + '\n'));
    return key;
  } catch (e) {
    log.error(`cannot store the drill record ${key}: ${errorText(e)}`, { event: 'drill.record', status: 'failed', key });
    return null;
  }
}

/** The newest drill record key among a backup's objects (drill ids sort by time), or null. */
export function newestRecordKey(entry: Pick<CatalogEntry, 'dir'>): string | null {
  const prefix = entry.dir.dir + DRILLS_DIR;
  const keys = entry.dir.objects.map((o) => o.key).filter((k) => k.startsWith(prefix) && k.endsWith('.json')).sort();
  return keys[keys.length - 1] ?? null;
}

/** The newest record of each backup that has one (unreadable ones are skipped: list must not fail on them). */
export async function lastDrills(storage: Storage, entries: readonly CatalogEntry[]): Promise<Map<string, DrillRecord>> {
  const out = new Map<string, DrillRecord>();
  const withRecords = entries.map((e) => ({ id: e.manifest.id, key: newestRecordKey(e) })).filter((x): x is { id: string; key: string } => x.key !== null);
  await mapLimit(withRecords, 8, async ({ id, key }) => {
    try {
      out.set(id, JSON.parse((await readAll(await storage.get(key))).toString('utf8')) as DrillRecord);
    } catch {
      // A record we cannot read says nothing; the backup is listed without it.
    }
  });
  return out;
}

/** "ok, 4m12s to ready" / "FAILED at check" (pure). */
export function drillSummary(r: Pick<DrillRecord, 'status' | 'failedStep' | 'timeToReadyMs'>): string {
  if (r.status === 'ok') return `ok, ${r.timeToReadyMs === null ? '?' : fmtDuration(r.timeToReadyMs)} to ready`;
  return `FAILED at ${r.failedStep ?? '?'}`;
}
