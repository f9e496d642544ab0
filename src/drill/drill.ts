/**
 * A restore drill: proof that a backup restores, measured. Called by `backupmate drill` and the
 * daemon's drill job (daemon/handlers/drill.ts, DRILL_SCHEDULE).
 *
 * Steps (each timed; the first failure names its step and ends the drill):
 *   preflight: resolve the backup and its chain, check LOCAL_TEMP_DIR has room for it unpacked;
 *   restore:   the physical restore in target-dir mode (restore/job.ts: download, sha256, prepare)
 *              into a scratch directory under LOCAL_TEMP_DIR;
 *   replay:    with a binlog archive (BINLOG_PREFIX) that continues from the drilled backup, the
 *              archived binlogs replayed onto the prepared chain up to its last archived moment
 *              (drill/replay-plan.ts; the restore's own replayHook, restore/pitr.ts), before the
 *              server starts: the RTO of "restore to the latest moment". Without one, or when the
 *              archive cannot continue from that backup, no replay and the report says why;
 *   start:     a throwaway mariadbd on it (mariadb/scratch.ts: own socket, --skip-networking, no
 *              binlog, no replication, DRILL_MARIADBD_OPTIONS), until it answers: time to ready;
 *   check:     CHECK TABLE on every base table the restored server has;
 *   compare:   the tables against the inventory recorded at backup time
 *              (sources/physical/inventory.ts): a missing table, or one that had rows and came back
 *              empty, fails; exact row counts of the restored server are reported.
 * Whatever happened, the server is stopped and the scratch directory deleted.
 *
 * Never touches MARIADB_DATADIR or the production server: the restore runs in target-dir mode
 * into our own scratch, and the scratch server has no TCP port and its own socket.
 *
 * The result is a DrillReport: returned (and thrown as DRILL_FAILED, INTEGRITY... inside
 * DrillFailed when it failed), and written as a small record next to the backup in the store
 * (drill/record.ts) by the caller.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BackupmateError, errorText, type ErrorCode } from '../domain/errors.js';
import { selectRestoreTarget } from '../domain/chain.js';
import { backupIdFor } from '../domain/ids.js';
import { fmtBytes } from '../domain/units.js';
import type { Logger } from '../log/logger.js';
import { freeBytes } from '../mariadb/datadir.js';
import { startScratchServer, type ScratchServer } from '../mariadb/scratch.js';
import type { RestoreSettings } from '../restore/job.js';
import { runSourceRestore } from '../restore/source-restore.js';
import type { SourceRegistry } from '../sources/registry.js';
import { physicalSummary, resolveRestoreChain } from '../sources/physical/chain.js';
import { isPhysical } from '../sources/physical/payload.js';
import { layoutOf } from '../sources/registry.js';
import { readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { pitrArchiveOf, pitrBackupsOf, replayHook, type PointInTimeSetup } from '../restore/pitr.js';
import { listArchive } from '../sources/binlog/reader.js';
import { checkTables, compareInventory, listTables, type TableCheck } from './checks.js';
import { planDrillReplay } from './replay-plan.js';

export const DRILL_STEPS = ['preflight', 'restore', 'replay', 'start', 'check', 'compare'] as const;
export type DrillStep = (typeof DRILL_STEPS)[number];

export interface DrillSettings {
  restore: RestoreSettings;
  /** The registered sources (app/sources.ts): the restore goes through the physical one. */
  sources: SourceRegistry;
  /** DRILL_MARIADBD_OPTIONS, split on spaces. */
  mariadbdOptions: readonly string[];
  /** The server binary (default: mariadb/scratch.ts's). */
  mariadbd?: string;
  /** How long the scratch server may take to answer. */
  readyTimeoutMs?: number;
  /** BINLOG_PREFIX: where the binlog archive is looked for (absent: the drill never replays). */
  binlogPrefix?: string;
}

/** The binlog replay of a drill: done (what was replayed, up to when) or skipped (why). */
export type DrillReplay =
  | {
      status: 'replayed';
      /** The moment asked (the end of the backup's restorable interval; that second itself left out, as restore --time). */
      upTo: string;
      segments: number;
      transactions: number;
      /** The GTID position reached. */
      reached: string;
      lastReplayed: { gtid: string; committedAt: string } | null;
      firstLeftOut: { gtid: string; committedAt: string } | null;
      /** Download of the segments + scan + replay. */
      durationMs: number;
    }
  | { status: 'skipped'; reason: string };

