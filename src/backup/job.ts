/**
 * A backup job, generic over its source (sources/source.ts):
 *   source ⇒ [compressor] → tar container → [age] → volumes in the store → SHA256SUMS → manifest LAST.
 *
 * The source gives the raw stream (a child's stdout goes to the compressor through a kernel pipe,
 * e.g. mariabackup ⇒ zstd, never through Node) and, once it ended, its manifest payload. Every
 * stage's outcome (each child's exit status, each pipe) is awaited as one unit (archive/stages.ts):
 * the commit gate follows from the stages. On any failure or cancellation every child is killed,
 * the upload in flight is aborted, volumes already stored are deleted, no manifest is written and
 * the job's temp dir is removed. runBackup is the physical (mariabackup) backup.
 */
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChildStage } from '../archive/child.js';
import { canCountRaw, compressCommand } from '../archive/compression.js';
import { CHUNK_SIZE, CONTAINER_FORMAT, packContainer, type ExtraFile } from '../archive/container.js';
import { ageStderrIsFatal, encryptCommand, probeAge } from '../archive/encryption.js';
import { runStages, type StageOutcome } from '../archive/stages.js';
import { VolumeWriter } from '../archive/volumes.js';
import { resolveRecipients } from '../domain/age.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import { backupIdFor } from '../domain/ids.js';
import { signManifest } from '../domain/mac.js';
import { MANIFEST_FORMAT, MANIFEST_NAME, serializeManifest, sha256sums, SUMS_NAME, type CompressionAlgorithm, type Manifest, type SourcePayload } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import type { ConnectionSettings } from '../mariadb/mariabackup.js';
import { startPhysicalBackup } from '../sources/physical/backup.js';
import type { PhysicalPayload } from '../sources/physical/payload.js';
import { layoutOf, layoutPrefixes, prefixFor, type LayoutEntry } from '../sources/registry.js';
import type { Source, SourceBackupTarget } from '../sources/source.js';
import type { Storage } from '../storage/storage.js';
import { VERSION } from '../version.js';

export interface BackupSettings {
  fullPrefix: string;
  incrementalPrefix: string;
  /** DIRECTORY_BACKUP_PREFIX, when directory backups are configured (ids are unique across every prefix). */
  directoryPrefix?: string;
  /** The whole store layout (sources/registry.ts); absent: the standard one of the prefixes. */
  layout?: readonly LayoutEntry[];
  tempDir: string;
  mariabackupPath: string;
  connection: ConnectionSettings;
  parallel: number;
  compression: { algorithm: CompressionAlgorithm; level: number };
  volumeSize: number;
  hostname: string;
  /**
   * ENCRYPTION=age: the AGE_RECIPIENTS value (public keys, or the path of a recipients file, read
   * again at every backup). Only public keys: a backup never needs the private identity.
   */
  encryption?: { type: 'age'; recipients: string } | null;
  /** MANIFEST_HMAC_KEY ('' or absent = manifests are written without a MAC). */
  manifestHmacKey?: string;
}

export interface BackupProgress {
  rawBytes: number;
  storedBytes: number;
}

/** What to take: a full, or an incremental against a parent backup (no local copy of it needed). */
export type BackupTarget =
  | { kind: 'full' }
  | { kind: 'incremental'; parentId: string; fullId: string; fromLsn: string };

export interface BackupRunOptions {
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
  now?: () => Date;
  /** Called once the backup's id is known, before any data flows. */
  onStart?: (id: string) => void;
}

export function runFullBackup(storage: Storage, logger: Logger, s: BackupSettings, opts: BackupRunOptions = {}): Promise<Manifest> {
  return runBackup(storage, logger, s, { kind: 'full' }, opts);
}

/** The physical (mariabackup) backup: the generic job over the physical source. */
export async function runBackup(
  storage: Storage,
  logger: Logger,
  s: BackupSettings,
  target: BackupTarget,
  opts: BackupRunOptions = {},
): Promise<Manifest<PhysicalPayload>> {
  const physical = {
    type: 'physical',
    startBackup: (ctx, t) => startPhysicalBackup(s, ctx, { ...t, ...(target.kind === 'incremental' ? { fromLsn: target.fromLsn } : {}) }),
  } as Pick<Source<PhysicalPayload>, 'type' | 'startBackup'>;
  const t: SourceBackupTarget<PhysicalPayload> = target.kind === 'full' ? { kind: 'full' } : { kind: 'incremental', parentId: target.parentId, fullId: target.fullId };
  return runSourceBackup(storage, logger, s, physical, t, opts);
}

