/**
 * Physical backups: what the next one should be: a full, or an incremental on which parent.
 *
 * Pure: the store's valid backups, the configuration and the current time come in; a decision and
 * a one-sentence reason naming the facts behind it come out. The reason is logged and shown to
 * the user, so it names ids, versions, ticks and limits, not just "chain too long".
 *
 * Rules for 'auto' (the scheduler's request), first match wins:
 * 1. no valid full in the store → full;
 * 2. the running server's major.minor differs from the newest full's → full (an incremental
 *    across a version change could not be prepared with one mariabackup);
 * 3. the server's history does not continue the would-be parent → full (historyBreaks): its
 *    current LSN is below the parent's last_lsn, a restore into its datadir was recorded after the
 *    parent finished, or it is another server (host, datadir or server_id differ from the
 *    parent's). An incremental taken then would end below where it starts and never prepare;
 * 4. a tick of the full schedule happened after the newest full started → full (ticks are
 *    computed by croner in the configured zone: DST days and month ends come out right);
 * 5. the newest chain already holds MAX_CHAIN_LENGTH incrementals → full;
 * 6. the chosen parent is not restorable (broken link, LSN gap, incomplete ancestor, tool
 *    version mismatch: see resolveRestoreChain) → full, since an incremental on it would not be
 *    restorable either;
 * otherwise an incremental on the parent INCREMENTAL_BASE names: 'latest' = the newest valid
 * backup of the newest chain, 'full' = the full itself (differential).
 * Incomplete backups are never parents; when the newest thing in the store is incomplete the
 * reason says so, because it usually means the previous job failed.
 *
 * A requested 'full' is always a full. A requested 'incremental' skips rules 4 and 5 (they are
 * about automatic backups) and refuses, instead of silently taking a full, when rule 1, 2, 3 or
 * 6 would apply.
 */
import { buildChains, majorMinor, versionsDiffer, type Chain } from '../../domain/chain.js';
import { BackupmateError } from '../../domain/errors.js';
import { idToDate } from '../../domain/ids.js';
import type { ServerIdentity } from '../../domain/manifest.js';
import { formatInZone, lastTickAtOrBefore, scheduleLabel } from '../../domain/schedule.js';
import { lsnBelow, resolveRestoreChain, type PhysicalSummary } from './chain.js';

/** A restore that put data into the server's datadir, as its marker file records it (mariadb/restore-marker.ts). */
export interface RecordedRestore {
  restoredBackupId: string;
  /** ISO 8601. */
  restoredAt: string;
  toLsn: string;
}

/** What the running server says about its history. An absent fact is not checked. */
export interface ServerFacts {
  /** SHOW GLOBAL STATUS Innodb_lsn_current. */
  currentLsn?: string;
  identity?: ServerIdentity;
  /** The restore recorded in the server's datadir; null = none. */
  lastRestore?: RecordedRestore | null;
}

export interface PlanInput {
  now: Date;
  /** IANA zone the full schedule is read in; '' or undefined = the system zone. */
  timeZone?: string;
  /** FULL_BACKUP_SCHEDULE: preset word or cron expression; 'off' disables the schedule rule. */
  fullSchedule: string;
  incrementalBase: 'latest' | 'full';
  maxChainLength: number;
  /** Version of the running server, e.g. '10.11.19-MariaDB'. */
  serverVersion: string;
  /** Backups with a valid manifest. */
  valid: readonly PhysicalSummary[];
  /** Ids of backup directories without a manifest. */
  incompleteIds?: readonly string[];
  requested?: 'full' | 'incremental' | 'auto';
  /** Facts about the running server's history (rule 3); absent = not checked. */
  server?: ServerFacts;
}

export type Plan =
  | { kind: 'full'; reason: string }
  | {
      kind: 'incremental';
      parent: PhysicalSummary;
      full: PhysicalSummary;
      /** Incrementals in the chain once this one is taken. */
      chainLength: number;
      reason: string;
    };

/** When a backup started: its startedAt, or the instant its id names if startedAt is unreadable. */
function startedAtMs(b: PhysicalSummary): number {
  const t = Date.parse(b.startedAt);
  return Number.isNaN(t) ? idToDate(b.id).getTime() : t;
}

/**
 * Why the server's history does not continue `parent` (rule 3), one clause per contradiction; []
 * when nothing contradicts it. Pure.
 */
export function historyBreaks(parent: PhysicalSummary, facts: ServerFacts | undefined): string[] {
  if (!facts) return [];
  const out: string[] = [];
  const id = facts.identity;
  if (id && parent.server) {
    for (const field of ['host', 'datadir', 'serverId'] as const) {
      if (id[field] !== parent.server[field]) out.push(`the server's ${field} is ${id[field]} but ${parent.id} was taken from ${field} ${parent.server[field]}`);
    }
  }
  const r = facts.lastRestore;
  if (r && Date.parse(r.restoredAt) > Date.parse(parent.finishedAt)) {
    out.push(`backup ${r.restoredBackupId} was restored into the server's datadir at ${r.restoredAt}, after ${parent.id} finished at ${parent.finishedAt}`);
  }
  // last_lsn, not to_lsn: to_lsn is the checkpoint the backup started from, which may lag far
  // behind; everything up to last_lsn is in the backup, and a server continuing it can only be
  // further on (LSNs never go back).
  const end = lsnBelow(parent.lsn.last, parent.lsn.to) ? parent.lsn.to : parent.lsn.last;
  if (facts.currentLsn !== undefined && lsnBelow(facts.currentLsn, end)) {
    out.push(`the server's current LSN ${facts.currentLsn} is below ${end}, where ${parent.id} ends (its last_lsn)`);
  }
  return out;
}

