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
import type { BackupObserver } from '../metrics/metrics.js';
import { prune, type PruneSettings } from '../retention/prune.js';
import type { Storage } from '../storage/storage.js';
import { syncCopy, type CopyResult } from '../storage/copy.js';
import { acquireStoreLock, withStoreLock, type StoreLock } from '../storage/lock.js';
import { catalogPrefixes, decideBackup, planFacts, storeLockOptions } from './decide.js';
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
  /**
   * The second store (COPY_STORAGE; app/wiring.ts makeCopyStore): after the backup is stored,
   * everything the copy lacks is copied there (storage/copy.ts), then retention runs on each
   * store on its own. Its failure fails nothing: it is reported (onCopied) and caught up later.
   */
  copy?: { storage: Storage; config: Config; prune: PruneSettings } | null;
  /** Told of the backup's end, success or failure (metrics: metrics/metrics.ts). Must not throw. */
  observer?: BackupObserver;
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
  /** The copy step ran (only with a second store): `error` says why the copy is behind. */
  onCopied?: (r: CopyResult) => void | Promise<void>;
}

export interface BackupSequenceResult {
  manifest: Manifest;
  decision: BackupDecision;
  /** Why retention after the backup failed (already logged), or null when it ran. */
  retentionError: unknown;
  /** The copy step's result, null without a second store. */
  copy: CopyResult | null;
}

/**
 * The sequence holds the store lock of the prefix (storage/lock.ts) from the decision to the end
 * of retention and copy: another writer at work there refuses this backup at once (STORE_LOCKED,
 * logged as a failure before it started, stage 'lock'). The physical preflight runs before it: it
 * only reads the server and writes and removes a probe object of its own, and a store that cannot
 * be written at all is reported by the preflight's own words.
 */
export async function runBackupSequence(deps: BackupSequenceDeps, opts: BackupSequenceOptions): Promise<BackupSequenceResult> {
  if (!deps.observer) return runSequence(deps, opts);
  const observer = deps.observer;
  const t0 = Date.now();
  // The kind once the planner decided it; what was asked for when it failed before that.
  let kind: string = opts.requested;
  const source = deps.source?.type ?? 'physical';
  try {
    const r = await runSequence(deps, {
      ...opts,
      onDecided: (d) => {
        kind = d.target.kind;
        return opts.onDecided?.(d);
      },
    });
    const m = r.manifest;
    observer.backupEnded({ source: m.source.type, kind: m.kind, ok: true, at: new Date(m.finishedAt), durationMs: m.durationMs, rawBytes: m.rawBytes, storedBytes: m.storedBytes });
    return r;
  } catch (e) {
    observer.backupEnded({ source, kind, ok: false, at: new Date(), durationMs: Date.now() - t0 });
    throw e;
  }
}

async function runSequence(deps: BackupSequenceDeps, opts: BackupSequenceOptions): Promise<BackupSequenceResult> {
  const { config: c, storage, logger } = deps;
  const settings = deps.settings.backup;
  let serverVersion: string | undefined;
  if (!deps.source) {
    try {
      serverVersion = (await preflightBackup(settings, storage, c.FULL_BACKUP_PREFIX, logger)).serverVersion;
    } catch (e) {
      logStartFailure(logger, e, 'preflight');
      throw e;
    }
  }
  let lock: StoreLock;
  try {
    lock = await acquireStoreLock(storage, { ...storeLockOptions(c, 'backup'), logger });
  } catch (e) {
    logStartFailure(logger, e, 'lock', deps.source?.type);
    throw e;
  }
  try {
    const signal = opts.signal ? AbortSignal.any([opts.signal, lock.lost]) : lock.lost;
    if (deps.source) return await runSelfPlannedSequence(deps, deps.source, { ...opts, signal });
    return await runPhysicalSequence(deps, { ...opts, signal }, serverVersion!);
  } finally {
    await lock.release();
  }
}

function logStartFailure(logger: Logger, e: unknown, stage: string, source?: string): void {
  logger.error(`backup failed before it started: ${errorText(e)}`, {
    event: 'backup.end',
    status: 'failed',
    stage,
    ...(source ? { source } : {}),
    code: e instanceof BackupmateError ? e.code : 'INTERNAL',
  });
}

async function runPhysicalSequence(deps: BackupSequenceDeps, opts: BackupSequenceOptions, serverVersion: string): Promise<BackupSequenceResult> {
  const { config: c, storage, logger } = deps;
  const settings = deps.settings.backup;
  let decision: BackupDecision & { target: BackupTarget };
  try {
    decision = await decideBackup(c, settings, storage, logger, opts.requested, opts.requestedBy, serverVersion);
  } catch (e) {
    logStartFailure(logger, e, 'preflight');
    throw e;
  }
  await opts.onDecided?.(decision);
  const manifest = await runBackup(storage, logger, settings, decision.target, {
    signal: opts.signal,
    onStart: opts.onStart,
    onProgress: opts.onProgress,
  });
  await opts.onStored?.(manifest);
  return afterStored(deps, opts, manifest, decision);
}

/** After a stored backup: the copy, then retention on the primary and on the copy. */
async function afterStored(deps: BackupSequenceDeps, opts: BackupSequenceOptions, manifest: Manifest, decision: BackupDecision): Promise<BackupSequenceResult> {
  let copy: CopyResult | null = null;
  if (deps.copy) {
    copy = await syncCopy({
      primary: deps.storage,
      copy: deps.copy.storage,
      layout: catalogPrefixes(deps.config),
      logger: deps.logger,
      lock: storeLockOptions(deps.copy.config, 'copy'),
      signal: opts.signal,
    });
    await opts.onCopied?.(copy);
  }
  const retentionError = await retentionAfterBackup(deps.storage, deps.logger, deps.settings.prune);
  if (deps.copy && copy && copy.error === null) {
    const target = deps.copy;
    // The copy's retention under the copy's lock; its failure is logged like the primary's.
    await withStoreLock(target.storage, { ...storeLockOptions(target.config, 'prune'), logger: deps.logger, signal: opts.signal }, () =>
      retentionAfterBackup(target.storage, deps.logger, target.prune),
    ).catch((e: unknown) => deps.logger.error(`retention on the copy failed: ${errorText(e)}`, { event: 'prune.end', status: 'failed', store: target.storage.description }));
  }
  return { manifest, decision, retentionError, copy };
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
  return afterStored(deps, opts, manifest, decision);
}

/** Retention after a stored backup: its failure is logged and returned, never thrown. */
function retentionAfterBackup(storage: Storage, logger: Logger, settings: PruneSettings): Promise<unknown> {
  return prune(storage, logger, settings, { dryRun: false }).then(
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
