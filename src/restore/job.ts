/**
 * A restore job: resolve the chain (full + incrementals up to the target), then per backup:
 * store → verify sha256 while streaming → decompress → tar → mbstream -x into a fresh staging
 * directory (backups of the chain download concurrently, bounded); then prepare strictly in order
 * (the full, then each incremental with --incremental-dir, each staging directory used once),
 * check the prepared result, and put it in place.
 *
 * Order of safety (the target is touched last):
 *   1. resolve the backup and read its manifest; check the target's state (server not running,
 *      target dir empty) and that every volume exists with its recorded size, BEFORE downloading;
 *   2. download into staging, verifying every volume's sha256 and the container framing: a
 *      mismatch stops the restore with the target untouched;
 *   3. prepare, then check `backup_type = log-applied` and `to_lsn` against the manifest;
 *   4. only now: rename staging into --target-dir, or move the old datadir aside (never delete
 *      it), copy-back / move-back, and chown -R to MARIADB_OS_USER.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ChildStage } from '../archive/child.js';
import { checkIdentityFor } from '../archive/encryption.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import { majorMinor, resolveRestoreChain, selectRestoreTarget, summarize } from '../domain/chain.js';
import { backupIdFor } from '../domain/ids.js';
import { authenticateManifest } from '../domain/mac.js';
import type { Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import { chownRecursive, findRunningServer, freeBytes, isEmptyDir, moveDatadirAside } from '../mariadb/datadir.js';
import { CHECKPOINT_FILES, mariabackupVersion, parseCheckpoints, prepareArgv, putBackArgv, readFirst } from '../mariadb/mariabackup.js';
import { mapLimit, readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { fmtBytes } from '../domain/units.js';
import { downloadInto } from './download.js';

export type RestoreMode = 'target-dir' | 'copy-back' | 'move-back';

/** Backups of a chain downloaded and extracted at once (each runs zstd and mbstream; two cores). */
const DOWNLOAD_CONCURRENCY = 2;

export interface RestoreSettings {
  fullPrefix: string;
  incrementalPrefix: string;
  tempDir: string;
  mariabackupPath: string;
  mbstreamPath: string;
  datadir: string;
  osUser: string;
  /** DB_SOCKET: a server answering there counts as running. */
  socket: string;
  /** AGE_IDENTITY_FILE: the private age identity for encrypted backups ('' = none). */
  ageIdentityFile?: string;
  /** MANIFEST_HMAC_KEY: when set, every manifest of the chain must carry a valid MAC ('' = none). */
  manifestHmacKey?: string;
}

export interface RestoreRequest {
  /** `latest`, an id, timestamp or prefix; ignored when `time` is given. */
  id: string;
  /** Restore the newest backup finished at or before this instant. */
  time?: Date;
  mode: RestoreMode;
  /** For mode target-dir. */
  targetDir?: string;
  signal?: AbortSignal;
  onProgress?: (p: { stage: string; bytes: number; total: number }) => void;
  /**
   * Called once the chain is downloaded, verified and prepared, right before the target is
   * touched. The daemon asks for confirmation and stops MariaDB here; throwing aborts the restore
   * with the target untouched.
   */
  beforePutBack?: (info: { id: string; chain: string[]; destination: string; mode: RestoreMode }) => Promise<void>;
  /**
   * The server will be stopped by `beforePutBack` (daemon-managed restore): skip the early "is a
   * server running on the datadir?" refusal. The check still runs right before the datadir is touched.
   */
  serverStoppedLater?: boolean;
}

export interface RestoreReport {
  id: string;
  /** The backups applied, in order: the full first. */
  chain: string[];
  mode: RestoreMode;
  /** Where the prepared data now is: the target dir or the datadir. */
  destination: string;
  /** Where the previous datadir was moved, if there was one. */
  movedAside: string | null;
  downloadedBytes: number;
  timings: { downloadMs: number; prepareMs: number; putBackMs: number; totalMs: number };
}

