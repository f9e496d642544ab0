/**
 * The second store (COPY_STORAGE): every backup of the primary also reaches the copy.
 *
 * Contract:
 * - `syncCopy` copies every valid backup of the primary the copy lacks (no valid manifest there),
 *   oldest first, so a full reaches the copy before its incrementals. Called after every stored
 *   backup and at daemon start: a copy that was down is caught up by the next run, without a
 *   schedule of its own.
 * - Per backup, every object but the manifest is streamed from the primary to the copy; the
 *   manifest goes LAST, so the copy holds a valid-looking backup only once all of it is there
 *   (the same rule as the primary; a killed copy leaves an incomplete directory that the copy's
 *   own prune removes after INCOMPLETE_GRACE_HOURS).
 * - sha256-checked: a volume's bytes are hashed as they flow and must equal the manifest's sum,
 *   else its put fails (the body errors, so the copy never shows the object); every other object
 *   (SHA256SUMS, directory-source files without a recorded sum) is read back from the copy and
 *   compared with the hash of what was sent; sizes are compared with the copy's head.
 * - The copy's own store lock is held while writing (job 'copy').
 * - Failures never throw: the result says what was copied and why it stopped; the callers report
 *   it (log line 'copy.failed', status, notification). The primary and its backup stay as they are.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BackupmateError, errorText } from '../domain/errors.js';
import { MANIFEST_NAME, type Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import type { LayoutEntry } from '../sources/registry.js';
import { readCatalog, type CatalogEntry } from './catalog.js';
import { withStoreLock, type LockOptions } from './lock.js';
import { readAll, type Storage } from './storage.js';

export interface CopyResult {
  /** The copy store's description. */
  store: string;
  /** Backup ids copied by this run, oldest first. */
  copied: string[];
  /** Backups of the primary the copy still lacks after this run (0 when caught up). */
  missing: number;
  /** Why the run stopped early, or null. */
  error: string | null;
  errorCode: string | null;
}

/** Pure: the primary's backups the copy lacks, oldest first (ids sort by time). */
export function backupsToCopy(primary: readonly CatalogEntry[], copyIds: ReadonlySet<string>): CatalogEntry[] {
  return primary.filter((b) => !copyIds.has(b.manifest.id)).sort((a, b) => a.manifest.id.localeCompare(b.manifest.id));
}

/** Hashes the bytes that pass; fails the stream at its end when they do not match `expected`. */
class CheckedHash extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  digest = '';
  constructor(
    private readonly expected: string | undefined,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    if (this.expected !== undefined && this.digest !== this.expected) {
      cb(new BackupmateError('INTEGRITY', `copying ${this.what}: sha256 ${this.digest} of the primary's object differs from the manifest's ${this.expected}; not copied`));
      return;
    }
    cb();
  }
}

/** Copies one backup: every object, then its manifest. Throws on the first failure. */
export async function copyBackup(primary: Storage, copy: Storage, entry: CatalogEntry, signal?: AbortSignal): Promise<void> {
  const dir = entry.dir.dir;
  const m: Manifest = entry.manifest;
  const sums = new Map(m.volumes.map((v) => [dir + v.name, v.sha256]));
  const manifestKey = dir + MANIFEST_NAME;
  const objects = entry.dir.objects.filter((o) => o.key !== manifestKey).sort((a, b) => a.key.localeCompare(b.key));
  for (const o of objects) {
    signal?.throwIfAborted();
    const expected = sums.get(o.key);
    const hashing = new CheckedHash(expected, o.key);
    const source = await primary.get(o.key, { signal });
    source.on('error', (e) => hashing.destroy(e));
    source.pipe(hashing);
    await copy.put(o.key, hashing, { signal, role: expected ? 'data' : 'metadata' });
    const head = await copy.head(o.key);
    if (!head || head.size !== hashing.bytes) {
      throw new BackupmateError('INTEGRITY', `copy of ${o.key} on ${copy.description} has ${head ? head.size : 'no'} bytes, sent ${hashing.bytes}`);
    }
    if (expected === undefined) {
      const back = createHash('sha256').update(await readAll(await copy.get(o.key, { signal }))).digest('hex');
      if (back !== hashing.digest) throw new BackupmateError('INTEGRITY', `copy of ${o.key} on ${copy.description} reads back with sha256 ${back}, sent ${hashing.digest}`);
    }
  }
  // Last: the manifest, byte for byte as in the primary (its MAC, if any, stays valid).
  const manifest = await readAll(await primary.get(manifestKey, { signal }));
  await copy.put(manifestKey, manifest, { signal, role: 'metadata' });
  const back = await readAll(await copy.get(manifestKey, { signal }));
  if (!back.equals(manifest)) throw new BackupmateError('INTEGRITY', `copy of ${manifestKey} on ${copy.description} reads back differently`);
}

export interface SyncDeps {
  primary: Storage;
  copy: Storage;
  layout: readonly LayoutEntry[];
  logger: Logger;
  /** The copy store's lock (lockDirFor of the same layout, job 'copy'). */
  lock: Omit<LockOptions, 'logger'>;
  signal?: AbortSignal;
}

/** Copies what the copy lacks; never throws (see the header). */
export async function syncCopy(d: SyncDeps): Promise<CopyResult> {
  const log = d.logger;
  const result: CopyResult = { store: d.copy.description, copied: [], missing: 0, error: null, errorCode: null };
  let todo: CatalogEntry[] = [];
  try {
    const primary = await readCatalog(d.primary, d.layout);
    await withStoreLock(d.copy, { ...d.lock, logger: log, signal: d.signal }, async (signal) => {
      const there = await readCatalog(d.copy, d.layout);
      todo = backupsToCopy(primary.backups, new Set(there.backups.map((b) => b.manifest.id)));
      result.missing = todo.length;
      if (todo.length) log.info(`copying ${todo.length} backup(s) to ${d.copy.description}: ${todo.map((b) => b.manifest.id).join(', ')}`, { event: 'copy.start', store: d.copy.description, ids: todo.map((b) => b.manifest.id) });
      for (const entry of todo) {
        const started = Date.now();
        await copyBackup(d.primary, d.copy, entry, signal);
        result.copied.push(entry.manifest.id);
        result.missing--;
        log.info(`copied backup ${entry.manifest.id} to ${d.copy.description}`, {
          event: 'copy.backup',
          store: d.copy.description,
          id: entry.manifest.id,
          objects: entry.dir.objects.length,
          bytes: entry.dir.objects.reduce((a, o) => a + o.size, 0),
          durationMs: Date.now() - started,
        });
      }
    });
  } catch (e) {
    result.error = errorText(e);
    result.errorCode = e instanceof BackupmateError ? e.code : 'INTERNAL';
    if (!todo.length) result.missing = Math.max(result.missing, 0);
    log.warn(
      `the copy to ${d.copy.description} is behind: ${result.error}; the backup in the primary store is fine, the copy is caught up by the next run`,
      { event: 'copy.failed', store: d.copy.description, code: result.errorCode, copied: result.copied, missing: result.missing },
    );
    return result;
  }
  if (!result.copied.length) log.debug(`the copy ${d.copy.description} holds every backup of the primary`, { event: 'copy.end', store: d.copy.description, copied: 0 });
  else log.info(`the copy ${d.copy.description} is caught up`, { event: 'copy.end', store: d.copy.description, copied: result.copied.length });
  return result;
}
