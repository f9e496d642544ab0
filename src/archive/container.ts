/**
 * The tar container of a backup's byte stream.
 *
 * Layout 2 (manifest format backupmate/2, written since 0.2; the README's recipe depends on it):
 *   backupmate.json              small header: format, backup id, chunk size, compression
 *   xbstream.zst/00000000 ...    the COMPRESSED xbstream (zstd output), cut into fixed-size entries
 *                                in order (`xbstream.gz/` for gzip, `xbstream/` uncompressed)
 *   meta/<file>                  extras gathered after mariabackup succeeded (checkpoints, info)
 * and the stored bytes are [age](tar). Anyone can rebuild the stream with
 * `tar -xO --wildcards 'xbstream.zst/*' | zstd -d`.
 *
 * Layout 1 (backupmate/1, read for old backups only): the tar held the raw xbstream in
 * `xbstream/` entries and the stored bytes were [age](zstd(tar)).
 *
 * Why compress first and frame after: Node then handles the compressed stream (about a third of
 * the raw size), never the raw one, which flows from mariabackup to zstd through a kernel pipe.
 * On two cores the compressor is the bottleneck and every cycle Node spends copying is taken from
 * it (benchmark case 1: layout 1 reached 0.8x the shell pipeline).
 *
 * Why cut: tar needs each entry's exact size up front and the stream's length is unknown, so one
 * chunk (CHUNK_SIZE) is buffered at a time; memory stays bounded whatever the database size.
 */
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BackupmateError } from '../domain/errors.js';
import type { CompressionAlgorithm } from '../domain/manifest.js';
import { waitDrain } from './drain.js';

export const CHUNK_SIZE = 4 * 1024 * 1024;
export const HEADER_NAME = 'backupmate.json';
/** Layout 1's entries (raw xbstream), and layout 2's for COMPRESSION=none. */
export const XBSTREAM_DIR = 'xbstream/';
export const META_DIR = 'meta/';

export const CONTAINER_FORMAT = 'backupmate-container/2';
export const CONTAINER_FORMAT_V1 = 'backupmate-container/1';

export interface ContainerHeader {
  format: typeof CONTAINER_FORMAT;
  backupId: string;
  chunkSize: number;
  /** What the xbstream entries hold: the stream compressed with this algorithm. */
  compression: CompressionAlgorithm;
}

export interface ExtraFile {
  name: string;
  data: Buffer;
}

/** The directory of the stream's entries in layout 2. */
export function streamDir(compression: CompressionAlgorithm): string {
  switch (compression) {
    case 'zstd':
      return 'xbstream.zst/';
    case 'gzip':
      return 'xbstream.gz/';
    case 'none':
      return XBSTREAM_DIR;
  }
}

function chunkName(dir: string, n: number): string {
  return dir + String(n).padStart(8, '0');
}

function addEntry(pack: tar.Pack, name: string, data: Buffer, mtime: Date): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry({ name, size: data.length, mode: 0o600, mtime, type: 'file' }, data, (err) => (err ? reject(err) : resolve()));
    // When the pack is torn down mid-entry (a downstream stage died), the entry stream emits
    // 'error'; the callback above does not listen for it, and an unheard 'error' crashes the process.
    sink.on('error', reject);
  });
}

/** Adds an entry of exactly `size` bytes written piece by piece, with backpressure. */
function addPieces(pack: tar.Pack, name: string, pieces: readonly Buffer[], size: number, mtime: Date): Promise<void> {
  if (pieces.length === 1) return addEntry(pack, name, pieces[0], mtime);
  return new Promise((resolve, reject) => {
    const sink = pack.entry({ name, size, mode: 0o600, mtime, type: 'file' }, (err) => (err ? reject(err) : resolve()));
    sink.on('error', reject);
    (async () => {
      for (const p of pieces) if (!sink.write(p)) await waitDrain(sink);
      (sink as unknown as { end(): void }).end();
    })().catch(reject);
  });
}

/**
 * Wraps `source` (the compressor's stdout, or mariabackup's with COMPRESSION=none) in the
 * container. `trailer` is awaited after the source ended: it must confirm the producers succeeded
 * (or throw) and returns the meta files to append. `done` resolves with the stream's byte count
 * once the tar is finalised; on failure the returned stream is destroyed with the error.
 */