export async function runRestore(storage: Storage, logger: Logger, s: RestoreSettings, req: RestoreRequest): Promise<RestoreReport> {
  const t0 = Date.now();
  const catalog = await readCatalog(storage, [
    { prefix: s.fullPrefix, kind: 'full' },
    { prefix: s.incrementalPrefix, kind: 'incremental' },
  ]);
  const valid = catalog.backups.map((b) => summarize(b.manifest));
  const incompleteIds = catalog.incomplete.map((d) => d.id);
  // Resolve and check the whole chain (continuity, completeness, versions) before anything else.
  const target = selectRestoreTarget(req.time ? { time: req.time } : req.id, valid, incompleteIds);
  // Manifests are authenticated before anything trusts them (the chain checks read their LSNs).
  authenticateChain(catalog.backups.map((b) => b.manifest), target.id, s.manifestHmacKey ?? '', logger);
  const chain = resolveRestoreChain(target, valid, incompleteIds).map((b) => catalog.backups.find((e) => e.manifest.id === b.id)!);
  const id = target.id;
  const manifest = chain[chain.length - 1].manifest;
  const log = logger.child({ backupId: id, kind: manifest.kind, mode: req.mode });
  log.info('restore started', {
    event: 'restore.start',
    store: storage.description,
    target: req.targetDir ?? s.datadir,
    chain: chain.map((c) => c.manifest.id),
  });

  // 0. The mariabackup here must be able to prepare what the chain's mariabackup wrote.
  const localTool = await mariabackupVersion(s.mariabackupPath);
  const taken = chain[0].manifest.versions.mariabackup;
  if (majorMinor(localTool) && majorMinor(taken) && majorMinor(localTool) !== majorMinor(taken)) {
    throw new BackupmateError(
      'TOOL_MISSING',
      `backup ${id} was taken with mariabackup ${taken}, this host has ${localTool} (MARIADB_BACKUP_PATH=${s.mariabackupPath}): ` +
        `prepare needs the same major.minor version; install mariadb-backup ${majorMinor(taken)} or restore on a host that has it`,
    );
  }

  // 0. Encrypted backups (as their manifests say): the identity must match one of their recipients.
  await checkIdentityFor(chain.map((c) => c.manifest), s.ageIdentityFile ?? '');

  // 1. Target state and volumes, before any download.
  const destination = req.mode === 'target-dir' ? path.resolve(req.targetDir ?? '') : path.resolve(s.datadir);
  if (req.mode === 'target-dir') {
    if (!req.targetDir) throw new BackupmateError('USAGE', '--target-dir needs a directory');
    if ((await isEmptyDir(destination)) === false) {
      throw new BackupmateError('TARGET_STATE', `--target-dir ${destination} is not empty: give a new or empty directory`);
    }
  } else if (!req.serverStoppedLater) {
    await refuseIfRunning(s, destination);
  }
  for (const { dir, manifest: m } of chain) {
    for (const v of m.volumes) {
      const head = await storage.head(dir.dir + v.name);
      if (!head) throw new BackupmateError('INTEGRITY', `backup ${m.id}: volume ${dir.dir + v.name} is missing from ${storage.description}`, { key: dir.dir + v.name });
      if (head.size !== v.size) {
        throw new BackupmateError('INTEGRITY', `backup ${m.id}: volume ${dir.dir + v.name} has ${head.size} bytes, the manifest says ${v.size}`, { key: dir.dir + v.name });
      }
    }
  }

  // 2. Staging: next to the target dir (so the final step is an atomic rename), or in LOCAL_TEMP_DIR.
  const stagingParent = req.mode === 'target-dir' ? path.dirname(destination) : s.tempDir;
  await fs.mkdir(stagingParent, { recursive: true, mode: 0o700 });
  const needed = chain.reduce((a, c) => a + c.manifest.rawBytes, 0);
  const free = await freeBytes(stagingParent);
  if (free < needed) {
    throw new BackupmateError(
      'LOCAL_IO',
      `not enough free space in ${stagingParent}: the chain of ${chain.length} backup(s) needs ${fmtBytes(needed)} unpacked, ${fmtBytes(free)} is free`,
    );
  }
  const stagingRoot = await fs.mkdtemp(path.join(stagingParent, req.mode === 'target-dir' ? `.${path.basename(destination)}.partial-` : `restore-${id}-`));
  const staging = path.join(stagingRoot, chain[0].manifest.id);
  try {
    const tDownload = Date.now();
    const dirs = new Map<string, string>();
    for (const c of chain) {
      const d = path.join(stagingRoot, c.manifest.id);
      await fs.mkdir(d);
      dirs.set(c.manifest.id, d);
    }
    // Downloads overlap (network and zstd in parallel); prepare below stays strictly sequential.
    const progress = new Map<string, number>();
    const total = chain.reduce((a, c) => a + c.manifest.storedBytes, 0);
    // The first failure stops the other downloads; all settle before the staging dir is removed.
    const stopAll = new AbortController();
    const onOuterAbort = () => stopAll.abort(req.signal?.reason);
    req.signal?.addEventListener('abort', onOuterAbort, { once: true });
    let firstError: unknown = null;
    const counts = await mapLimit(chain, DOWNLOAD_CONCURRENCY, async (c) => {
      if (stopAll.signal.aborted) return 0;
      try {
        return await downloadInto(storage, log, s, c.manifest, c.dir.dir, dirs.get(c.manifest.id)!, {
          ...req,
          signal: stopAll.signal,
          onProgress: (p) => {
            progress.set(c.manifest.id, p.bytes);
            req.onProgress?.({ stage: 'download', bytes: [...progress.values()].reduce((a, b) => a + b, 0), total });
          },
        });
      } catch (e) {
        firstError ??= e;
        stopAll.abort(e);
        return 0;
      }
    });
    req.signal?.removeEventListener('abort', onOuterAbort);
    if (firstError) throw firstError;
    const downloaded = counts.reduce((a, b) => a + b, 0);
    const downloadMs = Date.now() - tDownload;
    log.info('backup downloaded and extracted', { event: 'restore.downloaded', bytes: downloaded, durationMs: downloadMs });

    // 3. Prepare and check.
    const tPrepare = Date.now();
    await runTool(log, 'prepare', s.mariabackupPath, prepareArgv(staging), req.signal);
    for (const c of chain.slice(1)) {
      // Each incremental's staging directory is applied exactly once, in chain order.
      await runTool(log, 'prepare', s.mariabackupPath, prepareArgv(staging, dirs.get(c.manifest.id)), req.signal);
      log.info('incremental applied', { event: 'restore.incremental_applied', incrementalId: c.manifest.id, toLsn: c.manifest.lsn.to });
    }
    const cp = await readFirst(staging, CHECKPOINT_FILES);
    if (!cp) throw new BackupmateError('TOOL_FAILED', `prepare left no checkpoints file in ${staging}`);
    const prepared = parseCheckpoints(cp.text);
    if (prepared.backupType !== 'log-applied' || prepared.toLsn !== manifest.lsn.to) {
      throw new BackupmateError(
        'TOOL_FAILED',
        `prepared backup is not ready: expected backup_type=log-applied and to_lsn=${manifest.lsn.to}, got backup_type=${prepared.backupType} and to_lsn=${prepared.toLsn}`,
      );
    }
    const prepareMs = Date.now() - tPrepare;
    log.info('backup prepared', { event: 'restore.prepared', durationMs: prepareMs, toLsn: prepared.toLsn });

    // 4. Put in place.
    await req.beforePutBack?.({ id, chain: chain.map((c) => c.manifest.id), destination, mode: req.mode });
    const tPut = Date.now();
    let movedAside: string | null = null;
    if (req.mode === 'target-dir') {
      if ((await isEmptyDir(destination)) === true) await fs.rmdir(destination);
      await fs.rename(staging, destination);
    } else {
      await refuseIfRunning(s, destination);
      movedAside = await moveDatadirAside(destination, backupIdFor(new Date()));
      if (movedAside) log.info('previous datadir moved aside', { event: 'restore.moved_aside', from: destination, to: movedAside });
      try {
        await runTool(log, req.mode, s.mariabackupPath, putBackArgv(req.mode, staging, destination), req.signal);
        await chownRecursive(destination, s.osUser);
      } catch (e) {
        const how = movedAside
          ? `; the previous datadir is untouched at ${movedAside}. To roll back: mv ${destination} ${destination}.failed-restore && mv ${movedAside} ${destination}`
          : '';
        throw new BackupmateError(e instanceof BackupmateError ? e.code : 'INTERNAL', `${req.mode} into ${destination} failed: ${errorText(e)}${how}`, {
          movedAside,
        });
      }
    }
    const putBackMs = Date.now() - tPut;
    const report: RestoreReport = {
      id,
      chain: chain.map((c) => c.manifest.id),
      mode: req.mode,
      destination,
      movedAside,
      downloadedBytes: downloaded,
      timings: { downloadMs, prepareMs, putBackMs, totalMs: Date.now() - t0 },
    };
    log.info('restore finished', { event: 'restore.end', status: 'succeeded', ...report });
    return report;
  } catch (e) {
    const err = e instanceof BackupmateError ? e : new BackupmateError('INTERNAL', errorText(e), {}, { cause: e });
    log.error(`restore failed: ${err.message}`, {
      event: 'restore.end',
      status: 'failed',
      code: err.code,
      stage: err.details.stage,
      exitCode: err.details.exitCode,
      stderrTail: err.details.stderrTail,
      durationMs: Date.now() - t0,
    });
    throw err;
  } finally {
    // The prepared full was renamed into --target-dir on success; what remains is scratch.
    await fs.rm(stagingRoot, { recursive: true, force: true });
  }
}

