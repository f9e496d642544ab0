/** `cancel {job?}`: cancels the running job (children killed, upload aborted) or a queued one. */
import type { DaemonApi } from '../daemon.js';
import type { Handler } from '../control.js';

export const cancel = (d: DaemonApi): Handler => async (params) => d.cancel(typeof params.job === 'string' ? params.job : undefined);
