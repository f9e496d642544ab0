/**
 * backupmate benchmark harness (`npm run bench`; not part of the test suite).
 *
 * Starts its own private mariadbd and s3rver (the test helpers), loads BENCH_DATA_MB of data and
 * compares backupmate (A) with the shell pipelines an operator would otherwise use (B), each
 * case in one run against the same server and store, A and B alternating. See bench/README.md.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatByteSize, SCHEMA } from '../src/config/schema.js';
import { makeWorkdir } from '../test/helpers/backupmate.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../test/helpers/mariadb.js';
import { startS3rver, type S3Server } from '../test/helpers/s3rver.js';
import { loadData, rowCounts, settle, writeWorkload, type LoadResult } from './lib/data.js';
import { bash, killActiveChildren, run, runOk, sh, tail, type RunResult } from './lib/proc.js';
import {
  fmtRssForLog,
  machineDetails,
  pair,
  renderMarkdown,
  side,
  type Results,
  type RunRecord,
} from './lib/report.js';
import { deletePrefix, objectSize, s3Client } from './lib/s3.js';
import { fmtBytes, fmtMiB, fmtSeconds, MiB, round, summarize } from './lib/stats.js';

// Child processes and servers are unref'd by the helpers; keep the event loop alive ourselves.
const keepAlive = setInterval(() => {}, 1 << 30);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/backupmate.js');
const DIST_BENCH = path.join(ROOT, 'dist/bench');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

// ---------------------------------------------------------------------------------------------
// Settings

function envInt(name: string, def: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function envBool(name: string, def: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  return !/^(0|false|no)$/i.test(raw);
}

function hasProgram(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The schema's defaults for the sizes the test helpers shrink (makeWorkdir uses 5 MiB parts and volumes). */
const PRODUCTION_DEFAULTS = {
  S3_PART_SIZE: formatByteSize(SCHEMA.S3_PART_SIZE.default as number),
  S3_QUEUE_SIZE: String(SCHEMA.S3_QUEUE_SIZE.default),
  VOLUME_SIZE: formatByteSize(SCHEMA.VOLUME_SIZE.default as number),
  MARIABACKUP_PARALLEL: String(SCHEMA.MARIABACKUP_PARALLEL.default),
};

const cfg = {
  dataMB: envInt('BENCH_DATA_MB', 2048),
  runs: envInt('BENCH_RUNS', 3),
  restoreRuns: envInt('BENCH_RESTORE_RUNS', 2),
  rssRuns: envInt('BENCH_RSS_RUNS', 1),
  incrementals: envInt('BENCH_INCREMENTALS', 3),
  writeMB: envInt('BENCH_WRITE_MB', 64),
  updateRows: envInt('BENCH_UPDATE_ROWS', 5_000),
  tables: envInt('BENCH_TABLES', 8),
  bufferPool: process.env.BENCH_BUFFER_POOL || '512M',
  cases: new Set((process.env.BENCH_CASES || '1,2,3,4,5').split(',').map((x) => Number(x.trim()))),
  workDir: path.resolve(process.env.BENCH_WORK_DIR || path.join(ROOT, 'bench/work')),
  resultsDir: path.resolve(process.env.BENCH_RESULTS_DIR || path.join(ROOT, 'bench/results')),
  keep: envBool('BENCH_KEEP', false),
  verify: envBool('BENCH_VERIFY', true),
  updateReadme: envBool('BENCH_UPDATE_README', true),
  s3Client: (process.env.BENCH_S3_CLIENT || (hasProgram('aws') ? 'aws' : 'sdk')) as 'aws' | 'sdk',
  encryptionEnv: process.env.BENCH_ENCRYPTION_ENV ?? '',
};
// The restore case restores the chain the incremental case builds.
if (cfg.cases.has(4)) cfg.cases.add(3);
if (!['aws', 'sdk'].includes(cfg.s3Client)) throw new Error(`BENCH_S3_CLIENT must be aws or sdk, got ${cfg.s3Client}`);

