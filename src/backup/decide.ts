/**
 * Gathers the facts the pure planner needs (catalog, server version, the server's history, clock)
 * and returns what to take, with the reason logged. Shared by `backupmate backup` and the daemon's
 * jobs.
 */
import type { Config } from '../config/load.js';
import { authenticateManifest } from '../domain/mac.js';
import type { Manifest } from '../domain/manifest.js';
import { planBackup, type Plan, type PlanInput, type ServerFacts } from '../sources/physical/plan.js';
import type { Logger } from '../log/logger.js';
import { readRestoreMarker } from '../mariadb/restore-marker.js';
import { serverState, serverVersion } from '../mariadb/server.js';
import { physicalSummary } from '../sources/physical/chain.js';
import { isPhysical } from '../sources/physical/payload.js';
import { standardLayout, type LayoutEntry } from '../sources/registry.js';
import { lockDirFor } from '../storage/lock.js';
import { readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import type { BackupSettings, BackupTarget } from './job.js';

/** The store layout (sources/registry.ts) of a configuration: where each source's backups live. */
export function catalogPrefixes(c: Config): LayoutEntry[] {
  const directoryPrefix = (c as Config & { DIRECTORY_BACKUP_PREFIX?: string }).DIRECTORY_BACKUP_PREFIX;
  const logicalPrefix = (c as Config & { LOGICAL_BACKUP_PREFIX?: string }).LOGICAL_BACKUP_PREFIX;
  return standardLayout({
    fullPrefix: c.FULL_BACKUP_PREFIX,
    incrementalPrefix: c.INCREMENTAL_BACKUP_PREFIX,
    ...(directoryPrefix ? { directoryPrefix } : {}),
    ...(logicalPrefix ? { logicalPrefix } : {}),
  });
}

/**
 * Where the store lock of a configuration lives (storage/lock.ts), and its lease: beside its
 * FULL_BACKUP_PREFIX and INCREMENTAL_BACKUP_PREFIX (the chains two writers could interleave), so
 * hosts with prefixes of their own in one bucket never block each other.
 */
export function storeLockOptions(c: Config, job: string): { dir: string; job: string; leaseMs: number } {
  return { dir: lockDirFor([c.FULL_BACKUP_PREFIX, c.INCREMENTAL_BACKUP_PREFIX]), job, leaseMs: c.STORE_LOCK_LEASE_SECONDS * 1000 };
}

/**
 * What the running server says about its history (plan.ts rule 3): its identity, its current LSN,
 * and the restore marker in its datadir. The marker is read from the server's own @@datadir (the
 * backup runs on the server's host, mariabackup reads that directory): a marker in another
 * directory, e.g. a scratch restore beside production, says nothing about this server. A fact that
 * cannot be read is left out, and said so in the log: the other rules still run.
 */
export async function serverFacts(settings: BackupSettings, log?: Logger): Promise<ServerFacts> {
  const state = await serverState(settings.connection, settings.tempDir);
  const marker = await readRestoreMarker(state.identity.datadir);
  if (marker && 'problem' in marker) {
    log?.warn(`the restore marker is not usable, so restores into the datadir are not known to the planner: ${marker.problem}`, { event: 'backup.plan_facts' });
  }
  if (state.currentLsn === undefined) {
    log?.warn("the server does not report Innodb_lsn_current: the planner cannot compare the server's LSN with the chain's", { event: 'backup.plan_facts' });
  }
  return {
    identity: state.identity,
    ...(state.currentLsn !== undefined ? { currentLsn: state.currentLsn } : {}),
    ...(marker && 'problem' in marker ? {} : { lastRestore: marker }),
  };
}

/** The facts the planner needs: the store's catalog, the server's version and history, now, and the rules. */
export async function planFacts(c: Config, settings: BackupSettings, storage: Storage, knownServerVersion?: string, log?: Logger): Promise<PlanInput> {
  const catalog = await readCatalog(storage, catalogPrefixes(c));
  // With MANIFEST_HMAC_KEY, only authentic manifests count: an incremental chained on a manifest
  // restore would refuse (changed, or written without the key) could never be restored. The
  // first backup after the key is set is therefore a full.
  const physical = catalog.backups.filter((b) => isPhysical(b.manifest));
  const usable = c.MANIFEST_HMAC_KEY ? physical.filter((b) => isAuthentic(b.manifest, c.MANIFEST_HMAC_KEY)) : physical;
  return {
    now: new Date(),
    timeZone: c.SCHEDULE_TIMEZONE,
    fullSchedule: c.FULL_BACKUP_SCHEDULE,
    incrementalBase: c.INCREMENTAL_BASE,
    maxChainLength: c.MAX_CHAIN_LENGTH,
    serverVersion: knownServerVersion ?? (await serverVersion(settings.connection, settings.tempDir)),
    valid: usable.map((b) => physicalSummary(b.manifest)),
    incompleteIds: catalog.incomplete.filter((d) => d.source === 'physical').map((d) => d.id),
    server: await serverFacts(settings, log),
  };
}

export async function decideBackup(
  c: Config,
  settings: BackupSettings,
  storage: Storage,
  logger: Logger,
  requested: 'full' | 'incremental' | 'auto',
  requestedBy = '--full was given',
  knownServerVersion?: string,
): Promise<{ target: BackupTarget; reason: string; plan: Plan | null }> {
  if (requested === 'full') {
    logger.info('decided on a full backup', { event: 'backup.plan', kind: 'full', reason: requestedBy });
    return { target: { kind: 'full' }, reason: requestedBy, plan: null };
  }
  const facts = await planFacts(c, settings, storage, knownServerVersion, logger);
  const server = {
    serverLsn: facts.server?.currentLsn ?? null,
    server: facts.server?.identity ?? null,
    lastRestore: facts.server?.lastRestore ?? null,
  };
  let plan: Plan;
  try {
    plan = planBackup({ ...facts, requested });
  } catch (e) {
    // A refused --incremental is a decision too: logged with the facts behind it (the caller logs
    // the failure itself).
    logger.info(`refused the requested incremental backup: ${e instanceof Error ? e.message : String(e)}`, { event: 'backup.plan', kind: 'refused', requested, ...server });
    throw e;
  }
  logger.info(`decided on ${plan.kind === 'full' ? 'a full' : 'an incremental'} backup: ${plan.reason}`, {
    event: 'backup.plan',
    kind: plan.kind,
    reason: plan.reason,
    ...server,
    ...(plan.kind === 'incremental' ? { parentId: plan.parent.id, fullId: plan.full.id, chainLength: plan.chainLength } : {}),
  });
  const target: BackupTarget =
    plan.kind === 'full' ? { kind: 'full' } : { kind: 'incremental', parentId: plan.parent.id, fullId: plan.full.id, fromLsn: plan.parent.lsn.to };
  return { target, reason: plan.reason, plan };
}

function isAuthentic(m: Manifest, key: string): boolean {
  try {
    authenticateManifest(m, key);
    return true;
  } catch {
    return false;
  }
}
