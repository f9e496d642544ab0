/**
 * The control protocol between backupmatectl and the daemon: newline-delimited JSON over a Unix
 * socket (CONTROL_SOCKET, mode 0660, group CONTROL_SOCKET_GROUP).
 *
 * One connection carries one request. The client sends a Request line; the daemon answers with
 * zero or more Event lines and exactly one final Result or Error line, then closes. For requests
 * that need a confirmation (restore without --yes), the daemon sends an event `confirm` and waits
 * for a `{"v":1,"id":…,"method":"confirm","params":{"yes":true|false}}` line on the same
 * connection. If the client disconnects, the daemon treats it as "no" (for confirmations) and
 * otherwise lets the job go on (backups) — `--wait` just stops watching.
 *
 * Versioned: `v` is PROTOCOL_VERSION; a daemon answers a request with another major version with
 * an Error of code PROTOCOL. Error codes come from the one registry (domain/errors.ts) and map to
 * backupmatectl's exit statuses.
 */
import type { ErrorCode } from '../domain/errors.js';

export const PROTOCOL_VERSION = 1;

export type Method = 'status' | 'list' | 'backup' | 'cancel' | 'restore' | 'verify' | 'drill' | 'confirm';

export interface Request {
  v: number;
  id: number;
  method: Method;
  params?: Record<string, unknown>;
}

/** Progress and other interim messages. */
export interface EventMessage {
  v: number;
  id: number;
  event: 'progress' | 'log' | 'state' | 'confirm';
  /** progress: stage ('backup'|'download'|'prepare'|'stop'|'put-back'|'start'|...), bytes, total (may be 0 = unknown). */
  [key: string]: unknown;
}

export interface ResultMessage {
  v: number;
  id: number;
  result: unknown;
}

export interface ErrorMessage {
  v: number;
  id: number;
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

export type DaemonMessage = EventMessage | ResultMessage | ErrorMessage;

// --- params and results of each method -------------------------------------------------------

/**
 * 'crashed': the job was queued or running when the daemon died (kill -9, crash, power loss); the
 * next start records it so (never as cancelled: nobody asked for it to stop).
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'crashed';
export type JobKind = 'backup' | 'restore' | 'verify' | 'drill';

export interface JobView {
  id: string;
  kind: JobKind;
  /** For backups: 'full' | 'incremental' | 'auto' as requested; the plan's kind once decided. */
  backupKind?: 'full' | 'incremental' | 'auto';
  trigger: 'schedule' | 'manual' | 'catch-up';
  state: JobState;
  reason: string;
  backupId?: string;
  queuedAt: string;
  startedAt?: string;
  finishedAt?: string;
  bytes: number;
  /** Raw bytes read so far / expected total when known (0 = unknown). */
  progress?: { stage: string; bytes: number; total: number };
  error?: { code: ErrorCode; message: string; stage?: string };
}

export interface StatusResult {
  version: string;
  pid: number;
  startedAt: string;
  state: 'idle' | 'running' | 'stopping' | 'paused';
  running: JobView | null;
  queued: JobView[];
  /** Next tick per schedule (daemon/schedules.ts), null when off; full and incremental always present. */
  next: { full: string | null; incremental: string | null; [schedule: string]: string | null };
  timeZone: string;
  last: {
    full: { success: JobView | null; failure: JobView | null };
    incremental: { success: JobView | null; failure: JobView | null };
  };
  recent: JobView[];
  /** The store's description (no secrets), e.g. `s3://bucket (http://127.0.0.1:9000)`. */
  store: string;
  /** The second store's last copy step (COPY_STORAGE), null when none is configured or none ran yet. */
  copy?: CopyStatusView | null;
  /**
   * What the store's catalog holds, whoever took the backups (the daemon, or `backupmate backup`
   * from cron): the newest valid backup per kind. Read at start and after each job, so status
   * stays cheap; `readAt` null until the first read, `error` when the last read failed (the
   * previous newest are kept). Absent from daemons before 0.2.
   */
  catalog?: StoreCatalogView;
  /** BINLOG_ARCHIVE: streaming state, last archived event, lag in seconds, gaps seen; null when off. */
  binlogArchive?: import('./binlog.js').BinlogArchiveStatus | null;
  /** The last restore drill's outcome (daemon/handlers/drill.ts); absent before the first drill. */
  lastDrill?: DrillSummaryView;
}

