/**
 * The tar container around the mariabackup stream.
 *
 * Layout (documented in the README; the manual recovery recipe depends on it):
 *   backupmate.json        small header: format, backup id, chunk size
 *   xbstream/00000000 ...  the xbstream, cut into fixed-size entries in order
 *   meta/<file>            extras gathered after mariabackup succeeded (checkpoints, info)
 *
 * Why cut: tar needs each entry's exact size up front and the stream's length is unknown, so one
 * chunk (CHUNK_SIZE) is buffered at a time; memory stays bounded whatever the database size.
 * Anyone can rebuild the xbstream with `tar -xO --wildcards 'xbstream/*'`.
 */
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BackupmateError } from '../domain/errors.js';
import { waitDrain } from './drain.js';

export const CHUNK_SIZE = 4 * 1024 * 1024;
export const HEADER_NAME = 'backupmate.json';
export const XBSTREAM_DIR = 'xbstream/';
export const META_DIR = 'meta/';

export interface ContainerHeader {
  format: 'backupmate-container/1';
  backupId: string;
  chunkSize: number;
}

export interface ExtraFile {
  name: string;
  data: Buffer;
}

function chunkName(n: number): string {
  return XBSTREAM_DIR + String(n).padStart(8, '0');
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
 * Wraps `source` (mariabackup's stdout) in the container. `trailer` is awaited after the source
 * ended: it must confirm the producer succeeded (or throw) and returns the meta files to append.
 * `done` resolves with the raw byte count once the tar is finalised; on failure the returned
 * stream is destroyed with the error.
 */
export function packContainer(
  source: AsyncIterable<Buffer>,
  header: ContainerHeader,
  trailer: () => Promise<ExtraFile[]>,
  onRawBytes?: (total: number) => void,
): { stream: Readable; done: Promise<{ rawBytes: number; chunks: number }> } {
  const pack = tar.pack();
  const mtime = new Date();
  const done = (async () => {
    await addEntry(pack, HEADER_NAME, Buffer.from(JSON.stringify(header)), mtime);
    let pending: Buffer[] = [];
    let pendingLen = 0;
    let chunks = 0;
    let rawBytes = 0;
    for await (const chunk of source) {
      rawBytes += chunk.length;
      onRawBytes?.(rawBytes);
      pending.push(chunk);
      pendingLen += chunk.length;
      while (pendingLen >= header.chunkSize) {
        // Hand the pieces to the entry as they are (the last one split without a copy): on two
        // cores every CPU cycle Node spends copying is taken from zstd, the pipeline's bottleneck.
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
        await addPieces(pack, chunkName(chunks++), take, header.chunkSize, mtime);
      }
    }
    if (pendingLen) await addPieces(pack, chunkName(chunks++), pending, pendingLen, mtime);
    // The trailer first: when the producer failed, its own error (exit code, stderr) is the story.
    const extras = await trailer();
    if (rawBytes === 0) throw new BackupmateError('TOOL_FAILED', 'mariabackup produced no data (0 bytes)', { stage: 'mariabackup' });
    for (const extra of extras) await addEntry(pack, META_DIR + extra.name, extra.data, mtime);
    pack.finalize();
    return { rawBytes, chunks };
  })();
  done.catch((e) => pack.destroy(e));
  return { stream: Readable.from(pack), done };
}

export interface ExtractHandlers {
  /** Called with each xbstream chunk in order; must apply backpressure by awaiting. */
  onXbstream(chunk: Buffer): Promise<void>;
  onMeta?(name: string, data: Buffer): void;
}

/**
 * Reads a container from `source` and feeds the xbstream to the handler. Checks the framing:
 * the header names `expectedId`, chunks are numbered without gaps, and nothing unknown appears.
 */
export async function extractContainer(
  source: Readable,
  expectedId: string,
  handlers: ExtractHandlers,
): Promise<{ rawBytes: number; chunks: number }> {
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
  let rawBytes = 0;
  const framing = (what: string) => new BackupmateError('INTEGRITY', `backup ${expectedId}: container framing is broken: ${what}`);
  for await (const entry of extract) {
    const name = entry.header.name;
    if (!headerSeen) {
      if (name !== HEADER_NAME) throw framing(`expected ${HEADER_NAME} first, found ${name}`);
      let h: ContainerHeader;
      try {
        h = JSON.parse((await collect(entry)).toString('utf8')) as ContainerHeader;
      } catch {
        throw framing(`${HEADER_NAME} is not valid JSON`);
      }
      if (h.backupId !== expectedId) throw framing(`container belongs to backup ${h.backupId}`);
      headerSeen = true;
    } else if (name.startsWith(XBSTREAM_DIR)) {
      if (name !== chunkName(chunks)) throw framing(`expected ${chunkName(chunks)}, found ${name}`);
      chunks++;
      for await (const c of entry) {
        rawBytes += (c as Buffer).length;
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
  return { rawBytes, chunks };
}

async function collect(entry: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of entry) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
