/** `list`'s point-in-time part: the binlog archive's recoverable window (sources/binlog/window.ts). */
import type { PhysicalPayload } from '../domain/manifest.js';
import { listArchive } from '../sources/binlog/reader.js';
import { recoverableWindow, type PointInTimeWindow } from '../sources/binlog/window.js';
import type { Catalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';

export async function pointInTimeOf(storage: Storage, prefix: string, catalog: Catalog): Promise<PointInTimeWindow | null> {
  const listing = await listArchive(storage, prefix);
  const backups = catalog.backups
    .filter((b) => b.manifest.source.type === 'physical')
    .map((b) => ({ id: b.manifest.id, finishedAt: b.manifest.finishedAt, gtid: (b.manifest.source as PhysicalPayload).binlog?.gtid ?? null }));
  return recoverableWindow(listing, backups);
}

export function renderPointInTime(w: PointInTimeWindow | null): string {
  if (!w) return '\npoint in time: no binlog archive (BINLOG_ARCHIVE)\n';
  const lines = [
    '',
    w.from
      ? `point in time: recoverable from ${w.from} (backup ${w.fromBackup}) to ${w.to ?? '(no commit archived yet)'}`
      : `point in time: binlogs archived up to ${w.to ?? '(no commit yet)'}, but no backup can start a replay from them (take a backup)`,
  ];
  for (const g of w.gaps) lines.push(`  GAP from ${g.from ?? '(start)'} to ${g.to ?? '(now)'}: ${g.reason}`);
  return lines.join('\n') + '\n';
}
