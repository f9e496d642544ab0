/**
 * Backups written by an older backupmate must keep restoring. backupmate 0.1 wrote manifest
 * format backupmate/1: the stored stream was zstd(tar) with the raw xbstream in `xbstream/`
 * entries (0.2 writes tar(zstd chunks), layout 2). This test turns a fresh backup into exactly
 * that older form with standard tools, then restores and verifies it with the current CLI.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

let source: PrivateServer;

beforeAll(async () => {
  source = await startPrivateServer({ rootPassword: 'compat-pw' });
  await loadSampleData(source, { rows: 40_000 });
});

afterAll(async () => {
  await stopAllServers();
});

/** Rewrites backup `dir` (layout 2, zstd) in place as a backupmate/1 backup. */
async function downgradeToLayout1(dir: string): Promise<void> {
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  expect(manifest.format).toBe('backupmate/3');
  const x = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-compat-x-'));
  const script = `set -euo pipefail
cd "$2"
cat "$1"/data.* | tar -x
cat xbstream.zst/* | zstd -q -d > raw
mkdir xbstream
split -b 4194304 -d -a 8 raw xbstream/
printf '{"format":"backupmate-container/1","backupId":"%s","chunkSize":4194304}' "$3" > backupmate.json
tar -c -f - backupmate.json xbstream/0* meta/* | zstd -q -3 -c > "$1/v1.data"
rm -f "$1"/data.*
mv "$1/v1.data" "$1/data.00000"`;
  const r = await execa('bash', ['-c', script, 'bash', dir, x, manifest.id as string], { reject: false, all: true });
  expect({ exit: r.exitCode, out: r.exitCode ? r.all : '' }).toEqual({ exit: 0, out: '' });
  await fs.rm(x, { recursive: true, force: true });
  const data = await fs.readFile(path.join(dir, 'data.00000'));
  const sha256 = createHash('sha256').update(data).digest('hex');
  // backupmate/1 had no envelope: the physical facts were top-level fields.
  const { source: payload, versions, ...envelope } = manifest as { source: Record<string, unknown>; versions: Record<string, unknown> };
  const { type: _type, versions: tools, ...facts } = payload as { type: string; versions: Record<string, unknown> };
  const v1 = {
    ...envelope,
    ...facts,
    versions: { ...tools, ...versions },
    format: 'backupmate/1',
    volumes: [{ name: 'data.00000', size: data.length, sha256 }],
    storedBytes: data.length,
  };
  await fs.writeFile(path.join(dir, 'SHA256SUMS'), `${sha256}  data.00000\n`);
  await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(v1, null, 2) + '\n');
}

test('a backupmate/1 backup (zstd(tar) with raw xbstream entries) still verifies and restores', async () => {
  const storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-compat-store-'));
  const work = await makeWorkdir(source, { kind: 'file', path: storePath });
  const before = await source.checksums();
  const b = await backupmate(work, ['backup', '--full']);
  expect({ exit: b.exitCode, stderr: b.stderr }).toEqual({ exit: 0, stderr: '' });
  const id = logLines(b.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
  await downgradeToLayout1(path.join(storePath, 'backupmate/full', id));

  const v = await backupmate(work, ['verify', id]);
  expect({ exit: v.exitCode, stdout: v.stdout }).toEqual({ exit: 0, stdout: expect.stringContaining(`${id}`) });
  expect(logLines(v.stderr).find((l) => l.event === 'verify.end')).toMatchObject({ status: 'ok' });

  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-compat-restored-'));
  const target = path.join(base, 'data');
  const r = await backupmate(work, ['restore', id, '--target-dir', target]);
  expect({ exit: r.exitCode, errors: r.stderr.split('\n').filter((l) => l && !l.startsWith('{')) }).toEqual({ exit: 0, errors: [] });
  expect(logLines(r.stderr).find((l) => l.event === 'restore.end')).toMatchObject({ status: 'succeeded' });
  const restored = await startPrivateServer({ datadir: target, baseDir: base, rootPassword: 'compat-pw' });
  expect(await restored.checksums()).toEqual(before);
  await restored.destroy();
});
