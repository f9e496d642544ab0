/**
 * What the control handlers and the job builders may use of the running daemon. daemon.ts
 * implements it; handlers/* and jobs.ts import only this file (no import back into daemon.ts).
 *
 * `config` and `storage` are the current ones: a SIGHUP reload replaces them, so a job reads them
 * when it runs, not when it is queued.
 */
import type { Config } from '../config/load.js';
import type { Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Storage } from '../storage/storage.js';
import type { PruneSettings } from '../retention/prune.js';
import type { CopyResult } from '../storage/copy.js';
import type { DrillReport } from '../drill/drill.js';
import type { CopyStatusView, DrillSummaryView, JobView, StoreCatalogView } from './protocol.js';
import type { JobQueue } from './queue.js';

export interface DaemonContext {
  readonly config: Config;
  readonly storage: Storage;
  /** The second store (COPY_STORAGE), null without one; replaced by a reload like `storage`. */
  readonly copy: { storage: Storage; config: Config; prune: PruneSettings } | null;
  /** The last copy step's outcome, for status (null: none ran yet or no copy). */
  readonly copyStatus: CopyStatusView | null;
  /** Records a copy step's result: kept for status, alerted when the copy is behind. */
  noteCopy(r: CopyResult): Promise<void>;
  readonly logger: Logger;
  readonly queue: JobQueue;
  readonly startedAt: Date;
  readonly stopping: boolean;
  /** True while a restore runs: schedule ticks are skipped. */
  schedulesPaused: boolean;
  /** Next tick per schedule name (null = off). */
  nextRuns(): { full: string | null; incremental: string | null; [schedule: string]: string | null };
  /** The job history (the state file's), oldest first. */
  readonly jobs: readonly JobView[];
  /** The store's catalog as last read: the summary status shows, and the valid backups. */
  readonly catalog: { readonly view: StoreCatalogView; readonly backups: readonly Manifest[] };
  /** Re-reads the store's catalog; never throws (a failed read is logged and shown by status). */
  refreshCatalog(): Promise<void>;
  /** The binlog archive's state and lag (null: BINLOG_ARCHIVE is off). */
  binlogArchive?(): import('./binlog.js').BinlogArchiveStatus | null;
  /** Keeps a failed job's exit code and stderr tail for its notification (the JobView keeps them short). */
  keepErrorDetail(jobId: string, detail: { exitCode?: number; stderrTail?: string[] }): void;
  /** The daemon's metrics (jobs report their ends to it); absent in tests that need none. */
  readonly metrics?: Metrics;
  /** Keeps a drill's outcome in the daemon's state (status shows it). */
  recordDrill?(r: DrillReport): void;
  /** The last drill's outcome, as kept. */
  readonly lastDrill?: DrillSummaryView;
}
