/** The handler table: one file per control method (pgBackRest's protocol handler table). */
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';
import { backup } from './backup.js';
import { cancel } from './cancel.js';
import { drill } from './drill.js';
import { list } from './list.js';
import { restore } from './restore.js';
import { status } from './status.js';
import { verify } from './verify.js';

export function handlers(d: DaemonContext): Readonly<Record<string, Handler>> {
  return { status: status(d), list: list(d), backup: backup(d), cancel: cancel(d), restore: restore(d), verify: verify(d), drill: drill(d) };
}
