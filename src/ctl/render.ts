/**
 * What backupmatectl shows people: the progress display (a bar redrawn in place on a terminal,
 * plain throttled lines otherwise) and the rendering of the daemon's results. Everything here but
 * ProgressView's writes is pure; times are shown in the daemon's time zone when it names one.
 */
import { BackupmateError } from '../domain/errors.js';
import type { BackupKind, Manifest } from '../domain/manifest.js';
import { formatWallClock } from '../domain/schedule.js';
import { fmtBytes, fmtDuration } from '../domain/units.js';
import type { Catalog } from '../storage/catalog.js';
import { renderCatalog, renderTable } from '../cli/format.js';
import { drillSummary } from '../drill/record.js';
import type { DrillStep } from '../drill/drill.js';
import type { JobView, RestoreResultView, StatusResult, StoredBackupView } from '../daemon/protocol.js';

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** An ISO instant as wall-clock text in `timeZone`; the input itself when it is no valid time or zone. */
export function when(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  try {
    return formatWallClock(d, timeZone);
  } catch {
    // A zone this Node's ICU does not know: the instant is still right in UTC.
    return iso;
  }
}

// --- progress ----------------------------------------------------------------------------------

export interface ProgressSample {
  stage: string;
  bytes: number;
  /** 0 = unknown. */
  total: number;
  /** The backup the stage works on, when the daemon names it. */
  backupId?: string;
}

/** A progress event's fields, or null when it lacks a stage or a byte count. */
export function progressFromEvent(ev: Record<string, unknown>): ProgressSample | null {
  if (typeof ev.stage !== 'string' || typeof ev.bytes !== 'number' || !Number.isFinite(ev.bytes)) return null;
  const total = typeof ev.total === 'number' && Number.isFinite(ev.total) && ev.total > 0 ? ev.total : 0;
  const backupId = typeof ev.backupId === 'string' ? ev.backupId : undefined;
  return { stage: ev.stage, bytes: ev.bytes, total, ...(backupId ? { backupId } : {}) };
}

export const BAR_WIDTH = 20;

/**
 * One progress line: "backup 20261121T040000Z: [########------------] 41% 1.2 GiB 85.0 MiB/s".
 * The bar and percentage only when the total is known; the rate only when one was measured.
 */
export function formatProgress(p: ProgressSample, rate: number | null, withBar: boolean): string {
  const label = p.backupId ? `${p.stage} ${p.backupId}` : p.stage;
  // A stage that moves no bytes (stopping or starting the server): what it does, not "0 B".
  if (!(p.total > 0) && p.bytes === 0) return STAGE_WORDS[p.stage] ?? `${label}…`;
  const parts: string[] = [];
  if (p.total > 0) {
    // Multiply before dividing: 1.2 GiB of 3 GiB is 40%, not 39.99...% floored to 39.
    const part = (n: number) => Math.min(n, Math.max(0, Math.floor((p.bytes * n) / p.total)));
    if (withBar) parts.push(`[${'#'.repeat(part(BAR_WIDTH))}${'-'.repeat(BAR_WIDTH - part(BAR_WIDTH))}]`);
    parts.push(`${part(100)}%`);
  }
  parts.push(fmtBytes(p.bytes));
  if (rate !== null && Number.isFinite(rate) && rate >= 0) parts.push(`${fmtBytes(rate)}/s`);
  return `${label}: ${parts.join(' ')}`;
}

/** What a stage without bytes shows (the daemon sends stop and start around a put-back). */
const STAGE_WORDS: Readonly<Record<string, string>> = {
  stop: 'stopping MariaDB…',
  start: 'starting MariaDB…',
  prepare: 'preparing the backup…',
  'put-back': 'putting the backup in place…',
};

/** How progress is shown: 'bar' on a terminal, 'lines' in logs and pipes, 'off' with --json. */
export type ProgressMode = 'bar' | 'lines' | 'off';

/** Redraws at most this often on a terminal (bytes arrive far faster than eyes read). */
const BAR_REDRAW_MS = 100;
/** In 'lines' mode, at most one line per stage per this period (a log, not an animation). */
export const LINE_PERIOD_MS = 5000;
/** The rate is the average over this trailing window. */
const RATE_WINDOW_MS = 5000;

