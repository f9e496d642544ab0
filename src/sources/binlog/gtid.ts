/**
 * MariaDB GTID positions, pure. A GTID is `domain-server-seqno`; a position holds at most one GTID
 * per replication domain (the last one applied in that domain), written `0-1-100,1-2-5`, which is
 * the form of `@@gtid_binlog_pos` and of `mariadb-binlog --start-position/--stop-position`.
 *
 * Ordering is per domain and by seqno only: within one domain seqnos grow (gtid_strict_mode makes
 * the server enforce it; without it they still grow on a single primary), while the server id of
 * a domain changes on failover. Nothing here compares across domains.
 */
import { BackupmateError } from '../../domain/errors.js';

export interface Gtid {
  domain: number;
  server: number;
  seq: number;
}

/** One GTID per domain, sorted by domain. Empty: no transaction yet (a fresh binlog history). */
export type GtidPos = Gtid[];

const GTID_RE = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;

export function parseGtid(text: string, what = 'GTID'): Gtid {
  const m = GTID_RE.exec(text.trim());
  if (!m) throw new BackupmateError('INTEGRITY', `${what}: expected domain-server-seqno (e.g. 0-1-42), got "${text}"`);
  const seq = Number(m[3]);
  if (!Number.isSafeInteger(seq)) throw new BackupmateError('INTEGRITY', `${what}: seqno ${m[3]} is beyond what backupmate handles (2^53)`);
  return { domain: Number(m[1]), server: Number(m[2]), seq };
}

export function formatGtid(g: Gtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}

/** Parses `0-1-100,1-2-5` (whitespace and newlines allowed, as the server prints it); '' is the empty position. */
export function parseGtidPos(text: string, what = 'GTID position'): GtidPos {
  const parts = text
    .split(/[,\s]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  const pos = parts.map((p) => parseGtid(p, what));
  const seen = new Set<number>();
  for (const g of pos) {
    if (seen.has(g.domain)) throw new BackupmateError('INTEGRITY', `${what}: domain ${g.domain} appears twice in "${text}"`);
    seen.add(g.domain);
  }
  return pos.sort((a, b) => a.domain - b.domain);
}

export function formatGtidPos(pos: GtidPos): string {
  return [...pos].sort((a, b) => a.domain - b.domain).map(formatGtid).join(',');
}

/** The position after applying `g` to `pos` (replaces that domain's GTID). */
export function advance(pos: GtidPos, g: Gtid): GtidPos {
  return [...pos.filter((p) => p.domain !== g.domain), g].sort((a, b) => a.domain - b.domain);
}

export function seqOf(pos: GtidPos, domain: number): number | null {
  return pos.find((p) => p.domain === domain)?.seq ?? null;
}

/** True when every domain of `a` is at or before the same domain in `b` (a ⊑ b): b includes a. */
export function includes(b: GtidPos, a: GtidPos): boolean {
  return a.every((g) => {
    const s = seqOf(b, g.domain);
    return s !== null && s >= g.seq;
  });
}

export function samePos(a: GtidPos, b: GtidPos): boolean {
  return includes(a, b) && includes(b, a);
}
