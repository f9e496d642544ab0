/**
 * Directory backups: the tar writer.
 *
 * Emits a POSIX (ustar, pax where needed) tar of the entries marked `stored`, in list order
 * (parents first), so `tar -x` alone rebuilds the stored part of the tree with contents, modes,
 * owners, symlinks and (whole-second) mtimes. backupmate's restore applies metadata from the
 * file list instead, which is exact.
 *
 * Files that change while they are read (decision): tar needs each entry's exact size before its
 * content, so a file is opened, fstat'ed, and exactly that many bytes are written:
 * - it grew: only the first `size` bytes (as of the open) are stored;
 * - it shrank: the missing tail is written as zeros (what GNU tar does, "File shrank by N bytes;
 *   padding with zeros");
 * - either way, or when its mtime/ctime moved while it was read, it is reported as unstable and
 *   its change key becomes UNSTABLE_KEY, so the next incremental stores it again.
 * The tar is never corrupt and the backup does not fail on a busy file: a config tree has the odd
 * file being rewritten, and failing every backup because of it would leave none.
 * A listed file that vanished (or stopped being a regular file) before it was opened is dropped
 * from the list: the backup records the tree as it was read.
 * A file that cannot be read (EACCES, EIO) fails the backup with LOCAL_IO.
 */
import fs from 'node:fs/promises';
import { constants as fsc, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BackupmateError } from '../../domain/errors.js';
import { waitDrain } from '../../archive/drain.js';
import { UNSTABLE_KEY, type FileEntry } from './entries.js';
import { changeKey, entryOf } from './walk.js';

type TarHeader = Parameters<tar.Pack['entry']>[0];

/** Read size for file contents. */
const READ_SIZE = 1024 * 1024;
/** Largest uid/gid the ustar header holds (7 octal digits with NUL: 6 digits here); above: pax. */
const USTAR_MAX_ID = 0o777777;

export interface PackOutcome {
  /** The list to record: `entries` with refreshed metadata of stored files, vanished ones dropped. */
  files: FileEntry[];
  /** Files that changed while read (their key is UNSTABLE_KEY). */
  unstable: string[];
  /** Listed files that were gone (or no longer regular files) when their turn came. */
  vanished: string[];
  /** Content bytes written (files only). */
  contentBytes: number;
  /** Entries written to the tar. */
  entries: number;
}

export interface PackOptions {
  /** Prepended to every entry path to find the file ('/' for real backups). */
  root?: string;
  onWarning?: (message: string) => void;
  /** Test hook: called after a file was opened and fstat'ed, before its content is read. */
  onOpened?: (absolutePath: string) => Promise<void>;
}

function header(e: FileEntry, size: number): TarHeader {
  const big = e.uid > USTAR_MAX_ID || e.gid > USTAR_MAX_ID;
  const h: TarHeader = {
    name: e.path,
    type: e.type === 'dir' ? 'directory' : e.type,
    mode: e.mode,
    uid: big ? 0 : e.uid,
    gid: big ? 0 : e.gid,
    size,
    mtime: new Date(Math.floor(e.mtimeMs)),
    ...(e.type === 'symlink' ? { linkname: e.target } : {}),
  };
  if (big) h.pax = { uid: String(e.uid), gid: String(e.gid) };
  return h;
}

function addVoid(pack: tar.Pack, h: TarHeader): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(h, (err) => (err ? reject(err) : resolve()));
    sink.on('error', reject);
    (sink as unknown as { end(): void }).end();
  });
}

function sameVersion(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

/**
 * Writes one regular file as exactly `e.size` bytes (see the header comment). Returns the entry to
 * record, or null when the file was gone.
 */
async function addFile(pack: tar.Pack, e: FileEntry, abs: string, warn: (m: string) => void, onOpened?: PackOptions['onOpened']): Promise<{ entry: FileEntry; unstable: boolean } | null> {
  let fh: fs.FileHandle;
  try {
    // O_NOFOLLOW: a file replaced by a symlink is not followed; O_NONBLOCK: nor blocks on a FIFO.
    fh = await fs.open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return null;
    throw new BackupmateError('LOCAL_IO', `directory backup: cannot open ${abs}: ${code} (${(err as Error).message})`, { path: abs }, { cause: err });
  }
  try {
    const before = await fh.stat({ bigint: true });
    if (!before.isFile()) return null;
    const entry = { ...entryOf(e.path, 'file', before), stored: true };
    const size = entry.size;
    let unstable = false;
    await onOpened?.(abs);
    await new Promise<void>((resolve, reject) => {
      const sink = pack.entry(header(entry, size), (err) => (err ? reject(err) : resolve()));
      sink.on('error', reject);
      (async () => {
        let written = 0;
        while (written < size) {
          // A fresh buffer per read: the tar may still hold the previous one in its queue.
          const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, size - written));
          const { bytesRead } = await fh.read(buf, 0, buf.length, written);
          if (bytesRead === 0) {
            warn(`directory backup: ${abs} shrank while it was read (${written} of ${size} bytes); the rest is stored as zeros and the file is stored again next time`);
            unstable = true;
            let rest = size - written;
            while (rest > 0) {
              const zeros = Buffer.alloc(Math.min(READ_SIZE, rest));
              rest -= zeros.length;
              written += zeros.length;
              if (!sink.write(zeros)) await waitDrain(sink);
            }
            break;
          }
          written += bytesRead;
          if (!sink.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead))) await waitDrain(sink);
        }
        (sink as unknown as { end(): void }).end();
      })().catch((err: unknown) => {
        sink.destroy(err as Error);
        reject(err);
      });
    });
    const after = await fh.stat({ bigint: true });
    if (!unstable && !sameVersion(before, after)) {
      warn(`directory backup: ${abs} changed while it was read; it is stored as read and stored again next time`);
      unstable = true;
    }
    return { entry: unstable ? { ...entry, key: UNSTABLE_KEY } : { ...entry, key: changeKey(before) }, unstable };
  } catch (err) {
    if (err instanceof BackupmateError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    throw new BackupmateError('LOCAL_IO', `directory backup: cannot read ${abs}: ${code} (${(err as Error).message})`, { path: abs }, { cause: err });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * Starts writing the tar of `entries` (the list with `stored` set, sorted by path). `stream` is
 * the tar; `done` resolves with the list to record once the tar is complete, or rejects (and the
 * stream is destroyed with the same error).
 */
export function packTree(entries: readonly FileEntry[], options: PackOptions = {}): { stream: Readable; done: Promise<PackOutcome> } {
  const root = options.root ?? '/';
  const warn = options.onWarning ?? (() => undefined);
  const pack = tar.pack();
  const done = (async (): Promise<PackOutcome> => {
    const out: PackOutcome = { files: [], unstable: [], vanished: [], contentBytes: 0, entries: 0 };
    for (const e of entries) {
      if (!e.stored) {
        out.files.push(e);
        continue;
      }
      const abs = path.join(root, e.path);
      if (e.type === 'file') {
        const r = await addFile(pack, e, abs, warn, options.onOpened);
        if (!r) {
          out.vanished.push(e.path);
          continue;
        }
        out.files.push(r.entry);
        if (r.unstable) out.unstable.push(e.path);
        out.contentBytes += r.entry.size;
      } else {
        await addVoid(pack, header(e, 0));
        out.files.push(e);
      }
      out.entries++;
    }
    pack.finalize();
    if (out.vanished.length) warn(`directory backup: ${out.vanished.length} listed entries vanished before they were read; the backup records the tree without them`);
    return out;
  })();
  done.catch((e) => pack.destroy(e));
  return { stream: Readable.from(pack), done };
}