export function planBackup(input: PlanInput): Plan {
  const requested = input.requested ?? 'auto';
  if (requested === 'full') return { kind: 'full', reason: 'requested' };

  const { chains } = buildChains(input.valid);
  const newestValidId = [...input.valid.map((b) => b.id)].sort().at(-1);
  const newestIncompleteId = [...(input.incompleteIds ?? [])].sort().at(-1);
  // Appended to reasons: the previous job most likely failed, which the user wants to know.
  const incompleteNote =
    newestIncompleteId !== undefined && (newestValidId === undefined || newestIncompleteId > newestValidId)
      ? `; the newest backup in the store, ${newestIncompleteId}, is incomplete and is ignored`
      : '';
  const full = (reason: string): Plan => ({ kind: 'full', reason: reason + incompleteNote });

  const chain: Chain<PhysicalSummary> | undefined = chains.at(-1);
  if (!chain) {
    if (requested === 'incremental') {
      throw new BackupmateError(
        'BACKUP_NOT_FOUND',
        `cannot take an incremental backup: there is no valid full backup in the store to base it on${incompleteNote}; take a full backup first`,
        { stage: 'plan', incompleteIds: [...(input.incompleteIds ?? [])] },
      );
    }
    return full('no valid full backup in the store');
  }

  const fullB = chain.full;
  const incrementals = chain.members.length - 1;

  // Rule 2: server version change.
  if (versionsDiffer(input.serverVersion, fullB.versions.server)) {
    const why =
      `the server version changed from ${fullB.versions.server} (full ${fullB.id}) to ${input.serverVersion}: ` +
      `major.minor ${majorMinor(fullB.versions.server)} vs ${majorMinor(input.serverVersion)}`;
    if (requested === 'incremental') {
      throw new BackupmateError('BACKUP_NOT_FOUND', `cannot take an incremental backup: ${why}, so no backup in the store can be its base; take a full backup first`, {
        stage: 'plan',
        full: fullB.id,
        fullServerVersion: fullB.versions.server,
        serverVersion: input.serverVersion,
      });
    }
    return full(why);
  }

  const parent = input.incrementalBase === 'full' ? fullB : chain.members.at(-1)!;
  // Rule 3: the server's history must continue the parent's.
  const breaks = historyBreaks(parent, input.server);
  if (breaks.length) {
    if (requested === 'incremental') {
      throw new BackupmateError(
        'BACKUP_NOT_FOUND',
        `cannot take an incremental backup on ${parent.id}: the server's history does not continue it (${breaks.join('; ')}), ` +
          'so no backup in the store can be its base; take a full backup to start a new chain',
        { stage: 'plan', parent: parent.id, full: fullB.id, breaks },
      );
    }
    return full(`the server's history does not continue ${parent.id} (chain of ${fullB.id}): ${breaks.join('; ')}, so a new chain starts`);
  }

  if (requested === 'auto') {
    // Rule 4: a full-schedule tick since the newest full started.
    const tick = lastTickAtOrBefore(input.fullSchedule, input.now, input.timeZone);
    if (tick && tick.getTime() > startedAtMs(fullB)) {
      return full(`newest full ${fullB.id} started before the ${scheduleLabel(input.fullSchedule)} full tick at ${formatInZone(tick, input.timeZone)}`);
    }
    // Rule 5: chain length.
    if (incrementals >= input.maxChainLength) {
      return full(`chain of ${fullB.id} has ${incrementals} incremental${incrementals === 1 ? '' : 's'} (MAX_CHAIN_LENGTH=${input.maxChainLength})`);
    }
  }

  // Rule 6: the parent must itself be restorable.
  try {
    resolveRestoreChain(parent, input.valid, input.incompleteIds ?? []);
  } catch (e) {
    if (!(e instanceof BackupmateError)) throw e;
    // The inner message names the exact broken link, which may lie deeper than the parent.
    const inner = e.message.replace(/^cannot restore \S+: /, '');
    if (requested === 'incremental') {
      throw new BackupmateError('INTEGRITY', `cannot take an incremental backup on ${parent.id}: it is not restorable (${inner}); take a full backup to start a new chain`, {
        ...e.details,
        parent: parent.id,
      });
    }
    const why = `the newest backup of the chain of ${fullB.id}, ${parent.id}, is not restorable (${inner})`;
    return full(`${why}, so a new chain starts`);
  }

  const chainLength = incrementals + 1;
  const base =
    input.incrementalBase === 'full'
      ? `differential incremental on full ${fullB.id} (INCREMENTAL_BASE=full)`
      : parent.id === fullB.id
        ? `incremental on full ${fullB.id}, the newest backup of its chain`
        : `incremental on ${parent.id}, the newest backup of the chain of ${fullB.id}`;
  const position =
    chainLength > input.maxChainLength
      ? `it will be incremental ${chainLength} of the chain (MAX_CHAIN_LENGTH=${input.maxChainLength} applies to automatic backups only)`
      : `it will be incremental ${chainLength} of MAX_CHAIN_LENGTH=${input.maxChainLength}`;
  return {
    kind: 'incremental',
    parent,
    full: fullB,
    chainLength,
    reason: `${requested === 'incremental' ? 'requested ' : ''}${base}; ${position}${incompleteNote}`,
  };
}
