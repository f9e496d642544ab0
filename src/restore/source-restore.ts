/**
 * A restore, generic over its source (sources/source.ts): select a target among the backups whose
 * source supports the mode → the source's chain rules → per member: download + decode into the
 * source's sink → the source combines the members (apply) → the source puts the result in place.
 *
 * Nothing here knows a source's internals. (The physical restore with its server handling, copy-
 * back/move-back and marker, is runRestore in restore/job.ts.)
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { checkIdentityFor } from '../archive/encryption.js';
import { selectRestoreTarget, summarize } from '../domain/chain.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { ManifestEnvelope } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import { isEmptyDir } from '../mariadb/datadir.js';
import type { SourceRegistry } from '../sources/registry.js';
import type { ExtractedMember, RestoreMode } from '../sources/source.js';
import { readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { downloadInto, type DownloadSettings } from './download.js';
import { authenticateChain, checkVolumes, makeParents, removeIfEmpty } from './job.js';

export interface SourceRestoreSettings extends DownloadSettings {
  manifestHmacKey?: string;
}

export interface SourceRestoreRequest {
  /** An id, timestamp, unambiguous prefix or 'latest'. */
  id: string;
  time?: Date;
  mode: RestoreMode;
  /** Only backups of this source are candidates ("latest" is the newest of them); absent: any source with the mode. */
  sourceType?: string;
  /** Where the result goes (target-dir: a new or empty directory). */
  destination: string;
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
  downloadedBytes: number;
  timings: { downloadMs: number; applyMs: number; putBackMs: number; totalMs: number };
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
  // Only backups of a source that can put its result back this way are candidates ('latest' is
  // the newest of those, not the newest of the store).
  const fits = (type: string) => sources.has(type) && sources.get(type).modes.includes(req.mode) && (req.sourceType === undefined || req.sourceType === type);
  const candidates = catalog.backups.filter((b) => fits(b.manifest.source.type));
  const incompleteIds = catalog.incomplete.filter((d) => fits(d.source)).map((d) => d.id);
  const target = selectRestoreTarget(req.time ? { time: req.time } : req.id, candidates.map((b) => summarize(b.manifest)), incompleteIds);
  const source = sources.get(target.source);
  const same = candidates.filter((b) => b.manifest.source.type === target.source);
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
  const log = logger.child({ backupId: target.id, kind: target.kind, source: target.source, mode: req.mode });
  const destination = path.resolve(req.destination);
  log.info('restore started', { event: 'restore.start', store: storage.description, target: destination, chain: chain.map((c) => c.manifest.id) });

  if (req.mode === 'target-dir' && (await isEmptyDir(destination)) === false) {
    throw new BackupmateError('TARGET_STATE', `--target-dir ${destination} is not empty: give a new or empty directory`);
  }
  await checkIdentityFor(chain.map((c) => c.manifest), s.ageIdentityFile ?? '');
  await checkVolumes(storage, chain);
  await req.beforeDownload?.(targetManifest);

  const parent = path.dirname(destination);
  // The parents mkdir -p creates are the restore's: a failure removes them again (as runRestore does).
  const created = await makeParents(parent, "--target-dir's parent");
  let succeeded = false;
  const staging = await fs.mkdtemp(path.join(parent, `.${path.basename(destination)}.partial-`)).catch(async (e: unknown) => {
    await removeIfEmpty(created);
    throw new BackupmateError('LOCAL_IO', `${parent} is not writable: ${errorText(e)}`);
  });
  try {
    const ctx = { log, signal: req.signal, jobDir: staging };
    const members: ExtractedMember<any>[] = [];
    let downloaded = 0;
    const total = chain.reduce((a, c) => a + c.manifest.storedBytes, 0);
    const tDownload = Date.now();
    for (const c of chain) {
      const dir = path.join(staging, c.manifest.id);
      await fs.mkdir(dir);
      const base = downloaded;
      downloaded += await downloadInto(
        storage,
        log,
        s,
        c.manifest,
        c.dir.dir,
        dir,
        { signal: req.signal, onProgress: (p) => req.onProgress?.({ stage: 'download', bytes: base + p.bytes, total }) },
        (feed) => source.openSink(ctx, c.manifest, dir, feed),
      );
      members.push({ manifest: c.manifest, dir });
    }
    const downloadMs = Date.now() - tDownload;
    const tApply = Date.now();
    const result = await source.apply(ctx, members);
    const applyMs = Date.now() - tApply;
    if (req.signal?.aborted) throw new BackupmateError('CANCELLED', 'the restore was cancelled before the result was put in place');
    const tPut = Date.now();
    await source.putBack(ctx, req.mode, result, destination);
    const report: SourceRestoreReport = {
      id: target.id,
      source: target.source,
      chain: chain.map((c) => c.manifest.id),
      mode: req.mode,
      destination,
      downloadedBytes: downloaded,
      timings: { downloadMs, applyMs, putBackMs: Date.now() - tPut, totalMs: Date.now() - t0 },
    };
    log.info('restore finished', { event: 'restore.end', status: 'succeeded', ...report });
    succeeded = true;
    return report;
  } catch (e) {
    const err = e instanceof BackupmateError ? e : new BackupmateError('INTERNAL', errorText(e), {}, { cause: e });
    log.error(`restore failed: ${err.message}`, { event: 'restore.end', status: err.code === 'CANCELLED' ? 'cancelled' : 'failed', code: err.code });
    throw err;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
    if (!succeeded) await removeIfEmpty(created);
  }
}
