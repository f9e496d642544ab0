/**
 * The daemon's small state file (STATE_DIR/state.json): recent jobs and the job counter, so
 * `status` (last success and failure per kind) survives a restart. Written atomically (temp file
 * + rename); an unreadable file is logged and replaced, never fatal.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { JobView } from './protocol.js';

export interface DaemonState {
  format: 'backupmate-state/1';
  nextJobSeq: number;
  /** Newest last; at most MAX_JOBS. */
  jobs: JobView[];
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

/** Last success and last failure of backups of the given kind. */
export function lastOutcomes(jobs: readonly JobView[], kind: 'full' | 'incremental'): { success: JobView | null; failure: JobView | null } {
  const mine = jobs.filter((j) => j.kind === 'backup' && j.backupKind === kind);
  const last = (st: JobView['state']) => [...mine].reverse().find((j) => j.state === st) ?? null;
  return { success: last('succeeded'), failure: last('failed') };
}
