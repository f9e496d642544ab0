/** `verify {id?}`: checks backups end to end as a queued job; see Daemon.verify. */
import { BackupmateError } from '../../domain/errors.js';
import type { DaemonApi } from '../daemon.js';
import type { Handler } from '../control.js';

export const verify =
  (d: DaemonApi): Handler =>
  async (params, conn) => {
    if (params.id !== undefined && typeof params.id !== 'string') {
      throw new BackupmateError('USAGE', `verify: id must be a backup id, "latest" or "all", got ${JSON.stringify(params.id)}`);
    }
    return d.verify(params.id, conn);
  };
