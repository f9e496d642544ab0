/**
 * The one-shot command handlers: each loads the configuration, builds what it needs through the
 * composition root, runs one job and prints a result. Kept thin: the work lives in the jobs.
 */
import { runFullBackup } from '../backup/job.js';
import { loadConfig, type Config } from '../config/load.js';
import { redactedView } from '../config/redact.js';
import { BackupmateError } from '../domain/errors.js';
import { fmtBytes, fmtDuration } from '../domain/units.js';
import { closeLogger } from '../log/logger.js';
import { runRestore, type RestoreMode } from '../restore/job.js';
import { readCatalog } from '../storage/catalog.js';
import { backupSettings, makeLogger, makeStorage, restoreSettings } from '../app/wiring.js';
import { renderCatalog, renderTable } from './format.js';

interface GlobalOpts {
  config?: string[];
}

function load(opts: GlobalOpts): Config {
  return loadConfig({ files: opts.config });
}

/** Cancels the job on SIGINT/SIGTERM: children are killed, uploads aborted, no manifest. */
function cancelOnSignals(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => () =>
    ac.abort(new BackupmateError('CANCELLED', `cancelled by ${sig}: children killed, upload aborted, no manifest written`));
  const int = on('SIGINT');
  const term = on('SIGTERM');
  process.once('SIGINT', int);
  process.once('SIGTERM', term);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', int);
      process.off('SIGTERM', term);
    },
  };
}

export async function backupCommand(opts: GlobalOpts & { full?: boolean }): Promise<void> {
  const c = load(opts);
  // Cron and systemd keep stdout: JSON log lines there are the record of the run.
  const logger = makeLogger(c, 'stdout', 'backup');
  const cancel = cancelOnSignals();
  try {
    logger.info('decided on a full backup', { event: 'backup.plan', kind: 'full', reason: opts.full ? '--full was given' : 'this version takes full backups only' });
    await runFullBackup(makeStorage(c), logger, backupSettings(c), { signal: cancel.signal });
  } finally {
    cancel.dispose();
    await closeLogger(logger);
  }
}

export async function listCommand(opts: GlobalOpts & { json?: boolean }): Promise<void> {
  const c = load(opts);
  const logger = makeLogger(c, 'stderr', 'list');
  try {
    const catalog = await readCatalog(makeStorage(c), [
      { prefix: c.FULL_BACKUP_PREFIX, kind: 'full' },
      { prefix: c.INCREMENTAL_BACKUP_PREFIX, kind: 'incremental' },
    ]);
    if (opts.json) {
      process.stdout.write(
        JSON.stringify(
          {
            backups: catalog.backups.map((b) => ({ ...b.manifest, status: 'ok' })),
            incomplete: catalog.incomplete.map((d) => ({ id: d.id, kind: d.kind, status: 'incomplete', objects: d.objects.map((o) => o.key), bytes: d.objects.reduce((a, o) => a + o.size, 0) })),
            unreadable: catalog.broken.map((b) => ({ id: b.dir.id, kind: b.dir.kind, status: 'unreadable', error: b.error })),
          },
          null,
          2,
        ) + '\n',
      );
    } else {
      process.stdout.write(renderCatalog(catalog));
    }
  } finally {
    await closeLogger(logger);
  }
}

export async function restoreCommand(
  id: string,
  opts: GlobalOpts & { targetDir?: string; copyBack?: boolean; moveBack?: boolean },
): Promise<void> {
  const modes = [opts.targetDir !== undefined && 'target-dir', opts.copyBack && 'copy-back', opts.moveBack && 'move-back'].filter(Boolean) as RestoreMode[];
  if (modes.length !== 1) {
    throw new BackupmateError(
      'USAGE',
      `restore: expected exactly one of --target-dir DIR, --copy-back, --move-back, got ${modes.length ? modes.map((m) => '--' + m).join(' and ') : 'none'}`,
    );
  }
  const c = load(opts);
  // The human report goes to stdout; JSON log lines go to stderr and LOG_FILE.
  const logger = makeLogger(c, 'stderr', 'restore');
  const cancel = cancelOnSignals();
  try {
    const r = await runRestore(makeStorage(c), logger, restoreSettings(c), { id, mode: modes[0], targetDir: opts.targetDir, signal: cancel.signal });
    const lines = [
      `restored backup ${r.id} into ${r.destination} (${r.mode})`,
      `  downloaded ${fmtBytes(r.downloadedBytes)}; download+extract ${fmtDuration(r.timings.downloadMs)}, prepare ${fmtDuration(r.timings.prepareMs)}, put back ${fmtDuration(r.timings.putBackMs)}, total ${fmtDuration(r.timings.totalMs)}`,
    ];
    if (r.movedAside) lines.push(`  the previous datadir was moved aside to ${r.movedAside} (delete it yourself once the restore is confirmed)`);
    if (r.mode === 'target-dir') lines.push(`  ready for MariaDB: start mariadbd with --datadir=${r.destination}, or copy it back with mariabackup --copy-back`);
    else lines.push(`  ownership set to ${c.MARIADB_OS_USER}; start MariaDB now (e.g. systemctl start mariadb)`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    cancel.dispose();
    await closeLogger(logger);
  }
}

export async function configCommand(what: 'check' | 'show', opts: GlobalOpts): Promise<void> {
  const c = load(opts);
  const view = redactedView(c);
  for (const w of c.warnings) process.stderr.write(`warning: ${w}\n`);
  const rows = [['KEY', 'VALUE', 'FROM'], ...Object.entries(view).map(([k, v]) => [k, String(v), c.sources[k as keyof typeof c.sources] ?? 'default'])];
  if (what === 'check') process.stdout.write('configuration is valid\n');
  process.stdout.write(renderTable(rows));
}
