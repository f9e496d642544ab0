/**
 * The store lock: one writer at a time per store prefix. A backup (with its retention), a prune
 * and a restore from the store take it; a second one finds it held and is refused AT ONCE with
 * STORE_LOCKED, naming the holder (host, pid, job, since when). Two hosts (or a daemon and a cron
 * job) interleaving a chain in one prefix is a known way to lose a repository (pgbackrest#2609).
 *
 * Where: `<root>.backupmate-lock/` beside the backup prefixes (lockDirFor: the deepest folder
 * holding all of them), outside every backup directory, so no catalog ever sees it.
 *
 * How, chosen per store by a probe (`probeConditionalCreate`, once per process and store):
 * - stores that honour create-if-absent (file store: link(2); AWS S3 since 2024, MinIO, Ceph:
 *   `If-None-Match: *`): the lock is ONE object, `holder.json`, created conditionally. Exactly
 *   one of two concurrent writers creates it; the other reads the holder and is refused.
 * - stores that ignore the condition (s3rver answers 200 and overwrites; the probe writes one key
 *   twice and sees the second create "succeed"): each writer puts its own `<nonce>.json`, then
 *   lists the folder (S3 listings are read-after-write consistent). Anyone else's live entry
 *   there = refused; its own entry is deleted. Two writers that start in the same instant can
 *   both see each other: each backs off once for a random moment and looks again, so one of them
 *   proceeds (in the rare case both retreat again, both are refused: safe, never both run).
 *
 * A holder is dead when its lease expired (it renews every lease/3 while its job runs) or when it
 * is on this host and its pid is gone (kill -9, power loss of a container); a dead holder's lock
 * is taken over with a warning line naming it. A job whose lease could not be renewed before it
 * ran out, or whose lock was taken, is aborted through `StoreLock.lost`: another writer may now
 * be at work and two writers must never interleave.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { isNotFound, readAll, type Storage } from './storage.js';

export const LOCK_DIR_NAME = '.backupmate-lock/';
export const HOLDER_NAME = 'holder.json';

/** What a lock object says about its holder. */
export interface LockHolder {
  version: 1;
  host: string;
  pid: number;
  /** What it does: backup, prune, restore, copy... */
  job: string;
  /** When it took the lock (ISO). */
  since: string;
  /** Its lease ends here unless renewed (ISO). */
  expiresAt: string;
  /** Unique per acquisition: tells our own object from another's. */
  nonce: string;
}

/**
 * Pure: the folder of the lock for a store layout: the deepest folder that holds every backup
 * prefix ('db1/full/' + 'db1/incremental/' -> 'db1/.backupmate-lock/'; no common folder -> the
 * store's root). Two configurations sharing a prefix therefore share a lock.
 */
export function lockDirFor(prefixes: readonly string[]): string {
  const split = prefixes.map((p) => p.split('/').filter((s) => s !== ''));
  const common: string[] = [];
  for (let i = 0; split.length && split.every((s) => i < s.length && s[i] === split[0][i]); i++) common.push(split[0][i]);
  // A prefix is itself a backup folder: the lock may not live inside one of them.
  while (common.length && split.some((s) => s.length === common.length)) common.pop();
  return (common.length ? common.join('/') + '/' : '') + LOCK_DIR_NAME;
}

/** Pure: a lock object's text, or null when it is not one (unparsable, other fields). */
export function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (h.version !== 1 || typeof h.host !== 'string' || !Number.isInteger(h.pid) || typeof h.job !== 'string') return null;
    if (typeof h.since !== 'string' || typeof h.expiresAt !== 'string' || typeof h.nonce !== 'string') return null;
    if (Number.isNaN(Date.parse(h.since)) || Number.isNaN(Date.parse(h.expiresAt))) return null;
    return h as LockHolder;
  } catch {
    return null;
  }
}

/** Pure: "backup by pid 4711 on db1 since 2026-12-02T16:00:00.000Z (lease until ...)". */
export function holderText(h: LockHolder): string {
  return `${h.job} by pid ${h.pid} on ${h.host} since ${h.since} (lease until ${h.expiresAt})`;
}

export type HolderVerdict = { state: 'ours' } | { state: 'live' } | { state: 'dead'; why: string };

/**
 * Pure: is `h` a writer at work? Dead when its lease expired, or when it is on this host and its
 * pid no longer runs. A live pid on another host cannot be checked from here: only the lease
 * tells (hence the renewal).
 */
export function judgeHolder(h: LockHolder, me: { host: string; nonce: string; now: Date; pidAlive: (pid: number) => boolean }): HolderVerdict {
  if (h.nonce === me.nonce) return { state: 'ours' };
  if (Date.parse(h.expiresAt) <= me.now.getTime()) return { state: 'dead', why: `its lease expired at ${h.expiresAt}` };
  if (h.host === me.host && !me.pidAlive(h.pid)) return { state: 'dead', why: `pid ${h.pid} no longer runs on ${h.host}` };
  return { state: 'live' };
}

