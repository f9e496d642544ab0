/**
 * A backup job: mariabackup ⇒ compressor → tar container → [age] → volumes in the store →
 * manifest LAST.
 *
 * No copy of the data touches local disk: LOCAL_TEMP_DIR holds only the 0600 option file, the
 * checkpoints (`--extra-lsndir`) and mariabackup's scratch. On any failure or cancellation every
 * child is killed, the upload in flight is aborted, volumes already stored are deleted, no manifest
 * is written and the temp dir is removed.
 */
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
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
import { MANIFEST_FORMAT, MANIFEST_NAME, serializeManifest, sha256sums, SUMS_NAME, type CompressionAlgorithm, type Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import {
  backupArgv,
  backupOptionFileText,
  CHECKPOINT_FILES,
  INFO_FILES,
  mariabackupVersion,
  parseBackupInfo,
  parseCheckpoints,
  readFirst,
  writeOptionFile,
  type Checkpoints,
  type ConnectionSettings,
} from '../mariadb/mariabackup.js';
import { serverState } from '../mariadb/server.js';
import { lsnBelow } from '../sources/physical/chain.js';
import type { PhysicalPayload } from '../sources/physical/payload.js';
import type { Storage } from '../storage/storage.js';
import { VERSION } from '../version.js';

export interface BackupSettings {
  fullPrefix: string;
  incrementalPrefix: string;
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

export async function runBackup(
  storage: Storage,
  logger: Logger,
  s: BackupSettings,
  target: BackupTarget,
  opts: BackupRunOptions = {},
): Promise<Manifest> {
  const started = (opts.now ?? (() => new Date()))();
  const prefix = target.kind === 'full' ? s.fullPrefix : s.incrementalPrefix;
  const id = await freeId(storage, [s.fullPrefix, s.incrementalPrefix], started);
  const dir = `${prefix}${id}/`;
  opts.onStart?.(id);
  const log = logger.child({ backupId: id, kind: target.kind, ...(target.kind === 'incremental' ? { parentId: target.parentId } : {}) });
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
    const mbVersion = await mariabackupVersion(s.mariabackupPath);
    // Which server this backup is of, recorded so no later backup of another server (or another
    // datadir) chains onto it (domain/plan.ts).
    const { identity } = await serverState(s.connection, jobDir);
    const optionFile = path.join(jobDir, 'backup.cnf');
    await writeOptionFile(optionFile, backupOptionFileText(s.connection));
    const lsnDir = path.join(jobDir, 'lsn');
    const scratch = path.join(jobDir, 'scratch');
    await fs.mkdir(lsnDir);
    await fs.mkdir(scratch);

    const progress: BackupProgress = { rawBytes: 0, storedBytes: 0 };
    const mb = new ChildStage({
      stage: 'mariabackup',
      file: s.mariabackupPath,
      args: backupArgv({
        optionFile,
        targetDir: scratch,
        lsnDir,
        parallel: s.parallel,
        incrementalLsn: target.kind === 'incremental' ? target.fromLsn : undefined,
      }),
      stdin: 'ignore',
      cwd: jobDir,
      onStderr: (line) => log.debug(line, { event: 'mariabackup.stderr' }),
    });
    log.info('mariabackup started', { event: 'mariabackup.start', pid: mb.pid, mariabackupVersion: mbVersion });

    let checkpoints: Checkpoints | null = null;
    let info: ReturnType<typeof parseBackupInfo> | null = null;
    const trailer = async (): Promise<ExtraFile[]> => {
      await mb.done;
      const cp = await readFirst(lsnDir, CHECKPOINT_FILES);
      if (!cp) throw new BackupmateError('TOOL_FAILED', `mariabackup exited 0 but wrote no checkpoints file in ${lsnDir}`, { stage: 'mariabackup' });
      checkpoints = parseCheckpoints(cp.text);
      const expectedType = target.kind === 'full' ? 'full-backuped' : 'incremental';
      if (checkpoints.backupType !== expectedType) {
        throw new BackupmateError('TOOL_FAILED', `mariabackup reported backup_type=${checkpoints.backupType}, expected ${expectedType}`, { stage: 'mariabackup' });
      }
      if (target.kind === 'incremental' && checkpoints.fromLsn !== target.fromLsn) {
        throw new BackupmateError(
          'TOOL_FAILED',
          `mariabackup started the incremental at LSN ${checkpoints.fromLsn}, expected the parent's to_lsn ${target.fromLsn}`,
          { stage: 'mariabackup' },
        );
      }
      // The server's history does not continue the parent's (typically: an older backup was
      // restored since). Such a delta can never be prepared, so it must not become a backup.
      // INTEGRITY, not TOOL_FAILED: mariabackup did its job; it is the chain that would break.
      if (target.kind === 'incremental' && lsnBelow(checkpoints.toLsn, checkpoints.fromLsn)) {
        throw new BackupmateError(
          'INTEGRITY',
          `the incremental on ${target.parentId} ends at LSN ${checkpoints.toLsn}, below where it starts (the parent's to_lsn ${checkpoints.fromLsn}): ` +
            "the server's history does not continue the parent's (was an older backup restored?), so it could never be restored; " +
            'take a full backup (backupmate backup --full)',
          { stage: 'mariabackup', parentId: target.parentId, fromLsn: checkpoints.fromLsn, toLsn: checkpoints.toLsn },
        );
      }
      const extras: ExtraFile[] = [{ name: cp.name, data: Buffer.from(cp.text) }];
      const inf = await readFirst(lsnDir, INFO_FILES);
      if (inf) {
        info = parseBackupInfo(inf.text);
        extras.push({ name: inf.name, data: Buffer.from(inf.text) });
      }
      return extras;
    };

    // mariabackup ⇒ compressor: a kernel pipe when the compressor reports the raw byte count
    // itself (zstd), so the raw stream never passes through Node; otherwise Node counts it.
    const cmd = compressCommand(s.compression.algorithm, s.compression.level);
    const direct = cmd !== null && canCountRaw(cmd);
    let reportedRaw: number | null = null;
    const compressor = cmd
      ? new ChildStage({
          stage: 'compressor',
          file: cmd.file,
          args: cmd.args,
          stdin: direct ? mb : 'pipe',
          onStderr: (l) => {
            const n = cmd.rawBytesFrom?.(l);
            if (n != null) reportedRaw = n;
            else if (direct) log.debug(l, { event: 'compressor.stderr' });
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
      ? [{ stage: compressor ? 'compressor-input' : 'mariabackup-output', promise: pipeline(mb.stdout!, counter, ...(compressor ? [compressor.stdin!] : [])) }]
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
        if (raw === 0) throw new BackupmateError('TOOL_FAILED', 'mariabackup produced no data (0 bytes)', { stage: 'mariabackup' });
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

    // mariabackup ⇒ [compressor] → container → [encryptor] → volumes; every exit status counts.
    // (Through the kernel pipe, a compressor's death makes mariabackup fail on EPIPE; ChildStage
    // marks that failure brokenPipe, so the compressor's own failure is the one reported.)
    const stages: StageOutcome[] = [
      { stage: 'mariabackup', promise: mb.done },
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
          mb.kill();
          compressor?.kill();
          encryptor?.kill();
          counter?.destroy();
          container.stream.destroy();
          w.destroy(cause instanceof Error ? cause : new Error(String(cause)));
        },
        opts.signal,
      );
    } finally {
      if (poll) clearInterval(poll);
    }

    const cp = checkpoints as Checkpoints | null;
    if (!cp) throw new BackupmateError('INTERNAL', 'pipeline finished without checkpoints');
    const inf = info as ReturnType<typeof parseBackupInfo> | null;
    const finished = new Date();
    const payload: PhysicalPayload = {
      type: 'physical',
      lsn: { from: cp.fromLsn, to: cp.toLsn, last: cp.lastLsn },
      binlog: inf?.binlog ?? null,
      server: identity,
      versions: { server: inf?.serverVersion ?? 'unknown', mariabackup: mbVersion },
    };
    const unsigned: Manifest<PhysicalPayload> = {
      format: MANIFEST_FORMAT,
      id,
      source: payload,
      kind: target.kind,
      parentId: target.kind === 'full' ? null : target.parentId,
      fullId: target.kind === 'full' ? id : target.fullId,
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
    const manifest = s.manifestHmacKey ? signManifest(unsigned, s.manifestHmacKey) : unsigned;
    if (opts.signal?.aborted) throw new BackupmateError('CANCELLED', 'the job was cancelled before its manifest was written');
    // For recovery without backupmate: `sha256sum -c SHA256SUMS` checks the volumes (README).
    // Small objects every command reads: stored as metadata (no S3_STORAGE_CLASS, see storage/s3.ts).
    await storage.put(dir + SUMS_NAME, Buffer.from(sha256sums(manifest)), { role: 'metadata' });
    // LAST: from this write on, the backup exists.
    await storage.put(dir + MANIFEST_NAME, Buffer.from(serializeManifest(manifest)), { role: 'metadata' });
    log.info('backup finished', {
      event: 'backup.end',
      status: 'succeeded',
      rawBytes: manifest.rawBytes,
      storedBytes: manifest.storedBytes,
      volumes: manifest.volumes.length,
      durationMs: manifest.durationMs,
      lsn: payload.lsn,
      binlog: payload.binlog,
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
