/**
 * THE restore, generic over its source (sources/source.ts): every restore (physical copy-back,
 * move-back and target-dir, directory target-dir, any registered source) runs here; the CLI and
 * the daemon's handler (through restore/handover.ts) call only this.
 *
 *   select a target among the backups of the asked source whose source supports the mode → MACs →
 *   the source's chain rules → read-only checks, all BEFORE downloading (the source's preflight,
 *   the age identity, --target-dir empty, every volume present with its size, staging writable
 *   with room for the unpacked chain) → per member, in chain order: download + decode into the
 *   source's sink, and (streaming apply) source.applyMember(i) as soon as member i is extracted
 *   and i-1 applied, while member i+1 downloads (runChainPipeline) → source.apply → the caller's
 *   `beforePutBack(stagingResult)` → source.putBack.
 *
 * Order of safety: nothing outside the private staging directory is touched before putBack; a
 * failure anywhere before it leaves the destination as it was, and removes the staging and the
 * parents this restore created.
 *
 * Staging: next to --target-dir (so putting back is a rename on one filesystem), else in
 * LOCAL_TEMP_DIR (copy-back/move-back: the datadir's parent is not ours to write to).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { checkIdentityFor } from '../archive/encryption.js';
import { selectRestoreTarget, summarize } from '../domain/chain.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { ManifestEnvelope } from '../domain/manifest.js';
import type { Manifest } from '../domain/manifest.js';
import { fmtBytes } from '../domain/units.js';
import type { Logger } from '../log/logger.js';
import { freeBytes, isEmptyDir } from '../mariadb/datadir.js';
import type { SourceRegistry } from '../sources/registry.js';
import type { ExtractedMember, RestoreMode, SourceContext } from '../sources/source.js';
import { readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { downloadInto, type DownloadSettings } from './download.js';
import { authenticateChain, cancellation, checkVolumes, DOWNLOAD_CONCURRENCY, makeParents, probeWritable, removeIfEmpty, runChainPipeline } from './job.js';

export interface SourceRestoreSettings extends DownloadSettings {
  /** MANIFEST_HMAC_KEY: when set, every manifest of the chain must carry a valid MAC ('' = none). */
  manifestHmacKey?: string;
  /** LOCAL_TEMP_DIR: staging of copy-back/move-back restores (target-dir stages next to its directory). */
  tempDir: string;
}

