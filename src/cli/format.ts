/** Human-readable rendering for CLI output (pure). */
import { fmtBytes, fmtDuration } from '../domain/units.js';
import type { Catalog } from '../storage/catalog.js';

export function renderTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export function renderCatalog(c: Catalog): string {
  const rows: string[][] = [['ID', 'KIND', 'STATUS', 'STORED', 'RAW', 'DURATION', 'FROM_LSN', 'TO_LSN', 'FINISHED']];
  const all = [
    ...c.backups.map((b) => ({ id: b.manifest.id, row: [
      b.manifest.id,
      b.manifest.kind,
      'ok',
      fmtBytes(b.manifest.storedBytes),
      fmtBytes(b.manifest.rawBytes),
      fmtDuration(b.manifest.durationMs),
      b.manifest.lsn.from,
      b.manifest.lsn.to,
      b.manifest.finishedAt,
    ] })),
    ...c.incomplete.map((d) => ({ id: d.id, row: [d.id, d.kind, 'incomplete', fmtBytes(d.objects.reduce((a, o) => a + o.size, 0)), '-', '-', '-', '-', '-'] })),
    ...c.broken.map((b) => ({ id: b.dir.id, row: [b.dir.id, b.dir.kind, 'unreadable', '-', '-', '-', '-', '-', b.error] })),
  ].sort((a, b) => a.id.localeCompare(b.id));
  if (!all.length) return 'no backups in the store\n';
  return renderTable([...rows, ...all.map((r) => r.row)]);
}
