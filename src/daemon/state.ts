/**
 * The daemon's small state file (STATE_DIR/state.json): recent jobs and the job counter, so
 * `status` (last success and failure per kind) survives a restart. Written atomically (temp file
 * + rename); an unreadable file is logged and replaced, never fatal.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Manifest } from '../domain/manifest.js';
import type { DrillSummaryView, JobView, StoreCatalogView, StoredBackupView } from './protocol.js';

export interface DaemonState {
  format: 'backupmate-state/1';
  nextJobSeq: number;
  /** Newest last; at most MAX_JOBS. */
  jobs: JobView[];
  /** The last restore drill (daemon/handlers/drill.ts). */
  lastDrill?: DrillSummaryView;
}

const MAX_JOBS = 100;

export function emptyState(): DaemonState {
  return { format: 'backupmate-state/1', nextJobSeq: 1, jobs: [] };
}

export async function loadState(dir: string): Promise<{ state: DaemonState; problem: string | null }> {
  const file = path.join(dir, 'state.json');
  try {
    const s = JSON.parse(await fs.readFile(file, 'utf8')) as DaemonState;
    if (s.format !== 'backupmate-state/1' || !Array.isArray(s.jobs)) throw new Error('unknown format');
    return { state: s, problem: null };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: emptyState(), problem: null };
    return { state: emptyState(), problem: `state file ${file} is unreadable (${(e as Error).message}); starting with an empty history` };
  }
}

export async function saveState(dir: string, state: DaemonState): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  const file = path.join(dir, 'state.json');
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o640 });
  await fs.rename(tmp, file);
}

/** Records a job (replacing an older record of the same id) and trims the history. */
export function recordJob(state: DaemonState, job: JobView): void {
  const i = state.jobs.findIndex((j) => j.id === job.id);
  const copy = JSON.parse(JSON.stringify(job)) as JobView;
  if (i >= 0) state.jobs[i] = copy;
  else state.jobs.push(copy);
  if (state.jobs.length > MAX_JOBS) state.jobs.splice(0, state.jobs.length - MAX_JOBS);
}

/**
 * Last success and last failure of backups of the given kind. A job that died with the daemon
 * ('crashed') is a failure: no backup came of it and nobody asked for it to stop.
 */
export function lastOutcomes(jobs: readonly JobView[], kind: 'full' | 'incremental'): { success: JobView | null; failure: JobView | null } {
  const mine = jobs.filter((j) => j.kind === 'backup' && j.backupKind === kind);
  const last = (...st: JobView['state'][]) => [...mine].reverse().find((j) => st.includes(j.state)) ?? null;
  return { success: last('succeeded'), failure: last('failed', 'crashed') };
}

/** The newest valid backup of each kind among the store's manifests (by finish time). */
export function newestStored(backups: readonly Manifest[]): StoreCatalogView['newest'] {
  const newest = (kind: 'full' | 'incremental'): StoredBackupView | null => {
    const m = backups.filter((b) => b.kind === kind).sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt))[0];
    return m ? { id: m.id, finishedAt: m.finishedAt, rawBytes: m.rawBytes, storedBytes: m.storedBytes } : null;
  };
  return { full: newest('full'), incremental: newest('incremental') };
}

/**
 * When a backup last succeeded, for the stale alert: the newer of the daemon's own last successful
 * backup job and the newest backup in the store, whoever took it (a cron `backupmate backup`
 * beside the daemon is a backup too). null when neither knows one.
 */
export function lastSuccessAt(jobs: readonly JobView[], catalog: Pick<StoreCatalogView, 'newest'>): string | null {
  const job = [...jobs].reverse().find((j) => j.kind === 'backup' && j.state === 'succeeded');
  const times = [job?.finishedAt, catalog.newest.full?.finishedAt, catalog.newest.incremental?.finishedAt].filter((x): x is string => !!x && Number.isFinite(Date.parse(x)));
  return times.sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null;
}