/** What the hook between "applied in staging" and "put back" is told. */
export interface BeforePutBackInfo {
  id: string;
  source: string;
  /** The chain's ids, root first. */
  chain: string[];
  /** The chain's manifests, root first (authenticated). */
  manifests: Manifest[];
  /** Where putBack will put the result. */
  destination: string;
  mode: RestoreMode;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * Runs after the chain is applied (physical: prepared) in staging and before anything outside
 * staging is touched. `stagingResult` is the directory holding the result (physical: the
 * prepared datadir), the hook may change it (point-in-time: replay binlogs into it) or inspect
 * it. Throwing aborts the restore with the destination untouched.
 */
export type BeforePutBack = (stagingResult: string, info: BeforePutBackInfo) => Promise<void>;

export interface SourceRestoreRequest {
  /** An id, timestamp, unambiguous prefix or 'latest'. */
  id: string;
  time?: Date;
  mode: RestoreMode;
  /** Where the result goes (target-dir: a new or empty directory; copy-back/move-back: the datadir). */
  destination: string;
  /**
   * Only backups of this source type are candidates (the CLI: 'physical' unless --directories).
   * Absent: every registered source's. 'latest' and --time further pick only backups whose
   * source supports `mode`; a named backup whose source does not is a USAGE error.
   */
  source?: string;
  /**
   * The server using `destination` is stopped in beforePutBack (the daemon's managed restore):
   * the source skips its early "is a server running?" refusal (its putBack checks again).
   */
  serverStoppedLater?: boolean;
  beforePutBack?: BeforePutBack;
  signal?: AbortSignal;
  onProgress?: (p: { stage: string; bytes: number; total: number }) => void;
  /** After the target is chosen and its volumes checked, before anything is downloaded (e.g. a refusal that needs the manifest). */
  beforeDownload?: (target: ManifestEnvelope) => Promise<void>;
}

export interface SourceRestoreReport {
  id: string;
  source: string;
  chain: string[];
  mode: RestoreMode;
  destination: string;
  /** Where the previous datadir was moved, if the source moved one aside. */
  movedAside: string | null;
  downloadedBytes: number;
  /** What the source calls its apply step ('prepare', 'apply'): timings[`${applyName}Ms`]. */
  applyName: string;
  /** downloadMs, `${applyName}Ms` (what applying added after the last download), putBackMs, totalMs. */
  timings: { downloadMs: number; putBackMs: number; totalMs: number } & Record<string, number>;
}

export async function runSourceRestore(
  storage: Storage,
  logger: Logger,
  s: SourceRestoreSettings,
  sources: SourceRegistry,
  req: SourceRestoreRequest,
): Promise<SourceRestoreReport> {
  const t0 = Date.now();
  const catalog = await readCatalog(storage, sources.layout, sources);
  const named = !req.time && req.id.trim() !== 'latest';
  // Candidates: the asked source's backups ('latest'/--time: only of a source that can put its
  // result back this way, so 'latest' is the newest of those, not the newest of the store).
  if (req.source !== undefined && sources.has(req.source) && !sources.get(req.source).modes.includes(req.mode)) {
    const modes = sources.get(req.source).modes.map((m) => `--${m}${m === 'target-dir' ? ' DIR' : ''}`).join(' or ');
    throw new BackupmateError('USAGE', `restore: ${req.source} backups are restored with ${modes}, not --${req.mode}`);
  }
  const fits = (type: string) => sources.has(type) && (req.source === undefined || type === req.source) && (named || sources.get(type).modes.includes(req.mode));
  const candidates = catalog.backups.filter((b) => fits(b.manifest.source.type));
  const incompleteIds = catalog.incomplete.filter((d) => fits(d.source)).map((d) => d.id);
  const target = selectRestoreTarget(req.time ? { time: req.time } : req.id, candidates.map((b) => summarize(b.manifest)), incompleteIds);
  const source = sources.get(target.source);
  if (!source.modes.includes(req.mode)) {
    const modes = source.modes.map((m) => `--${m}${m === 'target-dir' ? ' DIR' : ''}`).join(' or ');
    throw new BackupmateError('USAGE', `restore: ${target.source} backups are restored with ${modes}, not --${req.mode} (backup ${target.id})`);
  }
  const same = candidates.filter((b) => b.manifest.source.type === target.source);
  // Manifests are authenticated before anything trusts them (the chain rules read their payloads).
  authenticateChain(
    same.map((b) => b.manifest),
    target.id,
    s.manifestHmacKey ?? '',
    logger,
  );
  const targetManifest = same.find((b) => b.manifest.id === target.id)!.manifest;
  const chainManifests = source.chain.restoreChain(
    targetManifest,
    same.map((b) => b.manifest),
    catalog.incomplete.filter((d) => d.source === target.source).map((d) => d.id),
  );
  const chain = chainManifests.map((m) => same.find((b) => b.manifest.id === m.id)!);
  const manifests = chain.map((c) => c.manifest);
  const log = logger.child({ backupId: target.id, kind: target.kind, source: target.source, mode: req.mode });
  if (!req.destination) throw new BackupmateError('USAGE', req.mode === 'target-dir' ? '--target-dir needs a directory' : `--${req.mode} needs the datadir (MARIADB_DATADIR)`);
  const destination = path.resolve(req.destination);
  log.info('restore started', { event: 'restore.start', store: storage.description, target: destination, chain: manifests.map((m) => m.id) });

  // Read-only checks, run concurrently; all settle, then the first failure in this order is
  // reported: the source's own (physical: the local mariabackup, no server on the datadir), the
  // age identity, --target-dir new or empty, every volume present with its recorded size.
  const preflightCtx: SourceContext = { log, signal: req.signal, jobDir: s.tempDir };
  const checks = [
    source.preflight ? source.preflight(preflightCtx, manifests, { mode: req.mode, destination, serverStoppedLater: !!req.serverStoppedLater }) : Promise.resolve(),
    checkIdentityFor(manifests, s.ageIdentityFile ?? ''),
    req.mode === 'target-dir'
      ? isEmptyDir(destination).then((empty) => {
          if (empty === false) throw new BackupmateError('TARGET_STATE', `--target-dir ${destination} is not empty: give a new or empty directory`);
        })
      : Promise.resolve(),
    checkVolumes(storage, chain),
  ];
  await Promise.allSettled(checks);
  for (const c of checks) await c;
  await req.beforeDownload?.(targetManifest);

  // Staging, with room for the unpacked chain.
  const stagingParent = req.mode === 'target-dir' ? path.dirname(destination) : s.tempDir;
  const stagingWhat = req.mode === 'target-dir' ? "--target-dir's parent" : 'LOCAL_TEMP_DIR';
  // The directories mkdir -p creates here are the restore's: a failure removes them again (if empty).
  const created = await makeParents(stagingParent, stagingWhat);
  let staging: string;
  try {
    await probeWritable(stagingParent, stagingWhat);
    const needed = manifests.reduce((a, m) => a + m.rawBytes, 0);
    const free = await freeBytes(stagingParent);
    if (free < needed) {
      throw new BackupmateError(
        'LOCAL_IO',
        `not enough free space in ${stagingParent}: the chain of ${chain.length} backup(s) needs ${fmtBytes(needed)} unpacked, ${fmtBytes(free)} is free`,
      );
    }
    const prefix = path.join(stagingParent, req.mode === 'target-dir' ? `.${path.basename(destination)}.partial-` : `restore-${target.id}-`);
    staging = await fs.mkdtemp(prefix).catch((e: unknown) => {
      throw new BackupmateError('LOCAL_IO', `${stagingWhat} ${stagingParent} is not writable: ${errorText(e)}`);
    });
  } catch (e) {
    await removeIfEmpty(created);
    throw e;
  }

  // Work a source hands off (e.g. removing an applied member's scratch): awaited before staging goes.
  const background: Promise<unknown>[] = [];
  const ctx: SourceContext = { log, signal: req.signal, jobDir: staging, background: (p) => void background.push(p.catch(() => {})) };
  let stagingRemovedInBackground = false;
  let succeeded = false;
  try {
    const members: ExtractedMember<any>[] = chain.map((c) => ({ manifest: c.manifest, dir: path.join(staging, c.manifest.id) }));
    await Promise.all(members.map((m) => fs.mkdir(m.dir)));
    const progress = chain.map(() => 0);
    const total = manifests.reduce((a, m) => a + m.storedBytes, 0);
    const tDownload = Date.now();
    let downloadMs = 0;
    const applyName = source.applyName ?? 'apply';
    // Downloads (in chain order) and the source's streaming apply (strictly in chain order) overlap.
    const run = await runChainPipeline({
      count: chain.length,
      concurrency: DOWNLOAD_CONCURRENCY,
      signal: req.signal,
      download: (i, signal) =>
        downloadInto(
          storage,
          log,
          s,
          chain[i].manifest,
          chain[i].dir.dir,
          members[i].dir,
          {
            signal,
            onProgress: (p) => {
              progress[i] = p.bytes;
              req.onProgress?.({ stage: 'download', bytes: progress.reduce((a, b) => a + b, 0), total });
            },
          },
          (feed) => source.openSink({ ...ctx, signal }, chain[i].manifest, members[i].dir, feed),
        ),
      onDownloadsDone: (bytes, at) => {
        downloadMs = at - tDownload;
        log.info('backup downloaded and extracted', { event: 'restore.downloaded', bytes: bytes.reduce((a, b) => a + b, 0), durationMs: downloadMs });
      },
      prepare: async (i, signal) => {
        if (source.applyMember) await source.applyMember({ ...ctx, signal }, members, i, { mode: req.mode, signal });
      },
    });
    const downloaded = run.bytes.reduce((a, b) => a + b, 0);
    const result = await source.apply(ctx, members);
    // What applying added after the last download (download + apply = the wall time of both).
    const applyMs = Date.now() - run.downloadsDoneAt;
    log.info(`backup ${applyName === 'apply' ? 'applied' : `${applyName}d`}`, {
      event: 'restore.prepared',
      durationMs: applyMs,
      prepareBusyMs: run.prepareBusyMs,
      prepareOverlapMs: run.prepareOverlapMs,
    });

    // The hook, then the put back (not after a cancellation: the daemon's hook stops MariaDB).
    if (req.signal?.aborted) throw cancellation(req.signal);
    const info: BeforePutBackInfo = { id: target.id, source: target.source, chain: manifests.map((m) => m.id), manifests, destination, mode: req.mode, log, signal: req.signal };
    await req.beforePutBack?.(result, info);
    if (req.signal?.aborted) throw cancellation(req.signal);
    const tPut = Date.now();
    const put = (await source.putBack(ctx, req.mode, result, destination, members)) ?? {};
    stagingRemovedInBackground = put.stagingRemovedInBackground === true;
    const report: SourceRestoreReport = {
      id: target.id,
      source: target.source,
      chain: manifests.map((m) => m.id),
      mode: req.mode,
      destination,
      movedAside: put.movedAside ?? null,
      downloadedBytes: downloaded,
      applyName,
      timings: { downloadMs, [`${applyName}Ms`]: applyMs, putBackMs: Date.now() - tPut, totalMs: Date.now() - t0 },
    };
    log.info('restore finished', { event: 'restore.end', status: 'succeeded', ...report });
    succeeded = true;
    return report;
  } catch (e) {
    const err = e instanceof BackupmateError ? e : new BackupmateError('INTERNAL', errorText(e), {}, { cause: e });
    log.error(`restore failed: ${err.message}`, {
      event: 'restore.end',
      status: err.code === 'CANCELLED' ? 'cancelled' : 'failed',
      code: err.code,
      stage: err.details.stage,
      exitCode: err.details.exitCode,
      stderrTail: err.details.stderrTail,
      durationMs: Date.now() - t0,
    });
    throw err;
  } finally {
    await Promise.all(background);
    // On success the result was moved into the destination (target-dir) or copied from; what
    // remains is scratch.
    if (!stagingRemovedInBackground) await fs.rm(staging, { recursive: true, force: true });
    if (!succeeded) await removeIfEmpty(created);
  }
}

/** Where a restore in `mode` puts its result: --target-dir's DIR, or the datadir. */
export function restoreDestination(mode: RestoreMode, targetDir: string | undefined, datadir: string): string {
  return mode === 'target-dir' ? (targetDir ?? '') : datadir;
}
