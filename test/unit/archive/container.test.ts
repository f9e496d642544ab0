import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { jest } from '@jest/globals';
import * as tar from 'tar-stream';
import {
  CHUNK_SIZE,
  CONTAINER_FORMAT,
  CONTAINER_FORMAT_V1,
  extractContainer,
  HEADER_NAME,
  META_DIR,
  packContainer,
  streamDir,
  XBSTREAM_DIR,
  type ContainerHeader,
  type ExtraFile,
} from '../../../src/archive/container.js';
import { BackupmateError } from '../../../src/domain/errors.js';

const ID = '20261121T040000Z';
const SMALL = 1024;

/** Deterministic pseudo-random bytes (AES-CTR keystream seeded by `seed`). */
function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** `data` as an async iterable of pieces whose sizes cycle through `sizes` (like a pipe would). */
async function* pieces(data: Buffer, sizes: readonly number[] = [1, 7, 1000, 4096, 65536, 3]): AsyncGenerator<Buffer> {
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = sizes[i++ % sizes.length];
    yield data.subarray(off, off + n);
    off += n;
    if (i % 8 === 0) await new Promise<void>((r) => setImmediate(r));
  }
}

const EXPECT = { backupId: ID, layout: 2, compression: 'none' } as const;

function header(chunkSize = SMALL, backupId = ID): ContainerHeader {
  return { format: 'backupmate-container/2', backupId, chunkSize, compression: 'none' };
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Packs `data` and returns the tar bytes and what `done` resolved with. */
async function pack(
  data: Buffer,
  opts: { chunkSize?: number; extras?: ExtraFile[]; sizes?: number[] } = {},
): Promise<{ tar: Buffer; streamBytes: number; chunks: number }> {
  const c = packContainer(pieces(data, opts.sizes), header(opts.chunkSize), async () => opts.extras ?? []);
  const [tarBytes, done] = await Promise.all([readAll(c.stream), c.done]);
  return { tar: tarBytes, ...done };
}

/** Extracts a container held in memory; the tar is fed in `feed`-byte pieces. */
async function extract(
  tarBytes: Buffer,
  expectedId = ID,
  feed = 10_000,
): Promise<{ data: Buffer; meta: Map<string, Buffer>; streamBytes: number; chunks: number; calls: number }> {
  const parts: Buffer[] = [];
  const meta = new Map<string, Buffer>();
  let calls = 0;
  const r = await extractContainer(Readable.from(pieces(tarBytes, [feed])), { backupId: expectedId, layout: 2, compression: 'none' }, {
    async onXbstream(chunk) {
      calls++;
      parts.push(Buffer.from(chunk));
      if (calls % 5 === 0) await new Promise<void>((res) => setImmediate(res));
    },
    onMeta(name, d) {
      meta.set(name, d);
    },
  });
  return { data: Buffer.concat(parts), meta, calls, ...r };
}

/** A tar built directly with tar-stream, for framings packContainer would never produce. */
async function craftTar(entries: { name: string; data: Buffer | string }[]): Promise<Buffer> {
  const p = tar.pack();
  const out = readAll(p);
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      p.entry({ name: e.name, type: 'file', mode: 0o600 }, Buffer.from(e.data), (err) => (err ? reject(err) : resolve())),
    );
  }
  p.finalize();
  return out;
}

function headerJson(backupId = ID, chunkSize = SMALL): string {
  return JSON.stringify(header(chunkSize, backupId));
}

