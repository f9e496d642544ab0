/**
 * backupmate's Prometheus metrics: one registry per process (never prom-client's global one), fed
 * through small observer interfaces by the code that knows the facts:
 * - backup/sequence.ts reports every backup's end (BackupObserver);
 * - the daemon reports every finished job (job failures) and the store's catalog after each read;
 * - storage/retry.ts and the drivers report each storage retry (app/wiring.ts makeStorage);
 * - drill/drill.ts reports every drill's end (DrillObserver);
 * - the binlog archive (when it exists) reports its lag and gaps (BinlogArchiveMetrics).
 *
 * The same text is served at /metrics (metrics/http.ts) and written to METRICS_TEXTFILE
 * (metrics/textfile.ts). Timestamps are Unix seconds; sizes bytes; durations seconds.
 *
 * "Last success" per source and kind is the newer of what this process saw and what the store's
 * catalog says (a cron backup beside the daemon is a backup too): an honest last success, not
 * only the daemon's own.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Manifest } from '../domain/manifest.js';
import { VERSION } from '../version.js';

/** One backup's end, as backup/sequence.ts reports it. */
export interface BackupEnd {
  source: string;
  /** full | incremental (or what was requested when it failed before the plan). */
  kind: string;
  ok: boolean;
  at: Date;
  durationMs: number;
  rawBytes?: number;
  storedBytes?: number;
}

/** What backup/sequence.ts calls (and nothing else of the metrics). */
export interface BackupObserver {
  backupEnded(e: BackupEnd): void;
}

/** One drill's end (drill/drill.ts). */
export interface DrillEnd {
  ok: boolean;
  at: Date;
  backupId: string | null;
  /** Download + prepare + start until the server answered; null when it never got there. */
  timeToReadyMs: number | null;
}

export interface DrillObserver {
  drillEnded(e: DrillEnd): void;
}

/**
 * For the binlog archive (branch `binlog`): lag = seconds between now and the newest event safely
 * in the store; a gap = a hole found in the archived history.
 */
export interface BinlogArchiveMetrics {
  /** `archive`: which archive (e.g. the server it follows); one series per archive. */
  archiveLag(seconds: number, archive?: string): void;
  archiveGap(count?: number, archive?: string): void;
}

/** The store's storage retries (storage/retry.ts RetryOptions.onRetry, drivers' onRetry). */
export interface RetryObserver {
  storageRetried(store: string): void;
}

export class Metrics implements BackupObserver, DrillObserver, BinlogArchiveMetrics, RetryObserver {
  readonly registry = new Registry();
  private readonly lastSuccess: Gauge;
  private readonly lastFailure: Gauge;
  private readonly duration: Gauge;
  private readonly size: Gauge;
  private readonly jobFailures: Counter;
  private readonly retries: Counter;
  private readonly drillLastSuccess: Gauge;
  private readonly drillLastFailure: Gauge;
  private readonly drillReady: Gauge;
  private readonly drillFailures: Counter;
  private readonly binlogLag: Gauge;
  private readonly binlogGaps: Counter;
  private readonly storeBackups: Gauge;
  private readonly storeBytes: Gauge;
  /** Newest success instant (ms) per `source\0kind`: a catalog read never moves it back. */
  private readonly successAt = new Map<string, number>();

