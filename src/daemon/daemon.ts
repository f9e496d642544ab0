/**
 * The resident daemon (`backupmate run`): the composition root of schedules, queue, control
 * socket, systemd notifications and signals.
 *
 * Lifecycle: load and validate the configuration → open the store and check it answers → listen
 * on the control socket → READY=1 → start the schedules → catch up missed work (a full now when
 * one is due). SIGTERM: stop accepting, cancel the running job cleanly (children killed, upload
 * aborted, no manifest), STOPPING=1, exit 0. SIGHUP: reload the configuration; an invalid one is
 * rejected with a logged reason and the old one stays in force.
 */
import * as os from 'node:os';
import { catalogPrefixes, decideBackup, planFacts } from '../backup/decide.js';
import { runBackup } from '../backup/job.js';
import { preflightBackup } from '../backup/preflight.js';
import type { Config } from '../config/load.js';
import { loadConfig, type LoadOptions } from '../config/load.js';
import { parseRestoreTime } from '../domain/chain.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import { planBackup } from '../sources/physical/plan.js';
import { fmtBytes } from '../domain/units.js';
import { closeLogger, updateSecrets, type Logger } from '../log/logger.js';
import { secretValues } from '../config/redact.js';
import { startServer, stopServer, type ServiceSettings } from '../mariadb/service.js';
import { runRestore } from '../restore/job.js';
import { runVerify, verifyError, type VerifyReport } from '../verify/verify.js';
import { abortUnfinishedUploads, prune, removeDeadJobLeftovers } from '../retention/prune.js';
import { catalogJson, readCatalog } from '../storage/catalog.js';
import type { Manifest } from '../domain/manifest.js';
import type { Storage } from '../storage/storage.js';
import { VERSION } from '../version.js';
import { backupSettings, connectionSettings, makeLogger, makeStorage, pruneSettings, restoreSettings } from '../app/wiring.js';
import { ControlServer, type Connection } from './control.js';
import { handlers } from './handlers/index.js';
import { SystemdNotifier } from './notify.js';
import { createNotifier, isStale, notifyChannels, staleAfterMs, type Notifier } from '../notify/notifier.js';
import { estimateRaw, progressTotal } from './estimate.js';
import { procScan, removeDeadTempDirs, type ProcessScan } from './leftovers.js';
import type { JobView, RestoreParams, RestoreResultView, StatusResult, StoreCatalogView } from './protocol.js';
import { JobQueue } from './queue.js';
import { Scheduler } from './scheduler.js';
import { lastOutcomes, lastSuccessAt, loadState, newestStored, recordJob, saveState, type DaemonState } from './state.js';

/** What the control handlers may ask of the daemon. */
export interface DaemonApi {
  status(): StatusResult;
  list(): Promise<unknown>;
  backup(kind: 'full' | 'incremental' | 'auto', wait: boolean, conn: Connection): Promise<JobView>;
  cancel(job?: string): JobView;
  restore(params: RestoreParams, conn: Connection): Promise<RestoreResultView>;
  verify(id: string | undefined, conn: Connection): Promise<VerifyReport>;
}

export class Daemon implements DaemonApi {
  private config: Config;
  private logger: Logger;
  private storage: Storage;
  private readonly queue: JobQueue;
  private readonly scheduler: Scheduler;
  private readonly notifier: SystemdNotifier;
  private control: ControlServer | null = null;
  private state: DaemonState;
  private readonly startedAt = new Date();
  private stopping = false;
  private saveChain: Promise<void> = Promise.resolve();
  private alerts: Notifier;
  private staleTimer: ReturnType<typeof setInterval> | null = null;
  /** stderr tail and exit code of failed jobs, for the notification (JobView keeps them short). */
  private readonly lastErrorDetail = new Map<string, { exitCode?: number; stderrTail?: string[] }>();
  /** The last-success instant a stale alert was already sent for (one alert per episode). */
  private staleAlertedFor: string | null | undefined = undefined;
  /** The store's valid backups as last read (at start, before each backup, after each job). */
  private storedBackups: Manifest[] = [];
  private catalogView: StoreCatalogView = { newest: { full: null, incremental: null }, readAt: null };
  /** Who uses which paths, for the removal of dead jobs' temp dirs; /proc unless a test says otherwise. */
  private readonly processes: ProcessScan = procScan();