/** Whether `pid` runs on this host (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const probes = new Map<string, Promise<boolean>>();

/**
 * Does `storage` honour create-if-absent? Creates a probe key twice: a store that answers the
 * second create with "created" ignores the condition. Cached per store and folder for the
 * process; the probe key is removed again.
 */
export function probeConditionalCreate(storage: Storage, dir: string, logger?: Logger): Promise<boolean> {
  const putIfAbsent = storage.putIfAbsent?.bind(storage);
  if (!putIfAbsent) return Promise.resolve(false);
  const cacheKey = `${storage.description}\0${dir}`;
  let p = probes.get(cacheKey);
  if (!p) {
    p = (async () => {
      const key = `${dir}probe-${randomBytes(6).toString('hex')}`;
      try {
        const first = await putIfAbsent(key, Buffer.from('probe\n'));
        const second = await putIfAbsent(key, Buffer.from('probe\n'));
        const honoured = first && !second;
        logger?.debug(
          honoured
            ? `${storage.description} honours conditional creates: the store lock is one object created with If-None-Match`
            : `${storage.description} ignores conditional creates (If-None-Match): the store lock falls back to one object per writer and a listing`,
          { event: 'lock.probe', store: storage.description, conditional: honoured },
        );
        return honoured;
      } finally {
        await storage.delete([key]).catch(() => {});
      }
    })();
    probes.set(cacheKey, p);
    p.catch(() => probes.delete(cacheKey));
  }
  return p;
}

export interface LockOptions {
  /** The lock's folder in the store (lockDirFor). */
  dir: string;
  job: string;
  leaseMs: number;
  logger: Logger;
  /** Injectable for tests. */
  host?: string;
  pid?: number;
  now?: () => Date;
  pidAlive?: (pid: number) => boolean;
  /** The random back-off of the listing scheme after a tie, ms (default 200-1200). */
  backoffMs?: () => number;
}

export interface StoreLock {
  readonly holder: LockHolder;
  /** Aborted (reason: STORE_LOCKED) when the lock was lost: the job must stop. */
  readonly lost: AbortSignal;
  /** Stops the renewal and removes our lock object; never throws (a leftover lease just expires). */
  release(): Promise<void>;
}

export function lockedError(storage: Storage, h: LockHolder, dir: string): BackupmateError {
  return new BackupmateError(
    'STORE_LOCKED',
    `another backupmate is at work on ${storage.description} (${dir}): ${holderText(h)}; ` +
      'wait for it to finish or stop it (a holder that died is taken over once its lease expires, or at once on its own host)',
    { holder: h, lock: dir },
  );
}

