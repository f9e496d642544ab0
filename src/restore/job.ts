/**
 * A restore job: resolve the chain (full + incrementals up to the target), then per backup:
 * store → verify sha256 while streaming → decompress → tar → mbstream -x into a fresh staging
 * directory (backups of the chain download in chain order, DOWNLOAD_CONCURRENCY at a time);
 * prepare runs strictly in order (the full, then each incremental with --incremental-dir, each
 * staging directory used once) and overlaps the downloads: the full is prepared as soon as it is
 * downloaded and verified, each incremental is applied as soon as it is downloaded and verified
 * and the step before it is done. Then the prepared result is checked and put in place.
 *
 * Order of safety (the target is touched last):
 *   1. resolve the backup and read its manifest; check the target's state (server not running,
 *      target dir empty) and that every volume exists with its recorded size, BEFORE downloading;
 *   2. download into staging, verifying every volume's sha256 and the container framing: a
 *      mismatch stops the restore with the target untouched. A backup is prepared (or applied)
 *      only once its own download finished and passed every check; prepare only writes staging;
 *   3. prepare, then check `backup_type = log-applied` and `to_lsn` against the manifest;
 *   4. only now: rename staging into --target-dir, or move the old datadir aside (never delete
 *      it), copy-back / move-back, and chown -R to MARIADB_OS_USER.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ChildStage } from '../archive/child.js';
import { checkIdentityFor } from '../archive/encryption.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import { majorMinor, selectRestoreTarget } from '../domain/chain.js';
import { physicalSummary, resolveRestoreChain } from '../sources/physical/chain.js';
import { isPhysical, physicalOf } from '../sources/physical/payload.js';
import { layoutOf, type LayoutEntry } from '../sources/registry.js';
import { backupIdFor } from '../domain/ids.js';
import { authenticateManifest } from '../domain/mac.js';
import type { Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import { chownRecursive, findRunningServer, freeBytes, isEmptyDir, moveDatadirAside } from '../mariadb/datadir.js';
import { CHECKPOINT_FILES, mariabackupVersion, parseCheckpoints, prepareArgv, putBackArgv, readFirst, type ConnectionSettings } from '../mariadb/mariabackup.js';
import { markRestored } from '../mariadb/restore-marker.js';
import { querySingleValue } from '../mariadb/server.js';
import { mapLimit, readCatalog, type CatalogEntry } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { fmtBytes } from '../domain/units.js';
import { downloadInto } from './download.js';

export type RestoreMode = 'target-dir' | 'copy-back' | 'move-back';

/**
 * Backups of a chain downloaded and extracted at once, in chain order. One: prepare is a strict
 * chain (the full, then each incremental), so what shortens a restore is each backup arriving as
 * early as possible in that order, above all the full. Measured on 2 cores with s3rver (full
 * 748 MiB stored + 3 × 120 MiB incrementals, medians of 3): one at a time, prepare overlapped
 * 2.2 s of the downloads and the restore took 11.7 s; two at a time, the incrementals competed
 * with the full for the cores and were all done before it, so nothing overlapped: 13.3 s (and
 * the downloads as a whole were no faster). Each download runs its own decompressor and mbstream.
 */
const DOWNLOAD_CONCURRENCY = 1;

/** HEAD requests in flight while checking that every volume of the chain exists with its size. */
const HEAD_CONCURRENCY = 8;

export interface RestoreSettings {
  fullPrefix: string;
  incrementalPrefix: string;
  /** The whole store layout (sources/registry.ts); absent: the standard one of the prefixes. */
  layout?: readonly LayoutEntry[];
  tempDir: string;
  mariabackupPath: string;
  mbstreamPath: string;
  datadir: string;
  osUser: string;
  /** DB_SOCKET: a server answering there counts as running on the target only if its @@datadir is the target. */
  socket: string;
  /**
   * The DB_* connection, to ask the DB_SOCKET server for its @@datadir. Absent: a server
   * answering on DB_SOCKET says nothing about the target (the pid file, process and lock checks decide).
   */
  connection?: ConnectionSettings;
  /** AGE_IDENTITY_FILE: the private age identity for encrypted backups ('' = none). */
  ageIdentityFile?: string;
  /** MANIFEST_HMAC_KEY: when set, every manifest of the chain must carry a valid MAC ('' = none). */
  manifestHmacKey?: string;
  /** MARIABACKUP_PARALLEL: --parallel of --copy-back/--move-back (absent = mariabackup's default). */
  parallel?: number;
  /** PREPARE_USE_MEMORY: --use-memory of mariabackup --prepare, in bytes (absent = mariabackup's default). */
  prepareUseMemory?: number;
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
  // The mariabackup version probe (a child process) runs while the catalog is read; its result is
  // checked below, after the chain, as before.
  const localTool = early(mariabackupVersion(s.mariabackupPath));
  const catalog = await readCatalog(storage, layoutOf(s));
  // copy-back, move-back and target-dir of a datadir: the backups of the physical source.
  const valid = catalog.backups.filter((b) => isPhysical(b.manifest)).map((b) => physicalSummary(b.manifest));
  const incompleteIds = catalog.incomplete.filter((d) => d.source === 'physical').map((d) => d.id);
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