/**
 * The progress display of one request. 'bar': one line redrawn in place (\r, erase to end of
 * line); a stage change keeps the finished stage's last line and starts a new one. 'lines': a line
 * at each stage change and at most one per LINE_PERIOD_MS otherwise. Interleaved notes (log and
 * state events) get lines of their own without garbling the bar. Call finish() before printing
 * anything else to the same terminal.
 */
export class ProgressView {
  private key: string | null = null;
  private samples: { t: number; bytes: number }[] = [];
  private lastOut = -Infinity;
  private drawn: string | null = null;
  /** The newest sample when throttling kept it from being shown (finish shows it). */
  private unshown: ProgressSample | null = null;

  constructor(
    private readonly mode: ProgressMode,
    private readonly write: (s: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  update(p: ProgressSample): void {
    if (this.mode === 'off') return;
    const t = this.now();
    const key = `${p.stage}\0${p.backupId ?? ''}`;
    const changed = key !== this.key;
    // A stage that ends keeps its real last state on screen, not the last one throttling drew.
    if (changed && this.mode === 'bar' && this.drawn !== null && this.unshown) {
      this.drawn = formatProgress(this.unshown, this.rate(), true);
      this.write(`\r${this.drawn}\x1b[K`);
    }
    const last = this.samples.at(-1);
    if (changed || (last && p.bytes < last.bytes)) this.samples = [];
    this.key = key;
    this.samples.push({ t, bytes: p.bytes });
    while (this.samples.length > 2 && t - this.samples[1].t >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const rate = t - first.t >= 500 ? ((p.bytes - first.bytes) * 1000) / (t - first.t) : null;

    this.unshown = p;
    if (this.mode === 'bar') {
      const done = p.total > 0 && p.bytes >= p.total;
      if (!changed && !done && t - this.lastOut < BAR_REDRAW_MS) return;
      if (changed && this.drawn !== null) this.write('\n');
      this.drawn = formatProgress(p, rate, true);
      this.write(`\r${this.drawn}\x1b[K`);
    } else {
      if (!changed && t - this.lastOut < LINE_PERIOD_MS) return;
      this.write(formatProgress(p, rate, false) + '\n');
    }
    this.unshown = null;
    this.lastOut = t;
  }

  /** The rate over the window for the newest sample (as update computed it), or null. */
  private rate(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    return first && last && last.t - first.t >= 500 ? ((last.bytes - first.bytes) * 1000) / (last.t - first.t) : null;
  }

  /** A line of its own (a log or state event, a prompt's preamble). */
  note(text: string): void {
    if (this.mode === 'off') return;
    if (this.drawn !== null) this.write(`\r\x1b[K${text}\n${this.drawn}`);
    else this.write(text + '\n');
  }

  /**
   * Shows the newest sample if throttling held it back, then ends the bar's line, so that what
   * follows (the result, a final state) starts on a fresh line and nothing redraws after it.
   */
  finish(): void {
    if (this.unshown && this.mode !== 'off') {
      const text = formatProgress(this.unshown, this.rate(), this.mode === 'bar');
      if (this.mode === 'bar') {
        this.drawn = text;
        this.write(`\r${text}\x1b[K`);
      } else this.write(text + '\n');
    }
    this.unshown = null;
    if (this.drawn !== null) this.write('\n');
    this.drawn = null;
    this.key = null;
    this.samples = [];
  }
}

// --- jobs --------------------------------------------------------------------------------------

/** Checks that a result is a JobView (the fields rendering needs); PROTOCOL otherwise. */
export function asJob(x: unknown, what: string): JobView {
  if (!isObject(x) || typeof x.id !== 'string' || typeof x.state !== 'string' || typeof x.kind !== 'string') {
    throw new BackupmateError('PROTOCOL', `${what}: the daemon answered ${JSON.stringify(x)?.slice(0, 200)}, expected a job (id, kind, state)`);
  }
  return x as unknown as JobView;
}

/** "full backup", "backup" (auto), "restore of 20261121T040000Z". */
function jobWhat(j: JobView): string {
  if (j.kind === 'restore') return j.backupId ? `restore of ${j.backupId}` : 'restore';
  if (j.kind === 'verify') return j.backupId ? `verify of ${j.backupId}` : 'verify';
  const kind = j.backupKind && j.backupKind !== 'auto' ? `${j.backupKind} ` : '';
  return `${kind}backup${j.backupId ? ` ${j.backupId}` : ''}`;
}

/** "job 7: full backup (manual), running since 2026-11-21T04:00: --full was given". */
export function describeJob(j: JobView, timeZone?: string): string {
  const at =
    j.state === 'queued' ? ` since ${when(j.queuedAt, timeZone)}` : j.state === 'running' ? ` since ${when(j.startedAt ?? j.queuedAt, timeZone)}` : j.finishedAt ? ` at ${when(j.finishedAt, timeZone)}` : '';
  return `job ${j.id}: ${jobWhat(j)} (${j.trigger}), ${j.state}${at}${j.reason ? `: ${j.reason}` : ''}`;
}

function jobDuration(j: JobView): string | null {
  if (!j.startedAt || !j.finishedAt) return null;
  const ms = Date.parse(j.finishedAt) - Date.parse(j.startedAt);
  return Number.isFinite(ms) && ms >= 0 ? fmtDuration(ms) : null;
}

/** "backup 20261121T040000Z succeeded: full, 1.2 GiB in 12m3s (job 7)". */
export function renderJobDone(j: JobView): string {
  const dur = jobDuration(j);
  const size = `${fmtBytes(j.bytes ?? 0)}${dur ? ` in ${dur}` : ''}`;
  if (j.kind === 'restore' || j.kind === 'verify') return `${j.kind}${j.backupId ? ` of ${j.backupId}` : ''} ${j.state}: ${size} (job ${j.id})\n`;
  const kind = j.backupKind && j.backupKind !== 'auto' ? `${j.backupKind}, ` : '';
  return `backup${j.backupId ? ` ${j.backupId}` : ''} ${j.state}: ${kind}${size} (job ${j.id})\n`;
}

/** What `backup` without --wait prints: the job the daemon queued and why. */
export function renderQueued(j: JobView): string {
  return `${describeJob(j)}\n  follow it with: backupmatectl status (or backup --wait next time)\n`;
}

// --- status ------------------------------------------------------------------------------------

/**
 * "last success" is the newer of the daemon's own last successful job and the newest valid backup
 * of the kind in the store (taken by the CLI, e.g. from cron, or by another daemon); "last failure"
 * only knows the daemon's jobs. A job that died with the daemon reads as crashed.
 */
function lastLines(label: string, l: { success: JobView | null; failure: JobView | null }, stored: StoredBackupView | null, tz: string): string[][] {
  const ok = l.success;
  const bad = l.failure;
  const storeIsNewer = !!stored && (!ok?.finishedAt || Date.parse(stored.finishedAt) > Date.parse(ok.finishedAt));
  const okText = storeIsNewer
    ? `${when(stored.finishedAt, tz)}: backup ${stored.id}, ${fmtBytes(stored.storedBytes)} (in the store, not taken by this daemon)`
    : ok
      ? `${when(ok.finishedAt, tz)}: ${ok.backupId ? `backup ${ok.backupId}, ` : ''}${fmtBytes(ok.bytes ?? 0)}${jobDuration(ok) ? ` in ${jobDuration(ok)}` : ''} (job ${ok.id})`
      : 'never';
  const why = (j: JobView) =>
    j.state === 'crashed'
      ? `crashed: ${j.error?.message ?? 'the daemon died while this job ran'}`
      : j.error
        ? `${j.error.code}: ${j.error.message}${j.error.stage ? ` (stage ${j.error.stage})` : ''}`
        : j.state;
  const badText = bad ? `${when(bad.finishedAt, tz)}: ${why(bad)} (job ${bad.id})` : 'never';
  return [
    [label, `last success  ${okText}`],
    ['', `last failure  ${badText}`],
  ];
}

/**
 * `status` for people: the daemon, its store, the running job with its progress, the queue, the
 * next scheduled runs and the last success and failure of each kind, times in the daemon's zone.
 */
export function renderStatus(s: StatusResult): string {
  const tz = s.timeZone || undefined;
  const rows: string[][] = [
    ['state', s.state],
    ['daemon', `backupmate ${s.version}, pid ${s.pid}, up since ${when(s.startedAt, tz)}`],
    ['store', s.store],
    ...(s.catalog?.error ? [['', `its catalog could not be read${s.catalog.readAt ? ` (last read ${when(s.catalog.readAt, tz)})` : ''}: ${s.catalog.error}`]] : []),
    ['time zone', `${s.timeZone || 'system'} (times below are wall-clock times there)`],
  ];
  if (s.running) {
    rows.push(['running', describeJob(s.running, tz)]);
    const p = s.running.progress;
    if (p) rows.push(['', formatProgress({ stage: p.stage, bytes: p.bytes, total: p.total, ...(s.running.backupId ? { backupId: s.running.backupId } : {}) }, null, false)]);
  } else {
    rows.push(['running', 'nothing']);
  }
  if (s.queued.length) s.queued.forEach((j, i) => rows.push([i ? '' : 'queued', describeJob(j, tz)]));
  else rows.push(['queued', 'nothing']);
  rows.push(['next full', s.next.full ? when(s.next.full, tz) : 'not scheduled (FULL_BACKUP_SCHEDULE=off)']);
  rows.push(['next incremental', s.next.incremental ? when(s.next.incremental, tz) : 'not scheduled (INCREMENTAL_BACKUP_SCHEDULE=off)']);
  const newest = s.catalog?.newest;
  rows.push(...lastLines('full', s.last.full, newest?.full ?? null, s.timeZone), ...lastLines('incremental', s.last.incremental, newest?.incremental ?? null, s.timeZone));
  const b = s.binlogArchive;
  if (b) {
    rows.push(['binlog archive', `${b.state}${b.stream ? ` (${b.stream})` : ''}, ${b.segmentsWritten} segment(s) written since start${b.gaps ? `, ${b.gaps} GAP(S) recorded` : ''}`]);
    rows.push(['', b.lastEventTime ? `last archived event ${when(b.lastEventTime, tz)}, lag ${b.lagSeconds ?? '?'} s` : 'nothing archived yet']);
    if (b.lastError) rows.push(['', `last error: ${b.lastError}`]);
  } else if (s.binlogArchive === null) {
    rows.push(['binlog archive', 'off (BINLOG_ARCHIVE)']);
  }
  return renderTable(rows);
}

/** Checks the fields renderStatus reads; PROTOCOL when the daemon sent something else. */
export function asStatus(x: unknown): StatusResult {
  const ok =
    isObject(x) &&
    typeof x.state === 'string' &&
    Array.isArray(x.queued) &&
    isObject(x.next) &&
    isObject(x.last) &&
    isObject(x.last.full) &&
    isObject(x.last.incremental);
  if (!ok) throw new BackupmateError('PROTOCOL', 'status: the daemon answered with something other than a status (state, queued, next, last)');
  return x as unknown as StatusResult;
}

// --- list --------------------------------------------------------------------------------------

/** The JSON of `backupmate list --json`, which the daemon answers `list` with. */
export interface ListJson {
  backups: (Manifest & { status?: string })[];
  incomplete: { id: string; source?: { type?: string }; kind: BackupKind; status?: string; objects?: string[]; bytes?: number }[];
  unreadable: { id: string; source?: { type?: string }; kind: BackupKind; status?: string; error: string }[];
  /** The newest drill record of each drilled backup (drill/record.ts). */
  lastDrills?: Record<string, unknown>;
}

/**
 * `list` for people, exactly as `backupmate list` prints it: the JSON is turned back into the
 * Catalog that renderCatalog reads. The JSON carries an incomplete backup's object keys and total
 * size rather than each object's size, so it becomes one object holding the total: renderCatalog
 * only sums the sizes.
 */
export function renderList(x: unknown): string {
  if (!isObject(x) || !Array.isArray(x.backups) || !Array.isArray(x.incomplete) || !Array.isArray(x.unreadable)) {
    throw new BackupmateError('PROTOCOL', 'list: the daemon answered with something other than {backups, incomplete, unreadable}');
  }
  const j = x as unknown as ListJson;
  for (const m of j.backups) {
    if (!isObject(m) || typeof m.id !== 'string' || !isObject(m.source)) {
      throw new BackupmateError('PROTOCOL', `list: the daemon sent a backup without id or source: ${JSON.stringify(m)?.slice(0, 200)}`);
    }
  }
  const dir = (id: string, kind: string, hasManifest: boolean, source = 'physical') => ({ id, source, kind, dir: `${id}/`, hasManifest, objects: [] });
  const catalog: Catalog = {
    backups: j.backups.map((m) => ({ dir: dir(m.id, m.kind, true, m.source.type), manifest: m })),
    incomplete: j.incomplete.map((d) => ({ ...dir(d.id, d.kind, false, d.source?.type), objects: [{ key: `${d.id}/`, size: d.bytes ?? 0 }] })),
    broken: j.unreadable.map((b) => ({ dir: dir(b.id, b.kind, true, b.source?.type), error: b.error })),
  };
  // LAST_DRILL as `backupmate list` shows it: lastDrills maps a backup id to its newest drill record.
  const drills = new Map<string, string>();
  if (isObject(x.lastDrills)) {
    for (const [id, r] of Object.entries(x.lastDrills)) {
      if (isObject(r) && (r.status === 'ok' || r.status === 'failed')) {
        drills.set(id, drillSummary({ status: r.status, failedStep: typeof r.failedStep === 'string' ? (r.failedStep as DrillStep) : undefined, timeToReadyMs: typeof r.timeToReadyMs === 'number' ? r.timeToReadyMs : null }));
      }
    }
  }
  return renderCatalog(catalog, drills);
}

// --- restore, verify, anything else ------------------------------------------------------------

/** Timings are `<step>Ms` numbers, in words: "download 1.2s, prepare 3.0s, put back 0.4s, total 4.5s". */
function renderTimings(t: Record<string, number>): string {
  return Object.entries(t)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `${k.replace(/Ms$/, '').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()} ${fmtDuration(v)}`)
    .join(', ');
}

export function renderRestore(x: unknown): string {
  // into-server: the daemon sends its report lines (cli/into-server.ts intoServerLines).
  if (isObject(x) && x.mode === 'into-server' && Array.isArray(x.lines)) return x.lines.map(String).join('\n') + '\n';
  if (!isObject(x) || typeof x.id !== 'string' || typeof x.destination !== 'string') return renderGeneric(x);
  const r = x as unknown as RestoreResultView;
  const lines = [`restored backup ${r.id} into ${r.destination} (${r.mode})`];
  if (Array.isArray(r.chain) && r.chain.length) lines.push(`  chain applied in order: ${r.chain.join(' -> ')}`);
  if (isObject(r.timings)) {
    const t = renderTimings(r.timings);
    if (t) lines.push(`  ${t}`);
  }
  if (typeof r.replayed === 'string') lines.push(`  ${r.replayed}`);
  if (r.movedAside) lines.push(`  the previous datadir was moved aside to ${r.movedAside} (delete it yourself once the restore is confirmed)`);
  if (r.mode === 'target-dir') lines.push(`  ready for MariaDB: start mariadbd with --datadir=${r.destination}, or copy it back with mariabackup --copy-back`);
  else if (r.serverStarted) lines.push('  MariaDB was started again');
  else lines.push('  MariaDB was not started: start it now (e.g. systemctl start mariadb)');
  return lines.join('\n') + '\n';
}

/**
 * Any result as "key: value" lines (verify's, and whatever a newer daemon adds): strings and
 * numbers as they are, lists of them joined, anything deeper as JSON.
 */
export function renderGeneric(x: unknown): string {
  if (x === null || x === undefined) return 'ok\n';
  if (!isObject(x)) return `${typeof x === 'string' ? x : JSON.stringify(x)}\n`;
  const keys = Object.keys(x);
  if (!keys.length) return 'ok\n';
  if (typeof x.message === 'string' && keys.length === 1) return `${x.message}\n`;
  const value = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && v.every((e) => typeof e !== 'object' || e === null)) return v.join(', ');
    return JSON.stringify(v);
  };
  return renderTable(Object.entries(x).map(([k, v]) => [`${k}:`, value(v)]));
}