/** What the generic job needs of the settings: the store layout, temp dir, pipeline and manifest options. */
export type SourceBackupSettings = Pick<
  BackupSettings,
  'fullPrefix' | 'incrementalPrefix' | 'directoryPrefix' | 'layout' | 'tempDir' | 'compression' | 'volumeSize' | 'hostname' | 'encryption' | 'manifestHmacKey'
>;

/**
 * Takes one backup of `source`: its raw stream through the pipeline into the store, the manifest
 * (envelope + the source's payload) written LAST. Knows nothing of any source's internals.
 */
export async function runSourceBackup<P extends SourcePayload>(
  storage: Storage,
  logger: Logger,
  s: SourceBackupSettings,
  source: Pick<Source<P>, 'type' | 'startBackup'>,
  target: SourceBackupTarget<P>,
  opts: BackupRunOptions = {},
): Promise<Manifest<P>> {
  const started = (opts.now ?? (() => new Date()))();
  const layout = layoutOf(s);
  const prefix = prefixFor(layout, source.type, target.kind);
  const parentId = target.parentId ?? target.parent?.id;
  const fullId = target.fullId ?? target.full?.id ?? target.parent?.fullId;
  const id = await freeId(storage, layoutPrefixes(layout), started);
  const dir = `${prefix}${id}/`;
  opts.onStart?.(id);
  const log = logger.child({ backupId: id, kind: target.kind, ...(source.type !== 'physical' ? { source: source.type } : {}), ...(parentId ? { parentId } : {}) });
  log.info('backup started', { event: 'backup.start', store: storage.description, dir });

  await fs.mkdir(s.tempDir, { recursive: true, mode: 0o700 }).catch((e) => {
    throw new BackupmateError('LOCAL_IO', `LOCAL_TEMP_DIR ${s.tempDir} cannot be created: ${errorText(e)}`);
  });
  const jobDir = await fs.mkdtemp(path.join(s.tempDir, `backup-${id}-`)).catch((e) => {
    throw new BackupmateError('LOCAL_IO', `LOCAL_TEMP_DIR ${s.tempDir} is not writable: ${errorText(e)}`);
  });
  let writer: VolumeWriter | null = null;
  try {
    // Encryption: the recipients as configured now, checked before any data flows.
    let recipients: string[] | null = null;
    if (s.encryption) {
      const r = resolveRecipients(s.encryption.recipients, (file) => readFileSync(file, 'utf8'));
      if ('problem' in r) throw new BackupmateError('CONFIG', `AGE_RECIPIENTS ${r.problem} (AGE_RECIPIENTS=${s.encryption.recipients})`);
      recipients = r.recipients;
      await probeAge();
    }
    const run = await source.startBackup({ log, signal: opts.signal, jobDir }, { ...target, ...(parentId ? { parentId } : {}), ...(fullId ? { fullId } : {}) });
    const producer = run.output instanceof ChildStage ? run.output : null;
    // source ⇒ compressor: a kernel pipe when the source is a child and the compressor reports
    // the raw byte count itself (zstd), so the raw stream never passes through Node; otherwise
    // Node counts it.
    const cmd = compressCommand(s.compression.algorithm, s.compression.level);
    const direct = producer !== null && cmd !== null && canCountRaw(cmd);
    // Through Node, a child's output is read with its exit status at the end (ChildStage.reader):
    // the container never closes over a failed producer's stream.
    const rawStream: Readable = producer ? (direct ? producer.stdout! : producer.reader()) : (run.output as Readable);
    const producerName = producer?.stage ?? source.type;

    const progress: BackupProgress = { rawBytes: 0, storedBytes: 0 };
    let payload: P | null = null;
    const trailer = async (): Promise<ExtraFile[]> => {
      const r = await run.finish();
      payload = r.payload;
      return r.extras;
    };

    let reportedRaw: number | null = null;
    const compressor = cmd
      ? new ChildStage({
          stage: 'compressor',
          file: cmd.file,
          args: cmd.args,
          stdin: direct ? producer! : 'pipe',
          onStderr: (l) => {
            const n = cmd.rawBytesFrom?.(l);
            if (n != null) reportedRaw = n;
            // zstd -vv is chatty by design (its exit summary carries the raw byte count), also
            // when Node feeds it (a directory source's tar): debug. A failure still carries its
            // stderr tail in the error.
            else if (direct || cmd.rawBytesFrom) log.debug(l, { event: 'compressor.stderr' });
            else log.warn(l, { event: 'compressor.stderr' });
          },
        })
      : null;
    // Otherwise the raw stream passes through Node, which counts it.
    let countedRaw = 0;
    const counter = direct
      ? null
      : new Transform({
          transform(chunk: Buffer, _enc, cb) {
            countedRaw += chunk.length;
            progress.rawBytes = countedRaw;
            opts.onProgress?.(progress);
            cb(null, chunk);
          },
        });
    // While the raw stream bypasses Node, progress reads how far the compressor got (/proc).
    const poll = direct
      ? setInterval(() => {
          const n = compressor!.bytesRead();
          if (n !== null && n > progress.rawBytes) {
            progress.rawBytes = n;
            opts.onProgress?.(progress);
          }
        }, 500)
      : null;
    poll?.unref();
    const rawInput: StageOutcome[] = counter
      ? [{ stage: compressor ? 'compressor-input' : `${producerName}-output`, promise: pipeline(rawStream, counter, ...(compressor ? [compressor.stdin!] : [])) }]
      : [];

    const container = packContainer(
      compressor ? compressor.stdout! : counter!,
      { format: CONTAINER_FORMAT, backupId: id, chunkSize: CHUNK_SIZE, compression: s.compression.algorithm },
      async () => {
        const extras = await trailer();
        await compressor?.done;
        const raw = direct ? reportedRaw : countedRaw;
        if (raw === null) {
          throw new BackupmateError('TOOL_FAILED', `${cmd!.file} exited 0 without reporting how many bytes it read`, { stage: 'compressor' });
        }
        if (raw === 0) throw new BackupmateError('TOOL_FAILED', `${producerName} produced no data (0 bytes)`, { stage: producerName });
        progress.rawBytes = raw;
        opts.onProgress?.(progress);
        return extras;
      },
    );
    const enc = recipients ? encryptCommand(recipients) : null;
    const encryptor = enc
      ? new ChildStage({
          stage: 'encryptor',
          file: enc.file,
          args: enc.args,
          stderrIsFatal: ageStderrIsFatal,
          onStderr: (l) => log.warn(l, { event: 'encryptor.stderr' }),
        })
      : null;
    const w = new VolumeWriter(
      storage,
      dir,
      s.volumeSize,
      async () => {
        await container.done;
        await compressor?.done;
        await encryptor?.done;
      },
      undefined,
      (n) => {
        progress.storedBytes = n;
      },
    );
    writer = w;

    // source ⇒ [compressor] → container → [encryptor] → volumes; every exit status counts.
    // (Through the kernel pipe, a compressor's death makes the producer fail on EPIPE; ChildStage
    // marks that failure brokenPipe, so the compressor's own failure is the one reported.)
    const stages: StageOutcome[] = [
      ...(producer ? [{ stage: producer.stage, promise: producer.done }] : []),
      ...run.stages,
      ...rawInput,
      ...(compressor ? [{ stage: 'compressor', promise: compressor.done }] : []),
      { stage: 'container', promise: container.done },
    ];
    let upstream: Readable = container.stream;
    if (encryptor) {
      stages.push({ stage: 'encryptor', promise: encryptor.done }, { stage: 'encryptor-input', promise: pipeline(upstream, encryptor.stdin!) });
      upstream = encryptor.stdout!;
    }
    stages.push({ stage: 'upload', promise: pipeline(upstream, w) });
    try {
      await runStages(
        stages,
        (cause) => {
          run.kill();
          compressor?.kill();
          encryptor?.kill();
          counter?.destroy();
          if (!producer) rawStream.destroy();
          container.stream.destroy();
          w.destroy(cause instanceof Error ? cause : new Error(String(cause)));
        },
        opts.signal,
      );
    } finally {
      if (poll) clearInterval(poll);
    }

    const sourcePayload = payload as P | null;
    if (!sourcePayload) throw new BackupmateError('INTERNAL', 'pipeline finished without the source payload');
    const finished = new Date();
    const unsigned: Manifest<P> = {
      format: MANIFEST_FORMAT,
      id,
      source: sourcePayload,
      kind: target.kind,
      parentId: parentId ?? null,
      fullId: fullId ?? id,
      versions: { backupmate: VERSION },
      host: s.hostname,
      compression: { algorithm: s.compression.algorithm, level: s.compression.algorithm === 'none' ? null : s.compression.level },
      encryption: recipients ? { type: 'age', recipients } : null,
      container: { format: 'tar', chunkSize: CHUNK_SIZE },
      volumes: w.volumes,
      rawBytes: progress.rawBytes,
      storedBytes: w.storedBytes,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
    };
    // With MANIFEST_HMAC_KEY: a MAC over every other field, checked by restore and verify.
    const manifest = (s.manifestHmacKey ? signManifest(unsigned, s.manifestHmacKey) : unsigned) as Manifest<P>;
    if (opts.signal?.aborted) throw new BackupmateError('CANCELLED', 'the job was cancelled before its manifest was written');
    // For recovery without backupmate: `sha256sum -c SHA256SUMS` checks the volumes (README).
    // Small objects every command reads: stored as metadata (no S3_STORAGE_CLASS, see storage/s3.ts).
    await storage.put(dir + SUMS_NAME, Buffer.from(sha256sums(manifest)), { role: 'metadata' });
    // LAST: from this write on, the backup exists.
    await storage.put(dir + MANIFEST_NAME, Buffer.from(serializeManifest(manifest)), { role: 'metadata' });
    const { type: _t, ...facts } = sourcePayload as SourcePayload & Record<string, unknown>;
    log.info('backup finished', {
      event: 'backup.end',
      status: 'succeeded',
      rawBytes: manifest.rawBytes,
      storedBytes: manifest.storedBytes,
      volumes: manifest.volumes.length,
      durationMs: manifest.durationMs,
      // The payload's small facts (physical: lsn, binlog); lists (a directory's files) stay in the manifest.
      ...Object.fromEntries(Object.entries(facts).filter(([k, v]) => k !== 'server' && k !== 'versions' && !Array.isArray(v))),
    });
    return manifest;
  } catch (e) {
    const err = e instanceof BackupmateError ? e : new BackupmateError('INTERNAL', errorText(e), {}, { cause: e });
    (err.details as Record<string, unknown>).logged = true;
    log.error(`backup failed: ${err.message}`, {
      event: 'backup.end',
      status: err.code === 'CANCELLED' ? 'cancelled' : 'failed',
      code: err.code,
      stage: err.details.stage,
      exitCode: err.details.exitCode,
      stderrTail: err.details.stderrTail,
      durationMs: Date.now() - started.getTime(),
    });
    await writer?.settled();
    if (writer?.touchedKeys.length) {
      // Leftovers are invalid without a manifest anyway; removing them keeps the store tidy.
      await storage.delete([...writer.touchedKeys, dir + SUMS_NAME]).then(
        () => log.info('removed partial volumes', { event: 'backup.cleanup', keys: writer!.touchedKeys }),
        (de) => log.warn(`could not remove partial volumes: ${errorText(de)}`, { event: 'backup.cleanup', keys: writer!.touchedKeys }),
      );
    }
    throw err;
  } finally {
    await fs.rm(jobDir, { recursive: true, force: true });
  }
}

/**
 * The id for a backup starting at `at`; moves forward a second at a time past ids in use under
 * any prefix (ids are unique across fulls and incrementals: a chain's order is its ids' order).
 */
async function freeId(storage: Storage, prefixes: string[], at: Date): Promise<string> {
  for (let i = 0; i < 10; i++) {
    const id = backupIdFor(new Date(at.getTime() + i * 1000));
    let used = false;
    for (const p of prefixes) if ((await storage.list(`${p}${id}/`)).length) used = true;
    if (!used) return id;
  }
  throw new BackupmateError('INTERNAL', `could not find a free backup id near ${at.toISOString()}`);
}
