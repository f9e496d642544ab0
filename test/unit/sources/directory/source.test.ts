/** DirectorySource through the port's calls, as a generic job makes them (no store, no pipeline). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import winston from 'winston';
import { DirectorySource } from '../../../../src/sources/directory/index.js';
import type { DirectoryManifest } from '../../../../src/sources/directory/chain.js';
import type { DirectoryPayload } from '../../../../src/sources/directory/entries.js';
import type { SourceContext } from '../../../../src/sources/source.js';

let base: string;
let ctx: SourceContext;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-dirsource-'));
  ctx = { log: winston.createLogger({ silent: true }), jobDir: base };
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

function manifest(id: string, kind: string, parentId: string | null, fullId: string, payload: DirectoryPayload): DirectoryManifest {
  return {
    format: 'backupmate/3', id, kind, parentId, fullId, source: payload, host: 'h', versions: { backupmate: '0' }, startedAt: '', finishedAt: '', durationMs: 0,
    rawBytes: 0, storedBytes: 0, compression: { algorithm: 'none', level: null }, encryption: null, container: { format: 'tar', chunkSize: 1 }, volumes: [],
  };
}

async function take(source: DirectorySource, kind: string, parent?: DirectoryManifest) {
  const run = await source.startBackup(ctx, { kind, parent, full: parent });
  const parts: Buffer[] = [];
  for await (const c of run.output as Readable) parts.push(c as Buffer);
  await Promise.all(run.stages.map((s) => s.promise));
  const { payload } = await run.finish();
  return { bytes: Buffer.concat(parts), payload: source.parsePayload(JSON.parse(JSON.stringify(payload))) };
}

it('backs up, extracts, applies and puts back a full + incremental through the Source port', async () => {
  const etc = path.join(base, 'etc');
  fs.mkdirSync(path.join(etc, 'mysql'), { recursive: true });
  fs.writeFileSync(path.join(etc, 'mysql/my.cnf'), 'a\n');
  fs.writeFileSync(path.join(etc, 'mysql/old.cnf'), 'old\n');
  const source = new DirectorySource({ paths: [etc] });
  expect(source.modes).toEqual(['target-dir']);

  const f = await take(source, 'full');
  const full = manifest('20261201T000000Z', 'full', null, '20261201T000000Z', f.payload);
  fs.writeFileSync(path.join(etc, 'mysql/my.cnf'), 'b\n');
  fs.rmSync(path.join(etc, 'mysql/old.cnf'));
  const i = await take(source, 'incremental', full);
  const inc = manifest('20261202T000000Z', 'incremental', full.id, full.id, i.payload);
  expect(source.chain.continuity(full, inc)).toEqual([]);

  const chain = source.chain.restoreChain(inc, [full, inc], []);
  const members = [];
  for (const [n, m] of chain.entries()) {
    const dir = path.join(base, `member-${n}`);
    fs.mkdirSync(dir);
    const sink = await source.openSink(ctx, m, dir, null);
    await pipeline(Readable.from([m.id === full.id ? f.bytes : i.bytes]), sink.input!);
    await Promise.all(sink.stages.map((s) => s.promise));
    expect(await source.check!(ctx, m, dir)).toMatchObject({ entries: m.source.files.length });
    members.push({ manifest: m, dir });
  }
  const result = await source.apply(ctx, members);
  await expect(source.putBack(ctx, 'copy-back', result, '/nowhere')).rejects.toMatchObject({ code: 'USAGE' });
  const target = path.join(base, 'restored');
  await source.putBack(ctx, 'target-dir', result, target);
  const restored = path.join(target, etc);
  expect(fs.readdirSync(path.join(restored, 'mysql'))).toEqual(['my.cnf']);
  expect(fs.readFileSync(path.join(restored, 'mysql/my.cnf'), 'utf8')).toBe('b\n');
});

it('refuses to back up without paths, with CONFIG', async () => {
  await expect(new DirectorySource({ paths: [] }).startBackup(ctx, { kind: 'full' })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('DIRECTORY_BACKUP_PATHS is empty') });
});

it('a sink fails when the tar is cut short', async () => {
  const etc = path.join(base, 'etc');
  fs.mkdirSync(etc);
  fs.writeFileSync(path.join(etc, 'big'), Buffer.alloc(100_000, 1));
  const source = new DirectorySource({ paths: [etc] });
  const f = await take(source, 'full');
  const m = manifest('20261201T000000Z', 'full', null, '20261201T000000Z', f.payload);
  const dir = path.join(base, 'x');
  fs.mkdirSync(dir);
  const sink = await source.openSink(ctx, m, dir, null);
  await pipeline(Readable.from([f.bytes.subarray(0, 50_000)]), sink.input!).catch(() => undefined);
  await expect(Promise.all(sink.stages.map((s) => s.promise))).rejects.toBeTruthy();
});
