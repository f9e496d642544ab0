/** Human-readable rendering for CLI output (pure). */
import { fmtBytes, fmtDuration } from '../domain/units.js';
import { buildChains, summarize } from '../domain/chain.js';
import type { Manifest } from '../domain/manifest.js';
import { isPhysical } from '../sources/physical/payload.js';
import type { Catalog } from '../storage/catalog.js';
import { chainStatuses } from '../storage/chain-status.js';
import type { VerifyReport } from '../verify/report.js';
import { DRILL_STEPS, type DrillReport } from '../drill/drill.js';

export function renderTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/**
 * The store as chains: each full, then its incrementals indented beneath it in id order (the
 * order a restore applies them), then orphans, incomplete and unreadable backups. ENCRYPTED says
 * whether a restore needs an age identity, MAC whether the manifest is authenticated
 * (MANIFEST_HMAC_KEY): both from the manifest, which is what a restore follows.
 */
export function renderCatalog(c: Catalog, lastDrills?: ReadonlyMap<string, string>): string {
  const header = ['ID', 'SOURCE', 'KIND', 'STATUS', 'PARENT', 'STORED', 'RAW', 'DURATION', 'FROM_LSN', 'TO_LSN', 'ENCRYPTED', 'MAC', 'FINISHED'];
  // LAST_DRILL (drill/record.ts) only when some backup was drilled: "ok, 4m12s to ready".
  const drills = lastDrills?.size ? lastDrills : null;
  if (drills) header.push('LAST_DRILL');
  const byId = new Map(c.backups.map((b) => [b.manifest.id, b.manifest] as const));
  const row = (id: string, label: string, status: string): string[] => {
    const m = byId.get(id)!;
    // LSNs are the physical payload's; other sources' backups show '-' there.
    const lsn = isPhysical(m) ? m.source.lsn : { from: '-', to: '-' };
    const cells = [label, m.source.type, m.kind, status, m.parentId ?? '-', fmtBytes(m.storedBytes), fmtBytes(m.rawBytes), fmtDuration(m.durationMs), lsn.from, lsn.to, encryptedCell(m), m.mac ? 'yes' : 'no', m.finishedAt];
    if (drills) cells.push(drills.get(id) ?? '-');
    return cells;
  };
  const rows: string[][] = [];
  // 'ok' only for a backup a restore could reach (storage/chain-status.ts).
  const status = chainStatuses(c);
  const { chains, orphans } = buildChains(c.backups.map((b) => summarize(b.manifest)));
  for (const chain of chains) {
    rows.push(row(chain.full.id, chain.full.id, status.get(chain.full.id) ?? 'ok'));
    const incs = chain.members.slice(1);
    incs.forEach((m, i) => rows.push(row(m.id, `${i === incs.length - 1 ? '└─' : '├─'} ${m.id}`, status.get(m.id) ?? 'ok')));
  }
  for (const o of orphans) rows.push(row(o.id, o.id, 'orphan (full missing)'));
  for (const d of c.incomplete) {
    rows.push([d.id, d.source, d.kind, 'incomplete', '-', fmtBytes(d.objects.reduce((a, o) => a + o.size, 0)), '-', '-', '-', '-', '-', '-', '-', ...(drills ? ['-'] : [])]);
  }
  for (const b of c.broken) rows.push([b.dir.id, b.dir.source, b.dir.kind, 'unreadable', '-', '-', '-', '-', '-', '-', '-', '-', b.error, ...(drills ? ['-'] : [])]);
  if (!rows.length) return 'no backups in the store\n';
  return renderTable([header, ...rows]);
}

/** "age (2 keys)" or "no". */
function encryptedCell(m: Pick<Manifest, 'encryption'>): string {
  if (!m.encryption) return 'no';
  const n = m.encryption.recipients.length;
  return `${m.encryption.type} (${n} key${n === 1 ? '' : 's'})`;
}

