/** Streaming a queued job's progress to a waiting client, shared by the handlers that wait. */
import { BackupmateError } from '../../domain/errors.js';
import type { Connection } from '../control.js';
import type { DaemonContext } from '../context.js';
import type { JobView } from '../protocol.js';

/** Sends the job's progress and state changes to `conn` until it ends; a failed job becomes its error. */
export async function follow(d: DaemonContext, job: JobView, conn: Connection): Promise<JobView> {
  const listener = (j: JobView, ev: string) => {
    if (j.id === job.id && !conn.closed) conn.event(ev === 'progress' ? 'progress' : 'state', ev === 'progress' ? { ...j.progress, backupId: j.backupId } : { state: j.state, backupId: j.backupId, reason: j.reason });
  };
  d.queue.onChange(listener);
  let final: JobView;
  try {
    final = (await d.queue.wait(job.id)) ?? job;
  } finally {
    d.queue.offChange(listener);
  }
  if (final.state !== 'succeeded') {
    throw new BackupmateError(final.error?.code ?? 'INTERNAL', `job ${final.id} ${final.state}: ${final.error?.message ?? ''}`.trim());
  }
  return final;
}
