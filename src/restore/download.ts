/**
 * Download and unpack one backup into a staging directory: the part of restore that verify shares.
 *
 * Per volume, in order: store → sha256 and size check while streaming → [age -d] → container
 * framing check → decompressor → `mbstream -x` into an empty directory. A volume that does not
 * match its manifest stops everything and is named.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChildStage } from '../archive/child.js';
import { waitDrain } from '../archive/drain.js';
import { decompressCommand } from '../archive/compression.js';
import { extractContainer } from '../archive/container.js';
import { ageStderrIsFatal, decryptCommand, identityMismatchError, isIdentityMismatch, noIdentityError } from '../archive/encryption.js';
import { HashCounter } from '../archive/hash.js';
import { runStages, type StageOutcome } from '../archive/stages.js';
import { BackupmateError, errorText } from '../domain/errors.js';
import { containerLayout, type Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import { mbstreamSink } from '../sources/physical/sink.js';
import type { Sink } from '../sources/source.js';
import type { Storage } from '../storage/storage.js';

/** What unpacking needs of the settings. */
export interface DownloadSettings {
  /** The physical sink's mbstream (used when no other sink is given). */
  mbstreamPath: string;
  /** AGE_IDENTITY_FILE: the private age identity for encrypted backups ('' = none). */
  ageIdentityFile?: string;
}

/** What downloadInto needs of a request: cancellation and progress. */
export interface DownloadOptions {
  signal?: AbortSignal;
  onProgress?: (p: { stage: string; bytes: number; total: number }) => void;
}

/**
 * Streams every volume of backup `m` (stored under `dir`) in order through sha256 and size check →
 * [age -d] → container framing check → decompressor → `mbstream -x` into the empty directory
 * `staging` (backupmate/1 backups: decompressor before the container). Throws INTEGRITY naming
 * the object when a volume does not match the manifest (also when the damage first shows as a
 * decompressor, age or framing error), or naming the backup when
 * the container holds another backup or another byte count. Returns the bytes downloaded. Used by
 * restore and by verify.
 */