export interface DrillReport {
  format: 'backupmate-drill/1';
  /** The drill's own id (its start, like a backup id). */
  drillId: string;
  /** null when not even the backup could be resolved. */
  backupId: string | null;
  /** The backup's directory in the store (where drill/record.ts puts the record). */
  backupDir: string | null;
  chain: string[];
  status: 'ok' | 'failed';
  failedStep?: DrillStep;
  error?: { code: ErrorCode; message: string };
  host: string;
  startedAt: string;
  finishedAt: string;
  /** From the drill's start until the restored server answered (download + prepare + start); null if it never did. */
  timeToReadyMs: number | null;
  /** Each step's wall time (restore also split as restore/job.ts measures it). */
  stepsMs: Partial<Record<DrillStep, number>> & { download?: number; prepare?: number };
  downloadedBytes: number;
  tables: {
    /** Tables CHECK TABLE said OK. */
    checked: number;
    /** Tables CHECK TABLE could not check (an engine without CHECK): listed, not failures. */
    uncheckable: string[];
    failed: TableCheck[];
    /** In the backup's inventory, absent from the restored server. */
    missing: string[];
    /** Had rows at backup time (the server's estimate), restored empty. */
    emptied: string[];
    /** Tables the inventory recorded (null: the backup has no inventory). */
    recorded: number | null;
  };
  databases: number;
  /** Exact rows in the restored server (COUNT(*) of every table). */
  rows: number;
  /** The binlog replay (absent only when the drill failed before deciding). */
  replay?: DrillReplay;
}

/** A failed drill: the report (status failed) and the cause's code as the exit status. */
export class DrillFailed extends BackupmateError {
  constructor(readonly report: DrillReport) {
    super(report.error!.code, `drill of backup ${report.backupId ?? '(none)'} failed at step ${report.failedStep}: ${report.error!.message}`, {
      stage: report.failedStep,
      backupId: report.backupId,
    });
  }
}

export interface DrillRequest {
  /** `latest` or a backup id (timestamp or prefix), as restore takes it. */
  id: string;
  signal?: AbortSignal;
  onProgress?: (p: { stage: string; bytes: number; total: number }) => void;
  /** Host name for the report. */
  host: string;
}

