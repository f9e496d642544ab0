/**
 * The backup sequence: preflight -> decide -> run -> retention, written once.
 *
 * Callers: `backupmate backup` (cli/commands.ts) and the daemon's backup jobs (daemon/jobs.ts).
 * They differ only in what they do around the steps (a console line, a job's kind, reason and
 * progress bar, a notification), so those are hooks; the steps, their order, their log lines and
 * what a failure of each means are here:
 * - a failure before the backup starts (preflight, plan) is logged as `backup.end` failed with
 *   stage `preflight`, then thrown: it is part of the run's record like any other failure;
 * - the backup itself throws as runBackup does (children killed, upload aborted, no manifest);
 * - retention runs after every successful backup; its failure is logged loudly and returned, but
 *   does not turn a good backup into a failed one.
 *
 * This is also the one place that calls the planner for "is a backup due" (the daemon's catch-up
 * at start), so a change of how backups are decided touches this file and decide.ts only.
 */
import type { Config } from '../config/load.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Manifest, SourcePayload } from '../domain/manifest.js';
import type { Source, SourceBackupTarget } from '../sources/source.js';
import { readCatalog } from '../storage/catalog.js';
import { planBackup, type Plan } from '../sources/physical/plan.js';
import type { Logger } from '../log/logger.js';
import { prune, type PruneSettings } from '../retention/prune.js';
import type { Storage } from '../storage/storage.js';
import { catalogPrefixes, decideBackup, planFacts } from './decide.js';
import { runBackup, runSourceBackup, type BackupProgress, type BackupSettings, type BackupTarget } from './job.js';
import { preflightBackup } from './preflight.js';

/** What was asked for: a forced kind, or 'auto' (the planner decides). */
export type BackupRequest = 'full' | 'incremental' | 'auto';

/** What the sequence needs from its caller's composition root (app/wiring.ts builds the settings). */
export interface BackupSequenceDeps {
  /** The planner's rules (schedules, chain length, prefixes, MAC key) are read from it. */
  config: Config;
  settings: { backup: BackupSettings; prune: PruneSettings };
  storage: Storage;
  logger: Logger;
  /**
   * The source to back up when it is not the physical one: a source that plans its own backups
   * from the store (no server preflight), e.g. the directory source (app/sources.ts).
   */
  source?: SelfPlanningSource;
}

/** A source that plans its backups through the port's `plan` hook (sources/source.ts), e.g. DirectorySource. */
export type SelfPlanningSource<P extends SourcePayload = any> = Pick<Source<P>, 'type' | 'startBackup'> & Required<Pick<Source<P>, 'plan'>>;

/** A self-planning source's decision, in the shape callers read (kind, parent and chain root ids). */
export type SourceDecidedTarget = { kind: 'full' } | { kind: 'incremental'; parentId: string; fullId: string; fromLsn?: undefined };

/** What the planner decided (decide.ts): the target, and why. */
export interface BackupDecision {
  target: BackupTarget | SourceDecidedTarget;
  reason: string;
  /** null when the kind was forced (--full): nothing was planned. */
  plan: Plan | null;
}

export interface BackupSequenceOptions {
  requested: BackupRequest;
  /** Who forced a full, for the plan's log line (default: "--full was given"). */
  requestedBy?: string;
  signal?: AbortSignal;
  /** After the decision, before any data flows (the caller's estimate, status, console line). */
  onDecided?: (d: BackupDecision) => void | Promise<void>;
  /** The backup's id is known. */
  onStart?: (id: string) => void;
  onProgress?: (p: BackupProgress) => void;
  /** The backup is stored (manifest written), before retention runs. */
  onStored?: (m: Manifest) => void | Promise<void>;
}

export interface BackupSequenceResult {
  manifest: Manifest;
  decision: BackupDecision;
  /** Why retention after the backup failed (already logged), or null when it ran. */
  retentionError: unknown;
}

