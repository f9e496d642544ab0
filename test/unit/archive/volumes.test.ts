import { jest } from '@jest/globals';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VolumeWriter } from '../../../src/archive/volumes.js';
import type { StoredObject } from '../../../src/domain/catalog.js';
import { BackupmateError } from '../../../src/domain/errors.js';
import { FileStorage } from '../../../src/storage/drivers/file.js';
import { S3Storage } from '../../../src/storage/drivers/s3.js';
import type { PutOptions, Storage } from '../../../src/storage/storage.js';

jest.setTimeout(15_000);

const DIR = 'full/20261121T040000Z/';
const VOL = 1000;

function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function* pieces(data: Buffer, sizes: readonly number[] = [333, 1, 4096, 999, 1000]): AsyncGenerator<Buffer> {
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = sizes[i++ % sizes.length];
    yield data.subarray(off, off + n);
    off += n;
  }
}

/**
 * FileStorage that remembers every put so a test can wait until each one has settled. It also
 * watches each body for an 'error' emitted while nobody listens (that would be an uncaught
 * exception, i.e. a crashed daemon): such errors are recorded in `unheard` instead of thrown, so
 * one bug does not take every test of the file down with it.
 */
class TrackingStorage implements Storage {
  readonly inner: FileStorage;
  readonly puts: { key: string; promise: Promise<void> }[] = [];
  readonly unheard: unknown[] = [];
  constructor(root: string) {
    this.inner = new FileStorage(root);
  }
  get description(): string {
    return this.inner.description;
  }
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void> {
    if (!Buffer.isBuffer(body)) watchUnheardErrors(body, this.unheard);
    const promise = this.inner.put(key, body, options);
    this.puts.push({ key, promise });
    return promise;
  }
  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable> {
    return this.inner.get(key, options);
  }
  head(key: string): Promise<{ size: number } | null> {
    return this.inner.head(key);
  }
  list(prefix: string): Promise<StoredObject[]> {
    return this.inner.list(prefix);
  }
  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }
  async settled(): Promise<void> {
    await Promise.allSettled(this.puts.map((p) => p.promise));
  }
}

function watchUnheardErrors(stream: Readable, unheard: unknown[]): void {
  const emit = stream.emit.bind(stream) as (event: string | symbol, ...args: unknown[]) => boolean;
  stream.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'error' && stream.listenerCount('error') === 0) {
      unheard.push(args[0]);
      return false;
    }
    return emit(event, ...args);
  }) as typeof stream.emit;
}