export async function runDrill(storage: Storage, logger: Logger, s: DrillSettings, req: DrillRequest): Promise<DrillReport> {
  const t0 = Date.now();
  const report: DrillReport = {
    format: 'backupmate-drill/1',
    drillId: backupIdFor(new Date(t0)),
    backupId: null,
    backupDir: null,
    chain: [],
    status: 'ok',
    host: req.host,
    startedAt: new Date(t0).toISOString(),
    finishedAt: '',
    timeToReadyMs: null,
    stepsMs: {},
    downloadedBytes: 0,
    tables: { checked: 0, uncheckable: [], failed: [], missing: [], emptied: [], recorded: null },
    databases: 0,
    rows: 0,
  };
  let log = logger.child({ drillId: report.drillId });
  let step: DrillStep = 'preflight';
  let stepStart = Date.now();
  const begin = (next: DrillStep) => {
    report.stepsMs[step] = Date.now() - stepStart;
    step = next;
    stepStart = Date.now();
    log.info(`drill: ${next}`, { event: 'drill.step', step: next });
  };
  const tempDir = path.resolve(s.restore.tempDir);
  let scratch: string | null = null;
  let server: ScratchServer | null = null;
  log.info(`drill of ${req.id} started`, { event: 'drill.start', request: req.id });
  try {
    // preflight: which backup, its chain, and room for it unpacked (before anything is written).
    const catalog = await readCatalog(storage, layoutOf(s.restore));
    const valid = catalog.backups.filter((b) => isPhysical(b.manifest)).map((b) => physicalSummary(b.manifest));
    const incompleteIds = catalog.incomplete.filter((d) => d.source === 'physical').map((d) => d.id);
    const target = selectRestoreTarget(req.id, valid, incompleteIds);
    report.backupId = target.id;
    log = log.child({ backupId: target.id });
    const chain = resolveRestoreChain(target, valid, incompleteIds).map((b) => catalog.backups.find((e) => e.manifest.id === b.id)!);
    report.chain = chain.map((c) => c.manifest.id);
    report.backupDir = chain[chain.length - 1].dir.dir;
    const manifest = chain[chain.length - 1].manifest;
    const inventory = isPhysical(manifest) ? manifest.source.inventory : undefined;
    report.tables.recorded = inventory ? inventory.tables.length : null;
    await fs.mkdir(tempDir, { recursive: true, mode: 0o700 });
    const needed = chain.reduce((a, c) => a + c.manifest.rawBytes, 0);
    const free = await freeBytes(tempDir);
    if (free < needed) {
      throw new BackupmateError('LOCAL_IO', `not enough free space in LOCAL_TEMP_DIR ${tempDir} for the drill: the chain of ${chain.length} backup(s) needs ${fmtBytes(needed)} unpacked, ${fmtBytes(free)} is free`);
    }
    // The replay decision, before anything is written: the drilled backup only, up to its last archived moment.
    let pitr: PointInTimeSetup | null = null;
    if (!s.binlogPrefix) {
      report.replay = { status: 'skipped', reason: 'no BINLOG_PREFIX configured' };
    } else {
      const listing = await listArchive(storage, s.binlogPrefix, { signal: req.signal });
      for (const p of listing.problems) log.warn('binlog archive problem', { kind: p.kind, stream: p.stream, seq: p.seq, problem: p.message });
      const hasArchive = listing.segments.length > 0 || listing.gapRecords.length > 0;
      const decision = planDrillReplay(pitrBackupsOf([manifest])[0]!, pitrArchiveOf(listing), hasArchive);
      if (decision.replay) {
        pitr = { plan: decision.plan, listing };
        log.info(`drill: replaying the binlog archive up to ${decision.upTo}`, { event: 'drill.replay.plan', upTo: decision.upTo, segments: decision.plan.segments.length, reason: decision.plan.reason });
      } else {
        report.replay = { status: 'skipped', reason: decision.reason };
        log.info(`drill: no binlog replay (${decision.reason})`, { event: 'drill.replay.plan', reason: decision.reason });
      }
    }
    // Short names: the scratch server's socket path must stay under 108 bytes.
    scratch = await fs.mkdtemp(path.join(tempDir, 'drill-'));

    begin('restore');
    // The one restore path (restore/source-restore.ts), target-dir mode, into our own scratch.
    const restored = await runSourceRestore(storage, log, s.restore, s.sources, {
      id: target.id,
      mode: 'target-dir',
      destination: path.join(scratch, 'data'),
      source: 'physical',
      signal: req.signal,
      onProgress: req.onProgress,
      ...(pitr
        ? {
            beforePutBack: async (result, info) => {
              const setup = pitr!;
              begin('replay');
              const tr = Date.now();
              await replayHook(storage, setup, {
                tempDir,
                osUser: s.restore.osUser,
                ageIdentityFile: s.restore.ageIdentityFile || undefined,
                onReplayed: (x) => {
                  report.replay = {
                    status: 'replayed',
                    upTo: 'time' in setup.plan.request ? setup.plan.request.time.toISOString() : '',
                    segments: setup.plan.segments.length,
                    transactions: x.transactions,
                    reached: x.reached,
                    lastReplayed: x.lastReplayed,
                    firstLeftOut: x.firstLeftOut,
                    durationMs: Date.now() - tr,
                  };
                },
              })(result, info);
            },
          }
        : {}),
    });
    report.downloadedBytes = restored.downloadedBytes;
    report.stepsMs.download = restored.timings.downloadMs;
    report.stepsMs.prepare = restored.timings[`${restored.applyName}Ms`];

    begin('start');
    server = await startScratchServer({
      datadir: restored.destination,
      workDir: path.join(scratch, 'srv'),
      log,
      osUser: s.restore.osUser,
      extraOptions: s.mariadbdOptions,
      traverseRoot: tempDir,
      signal: req.signal,
      ...(s.mariadbd ? { mariadbd: s.mariadbd } : {}),
      ...(s.readyTimeoutMs ? { readyTimeoutMs: s.readyTimeoutMs } : {}),
    }).catch((e: unknown) => {
      throw asDrillFailure(e, 'the restored server did not start');
    });
    report.timeToReadyMs = Date.now() - t0;
    log.info(`drill: restored server ready after ${Math.round(report.timeToReadyMs / 1000)} s`, { event: 'drill.ready', timeToReadyMs: report.timeToReadyMs });

    begin('check');
    const tables = await listTables(server).catch((e: unknown) => {
      throw asDrillFailure(e, 'cannot list the restored tables');
    });
    report.databases = new Set(tables.map((t) => t.schema)).size;
    const checks = await checkTables(server, tables).catch((e: unknown) => {
      throw asDrillFailure(e, 'CHECK TABLE did not run to the end');
    });
    report.tables.checked = checks.filter((c) => c.status === 'ok').length;
    report.tables.uncheckable = checks.filter((c) => c.status === 'uncheckable').map((c) => c.table);
    report.tables.failed = checks.filter((c) => c.status === 'failed');
    if (report.tables.failed.length) {
      const f = report.tables.failed;
      throw new BackupmateError('DRILL_FAILED', `CHECK TABLE failed for ${f.length} table(s): ${f.slice(0, 5).map((c) => `${c.table} (${c.message})`).join('; ')}`);
    }

    begin('compare');
    const cmp = await compareInventory(server, tables, inventory).catch((e: unknown) => {
      throw asDrillFailure(e, 'cannot count the restored rows');
    });
    report.rows = cmp.rows;
    report.tables.missing = cmp.missing;
    report.tables.emptied = cmp.emptied;
    const problems = [
      ...(cmp.missing.length ? [`${cmp.missing.length} table(s) recorded at backup time are missing: ${cmp.missing.slice(0, 5).join(', ')}`] : []),
      ...(cmp.emptied.length ? [`${cmp.emptied.length} table(s) had rows at backup time and are empty: ${cmp.emptied.slice(0, 5).join(', ')}`] : []),
    ];
    if (problems.length) throw new BackupmateError('DRILL_FAILED', problems.join('; '));
    report.stepsMs[step] = Date.now() - stepStart;
  } catch (e) {
    report.stepsMs[step] = Date.now() - stepStart;
    report.status = 'failed';
    report.failedStep = step;
    report.error = { code: e instanceof BackupmateError ? e.code : 'INTERNAL', message: errorText(e) };
  } finally {
    await server?.stop().catch((e: unknown) => log.warn(`drill: stopping the scratch server failed: ${errorText(e)}`, { event: 'drill.cleanup' }));
    if (scratch) {
      await fs.rm(scratch, { recursive: true, force: true }).catch((e: unknown) => log.error(`drill: cannot remove its scratch ${scratch}: ${errorText(e)}`, { event: 'drill.cleanup', dir: scratch }));
    }
  }
  report.finishedAt = new Date().toISOString();
  const fields = { event: 'drill.end', status: report.status, backupId: report.backupId, step: report.failedStep, timeToReadyMs: report.timeToReadyMs, stepsMs: report.stepsMs, tables: report.tables.checked, rows: report.rows, durationMs: Date.now() - t0 };
  if (report.status === 'failed') {
    log.error(`drill of backup ${report.backupId ?? req.id} failed at step ${report.failedStep}: ${report.error!.message}`, { ...fields, code: report.error!.code });
    throw new DrillFailed(report);
  }
  log.info(`drill of backup ${report.backupId} passed: ${report.tables.checked} table(s) checked, ${Math.round(report.timeToReadyMs! / 1000)} s to ready`, fields);
  return report;
}

/** A failure of the restored server (start, a query) as DRILL_FAILED; a cancellation stays one. */
function asDrillFailure(e: unknown, what: string): BackupmateError {
  if (e instanceof BackupmateError && (e.code === 'CANCELLED' || e.code === 'TOOL_MISSING' || e.code === 'LOCAL_IO')) return e;
  return new BackupmateError('DRILL_FAILED', `${what}: ${errorText(e)}`, {}, { cause: e });
}
