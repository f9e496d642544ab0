/** Human-readable rendering for CLI output (pure). */
import { fmtBytes, fmtDuration } from '../domain/units.js';
import { buildChains, summarize } from '../domain/chain.js';
import type { Catalog } from '../storage/catalog.js';

export function renderTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/**
 * The store as chains: each full, then its incrementals indented beneath it in id order (the
 * order a restore applies them), then orphans, incomplete and unreadable backups.
 */
export function renderCatalog(c: Catalog): string {
  const header = ['ID', 'KIND', 'STATUS', 'PARENT', 'STORED', 'RAW', 'DURATION', 'FROM_LSN', 'TO_LSN', 'FINISHED'];
  const byId = new Map(c.backups.map((b) => [b.manifest.id, b.manifest] as const));
  const row = (id: string, label: string, status: string): string[] => {
    const m = byId.get(id)!;
    return [label, m.kind, status, m.parentId ?? '-', fmtBytes(m.storedBytes), fmtBytes(m.rawBytes), fmtDuration(m.durationMs), m.lsn.from, m.lsn.to, m.finishedAt];
  };
  const rows: string[][] = [];
  const { chains, orphans } = buildChains(c.backups.map((b) => summarize(b.manifest)));
  for (const chain of chains) {
    rows.push(row(chain.full.id, chain.full.id, 'ok'));
    const incs = chain.members.slice(1);
    incs.forEach((m, i) => rows.push(row(m.id, `${i === incs.length - 1 ? '└─' : '├─'} ${m.id}`, 'ok')));
  }
  for (const o of orphans) rows.push(row(o.id, o.id, 'orphan (full missing)'));
  for (const d of c.incomplete) {
    rows.push([d.id, d.kind, 'incomplete', '-', fmtBytes(d.objects.reduce((a, o) => a + o.size, 0)), '-', '-', '-', '-', '-']);
  }
  for (const b of c.broken) rows.push([b.dir.id, b.dir.kind, 'unreadable', '-', '-', '-', '-', '-', '-', b.error]);
  if (!rows.length) return 'no backups in the store\n';
  return renderTable([header, ...rows]);
}