/**
 * Authenticates the manifest of `targetId` and of every backup its parent links reach (as far as
 * they reach: resolveRestoreChain names a missing link). Throws INTEGRITY naming the first
 * backup whose MAC is wrong or missing while MANIFEST_HMAC_KEY is set; logs a warning for a MAC
 * that cannot be checked because no key is set.
 */
export function authenticateChain(manifests: readonly Manifest[], targetId: string, key: string, logger: Logger): Manifest[] {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const reached: Manifest[] = [];
  const seen = new Set<string>();
  let cur = byId.get(targetId);
  while (cur && !seen.has(cur.id)) {
    seen.add(cur.id);
    reached.push(cur);
    cur = cur.kind === 'incremental' && cur.parentId ? byId.get(cur.parentId) : undefined;
  }
  // The full first: the oldest link is named when several were changed.
  for (const m of reached.reverse()) {
    const verdict = authenticateManifest(m, key);
    if (verdict.state === 'unverifiable') logger.warn(verdict.warning, { event: 'manifest.unauthenticated', backupId: m.id });
  }
  return reached;
}

export async function refuseIfRunning(s: RestoreSettings, datadir: string): Promise<void> {
  const running = await findRunningServer(datadir, s.socket || undefined);
  if (running) {
    throw new BackupmateError(
      'TARGET_STATE',
      `MariaDB is running on ${datadir}: ${running}. Stop it first (e.g. systemctl stop mariadb), then restore again`,
    );
  }
}

async function runTool(log: Logger, stage: string, file: string, args: string[], signal?: AbortSignal): Promise<void> {
  const t = Date.now();
  const child = new ChildStage({ stage, file, args, stdin: 'ignore', stdout: 'ignore', onStderr: (l) => log.debug(l, { event: `${stage}.stderr` }) });
  const onAbort = () => child.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await child.done;
  } catch (e) {
    if (signal?.aborted) throw new BackupmateError('CANCELLED', `${stage} was cancelled`);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  log.info(`${stage} finished`, { event: `${stage}.end`, durationMs: Date.now() - t });
}
