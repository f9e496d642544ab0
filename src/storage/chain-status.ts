/**
 * What `list` says about each readable backup: 'ok' only when a restore could reach it, that is
 * every parent link up to its chain's root leads to a readable backup of the same chain (and, for
 * physical backups, the link's LSNs continue: physicalLinkProblems). Otherwise the member and
 * every backup built on it read `broken chain: …` naming the first bad link, so `list` never
 * shows 'ok' for a backup a restore refuses (restore and verify apply the full chain rules).
 *
 * Pure: from the catalog alone, no downloads.
 */
import { isChainRoot, summarize } from '../domain/chain.js';
import type { Manifest } from '../domain/manifest.js';
import { physicalLinkProblems, physicalSummary } from '../sources/physical/chain.js';
import { isPhysical } from '../sources/physical/payload.js';
import type { Catalog } from './catalog.js';

/** Status per readable backup id: 'ok' or 'broken chain: <why>'. */
export function chainStatuses(c: Pick<Catalog, 'backups' | 'incomplete' | 'broken'>): Map<string, string> {
  const byId = new Map(c.backups.map((b) => [b.manifest.id, b.manifest] as const));
  const incomplete = new Set(c.incomplete.map((d) => d.id));
  const unreadable = new Set(c.broken.map((b) => b.dir.id));
  const out = new Map<string, string>();
  const statusOf = (m: Manifest, seen: Set<string>): string => {
    const known = out.get(m.id);
    if (known !== undefined) return known;
    let s: string;
    if (isChainRoot(summarize(m))) s = 'ok';
    else if (seen.has(m.id)) s = `broken chain: ${m.id} is its own ancestor`;
    else if (!m.parentId) s = `broken chain: incremental ${m.id} names no parent`;
    else {
      const p = byId.get(m.parentId);
      if (!p) {
        const why = incomplete.has(m.parentId) ? 'is incomplete (no manifest)' : unreadable.has(m.parentId) ? 'is unreadable' : 'is missing';
        s = `broken chain: parent ${m.parentId} ${why}`;
      } else if (p.source.type !== m.source.type || p.fullId !== m.fullId) {
        s = `broken chain: parent ${p.id} belongs to another chain`;
      } else {
        const link = isPhysical(p) && isPhysical(m) ? physicalLinkProblems(physicalSummary(p), physicalSummary(m)) : [];
        if (link.length) s = `broken chain: ${link[0].message}`;
        else {
          seen.add(m.id);
          const ps = statusOf(p, seen);
          s = ps === 'ok' ? 'ok' : ps.startsWith('broken chain: ') ? ps : `broken chain: parent ${p.id} is ${ps}`;
        }
      }
    }
    out.set(m.id, s);
    return s;
  };
  for (const b of c.backups) statusOf(b.manifest, new Set());
  return out;
}
