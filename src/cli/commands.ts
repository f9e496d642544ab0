/**
 * The one-shot command handlers: each loads the configuration, builds what it needs through the
 * composition root, runs one job and prints a result. Kept thin: the work lives in the jobs.
 */
import { catalogPrefixes, storeLockOptions } from '../backup/decide.js';
import { storeConfig } from '../storage/copy-config.js';
import { objectLockChecks } from '../storage/object-lock-check.js';
import { acquireStoreLock, withStoreLock } from '../storage/lock.js';
import { runBackupSequence } from '../backup/sequence.js';
import { parseRestoreTime } from '../domain/chain.js';
import * as os from 'node:os';
import { createNotifier } from '../notify/notifier.js';
import { prune } from '../retention/prune.js';
import { Daemon } from '../daemon/daemon.js';
import { loadConfig, type Config } from '../config/load.js';
import { redactedView } from '../config/redact.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import { fmtBytes, fmtDuration } from '../domain/units.js';
import { closeLogger } from '../log/logger.js';
import type { RestoreMode } from '../restore/job.js';
import { startHint } from '../restore/hint.js';
import { DEFAULT_BINLOG_PREFIX, describeReplay, replayHook, resolvePointInTime, type PointInTimeSetup } from '../restore/pitr.js';
import type { ReplayResult } from '../sources/binlog/replay.js';
import { parseGtid } from '../sources/binlog/replay-gtid.js';
import { realOrResolved } from '../mariadb/datadir.js';
import * as fs from 'node:fs/promises';
import { catalogJson, readCatalog } from '../storage/catalog.js';
import { backupSettings, connectionSettings, consoleMode, drillSettings, makeCopyStore, makeLogger, makeStorage, processTtys, pruneSettings, restoreSettings, type Ttys } from '../app/wiring.js';
import type { Manifest } from '../domain/manifest.js';
import { renderCatalog, renderDrill, renderTable, renderVerify } from './format.js';
import { runVerify, verifyError } from '../verify/verify.js';
import { checkRestoreArgs } from './restore-args.js';
import { directorySource, logicalSource, makeSources } from '../app/sources.js';
import { intoServerLines, restoreIntoServer, type IntoServerOptions } from './into-server.js';
import { resolveId } from '../domain/ids.js';
import { restoreDestination, runSourceRestore } from '../restore/source-restore.js';
import type { SourceRegistry } from '../sources/registry.js';
import * as path from 'node:path';
import { buildChains, summarize } from '../domain/chain.js';
import { PROBLEM_PREFIX } from '../config/load.js';
import { localChecks, nodeProbe } from '../check/local.js';
import { checkError, renderChecks, runChecks } from '../check/check.js';
import { querySingleValue, serverVersion } from '../mariadb/server.js';
import { mariabackupVersion } from '../mariadb/mariabackup.js';
import type { Storage } from '../storage/storage.js';
import { pointInTimeOf, renderArchiveVerify, renderPointInTime } from './point-in-time.js';
import { verifyArchive } from '../sources/binlog/verify.js';
import { oneShotMetrics } from '../metrics/oneshot.js';
import { DrillFailed, type DrillReport } from '../drill/drill.js';
import { drillAndRecord } from '../drill/job.js';
import { lastDrills, drillSummary } from '../drill/record.js';

interface GlobalOpts {
  config?: string[];
  /** --store primary|copy (list, restore, verify, prune): which store the command works on. */
  store?: string;
}

/**
 * `--config FILE...` means the same for every command: only those files (and the environment),
 * as `run` under the backupmate@NAME unit reads them, so `config check --config F` shows what
 * `run --config F` loads. Without it: /etc/backupmate/*.env, then ./.backupmate.env.
 */
export function loadOptions(opts: GlobalOpts): { files?: string[]; onlyFiles: boolean } {
  return { files: opts.config, onlyFiles: !!opts.config?.length };
}

/** The configuration, seen from the store `--store` names (storage/copy-config.ts). */
function load(opts: GlobalOpts): Config {
  return storeConfig(loadConfig(loadOptions(opts)), opts.store);
}