  private constructor(
    private readonly loadOpts: LoadOptions,
    config: Config,
    logger: Logger,
    state: DaemonState,
  ) {
    this.config = config;
    this.logger = logger;
    this.storage = makeStorage(config, logger);
    this.state = state;
    this.queue = new JobQueue(state.nextJobSeq);
    this.notifier = new SystemdNotifier(logger);
    this.alerts = createNotifier(config, logger);
    this.scheduler = new Scheduler(logger, (name) => {
      const { job, coalesced } = this.queue.enqueue(this.backupJob('auto', 'schedule', `${name} schedule tick`));
      this.logger.info(coalesced ? `${name} schedule tick coalesced into waiting job ${job.id}` : `${name} schedule tick queued job ${job.id}`, {
        event: coalesced ? 'schedule.coalesced' : 'schedule.tick',
        schedule: name,
        jobId: job.id,
      });
    });
    this.queue.onChange((job, ev) => this.onJobChange(job, ev));
  }

  /** Loads everything and starts; throws (CONFIG, STORAGE, BUSY...) when the daemon cannot run. */
  static async start(loadOpts: LoadOptions): Promise<Daemon> {
    const config = loadConfig(loadOpts);
    const logger = makeLogger(config, 'stdout', 'run');
    const { state, problem } = await loadState(config.STATE_DIR);
    if (problem) logger.warn(problem, { event: 'state.unreadable' });
    const d = new Daemon(loadOpts, config, logger, state);
    await d.boot();
    return d;
  }

  /**
   * Jobs the state file shows as queued or running belonged to a daemon that died (kill -9,
   * crash, power loss): record them as crashed, and remove the incomplete backups they left.
   * Not CANCELLED: nobody asked them to stop, and a cancellation is not an alert. The code is
   * INTERNAL (the registry has none for "the process died"); the state is what people read.
   */
  private async recoverDeadJobs(): Promise<void> {
    const dead = this.state.jobs.filter((j) => j.state === 'running' || j.state === 'queued');
    if (!dead.length) return;
    const now = new Date().toISOString();
    for (const j of dead) {
      j.state = 'crashed';
      j.finishedAt = now;
      j.error = { code: 'INTERNAL', message: 'the daemon was killed or crashed while this job ran (daemon died)', stage: 'daemon' };
      this.logger.warn(`job ${j.id} was ${j.startedAt ? 'running' : 'queued'} when the daemon died; recorded as crashed`, {
        event: 'daemon.dead_job',
        jobId: j.id,
        backupId: j.backupId,
      });
    }
    this.persist();
    // Nobody was told when it died: this is the first moment anyone can be (a failure alert).
    for (const j of dead) void this.notifyFinished(j);
    const ids = dead.map((j) => j.backupId).filter((x): x is string => !!x);
    try {
      const removed = await removeDeadJobLeftovers(this.storage, this.logger, pruneSettings(this.config), ids);
      const aborted = await abortUnfinishedUploads(this.storage, this.logger, pruneSettings(this.config), ids);
      this.logger.info(`removed ${removed.length} object(s) and ${aborted.length} unfinished upload(s) left by dead jobs`, {
        event: 'daemon.cleanup',
        backupIds: ids,
        keys: removed,
        aborted,
      });
    } catch (e) {
      this.logger.error(`could not remove dead jobs' leftovers: ${errorText(e)} (prune removes them after INCOMPLETE_GRACE_HOURS)`, { event: 'daemon.cleanup', status: 'failed' });
    }
  }