/** Status words of the verify table: the JSON's `unchecked` reads as what it means. */
const VERIFY_STATUS: Readonly<Record<VerifyReport['backups'][number]['status'], string>> = {
  ok: 'ok',
  corrupt: 'corrupt',
  unchecked: 'could not check',
  incomplete: 'incomplete',
};

/**
 * `verify`'s report: one row per backup (ID, KIND, STATUS, DETAIL), every problem on its own line
 * under its backup, then the summary. Shared by `backupmate verify` and `backupmatectl verify`.
 */
export function renderVerify(r: VerifyReport): string {
  if (!r.backups.length) return `verify ${r.request}: no backups in the store\n`;
  const rows: string[][] = [['ID', 'KIND', 'STATUS', 'DETAIL']];
  for (const b of r.backups) {
    const notes = [...b.problems, ...b.warnings.map((w) => `warning: ${w}`)];
    const okDetail =
      b.volumes !== undefined
        ? `${b.volumes} volume${b.volumes === 1 ? '' : 's'}, ${fmtBytes(b.storedBytes ?? 0)} stored, ${fmtBytes(b.rawBytes ?? 0)} unpacked: checked end to end in ${fmtDuration(b.durationMs)}`
        : '';
    const first = b.status === 'ok' ? okDetail : (notes.shift() ?? '');
    rows.push([b.id, b.kind, VERIFY_STATUS[b.status] ?? b.status, first]);
    for (const n of notes) rows.push(['', '', '', n]);
  }
  return renderTable(rows) + `verify ${r.request}: ${r.summary}\n`;
}

/** A drill's report for a person (pure): the verdict, the time to ready and each step. */
export function renderDrill(r: DrillReport): string {
  const lines: string[] = [];
  const ms = r.stepsMs;
  const sub = ms.download !== undefined ? ` (download ${fmtDuration(ms.download)}, prepare ${fmtDuration(ms.prepare ?? 0)})` : '';
  const steps = DRILL_STEPS.filter((k) => ms[k] !== undefined)
    .map((k) => `${k} ${fmtDuration(ms[k]!)}${k === 'restore' ? sub : ''}`)
    .join(', ');
  if (r.status === 'ok') {
    lines.push(`drill of backup ${r.backupId} passed: restored server ready in ${fmtDuration(r.timeToReadyMs ?? 0)} (download, prepare, ${r.replay?.status === 'replayed' ? 'replay, ' : ''}start)`);
  } else {
    lines.push(`drill of backup ${r.backupId ?? '(none)'} FAILED at step ${r.failedStep}: ${r.error?.message}`);
  }
  if (r.chain.length) lines.push(`  chain:   ${r.chain.join(' -> ')}`);
  lines.push(`  steps:   ${steps}`);
  if (r.replay?.status === 'replayed') {
    const p = r.replay;
    const last = p.lastReplayed ? `, last ${p.lastReplayed.gtid} committed ${p.lastReplayed.committedAt}` : '';
    lines.push(`  replay:  ${p.transactions} transaction(s) from ${p.segments} archived segment(s) up to ${p.upTo} (that second left out): reached GTID ${p.reached || '(empty)'}${last}; ${fmtDuration(p.durationMs)}`);
  } else if (r.replay) {
    lines.push(`  replay:  no binlog replay (${r.replay.reason})`);
  }
  const t = r.tables;
  const recorded = t.recorded === null ? 'no inventory recorded at backup time' : `${t.recorded} recorded at backup time`;
  lines.push(`  tables:  ${t.checked} checked OK, ${t.failed.length} failed, ${t.missing.length} missing, ${t.emptied.length} emptied (${recorded})`);
  for (const f of t.failed.slice(0, 10)) lines.push(`    CHECK TABLE ${f.table}: ${f.message}`);
  if (t.uncheckable.length) lines.push(`  not checkable (engine): ${t.uncheckable.join(', ')}`);
  if (r.status === 'ok') lines.push(`  data:    ${r.databases} database(s), ${r.rows} row(s)`);
  return lines.join('\n') + '\n';
}
