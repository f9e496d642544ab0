/**
 * Volumes: the stored byte stream cut into objects of at most VOLUME_SIZE bytes, each with its
 * sha256 computed while streaming.
 *
 * Why volumes: one S3 object is limited to 10,000 parts, so a single multipart upload caps the
 * backup's size for a given part size. Cutting the stream keeps size unbounded with bounded memory.
 *
 * The commit gate: the LAST volume's body is ended only after `gate()` resolves, i.e. after every
 * upstream stage (mariabackup, container, compressor) has exited successfully. If a producer dies,
 * its stdout still reaches EOF; without the gate the store would complete a truncated object.
 * Volumes completed earlier are harmless without a manifest and are deleted by the job on failure.
 */
import { PassThrough, Writable } from 'node:stream';
import { BackupmateError } from '../domain/errors.js';
import { volumeName, type VolumeRecord } from '../domain/manifest.js';
import type { Storage } from '../storage/storage.js';
import { waitDrain } from './drain.js';
import { HashCounter } from './hash.js';

interface OpenVolume {
  index: number;
  hash: HashCounter;
  put: Promise<void>;
  bytes: number;
}

export class VolumeWriter extends Writable {
  readonly volumes: VolumeRecord[] = [];
  /** Keys written (complete or not), so a failed job can delete them. */
  readonly touchedKeys: string[] = [];
  storedBytes = 0;
  private current: OpenVolume | null = null;
  private readonly puts: Promise<void>[] = [];
  private readonly abort = new AbortController();

  constructor(
    private readonly storage: Storage,
    /** `<prefix><id>/` */
    private readonly dir: string,
    private readonly volumeSize: number,
    private readonly gate: () => Promise<void>,
    signal?: AbortSignal,
    private readonly onStoredBytes?: (total: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
    signal?.addEventListener('abort', () => this.destroy(signal.reason), { once: true });
  }

  private open(): OpenVolume {
    const index = this.volumes.length;
    const key = this.dir + volumeName(index);
    this.touchedKeys.push(key);
    const hash = new HashCounter({ highWaterMark: 1 << 20 });
    const put = this.storage.put(key, hash, { signal: this.abort.signal });
    // Observed below; a failure before we await it must not become an unhandled rejection.
    put.catch(() => {});
    this.puts.push(put);
    return { index, hash, put, bytes: 0 };
  }

  private async close(v: OpenVolume): Promise<void> {
    v.hash.end();
    await v.put;
    if (v.hash.bytes !== v.bytes) {
      throw new BackupmateError('STORAGE', `volume ${volumeName(v.index)}: stored ${v.hash.bytes} bytes, expected ${v.bytes}`);
    }
    this.volumes.push({ name: volumeName(v.index), size: v.bytes, sha256: v.hash.digest() });
    this.current = null;
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      // A full volume is completed only once more data follows: if the stream ends exactly on a
      // boundary, that volume is the last one and must wait for the gate in _final.
      if (this.current && this.current.bytes === this.volumeSize) await this.close(this.current);
      const v = (this.current ??= this.open());
      const piece = chunk.subarray(off, off + (this.volumeSize - v.bytes));
      off += piece.length;
      v.bytes += piece.length;
      this.storedBytes += piece.length;
      this.onStoredBytes?.(this.storedBytes);
      if (!v.hash.write(piece)) {
        // Wait for the upload to take more, or for it to fail (then the put rejects).
        await Promise.race([waitDrain(v.hash), v.put]);
      }
    }
  }

  /**
   * Resolves once every upload this writer started has finished or finished aborting, so a failed
   * job reports (and may exit) only after AbortMultipartUpload was sent and partial files removed.
   */
  async settled(): Promise<void> {
    await Promise.allSettled(this.puts);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    (async () => {
      await this.gate();
      if (this.current) await this.close(this.current);
      if (this.storedBytes === 0) throw new BackupmateError('TOOL_FAILED', 'the pipeline produced no data (0 bytes stored)');
    })().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err || !this.writableFinished) {
      const reason = err ?? new BackupmateError('CANCELLED', 'volume writer closed before the stream finished');
      this.abort.abort(reason);
      this.current?.hash.destroy(reason);
    }
    cb(err);
  }
}