async function extractError(tarBytes: Buffer, expectedId = ID): Promise<BackupmateError> {
  const err = await extract(tarBytes, expectedId).then(
    () => {
      throw new Error('expected extractContainer to reject');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BackupmateError);
  expect((err as BackupmateError).code).toBe('INTEGRITY');
  expect((err as BackupmateError).exitCode).toBe(65);
  return err as BackupmateError;
}

/** The entries of a tar, in order, read with tar-stream. */
async function entries(tarBytes: Buffer): Promise<{ name: string; data: Buffer }[]> {
  const ex = tar.extract();
  const out: { name: string; data: Buffer }[] = [];
  const consume = (async () => {
    for await (const entry of ex) out.push({ name: entry.header.name, data: await readAll(entry) });
  })();
  ex.end(tarBytes);
  await consume;
  return out;
}

async function entryNames(tarBytes: Buffer): Promise<{ name: string; size: number }[]> {
  return (await entries(tarBytes)).map((e) => ({ name: e.name, size: e.data.length }));
}

jest.setTimeout(15_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-container-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('layout', () => {
  test('constants match the documented layout', () => {
    expect(CHUNK_SIZE).toBe(4 * 1024 * 1024);
    expect(HEADER_NAME).toBe('backupmate.json');
    expect(XBSTREAM_DIR).toBe('xbstream/');
    expect(META_DIR).toBe('meta/');
  });

  test('header first, then numbered fixed-size chunks, then meta files', async () => {
    const data = prng('layout', 2 * SMALL + 10);
    const extras = [
      { name: 'xtrabackup_checkpoints', data: Buffer.from('backup_type = full-backuped\n') },
      { name: 'xtrabackup_info', data: Buffer.from('server_version = 10.11\n') },
    ];
    const { tar: t } = await pack(data, { extras });
    expect(await entryNames(t)).toEqual([
      { name: 'backupmate.json', size: Buffer.byteLength(headerJson()) },
      { name: 'xbstream/00000000', size: SMALL },
      { name: 'xbstream/00000001', size: SMALL },
      { name: 'xbstream/00000002', size: 10 },
      { name: 'meta/xtrabackup_checkpoints', size: extras[0].data.length },
      { name: 'meta/xtrabackup_info', size: extras[1].data.length },
    ]);
  });

  test('the header names the format, the backup id and the chunk size', async () => {
    const { tar: t } = await pack(prng('h', 5));
    const first = (await entries(t))[0];
    expect(first.name).toBe(HEADER_NAME);
    expect(JSON.parse(first.data.toString('utf8'))).toEqual({ format: 'backupmate-container/2', backupId: ID, chunkSize: SMALL, compression: 'none' });
  });
});

describe('pack then extract round trip', () => {
  test.each<[string, number, number]>([
    ['1 byte', 1, 1],
    ['less than a chunk', SMALL - 1, 1],
    ['exactly one chunk', SMALL, 1],
    ['one chunk plus one byte', SMALL + 1, 2],
    ['exactly three chunks', 3 * SMALL, 3],
    ['many chunks', 200 * SMALL + 123, 201],
  ])('%s (%d bytes) -> %d chunks', async (_what, size, expectedChunks) => {
    const data = prng(`rt-${size}`, size);
    const packed = await pack(data);
    expect(packed).toMatchObject({ streamBytes: size, chunks: expectedChunks });
    const out = await extract(packed.tar);
    expect(out.streamBytes).toBe(size);
    expect(out.chunks).toBe(expectedChunks);
    expect(out.data.equals(data)).toBe(true);
    expect(out.meta.size).toBe(0);
  });

  test('source pieces larger than a chunk are cut correctly', async () => {
    const data = prng('big-pieces', 10 * SMALL + 17);
    const packed = await pack(data, { sizes: [3 * SMALL + 5, 1, 2 * SMALL] });
    expect(packed.chunks).toBe(11);
    expect((await extract(packed.tar)).data.equals(data)).toBe(true);
  });

  test('the real CHUNK_SIZE: exactly one chunk and one chunk plus one byte', async () => {
    for (const size of [CHUNK_SIZE, CHUNK_SIZE + 1]) {
      const data = prng(`real-${size}`, size);
      const c = packContainer(pieces(data, [65536]), header(CHUNK_SIZE), async () => []);
      const [t, done] = await Promise.all([readAll(c.stream), c.done]);
      expect(done).toEqual({ streamBytes: size, chunks: size === CHUNK_SIZE ? 1 : 2 });
      const out = await extract(t, ID, 1 << 20);
      expect(out.data.equals(data)).toBe(true);
    }
  });

  test('meta files come back through onMeta with their names', async () => {
    const extras = [
      { name: 'mariadb_backup_checkpoints', data: Buffer.from('to_lsn = 42\n') },
      { name: 'empty', data: Buffer.alloc(0) },
    ];
    const out = await extract((await pack(prng('m', 100), { extras })).tar);
    expect([...out.meta.keys()]).toEqual(['mariadb_backup_checkpoints', 'empty']);
    expect(out.meta.get('mariadb_backup_checkpoints')!.toString()).toBe('to_lsn = 42\n');
    expect(out.meta.get('empty')!.length).toBe(0);
  });

  test('onRawBytes reports a growing total ending at the raw size', async () => {
    const data = prng('progress', 5000);
    const seen: number[] = [];
    const c = packContainer(pieces(data, [1000]), header(), async () => [], (n) => seen.push(n));
    await Promise.all([readAll(c.stream), c.done]);
    expect(seen).toEqual([1000, 2000, 3000, 4000, 5000]);
  });

  test('the trailer runs only after the source has ended', async () => {
    const events: string[] = [];
    async function* source() {
      events.push('source start');
      yield Buffer.from('abc');
      events.push('source end');
    }
    const c = packContainer(source(), header(), async () => {
      events.push('trailer');
      return [];
    });
    await Promise.all([readAll(c.stream), c.done]);
    expect(events).toEqual(['source start', 'source end', 'trailer']);
  });

  test('the stream applies backpressure: a chunk is not packed before the previous one is read', async () => {
    let produced = 0;
    async function* source() {
      for (let i = 0; i < 64; i++) {
        produced += 64 * 1024;
        yield Buffer.alloc(64 * 1024, i);
      }
    }
    const c = packContainer(source(), header(64 * 1024), async () => []);
    await new Promise((r) => setTimeout(r, 50));
    // Nothing reads the stream: the packer must stall far short of the 4 MiB the source holds.
    expect(produced).toBeLessThan(1024 * 1024);
    const t = await readAll(c.stream);
    await c.done;
    expect(produced).toBe(64 * 64 * 1024);
    expect((await extract(t)).streamBytes).toBe(64 * 64 * 1024);
  });
});

describe('pack failures', () => {
  test('an empty source fails with TOOL_FAILED, after the trailer ran, and the stream errors too', async () => {
    let trailerRan = false;
    const c = packContainer(pieces(Buffer.alloc(0)), header(), async () => {
      trailerRan = true;
      return [];
    });
    const streamErr = readAll(c.stream).then(
      () => null,
      (e: unknown) => e,
    );
    const err = await c.done.then(
      () => null,
      (e: unknown) => e,
    );
    expect(trailerRan).toBe(true);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('TOOL_FAILED');
    expect((err as BackupmateError).message).toBe('the backup stream is empty (0 bytes)');
    expect((err as BackupmateError).details.stage).toBe('mariabackup');
    expect(await streamErr).toBe(err);
  });

  test("the trailer's error is the story: it rejects done and errors the stream", async () => {
    const boom = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1: InnoDB: log sequence mismatch', { stage: 'mariabackup' });
    const c = packContainer(pieces(prng('t', 3000)), header(), async () => {
      throw boom;
    });
    const streamErr = readAll(c.stream).then(
      () => null,
      (e: unknown) => e,
    );
    await expect(c.done).rejects.toBe(boom);
    expect(await streamErr).toBe(boom);
  });

  test("with an empty source the trailer's error wins over the 0-byte error", async () => {
    const boom = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1: Access denied', { stage: 'mariabackup' });
    const c = packContainer(pieces(Buffer.alloc(0)), header(), async () => {
      throw boom;
    });
    readAll(c.stream).catch(() => {});
    await expect(c.done).rejects.toBe(boom);
  });

  test('a failing source rejects done with its own error', async () => {
    const boom = new Error('read EIO');
    async function* source() {
      yield Buffer.alloc(10);
      throw boom;
    }
    let trailerRan = false;
    const c = packContainer(source(), header(), async () => {
      trailerRan = true;
      return [];
    });
    readAll(c.stream).catch(() => {});
    await expect(c.done).rejects.toBe(boom);
    expect(trailerRan).toBe(false);
  });

  test('destroying the stream mid-way settles done (rejects) instead of hanging', async () => {
    let stop = false;
    async function* source() {
      while (!stop) {
        yield Buffer.alloc(4096, 1);
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    const c = packContainer(source(), header(SMALL), async () => []);
    const settled = c.done.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    // Read a little, then tear the stream down as the job's stop hook does.
    for await (const _ of c.stream) break;
    c.stream.destroy();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([settled, new Promise((r) => (timer = setTimeout(() => r('hung'), 2000)))]);
    clearTimeout(timer);
    stop = true;
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/destroyed/);
  });
});

describe('extract framing checks', () => {
  test('a container of another backup is INTEGRITY naming both ids', async () => {
    const { tar: t } = await pack(prng('other', 100));
    const err = await extractError(t, '20261122T040000Z');
    expect(err.message).toBe(`backup 20261122T040000Z: container framing is broken: container belongs to backup ${ID}`);
  });

  test('a missing header is INTEGRITY naming what came first', async () => {
    const t = await craftTar([{ name: 'xbstream/00000000', data: 'abc' }]);
    const err = await extractError(t);
    expect(err.message).toBe(`backup ${ID}: container framing is broken: expected backupmate.json first, found xbstream/00000000`);
  });

  test('a header that is not first is refused', async () => {
    const t = await craftTar([
      { name: 'meta/x', data: 'x' },
      { name: HEADER_NAME, data: headerJson() },
    ]);
    const err = await extractError(t);
    expect(err.message).toBe(`backup ${ID}: container framing is broken: expected backupmate.json first, found meta/x`);
  });

  test('a gap in chunk numbering is INTEGRITY naming the expected and found chunk', async () => {
    const got: Buffer[] = [];
    const t = await craftTar([
      { name: HEADER_NAME, data: headerJson() },
      { name: 'xbstream/00000000', data: 'aaa' },
      { name: 'xbstream/00000002', data: 'ccc' },
    ]);
    const err = await extractContainer(Readable.from([t]), EXPECT, {
      async onXbstream(c) {
        got.push(Buffer.from(c));
      },
    }).catch((e: unknown) => e as BackupmateError);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('INTEGRITY');
    expect((err as BackupmateError).message).toBe(
      `backup ${ID}: container framing is broken: expected xbstream/00000001, found xbstream/00000002`,
    );
    // The chunk after the gap never reaches the handler.
    expect(Buffer.concat(got).toString()).toBe('aaa');
  });

  test('chunks out of order are refused', async () => {
    const t = await craftTar([
      { name: HEADER_NAME, data: headerJson() },
      { name: 'xbstream/00000001', data: 'b' },
      { name: 'xbstream/00000000', data: 'a' },
    ]);
    const err = await extractError(t);
    expect(err.message).toBe(`backup ${ID}: container framing is broken: expected xbstream/00000000, found xbstream/00000001`);
  });

  test('a repeated chunk is refused', async () => {
    const t = await craftTar([
      { name: HEADER_NAME, data: headerJson() },
      { name: 'xbstream/00000000', data: 'a' },
      { name: 'xbstream/00000000', data: 'a' },
    ]);
    const err = await extractError(t);
    expect(err.message).toBe(`backup ${ID}: container framing is broken: expected xbstream/00000001, found xbstream/00000000`);
  });

  test('an unknown entry is refused', async () => {
    const t = await craftTar([
      { name: HEADER_NAME, data: headerJson() },
      { name: 'xbstream/00000000', data: 'a' },
      { name: 'notes.txt', data: 'hello' },
    ]);
    const err = await extractError(t);
    expect(err.message).toBe(`backup ${ID}: container framing is broken: unexpected entry notes.txt`);
  });

  test('an empty tar is refused as an empty container', async () => {
    const err = await extractError(await craftTar([]));
    expect(err.message).toBe(`backup ${ID}: container framing is broken: empty container`);
  });

  test('zero bytes are refused as an empty container', async () => {
    const err = await extractError(Buffer.alloc(0));
    expect(err.message).toBe(`backup ${ID}: container framing is broken: empty container`);
  });

  test('a header with no chunks extracts as 0 bytes (the manifest catches the size)', async () => {
    const out = await extract(await craftTar([{ name: HEADER_NAME, data: headerJson() }]));
    expect(out).toMatchObject({ streamBytes: 0, chunks: 0, calls: 0 });
  });

  test("the source's error propagates", async () => {
    const { tar: t } = await pack(prng('src-err', 5 * SMALL));
    const boom = new Error('network reset');
    async function* source() {
      yield t.subarray(0, 3000);
      throw boom;
    }
    await expect(
      extractContainer(Readable.from(source()), EXPECT, {
        async onXbstream() {},
      }),
    ).rejects.toBe(boom);
  });

  test("the handler's error propagates", async () => {
    const { tar: t } = await pack(prng('h-err', 5 * SMALL));
    const boom = new BackupmateError('TOOL_FAILED', 'mbstream exited with code 2');
    let calls = 0;
    await expect(
      extractContainer(Readable.from([t]), EXPECT, {
        async onXbstream() {
          if (++calls === 2) throw boom;
        },
      }),
    ).rejects.toBe(boom);
  });
});

describe('system tar reads the container', () => {
  test('tar -tf lists it and tar -xO rebuilds the xbstream byte for byte', async () => {
    const data = prng('system-tar', 37 * SMALL + 999);
    const extras = [{ name: 'xtrabackup_checkpoints', data: Buffer.from('backup_type = full-backuped\nto_lsn = 42\n') }];
    const { tar: t, chunks } = await pack(data, { extras });
    const file = path.join(tmp, 'container.tar');
    fs.writeFileSync(file, t);

    const listing = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listing).toEqual([
      'backupmate.json',
      ...Array.from({ length: chunks }, (_, i) => `xbstream/${String(i).padStart(8, '0')}`),
      'meta/xtrabackup_checkpoints',
    ]);

    const rebuilt = execFileSync('tar', ['-xO', '--wildcards', '-f', file, 'xbstream/*'], { maxBuffer: 64 * 1024 * 1024 });
    expect(rebuilt.length).toBe(data.length);
    expect(rebuilt.equals(data)).toBe(true);

    const meta = execFileSync('tar', ['-xO', '-f', file, 'meta/xtrabackup_checkpoints'], { encoding: 'utf8' });
    expect(meta).toBe(extras[0].data.toString());
  });

  test('the recipe from the docs works on stdin with the real chunk size', async () => {
    const data = prng('system-tar-real', CHUNK_SIZE + 1);
    const c = packContainer(pieces(data, [65536]), header(CHUNK_SIZE), async () => []);
    const [t] = await Promise.all([readAll(c.stream), c.done]);
    const file = path.join(tmp, 'real.tar');
    fs.writeFileSync(file, t);
    expect(execFileSync('tar', ['-tf', file], { encoding: 'utf8' })).toBe('backupmate.json\nxbstream/00000000\nxbstream/00000001\n');
    const rebuilt = execFileSync('sh', ['-c', `tar -xO --wildcards 'xbstream/*' < "$1"`, 'sh', file], { maxBuffer: 64 * 1024 * 1024 });
    expect(rebuilt.equals(data)).toBe(true);
  });
});

describe('layouts and compression (backupmate/2 frames the compressed stream)', () => {
  test('the entries directory names the compression', () => {
    expect(streamDir('zstd')).toBe('xbstream.zst/');
    expect(streamDir('gzip')).toBe('xbstream.gz/');
    expect(streamDir('none')).toBe('xbstream/');
  });

  test('a zstd container holds xbstream.zst/ entries that standard tools turn back into the stream', async () => {
    const raw = prng('zstd-layout', 50_000);
    const compressed = execFileSync('zstd', ['-q', '-c', '-3'], { input: raw });
    const c = packContainer(pieces(compressed), { format: CONTAINER_FORMAT, backupId: ID, chunkSize: SMALL, compression: 'zstd' }, async () => []);
    const [tarBytes] = await Promise.all([readAll(c.stream), c.done]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-layout-'));
    try {
      const file = path.join(dir, 'data.00000');
      fs.writeFileSync(file, tarBytes);
      const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
      expect(names[0]).toBe(HEADER_NAME);
      expect(names.slice(1).every((n) => n.startsWith('xbstream.zst/'))).toBe(true);
      const rebuilt = execFileSync('sh', ['-c', `tar -xO --wildcards 'xbstream.zst/*' < "$1" | zstd -d -q`, 'sh', file], { maxBuffer: 1 << 24 });
      expect(rebuilt.equals(raw)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const parts: Buffer[] = [];
    const r = await extractContainer(Readable.from([tarBytes]), { backupId: ID, layout: 2, compression: 'zstd' }, {
      async onXbstream(chunk) {
        parts.push(Buffer.from(chunk));
      },
    });
    expect(Buffer.concat(parts).equals(compressed)).toBe(true);
    expect(r.streamBytes).toBe(compressed.length);
  });

  test('a container whose header names another compression than the manifest is refused', async () => {
    const c = packContainer(pieces(prng('x', 3000)), { format: CONTAINER_FORMAT, backupId: ID, chunkSize: SMALL, compression: 'gzip' }, async () => []);
    const [tarBytes] = await Promise.all([readAll(c.stream), c.done]);
    await expect(
      extractContainer(Readable.from([tarBytes]), { backupId: ID, layout: 2, compression: 'zstd' }, { onXbstream: async () => {} }),
    ).rejects.toThrow(`backup ${ID}: container framing is broken: the container says compression "gzip", the manifest says zstd`);
  });

  test('layout 1 (backupmate/1 backups: raw xbstream/ entries, header format 1) is still read', async () => {
    const raw = prng('v1', 5000);
    const t = await craftTar([
      { name: HEADER_NAME, data: JSON.stringify({ format: CONTAINER_FORMAT_V1, backupId: ID, chunkSize: 4096 }) },
      { name: 'xbstream/00000000', data: raw.subarray(0, 4096) },
      { name: 'xbstream/00000001', data: raw.subarray(4096) },
      { name: 'meta/xtrabackup_checkpoints', data: 'backup_type = full-backuped\n' },
    ]);
    const parts: Buffer[] = [];
    const r = await extractContainer(Readable.from([t]), { backupId: ID, layout: 1, compression: 'zstd' }, {
      async onXbstream(chunk) {
        parts.push(Buffer.from(chunk));
      },
    });
    expect(Buffer.concat(parts).equals(raw)).toBe(true);
    expect(r).toEqual({ streamBytes: 5000, chunks: 2 });
    // The same tar read as layout 2 is refused by its header.
    await expect(extractContainer(Readable.from([t]), { backupId: ID, layout: 2, compression: 'zstd' }, { onXbstream: async () => {} })).rejects.toThrow(
      'expected a backupmate-container/2 header, found "backupmate-container/1"',
    );
  });
});