/** Cancels the job on SIGINT/SIGTERM: children are killed, uploads aborted, no manifest. */
function cancelOnSignals(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => () =>
    ac.abort(new BackupmateError('CANCELLED', `cancelled by ${sig}: children killed, upload aborted, no manifest written`));
  const int = on('SIGINT');
  const term = on('SIGTERM');
  process.once('SIGINT', int);
  process.once('SIGTERM', term);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', int);
      process.off('SIGTERM', term);
    },
  };
}

export async function backupCommand(
  opts: GlobalOpts & { full?: boolean; incremental?: boolean; json?: boolean; directories?: boolean; logical?: boolean },
  ttys: Ttys = processTtys(),
): Promise<void> {
  if (opts.full && opts.incremental) {
    throw new BackupmateError('USAGE', 'backup: expected at most one of --full and --incremental, got both');
  }
  if (opts.logical && (opts.directories || opts.incremental)) {
    throw new BackupmateError('USAGE', `backup: --logical takes a full dump; it goes with neither --directories nor --incremental`);
  }
  const c = load(opts);
  // Cron and systemd keep stdout: JSON log lines there are the record of the run. At a terminal
  // (and without --json) a person reads a summary instead; LOG_FILE keeps the JSON either way.
  const logger = makeLogger(c, 'stdout', 'backup', { ttys, json: opts.json });
  const human = consoleMode('stdout', 'backup', ttys, opts.json) === 'human';
  const say = (line: string) => {
    if (human) process.stdout.write(line + '\n');
  };
  const cancel = cancelOnSignals();
  // A backup run from cron alerts like the daemon's jobs do (Slack/e-mail per NOTIFY_ON).
  const alerts = createNotifier(c, logger);
  const started = new Date();
  let backupId: string | undefined;
  let kind: 'full' | 'incremental' | 'auto' = opts.full ? 'full' : opts.incremental ? 'incremental' : 'auto';
  const outcome = (status: 'succeeded' | 'failed' | 'cancelled', e?: unknown) =>
    alerts.jobFinished({
      host: os.hostname(),
      jobId: null,
      kind,
      trigger: 'manual',
      status,
      backupId,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Date.now() - started.getTime(),
      error:
        e === undefined
          ? undefined
          : e instanceof BackupmateError
            ? { code: e.code, message: e.message, stage: e.details.stage as string | undefined, exitCode: e.details.exitCode as number | undefined, stderrTail: e.details.stderrTail as string[] | undefined }
            : { code: 'INTERNAL', message: errorText(e) },
    });
  // METRICS_TEXTFILE (off when empty): this run's outcome and the store's catalog, written at the end.
  const metrics = oneShotMetrics(c, logger);
  let storage: Storage | undefined;
  let failed = false;
  try {
    storage = makeStorage(c, logger, metrics.metrics);
    await runBackupSequence(
      // --directories: the directory source plans and takes the backup (no server involved);
      // --logical: the logical source (a mydumper dump, always full).
      {
        config: c,
        settings: { backup: backupSettings(c), prune: pruneSettings(c) },
        storage,
        logger,
        copy: makeCopyStore(c, logger),
        observer: metrics.metrics,
        ...(opts.directories ? { source: directorySource(c) } : opts.logical ? { source: logicalSource(c) } : {}),
      },
      {
        requested: kind,
        signal: cancel.signal,
        onDecided: (d) => {
          kind = d.target.kind;
          say(`${d.target.kind === 'full' ? 'full' : 'incremental'} backup: ${d.reason}`);
        },
        onStart: (id) => {
          backupId = id;
          say(`backing up to ${storage!.description} as ${id}...`);
        },
        // Alerted before retention runs: a failed retention does not make the backup a failure.
        onStored: async (m) => {
          say(summaryLine(m));
          await outcome('succeeded');
        },
        // The copy being behind fails nothing; it is said, and alerted as a failed copy.
        onCopied: async (r) => {
          if (r.error === null) {
            if (r.copied.length) say(`copied to ${r.store}: ${r.copied.join(', ')}`);
            return;
          }
          say(`the copy to ${r.store} is behind (${r.missing} backup(s) missing): ${r.error}; caught up by the next run`);
          await alerts.jobFinished({
            host: os.hostname(),
            jobId: null,
            kind: 'copy',
            trigger: 'manual',
            status: 'failed',
            backupId,
            error: { code: r.errorCode ?? 'INTERNAL', message: r.error },
          });
        },
      },
    );
  } catch (e) {
    failed = true;
    await outcome(e instanceof BackupmateError && e.code === 'CANCELLED' ? 'cancelled' : 'failed', e);
    throw e;
  } finally {
    cancel.dispose();
    await metrics.flush(storage, failed ? 'backup' : undefined);
    await closeLogger(logger);
  }
}

