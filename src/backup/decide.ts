/**
 * Gathers the facts the pure planner needs (catalog, server version, clock) and returns what to
 * take, with the reason logged. Shared by `backupmate backup` and the daemon's jobs.
 */
import type { Config } from '../config/load.js';
import { summarize } from '../domain/chain.js';
import { authenticateManifest } from '../domain/mac.js';
import type { Manifest } from '../domain/manifest.js';
import { planBackup, type Plan, type PlanInput } from '../domain/plan.js';
import type { Logger } from '../log/logger.js';
import { serverVersion } from '../mariadb/server.js';
import { readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import type { BackupSettings, BackupTarget } from './job.js';

export function catalogPrefixes(c: Config): { prefix: string; kind: 'full' | 'incremental' }[] {
  return [
    { prefix: c.FULL_BACKUP_PREFIX, kind: 'full' },
    { prefix: c.INCREMENTAL_BACKUP_PREFIX, kind: 'incremental' },
  ];
}

/** The facts the planner needs: the store's catalog, the server's version, now, and the rules. */
export async function planFacts(c: Config, settings: BackupSettings, storage: Storage, knownServerVersion?: string): Promise<PlanInput> {
  const catalog = await readCatalog(storage, catalogPrefixes(c));
  // With MANIFEST_HMAC_KEY, only authentic manifests count: an incremental chained on a manifest
  // restore would refuse (changed, or written without the key) could never be restored. The
  // first backup after the key is set is therefore a full.
  const usable = c.MANIFEST_HMAC_KEY ? catalog.backups.filter((b) => isAuthentic(b.manifest, c.MANIFEST_HMAC_KEY)) : catalog.backups;
  return {
    now: new Date(),
    timeZone: c.SCHEDULE_TIMEZONE,
    fullSchedule: c.FULL_BACKUP_SCHEDULE,
    incrementalBase: c.INCREMENTAL_BASE,
    maxChainLength: c.MAX_CHAIN_LENGTH,
    serverVersion: knownServerVersion ?? (await serverVersion(settings.connection, settings.tempDir)),
    valid: usable.map((b) => summarize(b.manifest)),
    incompleteIds: catalog.incomplete.map((d) => d.id),
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
  const plan = planBackup({ ...(await planFacts(c, settings, storage, knownServerVersion)), requested });
  logger.info(`decided on ${plan.kind === 'full' ? 'a full' : 'an incremental'} backup: ${plan.reason}`, {
    event: 'backup.plan',
    kind: plan.kind,
    reason: plan.reason,
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
