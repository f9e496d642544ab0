/**
 * The physical (mariabackup) manifest payload: LSNs, binlog position, the server's identity and
 * the tools' versions. Checked when a catalog is read; restore trusts nothing else.
 */
import { BackupmateError } from '../../domain/errors.js';
import { isServerIdentity, type Manifest, type PhysicalPayload } from '../../domain/manifest.js';

export type { PhysicalPayload } from '../../domain/manifest.js';
export const PHYSICAL = 'physical';

/** Checks a `source` object of type physical; throws INTEGRITY saying what was expected. */
export function parsePhysicalPayload(raw: unknown, where = 'a manifest'): PhysicalPayload {
  const p = raw as Record<string, unknown>;
  const problems: string[] = [];
  const need = (cond: boolean, what: string) => {
    if (!cond) problems.push(what);
  };
  need(typeof p === 'object' && p !== null && p.type === PHYSICAL, 'source.type "physical"');
  if (problems.length) throw new BackupmateError('INTEGRITY', `${where}: expected ${problems.join('; ')}`);
  const lsn = p.lsn as Record<string, unknown> | undefined;
  need(!!lsn && ['from', 'to', 'last'].every((k) => typeof lsn[k] === 'string' && /^\d+$/.test(lsn[k] as string)), 'source.lsn.from/to/last as decimal strings');
  const b = p.binlog as Record<string, unknown> | null | undefined;
  need(
    b === null || (typeof b === 'object' && typeof b.file === 'string' && Number.isSafeInteger(b.position) && (b.gtid === null || typeof b.gtid === 'string')),
    'source.binlog null or {file, position, gtid}',
  );
  need(p.server === undefined || isServerIdentity(p.server), 'source.server absent or {host, datadir: non-empty strings, serverId: an integer >= 0}');
  const v = p.versions as Record<string, unknown> | undefined;
  need(!!v && typeof v.server === 'string' && typeof v.mariabackup === 'string', 'source.versions.server and .mariabackup as strings');
  if (problems.length) throw new BackupmateError('INTEGRITY', `${where} is malformed: expected ${problems.join('; ')}`);
  return raw as PhysicalPayload;
}

/** The physical payload of `m`; INTERNAL when `m` is another source's backup (a caller's mistake). */
export function physicalOf(m: Manifest): PhysicalPayload {
  if (m.source.type !== PHYSICAL) throw new BackupmateError('INTERNAL', `backup ${m.id} is a ${m.source.type} backup, not a physical one`);
  return m.source as PhysicalPayload;
}

export function isPhysical(m: Manifest): m is Manifest<PhysicalPayload> {
  return m.source.type === PHYSICAL;
}