  private async boot(): Promise<void> {
    const c = this.config;
    this.logger.info('backupmate daemon starting', { event: 'daemon.start', version: VERSION, store: this.storage.description, socket: c.CONTROL_SOCKET });
    // The store must answer before we say READY: a daemon that cannot reach its store is not ready.
    await this.storage.list(c.FULL_BACKUP_PREFIX);
    // Before any job of ours can create one: what is in LOCAL_TEMP_DIR now belongs to dead jobs
    // (the option files hold the DB password) or to a live process beside us (a cron backup).
    await removeDeadTempDirs(c.LOCAL_TEMP_DIR, this.processes, this.logger);
    this.control = new ControlServer(c.CONTROL_SOCKET, c.CONTROL_SOCKET_GROUP, handlers(this), this.logger);
    await this.control.listen();
    this.scheduler.start({ full: c.FULL_BACKUP_SCHEDULE, incremental: c.INCREMENTAL_BACKUP_SCHEDULE, timeZone: c.SCHEDULE_TIMEZONE });
    await this.notifier.ready(this.statusLine());
    this.logger.info('backupmate daemon ready', { event: 'daemon.ready', next: this.nextRuns() });
    await this.recoverDeadJobs();
    await this.refreshCatalog();
    this.reportLastFailures();
    void this.catchUp();
    this.staleTimer = setInterval(() => this.checkStale(), 60_000);
    this.staleTimer.unref();
    const channels = notifyChannels(this.config);
    this.logger.info(channels.length ? `notifications go to ${channels.join(' and ')} (NOTIFY_ON=${this.config.NOTIFY_ON})` : 'no notification channel configured', {
      event: 'notify.channels',
      channels,
    });
  }

  /** A missed full (newest full older than the full period, or none) runs now. */
  private async catchUp(): Promise<void> {
    try {
      const c = this.config;
      const plan = planBackup(await planFacts(c, backupSettings(c), this.storage));
      if (plan.kind === 'full' && c.FULL_BACKUP_SCHEDULE !== 'off') {
        // 'auto', not 'full': the planner decides again when the job runs. A schedule tick during
        // this check may already have queued (and taken) the missing full; a forced full would
        // then be a second one for nothing. A tick waiting in the queue coalesces with this job.
        const { job } = this.queue.enqueue(this.backupJob('auto', 'catch-up', `catch-up at start: ${plan.reason}`));
        this.logger.info(`catch-up: a full backup is due, queued job ${job.id}`, { event: 'daemon.catch_up', reason: plan.reason, jobId: job.id });
      } else {
        this.logger.info('catch-up: nothing missed', { event: 'daemon.catch_up', reason: plan.reason });
      }
    } catch (e) {
      this.logger.error(`catch-up check failed: ${errorText(e)}; the schedules still run`, { event: 'daemon.catch_up', status: 'failed' });
    }
  }

  private reportLastFailures(): void {
    for (const kind of ['full', 'incremental'] as const) {
      const { success, failure } = lastOutcomes(this.state.jobs, kind);
      if (failure && (!success || failure.finishedAt! > success.finishedAt!)) {
        this.logger.warn(`the last ${kind} backup failed (job ${failure.id} at ${failure.finishedAt}: ${failure.error?.message}); it is retried at the next tick`, {
          event: 'daemon.last_failure',
          kind,
          jobId: failure.id,
        });
      }
    }
  }

  // --- jobs ------------------------------------------------------------------------------------

  private backupJob(kind: 'full' | 'incremental' | 'auto', trigger: JobView['trigger'], reason: string) {
    return {
      kind: 'backup' as const,
      trigger,
      backupKind: kind,
      reason,
      run: async (ctx: import('./queue.js').JobContext) => {
        const c = this.config;
        const storage = this.storage;
        const settings = backupSettings(c);
        const log = this.logger;
        const pre = await preflightBackup(settings, storage, c.FULL_BACKUP_PREFIX, log);
        const decided = await decideBackup(c, settings, storage, log, kind, reason, pre.serverVersion);
        ctx.setBackupKind(decided.target.kind);
        ctx.setReason(decided.plan ? `${reason}: ${decided.reason}` : reason);
        await this.refreshCatalog();
        const target = decided.target;
        const estimate = estimateRaw(this.storedBackups, target.kind, target.kind === 'incremental' ? target.fullId : undefined);
        const m = await runBackup(storage, log, settings, target, {
          signal: ctx.signal,
          onStart: (id) => ctx.setBackupId(id),
          onProgress: (p) => ctx.progress({ stage: 'backup', bytes: p.rawBytes, total: progressTotal(estimate, p.rawBytes) }),
        }).catch((e: unknown) => {
          if (e instanceof BackupmateError) {
            this.lastErrorDetail.set(ctx.jobId, { exitCode: e.details.exitCode as number | undefined, stderrTail: e.details.stderrTail as string[] | undefined });
          }
          throw e;
        });
        await prune(storage, log, pruneSettings(c), { dryRun: false }).catch((e: unknown) =>
          log.error(`retention after the backup failed: ${errorText(e)}`, { event: 'prune.end', status: 'failed' }),
        );
        return { bytes: m.storedBytes };
      },
    };
  }

