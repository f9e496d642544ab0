/** Result types, machine details and the Markdown summary. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { RssPeaks } from './proc.js';
import { fmtBytes, fmtMiB, fmtRatio, fmtSeconds, fmtSummary, MiB, round, summarize, type Summary } from './stats.js';

export interface RunRecord {
  /** 1-based run number within the case. */
  run: number;
  wallMs: number;
  rawBytes?: number;
  storedBytes?: number;
  rss?: RssPeaks;
  /** Stage timings (ms) and other per-run numbers. */
  stages?: Record<string, number>;
  backupId?: string;
}

export interface Side {
  label: string;
  /** What exactly ran (a command line or a description). */
  command: string;
  runs: RunRecord[];
  wallMs: Summary;
  throughputMBps?: Summary;
  storedBytes?: Summary;
  peakRssTreeBytes?: Summary;
  peakRssNodeBytes?: Summary;
  /** Medians of each stage timing over the runs. */
  stageMedians?: Record<string, number>;
}

export interface Target {
  text: string;
  pass: boolean;
}

export interface PairResult {
  title: string;
  A: Side;
  B: Side;
  /** median wall A / median wall B */
  timeRatio: number;
  /** median throughput A / median throughput B (when both have one) */
  throughputRatio?: number;
  target?: Target;
  notes: string[];
}

export interface CaseOutcome {
  skipped?: string;
  error?: string;
}

export function side(label: string, command: string, runs: RunRecord[], rawBytesForThroughput?: number): Side {
  const s: Side = { label, command, runs, wallMs: summarize(runs.map((r) => r.wallMs)) };
  if (rawBytesForThroughput !== undefined || runs.some((r) => r.rawBytes !== undefined)) {
    s.throughputMBps = summarize(runs.map((r) => (r.rawBytes ?? rawBytesForThroughput ?? NaN) / 1e6 / (r.wallMs / 1000)));
  }
  if (runs.some((r) => r.storedBytes !== undefined)) s.storedBytes = summarize(runs.map((r) => r.storedBytes ?? NaN));
  if (runs.some((r) => r.rss)) {
    s.peakRssTreeBytes = summarize(runs.map((r) => r.rss?.treeBytes ?? NaN));
    s.peakRssNodeBytes = summarize(runs.map((r) => r.rss?.rootBytes ?? NaN));
  }
  const stageNames = [...new Set(runs.flatMap((r) => Object.keys(r.stages ?? {})))];
  if (stageNames.length) {
    s.stageMedians = Object.fromEntries(stageNames.map((n) => [n, round(summarize(runs.map((r) => r.stages?.[n] ?? NaN)).median, 1)]));
  }
  return s;
}

export function pair(title: string, A: Side, B: Side, notes: string[] = []): PairResult {
  const p: PairResult = { title, A, B, timeRatio: A.wallMs.median / B.wallMs.median, notes };
  if (A.throughputMBps && B.throughputMBps) p.throughputRatio = A.throughputMBps.median / B.throughputMBps.median;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Machine details

function cmdOut(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).trim().split('\n')[0]!;
  } catch (e) {
    const err = e as { stderr?: string };
    // Some tools (aws v1) print their version on stderr.
    return err.stderr?.trim().split('\n')[0] || 'absent';
  }
}

function osName(): string {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'Linux';
    const deb = fs.existsSync('/etc/debian_version') ? ` (debian_version ${fs.readFileSync('/etc/debian_version', 'utf8').trim()})` : '';
    return pretty + deb;
  } catch {
    return os.type();
  }
}

export interface Machine {
  hostname: string;
  os: string;
  kernel: string;
  cpuModel: string;
  cpus: number;
  memoryBytes: number;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
  node: string;
  tools: Record<string, string>;
  backupmate: { version: string; commit: string };
  workDirFilesystem: string;
}

export function machineDetails(root: string, workDir: string, version: string): Machine {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dirty) commit += ' (with uncommitted changes)';
  } catch {
    /* not a git checkout */
  }
  return {
    hostname: os.hostname(),
    os: osName(),
    kernel: os.release(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    loadAverageAtStart: os.loadavg().map((x) => round(x, 2)),
    node: process.version,
    tools: {
      mariadbd: cmdOut(process.env.MARIADBD_BIN ?? '/usr/sbin/mariadbd', ['--version']),
      mariabackup: cmdOut('mariabackup', ['--version']),
      zstd: cmdOut('zstd', ['--version']),
      aws: cmdOut('aws', ['--version']),
      age: cmdOut('age', ['--version']),
    },
    backupmate: { version, commit },
    workDirFilesystem: dfLine(workDir),
  };
}

