/**
 * The daemon's job queue: one job at a time, in order.
 *
 * - A scheduled request that arrives while a scheduled backup is already waiting is coalesced
 *   into that one (never stacked): ticks during a long backup cannot pile up a backlog.
 * - Manual requests are queued behind the running job.
 * - A restore is refused while a backup runs or waits (BUSY, naming the job to wait for or cancel).
 * - Every job has an id, a state (queued, running, succeeded, failed, cancelled), timestamps,
 *   bytes, a reason and, on failure, the error; `onChange` lets the daemon persist and report.
 *
 * Jobs carry their own `run(ctx)`: the queue knows nothing about backups or restores.
 */
import { BackupmateError, errorText, type ErrorCode } from '../domain/errors.js';
import type { JobKind, JobState, JobView } from './protocol.js';

/** Listeners hear about progress at most this often (the stream reports every chunk). */
const PROGRESS_INTERVAL_MS = 250;

export interface JobContext {
  readonly jobId: string;
  signal: AbortSignal;
  progress(p: { stage: string; bytes: number; total: number }): void;
  /** Called when the job learns its backup id (after planning). */
  setBackupId(id: string): void;
  setReason(reason: string): void;
  setBackupKind(kind: 'full' | 'incremental'): void;
}

export interface JobSpec {
  kind: JobKind;
  trigger: JobView['trigger'];
  backupKind?: JobView['backupKind'];
  reason: string;
  /**
   * Scheduled backups coalesce only with a waiting one of the same key (the source type): a
   * logical or directory tick waiting behind a physical one is its own job, never swallowed.
   */
  coalesceKey?: string;
  run(ctx: JobContext): Promise<{ bytes?: number } | void>;
}

interface Job {
  view: JobView;
  spec: JobSpec;
  abort: AbortController;
  done: Promise<void>;
  resolveDone(): void;
}

export class JobQueue {
  private running: Job | null = null;
  private readonly waiting: Job[] = [];
  private readonly listeners: ((job: JobView, event: 'queued' | 'started' | 'updated' | 'progress' | 'finished') => void)[] = [];
  private accepting = true;
  private seq: number;

  constructor(firstSeq = 1) {
    this.seq = firstSeq;
  }

  onChange(fn: (job: JobView, event: 'queued' | 'started' | 'updated' | 'progress' | 'finished') => void): void {
    this.listeners.push(fn);
  }

