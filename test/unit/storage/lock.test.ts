/**
 * The store lock (src/storage/lock.ts) on a real file store in a temp dir: the conditional-create
 * path (link(2)) and, with putIfAbsent hidden as on a server that ignores If-None-Match, the
 * per-writer-object path. Plus the pure parts: where the lock lives, who is dead, Object Lock
 * holds in prune, the copy's configuration.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../../src/log/logger.js';
import { FileStorage } from '../../../src/storage/drivers/file.js';
import { acquireStoreLock, judgeHolder, lockDirFor, parseHolder, probeConditionalCreate, type LockHolder } from '../../../src/storage/lock.js';
import type { Storage } from '../../../src/storage/storage.js';
import { holdLocked } from '../../../src/retention/object-lock.js';
import { copyConfig, storeConfig } from '../../../src/storage/copy-config.js';
import type { Config } from '../../../src/config/load.js';

const logger = createLogger({ level: 'error', console: 'none' });
let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-lock-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The file store without putIfAbsent: a store that ignores conditional writes. */
function unconditional(s: Storage): Storage {
  return { description: s.description + ' (no conditional)', put: s.put.bind(s), get: s.get.bind(s), head: s.head.bind(s), list: s.list.bind(s), delete: s.delete.bind(s) };
}

const opts = (job: string, extra: object = {}) => ({ dir: 'db1/.backupmate-lock/', job, leaseMs: 60_000, logger, backoffMs: () => 10, ...extra });

describe('lockDirFor', () => {
  it('is the deepest folder holding every prefix, or the root', () => {
    expect(lockDirFor(['db1/full/', 'db1/incremental/'])).toBe('db1/.backupmate-lock/');
    expect(lockDirFor(['a/b/full/', 'a/b/incr/', 'a/b/dirs/'])).toBe('a/b/.backupmate-lock/');
    expect(lockDirFor(['full/', 'incremental/'])).toBe('.backupmate-lock/');
  });
});

describe('judgeHolder', () => {
  const h: LockHolder = { version: 1, host: 'db1', pid: 42, job: 'backup', since: '2026-12-02T10:00:00.000Z', expiresAt: '2026-12-02T10:05:00.000Z', nonce: 'n' };
  const me = { host: 'db1', nonce: 'mine', now: new Date('2026-12-02T10:01:00Z'), pidAlive: () => true };
  it('live while leased and its pid runs', () => expect(judgeHolder(h, me)).toEqual({ state: 'live' }));
  it('dead when the lease expired', () => expect(judgeHolder(h, { ...me, now: new Date('2026-12-02T10:06:00Z') }).state).toBe('dead'));
  it('dead on this host when its pid is gone', () => expect(judgeHolder(h, { ...me, pidAlive: () => false })).toEqual({ state: 'dead', why: 'pid 42 no longer runs on db1' }));
  it('a pid on another host is judged by its lease only', () => expect(judgeHolder(h, { ...me, host: 'db2', pidAlive: () => false }).state).toBe('live'));
  it('parseHolder refuses what is not a lock', () => expect(parseHolder('{"version":2}')).toBeNull());
});

describe.each([
  ['conditional create (file store: link)', (s: Storage) => s, true],
  ['one object per writer (a store that ignores If-None-Match)', unconditional, false],
])('acquireStoreLock, %s', (_name, wrap, conditional) => {
  it('probes the store', async () => {
    expect(await probeConditionalCreate(wrap(new FileStorage(dir)), 'p/')).toBe(conditional);
  });

  it('refuses a second writer at once, naming the holder; free again after release', async () => {
    const store = wrap(new FileStorage(dir));
    const first = await acquireStoreLock(store, opts('backup', { host: 'db1', pid: 1111 }));
    await expect(acquireStoreLock(store, opts('prune'))).rejects.toMatchObject({
      code: 'STORE_LOCKED',
      message: expect.stringMatching(/backup by pid 1111 on db1 since \d{4}-/),
    });
    await first.release();
    const second = await acquireStoreLock(store, opts('prune'));
    await second.release();
    expect(await store.list('db1/.backupmate-lock/')).toEqual([]);
  });

  it('of two simultaneous writers exactly one gets it', async () => {
    const store = wrap(new FileStorage(dir));
    const results = await Promise.allSettled([acquireStoreLock(store, opts('a', { backoffMs: () => 5 })), acquireStoreLock(store, opts('b', { backoffMs: () => 60 }))]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won.length).toBeLessThanOrEqual(1);
    if (conditional) expect(won.length).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code: string }).code).toBe('STORE_LOCKED');
    for (const r of won) await (r as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireStoreLock>>>).value.release();
  });

  it('takes over the lock of a dead pid on this host, and of an expired lease', async () => {
    const store = wrap(new FileStorage(dir));
    const warnings: string[] = [];
    const log = createLogger({ level: 'warn', console: 'none' });
    log.on('data', (info: { message: string }) => warnings.push(info.message));
    const dead = await acquireStoreLock(store, opts('backup', { host: os.hostname(), pid: 999_999_999 }));
    // Never released: as if killed. Its own renewal is stopped so that it stays as it was.
    void dead;
    const taker = await acquireStoreLock(store, { ...opts('backup'), logger: log });
    expect(warnings.some((w) => /taking over the store lock of backup by pid 999999999 .*: pid 999999999 no longer runs/.test(w))).toBe(true);
    await taker.release();
    await dead.release();
    const expired = await acquireStoreLock(store, opts('backup', { host: 'elsewhere', leaseMs: 1, now: () => new Date(Date.now() - 10_000) }));
    const next = await acquireStoreLock(store, opts('prune'));
    await next.release();
    await expired.release();
  });
});

