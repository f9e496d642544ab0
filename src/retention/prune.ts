/**
 * Prune: the ONE code path that deletes backups (pgBackRest's rule: write access is explicit).
 *
 * The plan is pure (domain/retention.ts); this file only reads the catalog, asks for the plan and,
 * unless it is a dry run, deletes exactly what the plan lists, logging every key. Per backup the
 * manifest goes first, so an interrupted prune leaves an incomplete directory (never offered for
 * restore, removed by the next prune), not a valid-looking backup with missing volumes. Chains
 * are deleted newest member first, so an interruption never strands incrementals without a full.
 */
import { buildChains, summarize } from '../domain/chain.js';
import { BackupmateError } from '../domain/errors.js';
import { MANIFEST_NAME } from '../domain/manifest.js';
import { planRetention, type RetentionPlan } from '../domain/retention.js';
import type { PhysicalPayload } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import { listArchive } from '../sources/binlog/reader.js';
import { planBinlogRetention } from '../sources/binlog/retention.js';
import { layoutOf, layoutPrefixes, type LayoutEntry } from '../sources/registry.js';
import { readCatalog, type Catalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { holdLocked, type LockFacts } from './object-lock.js';

export interface PruneSettings {
  fullPrefix: string;
  incrementalPrefix: string;
  /** DIRECTORY_BACKUP_PREFIX, when directory backups are configured. */
  directoryPrefix?: string;
  /** The whole store layout (sources/registry.ts); absent: the standard one of the prefixes above. */
  layout?: readonly LayoutEntry[];
  keepFullCount: number;
  keepDays: number;
  incompleteGraceHours: number;
  /** S3_OBJECT_LOCK_DAYS when S3_OBJECT_LOCK_MODE is set, else 0: deletions wait for locks (object-lock.ts). */
  objectLockDays?: number;
  /** BINLOG_PREFIX: the binlog archive, pruned to what the kept backups replay from (absent: untouched). */
  binlogPrefix?: string;
}

export interface PruneResult {
  plan: RetentionPlan;
  /** Every object key deleted (or that would be, for a dry run), in deletion order. */
  keys: string[];
  dryRun: boolean;
}

export async function prune(storage: Storage, logger: Logger, s: PruneSettings, opts: { dryRun: boolean; now?: Date }): Promise<PruneResult> {
  const catalog = await readCatalog(storage, layoutOf(s));
  if (catalog.broken.length) {
    // An unreadable manifest could be a full whose incrementals would then look orphaned: stop.
    throw new BackupmateError(
      'INTEGRITY',
      `prune refuses to run while manifests are unreadable: ${catalog.broken.map((b) => `${b.dir.dir} (${b.error})`).join('; ')}`,
    );
  }
  // The rules hold per source: KEEP_FULL_COUNT fulls of the physical backups AND of the
  // directory backups, never the newest fulls of one source pushing out the other's.
  const sources = [...new Set([...catalog.backups.map((b) => b.manifest.source.type), ...catalog.incomplete.map((d) => d.source)])].sort();
  const plans = sources.map((type) => {
    const { chains, orphans } = buildChains(catalog.backups.filter((b) => b.manifest.source.type === type).map((b) => summarize(b.manifest)));
    return planRetention({
      now: opts.now ?? new Date(),
      chains,
      orphans,
      incomplete: catalog.incomplete.filter((d) => d.source === type),
      keepFullCount: s.keepFullCount,
      keepDays: s.keepDays,
      incompleteGraceHours: s.incompleteGraceHours,
    });
  });
  const now = opts.now ?? new Date();
  const { plan, held } = holdLocked(mergePlans(plans), lockFacts(catalog), s.objectLockDays ?? 0, now);
  for (const h of held) {
    logger.info(`prune keeps ${h.id} for now: its chain is under S3 Object Lock until ${h.until}`, { event: 'prune.held', id: h.id, until: h.until });
  }
  const keys = deletionOrder(catalog, plan);
  // The binlog archive after the backups: it is kept from where the oldest kept backup replays.
  if (s.binlogPrefix) keys.push(...(await binlogPruneKeys(storage, s.binlogPrefix, catalog, plan)));
  const log = logger.child({ event: 'prune' });
  log.info(opts.dryRun ? 'prune (dry run): nothing will be deleted' : 'prune started', {
    event: 'prune.start',
    dryRun: opts.dryRun,
    keep: plan.keep,
    deleteBackups: plan.deleteBackups,
    deleteIncomplete: plan.deleteIncomplete.map(({ keys: _k, ...rest }) => rest),
    objects: keys.length,
  });
  if (!opts.dryRun) {
    await deleteKeys(storage, log, keys, 'retention');
    const aborted = await abortUnfinishedUploads(storage, log, s, [], opts.now);
    log.info('prune finished', { event: 'prune.end', status: 'succeeded', deletedObjects: keys.length, abortedUploads: aborted.length });
  }
  return { plan, keys, dryRun: opts.dryRun };
}

async function binlogPruneKeys(storage: Storage, prefix: string, catalog: Catalog, plan: RetentionPlan): Promise<string[]> {
  const listing = await listArchive(storage, prefix);
  const kept = new Set(plan.keep);
  const backups = catalog.backups
    .filter((b) => b.manifest.source.type === 'physical' && kept.has(b.manifest.id))
    .map((b) => ({ id: b.manifest.id, finishedAt: b.manifest.finishedAt, gtid: (b.manifest.source as PhysicalPayload).binlog?.gtid ?? null }));
  return planBinlogRetention(listing, backups).deleteKeys;
}

/**
 * The narrow path every deletion of stored backups goes through (retention, and the removal of
 * dead jobs' leftovers): one object at a time, each logged with why.
 */
export async function deleteKeys(storage: Storage, log: Logger, keys: readonly string[], why: string): Promise<void> {
  for (const key of keys) {
    await storage.delete([key]);
    log.info(`deleted ${key} (${why})`, { event: 'prune.delete', key, why });
  }
}

/**
 * Removes what jobs that died with the daemon left behind (kill -9, power loss): the incomplete
 * backup directories with those ids. Called at daemon start, when no job of ours can be running,
 * so no grace period is needed for them; other incomplete backups wait for INCOMPLETE_GRACE_HOURS.
 */
export async function removeDeadJobLeftovers(storage: Storage, logger: Logger, s: PruneSettings, backupIds: readonly string[]): Promise<string[]> {
  if (!backupIds.length) return [];
  const catalog = await readCatalog(storage, layoutOf(s));
  const dead = catalog.incomplete.filter((d) => backupIds.includes(d.id));
  const keys = dead.flatMap((d) => d.objects.map((o) => o.key));
  await deleteKeys(storage, logger, keys, 'left by a job that died with the daemon');
  return keys;
}

/**
 * Aborts unfinished uploads (S3 multipart uploads, partial files) under our prefixes: at once for
 * the dead jobs' backup ids, after INCOMPLETE_GRACE_HOURS for the rest (another process may still
 * be writing them). Stores that cannot list them are skipped with a debug line.
 */
export async function abortUnfinishedUploads(
  storage: Storage,
  logger: Logger,
  s: PruneSettings,
  deadBackupIds: readonly string[],
  now = new Date(),
): Promise<string[]> {
  if (!storage.listUnfinished || !storage.abortUnfinished) return [];
  const aborted: string[] = [];
  for (const prefix of layoutPrefixes(layoutOf(s))) {
    let uploads;
    try {
      uploads = await storage.listUnfinished(prefix);
    } catch (e) {
      logger.debug(`the store cannot list unfinished uploads under ${prefix}: ${(e as Error).message}`, { event: 'cleanup.unfinished_unsupported' });
      continue;
    }
    for (const u of uploads) {
      const id = u.key.slice(prefix.length).split('/')[0];
      const old = u.startedAt !== null && now.getTime() - u.startedAt.getTime() > s.incompleteGraceHours * 3_600_000;
      if (!deadBackupIds.includes(id) && !old) continue;
      await storage.abortUnfinished(u);
      aborted.push(u.key);
      logger.info(`aborted unfinished upload of ${u.key}`, { event: 'prune.abort_upload', key: u.key, why: old ? 'older than INCOMPLETE_GRACE_HOURS' : 'left by a job that died with the daemon' });
    }
  }
  return aborted;
}

function lockFacts(catalog: Catalog): LockFacts {
  return {
    backups: new Map(catalog.backups.map((b) => [b.manifest.id, { fullId: b.manifest.fullId, finishedAt: b.manifest.finishedAt }])),
    incomplete: new Map(
      catalog.incomplete.map((d) => {
        const times = d.objects.map((o) => o.lastModified?.getTime() ?? NaN).filter((t) => !Number.isNaN(t));
        return [d.id, times.length ? Math.max(...times) : null];
      }),
    ),
  };
}

/** One plan of per-source plans, each list sorted by id as planRetention sorts it. */
function mergePlans(plans: readonly RetentionPlan[]): RetentionPlan {
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return {
    keep: plans.flatMap((p) => p.keep).sort(),
    deleteBackups: plans.flatMap((p) => p.deleteBackups).sort(byId),
    deleteIncomplete: plans.flatMap((p) => p.deleteIncomplete).sort(byId),
  };
}

/** Object keys to delete: per backup manifest first; backups newest first; incomplete dirs last. */
function deletionOrder(catalog: Catalog, plan: RetentionPlan): string[] {
  const keys: string[] = [];
  const doomed = [...plan.deleteBackups].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  for (const d of doomed) {
    const entry = catalog.backups.find((b) => b.manifest.id === d.id);
    if (!entry) continue;
    const manifestKey = entry.dir.dir + MANIFEST_NAME;
    keys.push(manifestKey, ...entry.dir.objects.map((o) => o.key).filter((k) => k !== manifestKey).sort());
  }
  for (const inc of plan.deleteIncomplete) keys.push(...inc.keys);
  return keys;
}