  /**
   * Re-reads the store's catalog for status, the stale check and progress estimates. Never
   * throws: a failed read keeps the previous view and says why (status shows it).
   */
  private async refreshCatalog(): Promise<void> {
    // Jobs cancelled by a stop finish too: no reads (and no log lines) while the logger closes.
    if (this.stopping) return;
    try {
      const catalog = await readCatalog(this.storage, catalogPrefixes(this.config));
      this.storedBackups = catalog.backups.map((b) => b.manifest);
      this.catalogView = { newest: newestStored(this.storedBackups), readAt: new Date().toISOString() };
    } catch (e) {
      this.catalogView = { ...this.catalogView, error: errorText(e) };
      this.logger.warn(`cannot read the store's catalog for status: ${errorText(e)}`, { event: 'daemon.catalog', status: 'failed' });
    }
  }

  private onJobChange(job: JobView, ev: 'queued' | 'started' | 'updated' | 'progress' | 'finished'): void {
    if (ev === 'updated') {
      recordJob(this.state, job);
      this.persist();
    } else if (ev !== 'progress') {
      const fields = {
        event: `job.${ev}`,
        jobId: job.id,
        jobKind: job.kind,
        kind: job.backupKind,
        trigger: job.trigger,
        backupId: job.backupId,
        status: job.state,
        reason: job.reason,
        bytes: job.bytes,
        ...(job.startedAt && job.finishedAt ? { durationMs: Date.parse(job.finishedAt) - Date.parse(job.startedAt) } : {}),
        ...(job.error ? { error: job.error.message, code: job.error.code, stage: job.error.stage } : {}),
      };
      if (job.state === 'failed') this.logger.error(`job ${job.id} failed: ${job.error?.message}`, fields);
      else this.logger.info(`job ${job.id} ${job.state}`, fields);
      if (ev === 'finished') {
        void this.notifyFinished(job);
        // A backup, or a prune after it, changed the store; a restore or verify did not, but
        // a cron backup may have meanwhile. Cheap next to a job.
        void this.refreshCatalog();
      }
      recordJob(this.state, job);
      this.state.nextJobSeq = this.queue.nextSeq;
      this.persist();
    }
    this.notifier.status(this.statusLine());
  }