  // 0.–1. Read-only checks, run concurrently; all settle, then the first failure in this order is
  // reported: (a) the mariabackup here must be able to prepare what the chain's mariabackup wrote;
  // (b) encrypted backups (as their manifests say): the identity must match one of their
  // recipients; (c) the target's state; (d) every volume exists with its recorded size.
  const destination = req.mode === 'target-dir' ? path.resolve(req.targetDir ?? '') : path.resolve(s.datadir);
  const checks = [
    localTool.then((v) => checkToolVersion(v, physicalOf(chain[0].manifest).versions.mariabackup, id, s.mariabackupPath)),
    checkIdentityFor(chain.map((c) => c.manifest), s.ageIdentityFile ?? ''),
    checkTargetState(s, req, destination, log),
    checkVolumes(storage, chain),
  ];
  await Promise.allSettled(checks);
  for (const c of checks) await c;

  // 2. Staging: next to the target dir (so the final step is an atomic rename), or in LOCAL_TEMP_DIR.
  const stagingParent = req.mode === 'target-dir' ? path.dirname(destination) : s.tempDir;
  const stagingWhat = req.mode === 'target-dir' ? "--target-dir's parent" : 'LOCAL_TEMP_DIR';
  // The directories mkdir -p creates here are the restore's: a failure removes them again (if empty).
  const created = await makeParents(stagingParent, stagingWhat);
  let stagingRoot: string;
  try {
    await probeWritable(stagingParent, stagingWhat);
    const needed = chain.reduce((a, c) => a + c.manifest.rawBytes, 0);
    const free = await freeBytes(stagingParent);
    if (free < needed) {
      throw new BackupmateError(
        'LOCAL_IO',
        `not enough free space in ${stagingParent}: the chain of ${chain.length} backup(s) needs ${fmtBytes(needed)} unpacked, ${fmtBytes(free)} is free`,
      );
    }
    const prefix = path.join(stagingParent, req.mode === 'target-dir' ? `.${path.basename(destination)}.partial-` : `restore-${id}-`);
    stagingRoot = await fs.mkdtemp(prefix).catch((e: unknown) => {
      throw localIo(stagingParent, stagingWhat, e, 'is not writable');
    });
  } catch (e) {
    await removeIfEmpty(created);
    throw e;
  }
  const dirs = chain.map((c) => path.join(stagingRoot, c.manifest.id));
  const staging = dirs[0];
  // Removals of scratch that is no longer needed (applied incrementals), running in the background.
  const removals: Promise<unknown>[] = [];
  let backgroundRemoval = false;
  let succeeded = false;
  try {
    await Promise.all(dirs.map((d) => fs.mkdir(d)));
    const tDownload = Date.now();
    const progress = chain.map(() => 0);
    const total = chain.reduce((a, c) => a + c.manifest.storedBytes, 0);
    let downloaded = 0;
    let downloadMs = 0;
    const useMemory = s.prepareUseMemory;

    // 2.–3. Downloads (in chain order) and prepare (strictly in chain order) overlap.
    const run = await runChainPipeline({
      count: chain.length,
      concurrency: DOWNLOAD_CONCURRENCY,
      signal: req.signal,
      download: (i, signal) =>
        downloadInto(storage, log, s, chain[i].manifest, chain[i].dir.dir, dirs[i], {
          signal,
          onProgress: (p) => {
            progress[i] = p.bytes;
            req.onProgress?.({ stage: 'download', bytes: progress.reduce((a, b) => a + b, 0), total });
          },
        }),
      onDownloadsDone: (bytes, at) => {
        downloaded = bytes.reduce((a, b) => a + b, 0);
        downloadMs = at - tDownload;
        log.info('backup downloaded and extracted', { event: 'restore.downloaded', bytes: downloaded, durationMs: downloadMs });
      },
      prepare: async (i, signal) => {
        const c = chain[i].manifest;
        if (i === 0) {
          await runTool(log, 'prepare', s.mariabackupPath, prepareArgv(staging, undefined, useMemory), signal);
          log.info('full backup prepared', { event: 'restore.full_prepared', fullId: c.id, toLsn: physicalOf(c).lsn.to });
          return;
        }
        // Each incremental's staging directory is applied exactly once, in chain order.
        await runTool(log, 'prepare', s.mariabackupPath, prepareArgv(staging, dirs[i], useMemory), signal);
        log.info('incremental applied', { event: 'restore.incremental_applied', incrementalId: c.id, toLsn: physicalOf(c).lsn.to });
        // Applying consumed its deltas: the directory is scratch now. After a copy-back the whole
        // staging tree goes in the background anyway, and deleting now would compete with the
        // copy-back for the disk.
        if (req.mode !== 'copy-back') removals.push(fs.rm(dirs[i], { recursive: true, force: true }).catch(() => {}));
      },
    });

    // 3. Check the prepared result.
    const cp = await readFirst(staging, CHECKPOINT_FILES);
    if (!cp) throw new BackupmateError('TOOL_FAILED', `prepare left no checkpoints file in ${staging}`);
    const prepared = parseCheckpoints(cp.text);
    if (prepared.backupType !== 'log-applied' || prepared.toLsn !== physicalOf(manifest).lsn.to) {
      throw new BackupmateError(
        'TOOL_FAILED',
        `prepared backup is not ready: expected backup_type=log-applied and to_lsn=${physicalOf(manifest).lsn.to}, got backup_type=${prepared.backupType} and to_lsn=${prepared.toLsn}`,
      );
    }
    // prepareMs: what prepare added after the last download (download + prepare = wall time of both).
    const prepareMs = Date.now() - run.downloadsDoneAt;
    log.info('backup prepared', {
      event: 'restore.prepared',
      durationMs: prepareMs,
      toLsn: prepared.toLsn,
      prepareBusyMs: run.prepareBusyMs,
      prepareOverlapMs: run.prepareOverlapMs,
      useMemory: useMemory ?? null,
    });

    // 4. Put in place (not after a cancellation: the daemon's beforePutBack stops MariaDB).
    if (req.signal?.aborted) throw cancellation(req.signal);
    await req.beforePutBack?.({ id, chain: chain.map((c) => c.manifest.id), destination, mode: req.mode });
    const tPut = Date.now();
    let movedAside: string | null = null;
    if (req.mode === 'target-dir') {
      if ((await isEmptyDir(destination)) === true) await fs.rmdir(destination);
      await fs.rename(staging, destination);
    } else {
      await refuseIfRunning(s, destination, log);
      movedAside = await moveDatadirAside(destination, backupIdFor(new Date()));
      if (movedAside) log.info('previous datadir moved aside', { event: 'restore.moved_aside', from: destination, to: movedAside });
      try {
        await runTool(log, req.mode, s.mariabackupPath, putBackArgv(req.mode, staging, destination, s.parallel), req.signal);
        // The staging copy is scratch from here on. After a copy-back it is the whole prepared
        // backup: deleting gigabytes takes seconds (more with `discard` mounts) that the person
        // waiting for the database should not wait for, so a detached `rm -rf` removes it, also
        // when this process exits first. Anything it leaves is a restore-* directory in
        // LOCAL_TEMP_DIR, safe to delete.
        if (req.mode === 'copy-back') backgroundRemoval = removeDetached(stagingRoot, log);
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
    // Every put-back (also --target-dir: a scratch datadir may be started and backed up later)
    // leaves a marker, so the planner never chains the next backup onto the pre-restore history.
    await markRestored(destination, id, physicalOf(manifest).lsn.to, log);
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
    succeeded = true;
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
    if (!backgroundRemoval) {
      await Promise.all(removals);
      await fs.rm(stagingRoot, { recursive: true, force: true });
    }
    if (!succeeded) await removeIfEmpty(created);
  }
}

/**
 * `mkdir -p dir` (mode 0700); returns the directories it created, deepest first. A failure is
 * LOCAL_IO naming `what`, the directory and the errno.
 */
export async function makeParents(dir: string, what: string): Promise<string[]> {
  let first: string | undefined;
  try {
    first = await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw localIo(dir, what, e, 'cannot be created');
  }
  const created: string[] = [];
  if (first === undefined) return created;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    created.push(d);
    if (d === path.resolve(first) || path.dirname(d) === d) break;
  }
  return created;
}

/** Removes `dirs` in order (deepest first), each only if empty; stops at the first that is not. */
export async function removeIfEmpty(dirs: readonly string[]): Promise<void> {
  for (const d of dirs) {
    try {
      await fs.rmdir(d);
    } catch {
      return;
    }
  }
}

/**
 * The restore unpacks into `dir`: it must be writable. Probed by creating and removing a
 * directory, since free space says nothing about a read-only mount or missing permission, and
 * access(2) as root ignores the mode bits that do not stop root anyway (an immutable directory does).
 */
export async function probeWritable(dir: string, what: string, mkdtemp: (prefix: string) => Promise<string> = (p) => fs.mkdtemp(p)): Promise<void> {
  let probe: string;
  try {
    probe = await mkdtemp(path.join(dir, '.backupmate-write-probe-'));
  } catch (e) {
    throw localIo(dir, what, e, 'is not writable');
  }
  await fs.rmdir(probe).catch(() => {});
}

/** LOCAL_IO for a staging directory: what it is, where, and the errno in words. */
function localIo(dir: string, what: string, e: unknown, fallback: string): BackupmateError {
  const code = (e as NodeJS.ErrnoException).code;
  const how =
    code === 'EROFS'
      ? 'is read-only'
      : code === 'EACCES'
        ? 'is not writable: permission denied'
        : code === 'EPERM'
          ? 'is not writable: operation not permitted (immutable? see lsattr)'
          : code === 'ENOSPC'
            ? 'is on a full filesystem'
            : code === 'ENOTDIR'
              ? 'is not a directory (a path component is a file)'
              : fallback;
  return new BackupmateError(
    'LOCAL_IO',
    `${what} ${dir} ${how} (${code ?? errorText(e)}): the restore unpacks the backup there; give a writable directory with room for it`,
    { errno: code, dir },
  );
}

/** Starts `rm -rf DIR` in its own session, not waited for; true once started. */
function removeDetached(dir: string, log: Logger): boolean {
  try {
    const child = spawn('rm', ['-rf', '--', dir], { detached: true, stdio: 'ignore' });
    child.on('error', (e) => log.warn(`could not remove ${dir}: ${errorText(e)}`, { event: 'restore.cleanup', dir }));
    child.unref();
    log.info('staging directory is being removed in the background', { event: 'restore.cleanup', dir, background: true });
    return true;
  } catch {
    return false;
  }
}

/** The error a cancelled job reports: the signal's reason when it is ours (it says who cancelled), else CANCELLED. */
function cancellation(signal: AbortSignal | undefined): BackupmateError {
  const reason: unknown = signal?.reason;
  if (reason instanceof BackupmateError) return reason;
  return new BackupmateError('CANCELLED', 'the restore was cancelled', {}, { cause: reason });
}

/** Calls `f`; a synchronous throw becomes a rejected promise. */
function attempt<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Starts `p` now to await it later: a rejection before then does not count as unhandled. */
function early<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** The mariabackup here must be able to prepare what the chain's mariabackup wrote (same major.minor). */
function checkToolVersion(localTool: string, taken: string, id: string, mariabackupPath: string): void {
  if (majorMinor(localTool) && majorMinor(taken) && majorMinor(localTool) !== majorMinor(taken)) {
    throw new BackupmateError(
      'TOOL_MISSING',
      `backup ${id} was taken with mariabackup ${taken}, this host has ${localTool} (MARIADB_BACKUP_PATH=${mariabackupPath}): ` +
        `prepare needs the same major.minor version; install mariadb-backup ${majorMinor(taken)} or restore on a host that has it`,
    );
  }
}

/** --target-dir must be new or empty; copy-back/move-back refuse while a server runs on the datadir. */
async function checkTargetState(s: RestoreSettings, req: RestoreRequest, destination: string, log: Logger): Promise<void> {
  if (req.mode === 'target-dir') {
    if (!req.targetDir) throw new BackupmateError('USAGE', '--target-dir needs a directory');
    if ((await isEmptyDir(destination)) === false) {
      throw new BackupmateError('TARGET_STATE', `--target-dir ${destination} is not empty: give a new or empty directory`);
    }
  } else if (!req.serverStoppedLater) {
    await refuseIfRunning(s, destination, log);
  }
}

/**
 * Checks, before anything is downloaded, that every volume of the chain exists with the size its
 * manifest records: HEAD requests with bounded concurrency. All settle, then the first problem
 * in chain order (the full first, volumes in order) is thrown: INTEGRITY naming the object, or
 * the store's error.
 */
export async function checkVolumes(
  storage: Pick<Storage, 'head' | 'description'>,
  chain: readonly CatalogEntry[],
  concurrency = HEAD_CONCURRENCY,
): Promise<void> {
  const volumes = chain.flatMap(({ dir, manifest: m }) => m.volumes.map((v) => ({ m, key: dir.dir + v.name, size: v.size })));
  const problems = await mapLimit(volumes, concurrency, async ({ m, key, size }): Promise<{ error: unknown } | null> => {
    try {
      const head = await storage.head(key);
      if (!head) return { error: new BackupmateError('INTEGRITY', `backup ${m.id}: volume ${key} is missing from ${storage.description}`, { key }) };
      if (head.size !== size) {
        return { error: new BackupmateError('INTEGRITY', `backup ${m.id}: volume ${key} has ${head.size} bytes, the manifest says ${size}`, { key }) };
      }
      return null;
    } catch (error) {
      return { error };
    }
  });
  const first = problems.find((p) => p !== null);
  if (first) throw first.error;
}

/** What the download/prepare pipeline of a chain may start next (see {@link nextSteps}). */
export interface PipelineState {
  /** Per chain position (0 = the full): its download is waiting, running or done (and verified). */
  downloads: readonly ('waiting' | 'running' | 'done')[];
  /** How many positions are prepared: 0 = none, 1 = the full, k = the full and k-1 incrementals. */
  prepared: number;
  /** A prepare step (mariabackup --prepare) is running. */
  preparing: boolean;
  /** Something failed or the job was cancelled: nothing new starts. */
  stopped: boolean;
}

export interface NextSteps {
  /** Positions whose download starts now, in chain order. */
  downloads: number[];
  /** The position prepared now (0: prepare the full; k: apply incremental k), or null. */
  prepare: number | null;
}

/**
 * The scheduling rule, pure: downloads start in chain order while fewer than `concurrency` run;
 * position k is prepared only when its own download is done, positions 0..k-1 are prepared and
 * no other prepare runs (so each staging directory is applied exactly once, strictly in order).
 * Nothing starts once the pipeline is stopped.
 */
export function nextSteps(st: PipelineState, concurrency: number): NextSteps {
  const next: NextSteps = { downloads: [], prepare: null };
  if (st.stopped) return next;
  let running = st.downloads.filter((d) => d === 'running').length;
  for (let i = 0; i < st.downloads.length && running < concurrency; i++) {
    if (st.downloads[i] === 'waiting') {
      next.downloads.push(i);
      running++;
    }
  }
  if (!st.preparing && st.prepared < st.downloads.length && st.downloads[st.prepared] === 'done') next.prepare = st.prepared;
  return next;
}

export interface ChainPipelineOptions {
  /** Backups in the chain; position 0 is the full. */
  count: number;
  /** Downloads running at once (at least 1). */
  concurrency: number;
  /** Downloads, verifies and extracts position i; resolves with the bytes downloaded. Must stop when `signal` aborts. */
  download: (i: number, signal: AbortSignal) => Promise<number>;
  /** Prepares position i (the full) or applies it (an incremental). Must stop when `signal` aborts. */
  prepare: (i: number, signal: AbortSignal) => Promise<void>;
  /** Called once, when the last download finished (not after a failure): bytes per position, and the time. */
  onDownloadsDone?: (bytes: number[], at: number) => void;
  /** Cancellation of the whole job. */
  signal?: AbortSignal;
  /** Clock (tests). */
  now?: () => number;
}

export interface ChainPipelineResult {
  /** Bytes downloaded per position. */
  bytes: number[];
  /** When the last download finished. */
  downloadsDoneAt: number;
  /** When the last prepare step finished. */
  preparedAt: number;
  /** Time spent inside prepare steps. */
  prepareBusyMs: number;
  /** Of that, the time while downloads were still running. */
  prepareOverlapMs: number;
}

/**
 * Runs the downloads and prepare steps of a chain as {@link nextSteps} allows. The first failure
 * of any step (or the cancellation of `signal`) stops everything: nothing new starts, running
 * steps are aborted through their signal, all settle, then the first error is thrown (the root
 * cause, not the "cancelled" of the steps it stopped).
 */
export async function runChainPipeline(o: ChainPipelineOptions): Promise<ChainPipelineResult> {
  const now = o.now ?? Date.now;
  const stop = new AbortController();
  let failure: { error: unknown } | null = null;
  const fail = (error: unknown) => {
    failure ??= { error };
    stop.abort(failure.error);
  };
  const onOuterAbort = () => fail(cancellation(o.signal));
  if (o.signal?.aborted) onOuterAbort();
  else o.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const downloads: ('waiting' | 'running' | 'done')[] = Array.from({ length: o.count }, () => 'waiting');
  const bytes: number[] = Array.from({ length: o.count }, () => 0);
  const prepareSpans: [number, number][] = [];
  let prepared = 0;
  let preparing = false;
  let downloadsDoneAt = o.count === 0 ? now() : NaN;
  // Every running step, as a promise that never rejects (failures go to `fail`).
  const running = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    const t: Promise<void> = p.catch(fail).finally(() => running.delete(t));
    running.add(t);
  };
  try {
    for (;;) {
      const next = nextSteps({ downloads, prepared, preparing, stopped: failure !== null }, Math.max(1, o.concurrency));
      for (const i of next.downloads) {
        downloads[i] = 'running';
        track(
          attempt(() => o.download(i, stop.signal)).then((n) => {
            bytes[i] = n;
            downloads[i] = 'done';
            if (downloads.every((d) => d === 'done')) {
              downloadsDoneAt = now();
              if (!failure) o.onDownloadsDone?.(bytes, downloadsDoneAt);
            }
          }),
        );
      }
      if (next.prepare !== null) {
        const i = next.prepare;
        const t = now();
        preparing = true;
        track(
          attempt(() => o.prepare(i, stop.signal)).then(
            () => {
              prepareSpans.push([t, now()]);
              prepared = i + 1;
              preparing = false;
            },
            (e) => {
              preparing = false;
              throw e;
            },
          ),
        );
      }
      if (running.size === 0) break;
      await Promise.race(running);
    }
  } finally {
    o.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (failure) throw (failure as { error: unknown }).error;
  if (prepared !== o.count) throw new BackupmateError('INTERNAL', `restore pipeline ended with ${prepared} of ${o.count} backups prepared`);
  const busy = prepareSpans.reduce((a, [s, e]) => a + (e - s), 0);
  const overlap = prepareSpans.reduce((a, [s, e]) => a + Math.max(0, Math.min(e, downloadsDoneAt) - s), 0);
  const preparedAt = prepareSpans.length ? prepareSpans[prepareSpans.length - 1][1] : downloadsDoneAt;
  return { bytes, downloadsDoneAt, preparedAt, prepareBusyMs: busy, prepareOverlapMs: overlap };
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
    cur = cur.parentId ? byId.get(cur.parentId) : undefined;
  }
  // The full first: the oldest link is named when several were changed.
  for (const m of reached.reverse()) {
    const verdict = authenticateManifest(m, key);
    if (verdict.state === 'unverifiable') logger.warn(verdict.warning, { event: 'manifest.unauthenticated', backupId: m.id });
  }
  return reached;
}

/**
 * TARGET_STATE when a server uses `datadir` (findRunningServer: pid file, process, locks, or the
 * DB_SOCKET server's own @@datadir). The message names the evidence and asks to stop only that
 * server: a server on DB_SOCKET that uses another datadir is no reason to refuse.
 */
export async function refuseIfRunning(s: RestoreSettings, datadir: string, log?: Logger): Promise<void> {
  const c = s.connection;
  const running = await findRunningServer(datadir, {
    socket: s.socket || undefined,
    askDatadir: c ? () => querySingleValue(c, s.tempDir, 'SELECT @@datadir') : undefined,
    log,
  });
  if (running) {
    throw new BackupmateError(
      'TARGET_STATE',
      `MariaDB is running on ${datadir}: ${running}. Stop it first, then restore again; ` +
        `or restore beside it into a new, empty datadir (MARIADB_DATADIR=/new/dir) or with --target-dir`,
    );
  }
}

async function runTool(log: Logger, stage: string, file: string, args: string[], signal?: AbortSignal): Promise<void> {
  const t = Date.now();
  // An abort listener added to an already aborted signal never runs: do not start at all.
  if (signal?.aborted) throw new BackupmateError('CANCELLED', `${stage} was cancelled`);
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
