/**
 * Scale check (issue 15 item 6), a benchmark, not a test: run with
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/bench/scale.js
 *
 * 1. Catalog of BENCH_SCALE_BACKUPS (default 10,000) synthetic full backups in ONE prefix of
 *    s3rver (a valid backupmate/3 manifest.json each): times `storage.list(prefix)` (the listing
 *    every command starts with; target < 2 s), `readCatalog` (listing + reading and checking
 *    every manifest) and the CLI's `backupmate list` (wall time, node start-up included).
 * 2. Memory of reading a volume back, from Azurite and from s3rver: the driver's `get` of a
 *    BENCH_SCALE_VOLUME_MB (default 256) object drained as a restore drains it, peak RSS of this
 *    process above its baseline, for each store. The restore's other stages are the same code for
 *    every store, so this is the part a store can change.
 * Prints one JSON object. Everything it starts is stopped at the end.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { MANIFEST_FORMAT, serializeManifest, upgradeLegacy, type Manifest } from '../src/domain/manifest.js';
import { AzureStorage } from '../src/storage/drivers/azure.js';
import { S3Storage } from '../src/storage/drivers/s3.js';
import { readCatalog } from '../src/storage/catalog.js';
import type { Storage } from '../src/storage/storage.js';
import { startAzurite, stopAllAzurites } from '../test/helpers/azurite.js';
import { fileURLToPath } from 'node:url';
import { startS3rver, stopAllS3rvers } from '../test/helpers/s3rver.js';

const MiB = 1024 * 1024;
/** The built CLI, next to this file's build (dist/bench/ -> dist/src/cli/). */
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/backupmate.js');
const N = Number(process.env.BENCH_SCALE_BACKUPS ?? 10_000);
const VOLUME_MB = Number(process.env.BENCH_SCALE_VOLUME_MB ?? 256);
const FULL = 'scale/full/';
const INC = 'scale/incremental/';

/** The id of the i-th synthetic backup: hourly from 2020-01-01, sorting as text. */
function idOf(i: number): string {
  return new Date(Date.UTC(2020, 0, 1) + i * 3600_000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function manifestFor(id: string): string {
  const legacy = {
    format: 'backupmate/2' as const,
    id,
    kind: 'full' as const,
    parentId: null,
    fullId: id,
    lsn: { from: '0', to: '1000', last: '1000' },
    binlog: null,
    versions: { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB', backupmate: '0.1.0' },
    host: 'db1',
    compression: { algorithm: 'zstd' as const, level: 3 },
    encryption: null,
    container: { format: 'tar' as const, chunkSize: 4 * MiB },
    volumes: [{ name: 'data.00000', size: 1024, sha256: 'a'.repeat(64) }],
    rawBytes: 4096,
    storedBytes: 1024,
    startedAt: '2020-01-01T00:00:00.000Z',
    finishedAt: '2020-01-01T00:01:00.000Z',
    durationMs: 60_000,
  };
  return serializeManifest({ ...upgradeLegacy(legacy as Parameters<typeof upgradeLegacy>[0]), format: MANIFEST_FORMAT } as Manifest);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}

/** Peak RSS above the baseline while `fn` runs, sampled every 20 ms. */
async function peakRss(fn: () => Promise<void>): Promise<{ peakMiB: number; baselineMiB: number; ms: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const { ms } = await timed(fn);
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  return { peakMiB: Math.round(((peak - baseline) / MiB) * 10) / 10, baselineMiB: Math.round(baseline / MiB), ms: Math.round(ms) };
}

/** Drains a download slowly enough to exert backpressure, as zstd/mbstream downstream do. */
async function drain(body: Readable): Promise<number> {
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n % (16 * MiB) < (c as Buffer).length) await new Promise((r) => setTimeout(r, 5));
  }
  return n;
}

async function writeVolume(st: Storage, key: string): Promise<void> {
  const body = new PassThrough();
  const put = st.put(key, body);
  const chunk = randomBytes(MiB);
  for (let i = 0; i < VOLUME_MB; i++) if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
  body.end();
  await put;
}

async function main(): Promise<void> {
  const s3 = await startS3rver();
  const az = await startAzurite();
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'bm-scale-'));
  try {
    const st = new S3Storage({ bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, partSize: 8 * MiB, queueSize: 4 });
    const ids = Array.from({ length: N }, (_, i) => idOf(i));
    const write = await timed(async () => {
      for (let i = 0; i < ids.length; i += 64) await Promise.all(ids.slice(i, i + 64).map((id) => st.put(`${FULL}${id}/manifest.json`, Buffer.from(manifestFor(id)), { role: 'metadata' })));
    });
    const listRuns: number[] = [];
    for (let r = 0; r < 3; r++) listRuns.push((await timed(() => st.list(FULL))).ms);
    const listed = (await st.list(FULL)).length;
    const catalog = await timed(() => readCatalog(st, [{ prefix: FULL, kind: 'full' }, { prefix: INC, kind: 'incremental' }]));
    await fsp.writeFile(
      path.join(work, '.backupmate.env'),
      [`STORAGE=s3`, `S3_BUCKET_NAME=${s3.bucket}`, `S3_ENDPOINT=${s3.endpoint}`, `S3_FORCE_PATH_STYLE=true`, `AWS_ACCESS_KEY_ID=S3RVER`, `AWS_SECRET_ACCESS_KEY=S3RVER`, `FULL_BACKUP_PREFIX=${FULL}`, `INCREMENTAL_BACKUP_PREFIX=${INC}`, `LOG_LEVEL=warn`].join('\n') + '\n',
      { mode: 0o600 },
    );
    const cli = await timed(() => execa(process.execPath, [CLI, 'list'], { cwd: work, reject: false, env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } }));
    const cliLines = String(cli.value.stdout).split('\n').filter((l) => /^\d{8}T\d{6}Z/.test(l.trim()) || l.includes('2020')).length;

    const azure = new AzureStorage({ container: az.container, connectionString: az.connectionString, account: '', key: '', sas: '', endpoint: '', blockSize: 8 * MiB, concurrency: 4 });
    await writeVolume(st, 'scale/mem/data.00000');
    await writeVolume(azure, 'scale/mem/data.00000');
    const memS3 = await peakRss(async () => void (await drain(await st.get('scale/mem/data.00000'))));
    const memAzure = await peakRss(async () => void (await drain(await azure.get('scale/mem/data.00000'))));
    const upS3 = await peakRss(() => writeVolume(st, 'scale/mem/data.00001'));
    const upAzure = await peakRss(() => writeVolume(azure, 'scale/mem/data.00001'));

    console.log(
      JSON.stringify(
        {
          loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
          catalog: {
            backups: N,
            writeManifestsMs: Math.round(write.ms),
            storageListMs: listRuns.map(Math.round),
            listed,
            readCatalogMs: Math.round(catalog.ms),
            readCatalogBackups: catalog.value.backups.length,
            readCatalogBroken: catalog.value.broken.length,
            cliListMs: Math.round(cli.ms),
            cliListExit: cli.value.exitCode,
            cliListLines: cliLines,
            ...(cli.value.exitCode ? { cliListError: String(cli.value.stderr).split('\n').filter(Boolean).slice(-3) } : {}),
          },
          memory: {
            volumeMiB: VOLUME_MB,
            downloadPeakAboveBaselineMiB: { s3: memS3, azure: memAzure },
            uploadPeakAboveBaselineMiB: { s3: upS3, azure: upAzure, note: 'S3 8 MiB parts x 4 in flight; Azure 8 MiB blocks x 4 in flight' },
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
    await stopAllAzurites();
    await stopAllS3rvers();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