  /** Slack/e-mail per NOTIFY_ON; never blocks or fails the queue (the notifier swallows errors). */
  private async notifyFinished(job: JobView): Promise<void> {
    const detail = this.lastErrorDetail.get(job.id);
    this.lastErrorDetail.delete(job.id);
    await this.alerts.jobFinished({
      host: os.hostname(),
      jobId: job.id,
      kind: job.kind === 'restore' || job.kind === 'verify' ? job.kind : (job.backupKind ?? 'auto'),
      trigger: job.trigger,
      status: job.state === 'succeeded' ? 'succeeded' : job.state === 'cancelled' ? 'cancelled' : 'failed',
      backupId: job.backupId,
      error: job.error ? { ...job.error, ...detail } : undefined,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      bytes: job.bytes,
      durationMs: job.startedAt && job.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.startedAt) : undefined,
    });
  }

  /** Stale-backup alert: no backup succeeded within STALE_AFTER (or twice the incremental period). */
  private checkStale(): void {
    const c = this.config;
    const now = new Date();
    const limit = staleAfterMs(c, now);
    if (!limit) return;
    const episode = lastSuccessAt(this.state.jobs, this.catalogView);
    const lastAt = episode ? new Date(episode) : null;
    if (!isStale(lastAt, this.startedAt, limit, now)) {
      this.staleAlertedFor = undefined;
      return;
    }
    if (this.staleAlertedFor === episode) return;
    this.staleAlertedFor = episode;
    this.logger.error(`no backup has succeeded for more than ${Math.round(limit / 3_600_000)}h (last success: ${episode ?? 'never'})`, {
      event: 'backup.stale',
      lastSuccessAt: episode,
      staleAfterMs: limit,
    });
    void this.alerts.stale({ host: os.hostname(), lastSuccessAt: episode, staleAfterMs: limit, now });
  }

  private persist(): void {
    const snapshot = JSON.parse(JSON.stringify(this.state)) as DaemonState;
    this.saveChain = this.saveChain
      .then(() => saveState(this.config.STATE_DIR, snapshot))
      .catch((e: unknown) => {
        this.logger.error(`cannot write the state file in ${this.config.STATE_DIR}: ${errorText(e)}`, { event: 'state.unwritable' });
      });
  }

  // --- status ----------------------------------------------------------------------------------

  private nextRuns(): { full: string | null; incremental: string | null } {
    const n = this.scheduler.next();
    return { full: n.full?.toISOString() ?? null, incremental: n.incremental?.toISOString() ?? null };
  }

  private statusLine(): string {
    if (this.stopping) return 'stopping';
    const r = this.queue.current;
    if (r) {
      const p = r.progress;
      const pct = p && p.total > 0 ? `${Math.min(99, Math.floor((p.bytes / p.total) * 100))}% ` : '';
      const what = r.kind === 'backup' ? `backup ${r.backupId ?? '(planning)'}` : `${r.kind} ${r.backupId ?? ''}`.trim();
      return `${what}: ${pct}${fmtBytes(p?.bytes ?? 0)}`;
    }
    const n = this.scheduler.next();
    const fmt = (d: Date | null) => (d ? d.toISOString().slice(0, 16).replace('T', ' ') + 'Z' : 'off');
    return `idle; next full ${fmt(n.full)}, next incremental ${fmt(n.incremental)}`;
  }

  status(): StatusResult {
    const jobs = this.state.jobs;
    return {
      version: VERSION,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      state: this.stopping ? 'stopping' : this.scheduler.paused ? 'paused' : this.queue.current ? 'running' : 'idle',
      running: this.queue.current,
      queued: this.queue.queued,
      next: this.nextRuns(),
      timeZone: this.config.SCHEDULE_TIMEZONE || Intl.DateTimeFormat().resolvedOptions().timeZone,
      last: { full: lastOutcomes(jobs, 'full'), incremental: lastOutcomes(jobs, 'incremental') },
      recent: jobs.slice(-10),
      store: this.storage.description,
      catalog: this.catalogView,
    };
  }

  async list(): Promise<unknown> {
    return catalogJson(await readCatalog(this.storage, catalogPrefixes(this.config)));
  }

  // --- requests --------------------------------------------------------------------------------

  async backup(kind: 'full' | 'incremental' | 'auto', wait: boolean, conn: Connection): Promise<JobView> {
    const { job } = this.queue.enqueue(this.backupJob(kind, 'manual', `requested with backupmatectl backup${kind === 'auto' ? '' : ` --${kind}`}`));
    if (!wait) return job;
    return this.follow(job, conn);
  }

  /** Streams a job's progress to the client until it ends; a failed job becomes its error. */
  private async follow(job: JobView, conn: Connection): Promise<JobView> {
    const listener = (j: JobView, ev: string) => {
      if (j.id === job.id && !conn.closed) conn.event(ev === 'progress' ? 'progress' : 'state', ev === 'progress' ? { ...j.progress, backupId: j.backupId } : { state: j.state, backupId: j.backupId, reason: j.reason });
    };
    this.queue.onChange(listener);
    let final: JobView;
    try {
      final = (await this.queue.wait(job.id)) ?? job;
    } finally {
      this.queue.offChange(listener);
    }
    if (final.state !== 'succeeded') {
      throw new BackupmateError(final.error?.code ?? 'INTERNAL', `job ${final.id} ${final.state}: ${final.error?.message ?? ''}`.trim());
    }
    return final;
  }

  cancel(job?: string): JobView {
    return this.queue.cancel(job);
  }

  async restore(p: RestoreParams, conn: Connection): Promise<RestoreResultView> {
    if (!['target-dir', 'copy-back', 'move-back'].includes(p.mode)) {
      throw new BackupmateError('USAGE', `restore: mode must be target-dir, copy-back or move-back, got "${String(p.mode)}"`);
    }
    const c = this.config;
    const time = p.time ? parseRestoreTime(p.time, c.SCHEDULE_TIMEZONE) : undefined;
    const manageServer = p.mode !== 'target-dir';
    // Only copy-back/move-back ask for a confirmation. A client that cannot answer one is told so
    // now, not after the whole chain was downloaded and prepared; no job, so no alert either.
    if (manageServer && p.yes !== true && p.interactive === false) {
      throw new BackupmateError('DECLINED', 'restore not confirmed: no terminal to ask and no --yes; nothing was downloaded or changed');
    }
    const service: ServiceSettings = {
      stopCommand: c.MARIADB_STOP_COMMAND,
      startCommand: c.MARIADB_START_COMMAND,
      timeoutMs: c.MARIADB_SERVICE_TIMEOUT * 1000,
      datadir: c.MARIADB_DATADIR,
      connection: connectionSettings(c),
      tempDir: c.LOCAL_TEMP_DIR,
    };
    let result: RestoreResultView | null = null;
    const { job } = this.queue.enqueue({
      kind: 'restore',
      trigger: 'manual',
      reason: `restore ${p.id ?? `--time ${p.time}`} (${p.mode})`,
      run: async (ctx) => {
        this.scheduler.paused = true;
        const log = this.logger;
        try {
          let stopped = false;
          const report = await runRestore(this.storage, log, restoreSettings(c), {
            id: p.id ?? 'latest',
            time,
            mode: p.mode,
            targetDir: p.targetDir,
            signal: ctx.signal,
            serverStoppedLater: manageServer,
            onProgress: (pr) => {
              ctx.progress(pr);
              conn.event('progress', pr);
            },
            beforePutBack: async (info) => {
              ctx.setBackupId(info.id);
              if (!manageServer) return;
              if (!p.yes) {
                const prompt =
                  `Restore ${info.chain.join(' -> ')} into ${info.destination} (${p.mode})?\n` +
                  `  MariaDB will be stopped with: ${c.MARIADB_STOP_COMMAND}\n` +
                  `  the current datadir ${info.destination} will be moved aside (not deleted)\n` +
                  (p.noStart ? '  MariaDB will NOT be started afterwards (--no-start)\n' : `  then started with: ${c.MARIADB_START_COMMAND}\n`);
                conn.event('confirm', { prompt, datadir: info.destination, stopCommand: c.MARIADB_STOP_COMMAND });
                const answer = await conn.next('confirm');
                if (answer?.params?.yes !== true) {
                  throw new BackupmateError('DECLINED', 'restore not confirmed: nothing was changed (the server was not stopped)');
                }
              }
              conn.event('progress', { stage: 'stop', bytes: 0, total: 0 });
              await stopServer(log, service);
              stopped = true;
            },
          });
          let serverStarted = false;
          if (manageServer && !p.noStart) {
            conn.event('progress', { stage: 'start', bytes: 0, total: 0 });
            try {
              await startServer(log, service);
              serverStarted = true;
            } catch (e) {
              const aside = report.movedAside;
              throw new BackupmateError(
                'TOOL_FAILED',
                `the restore of ${report.id} is in place at ${report.destination}, but MariaDB did not come back: ${errorText(e)}. ` +
                  `Check the server's log (journalctl -u mariadb, or the *.err file in ${report.destination}). ` +
                  (aside
                    ? `To roll back to the previous datadir: ${c.MARIADB_STOP_COMMAND}; mv ${report.destination} ${report.destination}.failed-restore; mv ${aside} ${report.destination}; ${c.MARIADB_START_COMMAND}`
                    : 'There was no previous datadir to roll back to.'),
              );
            }
          } else if (stopped) {
            log.warn('MariaDB was left stopped (--no-start)', { event: 'restore.no_start' });
          }
          result = {
            id: report.id,
            chain: report.chain,
            mode: report.mode,
            destination: report.destination,
            movedAside: report.movedAside,
            serverStarted,
            timings: report.timings,
          };
          return { bytes: report.downloadedBytes };
        } finally {
          this.scheduler.paused = false;
        }
      },
    });
    const final = (await this.queue.wait(job.id)) ?? job;
    if (final.state !== 'succeeded' || !result) {
      throw new BackupmateError(final.error?.code ?? 'INTERNAL', final.error?.message ?? `restore job ${final.id} ${final.state}`);
    }
    return result;
  }

  /**
   * `verify`: a queued job like the others (one job at a time: it never overlaps a backup's upload
   * or a restore). The report comes back whatever it says; a corrupt or unchecked result also
   * fails the job, so status and notifications show it.
   */
  async verify(id: string | undefined, conn: Connection): Promise<VerifyReport> {
    const request = id?.trim() || 'latest';
    let report: VerifyReport | null = null;
    const { job } = this.queue.enqueue({
      kind: 'verify',
      trigger: 'manual',
      reason: `verify ${request}`,
      run: async (ctx) => {
        if (request !== 'all' && request !== 'latest') ctx.setBackupId(request);
        report = await runVerify(this.storage, this.logger, restoreSettings(this.config), {
          request,
          signal: ctx.signal,
          onProgress: (p) => {
            ctx.progress(p);
            if (!conn.closed) conn.event('progress', p);
          },
        });
        const err = verifyError(report);
        if (err) throw err;
        return { bytes: report.backups.reduce((a, b) => a + b.checkedBytes, 0) };
      },
    });
    const final = (await this.queue.wait(job.id)) ?? job;
    if (report) return report;
    throw new BackupmateError(final.error?.code ?? 'INTERNAL', final.error?.message ?? `verify job ${final.id} ${final.state}`);
  }

  // --- signals ---------------------------------------------------------------------------------

  /** SIGHUP: a valid new configuration replaces the old; an invalid one is logged and ignored. */
  reload(): void {
    let next: Config;
    try {
      next = loadConfig(this.loadOpts);
    } catch (e) {
      this.logger.error(`configuration reload rejected, the previous configuration stays in force: ${errorText(e)}`, { event: 'config.reload', status: 'rejected' });
      return;
    }
    const prev = this.config;
    this.config = next;
    this.storage = makeStorage(next, this.logger);
    this.alerts = createNotifier(next, this.logger);
    // One logger for the daemon's life (the scheduler, queue and notifier hold it): new secrets
    // are added to its redaction and its level follows the new configuration.
    updateSecrets(this.logger, secretValues(next));
    this.logger.level = next.LOG_LEVEL;
    for (const w of next.warnings) this.logger.warn(w, { event: 'config.warning' });
    this.scheduler.start({ full: next.FULL_BACKUP_SCHEDULE, incremental: next.INCREMENTAL_BACKUP_SCHEDULE, timeZone: next.SCHEDULE_TIMEZONE });
    this.logger.info('configuration reloaded', { event: 'config.reload', status: 'applied', next: this.nextRuns() });
    // The store (or its prefixes) may be another now: status must not show the old one's backups.
    void this.refreshCatalog();
    for (const key of ['CONTROL_SOCKET', 'CONTROL_SOCKET_GROUP', 'STATE_DIR', 'LOG_FILE'] as const) {
      if (next[key] !== prev[key]) this.logger.warn(`${key} changed: restart the daemon for it to take effect`, { event: 'config.reload', key });
    }
    this.notifier.status(this.statusLine());
  }

  /** SIGTERM: stop accepting work, cancel the running job cleanly, exit 0. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info('stopping: no new jobs; cancelling the running job', { event: 'daemon.stopping', running: this.queue.current?.id ?? null });
    await this.notifier.stopping();
    this.scheduler.stop();
    if (this.staleTimer) clearInterval(this.staleTimer);
    await this.control?.close();
    await this.queue.shutdown();
    this.control?.dropClients();
    await this.saveChain;
    this.logger.info('backupmate daemon stopped', { event: 'daemon.stop', host: os.hostname() });
    await closeLogger(this.logger);
  }
}
