/**
 * Local filesystem store (`STORAGE=file`): the quickstart's default and a real option for a
 * mounted NAS. Objects are files under `root`; `put` writes `<key>.partial-<random>` and renames
 * it into place only after the body ended normally and the data is fsynced, so a killed job
 * never leaves a complete-looking object.
 *
 * No parts and nothing of its own to retry: a local write that fails midway has nothing to resend
 * (RetryStorage retries whole operations). Its errors are errno codes: ENOENT/ENOTDIR of an
 * object = not found; ENOSPC, EACCES, EROFS... = permanent; EIO, EAGAIN, EBUSY, ESTALE (NFS) =
 * transient (`classifyFile`).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StoredObject } from '../../domain/catalog.js';
import { BackupmateError } from '../../domain/errors.js';
import { checkKey, notFound, type PutOptions, type UnfinishedUpload } from '../storage.js';
import type { DriverEntry, StorageDriver } from './driver.js';
import { FILE_LIMITS } from './limits.js';
import { classifyChain, errnoClass, type ErrorClass } from './net-errors.js';

const PARTIAL = '.partial-';

/** Errno codes that mean "no such object" when opening or statting a key's path. */
const NOT_FOUND_ERRNO = new Set(['ENOENT', 'ENOTDIR']);

/**
 * Pure: what a file store error means. Our own `notFound()` is 'not-found'; a wrapped errno error
 * is read by its code (see net-errors.ts: EIO/EAGAIN/EBUSY/ESTALE transient; ENOSPC/EDQUOT/EFBIG/
 * EACCES/EPERM/EROFS permanent); anything unrecognised is permanent. A bare ENOENT from the
 * filesystem stays permanent: get/head turn a missing object into not-found themselves, while
 * ENOENT elsewhere (the root vanished under a put) is no answer about an object.
 */
export function classifyFile(error: unknown): ErrorClass {
  return classifyChain(error, (e) => errnoClass((e as { code?: unknown }).code));
}

export class FileStorage implements StorageDriver {
  readonly name = 'file';
  readonly limits = FILE_LIMITS;

  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `file://${path.resolve(root)}`;
  }

  classify(error: unknown): ErrorClass {
    return classifyFile(error);
  }

  private pathOf(key: string): string {
    checkKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const final = this.pathOf(key);
    const partial = `${final}${PARTIAL}${randomBytes(4).toString('hex')}`;
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    // Heard at once: a body that fails while we are still creating directories must make put
    // reject, not crash the process with an unhandled 'error' event.
    let earlyError: unknown = null;
    const onEarly = (e: unknown) => (earlyError ??= e);
    source.on('error', onEarly);
    try {
      await fs.mkdir(path.dirname(final), { recursive: true });
      source.off('error', onEarly);
      if (earlyError) throw earlyError;
      const out = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
      await pipeline(source, out, { signal: options.signal });
      const fh = await fs.open(partial, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
      await fs.rename(partial, final);
    } catch (e) {
      source.off('error', onEarly);
      if (!Buffer.isBuffer(body)) body.destroy();
      await fs.rm(partial, { force: true }).catch(() => {});
      throw wrapIo(e, `writing ${key} to ${this.description}`);
    }
  }

  /**
   * Create-if-absent by link(2): the body is written and fsynced under a partial name, then
   * linked to the key, which fails with EEXIST when another writer got there first. Atomic on
   * local filesystems and on NFSv3+ (link is one server operation).
   */
  async putIfAbsent(key: string, body: Buffer): Promise<boolean> {
    const final = this.pathOf(key);
    const partial = `${final}${PARTIAL}${randomBytes(4).toString('hex')}`;
    try {
      await fs.mkdir(path.dirname(final), { recursive: true });
      const fh = await fs.open(partial, 'wx', 0o600);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.link(partial, final);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw wrapIo(e, `creating ${key} in ${this.description}`);
    } finally {
      await fs.rm(partial, { force: true }).catch(() => {});
    }
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const p = this.pathOf(key);
    const fh = await fs.open(p, 'r').catch((e: NodeJS.ErrnoException) => {
      if (NOT_FOUND_ERRNO.has(e.code ?? '')) throw notFound(this, key);
      throw wrapIo(e, `reading ${key} from ${this.description}`);
    });
    return createReadStream('', { fd: fh, highWaterMark: 1 << 20, signal: options.signal });
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const st = await fs.stat(this.pathOf(key));
      return st.isFile() ? { size: st.size } : null;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (NOT_FOUND_ERRNO.has(code ?? '')) return null;
      throw wrapIo(e, `checking ${key} in ${this.description}`);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    // Walk only the directory that can hold the prefix, then filter by the full key.
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const walk = async (dirKey: string): Promise<void> => {
      const dir = dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root;
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw wrapIo(e, `listing ${dirKey || '/'} in ${this.description}`);
      }
      for (const ent of entries) {
        const key = dirKey ? `${dirKey}/${ent.name}` : ent.name;
        if (ent.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(key + '/')) await walk(key);
        } else if (ent.isFile() && key.startsWith(prefix) && !ent.name.includes(PARTIAL)) {
          const st = await fs.stat(path.join(dir, ent.name));
          out.push({ key, size: st.size, lastModified: st.mtime });
        }
      }
    };
    await walk(baseKey);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listUnfinished(prefix: string): Promise<UnfinishedUpload[]> {
    const out: UnfinishedUpload[] = [];
    const slash = prefix.lastIndexOf('/');
    const walk = async (dirKey: string): Promise<void> => {
      const dir = dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root;
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const ent of entries) {
        const key = dirKey ? `${dirKey}/${ent.name}` : ent.name;
        if (ent.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(key + '/')) await walk(key);
        } else if (ent.isFile() && key.startsWith(prefix) && ent.name.includes(PARTIAL)) {
          const st = await fs.stat(path.join(dir, ent.name)).catch(() => null);
          out.push({ key: key.slice(0, key.indexOf(PARTIAL)), handle: key, startedAt: st?.mtime ?? null });
        }
      }
    };
    await walk(slash >= 0 ? prefix.slice(0, slash) : '');
    return out;
  }

  async abortUnfinished(u: UnfinishedUpload): Promise<void> {
    if (!u.handle.includes(PARTIAL)) throw new BackupmateError('INTERNAL', `not a partial file: ${u.handle}`);
    await fs.rm(path.join(this.root, ...u.handle.split('/')), { force: true });
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const p = this.pathOf(key);
      await fs.rm(p, { force: true });
      // Remove directories left empty, up to the root, so deleted backups leave no husk.
      let dir = path.dirname(p);
      while (path.resolve(dir) !== path.resolve(this.root)) {
        try {
          await fs.rmdir(dir);
        } catch {
          break;
        }
        dir = path.dirname(dir);
      }
    }
  }
}

function wrapIo(e: unknown, doing: string): unknown {
  if (e instanceof BackupmateError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.name === 'AbortError') return e;
  return new BackupmateError('STORAGE', `${doing} failed: ${err?.message ?? String(e)}`, { errno: err?.code }, { cause: e });
}

/** STORAGE=file: objects under STORAGE_PATH. */
export const fileDriver: DriverEntry = {
  limits: FILE_LIMITS,
  create: (c) => new FileStorage(c.STORAGE_PATH),
};