/** The human result line of a backup (pure). */
export function summaryLine(m: Pick<Manifest, 'id' | 'kind' | 'parentId' | 'rawBytes' | 'storedBytes' | 'durationMs'>): string {
  const on = m.kind === 'incremental' && m.parentId ? ` on ${m.parentId}` : '';
  return `backup ${m.id} succeeded: ${m.kind}${on}, ${fmtBytes(m.rawBytes)} read, ${fmtBytes(m.storedBytes)} stored, in ${fmtDuration(m.durationMs)}`;
}

export async function pruneCommand(opts: GlobalOpts & { dryRun?: boolean }): Promise<void> {
  const c = load(opts);
  const logger = makeLogger(c, 'stderr', 'prune');
  try {
    const storage = makeStorage(c, logger);
    // A dry run deletes nothing: it needs no lock (and is not refused while a backup runs).
    const r = opts.dryRun
      ? await prune(storage, logger, pruneSettings(c), { dryRun: true })
      : await withStoreLock(storage, { ...storeLockOptions(c, 'prune'), logger }, () => prune(storage, logger, pruneSettings(c), { dryRun: false }));
    const verb = r.dryRun ? 'would delete' : 'deleted';
    const lines: string[] = [];
    if (c.RETENTION_FULL_COUNT === 0 && c.RETENTION_DAYS === 0) {
      lines.push('retention is off (RETENTION_FULL_COUNT=0 and RETENTION_DAYS=0): only stale incomplete backups are removed');
    }
    for (const d of r.plan.deleteBackups) lines.push(`${verb} ${d.kind} ${d.id}: ${d.reason}`);
    for (const d of r.plan.deleteIncomplete) lines.push(`${verb} incomplete ${d.kind} ${d.id} (${d.keys.length} objects): ${d.reason}`);
    if (!r.plan.deleteBackups.length && !r.plan.deleteIncomplete.length) lines.push('nothing to delete');
    lines.push(`kept ${r.plan.keep.length} backup(s)`);
    for (const k of r.keys) lines.push(`  ${verb}: ${k}`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await closeLogger(logger);
  }
}

export async function listCommand(opts: GlobalOpts & { json?: boolean }): Promise<void> {
  const c = load(opts);
  const logger = makeLogger(c, 'stderr', 'list');
  try {
    const storage = makeStorage(c, logger);
    const catalog = await readCatalog(storage, catalogPrefixes(c));
    const pointInTime = await pointInTimeOf(storage, c.BINLOG_PREFIX, catalog);
    // The newest drill record of each drilled backup (drill/record.ts): "last drilled: ok, 4m12s to ready".
    const drills = await lastDrills(storage, catalog.backups);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ ...(catalogJson(catalog) as object), pointInTime, lastDrills: Object.fromEntries(drills) }, null, 2) + '\n');
    } else {
      process.stdout.write(renderCatalog(catalog, new Map([...drills].map(([id, r]) => [id, drillSummary(r)]))) + renderPointInTime(pointInTime));
    }
  } finally {
    await closeLogger(logger);
  }
}

