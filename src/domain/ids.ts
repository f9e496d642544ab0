/**
 * Backup ids are UTC timestamps that sort as text: `20261121T040000Z`.
 *
 * Users type ids in many shapes at 3 a.m. (`2026-11-21T04:00:00Z`, `2026-11-21 04:00`, a prefix
 * like `20261121`, or `latest`), so resolution accepts any unambiguous form and, when it fails,
 * names the nearest ids that do exist.
 */
import { BackupmateError } from './errors.js';

const ID_RE = /^\d{8}T\d{6}Z$/;

export function isBackupId(s: string): boolean {
  return ID_RE.test(s);
}

/** The id for a backup started at `at` (second precision, UTC). */
export function backupIdFor(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** The instant an id stands for. */
export function idToDate(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  if (!m) throw new BackupmateError('USAGE', `not a backup id: expected a form like 20261121T040000Z, got "${id}"`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/**
 * Normalises what a user typed into an id or an id prefix: strips separators so that
 * `2026-11-21T04:00:00Z`, `2026-11-21 04:00` and `20261121T0400` all become comparable with ids.
 * Returns null when the text cannot be a timestamp at all.
 */
export function normaliseIdText(text: string): string | null {
  const t = text.trim().toUpperCase();
  const m = /^(\d{4})-?(\d{2})?-?(\d{2})?(?:[T ](\d{2}):?(\d{2})?:?(\d{2})?)?(Z)?$/.exec(t);
  if (!m) return null;
  let s = m[1] + (m[2] ?? '') + (m[3] ?? '');
  if (m[4] !== undefined) s += 'T' + m[4] + (m[5] ?? '') + (m[6] ?? '');
  if (m[7] && s.length === 15) s += 'Z';
  return s;
}

/**
 * Picks the one id among `known` that `wanted` designates: `latest`, an exact id, or an
 * unambiguous prefix of one. `known` needs no order.
 */
export function resolveId(wanted: string, known: readonly string[]): string {
  const sorted = [...known].sort();
  if (wanted === 'latest') {
    const last = sorted[sorted.length - 1];
    if (!last) throw new BackupmateError('BACKUP_NOT_FOUND', 'no valid backup in the store: "latest" has nothing to name');
    return last;
  }
  const norm = normaliseIdText(wanted);
  if (norm === null) {
    throw new BackupmateError(
      'USAGE',
      `backup id: expected "latest", an id like 20261121T040000Z or a timestamp like 2026-11-21T04:00:00Z, got "${wanted}"`,
    );
  }
  const exact = sorted.find((id) => id === norm);
  if (exact) return exact;
  const matches = sorted.filter((id) => id.startsWith(norm));
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new BackupmateError(
      'USAGE',
      `backup id "${wanted}" is ambiguous: it matches ${matches.length} backups (${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', ...' : ''}); give more digits`,
    );
  }
  const near = nearestIds(norm, sorted, 3);
  throw new BackupmateError(
    'BACKUP_NOT_FOUND',
    `no valid backup with id "${wanted}"` + (near.length ? `; nearest: ${near.join(', ')}` : '; the store has no valid backups'),
  );
}

/** The `n` ids closest in time to a (possibly partial) normalised id text. */
export function nearestIds(norm: string, ids: readonly string[], n: number): string[] {
  // Missing month and day mean the first of them (00 would roll back into the previous month).
  const padded = (norm + '00000101T000000Z'.slice(norm.length)).slice(0, 16);
  let target: number;
  try {
    target = idToDate(padded.endsWith('Z') ? padded : padded + 'Z').getTime();
  } catch {
    return ids.slice(-n);
  }
  return [...ids]
    .sort((a, b) => Math.abs(idToDate(a).getTime() - target) - Math.abs(idToDate(b).getTime() - target))
    .slice(0, n)
    .sort();
}
