/**
 * Chains: a root backup (a full) and the backups taken on it, and the generic part of what a
 * restore needs from them.
 *
 * Pure logic over backup summaries (the envelope fields that matter for chaining). Callers read
 * the manifests and list incomplete directories; this module groups backups into chains, selects
 * a restore target and walks a target's parent links back to its root, refusing broken links
 * with a message that names them. What makes a link valid beyond that (LSN continuity, tool
 * versions...) is the source type's own rule (sources/<type>/chain.ts). A restore that silently
 * skips a link restores the wrong data; refusing is the only safe answer.
 */
import { BackupmateError } from './errors.js';
import { resolveId } from './ids.js';
import type { Manifest } from './manifest.js';
import { instantsForWallClock, resolveTimeZone, zoneOffsetMs } from './schedule.js';

/** The envelope fields chaining, planning and retention need. */
export interface BackupSummary {
  id: string;
  /** The source type (manifest.source.type). */
  source: string;
  kind: string;
  parentId: string | null;
  fullId: string;
  startedAt: string;
  finishedAt: string;
  rawBytes: number;
  storedBytes: number;
}

/** The summary of a manifest (copies: later changes to the manifest don't show through). */
export function summarize(m: Manifest): BackupSummary {
  return {
    id: m.id,
    source: m.source.type,
    kind: m.kind,
    parentId: m.parentId,
    fullId: m.fullId,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    rawBytes: m.rawBytes,
    storedBytes: m.storedBytes,
  };
}

/** Whether a backup is the root of its chain (a full: no parent, its own fullId). */
export function isChainRoot(b: Pick<BackupSummary, 'id' | 'kind' | 'parentId' | 'fullId'>): boolean {
  return b.kind === 'full' || (b.parentId === null && b.fullId === b.id);
}

