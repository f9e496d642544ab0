/**
 * The resident daemon (`backupmate run`): lifecycle only. It owns the queue, the schedules, the
 * state file, systemd notifications, the control socket and signals, and wires the handlers
 * (handlers/*, which do the work through DaemonContext) and the scheduled jobs (schedules.ts).
 *
 * Lifecycle: load and validate the configuration → open the store and check it answers → listen
 * on the control socket → READY=1 → start the schedules → catch up missed work (a full now when
 * one is due). SIGTERM: stop accepting, cancel the running job cleanly (children killed, upload
 * aborted, no manifest), STOPPING=1, exit 0. SIGHUP: reload the configuration; an invalid one is
 * rejected with a logged reason and the old one stays in force.
 */
import * as os from 'node:os';
import { catalogPrefixes, storeLockOptions } from '../backup/decide.js';
import type { Config } from '../config/load.js';
import { loadConfig, type LoadOptions } from '../config/load.js';
import { secretValues } from '../config/redact.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Manifest } from '../domain/manifest.js';
import { closeLogger, updateSecrets, type Logger } from '../log/logger.js';
import { createNotifier, isStale, notifyChannels, staleAfterMs, type Notifier } from '../notify/notifier.js';
import { readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { VERSION } from '../version.js';
import { syncCopy, type CopyResult } from '../storage/copy.js';
import type { PruneSettings } from '../retention/prune.js';
import type { CopyStatusView } from './protocol.js';
import { serveMetrics, type MetricsServer } from '../metrics/http.js';
import { Metrics } from '../metrics/metrics.js';
import { writeTextfile } from '../metrics/textfile.js';
import { makeCopyStore, makeLogger, makeStorage, pruneSettings } from '../app/wiring.js';
import { jobLogFields, jobOutcome } from './alerts.js';
import type { DaemonContext } from './context.js';
import { ControlServer } from './control.js';
import { binlogStatus, startBinlogArchive, type BinlogArchiveStatus } from './binlog.js';
import type { BinlogArchiver } from '../sources/binlog/archiver.js';
import { handlers } from './handlers/index.js';
import { statusLine } from './handlers/status.js';
import { procScan, removeDeadTempDirs, type ProcessScan } from './leftovers.js';
import { SystemdNotifier } from './notify.js';
import type { DrillSummaryView, JobView, StoreCatalogView } from './protocol.js';
import type { DrillReport } from '../drill/drill.js';
import { JobQueue } from './queue.js';
import { markDeadJobs, removeDeadJobsLeftovers, reportLastFailures } from './recovery.js';
import { Scheduler } from './scheduler.js';
import { catchUp, SCHEDULES, scheduleValues } from './schedules.js';
import { lastSuccessAt, loadState, newestStored, recordJob, saveState, type DaemonState } from './state.js';

export class Daemon implements DaemonContext {
  config: Config;
  storage: Storage;
  copy: { storage: Storage; config: Config; prune: PruneSettings } | null;
  copyStatus: CopyStatusView | null = null;
  readonly queue: JobQueue;
  readonly startedAt = new Date();
  stopping = false;
  catalog: { view: StoreCatalogView; backups: readonly Manifest[] } = { view: { newest: { full: null, incremental: null }, readAt: null }, backups: [] };
  private readonly scheduler: Scheduler;
  private readonly notifier: SystemdNotifier;
  private control: ControlServer | null = null;
  private saveChain: Promise<void> = Promise.resolve();
  private alerts: Notifier;
  private staleTimer: ReturnType<typeof setInterval> | null = null;
  /** stderr tail and exit code of failed jobs, for the notification (JobView keeps them short). */
  private readonly lastErrorDetail = new Map<string, { exitCode?: number; stderrTail?: string[] }>();
  /** The last-success instant a stale alert was already sent for (one alert per episode). */
  private staleAlertedFor: string | null | undefined = undefined;
  /** Who uses which paths, for the removal of dead jobs' temp dirs; /proc unless a test says otherwise. */
  private readonly processes: ProcessScan = procScan();
  /** BINLOG_ARCHIVE=true: the continuous binlog archive (daemon/binlog.ts). */
  private binlog: BinlogArchiver | null = null;
  /** The process's metrics (METRICS_LISTEN, METRICS_TEXTFILE); fed by jobs, retries and catalog reads. */
  readonly metrics = new Metrics();
  private metricsServer: MetricsServer | null = null;
  private textfileChain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly loadOpts: LoadOptions,
    config: Config,
    readonly logger: Logger,
    private readonly state: DaemonState,
  ) {
    this.config = config;
    this.storage = makeStorage(config, logger, this.metrics);
    this.copy = makeCopyStore(config, logger);
    this.queue = new JobQueue(state.nextJobSeq);
    this.notifier = new SystemdNotifier(logger);
    this.alerts = createNotifier(config, logger);
    this.scheduler = new Scheduler(logger, (name) => {
      const entry = SCHEDULES.find((e) => e.name === name);
      if (!entry) throw new Error(`no schedule named ${name}`);
      const { job, coalesced } = this.queue.enqueue(entry.job(this, `${name} schedule tick`));
      this.logger.info(coalesced ? `${name} schedule tick coalesced into waiting job ${job.id}` : `${name} schedule tick queued job ${job.id}`, {
        event: coalesced ? 'schedule.coalesced' : 'schedule.tick',
        schedule: name,
        jobId: job.id,
      });
    });
    this.queue.onChange((job, ev) => this.onJobChange(job, ev));
    // The last good drill survives a restart in the metrics too (a failed one is in status and the log).
    const ld = state.lastDrill;
    if (ld?.status === 'ok') this.metrics.drillEnded({ ok: true, at: new Date(ld.finishedAt), backupId: ld.backupId, timeToReadyMs: ld.timeToReadyMs });
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

  private async boot(): Promise<void> {
    const c = this.config;
    this.logger.info('backupmate daemon starting', { event: 'daemon.start', version: VERSION, store: this.storage.description, socket: c.CONTROL_SOCKET });
    // The store must answer before we say READY: a daemon that cannot reach its store is not ready.
    await this.storage.list(c.FULL_BACKUP_PREFIX);
    // Before any job of ours can create one: what is in LOCAL_TEMP_DIR now belongs to dead jobs
    // (the option files hold the DB password) or to a live process beside us (a cron backup).
    await removeDeadTempDirs(c.LOCAL_TEMP_DIR, this.processes, this.logger);
    if (c.METRICS_LISTEN) {
      this.metricsServer = await serveMetrics(c.METRICS_LISTEN, this.metrics).catch((e: unknown) => {
        throw new BackupmateError('CONFIG', `METRICS_LISTEN=${c.METRICS_LISTEN}: cannot listen (${errorText(e)})`, { key: 'METRICS_LISTEN' });
      });
      this.logger.info(`metrics at http://${this.metricsServer.address}/metrics`, { event: 'metrics.listen', address: this.metricsServer.address });
    }
    this.control = new ControlServer(c.CONTROL_SOCKET, c.CONTROL_SOCKET_GROUP, handlers(this), this.logger);
    await this.control.listen();
    this.scheduler.start(scheduleValues(c), c.SCHEDULE_TIMEZONE);
    await this.notifier.ready(statusLine(this));
    this.binlog = startBinlogArchive(c, this.storage, this.logger);
    this.logger.info('backupmate daemon ready', { event: 'daemon.ready', next: this.nextRuns() });
    const dead = markDeadJobs(this.state.jobs, this.logger);
    if (dead.length) {
      this.persist();
      // Nobody was told when it died: this is the first moment anyone can be (a failure alert).
      for (const j of dead) {
        this.metrics.jobFailed(j.kind);
        void this.notifyFinished(j);
      }
      await removeDeadJobsLeftovers(dead, this.storage, this.logger, pruneSettings(c));
    }
    await this.refreshCatalog();
    reportLastFailures(this.state.jobs, this.logger);
    // The copy first (what it missed while the daemon was down or the copy unreachable), then the
    // schedules' catch-up; both in the background, after READY.
    void this.catchUpCopy().then(() => catchUp(this));
    this.staleTimer = setInterval(() => this.checkStale(), 60_000);
    this.staleTimer.unref();
    const channels = notifyChannels(c);
    this.logger.info(channels.length ? `notifications go to ${channels.join(' and ')} (NOTIFY_ON=${c.NOTIFY_ON})` : 'no notification channel configured', {
      event: 'notify.channels',
      channels,
    });
  }

  // --- DaemonContext ---------------------------------------------------------------------------

  get jobs(): readonly JobView[] {
    return this.state.jobs;
  }

  binlogArchive(): BinlogArchiveStatus | null {
    return binlogStatus(this.config, this.binlog);
  }

  get schedulesPaused(): boolean {
    return this.scheduler.paused;
  }

  set schedulesPaused(v: boolean) {
    this.scheduler.paused = v;
  }

  nextRuns(): { full: string | null; incremental: string | null; [schedule: string]: string | null } {
    const next = Object.entries(this.scheduler.next()).map(([name, at]) => [name, at?.toISOString() ?? null]);
    return { full: null, incremental: null, ...Object.fromEntries(next) };
  }

  async noteCopy(r: CopyResult): Promise<void> {
    this.copyStatus = { store: r.store, at: new Date().toISOString(), state: r.error === null ? 'ok' : 'behind', missing: r.missing, copied: r.copied, error: r.error };
    if (r.error === null) return;
    await this.alerts.jobFinished({
      host: os.hostname(),
      jobId: null,
      kind: 'copy',
      trigger: 'schedule',
      status: 'failed',
      finishedAt: this.copyStatus.at,
      error: { code: r.errorCode ?? 'INTERNAL', message: r.error },
    });
  }

  /** At start: copies what the second store lacks (never throws; the result is noted for status). */
  private async catchUpCopy(): Promise<void> {
    const copy = this.copy;
    if (!copy || this.stopping) return;
    const r = await syncCopy({
      primary: this.storage,
      copy: copy.storage,
      layout: catalogPrefixes(this.config),
      logger: this.logger,
      lock: storeLockOptions(copy.config, 'copy'),
    });
    await this.noteCopy(r);
  }

  get lastDrill(): DrillSummaryView | undefined {
    return this.state.lastDrill;
  }

  recordDrill(r: DrillReport): void {
    this.state.lastDrill = {
      backupId: r.backupId,
      status: r.status,
      ...(r.failedStep ? { failedStep: r.failedStep } : {}),
      ...(r.error ? { error: r.error.message } : {}),
      finishedAt: r.finishedAt,
      timeToReadyMs: r.timeToReadyMs,
      stepsMs: r.stepsMs,
      tablesChecked: r.tables.checked,
    };
    this.persist();
  }

  keepErrorDetail(jobId: string, detail: { exitCode?: number; stderrTail?: string[] }): void {
    this.lastErrorDetail.set(jobId, detail);
  }

  /**
   * Re-reads the store's catalog for status, the stale check and progress estimates. Never
   * throws: a failed read keeps the previous view and says why (status shows it).
   */
  async refreshCatalog(): Promise<void> {
    // Jobs cancelled by a stop finish too: no reads (and no log lines) while the logger closes.
    if (this.stopping) return;
    try {
      const catalog = await readCatalog(this.storage, catalogPrefixes(this.config));
      const backups = catalog.backups.map((b) => b.manifest);
      this.catalog = { view: { newest: newestStored(backups), readAt: new Date().toISOString() }, backups };
      this.metrics.storeCatalog(this.storage.description, backups);
      this.writeMetricsFile();
    } catch (e) {
      this.catalog = { ...this.catalog, view: { ...this.catalog.view, error: errorText(e) } };
      this.logger.warn(`cannot read the store's catalog for status: ${errorText(e)}`, { event: 'daemon.catalog', status: 'failed' });
    }
  }

  // --- jobs, state and alerts ------------------------------------------------------------------

  private onJobChange(job: JobView, ev: 'queued' | 'started' | 'updated' | 'progress' | 'finished'): void {
    if (ev === 'updated') {
      recordJob(this.state, job);
      this.persist();
    } else if (ev !== 'progress') {
      const fields = jobLogFields(job, ev);
      if (job.state === 'failed') this.logger.error(`job ${job.id} failed: ${job.error?.message}`, fields);
      else this.logger.info(`job ${job.id} ${job.state}`, fields);
      if (ev === 'finished') {
        if (job.state === 'failed' || job.state === 'crashed') this.metrics.jobFailed(job.kind);
        this.writeMetricsFile();
        void this.notifyFinished(job);
        // A backup, or a prune after it, changed the store; a restore or verify did not, but
        // a cron backup may have meanwhile. Cheap next to a job.
        void this.refreshCatalog();
      }
      recordJob(this.state, job);
      this.state.nextJobSeq = this.queue.nextSeq;
      this.persist();
    }
    this.notifier.status(statusLine(this));
  }

  /** Slack/e-mail per NOTIFY_ON; never blocks or fails the queue (the notifier swallows errors). */
  private async notifyFinished(job: JobView): Promise<void> {
    const detail = this.lastErrorDetail.get(job.id);
    this.lastErrorDetail.delete(job.id);
    await this.alerts.jobFinished(jobOutcome(job, os.hostname(), detail));
  }

  /** Stale-backup alert: no backup succeeded within STALE_AFTER (or twice the incremental period). */
  private checkStale(): void {
    const now = new Date();
    const limit = staleAfterMs(this.config, now);
    if (!limit) return;
    const episode = lastSuccessAt(this.state.jobs, this.catalog.view);
    if (!isStale(episode ? new Date(episode) : null, this.startedAt, limit, now)) {
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

  /** METRICS_TEXTFILE after each job and catalog read; one write at a time; a failure is logged, never fatal. */
  private writeMetricsFile(): void {
    const file = this.config.METRICS_TEXTFILE;
    if (!file || this.stopping) return;
    this.textfileChain = this.textfileChain
      .then(() => writeTextfile(file, this.metrics))
      .catch((e: unknown) => {
        this.logger.warn(errorText(e), { event: 'metrics.textfile', status: 'failed' });
      });
  }

  private persist(): void {
    const snapshot = JSON.parse(JSON.stringify(this.state)) as DaemonState;
    this.saveChain = this.saveChain
      .then(() => saveState(this.config.STATE_DIR, snapshot))
      .catch((e: unknown) => {
        this.logger.error(`cannot write the state file in ${this.config.STATE_DIR}: ${errorText(e)}`, { event: 'state.unwritable' });
      });
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
    this.copy = makeCopyStore(next, this.logger);
    this.storage = makeStorage(next, this.logger, this.metrics);
    this.alerts = createNotifier(next, this.logger);
    // One logger for the daemon's life (the scheduler, queue and notifier hold it): new secrets
    // are added to its redaction and its level follows the new configuration.
    updateSecrets(this.logger, secretValues(next));
    this.logger.level = next.LOG_LEVEL;
    for (const w of next.warnings) this.logger.warn(w, { event: 'config.warning' });
    this.scheduler.start(scheduleValues(next), next.SCHEDULE_TIMEZONE);
    this.logger.info('configuration reloaded', { event: 'config.reload', status: 'applied', next: this.nextRuns() });
    // The store (or its prefixes) may be another now: status must not show the old one's backups.
    void this.refreshCatalog();
    for (const key of ['CONTROL_SOCKET', 'CONTROL_SOCKET_GROUP', 'STATE_DIR', 'LOG_FILE', 'METRICS_LISTEN'] as const) {
      if (next[key] !== prev[key]) this.logger.warn(`${key} changed: restart the daemon for it to take effect`, { event: 'config.reload', key });
    }
    this.notifier.status(statusLine(this));
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
    await this.binlog?.stop();
    await this.metricsServer?.close();
    await this.textfileChain;
    this.control?.dropClients();
    await this.saveChain;
    this.logger.info('backupmate daemon stopped', { event: 'daemon.stop', host: os.hostname() });
    await closeLogger(this.logger);
  }
}