export interface DrillSummaryView {
  backupId: string | null;
  status: 'ok' | 'failed';
  failedStep?: string;
  error?: string;
  finishedAt: string;
  timeToReadyMs: number | null;
  stepsMs: Record<string, number | undefined>;
  tablesChecked: number;
}

export interface StoredBackupView {
  id: string;
  finishedAt: string;
  rawBytes: number;
  storedBytes: number;
}

export interface StoreCatalogView {
  newest: { full: StoredBackupView | null; incremental: StoredBackupView | null };
  readAt: string | null;
  error?: string;
}

/** backup: params { kind?: 'full'|'incremental'|'auto' }; result: JobView (queued). With --wait the client then follows progress via events until the job ends: the daemon keeps the connection open when params.wait is true, sending progress events and a final result JobView. */
export interface BackupParams {
  kind?: 'full' | 'incremental' | 'auto';
  /** 'logical': a logical backup (always full) instead of the physical one. */
  source?: 'logical';
  wait?: boolean;
}

/** cancel: params { job?: string } (default: the running job); result: JobView of the cancelled job. */
export interface CancelParams {
  job?: string;
}

/** restore: params; result: RestoreResultView. Events: progress, then confirm (unless yes), then progress. */
export interface RestoreParams {
  /** A backup id (exactly: that backup), a prefix, "latest", or another time form: that moment (point in time, restore/pitr.ts). */
  id?: string;
  /** A moment: point in time when the store has a binlog archive (else the newest backup finished by then). */
  time?: string;
  /** Point in time up to and including this GTID (D-S-N). */
  gtid?: string;
  mode: 'target-dir' | 'copy-back' | 'move-back' | 'into-server';
  targetDir?: string;
  /** into-server only: one database, or one table (DB.TABLE); replace: move existing ones aside. */
  database?: string;
  table?: string;
  replace?: boolean;
  yes?: boolean;
  noStart?: boolean;
  /**
   * false: the client has no terminal and cannot answer a `confirm` event, so a restore that
   * needs one (copy-back/move-back without `yes`) is declined at once, before anything is
   * downloaded. Absent = true (clients that predate the field).
   */
  interactive?: boolean;
}

export interface ConfirmEvent {
  event: 'confirm';
  /** Human text: what will happen, naming the datadir and the server that will be stopped. */
  prompt: string;
  datadir: string;
  stopCommand: string | null;
}

export interface RestoreResultView {
  id: string;
  chain: string[];
  mode: RestoreParams['mode'];
  destination: string;
  movedAside: string | null;
  serverStarted: boolean;
  timings: Record<string, number>;
  /** Point in time: what the replay did (restore/pitr.ts describeReplay). */
  replayed?: string;
}

/** list: params { } ; result: the same JSON as `backupmate list --json`. */

/**
 * verify: params { id?: 'all' | 'latest' | an id, timestamp or prefix (default 'latest') }; runs as a
 * queued job (never alongside a backup or restore); result: the report of `backupmate verify --json`
 * (VerifyReport in verify/verify.ts), also when a backup is corrupt or could not be checked (its
 * `code` then says so, and the job is recorded as failed). Events: progress (stage 'verify').
 */
export interface VerifyParams {
  id?: string;
}

/** The second store in `status`: the last copy step, and whether the copy is behind. */
export interface CopyStatusView {
  store: string;
  /** When the last copy step ended (ISO). */
  at: string;
  /** 'ok': the copy holds every backup of the primary; 'behind': `missing` backups still to copy. */
  state: 'ok' | 'behind';
  missing: number;
  /** Backup ids the last step copied. */
  copied: string[];
  /** Why the copy is behind (null when ok). */
  error: string | null;
}