export interface Chain<S extends BackupSummary = BackupSummary> {
  full: S;
  /** The full first, then its incrementals (every incremental whose fullId is the full's id) ordered by id. */
  members: S[];
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Groups backups into chains by fullId. Chains come oldest first (by the full's id); incrementals
 * whose full is not among `backups` are orphans (ordered by id). Grouping does not check parent
 * links: walkChain and the source's chain rules do, for the backups a restore actually needs.
 */
export function buildChains<S extends BackupSummary>(backups: readonly S[]): { chains: Chain<S>[]; orphans: S[] } {
  const fulls = backups.filter(isChainRoot).sort(byId);
  const chains = new Map<string, Chain<S>>(fulls.map((f) => [f.id, { full: f, members: [f] }]));
  const orphans: S[] = [];
  for (const b of [...backups].filter((x) => !isChainRoot(x)).sort(byId)) {
    const chain = chains.get(b.fullId);
    if (chain) chain.members.push(b);
    else orphans.push(b);
  }
  return { chains: fulls.map((f) => chains.get(f.id)!), orphans };
}

/**
 * "major.minor" of a version string ("10.11.19-MariaDB-log" → "10.11",
 * "mariabackup based on MariaDB server 11.4.3-MariaDB" → "11.4"), or null when it has none
 * (e.g. "unknown").
 */
export function majorMinor(version: string): string | null {
  const m = /(\d+)\.(\d+)/.exec(version);
  return m ? `${Number(m[1])}.${Number(m[2])}` : null;
}

/**
 * Whether two versions have a different major.minor. Versions we cannot read are not called
 * different: refusing on "unknown" would block every restore of a backup whose xtrabackup_info
 * lacked the field, while a real mismatch is still caught by mariabackup itself.
 */
export function versionsDiffer(a: string, b: string): boolean {
  const ma = majorMinor(a);
  const mb = majorMinor(b);
  return ma !== null && mb !== null && ma !== mb;
}

/**
 * The backups from `target`'s root to `target`, in apply order: [root, ..., target].
 *
 * Follows parentId links from `target` back to its root, checking each link. Throws
 * BackupmateError('INTEGRITY') naming the broken link when:
 * - a backup that is not a root has no parentId, or the parent is not among `valid` (the message
 *   says whether the parent is incomplete, i.e. its id is in `incompleteIds`, or missing entirely);
 * - the parent belongs to another chain (its fullId differs), or the links loop;
 * - `link(parent, child)` (the source's continuity rule) names problems;
 * - the root reached is not the target's fullId.
 * The source's chain rules add checks over the whole chain (e.g. tool versions) after this.
 */
export function walkChain<S extends BackupSummary>(
  target: S,
  valid: readonly S[],
  incompleteIds: readonly string[],
  link: (parent: S, child: S) => { message: string; details?: Record<string, unknown> }[] = () => [],
): S[] {
  const known = new Map(valid.map((b) => [b.id, b]));
  const incomplete = new Set(incompleteIds);
  const fail = (message: string, details: Record<string, unknown>): never => chainFailure(target.id, message, details);

  const path: S[] = [target];
  const seen = new Set([target.id]);
  let cur = target;
  while (!isChainRoot(cur)) {
    const parentId = cur.parentId;
    if (!parentId) fail(`${cur.kind} ${cur.id} has no parent id in its manifest`, { backup: cur.id });
    const parent = known.get(parentId!);
    if (!parent) {
      if (incomplete.has(parentId!)) {
        fail(`backup ${cur.id} needs its parent ${parentId}, which is incomplete (it has no manifest: the job that wrote it did not finish)`, {
          backup: cur.id,
          parent: parentId,
          parentState: 'incomplete',
        });
      }
      fail(`backup ${cur.id} needs its parent ${parentId}, which is missing from the store`, { backup: cur.id, parent: parentId, parentState: 'missing' });
    }
    const p = parent!;
    if (seen.has(p.id)) fail(`the parent links loop back to ${p.id}`, { backup: cur.id, parent: p.id });
    if (p.fullId !== cur.fullId) {
      fail(`backup ${cur.id} belongs to the chain of full ${cur.fullId} but its parent ${p.id} belongs to the chain of full ${p.fullId}`, {
        backup: cur.id,
        parent: p.id,
      });
    }
    if (p.source !== cur.source) {
      fail(`backup ${cur.id} is a ${cur.source} backup but its parent ${p.id} is a ${p.source} one`, { backup: cur.id, parent: p.id });
    }
    const problems = link(p, cur);
    if (problems.length) fail(problems[0].message, { backup: cur.id, parent: p.id, ...problems[0].details });
    seen.add(p.id);
    path.push(p);
    cur = p;
  }
  const full = cur;
  if (full.id !== target.fullId) {
    fail(`its parent links lead to full ${full.id} but its manifest names full ${target.fullId}`, { full: full.id, fullId: target.fullId });
  }
  return path.reverse();
}

/** The INTEGRITY error of a chain that cannot be restored. */
export function chainFailure(targetId: string, message: string, details: Record<string, unknown>): never {
  throw new BackupmateError('INTEGRITY', `cannot restore ${targetId}: ${message}`, { target: targetId, ...details });
}

/** The newest of `backups` by id (ids are start timestamps). */
function newestById(backups: readonly BackupSummary[]): BackupSummary | undefined {
  return [...backups].sort(byId).at(-1);
}

/**
 * Which backup a restore request designates:
 * - 'latest': the newest valid backup;
 * - an id, timestamp or unambiguous id prefix (ids.resolveId over the valid ids); when it names
 *   an incomplete backup instead, BACKUP_NOT_FOUND says so;
 * - { time }: the newest backup (by finishedAt, then id) whose finishedAt <= time; when none,
 *   BACKUP_NOT_FOUND names the oldest backup's finish time.
 * Ambiguous or malformed ids throw USAGE (from resolveId).
 */
export function selectRestoreTarget<S extends BackupSummary>(request: string | { time: Date }, valid: readonly S[], incompleteIds: readonly string[]): S {
  const incompleteNote = incompleteIds.length
    ? ` (${incompleteIds.length} incomplete backup${incompleteIds.length === 1 ? '' : 's'} cannot be restored: ${[...incompleteIds].sort().slice(-3).join(', ')})`
    : '';
  if (valid.length === 0) {
    const what = typeof request === 'string' ? `"${request}"` : `time ${request.time.toISOString()}`;
    throw new BackupmateError('BACKUP_NOT_FOUND', `no valid backup in the store to restore for ${what}${incompleteNote}`, { incompleteIds: [...incompleteIds] });
  }
  if (typeof request !== 'string') {
    const time = request.time.getTime();
    const finished = (b: S) => Date.parse(b.finishedAt);
    const candidates = valid.filter((b) => finished(b) <= time);
    if (candidates.length === 0) {
      const oldest = [...valid].sort((a, b) => finished(a) - finished(b) || byId(a, b))[0];
      throw new BackupmateError(
        'BACKUP_NOT_FOUND',
        `no backup finished at or before ${request.time.toISOString()}: the oldest valid backup, ${oldest.id}, finished at ${oldest.finishedAt}`,
        { time: request.time.toISOString(), oldest: oldest.id, oldestFinishedAt: oldest.finishedAt },
      );
    }
    return candidates.sort((a, b) => finished(a) - finished(b) || byId(a, b)).at(-1)!;
  }
  const validIds = valid.map((b) => b.id);
  let id: string;
  try {
    id = resolveId(request.trim(), validIds);
  } catch (e) {
    if (e instanceof BackupmateError && e.code === 'BACKUP_NOT_FOUND' && request.trim() !== 'latest') {
      let incompleteId: string | undefined;
      try {
        incompleteId = resolveId(request.trim(), incompleteIds);
      } catch {
        incompleteId = undefined;
      }
      if (incompleteId) {
        const newest = newestById(valid)!;
        throw new BackupmateError(
          'BACKUP_NOT_FOUND',
          `backup ${incompleteId} is incomplete (it has no manifest: the job that wrote it did not finish) and cannot be restored; the newest valid backup is ${newest.id}`,
          { id: incompleteId, state: 'incomplete', newest: newest.id },
        );
      }
    }
    throw e;
  }
  return valid.find((b) => b.id === id)!;
}

const TIME_FORMS = 'expected a time like "2026-11-21 10:30", "2026-11-21 10:30:00", "2026-11-21T10:30:00Z" or "2026-11-21 10:30:00+01:00"';

/**
 * Parses a --time argument: a date and a time of day (separated by "T" or a space), seconds and
 * fractions of a second optional, then optionally "Z" or an offset (+01:00, +0100, +01). Without
 * an offset the text is wall-clock time in `timeZone` ('' or undefined = the system zone).
 * Wall-clock times that do not exist (skipped by a DST change) or exist twice (repeated by one)
 * are refused with USAGE, naming the offsets to choose from: guessing the moment a restore goes
 * back to is not ours to do. Everything else malformed is USAGE listing the accepted forms.
 */
export function parseRestoreTime(text: string, timeZone?: string): Date {
  const t = text.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/.exec(t);
  if (!m) throw new BackupmateError('USAGE', `--time: ${TIME_FORMS}, got "${text}"`, { text });
  const [year, month, day, hour, minute] = [1, 2, 3, 4, 5].map((i) => Number(m[i]));
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));
  const daysInMonth = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    throw new BackupmateError('USAGE', `--time: "${text}" is not a valid date and time of day; ${TIME_FORMS}`, { text });
  }
  const wallUtc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (m[8]) return new Date(wallUtc);
  if (m[9]) {
    const oh = Number(m[10]);
    const om = m[11] === undefined ? 0 : Number(m[11]);
    if (oh > 23 || om > 59) throw new BackupmateError('USAGE', `--time: "${text}" has an invalid UTC offset; ${TIME_FORMS}`, { text });
    const sign = m[9] === '-' ? -1 : 1;
    return new Date(wallUtc - sign * (oh * 3_600_000 + om * 60_000));
  }
  let zoneName: string;
  let instants: Date[];
  try {
    zoneName = resolveTimeZone(timeZone);
    instants = instantsForWallClock({ year, month, day, hour, minute, second, ms }, timeZone);
  } catch (e) {
    throw new BackupmateError('CONFIG', `time zone "${timeZone}" is unknown: ${e instanceof Error ? e.message : String(e)}`, { timeZone });
  }
  if (instants.length === 1) return instants[0];
  const offsetText = (offMs: number) => {
    const off = Math.round(offMs / 60_000);
    const a = Math.abs(off);
    return `${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  };
  if (instants.length === 0) {
    const before = offsetText(zoneOffsetMs(new Date(wallUtc - 86_400_000), timeZone));
    const after = offsetText(zoneOffsetMs(new Date(wallUtc + 86_400_000), timeZone));
    throw new BackupmateError(
      'USAGE',
      `--time: "${text}" does not exist in ${zoneName}: the clocks jumped forward over it (UTC offset ${before} to ${after}); give a time outside the skipped interval or add the UTC offset you mean`,
      { text, timeZone: zoneName },
    );
  }
  const offsets = instants.map((d) => offsetText(wallUtc - d.getTime()));
  throw new BackupmateError(
    'USAGE',
    `--time: "${text}" happens twice in ${zoneName} (at ${offsets.join(' and at ')}, ${instants.map((d) => d.toISOString()).join(' and ')}) because the clocks went back; add the offset you mean, e.g. "${t}${offsets[0]}"`,
    { text, timeZone: zoneName, candidates: instants.map((d) => d.toISOString()) },
  );
}