  offChange(fn: (job: JobView, event: 'queued' | 'started' | 'updated' | 'progress' | 'finished') => void): void {
    const i = this.listeners.indexOf(fn);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  get nextSeq(): number {
    return this.seq;
  }

  get current(): JobView | null {
    return this.running?.view ?? null;
  }

  get queued(): JobView[] {
    return this.waiting.map((j) => j.view);
  }

  /** Adds a job; returns its view (for a coalesced scheduled backup, the job already waiting). */
  enqueue(spec: JobSpec): { job: JobView; coalesced: boolean } {
    if (!this.accepting) throw new BackupmateError('BUSY', 'the daemon is shutting down and accepts no new jobs');
    if (spec.kind === 'restore') {
      const busy = [this.running, ...this.waiting].find((j) => j && j.view.kind === 'backup');
      if (busy) {
        const verb = busy.view.state === 'running' ? 'is running' : 'is queued';
        throw new BackupmateError(
          'BUSY',
          `backup job ${busy.view.id} ${verb}: wait for it (backupmatectl status) or cancel it (backupmatectl cancel ${busy.view.id}), then restore`,
          { job: busy.view.id },
        );
      }
      if (this.running?.view.kind === 'restore') {
        throw new BackupmateError('BUSY', `restore job ${this.running.view.id} is running: wait for it to finish`, { job: this.running.view.id });
      }
    }
    if ((spec.kind === 'backup' || spec.kind === 'drill') && spec.trigger !== 'manual') {
      const pending = this.waiting.find((j) => j.spec.kind === spec.kind && j.spec.trigger !== 'manual' && (j.spec.coalesceKey ?? '') === (spec.coalesceKey ?? ''));
      if (pending) return { job: pending.view, coalesced: true };
    }
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const job: Job = {
      view: {
        id: String(this.seq++),
        kind: spec.kind,
        backupKind: spec.backupKind,
        trigger: spec.trigger,
        state: 'queued',
        reason: spec.reason,
        queuedAt: new Date().toISOString(),
        bytes: 0,
      },
      spec,
      abort: new AbortController(),
      done,
      resolveDone,
    };
    this.waiting.push(job);
    this.emit(job, 'queued');
    queueMicrotask(() => void this.pump());
    return { job: job.view, coalesced: false };
  }

  /** Cancels the running job, or a queued one by id. */
  cancel(id?: string): JobView {
    const target = id === undefined ? this.running : this.running?.view.id === id ? this.running : this.waiting.find((j) => j.view.id === id);
    if (!target) {
      throw new BackupmateError('BACKUP_NOT_FOUND', id === undefined ? 'no job is running' : `no running or queued job ${id}`);
    }
    if (target === this.running) {
      target.abort.abort(new BackupmateError('CANCELLED', `job ${target.view.id} was cancelled`));
    } else {
      this.waiting.splice(this.waiting.indexOf(target), 1);
      this.finish(target, 'cancelled', new BackupmateError('CANCELLED', `job ${target.view.id} was cancelled before it started`));
    }
    return target.view;
  }

  /** Resolves when the job with `id` has finished (immediately if unknown or finished). */
  async wait(id: string): Promise<JobView | null> {
    const j = this.running?.view.id === id ? this.running : this.waiting.find((w) => w.view.id === id);
    if (!j) return null;
    await j.done;
    return j.view;
  }

  /** Stops accepting, drops queued jobs, cancels the running one and waits for it to settle. */
  async shutdown(): Promise<void> {
    this.accepting = false;
    for (const j of this.waiting.splice(0)) this.finish(j, 'cancelled', new BackupmateError('CANCELLED', 'the daemon is stopping'));
    const r = this.running;
    if (r) {
      r.abort.abort(new BackupmateError('CANCELLED', 'the daemon is stopping (SIGTERM): job cancelled, upload aborted, no manifest'));
      await r.done;
    }
  }

  private async pump(): Promise<void> {
    if (this.running || !this.waiting.length) return;
    const job = this.waiting.shift()!;
    this.running = job;
    job.view.state = 'running';
    job.view.startedAt = new Date().toISOString();
    this.emit(job, 'started');
    let lastProgress = 0;
    const ctx: JobContext = {
      jobId: job.view.id,
      signal: job.abort.signal,
      // Called for every chunk of the stream (64 KiB): record always, but tell the listeners
      // (status line, sd_notify, --wait clients) at most every PROGRESS_INTERVAL_MS, or on a new stage.
      progress: (p) => {
        const stageChanged = job.view.progress?.stage !== p.stage;
        job.view.progress = p;
        job.view.bytes = Math.max(job.view.bytes, p.bytes);
        const now = Date.now();
        if (stageChanged || now - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = now;
          this.emit(job, 'progress');
        }
      },
      setBackupId: (id) => {
        job.view.backupId = id;
        // Persisted at once: if the daemon dies now, the next start knows whose leftovers these are.
        this.emit(job, 'updated');
      },
      setReason: (r) => (job.view.reason = r),
      setBackupKind: (k) => (job.view.backupKind = k),
    };
    try {
      const r = await job.spec.run(ctx);
      if (r && typeof r.bytes === 'number') job.view.bytes = r.bytes;
      this.finish(job, 'succeeded');
    } catch (e) {
      const cancelled = job.abort.signal.aborted || (e instanceof BackupmateError && (e.code === 'CANCELLED' || e.code === 'DECLINED'));
      this.finish(job, cancelled ? 'cancelled' : 'failed', e);
    } finally {
      this.running = null;
      void this.pump();
    }
  }

  private finish(job: Job, state: JobState, error?: unknown): void {
    job.view.state = state;
    job.view.finishedAt = new Date().toISOString();
    if (error !== undefined) {
      const code: ErrorCode = error instanceof BackupmateError ? error.code : 'INTERNAL';
      const stage = error instanceof BackupmateError ? (error.details.stage as string | undefined) : undefined;
      job.view.error = { code, message: errorText(error), ...(stage ? { stage } : {}) };
    }
    this.emit(job, 'finished');
    job.resolveDone();
  }

  private emit(job: Job, event: 'queued' | 'started' | 'updated' | 'progress' | 'finished'): void {
    for (const l of this.listeners) {
      try {
        l(job.view, event);
      } catch {
        /* a listener's failure must never stop the queue */
      }
    }
  }
}
