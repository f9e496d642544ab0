/** `backup {kind?, wait?}`: queues a backup; with wait, streams progress until it ends. */
import { BackupmateError } from '../../domain/errors.js';
import type { DaemonApi } from '../daemon.js';
import type { Handler } from '../control.js';

export const backup =
  (d: DaemonApi): Handler =>
  async (params, conn) => {
    const kind = params.kind ?? 'auto';
    if (kind !== 'full' && kind !== 'incremental' && kind !== 'auto') {
      throw new BackupmateError('USAGE', `backup: kind must be full, incremental or auto, got "${String(kind)}"`);
    }
    return d.backup(kind, params.wait === true, conn);
  };
