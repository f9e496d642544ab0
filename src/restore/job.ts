/**
 * The generic parts of a restore that restore/source-restore.ts (THE restore, over the Source
 * port) is built from: the download/apply pipeline of a chain (downloads in chain order, each
 * member applied as soon as it is downloaded and verified and the one before it is applied), the
 * volume presence check, staging directories (created parents, writability), manifest MACs, and
 * the settings a restore is configured with. The mariabackup specifics (prepare, copy-back/
 * move-back, the restore marker, the running-server check) are in sources/physical/restore.ts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BackupmateError, errorText } from '../domain/errors.js';
import { authenticateManifest } from '../domain/mac.js';
import type { Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import type { ConnectionSettings } from '../mariadb/mariabackup.js';
import type { LayoutEntry } from '../sources/registry.js';
import { mapLimit, type CatalogEntry } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';

export type { RestoreMode } from '../sources/source.js';

/**
 * Backups of a chain downloaded and extracted at once, in chain order. One: prepare is a strict
 * chain (the full, then each incremental), so what shortens a restore is each backup arriving as
 * early as possible in that order, above all the full. Measured on 2 cores with s3rver (full
 * 748 MiB stored + 3 × 120 MiB incrementals, medians of 3): one at a time, prepare overlapped
 * 2.2 s of the downloads and the restore took 11.7 s; two at a time, the incrementals competed
 * with the full for the cores and were all done before it, so nothing overlapped: 13.3 s (and
 * the downloads as a whole were no faster). Each download runs its own decompressor and mbstream.
 */
export const DOWNLOAD_CONCURRENCY = 1;

/** HEAD requests in flight while checking that every volume of the chain exists with its size. */
const HEAD_CONCURRENCY = 8;

export interface RestoreSettings {
  fullPrefix: string;
  incrementalPrefix: string;
  /** The whole store layout (sources/registry.ts); absent: the standard one of the prefixes. */
  layout?: readonly LayoutEntry[];
  tempDir: string;
  mariabackupPath: string;
  mbstreamPath: string;
  datadir: string;
  osUser: string;
  /** DB_SOCKET: a server answering there counts as running on the target only if its @@datadir is the target. */
  socket: string;
  /**
   * The DB_* connection, to ask the DB_SOCKET server for its @@datadir. Absent: a server
   * answering on DB_SOCKET says nothing about the target (the pid file, process and lock checks decide).
   */
  connection?: ConnectionSettings;
  /** AGE_IDENTITY_FILE: the private age identity for encrypted backups ('' = none). */
  ageIdentityFile?: string;
  /** MANIFEST_HMAC_KEY: when set, every manifest of the chain must carry a valid MAC ('' = none). */
  manifestHmacKey?: string;
  /** MARIABACKUP_PARALLEL: --parallel of --copy-back/--move-back (absent = mariabackup's default). */
  parallel?: number;
  /** PREPARE_USE_MEMORY: --use-memory of mariabackup --prepare, in bytes (absent = mariabackup's default). */
  prepareUseMemory?: number;
}

/**
 * `mkdir -p dir` (mode 0700); returns the directories it created, deepest first. A failure is
 * LOCAL_IO naming `what`, the directory and the errno.
 */
export async function makeParents(dir: string, what: string): Promise<string[]> {
  let first: string | undefined;
  try {
    first = await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw localIo(dir, what, e, 'cannot be created');
  }
  const created: string[] = [];
  if (first === undefined) return created;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    created.push(d);
    if (d === path.resolve(first) || path.dirname(d) === d) break;
  }
  return created;
}

/** Removes `dirs` in order (deepest first), each only if empty; stops at the first that is not. */
export async function removeIfEmpty(dirs: readonly string[]): Promise<void> {
  for (const d of dirs) {
    try {
      await fs.rmdir(d);
    } catch {
      return;
    }
  }
}

/**
 * The restore unpacks into `dir`: it must be writable. Probed by creating and removing a
 * directory, since free space says nothing about a read-only mount or missing permission, and
 * access(2) as root ignores the mode bits that do not stop root anyway (an immutable directory does).
 */
export async function probeWritable(dir: string, what: string, mkdtemp: (prefix: string) => Promise<string> = (p) => fs.mkdtemp(p)): Promise<void> {
  let probe: string;
  try {
    probe = await mkdtemp(path.join(dir, '.backupmate-write-probe-'));
  } catch (e) {
    throw localIo(dir, what, e, 'is not writable');
  }
  await fs.rmdir(probe).catch(() => {});
}

