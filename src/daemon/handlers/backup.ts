/** `backup {kind?, wait?}`: queues a backup; with wait, streams progress until it ends. */
import { BackupmateError } from '../../domain/errors.js';
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';
import { logicalSource } from '../../app/sources.js';
import { backupJob } from '../jobs.js';
import { follow } from './follow.js';

export const backup =
  (d: DaemonContext): Handler =>
  async (params, conn) => {
    const kind = params.kind ?? 'auto';
    if (kind !== 'full' && kind !== 'incremental' && kind !== 'auto') {
      throw new BackupmateError('USAGE', `backup: kind must be full, incremental or auto, got "${String(kind)}"`);
    }
    if (params.source !== undefined && params.source !== 'logical') {
      throw new BackupmateError('USAGE', `backup: source must be logical or absent, got "${String(params.source)}"`);
    }
    if (params.source === 'logical') {
      if (kind === 'incremental') throw new BackupmateError('USAGE', 'backup: a logical backup is always a full dump, not an incremental');
      const { job } = d.queue.enqueue(backupJob(d, 'full', 'manual', 'requested with backupmatectl backup --logical', logicalSource(d.config)));
      return params.wait === true ? follow(d, job, conn) : job;
    }
    const { job } = d.queue.enqueue(backupJob(d, kind, 'manual', `requested with backupmatectl backup${kind === 'auto' ? '' : ` --${kind}`}`));
    return params.wait === true ? follow(d, job, conn) : job;
  };