  /**
   * No prom-client default (process, Node.js) metrics: some of their names fail `promtool check
   * metrics` (nodejs_active_handles_total is a gauge), and node_exporter covers the process.
   */
  constructor() {
    const registers = [this.registry];
    const g = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers });
    const c = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });
    g('backupmate_up', 'Always 1 while backupmate answers.').set(1);
    g('backupmate_info', 'backupmate build information (always 1).', ['version']).set({ version: VERSION }, 1);
    this.lastSuccess = g('backupmate_last_success_timestamp_seconds', 'When the newest successful backup of this source and kind finished (Unix time).', ['source', 'kind']);
    this.lastFailure = g('backupmate_last_failure_timestamp_seconds', 'When the last failed backup of this source and kind ended (Unix time).', ['source', 'kind']);
    this.duration = g('backupmate_backup_duration_seconds', 'How long the newest successful backup of this source and kind took.', ['source', 'kind']);
    this.size = g('backupmate_backup_size_bytes', 'Size of the newest successful backup of this source and kind: raw (source stream) or stored (volumes).', ['source', 'kind', 'stage']);
    this.jobFailures = c('backupmate_job_failures_total', 'Jobs that failed (or died with the process), by job kind.', ['job']);
    this.retries = c('backupmate_storage_retries_total', 'Storage requests retried after a transient error, by store.', ['store']);
    this.drillLastSuccess = g('backupmate_drill_last_success_timestamp_seconds', 'When the last successful restore drill ended (Unix time).');
    this.drillLastFailure = g('backupmate_drill_last_failure_timestamp_seconds', 'When the last failed restore drill ended (Unix time).');
    this.drillReady = g('backupmate_drill_time_to_ready_seconds', 'Time to a ready server in the last successful drill (download, prepare, start): the backup\'s measured RTO.');
    this.drillFailures = c('backupmate_drill_failures_total', 'Restore drills that failed.');
    // Labelled so that no sample exists until an archive reports: a lag of 0 would claim a healthy archive that does not exist.
    this.binlogLag = g('backupmate_binlog_archive_lag_seconds', 'Seconds between now and the newest binlog event safely in the store.', ['archive']);
    this.binlogGaps = c('backupmate_binlog_gaps_total', 'Holes found in the archived binlog history.', ['archive']);
    this.storeBackups = g('backupmate_store_backups', 'Valid backups in the store, by source and store.', ['source', 'store']);
    this.storeBytes = g('backupmate_store_bytes', 'Stored bytes of the valid backups in the store, by source and store.', ['source', 'store']);
    // Counters exist at 0 from the start, so rate() and increase() see the first failure.
    for (const job of ['backup', 'restore', 'verify', 'drill']) this.jobFailures.inc({ job }, 0);
  }

  backupEnded(e: BackupEnd): void {
    if (!e.ok) {
      this.lastFailure.set({ source: e.source, kind: e.kind }, e.at.getTime() / 1000);
      return;
    }
    this.success(e.source, e.kind, e.at.getTime(), e.durationMs, e.rawBytes ?? 0, e.storedBytes ?? 0);
  }

  jobFailed(job: string): void {
    this.jobFailures.inc({ job });
  }

  storageRetried(store: string): void {
    this.retries.inc({ store });
  }

  drillEnded(e: DrillEnd): void {
    if (e.ok) {
      this.drillLastSuccess.set(e.at.getTime() / 1000);
      if (e.timeToReadyMs !== null) this.drillReady.set(e.timeToReadyMs / 1000);
    } else {
      this.drillLastFailure.set(e.at.getTime() / 1000);
      this.drillFailures.inc();
    }
  }

  archiveLag(seconds: number, archive = 'binlog'): void {
    this.binlogLag.set({ archive }, seconds);
  }

  archiveGap(count = 1, archive = 'binlog'): void {
    this.binlogGaps.inc({ archive }, count);
  }

  /** The store's valid backups as just read: counts and bytes per source, and the newest success per source and kind. */
  storeCatalog(store: string, backups: readonly Manifest[]): void {
    const per = new Map<string, { n: number; bytes: number }>();
    for (const m of backups) {
      const t = per.get(m.source.type) ?? { n: 0, bytes: 0 };
      t.n++;
      t.bytes += m.storedBytes;
      per.set(m.source.type, t);
      this.success(m.source.type, m.kind, Date.parse(m.finishedAt), m.durationMs, m.rawBytes, m.storedBytes);
    }
    this.storeBackups.reset();
    this.storeBytes.reset();
    for (const [source, t] of per) {
      this.storeBackups.set({ source, store }, t.n);
      this.storeBytes.set({ source, store }, t.bytes);
    }
  }

  /** The exposition text (text/plain; version=0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private success(source: string, kind: string, atMs: number, durationMs: number, rawBytes: number, storedBytes: number): void {
    if (!Number.isFinite(atMs)) return;
    const k = `${source}\0${kind}`;
    if ((this.successAt.get(k) ?? -Infinity) > atMs) return;
    this.successAt.set(k, atMs);
    const labels = { source, kind };
    this.lastSuccess.set(labels, atMs / 1000);
    this.duration.set(labels, durationMs / 1000);
    this.size.set({ ...labels, stage: 'raw' }, rawBytes);
    this.size.set({ ...labels, stage: 'stored' }, storedBytes);
  }
}
