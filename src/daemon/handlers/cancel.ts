/** `cancel {job?}`: cancels the running job (children killed, upload aborted) or a queued one. */
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';

export const cancel = (d: DaemonContext): Handler => async (params) => d.queue.cancel(typeof params.job === 'string' ? params.job : undefined);