describe('holdLocked (prune around S3 Object Lock)', () => {
  const now = new Date('2026-12-20T00:00:00Z');
  const plan = {
    keep: ['20261215T000000Z'],
    deleteBackups: [
      { id: '20261201T000000Z', kind: 'full', reason: 'old' },
      { id: '20261210T000000Z', kind: 'incremental', reason: 'old' },
    ],
    deleteIncomplete: [],
  };
  const backups = new Map([
    ['20261201T000000Z', { fullId: '20261201T000000Z', finishedAt: '2026-12-01T00:10:00Z' }],
    ['20261210T000000Z', { fullId: '20261201T000000Z', finishedAt: '2026-12-10T00:10:00Z' }],
    ['20261215T000000Z', { fullId: '20261215T000000Z', finishedAt: '2026-12-15T00:10:00Z' }],
  ]);
  it('keeps the whole chain while any member is locked (never the full alone)', () => {
    const r = holdLocked(plan, { backups, incomplete: new Map() }, 14, now);
    expect(r.plan.deleteBackups).toEqual([]);
    expect(r.plan.keep).toEqual(['20261201T000000Z', '20261210T000000Z', '20261215T000000Z']);
    expect(r.held.map((h) => h.until)).toEqual(['2026-12-24T01:10:00.000Z', '2026-12-24T01:10:00.000Z']);
  });
  it('deletes the chain once every lock ended', () => {
    expect(holdLocked(plan, { backups, incomplete: new Map() }, 5, now).plan.deleteBackups).toHaveLength(2);
  });
  it('changes nothing without Object Lock', () => expect(holdLocked(plan, { backups, incomplete: new Map() }, 0, now).plan).toBe(plan));
});

describe('copyConfig', () => {
  const base = { STORAGE: 's3', S3_BUCKET_NAME: 'main', AWS_REGION: 'eu-west-1', COPY_STORAGE: 'file', COPY_STORAGE_PATH: '/mnt/copy', COPY_AWS_REGION: '', COPY_S3_BUCKET_NAME: '', COPY_S3_OBJECT_LOCK_MODE: '', COPY_S3_OBJECT_LOCK_DAYS: 0 } as unknown as Config;
  it('is the configuration with the COPY_ keys as the store keys', () => {
    const c = copyConfig(base)!;
    expect([c.STORAGE, c.STORAGE_PATH, c.AWS_REGION, c.S3_BUCKET_NAME]).toEqual(['file', '/mnt/copy', 'eu-west-1', '']);
  });
  it('--store copy without a copy is a usage error', () => {
    expect(() => storeConfig({ ...base, COPY_STORAGE: '' } as Config, 'copy')).toThrow(/no second store is configured/);
    expect(storeConfig(base, undefined)).toBe(base);
  });
});

describe('putParams with S3 Object Lock', () => {
  it('gives every object but the store lock a retention date of upload + N days', async () => {
    const { putParams } = await import('../../../src/storage/drivers/s3.js');
    const now = new Date('2026-12-02T00:00:00Z');
    const opts = { bucket: 'b', objectLock: { mode: 'COMPLIANCE' as const, days: 14 } };
    for (const role of ['data', 'metadata'] as const) {
      expect(putParams(opts, 'k', role, now)).toMatchObject({ ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date('2026-12-16T00:00:00Z') });
    }
    expect(putParams(opts, 'k', 'lock', now)).not.toHaveProperty('ObjectLockMode');
    expect(putParams({ bucket: 'b' }, 'k', 'data', now)).not.toHaveProperty('ObjectLockMode');
  });
});