function dfLine(dir: string): string {
  try {
    const lines = execFileSync('df', ['-hPT', dir], { encoding: 'utf8' }).trim().split('\n');
    const f = lines[lines.length - 1]!.split(/\s+/);
    return `${f[0]} (${f[1]}), ${f[3]} size, ${f[5]} available at start`;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// Markdown

export interface Results {
  format: 'backupmate-bench/1';
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: Machine;
  settings: Record<string, unknown>;
  dataset: Record<string, unknown>;
  cases: {
    fullBackup?: CaseOutcome & {
      s3?: PairResult;
      file?: PairResult;
      attribution?: { read: Side; readCompress: Side; breakdownMs: Record<string, number> };
    };
    rss?: CaseOutcome & { x1?: Side; x2?: Side; ratio?: number; targets?: Target[]; notes: string[] };
    incremental?: CaseOutcome & { pair?: PairResult; chainFull?: RunRecord; writes?: Record<string, number>[] };
    restore?: CaseOutcome & { pair?: PairResult; verified?: Record<string, boolean | string> };
    encryption?: CaseOutcome & { pair?: PairResult; vsUnencrypted?: number; env?: Record<string, string> };
  };
  notes: string[];
}

const tp = (x: number) => `${x.toFixed(0)} MB/s`;
const sec = (ms: number) => fmtSeconds(ms);
const mib = (b: number) => fmtMiB(b);

function targetCell(t?: Target): [string, string] {
  return t ? [t.text, t.pass ? '✅ met' : '❌ missed'] : ['–', ''];
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const d = r.dataset;
  const s = r.settings;
  const lines: string[] = [];
  lines.push(`### backupmate benchmark, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC`);
  lines.push('');
  lines.push(
    `${m.cpuModel}, ${m.cpus} cores, ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB RAM, ${m.os}, Linux ${m.kernel}; Node ${m.node}; ` +
      `${m.tools.mariadbd}; zstd ${/v[\d.]+/.exec(m.tools.zstd ?? '')?.[0] ?? '?'}; ${m.tools.aws?.split(' ')[0] ?? ''}. ` +
      `backupmate ${m.backupmate.version} (${m.backupmate.commit}). Load average at start ${m.loadAverageAtStart.join(' / ')}` +
      (m.loadAverageAtEnd ? `, at end ${m.loadAverageAtEnd.join(' / ')}` : '') +
      '.',
  );
  lines.push('');
  lines.push(
    `Data: ${fmtBytes(Number(d.bytesOnDisk))} of InnoDB (${d.tables} tables, ${d.rows} rows; BENCH_DATA_MB=${s.dataMB}) → ` +
      `xbstream ${fmtBytes(Number(d.rawStreamBytes))}, stored with zstd -3 ${fmtBytes(Number(d.storedBytes))} (${fmtRatio(Number(d.compressionRatio))}). ` +
      `Runs per case: ${s.runs} (restore ${s.restoreRuns}, 2× RSS ${s.rssRuns}), A and B alternating. Total ${(r.durationSeconds / 60).toFixed(1)} min.`,
  );
  lines.push('');
  lines.push('| case | A | B | A: median (min–max) | B: median (min–max) | A/B | target | |');
  lines.push('|---|---|---|---|---|---|---|---|');
  const row = (cells: string[]) => lines.push(`| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  const c = r.cases;

  const failed = (name: string, o?: CaseOutcome) => {
    if (o?.error) row([name, '', '', '', '', '', '', `error: ${o.error.split('\n')[0]}`]);
    else if (o?.skipped) row([name, '', '', '', '', '', '', `skipped: ${o.skipped}`]);
  };

  if (c.fullBackup) {
    failed('1. full backup', c.fullBackup);
    for (const p of [c.fullBackup.s3, c.fullBackup.file]) {
      if (!p) continue;
      row([
        p.title,
        p.A.label,
        p.B.label,
        `${fmtSummary(p.A.throughputMBps!, tp)}, ${fmtSummary(p.A.wallMs, sec)}`,
        `${fmtSummary(p.B.throughputMBps!, tp)}, ${fmtSummary(p.B.wallMs, sec)}`,
        `${fmtRatio(p.throughputRatio ?? NaN)} throughput`,
        ...targetCell(p.target),
      ]);
    }
  }
  if (c.rss) {
    failed('2. peak RSS', c.rss);
    const x1 = c.rss.x1;
    const x2 = c.rss.x2;
    if (x1 && x2) {
      row([
        '2. peak RSS of the backupmate tree (node + mariabackup + zstd), full backup → S3',
        '2× data',
        '1× data',
        `${fmtSummary(x2.peakRssTreeBytes!, mib)} (node ${fmtSummary(x2.peakRssNodeBytes!, mib)})`,
        `${fmtSummary(x1.peakRssTreeBytes!, mib)} (node ${fmtSummary(x1.peakRssNodeBytes!, mib)})`,
        fmtRatio(c.rss.ratio ?? NaN),
        (c.rss.targets ?? []).map((t) => t.text).join('; '),
        (c.rss.targets ?? []).every((t) => t.pass) ? '✅ met' : '❌ missed',
      ]);
    }
  }
  if (c.incremental) {
    failed('3. incremental', c.incremental);
    const p = c.incremental.pair;
    if (p) {
      row([
        p.title,
        p.A.label,
        p.B.label,
        `${fmtSummary(p.A.wallMs, sec)}, stored ${fmtSummary(p.A.storedBytes!, fmtBytes)}`,
        `${fmtSummary(p.B.wallMs, sec)}, stored ${fmtSummary(p.B.storedBytes!, fmtBytes)}`,
        `${fmtRatio(p.timeRatio)} time`,
        '–',
        '',
      ]);
    }
  }
  if (c.restore) {
    failed('4. restore', c.restore);
    const p = c.restore.pair;
    if (p) row([p.title, p.A.label, p.B.label, fmtSummary(p.A.wallMs, sec), fmtSummary(p.B.wallMs, sec), `${fmtRatio(p.timeRatio)} time`, ...targetCell(p.target)]);
  }
  if (c.encryption) {
    failed('5. encryption', c.encryption);
    const p = c.encryption.pair;
    if (p) {
      row([
        p.title,
        p.A.label,
        p.B.label,
        `${fmtSummary(p.A.throughputMBps!, tp)}, ${fmtSummary(p.A.wallMs, sec)}`,
        `${fmtSummary(p.B.throughputMBps!, tp)}, ${fmtSummary(p.B.wallMs, sec)}`,
        `${fmtRatio(p.throughputRatio ?? NaN)} throughput`,
        ...targetCell(p.target),
      ]);
    }
  }
  lines.push('');

  const att = c.fullBackup?.attribution;
  if (att) {
    const b = att.breakdownMs;
    lines.push(
      `Where a full backup's time goes (medians): read (\`mariabackup --stream > /dev/null\`) ${sec(b.read!)}, ` +
        `+ compress (\`| zstd -T0 -3 > /dev/null\`) ${sec(b.readCompress!)} → compression adds ${sec(b.compress!)}; ` +
        (b.backupmateFile !== undefined ? `backupmate → file store ${sec(b.backupmateFile)} (container + hashing + write + fsync add ${sec(b.fileOverhead!)}); ` : '') +
        (b.backupmateS3 !== undefined ? `backupmate → S3 ${sec(b.backupmateS3)} (container + hashing + upload add ${sec(b.s3Overhead!)}).` : ''),
    );
    lines.push('');
  }
  const rp = c.restore?.pair;
  if (rp) {
    const a = rp.A.stageMedians ?? {};
    const bm = rp.B.stageMedians ?? {};
    lines.push(`Where a restore's time goes (medians, ${r.settings.incrementals} incrementals):`);
    lines.push('');
    lines.push('| stage | backupmate | manual |');
    lines.push('|---|---|---|');
    lines.push(`| download + decompress + mbstream -x | ${sec(a.downloadExtract ?? NaN)} (one at a time, streamed; prepare of the full overlaps the incrementals) | ${sec((bm.download ?? NaN) + (bm.extract ?? NaN))} (download ${sec(bm.download ?? NaN)}, then extract ${sec(bm.extract ?? NaN)}) |`);
    lines.push(`| prepare (full + each incremental; backupmate: what is left after the last download) | ${sec(a.prepare ?? NaN)} | ${sec(bm.prepare ?? NaN)} |`);
    lines.push(`| copy-back + chown | ${sec(a.putBack ?? NaN)} | ${sec(bm.copyBack ?? NaN)} |`);
    lines.push(`| other (start-up, catalog, checks) | ${sec(a.other ?? NaN)} | – |`);
    lines.push(`| total | ${sec(rp.A.wallMs.median)} | ${sec(rp.B.wallMs.median)} |`);
    lines.push('');
  }
  const notes = [
    ...r.notes,
    ...[c.fullBackup?.s3, c.fullBackup?.file, c.incremental?.pair, c.restore?.pair, c.encryption?.pair].flatMap((p) => p?.notes ?? []),
    ...(c.rss?.notes ?? []),
  ];
  if (notes.length) {
    for (const n of notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}

export const fmtRssForLog = (p?: RssPeaks) => (p ? `peak RSS tree ${fmtMiB(p.treeBytes)}, node ${fmtMiB(p.rootBytes)}` : '');
export { MiB };
