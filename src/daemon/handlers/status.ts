/** `status`: daemon state, running job with progress, next runs, last success/failure per kind. */
import type { DaemonApi } from '../daemon.js';
import type { Handler } from '../control.js';

export const status = (d: DaemonApi): Handler => async () => d.status();
