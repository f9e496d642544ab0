/** `list`: the store's backups, the same JSON as `backupmate list --json`. */
import type { DaemonApi } from '../daemon.js';
import type { Handler } from '../control.js';

export const list = (d: DaemonApi): Handler => async () => d.list();
