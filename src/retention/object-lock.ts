/**
 * Prune planning around S3 Object Lock (S3_OBJECT_LOCK_MODE/DAYS). Pure.
 *
 * Every object of a backup is written with a retention date of its upload + N days, so nothing of
 * it can be removed before the backup's finishedAt + N days. Deleting a locked object of a
 * versioned (Object Lock) bucket does not fail: it hides the object behind a delete marker while
 * the data stays, so a prune that went ahead would make a chain vanish from every listing without
 * freeing anything. Hence the rule: a planned deletion waits until EVERY member of its chain is
 * past its lock (plus an hour for clock skew between this host and S3); chains are deleted whole
 * or not at all, never the unlocked full of a chain whose incrementals are still locked.
 */
import type { RetentionPlan } from '../domain/retention.js';

const DAY_MS = 86_400_000;
/** Allowance for this host's clock running ahead of the store's. */
export const LOCK_SKEW_MS = 3_600_000;

export interface LockFacts {
  /** Backups with a manifest: id -> its chain's full and when it finished (ISO). */
  backups: ReadonlyMap<string, { fullId: string; finishedAt: string }>;
  /** Incomplete directories: id -> newest lastModified of its objects (ms), or null when unknown. */
  incomplete: ReadonlyMap<string, number | null>;
}

export interface HeldBackup {
  id: string;
  /** When its chain's last lock ends (ISO). */
  until: string;
}

/** The plan with every deletion of a still-locked chain (or incomplete directory) moved to `keep`. */
export function holdLocked(plan: RetentionPlan, facts: LockFacts, lockDays: number, now: Date): { plan: RetentionPlan; held: HeldBackup[] } {
  if (lockDays <= 0) return { plan, held: [] };
  const span = lockDays * DAY_MS + LOCK_SKEW_MS;
  const unlockAt = (finishedAt: string) => {
    const t = Date.parse(finishedAt);
    // Unreadable time: treat as locked from now (never delete on a guess).
    return (Number.isNaN(t) ? now.getTime() : t) + span;
  };
  // The chain's lock ends with its youngest member's, over every member planned for deletion AND
  // every member kept (a kept incremental of a deleted full cannot happen, but be safe).
  const chainUntil = new Map<string, number>();
  for (const [, b] of facts.backups) chainUntil.set(b.fullId, Math.max(chainUntil.get(b.fullId) ?? 0, unlockAt(b.finishedAt)));
  const held: HeldBackup[] = [];
  const deleteBackups = plan.deleteBackups.filter((d) => {
    const b = facts.backups.get(d.id);
    const until = b ? (chainUntil.get(b.fullId) ?? unlockAt(b.finishedAt)) : now.getTime() + span;
    if (until <= now.getTime()) return true;
    held.push({ id: d.id, until: new Date(until).toISOString() });
    return false;
  });
  const deleteIncomplete = plan.deleteIncomplete.filter((d) => {
    const newest = facts.incomplete.get(d.id);
    const until = (newest ?? now.getTime()) + span;
    if (until <= now.getTime()) return true;
    held.push({ id: d.id, until: new Date(until).toISOString() });
    return false;
  });
  const keep = [...plan.keep, ...held.filter((h) => facts.backups.has(h.id)).map((h) => h.id)].sort();
  return { plan: { keep, deleteBackups, deleteIncomplete }, held };
}