/** LOCAL_IO for a staging directory: what it is, where, and the errno in words. */
function localIo(dir: string, what: string, e: unknown, fallback: string): BackupmateError {
  const code = (e as NodeJS.ErrnoException).code;
  const how =
    code === 'EROFS'
      ? 'is read-only'
      : code === 'EACCES'
        ? 'is not writable: permission denied'
        : code === 'EPERM'
          ? 'is not writable: operation not permitted (immutable? see lsattr)'
          : code === 'ENOSPC'
            ? 'is on a full filesystem'
            : code === 'ENOTDIR'
              ? 'is not a directory (a path component is a file)'
              : fallback;
  return new BackupmateError(
    'LOCAL_IO',
    `${what} ${dir} ${how} (${code ?? errorText(e)}): the restore unpacks the backup there; give a writable directory with room for it`,
    { errno: code, dir },
  );
}

/** The error a cancelled job reports: the signal's reason when it is ours (it says who cancelled), else CANCELLED. */
export function cancellation(signal: AbortSignal | undefined): BackupmateError {
  const reason: unknown = signal?.reason;
  if (reason instanceof BackupmateError) return reason;
  return new BackupmateError('CANCELLED', 'the restore was cancelled', {}, { cause: reason });
}

/** Calls `f`; a synchronous throw becomes a rejected promise. */
function attempt<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Checks, before anything is downloaded, that every volume of the chain exists with the size its
 * manifest records: HEAD requests with bounded concurrency. All settle, then the first problem
 * in chain order (the full first, volumes in order) is thrown: INTEGRITY naming the object, or
 * the store's error.
 */
export async function checkVolumes(
  storage: Pick<Storage, 'head' | 'description'>,
  chain: readonly CatalogEntry[],
  concurrency = HEAD_CONCURRENCY,
): Promise<void> {
  const volumes = chain.flatMap(({ dir, manifest: m }) => m.volumes.map((v) => ({ m, key: dir.dir + v.name, size: v.size })));
  const problems = await mapLimit(volumes, concurrency, async ({ m, key, size }): Promise<{ error: unknown } | null> => {
    try {
      const head = await storage.head(key);
      if (!head) return { error: new BackupmateError('INTEGRITY', `backup ${m.id}: volume ${key} is missing from ${storage.description}`, { key }) };
      if (head.size !== size) {
        return { error: new BackupmateError('INTEGRITY', `backup ${m.id}: volume ${key} has ${head.size} bytes, the manifest says ${size}`, { key }) };
      }
      return null;
    } catch (error) {
      return { error };
    }
  });
  const first = problems.find((p) => p !== null);
  if (first) throw first.error;
}

/** What the download/prepare pipeline of a chain may start next (see {@link nextSteps}). */
export interface PipelineState {
  /** Per chain position (0 = the full): its download is waiting, running or done (and verified). */
  downloads: readonly ('waiting' | 'running' | 'done')[];
  /** How many positions are prepared: 0 = none, 1 = the full, k = the full and k-1 incrementals. */
  prepared: number;
  /** A prepare step (mariabackup --prepare) is running. */
  preparing: boolean;
  /** Something failed or the job was cancelled: nothing new starts. */
  stopped: boolean;
}

export interface NextSteps {
  /** Positions whose download starts now, in chain order. */
  downloads: number[];
  /** The position prepared now (0: prepare the full; k: apply incremental k), or null. */
  prepare: number | null;
}

/**
 * The scheduling rule, pure: downloads start in chain order while fewer than `concurrency` run;
 * position k is prepared only when its own download is done, positions 0..k-1 are prepared and
 * no other prepare runs (so each staging directory is applied exactly once, strictly in order).
 * Nothing starts once the pipeline is stopped.
 */
export function nextSteps(st: PipelineState, concurrency: number): NextSteps {
  const next: NextSteps = { downloads: [], prepare: null };
  if (st.stopped) return next;
  let running = st.downloads.filter((d) => d === 'running').length;
  for (let i = 0; i < st.downloads.length && running < concurrency; i++) {
    if (st.downloads[i] === 'waiting') {
      next.downloads.push(i);
      running++;
    }
  }
  if (!st.preparing && st.prepared < st.downloads.length && st.downloads[st.prepared] === 'done') next.prepare = st.prepared;
  return next;
}

export interface ChainPipelineOptions {
  /** Backups in the chain; position 0 is the full. */
  count: number;
  /** Downloads running at once (at least 1). */
  concurrency: number;
  /** Downloads, verifies and extracts position i; resolves with the bytes downloaded. Must stop when `signal` aborts. */
  download: (i: number, signal: AbortSignal) => Promise<number>;
  /** Prepares position i (the full) or applies it (an incremental). Must stop when `signal` aborts. */
  prepare: (i: number, signal: AbortSignal) => Promise<void>;
  /** Called once, when the last download finished (not after a failure): bytes per position, and the time. */
  onDownloadsDone?: (bytes: number[], at: number) => void;
  /** Cancellation of the whole job. */
  signal?: AbortSignal;
  /** Clock (tests). */
  now?: () => number;
}