export async function restoreCommand(
  id: string | undefined,
  opts: GlobalOpts & { targetDir?: string; copyBack?: boolean; moveBack?: boolean; intoServer?: boolean; time?: string; gtid?: string; directories?: boolean; logical?: boolean } & IntoServerOptions,
): Promise<void> {
  const modeName = checkRestoreArgs(id, opts);
  if (opts.directories && opts.logical) throw new BackupmateError('USAGE', 'restore: expected at most one of --directories and --logical, got both');
  if ((opts.directories || opts.logical) && opts.gtid !== undefined) {
    throw new BackupmateError('USAGE', 'restore: --gtid replays database binlogs onto a physical backup; it cannot be combined with --directories or --logical');
  }
  if (modeName === 'into-server') return intoServerCommand(id, opts);
  const mode: RestoreMode = modeName;
  const c = load(opts);
  // The human report goes to stdout; JSON log lines go to stderr and LOG_FILE.
  const logger = makeLogger(c, 'stderr', 'restore');
  const cancel = cancelOnSignals();
  try {
    const time = opts.time !== undefined ? parseRestoreTime(opts.time, c.SCHEDULE_TIMEZONE) : undefined;
    const settings = restoreSettings(c);
    const storage = makeStorage(c, logger);
    // No writer (backup, prune) may change the store under the restore: the store lock.
    const lock = await acquireStoreLock(storage, { ...storeLockOptions(c, 'restore'), logger });
    try {
      await restoreLocked(id, opts, { c, logger, mode, time, settings, storage, signal: AbortSignal.any([cancel.signal, lock.lost]) });
    } finally {
      await lock.release();
    }
  } finally {
    cancel.dispose();
    await closeLogger(logger);
  }
}