export function packContainer(
  source: AsyncIterable<Buffer>,
  header: ContainerHeader,
  trailer: () => Promise<ExtraFile[]>,
  onBytes?: (total: number) => void,
): { stream: Readable; done: Promise<{ streamBytes: number; chunks: number }> } {
  const pack = tar.pack();
  const mtime = new Date();
  const dir = streamDir(header.compression);
  const done = (async () => {
    await addEntry(pack, HEADER_NAME, Buffer.from(JSON.stringify(header)), mtime);
    let pending: Buffer[] = [];
    let pendingLen = 0;
    let chunks = 0;
    let streamBytes = 0;
    for await (const chunk of source) {
      streamBytes += chunk.length;
      onBytes?.(streamBytes);
      pending.push(chunk);
      pendingLen += chunk.length;
      while (pendingLen >= header.chunkSize) {
        // Hand the pieces to the entry as they are (the last one split without a copy): on two
        // cores every CPU cycle Node spends copying is taken from the compressor.
        const take: Buffer[] = [];
        let need = header.chunkSize;
        while (need > 0) {
          const head = pending[0];
          if (head.length <= need) {
            take.push(head);
            pending.shift();
            need -= head.length;
          } else {
            take.push(head.subarray(0, need));
            pending[0] = head.subarray(need);
            need = 0;
          }
        }
        pendingLen -= header.chunkSize;
        await addPieces(pack, chunkName(dir, chunks++), take, header.chunkSize, mtime);
      }
    }
    if (pendingLen) await addPieces(pack, chunkName(dir, chunks++), pending, pendingLen, mtime);
    // The trailer first: when the producer failed, its own error (exit code, stderr) is the story.
    const extras = await trailer();
    if (streamBytes === 0) throw new BackupmateError('TOOL_FAILED', 'the backup stream is empty (0 bytes)', { stage: 'mariabackup' });
    for (const extra of extras) await addEntry(pack, META_DIR + extra.name, extra.data, mtime);
    pack.finalize();
    return { streamBytes, chunks };
  })();
  done.catch((e) => pack.destroy(e));
  return { stream: Readable.from(pack), done };
}

export interface ExtractHandlers {
  /** Called with each piece of the stream's entries in order; must apply backpressure by awaiting. */
  onXbstream(chunk: Buffer): Promise<void>;
  onMeta?(name: string, data: Buffer): void;
}

/** What the reader expects, from the manifest. */
export interface ExpectedContainer {
  backupId: string;
  /** 1: raw xbstream entries (the caller decompressed the tar); 2: compressed entries. */
  layout: 1 | 2;
  compression: CompressionAlgorithm;
}

/**
 * Reads a container from `source` and feeds the stream's entries to the handler. Checks the
 * framing: the header names the expected backup (and, in layout 2, its compression), chunks are
 * numbered without gaps, and nothing unknown appears.
 */
export async function extractContainer(
  source: Readable,
  expected: ExpectedContainer,
  handlers: ExtractHandlers,
): Promise<{ streamBytes: number; chunks: number }> {
  const expectedId = expected.backupId;
  const dir = expected.layout === 1 ? XBSTREAM_DIR : streamDir(expected.compression);
  const extract = tar.extract();
  const feed = (async () => {
    for await (const chunk of source) {
      if (extract.destroyed) return;
      if (!extract.write(chunk)) await waitDrain(extract);
    }
    (extract as unknown as { end(): void }).end();
  })();
  feed.catch((e) => extract.destroy(e));
  let headerSeen = false;
  let chunks = 0;
  let streamBytes = 0;
  const framing = (what: string) => new BackupmateError('INTEGRITY', `backup ${expectedId}: container framing is broken: ${what}`);
  for await (const entry of extract) {
    const name = entry.header.name;
    if (!headerSeen) {
      if (name !== HEADER_NAME) throw framing(`expected ${HEADER_NAME} first, found ${name}`);
      let h: Partial<ContainerHeader> & { format?: string };
      try {
        h = JSON.parse((await collect(entry)).toString('utf8')) as ContainerHeader;
      } catch {
        throw framing(`${HEADER_NAME} is not valid JSON`);
      }
      if (h.backupId !== expectedId) throw framing(`container belongs to backup ${h.backupId}`);
      const format = expected.layout === 1 ? CONTAINER_FORMAT_V1 : CONTAINER_FORMAT;
      if (h.format !== format) throw framing(`expected a ${format} header, found ${JSON.stringify(h.format)}`);
      if (expected.layout === 2 && h.compression !== expected.compression) {
        throw framing(`the container says compression ${JSON.stringify(h.compression)}, the manifest says ${expected.compression}`);
      }
      headerSeen = true;
    } else if (name.startsWith(dir)) {
      if (name !== chunkName(dir, chunks)) throw framing(`expected ${chunkName(dir, chunks)}, found ${name}`);
      chunks++;
      for await (const c of entry) {
        streamBytes += (c as Buffer).length;
        await handlers.onXbstream(c as Buffer);
      }
    } else if (name.startsWith(META_DIR)) {
      handlers.onMeta?.(name.slice(META_DIR.length), await collect(entry));
    } else {
      throw framing(`unexpected entry ${name}`);
    }
  }
  await feed;
  if (!headerSeen) throw framing('empty container');
  return { streamBytes, chunks };
}

async function collect(entry: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of entry) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