export interface ChainPipelineResult {
  /** Bytes downloaded per position. */
  bytes: number[];
  /** When the last download finished. */
  downloadsDoneAt: number;
  /** When the last prepare step finished. */
  preparedAt: number;
  /** Time spent inside prepare steps. */
  prepareBusyMs: number;
  /** Of that, the time while downloads were still running. */
  prepareOverlapMs: number;
}

/**
 * Runs the downloads and prepare steps of a chain as {@link nextSteps} allows. The first failure
 * of any step (or the cancellation of `signal`) stops everything: nothing new starts, running
 * steps are aborted through their signal, all settle, then the first error is thrown (the root
 * cause, not the "cancelled" of the steps it stopped).
 */
export async function runChainPipeline(o: ChainPipelineOptions): Promise<ChainPipelineResult> {
  const now = o.now ?? Date.now;
  const stop = new AbortController();
  let failure: { error: unknown } | null = null;
  const fail = (error: unknown) => {
    failure ??= { error };
    stop.abort(failure.error);
  };
  const onOuterAbort = () => fail(cancellation(o.signal));
  if (o.signal?.aborted) onOuterAbort();
  else o.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const downloads: ('waiting' | 'running' | 'done')[] = Array.from({ length: o.count }, () => 'waiting');
  const bytes: number[] = Array.from({ length: o.count }, () => 0);
  const prepareSpans: [number, number][] = [];
  let prepared = 0;
  let preparing = false;
  let downloadsDoneAt = o.count === 0 ? now() : NaN;
  // Every running step, as a promise that never rejects (failures go to `fail`).
  const running = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    const t: Promise<void> = p.catch(fail).finally(() => running.delete(t));
    running.add(t);
  };
  try {
    for (;;) {
      const next = nextSteps({ downloads, prepared, preparing, stopped: failure !== null }, Math.max(1, o.concurrency));
      for (const i of next.downloads) {
        downloads[i] = 'running';
        track(
          attempt(() => o.download(i, stop.signal)).then((n) => {
            bytes[i] = n;
            downloads[i] = 'done';
            if (downloads.every((d) => d === 'done')) {
              downloadsDoneAt = now();
              if (!failure) o.onDownloadsDone?.(bytes, downloadsDoneAt);
            }
          }),
        );
      }
      if (next.prepare !== null) {
        const i = next.prepare;
        const t = now();
        preparing = true;
        track(
          attempt(() => o.prepare(i, stop.signal)).then(
            () => {
              prepareSpans.push([t, now()]);
              prepared = i + 1;
              preparing = false;
            },
            (e) => {
              preparing = false;
              throw e;
            },
          ),
        );
      }
      if (running.size === 0) break;
      await Promise.race(running);
    }
  } finally {
    o.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (failure) throw (failure as { error: unknown }).error;
  if (prepared !== o.count) throw new BackupmateError('INTERNAL', `restore pipeline ended with ${prepared} of ${o.count} backups prepared`);
  const busy = prepareSpans.reduce((a, [s, e]) => a + (e - s), 0);
  const overlap = prepareSpans.reduce((a, [s, e]) => a + Math.max(0, Math.min(e, downloadsDoneAt) - s), 0);
  const preparedAt = prepareSpans.length ? prepareSpans[prepareSpans.length - 1][1] : downloadsDoneAt;
  return { bytes, downloadsDoneAt, preparedAt, prepareBusyMs: busy, prepareOverlapMs: overlap };
}

/**
 * Authenticates the manifest of `targetId` and of every backup its parent links reach (as far as
 * they reach: resolveRestoreChain names a missing link). Throws INTEGRITY naming the first
 * backup whose MAC is wrong or missing while MANIFEST_HMAC_KEY is set; logs a warning for a MAC
 * that cannot be checked because no key is set.
 */
export function authenticateChain(manifests: readonly Manifest[], targetId: string, key: string, logger: Logger): Manifest[] {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const reached: Manifest[] = [];
  const seen = new Set<string>();
  let cur = byId.get(targetId);
  while (cur && !seen.has(cur.id)) {
    seen.add(cur.id);
    reached.push(cur);
    cur = cur.parentId ? byId.get(cur.parentId) : undefined;
  }
  // The full first: the oldest link is named when several were changed.
  for (const m of reached.reverse()) {
    const verdict = authenticateManifest(m, key);
    if (verdict.state === 'unverifiable') logger.warn(verdict.warning, { event: 'manifest.unauthenticated', backupId: m.id });
  }
  return reached;
}