async function readHolder(storage: Storage, key: string): Promise<LockHolder | null | 'unreadable'> {
  try {
    return parseHolder((await readAll(await storage.get(key))).toString('utf8')) ?? 'unreadable';
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** Takes the lock of `opts.dir` in `storage`, or throws STORE_LOCKED naming the holder. */
export async function acquireStoreLock(storage: Storage, opts: LockOptions): Promise<StoreLock> {
  const now = opts.now ?? (() => new Date());
  const me = {
    host: opts.host ?? os.hostname(),
    nonce: randomBytes(8).toString('hex'),
    pidAlive: opts.pidAlive ?? pidAlive,
  };
  const started = now();
  const holder: LockHolder = {
    version: 1,
    host: me.host,
    pid: opts.pid ?? process.pid,
    job: opts.job,
    since: started.toISOString(),
    expiresAt: new Date(started.getTime() + opts.leaseMs).toISOString(),
    nonce: me.nonce,
  };
  const log = opts.logger;
  const judge = (h: LockHolder) => judgeHolder(h, { ...me, now: now() });
  const takeOver = async (key: string, h: LockHolder, why: string) => {
    log.warn(`taking over the store lock of ${holderText(h)}: ${why}`, { event: 'lock.takeover', lock: opts.dir, holder: h, why });
    await storage.delete([key]);
  };
  const conditional = await probeConditionalCreate(storage, opts.dir, log);
  let key: string;
  if (conditional) {
    key = opts.dir + HOLDER_NAME;
    for (let attempt = 0; ; attempt++) {
      if (await storage.putIfAbsent!(key, holderBody(holder))) break;
      const h = await readHolder(storage, key);
      if (h === null) continue; // released in between: create again
      if (h === 'unreadable') throw unreadableError(storage, key);
      const v = judge(h);
      if (v.state === 'ours') break; // a retried create whose first attempt landed
      if (v.state === 'live' || attempt >= 2) throw lockedError(storage, h, opts.dir);
      await takeOver(key, h, v.why);
    }
  } else {
    key = `${opts.dir}${me.nonce}.json`;
    for (let attempt = 0; ; attempt++) {
      await storage.put(key, holderBody(holder), { role: 'lock' });
      const others: LockHolder[] = [];
      for (const o of await storage.list(opts.dir)) {
        if (o.key === key || !o.key.endsWith('.json')) continue;
        const h = await readHolder(storage, o.key);
        if (h === null || h === 'unreadable') continue;
        const v = judge(h);
        if (v.state === 'dead') await takeOver(o.key, h, v.why);
        else if (v.state === 'live') others.push(h);
      }
      if (!others.length) break;
      await storage.delete([key]);
      if (attempt >= 1) throw lockedError(storage, others.sort((a, b) => a.since.localeCompare(b.since))[0], opts.dir);
      await new Promise((r) => setTimeout(r, opts.backoffMs?.() ?? 200 + Math.floor(Math.random() * 1000)));
    }
  }
  log.info(`took the store lock ${opts.dir} for ${opts.job}`, { event: 'lock.acquired', lock: opts.dir, job: opts.job, conditional });
  return startLease(storage, key, holder, opts, now);
}

function holderBody(h: LockHolder): Buffer {
  return Buffer.from(JSON.stringify(h) + '\n');
}

function unreadableError(storage: Storage, key: string): BackupmateError {
  return new BackupmateError(
    'STORE_LOCKED',
    `the store lock ${key} on ${storage.description} is not a backupmate lock object (unreadable): if no other backupmate runs on this prefix, delete it`,
    { lock: key },
  );
}

/** Renews the lease every leaseMs/3 while the job runs; aborts `lost` when it cannot hold it. */
function startLease(storage: Storage, key: string, holder: LockHolder, opts: LockOptions, now: () => Date): StoreLock {
  const lost = new AbortController();
  const log = opts.logger;
  let current = holder;
  let stopped = false;
  let renewing: Promise<void> = Promise.resolve();
  const fail = (message: string) => {
    log.error(message, { event: 'lock.lost', lock: opts.dir, job: opts.job });
    lost.abort(new BackupmateError('STORE_LOCKED', message, { lock: opts.dir }));
  };
  const renew = async () => {
    try {
      const h = await readHolder(storage, key);
      if (h === null || h === 'unreadable' || h.nonce !== holder.nonce) {
        return fail(`the store lock ${opts.dir} was taken from this ${opts.job}${h && h !== 'unreadable' ? ` by ${holderText(h)}` : ''}: stopping it`);
      }
      const next = { ...current, expiresAt: new Date(now().getTime() + opts.leaseMs).toISOString() };
      await storage.put(key, holderBody(next), { role: 'lock' });
      current = next;
      log.debug(`renewed the store lock ${opts.dir} until ${next.expiresAt}`, { event: 'lock.renewed', lock: opts.dir });
    } catch (e) {
      if (Date.parse(current.expiresAt) <= now().getTime()) {
        return fail(`the store lock ${opts.dir} could not be renewed before its lease ran out (${errorText(e)}): stopping this ${opts.job}`);
      }
      log.warn(`renewing the store lock ${opts.dir} failed (${errorText(e)}); trying again`, { event: 'lock.renew_failed', lock: opts.dir });
    }
  };
  const timer = setInterval(() => {
    if (stopped || lost.signal.aborted) return;
    renewing = renewing.then(renew);
  }, Math.max(1000, Math.floor(opts.leaseMs / 3)));
  timer.unref();
  return {
    holder,
    lost: lost.signal,
    async release() {
      stopped = true;
      clearInterval(timer);
      await renewing;
      try {
        const h = await readHolder(storage, key);
        if (h !== null && h !== 'unreadable' && h.nonce === holder.nonce) await storage.delete([key]);
        log.info(`released the store lock ${opts.dir}`, { event: 'lock.released', lock: opts.dir, job: opts.job });
      } catch (e) {
        log.warn(`releasing the store lock ${opts.dir} failed (${errorText(e)}): it expires at ${current.expiresAt}`, { event: 'lock.release_failed', lock: opts.dir });
      }
    },
  };
}

/**
 * Runs `fn` holding the lock; `fn` gets a signal that aborts when the caller's does or the lock is
 * lost. Released at the end, also on failure.
 */
export async function withStoreLock<T>(
  storage: Storage,
  opts: LockOptions & { signal?: AbortSignal },
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const lock = await acquireStoreLock(storage, opts);
  try {
    const signal = opts.signal ? AbortSignal.any([opts.signal, lock.lost]) : lock.lost;
    return await fn(signal);
  } finally {
    await lock.release();
  }
}
