/**
 * The storage contract (restic's backend test suite): what every store driver must do, checked
 * against a REAL store. A new driver runs it with one line in test/integration/storage.test.ts:
 *
 *   storageContract('azure', () => new AzureStorage({ ...azurite }), { unfinished: 'listed' });
 *
 * It covers the `Storage` contract of src/storage/storage.ts (put of a Buffer and of a stream
 * long enough for several parts, head, get, list beyond one page, delete; a body that errors or
 * an aborted signal leaves no object), the not-found answer (get rejects with `notFound()`, the
 * driver classifies it 'not-found', head says null, RetryStorage does not retry it), the
 * unfinished uploads (`listUnfinished` shows an upload in progress, `abortUnfinished` removes it
 * and the put can then no longer publish the object), the metadata role, and the driver's facts
 * (name, limits).
 *
 * Each driver runs under its own key prefix (`contract-<name>/`), so several drivers may share a
 * store. The suite registers jest tests: call it at module level or inside a describe.
 */
import { describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { BackupmateError } from '../../src/domain/errors.js';
import type { StorageDriver } from '../../src/storage/drivers/driver.js';
import { RetryStorage } from '../../src/storage/retry.js';
import { isNotFound, readAll, type UnfinishedUpload } from '../../src/storage/storage.js';

const MiB = 1024 * 1024;

export interface StorageContractOptions {
  /**
   * How the store answers for unfinished uploads. 'listed': `listUnfinished` shows an upload in
   * progress and `abortUnfinished` removes it. 'unsupported': the store cannot list them (s3rver
   * answers ListMultipartUploads with 501): `listUnfinished` must then reject with a permanent
   * STORAGE error, which prune logs and skips (retention/prune.ts), never retried.
   */
  unfinished: 'listed' | 'unsupported';
  /**
   * The part size the driver was made with (default 5 MiB): the streamed put is sized to need
   * more than two parts.
   */
  partSize?: number;
  /**
   * How the store kept an object's role, when the driver stores the roles differently (S3: the
   * storage class on data only). Absent: the suite checks that both roles round-trip.
   */
  storedRole?: (key: string) => Promise<'data' | 'metadata'>;
  /**
   * How many objects the listing test writes (default 1,100: beyond S3's 1,000-key page). A
   * driver made with a small list page (Azure's `listPageSize`, S3's) proves paging with fewer,
   * which keeps the suite inside the test-time budget; it must still span several pages.
   */
  listObjects?: number;
}

/** A stream of `n` bytes of random data in 64 KiB chunks, then optionally an error. */
export function randomStream(n: number, failWith?: Error): { stream: Readable; sha: string } {
  const data = randomBytes(n);
  const sha = createHash('sha256').update(data).digest('hex');
  const stream = new PassThrough();
  (async () => {
    for (let off = 0; off < n; off += 64 * 1024) {
      if (!stream.write(data.subarray(off, off + 64 * 1024))) await new Promise((r) => stream.once('drain', r));
      await new Promise((r) => setImmediate(r));
    }
    if (failWith) stream.destroy(failWith);
    else stream.end();
  })();
  return { stream, sha };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function storageContract(name: string, make: () => StorageDriver, opts: StorageContractOptions): void {
  const p = `contract-${name}/`;
  const partSize = opts.partSize ?? 5 * MiB;

  describe(`storage contract: ${name}`, () => {
    test('names itself and states sane limits', () => {
      const st = make();
      expect(st.name).toBe(name);
      expect(st.description).toBeTruthy();
      const l = st.limits;
      expect(l.minPartSize).toBeLessThanOrEqual(l.maxPartSize);
      expect(l.maxParts).toBeGreaterThanOrEqual(1);
      expect(l.maxObjectSize).toBeGreaterThanOrEqual(l.maxPartSize);
      expect(partSize).toBeGreaterThanOrEqual(l.minPartSize);
      expect(partSize).toBeLessThanOrEqual(l.maxPartSize);
    });

    test('put (buffer, and a stream of several parts), head, get, list, delete', async () => {
      const st = make();
      const bigSize = 2 * partSize + 123; // > 2 parts: a real parted upload where the store has parts
      await st.put(`${p}a/small`, Buffer.from('hello'));
      const { stream, sha } = randomStream(bigSize);
      await st.put(`${p}a/big`, stream);
      expect(await st.head(`${p}a/small`)).toEqual({ size: 5 });
      expect(await st.head(`${p}a/big`)).toEqual({ size: bigSize });
      expect(await st.head(`${p}a/none`)).toBeNull();
      expect((await readAll(await st.get(`${p}a/small`))).toString()).toBe('hello');
      expect(sha256(await readAll(await st.get(`${p}a/big`)))).toBe(sha);
      expect((await st.list(`${p}a/`)).map((o) => [o.key, o.size])).toEqual([
        [`${p}a/big`, bigSize],
        [`${p}a/small`, 5],
      ]);
      expect(await st.list(`${p}nothing/`)).toEqual([]);
      await st.delete([`${p}a/small`, `${p}a/big`, `${p}a/never-existed`]);
      expect(await st.list(`${p}a/`)).toEqual([]);
    });

    test('an empty stream is an empty object, not a missing one', async () => {
      const st = make();
      const body = new PassThrough();
      body.end();
      await st.put(`${p}empty/obj`, body);
      expect(await st.head(`${p}empty/obj`)).toEqual({ size: 0 });
      expect((await readAll(await st.get(`${p}empty/obj`))).length).toBe(0);
      await st.delete([`${p}empty/obj`]);
    });

    test('not found: get rejects with notFound() naming the key, classified not-found, never retried; head is null', async () => {
      const st = make();
      const err = await st.get(`${p}missing/key`).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isNotFound(err)).toBe(true);
      expect((err as BackupmateError).code).toBe('BACKUP_NOT_FOUND');
      expect((err as Error).message).toContain(`${p}missing/key`);
      expect(st.classify(err)).toBe('not-found');
      expect(await st.head(`${p}missing/key`)).toBeNull();
      const retries: unknown[] = [];
      const wrapped = new RetryStorage(st, { attempts: 5, baseDelayMs: 1, maxDelayMs: 1, log: { warn: (_m, meta) => retries.push(meta) } });
      await expect(wrapped.get(`${p}missing/key`)).rejects.toMatchObject({ code: 'BACKUP_NOT_FOUND' });
      expect(await wrapped.head(`${p}missing/key`)).toBeNull();
      expect(retries).toEqual([]);
    });

    test('a body that errors mid-stream leaves no object and no unfinished upload', async () => {
      const st = make();
      const { stream } = randomStream(2 * partSize + 1, new Error('producer died'));
      await expect(st.put(`${p}broken/obj`, stream)).rejects.toThrow();
      expect(await st.head(`${p}broken/obj`)).toBeNull();
      expect(await st.list(`${p}broken/`)).toEqual([]);
      if (opts.unfinished === 'listed') expect(await st.listUnfinished!(`${p}broken/`)).toEqual([]);
    });

    test('an aborted signal leaves no object', async () => {
      const st = make();
      const ac = new AbortController();
      const body = new PassThrough();
      const put = st.put(`${p}aborted/obj`, body, { signal: ac.signal });
      body.write(randomBytes(partSize + MiB));
      setTimeout(() => ac.abort(new Error('job cancelled')), 200);
      await expect(put).rejects.toThrow();
      body.destroy();
      expect(await st.head(`${p}aborted/obj`)).toBeNull();
      if (opts.unfinished === 'listed') expect(await st.listUnfinished!(`${p}aborted/`)).toEqual([]);
    });

    if (opts.unfinished === 'listed') {
      test('listUnfinished shows an upload in progress; abortUnfinished removes it, and the put can no longer publish', async () => {
        const st = make();
        expect(typeof st.listUnfinished).toBe('function');
        expect(typeof st.abortUnfinished).toBe('function');
        const key = `${p}unfinished/data.00000`;
        const body = new PassThrough();
        const put = st.put(key, body).then(
          () => null,
          (e: unknown) => e,
        );
        body.write(randomBytes(partSize + MiB)); // past one part: the store has begun the upload
        const found = await until<UnfinishedUpload>('the unfinished upload', async () =>
          (await st.listUnfinished!(`${p}unfinished/`)).find((u) => u.key === key),
        );
        expect(found.handle).toBeTruthy();
        // Not `instanceof Date`: under jest's vm modules, Node's own Dates come from another realm.
        expect(found.startedAt === null || Number.isFinite(found.startedAt.getTime())).toBe(true);
        // A prefix elsewhere does not see it.
        expect(await st.listUnfinished!(`${p}elsewhere/`)).toEqual([]);
        await st.abortUnfinished!(found);
        expect((await st.listUnfinished!(`${p}unfinished/`)).filter((u) => u.handle === found.handle)).toEqual([]);
        body.end(randomBytes(1000));
        expect(await put).toBeTruthy(); // the put rejects: its upload is gone
        expect(await st.head(key)).toBeNull();
        // Aborting twice is harmless (prune may race a dying job).
        await st.abortUnfinished!(found);
      }, 60_000);
    } else {
      test('listUnfinished is unsupported by this store: a permanent STORAGE error, not retried', async () => {
        const st = make();
        const err = await st.listUnfinished!(`${p}unfinished/`).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(BackupmateError);
        expect((err as BackupmateError).code).toBe('STORAGE');
        expect((err as Error).message).toMatch(/unfinished/);
        expect(st.classify(err)).toBe('permanent');
      });
    }

    test('roles: data and metadata objects both round-trip, and the store keeps them apart where it can', async () => {
      const st = make();
      await st.put(`${p}roles/manifest.json`, Buffer.from('{"m":1}'), { role: 'metadata' });
      await st.put(`${p}roles/data.00000`, Buffer.from('volume bytes'), { role: 'data' });
      await st.put(`${p}roles/default`, Buffer.from('no role given'));
      const body = new PassThrough();
      body.end(randomBytes(1000));
      await st.put(`${p}roles/SHA256SUMS`, body, { role: 'metadata' });
      expect((await readAll(await st.get(`${p}roles/manifest.json`))).toString()).toBe('{"m":1}');
      expect((await readAll(await st.get(`${p}roles/data.00000`))).toString()).toBe('volume bytes');
      expect(await st.head(`${p}roles/SHA256SUMS`)).toEqual({ size: 1000 });
      if (opts.storedRole) {
        expect(await opts.storedRole(`${p}roles/manifest.json`)).toBe('metadata');
        expect(await opts.storedRole(`${p}roles/SHA256SUMS`)).toBe('metadata');
        expect(await opts.storedRole(`${p}roles/data.00000`)).toBe('data');
        expect(await opts.storedRole(`${p}roles/default`)).toBe('data'); // the default role is data
      }
      await st.delete([`${p}roles/manifest.json`, `${p}roles/data.00000`, `${p}roles/default`, `${p}roles/SHA256SUMS`]);
    });

    test('keys that escape the store are refused', async () => {
      const st = make();
      for (const bad of ['../outside', '/abs', 'a/../../b', '']) {
        await expect(st.put(bad, Buffer.from('x'))).rejects.toMatchObject({ code: 'INTERNAL' });
        await expect(st.get(bad)).rejects.toMatchObject({ code: 'INTERNAL' });
      }
    });

    const many = opts.listObjects ?? 1100;
    test(`list is complete beyond one page (${many} objects)`, async () => {
      const st = make();
      const keys = Array.from({ length: many }, (_, i) => `${p}many/${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => st.put(k, Buffer.from('x'))));
      const listed = await st.list(`${p}many/`);
      expect(listed.map((o) => o.key)).toEqual(keys);
      await st.delete(keys);
    }, 120_000);
  });
}