async function restoreLocked(
  id: string | undefined,
  opts: { targetDir?: string; directories?: boolean; gtid?: string; logical?: boolean },
  x: { c: Config; logger: ReturnType<typeof makeLogger>; mode: RestoreMode; time: Date | undefined; settings: ReturnType<typeof restoreSettings>; storage: Storage; signal: AbortSignal },
): Promise<void> {
  const { c, logger, mode, time, settings, storage } = x;
  const cancel = { signal: x.signal };
  {
    const sources = makeSources(c);
    const gtid = opts.gtid !== undefined ? parseGtid(opts.gtid) : undefined;
    const latest = time !== undefined || gtid !== undefined || id === undefined || id.trim() === 'latest';
    // One restore for every source: --directories asks for directory backups; latest/--time
    // otherwise pick database backups; a named id restores whichever source's backup it is.
    const source = opts.directories ? 'directory' : opts.logical ? 'logical' : latest ? 'physical' : undefined;
    // --time/--gtid on database backups: a point in time (restore/pitr.ts) when the store has a
    // binlog archive; --time without one keeps its older meaning and says so.
    let pitr: PointInTimeSetup | null = null;
    let replayed: ReplayResult | null = null;
    if (source === 'physical' || (source === undefined && id !== undefined)) {
      const catalog = await readCatalog(storage, sources.layout, sources);
      const resolved = await resolvePointInTime(
        storage,
        catalog.backups.map((b) => b.manifest),
        binlogPrefix(c),
        { id, time, gtid, timeZone: c.SCHEDULE_TIMEZONE },
        logger,
        cancel.signal,
      );
      pitr = resolved.setup;
      if (resolved.note) process.stderr.write(resolved.note + '\n');
    }
    const r = await runSourceRestore(storage, logger, settings, sources, {
      id: pitr ? pitr.plan.backup.id : (id ?? 'latest'),
      time: pitr ? undefined : time,
      mode,
      source: pitr ? 'physical' : source,
      destination: restoreDestination(mode, opts.targetDir, c.MARIADB_DATADIR),
      signal: cancel.signal,
      ...(pitr
        ? { beforePutBack: replayHook(storage, pitr, { tempDir: settings.tempDir, osUser: c.MARIADB_OS_USER, ageIdentityFile: c.AGE_IDENTITY_FILE || undefined, onReplayed: (x) => (replayed = x) }) }
        : {}),
    }).catch(async (e: unknown) => {
      // "latest"/--time pick database backups only: say so when the store holds directory backups.
      if (!(e instanceof BackupmateError) || e.code !== 'BACKUP_NOT_FOUND' || source !== 'physical') throw e;
      const others = await readCatalog(storage, sources.layout, sources).then(
        (cat) => cat.backups.filter((b) => b.manifest.source.type === 'directory').length,
        () => 0,
      );
      if (others === 0) throw e;
      throw new BackupmateError(e.code, `${e.message}; the store holds ${others} directory backup(s): restore those with --directories --target-dir DIR`, e.details, { cause: e });
    });
    const applied = `${r.applyName} ${fmtDuration(r.timings[`${r.applyName}Ms`] ?? 0)}`;
    if (r.source !== 'physical') {
      process.stdout.write(
        [
          `restored ${r.source} backup ${r.id} into ${r.destination} (${r.mode})`,
          `  chain applied in order: ${r.chain.join(' -> ')}`,
          `  downloaded ${fmtBytes(r.downloadedBytes)}; download+extract ${fmtDuration(r.timings.downloadMs)}, ${applied}, put back ${fmtDuration(r.timings.putBackMs)}, total ${fmtDuration(r.timings.totalMs)}`,
        ].join('\n') + '\n',
      );
      return;
    }
    const lines = [
      `restored backup ${r.id} into ${r.destination} (${r.mode})`,
      `  chain applied in order: ${r.chain.join(' -> ')}`,
      `  downloaded ${fmtBytes(r.downloadedBytes)}; download+extract ${fmtDuration(r.timings.downloadMs)}, ${applied}, put back ${fmtDuration(r.timings.putBackMs)}, total ${fmtDuration(r.timings.totalMs)}`,
    ];
    if (pitr && replayed) lines.push(`  ${describeReplay(replayed, pitr.plan.request)}`);
    if (r.movedAside) lines.push(`  the previous datadir was moved aside to ${r.movedAside} (delete it yourself once the restore is confirmed)`);
    // Which server the hint is about: a DB_SOCKET server still answering uses another datadir
    // (the restore refused otherwise), so this was a restore beside it.
    const socketServerDatadir =
      r.mode !== 'target-dir' && c.DB_SOCKET
        ? await querySingleValue(connectionSettings(c), c.LOCAL_TEMP_DIR, 'SELECT @@datadir').then(
            (d) => realOrResolved(d.trim()),
            () => null,
          )
        : null;
    const destination = await realOrResolved(r.destination);
    for (const l of startHint({ mode: r.mode as Exclude<RestoreMode, 'into-server'>, destination, osUser: c.MARIADB_OS_USER, socketServerDatadir })) lines.push(`  ${l}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
}

/** restore --into-server: a logical backup loaded into the running server (cli/into-server.ts). */
async function intoServerCommand(id: string | undefined, opts: GlobalOpts & { time?: string } & IntoServerOptions): Promise<void> {
  const c = load(opts);
  const logger = makeLogger(c, 'stderr', 'restore');
  const cancel = cancelOnSignals();
  try {
    const time = opts.time !== undefined ? parseRestoreTime(opts.time, c.SCHEDULE_TIMEZONE) : undefined;
    const storage = makeStorage(c, logger);
    if (id !== undefined && time === undefined) {
      const type = await sourceTypeOf(storage, makeSources(c), id);
      if (type !== undefined && type !== 'logical') {
        throw new BackupmateError('USAGE', `restore --into-server: backup ${id} is a ${type} backup; only logical backups (backup --logical) load into a running server so far`);
      }
    }
    const r = await restoreIntoServer(c, storage, logger, restoreSettings(c), {
      id: id ?? 'latest',
      time,
      signal: cancel.signal,
      database: opts.database,
      table: opts.table,
      replace: opts.replace,
    });
    process.stdout.write(intoServerLines(r, c.DB_SOCKET ? `socket ${c.DB_SOCKET}` : `${c.DB_HOST}:${c.DB_PORT}`).join('\n') + '\n');
  } finally {
    cancel.dispose();
    await closeLogger(logger);
  }
}

/**
 * `backupmate verify <id|latest|all>`: the report on stdout (table, or JSON with --json); exit 0
 * when every checked backup is ok, 65 when one is corrupt, else the code of why one could not be
 * checked (78 no identity, 76 store, 74 scratch space...).
 */
export async function verifyCommand(request: string | undefined, opts: GlobalOpts & { json?: boolean; binlog?: boolean }): Promise<void> {
  const c = load(opts);
  const logger = makeLogger(c, 'stderr', 'verify');
  const cancel = cancelOnSignals();
  try {
    if (opts.binlog) {
      const r = await verifyArchive(makeStorage(c, logger), c.BINLOG_PREFIX, { ageIdentityFile: c.AGE_IDENTITY_FILE || undefined, signal: cancel.signal });
      process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : renderArchiveVerify(c.BINLOG_PREFIX, r));
      if (!r.ok) throw new BackupmateError('INTEGRITY', `the binlog archive under ${c.BINLOG_PREFIX} failed verify: ${r.problems.length} problem(s)`);
      return;
    }
    const report = await runVerify(makeStorage(c, logger), logger, restoreSettings(c), { request: request ?? 'latest', signal: cancel.signal }, makeSources(c));
    process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : renderVerify(report));
    const err = verifyError(report);
    if (err) throw err;
  } finally {
    cancel.dispose();
    await closeLogger(logger);
  }
}

/**
/** The source type of the backup `id` names (any source), or undefined ('latest', or no such backup). */
async function sourceTypeOf(storage: Storage, sources: SourceRegistry, id: string): Promise<string | undefined> {
  if (id.trim() === 'latest') return undefined;
  const catalog = await readCatalog(storage, sources.layout, sources);
  let resolved: string;
  try {
    resolved = resolveId(id.trim(), catalog.backups.map((b) => b.manifest.id));
  } catch {
    return undefined;
  }
  return catalog.backups.find((b) => b.manifest.id === resolved)?.manifest.source.type;
}

/**
 * `backupmate drill [<id>|latest]`: restores the backup into LOCAL_TEMP_DIR, starts a throwaway
 * server on it, checks every table; the report on stdout (text, or JSON with --json). Exit 0 when
 * it passed; else the failing step's code (65 corrupt volume, 71 prepare, 80 server or tables,
 * 74 no room...). Alerts like a backup (NOTIFY_ON), writes METRICS_TEXTFILE when set.
 */
export async function drillCommand(request: string | undefined, opts: GlobalOpts & { json?: boolean }): Promise<void> {
  const c = load(opts);
  const logger = makeLogger(c, 'stderr', 'drill');
  const cancel = cancelOnSignals();
  const metrics = oneShotMetrics(c, logger);
  const alerts = createNotifier(c, logger);
  const started = new Date();
  let storage: Storage | undefined;
  let failed = false;
  const print = (r: DrillReport) => process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : renderDrill(r));
  try {
    storage = makeStorage(c, logger, metrics.metrics);
    const r = await drillAndRecord(storage, logger, drillSettings(c), { id: request?.trim() || 'latest', signal: cancel.signal, host: os.hostname() }, metrics.metrics);
    print(r);
    await alerts.jobFinished({ host: os.hostname(), jobId: null, kind: 'drill', trigger: 'manual', status: 'succeeded', backupId: r.backupId ?? undefined, startedAt: r.startedAt, finishedAt: r.finishedAt, durationMs: Date.now() - started.getTime() });
  } catch (e) {
    failed = true;
    if (e instanceof DrillFailed) print(e.report);
    const err = e instanceof BackupmateError ? e : null;
    await alerts.jobFinished({
      host: os.hostname(),
      jobId: null,
      kind: 'drill',
      trigger: 'manual',
      status: err?.code === 'CANCELLED' ? 'cancelled' : 'failed',
      backupId: e instanceof DrillFailed ? (e.report.backupId ?? undefined) : undefined,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Date.now() - started.getTime(),
      error: { code: err?.code ?? 'INTERNAL', message: errorText(e), stage: err?.details.stage as string | undefined },
    });
    throw e;
  } finally {
    cancel.dispose();
    await metrics.flush(storage, failed ? 'drill' : undefined);
    await closeLogger(logger);
  }
}

/**
 * `config check`: every key valid, then what can be checked on this host without the server or
 * the store (directories creatable and writable, files readable, programs on PATH: see
 * check/local.ts): one `invalid configuration:` line per problem, exit 78. `config show` only
 * shows. Both print what `--config` selects, i.e. what the daemon given the same options loads.
 */
export async function configCommand(what: 'check' | 'show', opts: GlobalOpts): Promise<void> {
  const c = load(opts);
  const view = redactedView(c);
  for (const w of c.warnings) process.stderr.write(`backupmate: warning: ${w}\n`);
  const rows = [['KEY', 'VALUE', 'FROM'], ...Object.entries(view).map(([k, v]) => [k, String(v), c.sources[k as keyof typeof c.sources] ?? 'default'])];
  if (what === 'check') {
    const results = [...(await localChecks(c, nodeProbe())), ...(await objectLockChecks(c))];
    const problems = results.filter((r) => !r.ok).map((r) => PROBLEM_PREFIX + r.text);
    if (problems.length) throw new BackupmateError('CONFIG', problems.join('\n'), { problems });
    process.stdout.write('configuration is valid\n' + results.map((r) => `  ok: ${r.text}\n`).join(''));
  }
  process.stdout.write(renderTable(rows));
}

/**
 * `backupmate check`: the whole preflight, one line per check (ok / FAILED and why), see
 * check/check.ts. Exit 0 when all pass, else the status of the first failure.
 */
export async function checkCommand(opts: GlobalOpts): Promise<void> {
  const c = load(opts);
  const logger = makeLogger(c, 'stderr', 'check');
  // The client's option file (the password) goes into a private directory of its own, so the
  // check creates nothing in LOCAL_TEMP_DIR, which it is judging.
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'backupmate-check-'));
  try {
    const storage = makeStorage(c, logger);
    const connection = connectionSettings(c);
    const results = await runChecks(c, {
      probe: nodeProbe(),
      server: {
        version: () => serverVersion(connection, scratch),
        grants: () => querySingleValue(connection, scratch, 'SHOW GRANTS FOR CURRENT_USER()'),
      },
      mariabackupVersion: () => mariabackupVersion(c.MARIADB_BACKUP_PATH),
      storage,
      newestChainRawBytes: async () => {
        const catalog = await readCatalog(storage, catalogPrefixes(c));
        const { chains } = buildChains(catalog.backups.map((b) => summarize(b.manifest)));
        const newest = chains[chains.length - 1];
        return newest ? newest.members.reduce((sum, m) => sum + m.rawBytes, 0) : null;
      },
    });
    process.stdout.write(renderChecks(results));
    const err = checkError(results);
    if (err) throw err;
    process.stdout.write(`check: all ${results.length} checks passed\n`);
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
    await closeLogger(logger);
  }
}

/** `backupmate run`: the daemon runs until SIGTERM (exit 0) and reloads on SIGHUP. */
export async function runCommand(opts: GlobalOpts): Promise<void> {
  const daemon = await Daemon.start(loadOptions(opts));
  await new Promise<void>((resolve) => {
    process.on('SIGHUP', () => daemon.reload());
    const stop = () => {
      void daemon.stop().then(resolve, (e: unknown) => {
        process.stderr.write(`backupmate: error while stopping: ${errorText(e)}\n`);
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** BINLOG_PREFIX when the configuration has the key (the binlog archive's section), else its default. */
export function binlogPrefix(c: Config): string {
  return c.BINLOG_PREFIX || DEFAULT_BINLOG_PREFIX;
}
