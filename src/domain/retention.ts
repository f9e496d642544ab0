/**
 * Which backups prune deletes, and why. Pure: chains, incomplete directories, the limits and the
 * current time come in; a plan sorted by id comes out, so a dry run and the real run (given the
 * same listing) agree exactly.
 *
 * Contract:
 * - Only whole chains are deleted: an incremental is useless without its full and its parents.
 * - RETENTION_FULL_COUNT=N (N > 0) keeps the newest N chains (by the full's id).
 * - RETENTION_DAYS=D (D > 0) keeps a chain whose NEWEST member finished within the last D days,
 *   so a chain whose incrementals are recent is kept even when its full is old (restoring the
 *   newest incremental needs the full).
 * - When both are set, a chain is kept if EITHER rule keeps it (the union of what they keep).
 *   For a backup tool the safer reading of "keep 4 chains and 30 days" is "at least 4 chains and
 *   at least 30 days of restore points": deleting needs every configured rule to agree.
 * - Both 0 = retention off: no backup is deleted (incomplete directories still are, see below).
 * - The newest chain is never deleted, whatever the rules say: prune must never leave the store
 *   without a restorable backup.
 * - Nothing a kept backup depends on is deleted: the chains and orphans its parentId and fullId
 *   point at are kept too (chains are grouped by fullId, so this only matters when a manifest's
 *   links cross chains; it is checked anyway, to the fixed point).
 * - Orphan incrementals (their full is no longer in the store) cannot be restored; when retention
 *   is on they are deleted, unless a kept backup depends on them. When retention is off they are
 *   kept like everything else.
 * - Incomplete directories (no manifest) are deleted once EVERY object in them was last modified
 *   more than INCOMPLETE_GRACE_HOURS ago; a directory with an object of unknown age, or with no
 *   objects, is kept (it may belong to a job still running). This applies whether or not
 *   retention is on: leftovers of failed jobs only cost money.
 * - `keep` lists the ids of backups with a manifest that stay (incomplete directories are not in it).
 */
import type { BackupDir } from './catalog.js';
import type { BackupSummary, Chain } from './chain.js';
import { idToDate } from './ids.js';

export interface RetentionInput {
  now: Date;
  chains: readonly Chain[];
  orphans?: readonly BackupSummary[];
  incomplete: readonly BackupDir[];
  /** RETENTION_FULL_COUNT; 0 = no count rule. */
  keepFullCount: number;
  /** RETENTION_DAYS; 0 = no age rule. */
  keepDays: number;
  /** INCOMPLETE_GRACE_HOURS */
  incompleteGraceHours: number;
}

export interface RetentionPlan {
  /** Ids of backups with a manifest that are kept, sorted. */
  keep: string[];
  /** Backups to delete, sorted by id; every member of a deleted chain is listed. */
  deleteBackups: { id: string; kind: string; reason: string }[];
  /** Incomplete directories to delete, sorted by id; `keys` are every object in the directory, sorted. */
  deleteIncomplete: { id: string; kind: string; dir: string; keys: string[]; reason: string }[];
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** When a backup finished: finishedAt, or the instant its id names if finishedAt is unreadable. */
function finishedAtMs(b: BackupSummary): number {
  const t = Date.parse(b.finishedAt);
  return Number.isNaN(t) ? idToDate(b.id).getTime() : t;
}

/** A group deleted or kept as one: a chain, or a single orphan. */
interface Unit {
  members: readonly BackupSummary[];
  kept: boolean;
  /** Why the unit is deleted (used only when not kept). */
  reason: string;
}

export function planRetention(input: RetentionInput): RetentionPlan {
  const countOn = input.keepFullCount > 0;
  const daysOn = input.keepDays > 0;
  const retentionOn = countOn || daysOn;
  const cutoff = input.now.getTime() - input.keepDays * DAY_MS;

  const chains = [...input.chains].sort((a, b) => (a.full.id < b.full.id ? -1 : a.full.id > b.full.id ? 1 : 0));
  const units: Unit[] = chains.map((chain, i) => {
    const position = chains.length - i; // 1 = newest
    const newest = chain.members.reduce((a, b) => (finishedAtMs(b) > finishedAtMs(a) || (finishedAtMs(b) === finishedAtMs(a) && b.id > a.id) ? b : a));
    const keptByCount = countOn && position <= input.keepFullCount;
    const keptByAge = daysOn && finishedAtMs(newest) >= cutoff;
    const isNewest = position === 1;
    const why: string[] = [];
    if (countOn) why.push(`it is chain ${position} from the newest, beyond RETENTION_FULL_COUNT=${input.keepFullCount}`);
    if (daysOn) why.push(`its newest backup ${newest.id} finished at ${new Date(finishedAtMs(newest)).toISOString()}, more than ${input.keepDays} days ago (RETENTION_DAYS=${input.keepDays})`);
    return {
      members: chain.members,
      kept: !retentionOn || keptByCount || keptByAge || isNewest,
      reason: `chain of ${chain.full.id}: ${why.join(' and ')}`,
    };
  });
  for (const orphan of [...(input.orphans ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    units.push({
      members: [orphan],
      kept: !retentionOn,
      reason: `orphan incremental: its full backup ${orphan.fullId} no longer exists, so it cannot be restored`,
    });
  }

  // Dependencies, to the fixed point: whatever a kept backup links to stays.
  const unitOf = new Map<string, Unit>();
  for (const u of units) for (const b of u.members) unitOf.set(b.id, u);
  for (let changed = true; changed; ) {
    changed = false;
    for (const u of units) {
      if (!u.kept) continue;
      for (const b of u.members) {
        for (const link of [b.parentId, b.fullId]) {
          const dep = link === null ? undefined : unitOf.get(link);
          if (dep && !dep.kept) {
            dep.kept = true;
            changed = true;
          }
        }
      }
    }
  }

  const keep: string[] = [];
  const deleteBackups: RetentionPlan['deleteBackups'] = [];
  for (const u of units) {
    for (const b of u.members) {
      if (u.kept) keep.push(b.id);
      else deleteBackups.push({ id: b.id, kind: b.kind, reason: u.reason });
    }
  }
  keep.sort();
  deleteBackups.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const graceCutoff = input.now.getTime() - input.incompleteGraceHours * HOUR_MS;
  const deleteIncomplete: RetentionPlan['deleteIncomplete'] = [];
  for (const d of [...input.incomplete].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (d.hasManifest || d.objects.length === 0) continue;
    const times = d.objects.map((o) => o.lastModified?.getTime());
    if (times.some((t) => t === undefined || Number.isNaN(t) || t >= graceCutoff)) continue;
    const newest = Math.max(...(times as number[]));
    deleteIncomplete.push({
      id: d.id,
      kind: d.kind,
      dir: d.dir,
      keys: d.objects.map((o) => o.key).sort(),
      reason: `incomplete ${d.kind} backup (no manifest): its newest object was written at ${new Date(newest).toISOString()}, more than ${input.incompleteGraceHours} hours ago (INCOMPLETE_GRACE_HOURS=${input.incompleteGraceHours})`,
    });
  }

  return { keep, deleteBackups, deleteIncomplete };
}
