/**
 * Chain rules of physical (mariabackup) backups: an incremental is a delta from its parent's
 * to_lsn, and one mariabackup prepares the whole chain.
 *
 * Pure logic over physical summaries; domain/chain.ts walks the parent links, this module says
 * what makes a link and a chain valid.
 */
import { summarize, versionsDiffer, walkChain, chainFailure, type BackupSummary } from '../../domain/chain.js';
import type { Manifest, ServerIdentity } from '../../domain/manifest.js';
import { physicalOf } from './payload.js';

/** The summary fields of a physical backup that chaining and planning need. */
export interface PhysicalSummary extends BackupSummary {
  lsn: { from: string; to: string; last: string };
  versions: { server: string; mariabackup: string };
  /** The server it was taken from; absent for manifests written before the field existed. */
  server?: ServerIdentity;
}

/** The summary of a physical backup's manifest (copies). */
export function physicalSummary(m: Manifest): PhysicalSummary {
  const p = physicalOf(m);
  return {
    ...summarize(m),
    lsn: { from: p.lsn.from, to: p.lsn.to, last: p.lsn.last },
    versions: { server: p.versions.server, mariabackup: p.versions.mariabackup },
    ...(p.server ? { server: { host: p.server.host, datadir: p.server.datadir, serverId: p.server.serverId } } : {}),
  };
}

/** LSN equality on the 64-bit values (decimal strings compared as numbers, so "0012" = "12"). */
export function lsnEqual(a: string, b: string): boolean {
  try {
    return BigInt(a) === BigInt(b);
  } catch {
    return false;
  }
}

/** a < b on the 64-bit values; false when either is not a decimal number. */
export function lsnBelow(a: string, b: string): boolean {
  try {
    return BigInt(a) < BigInt(b);
  } catch {
    return false;
  }
}

/**
 * Why `cur` cannot follow `p` (empty = it can):
 * - an incremental's lsn.from is not its parent's lsn.to (the delta would not apply);
 * - an incremental's lsn.to is below its lsn.from: it was taken on a server whose history does
 *   not continue its parent's (typically after a restore to an older backup), and prepare fails
 *   on it with "log sequence number ... is in the future".
 */
export function physicalLinkProblems(p: PhysicalSummary, cur: PhysicalSummary): { message: string; details: Record<string, unknown> }[] {
  const out: { message: string; details: Record<string, unknown> }[] = [];
  if (!lsnEqual(cur.lsn.from, p.lsn.to)) {
    out.push({
      message: `backup ${cur.id} starts at LSN ${cur.lsn.from} but its parent ${p.id} ends at LSN ${p.lsn.to}`,
      details: { from: cur.lsn.from, parentTo: p.lsn.to },
    });
  }
  if (lsnBelow(cur.lsn.to, cur.lsn.from)) {
    out.push({
      message:
        `incremental ${cur.id} ends at LSN ${cur.lsn.to}, before it starts at LSN ${cur.lsn.from}: it was taken on a server whose history ` +
        `does not continue its parent ${p.id}'s (was an older backup restored?), so it cannot be prepared`,
      details: { from: cur.lsn.from, to: cur.lsn.to },
    });
  }
  return out;
}

/**
 * The backups to restore, in prepare order: [full, ..., target]. The generic walk
 * (domain/chain.ts walkChain: parents present, same chain, no loops, the right full), each link's
 * LSN continuity (physicalLinkProblems), and: a member's mariabackup or server major.minor
 * differs from the full's: prepare runs one mariabackup over the whole chain, and mariabackup only
 * prepares its own major.minor. Throws BackupmateError('INTEGRITY') naming the broken link.
 */
export function resolveRestoreChain<S extends PhysicalSummary>(target: S, valid: readonly S[], incompleteIds: readonly string[]): S[] {
  const chain = walkChain(target, valid, incompleteIds, physicalLinkProblems);
  const full = chain[0];
  for (const b of chain.slice(1)) {
    for (const tool of ['mariabackup', 'server'] as const) {
      if (versionsDiffer(b.versions[tool], full.versions[tool])) {
        chainFailure(
          target.id,
          `backup ${b.id} was taken with ${tool} ${b.versions[tool]} but its full ${full.id} with ${tool} ${full.versions[tool]}; ` +
            'one mariabackup prepares the whole chain, so its major.minor versions must match',
          { backup: b.id, full: full.id, tool, version: b.versions[tool], fullVersion: full.versions[tool] },
        );
      }
    }
  }
  return chain;
}