const T0 = Date.now();
function log(msg: string): void {
  const s = Math.round((Date.now() - T0) / 1000);
  console.log(`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// Environment for children: nothing of the caller's backupmate or AWS configuration leaks in.

const CONFIG_KEYS = [...fs.readFileSync(path.join(ROOT, 'src/config/schema.ts'), 'utf8').matchAll(/^\s+([A-Z][A-Z0-9_]+):\s*\{/gm)].map((m) => m[1]!);

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (CONFIG_KEYS.includes(k) || k.startsWith('AWS_') || k === 'NODE_OPTIONS') delete env[k];
  return env;
}

// ---------------------------------------------------------------------------------------------
// State shared by the cases

let workDir = '';
let server: PrivateServer;
let s3: S3Server;
let s3c: ReturnType<typeof s3Client>;
let bmS3Dir = '';
let bmFileDir = '';
let fileStore = '';
let mbCnf = '';
let shellEnv: NodeJS.ProcessEnv = {};
let load1: LoadResult | undefined;
const tempDirs: string[] = [];

const results: Results = {
  format: 'backupmate-bench/1',
  startedAt: new Date().toISOString(),
  finishedAt: '',
  durationSeconds: 0,
  machine: undefined as unknown as Results['machine'],
  settings: {},
  dataset: {},
  cases: {},
  notes: [],
};

// ---------------------------------------------------------------------------------------------
// Running backupmate and the shell pipelines

interface BmRun {
  r: RunResult;
  logs: Record<string, unknown>[];
}

function parseLogs(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* not a log line */
    }
  }
  return out;
}

function event(logs: Record<string, unknown>[], name: string): Record<string, unknown> | undefined {
  return logs.find((l) => l.event === name && (name !== 'backup.end' || l.status === 'succeeded'));
}

async function backupmate(cwd: string, args: string[], env: Record<string, string> = {}): Promise<BmRun> {
  const r = await run(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...cleanEnv(), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    sampleRss: true,
  });
  if (r.exitCode !== 0) throw new Error(`backupmate ${args.join(' ')} failed (exit ${r.exitCode}):\n${tail(r.stderr + '\n' + r.stdout, 12)}`);
  return { r, logs: parseLogs(r.stdout + '\n' + r.stderr) };
}

interface BackupInfo {
  id: string;
  rawBytes: number;
  storedBytes: number;
  toLsn: string;
  record: RunRecord;
}

async function bmBackup(cwd: string, kind: 'full' | 'incremental', runNo: number, env: Record<string, string> = {}): Promise<BackupInfo> {
  const { r, logs } = await backupmate(cwd, ['backup', `--${kind}`], env);
  const end = event(logs, 'backup.end');
  if (!end) throw new Error(`backupmate backup --${kind}: no successful backup.end log line`);
  const lsn = end.lsn as { to: string };
  // `backupmate backup` applies retention after the backup is stored; the shell baselines have
  // no such step, so its time (backup.end → the last log line) is reported apart, not compared.
  const lastTs = Date.parse(String(logs.at(-1)?.timestamp));
  const retentionMs = Math.max(0, lastTs - Date.parse(String(end.timestamp))) || 0;
  return {
    id: String(end.backupId),
    rawBytes: Number(end.rawBytes),
    storedBytes: Number(end.storedBytes),
    toLsn: lsn.to,
    record: {
      run: runNo,
      wallMs: round(r.wallMs - retentionMs, 1),
      rawBytes: Number(end.rawBytes),
      storedBytes: Number(end.storedBytes),
      rss: r.rss,
      backupId: String(end.backupId),
      stages: { commandWallMs: round(r.wallMs, 0), retentionMs, jobMs: Number(end.durationMs) },
    },
  };
}

/** `mariabackup --backup --stream=xbstream` as backupmate runs it (own scratch and lsn dirs). */
async function mariabackupCmd(incrementalLsn?: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(workDir, 'mb-'));
  await fsp.mkdir(path.join(dir, 'scratch'));
  await fsp.mkdir(path.join(dir, 'lsn'));
  return (
    `mariabackup --defaults-file=${sh(mbCnf)} --backup --stream=xbstream --target-dir=${sh(path.join(dir, 'scratch'))} ` +
    `--extra-lsndir=${sh(path.join(dir, 'lsn'))} --parallel=2${incrementalLsn ? ` --incremental-lsn=${incrementalLsn}` : ''} 2>${sh(path.join(dir, 'mariabackup.log'))}`
  );
}

async function removeScratch(): Promise<void> {
  for (const d of await fsp.readdir(workDir)) if (d.startsWith('mb-')) await fsp.rm(path.join(workDir, d), { recursive: true, force: true });
}

const ZSTD = 'zstd -q -T0 -3';

function s3Upload(key: string): string {
  const url = `s3://${s3.bucket}/${key}`;
  return cfg.s3Client === 'aws'
    ? `aws s3 cp - ${sh(url)} --endpoint-url ${sh(s3.endpoint)} --only-show-errors`
    : `node ${sh(path.join(DIST_BENCH, 's3-cli.js'))} put ${sh(url)}`;
}

function s3DownloadDir(prefix: string, dir: string): string {
  const url = `s3://${s3.bucket}/${prefix}`;
  return cfg.s3Client === 'aws'
    ? `aws s3 cp --recursive ${sh(url)} ${sh(dir + '/')} --endpoint-url ${sh(s3.endpoint)} --only-show-errors`
    : `node ${sh(path.join(DIST_BENCH, 's3-cli.js'))} get-dir ${sh(url)} ${sh(dir)}`;
}

const S3_UPLOADER = () => (cfg.s3Client === 'aws' ? 'aws s3 cp -' : 'SDK script (bench/s3-cli.ts)');

async function shellRun(what: string, script: string, runNo: number): Promise<RunRecord> {
  const r = await bash(what, script, { env: shellEnv, sampleRss: true, cwd: workDir });
  await removeScratch();
  return { run: runNo, wallMs: round(r.wallMs, 1), rss: r.rss };
}

/** Runs A and B `runs` times, alternating which goes first. */
async function alternate(runs: number, a: (i: number) => Promise<void>, b: (i: number) => Promise<void>): Promise<void> {
  for (let i = 1; i <= runs; i++) {
    if (i % 2 === 1) {
      await a(i);
      await b(i);
    } else {
      await b(i);
      await a(i);
    }
  }
}

function retentionNote(store: string, runs: RunRecord[], isS3: boolean): string {
  const ret = summarize(runs.map((r) => r.stages?.retentionMs ?? NaN));
  const cmd = summarize(runs.map((r) => r.stages?.commandWallMs ?? NaN));
  return (
    `backupmate → ${store}: times exclude the retention pass \`backupmate backup\` runs after the backup is stored (median ${fmtSeconds(ret.median)}; ` +
    `the whole command took ${fmtSeconds(cmd.median)})` +
    (isS3 && ret.median > 1000
      ? '. s3rver has no ListMultipartUploads, so the unfinished-upload check in retention fails and is retried with backoff; on S3 it is one quick request.'
      : '.')
  );
}

const tputText = (bytes: number, ms: number) => `${fmtSeconds(ms)} (${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s)`;

// ---------------------------------------------------------------------------------------------
// Case 1: full backup, to S3 and to the file store; time attribution

async function caseFullBackup(): Promise<void> {
  const out: NonNullable<Results['cases']['fullBackup']> = {};
  results.cases.fullBackup = out;
  log(`case 1: full backup, ${cfg.runs} run(s) per side`);

  // Attribution (and the warm-up read: the first read of a fresh load fills the page cache).
  await shellRun('warm-up read', `${await mariabackupCmd()} > /dev/null`, 0);
  const read: RunRecord[] = [];
  const readCompress: RunRecord[] = [];
  await alternate(
    cfg.runs,
    async (i) => {
      read.push(await shellRun('mariabackup > /dev/null', `${await mariabackupCmd()} > /dev/null`, i));
      log(`  read (mariabackup --stream > /dev/null) run ${i}: ${fmtSeconds(read.at(-1)!.wallMs)}`);
    },
    async (i) => {
      readCompress.push(await shellRun('mariabackup | zstd > /dev/null', `${await mariabackupCmd()} | ${ZSTD} > /dev/null`, i));
      log(`  read + compress (| ${ZSTD} > /dev/null) run ${i}: ${fmtSeconds(readCompress.at(-1)!.wallMs)}`);
    },
  );

  // S3
  const aS3: RunRecord[] = [];
  const bS3: RunRecord[] = [];
  await alternate(
    cfg.runs,
    async (i) => {
      const b = await bmBackup(bmS3Dir, 'full', i);
      aS3.push(b.record);
      log(`  S3   A backupmate run ${i}: ${tputText(b.rawBytes, b.record.wallMs)} + retention ${fmtSeconds(b.record.stages!.retentionMs!)}, stored ${fmtBytes(b.storedBytes)}, ${fmtRssForLog(b.record.rss)}`);
      await deletePrefix(s3c, s3.bucket, 'backupmate/');
    },
    async (i) => {
      const key = `shell/full-${i}.xbstream.zst`;
      const rec = await shellRun('shell pipeline to S3', `${await mariabackupCmd()} | ${ZSTD} | ${s3Upload(key)}`, i);
      rec.storedBytes = await objectSize(s3c, s3.bucket, key);
      bS3.push(rec);
      log(`  S3   B shell      run ${i}: ${fmtSeconds(rec.wallMs)}, stored ${fmtBytes(rec.storedBytes)}, ${fmtRssForLog(rec.rss)}`);
      await deletePrefix(s3c, s3.bucket, 'shell/');
    },
  );
  const raw = summarize(aS3.map((r) => r.rawBytes!)).median;
  for (const r of [...bS3, ...read, ...readCompress]) r.rawBytes = raw;
  out.s3 = pair(
    '1. full backup → S3 (s3rver)',
    side(
      'backupmate backup --full',
      `backupmate backup --full (STORAGE=s3, S3_PART_SIZE=${PRODUCTION_DEFAULTS.S3_PART_SIZE}, S3_QUEUE_SIZE=${PRODUCTION_DEFAULTS.S3_QUEUE_SIZE}, COMPRESSION_LEVEL=3)`,
      aS3,
    ),
    side(`mariabackup | ${ZSTD} | ${S3_UPLOADER()}`, `mariabackup --backup --stream=xbstream --parallel=2 | ${ZSTD} | ${S3_UPLOADER()}`, bS3, raw),
  );
  out.s3.target = { text: 'throughput ≥ 1.0× shell', pass: (out.s3.throughputRatio ?? 0) >= 1.0 };
  out.s3.notes.push(retentionNote('S3', aS3, true));

  // File store
  const aFile: RunRecord[] = [];
  const bFile: RunRecord[] = [];
  await alternate(
    cfg.runs,
    async (i) => {
      const b = await bmBackup(bmFileDir, 'full', i);
      aFile.push(b.record);
      log(`  file A backupmate run ${i}: ${tputText(b.rawBytes, b.record.wallMs)} + retention ${fmtSeconds(b.record.stages!.retentionMs!)}, stored ${fmtBytes(b.storedBytes)}, ${fmtRssForLog(b.record.rss)}`);
      await fsp.rm(path.join(fileStore, 'backupmate'), { recursive: true, force: true });
    },
    async (i) => {
      const file = path.join(workDir, `shell-full-${i}.xbstream.zst`);
      const rec = await shellRun('shell pipeline to a file', `${await mariabackupCmd()} | ${ZSTD} > ${sh(file)}\nsync ${sh(file)}`, i);
      rec.storedBytes = (await fsp.stat(file)).size;
      rec.rawBytes = raw;
      bFile.push(rec);
      log(`  file B shell      run ${i}: ${fmtSeconds(rec.wallMs)}, stored ${fmtBytes(rec.storedBytes)}`);
      await fsp.rm(file, { force: true });
    },
  );
  out.file = pair(
    '1. full backup → local file store',
    side('backupmate backup --full', 'backupmate backup --full (STORAGE=file, same filesystem)', aFile),
    side(`mariabackup | ${ZSTD} > file`, `mariabackup --backup --stream=xbstream --parallel=2 | ${ZSTD} > FILE; sync FILE`, bFile, raw),
    ['File store: the shell baseline ends with `sync FILE` because backupmate fsyncs every volume before it counts as stored.'],
  );
  out.file.target = { text: 'throughput ≥ 1.0× shell', pass: (out.file.throughputRatio ?? 0) >= 1.0 };
  out.file.notes.push(retentionNote('the file store', aFile, false));

  const readSide = side('mariabackup --stream > /dev/null', 'mariabackup --backup --stream=xbstream --parallel=2 > /dev/null', read, raw);
  const rcSide = side(`mariabackup | ${ZSTD} > /dev/null`, `mariabackup --backup --stream=xbstream --parallel=2 | ${ZSTD} > /dev/null`, readCompress, raw);
  const rd = readSide.wallMs.median;
  const rc = rcSide.wallMs.median;
  const bf = out.file.A.wallMs.median;
  const bs = out.s3.A.wallMs.median;
  out.attribution = {
    read: readSide,
    readCompress: rcSide,
    breakdownMs: {
      read: round(rd, 0),
      readCompress: round(rc, 0),
      compress: round(rc - rd, 0),
      backupmateFile: round(bf, 0),
      fileOverhead: round(bf - rc, 0),
      backupmateS3: round(bs, 0),
      s3Overhead: round(bs - rc, 0),
      shellS3: round(out.s3.B.wallMs.median, 0),
      shellFile: round(out.file.B.wallMs.median, 0),
    },
  };
  const stored = summarize(aS3.map((r) => r.storedBytes!)).median;
  Object.assign(results.dataset, { rawStreamBytes: raw, storedBytes: stored, compressionRatio: round(raw / stored, 2) });
}

// ---------------------------------------------------------------------------------------------
// Case 2: peak RSS at 1× and 2× the data

const RSS_LIMIT = 256 * MiB;
const RSS_GROWTH_LIMIT = 1.1;

async function rssBackups(label: string, runs: number): Promise<RunRecord[]> {
  const recs: RunRecord[] = [];
  for (let i = 1; i <= runs; i++) {
    const b = await bmBackup(bmS3Dir, 'full', i);
    recs.push(b.record);
    log(`  ${label} run ${i}: ${tputText(b.rawBytes, b.record.wallMs)}, ${fmtRssForLog(b.record.rss)} (by program: ${byName(b.record)})`);
    await deletePrefix(s3c, s3.bucket, 'backupmate/');
  }
  return recs;
}

function byName(r: RunRecord): string {
  return Object.entries(r.rss?.byName ?? {})
    .map(([n, b]) => `${n} ${fmtMiB(b)}`)
    .join(', ');
}

async function caseRss(): Promise<void> {
  const out: NonNullable<Results['cases']['rss']> = { notes: [] };
  results.cases.rss = out;
  log('case 2: peak RSS of the backupmate process tree at 1× and 2× the data');
  let x1 = results.cases.fullBackup?.s3?.A.runs;
  if (!x1?.length) x1 = await rssBackups('1× full backup → S3', cfg.rssRuns);
  out.x1 = side('1× data', 'backupmate backup --full → S3 (the case 1 runs)', x1);

  log(`  loading the same amount again into a second schema (2× data)`);
  const load2 = await loadData(server, 'bench2', cfg.dataMB * 1e6, cfg.tables, log);
  await settle(server);
  log(`  loaded ${fmtBytes(load2.bytesOnDisk)} (${load2.rows} rows) in ${fmtSeconds(load2.durationMs)}`);
  const x2 = await rssBackups('2× full backup → S3', cfg.rssRuns);
  out.x2 = side('2× data', 'backupmate backup --full → S3 with twice the data', x2);
  out.ratio = out.x2.peakRssTreeBytes!.median / out.x1.peakRssTreeBytes!.median;
  const worst = Math.max(out.x1.peakRssTreeBytes!.max, out.x2.peakRssTreeBytes!.max);
  out.targets = [
    { text: `tree ≤ 256 MiB (worst ${fmtMiB(worst)})`, pass: worst <= RSS_LIMIT },
    { text: `2×/1× ≤ ${RSS_GROWTH_LIMIT}`, pass: out.ratio <= RSS_GROWTH_LIMIT },
  ];
  const programs = [...new Set([...x1, ...x2].flatMap((r) => Object.keys(r.rss?.byName ?? {})))];
  out.notes.push(
    `Peak RSS by program (max over the 1×/2× runs): ` +
      programs
        .map((n) => `${n} ${fmtMiB(Math.max(...x1.map((r) => r.rss?.byName[n] ?? 0)))}/${fmtMiB(Math.max(...x2.map((r) => r.rss?.byName[n] ?? 0)))}`)
        .join(', ') +
      `; sampled every 50 ms from /proc/<pid>/status (VmRSS), summed over the tree.`,
  );
}

// ---------------------------------------------------------------------------------------------
// Case 3: incrementals after a fixed amount of writes (builds the chain case 4 restores)

interface Chain {
  full: BackupInfo;
  incrementals: BackupInfo[];
}
let chain: Chain | undefined;
let sourceCounts: number[] | undefined;

async function caseIncremental(): Promise<void> {
  const out: NonNullable<Results['cases']['incremental']> = { writes: [] };
  results.cases.incremental = out;
  if (!load1) throw new Error('no data loaded');
  log(`case 3: incremental after ${cfg.writeMB} MB of inserts + ${cfg.updateRows} scattered updates, ${cfg.incrementals} time(s)`);
  await deletePrefix(s3c, s3.bucket, 'backupmate/');
  const full = await bmBackup(bmS3Dir, 'full', 0);
  out.chainFull = full.record;
  log(`  chain full ${full.id}: ${tputText(full.rawBytes, full.record.wallMs)}`);
  const c: Chain = { full, incrementals: [] };
  const bytesPerRow = load1.bytesOnDisk / load1.rows;
  let base = full.toLsn;
  const a: RunRecord[] = [];
  const b: RunRecord[] = [];
  for (let i = 1; i <= cfg.incrementals; i++) {
    const w = await writeWorkload(server, load1.schema, cfg.tables, bytesPerRow, cfg.writeMB * 1e6, cfg.updateRows);
    await settle(server);
    out.writes!.push({ run: i, ...w });
    log(`  writes ${i}: ${w.insertedRows} rows inserted (~${fmtBytes(w.insertedBytesEstimate)}), ${w.updatedRows} updated, ${fmtSeconds(w.durationMs)}`);
    const runA = async () => {
      const inc = await bmBackup(bmS3Dir, 'incremental', i);
      c.incrementals.push(inc);
      a.push(inc.record);
      log(`  A backupmate --incremental ${i}: ${fmtSeconds(inc.record.wallMs)}, raw ${fmtBytes(inc.rawBytes)}, stored ${fmtBytes(inc.storedBytes)}`);
    };
    const baseLsn = base;
    const runB = async () => {
      const key = `shell/incremental-${i}.xbstream.zst`;
      const rec = await shellRun('shell incremental to S3', `${await mariabackupCmd(baseLsn)} | ${ZSTD} | ${s3Upload(key)}`, i);
      rec.storedBytes = await objectSize(s3c, s3.bucket, key);
      b.push(rec);
      log(`  B shell --incremental-lsn ${i}: ${fmtSeconds(rec.wallMs)}, stored ${fmtBytes(rec.storedBytes)}`);
      await deletePrefix(s3c, s3.bucket, 'shell/');
    };
    // Both start from the same LSN (the previous backupmate backup) with no writes in between.
    if (i % 2 === 1) {
      await runA();
      await runB();
    } else {
      await runB();
      await runA();
    }
    base = c.incrementals.at(-1)!.toLsn;
  }
  chain = c;
  sourceCounts = await rowCounts(server, load1.schema, cfg.tables);
  out.pair = pair(
    `3. incremental after ${cfg.writeMB} MB inserted + ${cfg.updateRows} rows updated → S3`,
    side('backupmate backup --incremental', 'backupmate backup --incremental (parent: the previous backup)', a),
    side(`mariabackup --incremental-lsn | ${ZSTD} | ${S3_UPLOADER()}`, `mariabackup --backup --stream=xbstream --incremental-lsn=<parent to_lsn> | ${ZSTD} | ${S3_UPLOADER()}`, b),
    [retentionNote('S3 (incrementals)', a, false)],
  );
}

// ---------------------------------------------------------------------------------------------
// Case 4: restore of full + N incrementals into a ready datadir

async function verifyDatadir(datadir: string, label: string): Promise<boolean | string> {
  if (!sourceCounts || !load1) return 'no source counts';
  const restored = await startPrivateServer({ datadir });
  try {
    const counts = await rowCounts(restored, load1.schema, cfg.tables);
    const ok = JSON.stringify(counts) === JSON.stringify(sourceCounts);
    log(`  verify ${label}: the restored server starts and ${ok ? 'every table has the source row count' : `row counts DIFFER: ${counts} vs ${sourceCounts}`}`);
    return ok;
  } finally {
    await restored.destroy();
  }
}

async function caseRestore(): Promise<void> {
  const out: NonNullable<Results['cases']['restore']> = { verified: {} };
  results.cases.restore = out;
  if (!chain || chain.incrementals.length === 0) throw new Error('no chain from case 3 to restore');
  const ch = chain;
  const last = ch.incrementals.at(-1)!;
  const backups = [ch.full, ...ch.incrementals];
  log(`case 4: restore of full + ${ch.incrementals.length} incrementals into a ready datadir, ${cfg.restoreRuns} run(s) per side`);
  const a: RunRecord[] = [];
  const b: RunRecord[] = [];
  await alternate(
    cfg.restoreRuns,
    async (i) => {
      const dir = path.join(workDir, `restore-A-${i}`);
      const datadir = path.join(dir, 'datadir');
      await fsp.mkdir(dir, { recursive: true });
      const { r, logs } = await backupmate(bmS3Dir, ['restore', last.id, '--copy-back'], {
        MARIADB_DATADIR: datadir,
        LOCAL_TEMP_DIR: path.join(dir, 'tmp'),
        // The benchmark's own server answers on the configured socket; this restore targets another datadir.
        DB_SOCKET: path.join(workDir, 'no-server-here.sock'),
      });
      const end = event(logs, 'restore.end') as { timings?: { downloadMs: number; prepareMs: number; putBackMs: number; totalMs: number } } | undefined;
      const t = end?.timings;
      if (!t) throw new Error('backupmate restore: no restore.end log line with timings');
      const copyBack = Number(event(logs, 'copy-back.end')?.durationMs ?? NaN);
      const stages = {
        downloadExtract: t.downloadMs,
        prepare: t.prepareMs,
        copyBack,
        chown: t.putBackMs - copyBack,
        putBack: t.putBackMs,
        other: r.wallMs - t.downloadMs - t.prepareMs - t.putBackMs,
        jobMs: t.totalMs,
      };
      a.push({ run: i, wallMs: round(r.wallMs, 1), rss: r.rss, stages: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round(v, 0)])) });
      log(
        `  A backupmate restore --copy-back run ${i}: ${fmtSeconds(r.wallMs)} (download+extract ${fmtSeconds(t.downloadMs)}, prepare ${fmtSeconds(t.prepareMs)}, ` +
          `copy-back ${fmtSeconds(copyBack)}, chown ${fmtSeconds(stages.chown)}), ${fmtRssForLog(r.rss)}`,
      );
      if (cfg.verify && out.verified!.A === undefined) out.verified!.A = await verifyDatadir(datadir, 'A');
      await fsp.rm(dir, { recursive: true, force: true });
    },
    async (i) => {
      const dir = path.join(workDir, `restore-B-${i}`);
      const datadir = path.join(dir, 'datadir');
      const stages = { download: 0, extract: 0, prepare: 0, copyBack: 0 };
      for (const bk of backups) {
        const kindPrefix = bk === ch.full ? 'backupmate/full/' : 'backupmate/incremental/';
        const dl = path.join(dir, 'download', bk.id);
        const x = path.join(dir, 'data', bk.id);
        await fsp.mkdir(dl, { recursive: true });
        await fsp.mkdir(x, { recursive: true });
        stages.download += (await bash('manual download', s3DownloadDir(`${kindPrefix}${bk.id}/`, dl), { env: shellEnv })).wallMs;
        stages.extract += (
          await bash('manual extract', `cd ${sh(dl)}\ncat data.* | tar -xO --wildcards 'xbstream.zst/*' | zstd -q -d | mbstream -x -C ${sh(x)}`, { env: shellEnv })
        ).wallMs;
      }
      const fullDir = path.join(dir, 'data', ch.full.id);
      stages.prepare += (await runOk('manual prepare', 'mariabackup', ['--no-defaults', '--prepare', `--target-dir=${fullDir}`])).wallMs;
      for (const inc of ch.incrementals) {
        stages.prepare += (
          await runOk('manual prepare incremental', 'mariabackup', ['--no-defaults', '--prepare', `--target-dir=${fullDir}`, `--incremental-dir=${path.join(dir, 'data', inc.id)}`])
        ).wallMs;
      }
      stages.copyBack += (
        await bash('manual copy-back', `mariabackup --no-defaults --copy-back --target-dir=${sh(fullDir)} --datadir=${sh(datadir)}\nchown -R mysql:mysql ${sh(datadir)}`)
      ).wallMs;
      const wall = stages.download + stages.extract + stages.prepare + stages.copyBack;
      b.push({ run: i, wallMs: round(wall, 1), stages: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round(v, 0)])) });
      log(
        `  B manual sequential run ${i}: ${fmtSeconds(wall)} (download ${fmtSeconds(stages.download)}, extract ${fmtSeconds(stages.extract)}, ` +
          `prepare ${fmtSeconds(stages.prepare)}, copy-back+chown ${fmtSeconds(stages.copyBack)})`,
      );
      if (cfg.verify && out.verified!.B === undefined) out.verified!.B = await verifyDatadir(datadir, 'B');
      await fsp.rm(dir, { recursive: true, force: true });
    },
  );
  out.pair = pair(
    `4. restore full + ${ch.incrementals.length} incremental${ch.incrementals.length === 1 ? '' : 's'} → ready datadir`,
    side('backupmate restore --copy-back', `backupmate restore ${'<last incremental>'} --copy-back (MARIADB_OS_USER=mysql)`, a),
    side(
      'manual, sequential',
      `per backup: ${cfg.s3Client === 'aws' ? 'aws s3 cp --recursive' : 'SDK download'}, then cat data.* | tar -xO 'xbstream.zst/*' | zstd -d | mbstream -x; ` +
        'then mariabackup --prepare (full, then each incremental); then mariabackup --copy-back; chown -R mysql:mysql',
      b,
    ),
    [
      'Restore: A is the wall time of the whole `backupmate restore` process (start-up, catalog, size checks, sha256 of every volume included; ' +
        'after the copy-back its staging copy is removed by a detached rm -rf, not waited for); ' +
        "B is the sum of the manual steps' times (no sha256sum -c, no cleanup).",
    ],
  );
  out.pair.target = { text: 'time ≤ 0.8× manual', pass: out.pair.timeRatio <= 0.8 };
}

