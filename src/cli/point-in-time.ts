/** `list`'s point-in-time part: the binlog archive's recoverable window (sources/binlog/window.ts). */
import type { PhysicalPayload } from '../domain/manifest.js';
import { fmtBytes } from '../domain/units.js';
import type { ArchiveVerifyReport } from '../sources/binlog/verify.js';
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

export function renderArchiveVerify(prefix: string, r: ArchiveVerifyReport): string {
  const lines = [`binlog archive ${prefix}: ${r.segments} segment(s), ${fmtBytes(r.rawBytes)} of binlog: ${r.ok ? 'ok' : `${r.problems.length} PROBLEM(S)`}`];
  for (const p of r.problems) lines.push(`  ${p}`);
  for (const g of r.gaps) lines.push(`  GAP from ${g.from ?? '(start)'} to ${g.to ?? '(now)'}: ${g.reason}`);
  return lines.join('\n') + '\n';
}
