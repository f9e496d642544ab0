/**
 * Stopping and starting MariaDB around a daemon-managed restore, with MARIADB_STOP_COMMAND and
 * MARIADB_START_COMMAND (run with /bin/sh -c), and waiting until the server is REALLY down (no
 * process on the datadir, socket silent) or really up (answers a query): a stop command that
 * returns early, or a start that "succeeds" while the server crashes, must not be taken at its word.
 */
import { runCommand } from '../archive/command.js';
import { BackupmateError } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { findRunningServer, socketAnswers } from './datadir.js';
import type { ConnectionSettings } from './mariabackup.js';
import { serverVersion } from './server.js';

export interface ServiceSettings {
  stopCommand: string;
  startCommand: string;
  timeoutMs: number;
  datadir: string;
  connection: ConnectionSettings;
  tempDir: string;
}

async function runShell(log: Logger, what: string, command: string, timeoutMs: number): Promise<void> {
  log.info(`running ${what}: ${command}`, { event: `service.${what}`, command });
  const r = await runCommand('/bin/sh', ['-c', command], { timeoutMs });
  if (r.failed) {
    const how = r.timedOut ? `did not finish within ${Math.round(timeoutMs / 1000)}s` : `exited with code ${r.exitCode}`;
    throw new BackupmateError('TOOL_FAILED', `${what} command "${command}" ${how}: ${String(r.all ?? '').trim().split('\n').slice(-3).join(' | ')}`, {
      stage: what,
      exitCode: r.exitCode,
    });
  }
}

export async function stopServer(log: Logger, s: ServiceSettings): Promise<void> {
  await runShell(log, 'stop', s.stopCommand, s.timeoutMs);
  const deadline = Date.now() + s.timeoutMs;
  for (;;) {
    // Down means: nothing uses the datadir AND the configured socket is silent (this is the server
    // the stop command stops; a socket still answering means it has not finished shutting down).
    const socket = s.connection.socket;
    const running =
      (await findRunningServer(s.datadir)) ??
      (socket && (await socketAnswers(socket)) ? `a server still answers on socket ${socket} (DB_SOCKET)` : null);
    if (!running) break;
    if (Date.now() > deadline) {
      throw new BackupmateError(
        'TARGET_STATE',
        `MariaDB is still running after "${s.stopCommand}" (${running}); waited ${Math.round(s.timeoutMs / 1000)}s (MARIADB_SERVICE_TIMEOUT). Nothing was changed.`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  log.info('MariaDB is down', { event: 'service.down', datadir: s.datadir });
}

/** Starts the server and waits until it answers `SELECT VERSION()`; returns the version. */
export async function startServer(log: Logger, s: ServiceSettings): Promise<string> {
  await runShell(log, 'start', s.startCommand, s.timeoutMs);
  const deadline = Date.now() + s.timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await serverVersion(s.connection, s.tempDir);
      log.info('MariaDB answers', { event: 'service.up', serverVersion: v });
      return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) {
      throw new BackupmateError('TOOL_FAILED', `MariaDB did not answer a query within ${Math.round(s.timeoutMs / 1000)}s after "${s.startCommand}": ${last}`, { stage: 'start' });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