let root: string;
let storage: TrackingStorage;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-volumes-'));
  storage = new TrackingStorage(root);
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** Every file under root, relative, with `/` separators (partial files included). */
function filesOnDisk(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else out.push(path.relative(root, p).split(path.sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

function fileOf(key: string): Buffer {
  return fs.readFileSync(path.join(root, ...key.split('/')));
}

async function writeAll(w: VolumeWriter, data: Buffer, sizes?: number[]): Promise<void> {
  await pipeline(Readable.from(pieces(data, sizes)), w);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('splitting into volumes', () => {
  test.each<[string, number, number[]]>([
    ['1 byte', 1, [1]],
    ['one byte short of a volume', VOL - 1, [VOL - 1]],
    ['exactly one volume', VOL, [VOL]],
    ['one volume plus one byte', VOL + 1, [VOL, 1]],
    ['exactly three volumes', 3 * VOL, [VOL, VOL, VOL]],
    ['many volumes and a tail', 12 * VOL + 345, [...Array<number>(12).fill(VOL), 345]],
  ])('%s (%d bytes) -> volume sizes %j', async (_what, size, sizes) => {
    const data = prng(`split-${size}`, size);
    let gateCalls = 0;
    const w = new VolumeWriter(storage, DIR, VOL, async () => {
      gateCalls++;
    });
    await writeAll(w, data);
    expect(gateCalls).toBe(1);
    expect(w.volumes.map((v) => v.size)).toEqual(sizes);
    expect(w.volumes.map((v) => v.name)).toEqual(sizes.map((_, i) => `data.${String(i).padStart(5, '0')}`));
    expect(w.storedBytes).toBe(size);
    expect(w.touchedKeys).toEqual(w.volumes.map((v) => DIR + v.name));

    // Each object holds its slice of the stream, and the recorded sha256 is that slice's.
    let off = 0;
    for (const v of w.volumes) {
      const slice = data.subarray(off, off + v.size);
      const stored = fileOf(DIR + v.name);
      expect(stored.equals(slice)).toBe(true);
      expect(v.sha256).toBe(sha256(slice));
      off += v.size;
    }
    expect(off).toBe(size);
    // Nothing else: no partial files, no extra objects.
    expect(filesOnDisk()).toEqual(w.touchedKeys);
  });

  test('how the input is cut into writes does not matter', async () => {
    const data = prng('cuts', 5 * VOL);
    const results: string[][] = [];
    for (const sizes of [[1], [VOL], [VOL + 1], [7 * VOL], [2 * VOL - 1, 3]]) {
      const sub = `cut-${results.length}/`;
      const w = new VolumeWriter(storage, sub, VOL, async () => {});
      await writeAll(w, data, sizes);
      results.push(w.volumes.map((v) => `${v.name}:${v.size}:${v.sha256}`));
    }
    for (const r of results) expect(r).toEqual(results[0]);
    expect(results[0]).toHaveLength(5);
  });

  test('onStoredBytes reports the running total', async () => {
    const seen: number[] = [];
    const w = new VolumeWriter(storage, DIR, VOL, async () => {}, undefined, (n) => seen.push(n));
    await writeAll(w, prng('progress', 2500), [600]);
    // 600, 1000 (the volume boundary splits the second write), 1200, ...
    expect(seen[seen.length - 1]).toBe(2500);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen).toContain(VOL);
    expect(seen).toContain(2 * VOL);
  });
});

describe('the commit gate', () => {
  test('the last volume is completed only after the gate resolves', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const w = new VolumeWriter(storage, DIR, VOL, () => gate);
    const finished = writeAll(w, prng('gate-wait', 2 * VOL + 10));
    // Earlier volumes complete on their own...
    for (let i = 0; i < 200 && w.volumes.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    expect(w.volumes.map((v) => v.name)).toEqual(['data.00000', 'data.00001']);
    // ...the last one waits for the gate: no object for it yet.
    expect(await storage.head(DIR + 'data.00002')).toBeNull();
    expect((await storage.list(DIR)).map((o) => o.key)).toEqual([DIR + 'data.00000', DIR + 'data.00001']);
    open();
    await finished;
    expect(w.volumes.map((v) => v.size)).toEqual([VOL, VOL, 10]);
    expect(await storage.head(DIR + 'data.00002')).toEqual({ size: 10 });
  });

  test('a rejecting gate: the writer errors with its error, the last volume is not stored, no partial file is left', async () => {
    const boom = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1: Access denied', { stage: 'mariabackup' });
    const w = new VolumeWriter(storage, DIR, VOL, async () => {
      throw boom;
    });
    const err = await rejection(writeAll(w, prng('gate-reject', 2 * VOL + 500)));
    expect(err).toBe(boom);
    await storage.settled();
    // Volumes completed before the end are there (the job deletes them); the last one is not.
    expect(w.volumes.map((v) => v.name)).toEqual(['data.00000', 'data.00001']);
    expect(w.touchedKeys).toEqual([DIR + 'data.00000', DIR + 'data.00001', DIR + 'data.00002']);
    expect(filesOnDisk()).toEqual([DIR + 'data.00000', DIR + 'data.00001']);
    expect(await storage.head(DIR + 'data.00002')).toBeNull();
  });

  test('a rejecting gate with a single short volume leaves nothing at all', async () => {
    const boom = new Error('compressor exited with code 1');
    const w = new VolumeWriter(storage, DIR, VOL, async () => {
      throw boom;
    });
    expect(await rejection(writeAll(w, prng('gate-one', 10)))).toBe(boom);
    await storage.settled();
    expect(w.volumes).toEqual([]);
    expect(filesOnDisk()).toEqual([]);
  });

  // BUG (src/archive/volumes.ts, writeChunk: `if (v.bytes === this.volumeSize) await this.close(v)`):
  // a volume is completed as soon as it is full, before `_final` has awaited the gate. When the
  // stream happens to end exactly on a volume boundary, the LAST volume is therefore stored
  // before gate() ran, which is exactly what the commit gate exists to prevent (module doc: "the
  // LAST volume's body is ended only after gate() resolves"): a producer that died after writing a
  // multiple of VOLUME_SIZE bytes leaves a complete-looking truncated last object.
  test('a rejecting gate at an exact volume boundary does not store the last volume', async () => {
    const boom = new Error('mariabackup was killed by SIGKILL');
    const w = new VolumeWriter(storage, DIR, VOL, async () => {
      throw boom;
    });
    expect(await rejection(writeAll(w, prng('gate-boundary', 2 * VOL)))).toBe(boom);
    await storage.settled();
    expect(filesOnDisk()).toEqual([DIR + 'data.00000']);
  });
});

describe('failures and cancellation', () => {
  test('zero bytes: the gate still runs, then TOOL_FAILED, and nothing is stored', async () => {
    let gateCalls = 0;
    const w = new VolumeWriter(storage, DIR, VOL, async () => {
      gateCalls++;
    });
    const err = await rejection(writeAll(w, Buffer.alloc(0)));
    expect(gateCalls).toBe(1);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('TOOL_FAILED');
    expect((err as BackupmateError).message).toBe('the pipeline produced no data (0 bytes stored)');
    expect(w.touchedKeys).toEqual([]);
    expect(filesOnDisk()).toEqual([]);
  });

  test('destroy mid-stream with an error: the writer errors with it and no partial file is left', async () => {
    const w = new VolumeWriter(storage, DIR, VOL, async () => {});
    const boom = new Error('upstream failed');
    const src = new Readable({ read() {} });
    const done = rejection(pipeline(src, w));
    src.push(prng('d1', VOL + 300));
    for (let i = 0; i < 200 && w.volumes.length < 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(w.volumes).toHaveLength(1);
    w.destroy(boom);
    expect(await done).toBe(boom);
    await storage.settled();
    expect(storage.puts.map((p) => p.key)).toEqual([DIR + 'data.00000', DIR + 'data.00001']);
    expect(filesOnDisk()).toEqual([DIR + 'data.00000']);
  });

  test('destroy without an error aborts the open upload too', async () => {
    const w = new VolumeWriter(storage, DIR, VOL, async () => {});
    w.write(prng('d2', 300));
    await new Promise((r) => setTimeout(r, 20));
    w.destroy();
    await new Promise<void>((r) => w.once('close', () => r()));
    await storage.settled();
    const put = (await rejection(storage.puts[0].promise)) as Error;
    expect(put.name).toBe('AbortError');
    expect(filesOnDisk()).toEqual([]);
  });

  test('an aborted signal destroys the writer with its reason and leaves no partial file', async () => {
    const ac = new AbortController();
    const w = new VolumeWriter(storage, DIR, VOL, async () => {}, ac.signal);
    const src = new Readable({ read() {} });
    const done = rejection(pipeline(src, w));
    src.push(prng('sig', 400));
    await new Promise((r) => setTimeout(r, 20));
    const reason = new BackupmateError('CANCELLED', 'the job was cancelled');
    ac.abort(reason);
    expect(await done).toBe(reason);
    await storage.settled();
    expect(filesOnDisk()).toEqual([]);
  });

  // BUG (src/storage/file.ts, FileStorage.put): the body gets no 'error' listener until after
  // `await fs.mkdir(...)`, and VolumeWriter._destroy destroys the open volume's body with the
  // error (`this.current?.hash.destroy(reason)`). Destroying the writer (the job's stop hook, a
  // rejecting gate, a cancel) while a just-opened volume's put is still creating its directory
  // emits an 'error' nobody listens to: in production an uncaught exception that kills the
  // daemon. (S3Storage.put attaches its listener synchronously and is not affected.)
  test('destroying the writer right after a volume opened emits no unheard error', async () => {
    const w = new VolumeWriter(storage, DIR, VOL, async () => {});
    w.on('error', () => {});
    w.write(prng('early', 10));
    w.destroy(new Error('early failure'));
    await new Promise<void>((r) => w.once('close', () => r()));
    await storage.settled();
    expect(storage.unheard).toEqual([]);
    expect(filesOnDisk()).toEqual([]);
  });

  test('a failing store fails the writer with the store error', async () => {
    // A directory where the object file should go makes the rename fail.
    fs.mkdirSync(path.join(root, 'full', '20261121T040000Z', 'data.00000'), { recursive: true });
    const w = new VolumeWriter(storage, DIR, VOL, async () => {});
    const err = await rejection(writeAll(w, prng('store-fail', 2 * VOL)));
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('STORAGE');
    expect((err as BackupmateError).message).toMatch(/^writing full\/20261121T040000Z\/data\.00000 to file:\/\/.* failed: /);
    await storage.settled();
    expect(filesOnDisk().filter((f) => f.includes('.partial-'))).toEqual([]);
  });
});

/**
 * The S3 driver behind the writer, on a loopback server that plays S3 for a multipart upload and
 * resets every attempt at part 2 (a store going away mid-upload). Issue 11 item 3: the writer
 * failed with lib-storage's "Upload aborted." (reported as INTERNAL, "a bug") instead of the
 * part's own failure after its retries.
 */
describe('VolumeWriter over the S3 driver: a part that gives up is the reported cause', () => {
  test('the writer fails with the part error: STORAGE, the endpoint, the cause and the attempts', async () => {
    const hits: string[] = [];
    const server = http.createServer((req, res) => {
      const url = req.url ?? '';
      hits.push(`${req.method} ${url}`);
      const answer = (status: number, body = '') => {
        req.resume();
        req.on('end', () => {
          res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), etag: '"e"' });
          res.end(body);
        });
      };
      if (req.method === 'POST' && /[?&]uploads/.test(url)) {
        return answer(200, '<?xml version="1.0"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><UploadId>U1</UploadId></InitiateMultipartUploadResult>');
      }
      if (req.method === 'PUT' && /[?&]partNumber=2(&|$)/.test(url)) return void req.socket.resetAndDestroy();
      if (req.method === 'PUT') return answer(200);
      return answer(204);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const s3 = new S3Storage({
        bucket: 'bkt',
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'not-a-real-secret',
        partSize: 5 * 1024 * 1024,
        queueSize: 2,
        uploadRetry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
      });
      const w = new VolumeWriter(s3, DIR, 256 * 1024 * 1024, async () => {});
      // Endless: the writer never reaches its end, only the store's failure can stop it.
      const endless = Readable.from(
        (async function* () {
          for (;;) yield prng('endless', 1 << 20);
        })(),
      );
      const err = await rejection(pipeline(endless, w));
      await w.settled();
      expect(err).toBeInstanceOf(BackupmateError);
      expect((err as BackupmateError).code).toBe('STORAGE');
      expect((err as BackupmateError).message).toMatch(
        new RegExp(`^uploading ${DIR}data\\.00000 on s3://bkt \\(${endpoint.replace(/\./g, '\\.')}\\) failed: .*(ECONNRESET|socket hang up).* \\(gave up after 3 attempts\\)$`),
      );
      expect((err as BackupmateError).message).not.toMatch(/Upload aborted/);
      expect((err as BackupmateError).details).toMatchObject({ attempts: 3, endpoint });
      expect(hits.filter((h) => /partNumber=2(&|$)/.test(h))).toHaveLength(3);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
