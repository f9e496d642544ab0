/** `restore {...}`: the whole server-managed restore; see Daemon.restore. */
import type { DaemonApi } from '../daemon.js';
import type { Handler } from '../control.js';
import type { RestoreParams } from '../protocol.js';

export const restore = (d: DaemonApi): Handler => async (params, conn) => d.restore(params as unknown as RestoreParams, conn);