// ---------------------------------------------------------------------------------------------
// Case 5: encryption (only once ENCRYPTION is a configuration key)

async function caseEncryption(): Promise<void> {
  const out: NonNullable<Results['cases']['encryption']> = {};
  results.cases.encryption = out;
  if (!CONFIG_KEYS.includes('ENCRYPTION')) {
    out.skipped = 'ENCRYPTION is not a configuration key yet (src/config/schema.ts); rerun once the encryption issue has landed';
    log(`case 5: skipped: ${out.skipped}`);
    return;
  }
  log('case 5: full backup → S3 with encryption on');
  // An age identity for the run; BENCH_ENCRYPTION_ENV may name the keys ({RECIPIENT}, {IDENTITY_FILE} are filled in).
  const identityFile = path.join(workDir, 'age-identity.txt');
  let recipient = '';
  if (hasProgram('age-keygen')) {
    await runOk('age-keygen', 'age-keygen', ['-o', identityFile]);
    recipient = /public key: (age1\w+)/.exec(fs.readFileSync(identityFile, 'utf8'))?.[1] ?? '';
  }
  const env: Record<string, string> = {};
  if (cfg.encryptionEnv.trim()) {
    for (const kv of cfg.encryptionEnv.trim().split(/\s+/)) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1).replace('{RECIPIENT}', recipient).replace('{IDENTITY_FILE}', identityFile);
    }
  } else {
    env.ENCRYPTION = 'age';
    for (const k of CONFIG_KEYS) {
      if (/RECIPIENT/.test(k)) env[k] = recipient;
      else if (/^ENCRYPTION_.*(IDENTITY|KEY_FILE)/.test(k)) env[k] = identityFile;
    }
  }
  out.env = { ...env };
  const check = await run(process.execPath, [CLI, 'config', 'check'], { cwd: bmS3Dir, env: { ...cleanEnv(), ...env } });
  if (check.exitCode !== 0) {
    out.skipped = `the encryption settings ${JSON.stringify(env)} are not accepted (set BENCH_ENCRYPTION_ENV): ${tail(check.stderr, 3).replace(/\n/g, ' ')}`;
    log(`  skipped: ${out.skipped}`);
    return;
  }
  const a: RunRecord[] = [];
  const b: RunRecord[] = [];
  const useAge = hasProgram('age') && recipient !== '';
  await alternate(
    cfg.runs,
    async (i) => {
      const bk = await bmBackup(bmS3Dir, 'full', i, env);
      a.push(bk.record);
      log(`  A backupmate encrypted run ${i}: ${tputText(bk.rawBytes, bk.record.wallMs)}, ${fmtRssForLog(bk.record.rss)}`);
      await deletePrefix(s3c, s3.bucket, 'backupmate/');
    },
    async (i) => {
      if (useAge) {
        const key = `shell/full-${i}.xbstream.zst.age`;
        const rec = await shellRun('shell pipeline with age', `${await mariabackupCmd()} | ${ZSTD} | age -r ${recipient} | ${s3Upload(key)}`, i);
        b.push(rec);
        log(`  B shell with age run ${i}: ${fmtSeconds(rec.wallMs)}`);
        await deletePrefix(s3c, s3.bucket, 'shell/');
      } else {
        const bk = await bmBackup(bmS3Dir, 'full', i);
        b.push(bk.record);
        log(`  B backupmate unencrypted run ${i}: ${tputText(bk.rawBytes, bk.record.wallMs)}`);
        await deletePrefix(s3c, s3.bucket, 'backupmate/');
      }
    },
  );
  const raw = summarize(a.map((r) => r.rawBytes!)).median;
  out.pair = pair(
    '5. full backup → S3, encrypted',
    side('backupmate, encryption on', `backupmate backup --full with ${Object.keys(env).join(', ')}`, a),
    useAge
      ? side(`mariabackup | ${ZSTD} | age -r | ${S3_UPLOADER()}`, `mariabackup --backup --stream=xbstream | ${ZSTD} | age -r RECIPIENT | ${S3_UPLOADER()}`, b, raw)
      : side('backupmate, encryption off', 'backupmate backup --full', b),
  );
  if (useAge) out.pair.target = { text: 'throughput ≥ 1.0× shell', pass: (out.pair.throughputRatio ?? 0) >= 1.0 };
  const plain = results.cases.fullBackup?.s3?.A.throughputMBps?.median;
  if (plain) {
    out.vsUnencrypted = round(out.pair.A.throughputMBps!.median / plain, 3);
    out.pair.notes.push(`Encryption: backupmate's throughput with encryption on is ${out.vsUnencrypted.toFixed(2)}× its unencrypted throughput to S3 (case 1).`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function setup(): Promise<void> {
  await fsp.mkdir(cfg.workDir, { recursive: true });
  workDir = await fsp.mkdtemp(path.join(cfg.workDir, 'run-'));
  // mkdtemp makes it 0700: mariadbd (user mysql) must reach the restored datadirs below it.
  await fsp.chmod(workDir, 0o755);
  await fsp.mkdir(path.join(workDir, 'logs'));
  results.machine = machineDetails(ROOT, workDir, PKG.version);
  results.settings = { ...cfg, cases: [...cfg.cases].sort(), workDir, shellS3Client: cfg.s3Client };
  log(`backupmate benchmark: BENCH_DATA_MB=${cfg.dataMB}, BENCH_RUNS=${cfg.runs}, cases ${[...cfg.cases].sort().join(',')}, work dir ${workDir}`);
  const load = os.loadavg()[0]!;
  if (load > 0.5) {
    const note = `Load average was ${load.toFixed(2)} when the benchmark started: other processes shared the ${os.cpus().length} cores, so absolute figures are pessimistic and noisy.`;
    results.notes.push(note);
    log(`  note: ${note}`);
  }
  if (fs.existsSync('/etc/backupmate')) {
    results.notes.push('/etc/backupmate exists: its *.env files also configure the backupmate runs (the work dir .backupmate.env overrides the keys it sets).');
  }
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run bench does)`);
  for (const p of ['mariabackup', 'mbstream', 'zstd', 'tar', 'bash']) if (!hasProgram(p)) throw new Error(`${p} is not on PATH`);

  s3 = await startS3rver({ bucket: 'bench', directory: path.join(workDir, 's3rver') });
  s3c = s3Client(s3);
  server = await startPrivateServer({ extraArgs: [`--innodb-buffer-pool-size=${cfg.bufferPool}`] });
  log(`  mariadbd on ${server.socket} (buffer pool ${cfg.bufferPool}), s3rver on ${s3.endpoint}`);

  mbCnf = path.join(workDir, 'mariabackup.cnf');
  fs.writeFileSync(mbCnf, `[mariabackup]\nuser=root\nsocket=${server.socket}\n`, { mode: 0o600 });
  const emptyAws = path.join(workDir, 'aws-empty-config');
  fs.writeFileSync(emptyAws, '');
  shellEnv = {
    ...cleanEnv(),
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_DEFAULT_REGION: s3.region,
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: emptyAws,
    AWS_SHARED_CREDENTIALS_FILE: emptyAws,
  };

  fileStore = path.join(workDir, 'store');
  // backupmate as configured in production, apart from the store: the schema's defaults.
  const common = {
    LOG_LEVEL: 'info',
    COMPRESSION: 'zstd',
    COMPRESSION_LEVEL: '3',
    ...PRODUCTION_DEFAULTS,
    MARIADB_OS_USER: 'mysql',
  };
  bmS3Dir = await makeWorkdir(server, { kind: 's3', server: s3 }, { ...common, LOG_FILE: path.join(workDir, 'logs/backupmate-s3.log') });
  bmFileDir = await makeWorkdir(server, { kind: 'file', path: fileStore }, { ...common, LOG_FILE: path.join(workDir, 'logs/backupmate-file.log') });
  tempDirs.push(bmS3Dir, bmFileDir);

  log(`  loading ${cfg.dataMB} MB into schema bench1 (${cfg.tables} tables)`);
  load1 = await loadData(server, 'bench1', cfg.dataMB * 1e6, cfg.tables, log);
  await settle(server);
  log(`  loaded ${fmtBytes(load1.bytesOnDisk)} (${load1.rows} rows) in ${fmtSeconds(load1.durationMs)}`);
  Object.assign(results.dataset, {
    schema: load1.schema,
    tables: load1.tables,
    rows: load1.rows,
    bytesOnDisk: load1.bytesOnDisk,
    loadMs: load1.durationMs,
    bytesPerRow: round(load1.bytesOnDisk / load1.rows, 1),
  });
}

let cleanedUp = false;
async function cleanup(): Promise<void> {
  if (cleanedUp) return;
  cleanedUp = true;
  await stopAllServers().catch((e: unknown) => log(`  stopping mariadbd: ${String(e)}`));
  await s3?.stop().catch(() => {});
  if (!cfg.keep) for (const d of tempDirs) await fsp.rm(d, { recursive: true, force: true });
  if (workDir && !cfg.keep) await fsp.rm(workDir, { recursive: true, force: true });
  else if (workDir) log(`kept ${workDir} (BENCH_KEEP)`);
}

function onSignal(sig: NodeJS.Signals): void {
  log(`${sig}: stopping, cleaning up`);
  killActiveChildren();
  void cleanup().finally(() => process.exit(130));
}
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

async function writeResults(): Promise<void> {
  results.finishedAt = new Date().toISOString();
  results.durationSeconds = Math.round((Date.now() - T0) / 1000);
  if (results.machine) results.machine.loadAverageAtEnd = os.loadavg().map((x) => round(x, 2));
  await fsp.mkdir(cfg.resultsDir, { recursive: true });
  const md = renderMarkdown(results);
  const stamp = results.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const json = JSON.stringify(results, null, 2) + '\n';
  await fsp.writeFile(path.join(cfg.resultsDir, 'latest.json'), json);
  await fsp.writeFile(path.join(cfg.resultsDir, 'latest.md'), md);
  await fsp.writeFile(path.join(cfg.resultsDir, `${stamp}.json`), json);
  await fsp.writeFile(path.join(cfg.resultsDir, `${stamp}.md`), md);
  log(`results: ${path.join(cfg.resultsDir, 'latest.json')}, latest.md (and ${stamp}.*)`);
  if (cfg.updateReadme) {
    const readme = path.join(ROOT, 'bench/README.md');
    const text = fs.existsSync(readme) ? fs.readFileSync(readme, 'utf8') : '';
    const start = '<!-- bench:latest:start -->';
    const end = '<!-- bench:latest:end -->';
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i >= 0 && j > i) {
      fs.writeFileSync(readme, `${text.slice(0, i + start.length)}\n${md}\n${text.slice(j)}`);
      log('bench/README.md now quotes this table');
    }
  }
  console.log('\n' + md);
}

async function main(): Promise<number> {
  let failures = 0;
  try {
    await setup();
    const cases: Array<[number, keyof Results['cases'], () => Promise<void>]> = [
      [1, 'fullBackup', caseFullBackup],
      [3, 'incremental', caseIncremental],
      [4, 'restore', caseRestore],
      [5, 'encryption', caseEncryption],
      // Last: it loads a second copy of the data.
      [2, 'rss', caseRss],
    ];
    for (const [n, key, fn] of cases) {
      if (!cfg.cases.has(n)) continue;
      const t = Date.now();
      try {
        await fn();
        log(`case ${n} done in ${fmtSeconds(Date.now() - t)}`);
      } catch (e) {
        failures++;
        const msg = e instanceof Error ? e.message : String(e);
        log(`case ${n} FAILED: ${msg}`);
        const entry = (results.cases[key] ?? {}) as { error?: string };
        entry.error = msg;
        (results.cases as Record<string, unknown>)[key] = entry;
        await deletePrefix(s3c, s3.bucket, '').catch(() => {});
        await removeScratch().catch(() => {});
      }
    }
  } catch (e) {
    failures++;
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    log(`FAILED: ${msg}`);
    results.notes.push(`The benchmark stopped early: ${msg.split('\n')[0]}`);
  } finally {
    await writeResults().catch((e: unknown) => log(`could not write results: ${String(e)}`));
    await cleanup();
    log(`done in ${fmtSeconds(Date.now() - T0)}`);
  }
  return failures === 0 ? 0 : 1;
}

const code = await main();
clearInterval(keepAlive);
process.exit(code);