export async function runBackupSequence(deps: BackupSequenceDeps, opts: BackupSequenceOptions): Promise<BackupSequenceResult> {
  const { config: c, storage, logger } = deps;
  const settings = deps.settings.backup;
  if (deps.source) return runSelfPlannedSequence(deps, deps.source, opts);
  let decision: BackupDecision & { target: BackupTarget };
  try {
    const pre = await preflightBackup(settings, storage, c.FULL_BACKUP_PREFIX, logger);
    decision = await decideBackup(c, settings, storage, logger, opts.requested, opts.requestedBy, pre.serverVersion);
  } catch (e) {
    logger.error(`backup failed before it started: ${errorText(e)}`, {
      event: 'backup.end',
      status: 'failed',
      stage: 'preflight',
      code: e instanceof BackupmateError ? e.code : 'INTERNAL',
    });
    throw e;
  }
  await opts.onDecided?.(decision);
  const manifest = await runBackup(storage, logger, settings, decision.target, {
    signal: opts.signal,
    onStart: opts.onStart,
    onProgress: opts.onProgress,
  });
  await opts.onStored?.(manifest);
  return { manifest, decision, retentionError: await retentionAfterBackup(deps) };
}

/** The same steps for a source that plans itself: its backups in the store -> plan -> run -> retention. */
async function runSelfPlannedSequence(deps: BackupSequenceDeps, source: SelfPlanningSource, opts: BackupSequenceOptions): Promise<BackupSequenceResult> {
  const { storage, logger } = deps;
  const settings = deps.settings.backup;
  let decision: BackupDecision;
  let target: SourceBackupTarget<SourcePayload>;
  try {
    const catalog = await readCatalog(storage, catalogPrefixes(deps.config));
    const valid = catalog.backups.map((b) => b.manifest).filter((m) => m.source.type === source.type);
    const incompleteIds = catalog.incomplete.filter((d) => d.source === source.type).map((d) => d.id);
    const planned = await source.plan({ requested: opts.requested, valid, incompleteIds });
    target = planned.target;
    const t = planned.target;
    decision = {
      target: t.kind === 'incremental' ? { kind: 'incremental', parentId: t.parent!.id, fullId: t.full!.id } : { kind: 'full' },
      reason: planned.reason,
      plan: null,
    };
    logger.info(`decided on ${t.kind === 'incremental' ? 'an incremental' : 'a full'} ${source.type} backup: ${planned.reason}`, {
      event: 'backup.plan',
      source: source.type,
      kind: t.kind,
      reason: planned.reason,
      ...(t.kind === 'incremental' ? { parentId: t.parent!.id } : {}),
    });
  } catch (e) {
    logger.error(`backup failed before it started: ${errorText(e)}`, {
      event: 'backup.end',
      status: 'failed',
      stage: 'preflight',
      source: source.type,
      code: e instanceof BackupmateError ? e.code : 'INTERNAL',
    });
    throw e;
  }
  await opts.onDecided?.(decision);
  const manifest = await runSourceBackup(storage, logger, settings, source, target, {
    signal: opts.signal,
    onStart: opts.onStart,
    onProgress: opts.onProgress,
  });
  await opts.onStored?.(manifest);
  return { manifest, decision, retentionError: await retentionAfterBackup(deps) };
}

/** Retention after a stored backup: its failure is logged and returned, never thrown. */
function retentionAfterBackup(deps: BackupSequenceDeps): Promise<unknown> {
  const { storage, logger } = deps;
  return prune(storage, logger, deps.settings.prune, { dryRun: false }).then(
    () => null,
    (e: unknown) => {
      logger.error(`retention after the backup failed: ${errorText(e)}`, {
        event: 'prune.end',
        status: 'failed',
        code: e instanceof BackupmateError ? e.code : 'INTERNAL',
      });
      return e;
    },
  );
}

/**
 * What an automatic backup would be now, without taking it (the daemon's catch-up at start: a
 * missed full runs at once). Reads the store and asks the server, like the planner does at run time.
 */
export async function planNow(deps: Pick<BackupSequenceDeps, 'config' | 'settings' | 'storage'>): Promise<Plan> {
  return planBackup(await planFacts(deps.config, deps.settings.backup, deps.storage));
}
