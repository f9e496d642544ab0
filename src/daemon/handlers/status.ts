/** `status`: daemon state, running job with progress, next runs, last success/failure per kind. */
import { fmtBytes } from '../../domain/units.js';
import { VERSION } from '../../version.js';
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';
import type { StatusResult } from '../protocol.js';
import { SCHEDULES } from '../schedules.js';
import { lastOutcomes } from '../state.js';

export function statusView(d: DaemonContext): StatusResult {
  const jobs = d.jobs;
  return {
    version: VERSION,
    pid: process.pid,
    startedAt: d.startedAt.toISOString(),
    state: d.stopping ? 'stopping' : d.schedulesPaused ? 'paused' : d.queue.current ? 'running' : 'idle',
    running: d.queue.current,
    queued: d.queue.queued,
    next: d.nextRuns(),
    timeZone: d.config.SCHEDULE_TIMEZONE || Intl.DateTimeFormat().resolvedOptions().timeZone,
    last: { full: lastOutcomes(jobs, 'full'), incremental: lastOutcomes(jobs, 'incremental') },
    recent: jobs.slice(-10),
    store: d.storage.description,
    copy: d.copyStatus,
    catalog: d.catalog.view,
    binlogArchive: d.binlogArchive?.() ?? null,
    ...(d.lastDrill ? { lastDrill: d.lastDrill } : {}),
  };
}

export const status = (d: DaemonContext): Handler => async () => statusView(d);

/** systemd's STATUS= line: the running job with its progress, or the next tick of each schedule. */
export function statusLine(d: DaemonContext): string {
  if (d.stopping) return 'stopping';
  const r = d.queue.current;
  if (r) {
    const p = r.progress;
    const pct = p && p.total > 0 ? `${Math.min(99, Math.floor((p.bytes / p.total) * 100))}% ` : '';
    const what = r.kind === 'backup' ? `backup ${r.backupId ?? '(planning)'}` : `${r.kind} ${r.backupId ?? ''}`.trim();
    return `${what}: ${pct}${fmtBytes(p?.bytes ?? 0)}`;
  }
  const n = d.nextRuns();
  const fmt = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') + 'Z' : 'off');
  return `idle; ${SCHEDULES.map((e) => `next ${e.name} ${fmt(n[e.name] ?? null)}`).join(', ')}`;
}
