/**
 * The server's side of a restore into the live datadir (copy-back/move-back with the server
 * managed: the daemon's `restore`): confirm, stop MariaDB and wait for it to be gone, let the
 * restore job move the datadir aside, put the backup back and chown it, then start MariaDB and
 * wait for it to answer; when it does not come back, the error says how to roll back.
 *
 * The order is the contract: nothing is asked or stopped before the chain is downloaded, verified
 * and prepared (runSourceRestore's beforePutBack), so a declined confirmation or a bad backup leaves
 * the server running and the datadir untouched. A target-dir restore touches no server.
 *
 * Callers: daemon/handlers/restore.ts. The one-shot CLI restore does not manage the server (it
 * refuses while one runs on the datadir and prints how to start it, restore/hint.ts).
 */
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { startServer, stopServer, type ServiceSettings } from '../mariadb/service.js';
import type { Storage } from '../storage/storage.js';
import type { SourceRegistry } from '../sources/registry.js';
import type { RestoreMode } from '../sources/source.js';
import { runSourceRestore, type SourceRestoreReport as RestoreReport, type SourceRestoreRequest, type SourceRestoreSettings } from './source-restore.js';

/** Whether a restore in this mode stops and starts the server (pure). */
export function managesServer(mode: RestoreMode): boolean {
  return mode !== 'target-dir';
}

/** The question put to the person before the server is stopped (pure). */
export function confirmationPrompt(
  info: { chain: readonly string[]; destination: string },
  o: { mode: RestoreMode; noStart: boolean; stopCommand: string; startCommand: string },
): string {
  return (
    `Restore ${info.chain.join(' -> ')} into ${info.destination} (${o.mode})?\n` +
    `  MariaDB will be stopped with: ${o.stopCommand}\n` +
    `  the current datadir ${info.destination} will be moved aside (not deleted)\n` +
    (o.noStart ? '  MariaDB will NOT be started afterwards (--no-start)\n' : `  then started with: ${o.startCommand}\n`)
  );
}

/** The error when MariaDB does not come back after the put back, with the way back (pure). */
export function notStartedError(report: Pick<RestoreReport, 'id' | 'destination' | 'movedAside'>, cause: unknown, o: { stopCommand: string; startCommand: string }): BackupmateError {
  const dest = report.destination;
  const aside = report.movedAside;
  return new BackupmateError(
    'TOOL_FAILED',
    `the restore of ${report.id} is in place at ${dest}, but MariaDB did not come back: ${errorText(cause)}. ` +
      `Check the server's log (journalctl -u mariadb, or the *.err file in ${dest}). ` +
      (aside
        ? `To roll back to the previous datadir: ${o.stopCommand}; mv ${dest} ${dest}.failed-restore; mv ${aside} ${dest}; ${o.startCommand}`
        : 'There was no previous datadir to roll back to.'),
  );
}

export interface HandoverOptions {
  service: ServiceSettings;
  /** The confirmation was given up front (--yes): no question is asked. */
  confirmed: boolean;
  /** Leave MariaDB stopped after the put back (--no-start). */
  noStart: boolean;
  /** Asks the person; true = go ahead. Called at most once, before anything is stopped. */
  confirm(q: { prompt: string; datadir: string; stopCommand: string }): Promise<boolean>;
  /** A server stage begins ('stop', 'start'), for progress events. */
  onStage?(stage: 'stop' | 'start'): void;
  /** The restore knows its backup id (after selection), for the job's view. */
  onBackupId?(id: string): void;
}

export interface HandoverResult extends RestoreReport {
  serverStarted: boolean;
}

/**
 * runSourceRestore with the server handed over around the put back (managed modes), or as is for
 * target-dir. The request's own beforePutBack (e.g. a point-in-time replay into the prepared
 * staging datadir) runs first, then the confirmation and the server's stop: nothing is asked or
 * stopped before the result is ready. Throws DECLINED when the person says no (the server was
 * not stopped), the restore's own errors, or notStartedError.
 */
export async function restoreWithHandover(
  storage: Storage,
  log: Logger,
  settings: SourceRestoreSettings,
  sources: SourceRegistry,
  req: Omit<SourceRestoreRequest, 'serverStoppedLater'>,
  o: HandoverOptions,
): Promise<HandoverResult> {
  const manage = managesServer(req.mode);
  const s = o.service;
  let stopped = false;
  const report = await runSourceRestore(storage, log, settings, sources, {
    ...req,
    serverStoppedLater: manage,
    beforePutBack: async (result, info) => {
      o.onBackupId?.(info.id);
      await req.beforePutBack?.(result, info);
      if (!manage) return;
      if (!o.confirmed) {
        const prompt = confirmationPrompt(info, { mode: req.mode, noStart: o.noStart, stopCommand: s.stopCommand, startCommand: s.startCommand });
        if (!(await o.confirm({ prompt, datadir: info.destination, stopCommand: s.stopCommand }))) {
          throw new BackupmateError('DECLINED', 'restore not confirmed: nothing was changed (the server was not stopped)');
        }
      }
      o.onStage?.('stop');
      await stopServer(log, s);
      stopped = true;
    },
  });
  let serverStarted = false;
  if (manage && !o.noStart) {
    o.onStage?.('start');
    try {
      await startServer(log, s);
      serverStarted = true;
    } catch (e) {
      throw notStartedError(report, e, s);
    }
  } else if (stopped) {
    log.warn('MariaDB was left stopped (--no-start)', { event: 'restore.no_start' });
  }
  return { ...report, serverStarted };
}