export async function downloadInto(
  storage: Storage,
  log: Logger,
  s: DownloadSettings,
  m: Manifest,
  dir: string,
  staging: string,
  req: DownloadOptions,
  openSink?: SinkOpener,
): Promise<number> {
  if (m.encryption && !s.ageIdentityFile) throw noIdentityError(m);
  const open: SinkOpener = openSink ?? ((feed) => Promise.resolve(mbstreamSink(log, s.mbstreamPath, staging, feed)));
  let downloaded = 0;
  const total = m.storedBytes;
  async function* volumes(): AsyncGenerator<Buffer> {
    for (const v of m.volumes) {
      const key = dir + v.name;
      const hash = new HashCounter({ highWaterMark: 1 << 20 });
      const body = await storage.get(key, { signal: req.signal });
      const piped = pipeline(body, hash);
      piped.catch(() => {});
      for await (const chunk of hash) {
        downloaded += (chunk as Buffer).length;
        req.onProgress?.({ stage: 'download', bytes: downloaded, total });
        yield chunk as Buffer;
      }
      await piped;
      if (hash.bytes !== v.size || hash.digest() !== v.sha256) throw volumeMismatch(m, key, v, hash);
    }
  }
  const source = Readable.from(volumes());
  const layout = containerLayout(m);
  const dec = m.encryption ? decryptCommand(s.ageIdentityFile!) : null;
  const decryptor = dec
    ? new ChildStage({
        stage: 'decryptor',
        file: dec.file,
        args: dec.args,
        stderrIsFatal: ageStderrIsFatal,
        onStderr: (l) => log.warn(l, { event: 'decryptor.stderr' }),
      })
    : null;
  const cmd = decompressCommand(m.compression.algorithm);
  let reportedRaw: number | null = null;
  const decompressor = cmd
    ? new ChildStage({
        stage: 'decompressor',
        file: cmd.file,
        args: cmd.args,
        onStderr: (l) => {
          const n = cmd.rawBytesFrom?.(l);
          if (n != null) reportedRaw = n;
          else log.debug(l, { event: 'decompressor.stderr' });
        },
      })
    : null;
  // Layout 2: the decompressor's output goes straight to the sink when it is a child (a kernel
  // pipe, not Node: zstd ⇒ mbstream); layout 1 (or no decompressor): the container feeds it.
  const feed = layout === 2 && decompressor ? decompressor : null;
  const sinkOut = await open(feed).catch((e: unknown) => {
    source.destroy();
    decryptor?.kill();
    decompressor?.kill();
    throw e;
  });
  // Layout 2: source → [decryptor] → container → [decompressor] ⇒ mbstream.
  // Layout 1: source → [decryptor] → [decompressor] → container → mbstream.
  const filters = [decryptor, layout === 1 ? decompressor : null].filter((f): f is ChildStage => f !== null);
  const pipes: StageOutcome[] = [];
  let plain: Readable = source;
  for (const [i, f] of filters.entries()) {
    pipes.push({ stage: i === 0 ? 'download' : `${f.stage}-input`, promise: pipeline(plain, f.stdin!) });
    plain = f.stdout!;
  }
  if (feed && sinkOut.input) pipes.push({ stage: 'sink-input', promise: pipeline(feed.stdout!, sinkOut.input) });
  const [sink, sinkStage] = feed ? [feed.stdin!, feed.stage] : [sinkOut.input!, sinkOut.stages[0]?.stage ?? 'sink'];
  const extracted = (async () => {
    const r = await extractContainer(
      plain,
      { backupId: m.id, layout, compression: m.compression.algorithm },
      {
        onXbstream: async (chunk) => {
          if (!sink.write(chunk)) {
            await waitDrain(sink, new BackupmateError('TOOL_FAILED', `${sinkStage} closed its input early`, { stage: sinkStage }));
          }
        },
      },
    );
    // The raw stream passed through here unless a layout-2 decompressor unpacked it.
    if ((layout === 1 || !decompressor) && r.streamBytes !== m.rawBytes) {
      throw new BackupmateError('INTEGRITY', `backup ${m.id}: the container holds ${r.streamBytes} bytes of xbstream, the manifest says ${m.rawBytes}`);
    }
    sink.end();
  })();
  try {
    await runStages(
      [
        ...sinkOut.stages,
        { stage: 'extract', promise: extracted },
        ...[decryptor, decompressor].filter((f): f is ChildStage => f !== null).map((f) => ({ stage: f.stage, promise: f.done })),
        ...pipes,
      ],
      () => {
        source.destroy();
        decryptor?.kill();
        decompressor?.kill();
        sinkOut.kill();
      },
      req.signal,
    );
    // zstd checks its own frame checksum; the byte count it reports is one more check (when it
    // reports one: a zstd without the summary is not a reason to fail a restore).
    if (layout === 2 && decompressor && reportedRaw !== null && reportedRaw !== m.rawBytes) {
      throw new BackupmateError('INTEGRITY', `backup ${m.id}: the stream unpacks to ${reportedRaw} bytes of xbstream, the manifest says ${m.rawBytes}`);
    }
  } catch (e) {
    if (e instanceof BackupmateError && e.code === 'CANCELLED') throw e;
    if (req.signal?.aborted) throw e;
    // A volume's own check failed: the error already names the object.
    if (e instanceof BackupmateError && e.code === 'INTEGRITY' && e.details.key) throw e;
    if (isIdentityMismatch(e)) throw identityMismatchError(m, s.ageIdentityFile!);
    // A decompressor, age or framing error (e.g. the container of another backup) is usually a
    // changed or swapped volume: check the volumes so the error names the object.
    log.warn(`extraction failed (${errorText(e)}); checking volume checksums`, { event: 'restore.verify_after_failure' });
    await verifyVolumes(storage, m, dir, req.signal);
    throw e;
  }
  return downloaded;
}

/**
 * Opens the sink of one backup's decoded raw stream (sources/source.ts Source.openSink, bound to
 * the backup and its directory). `feed` is the last decoder when it is a child process.
 */
export type SinkOpener = (feed: ChildStage | null) => Promise<Sink>;

/** Downloads and hashes every volume; throws INTEGRITY naming the first bad one. */
export async function verifyVolumes(storage: Storage, m: Manifest, dir: string, signal?: AbortSignal): Promise<void> {
  for (const v of m.volumes) {
    const key = dir + v.name;
    const hash = new HashCounter();
    await pipeline(await storage.get(key, { signal }), hash, async function* (src) {
      for await (const _ of src) {
        /* drain */
      }
    });
    if (hash.bytes !== v.size || hash.digest() !== v.sha256) throw volumeMismatch(m, key, v, hash);
  }
}

function volumeMismatch(m: Manifest, key: string, v: Manifest['volumes'][number], hash: HashCounter): BackupmateError {
  return new BackupmateError(
    'INTEGRITY',
    `backup ${m.id}: volume ${key} is corrupt: expected ${v.size} bytes with sha256 ${v.sha256}, got ${hash.bytes} bytes with sha256 ${hash.digest()} ` +
      '(changed, truncated or replaced since the backup was written)',
    { key },
  );
}
