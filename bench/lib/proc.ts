/**
 * Child processes for the benchmark: timed runs, and peak RSS of a whole process tree sampled
 * from /proc every 50 ms (sum of VmRSS over the root and all its descendants, plus the root
 * alone and the peak per program name).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

export const SAMPLE_INTERVAL_MS = 50;

export interface RssPeaks {
  /** Highest sum of VmRSS over the tree seen in one sample, bytes. */
  treeBytes: number;
  /** Highest VmRSS of the root process alone, bytes. */
  rootBytes: number;
  /** Per program name (comm): highest sum over that name's processes in one sample, bytes. */
  byName: Record<string, number>;
  samples: number;
}

/** The pid and every descendant, found through /proc/<pid>/task/<tid>/children. */
export function treePids(root: number): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) {
          if (c.trim() !== '') stack.push(Number(c));
        }
      } catch {
        // thread or process gone
      }
    }
  }
  return out;
}

/** Name and VmRSS (bytes) of a process, or null once it is gone (a zombie has no VmRSS). */
export function processRss(pid: number): { name: string; bytes: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const name = /^Name:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? '?';
  const kb = /^VmRSS:\s*(\d+)\s*kB/m.exec(text);
  if (!kb) return null;
  return { name, bytes: Number(kb[1]) * 1024 };
}

/** Samples the tree under `root` every SAMPLE_INTERVAL_MS until stop(). */
export class RssSampler {
  private readonly peaks: RssPeaks = { treeBytes: 0, rootBytes: 0, byName: {}, samples: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly root: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  private sample(): void {
    let tree = 0;
    const byName: Record<string, number> = {};
    for (const pid of treePids(this.root)) {
      const r = processRss(pid);
      if (!r) continue;
      tree += r.bytes;
      byName[r.name] = (byName[r.name] ?? 0) + r.bytes;
      if (pid === this.root) this.peaks.rootBytes = Math.max(this.peaks.rootBytes, r.bytes);
    }
    this.peaks.treeBytes = Math.max(this.peaks.treeBytes, tree);
    for (const [n, b] of Object.entries(byName)) this.peaks.byName[n] = Math.max(this.peaks.byName[n] ?? 0, b);
    this.peaks.samples++;
  }

  stop(): RssPeaks {
    clearInterval(this.timer);
    return { ...this.peaks, byName: { ...this.peaks.byName } };
  }
}

export interface RunResult {
  exitCode: number;
  signal: string | null;
  wallMs: number;
  stdout: string;
  stderr: string;
  rss?: RssPeaks;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Sample the process tree's RSS while it runs. */
  sampleRss?: boolean;
  /** Keep stdout (default true); false sends it to /dev/null. */
  captureStdout?: boolean;
}

/** Children that are running now, so an interrupted benchmark can kill them. */
export const activeChildren = new Set<ChildProcess>();

const MAX_CAPTURE = 64 * 1024 * 1024;

/** Runs a program; resolves with its exit status and wall time (never rejects on a non-zero exit). */
export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', opts.captureStdout === false ? 'ignore' : 'pipe', 'pipe'],
    });
    activeChildren.add(child);
    const sampler = opts.sampleRss && child.pid !== undefined ? new RssSampler(child.pid) : undefined;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < MAX_CAPTURE) out.push(b);
      outLen += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      err.push(b);
      errLen += b.length;
      // Keep the tail only: mariabackup and friends can be chatty.
      while (errLen > 1024 * 1024 && err.length > 1) errLen -= err.shift()!.length;
    });
    child.once('error', (e) => {
      activeChildren.delete(child);
      sampler?.stop();
      reject(e);
    });
    child.once('close', (code, signal) => {
      const wallMs = performance.now() - t0;
      activeChildren.delete(child);
      resolve({
        exitCode: code ?? -1,
        signal,
        wallMs,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        rss: sampler?.stop(),
      });
    });
  });
}

/** Last non-empty lines of a text, for error messages. */
export function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Runs a program and throws (naming what failed, with the stderr tail) on a non-zero exit. */
export async function runOk(what: string, file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(file, args, opts);
  if (r.exitCode !== 0) {
    throw new Error(`${what} failed (exit ${r.exitCode}${r.signal ? `, signal ${r.signal}` : ''}):\n${tail(r.stderr || r.stdout, 15)}`);
  }
  return r;
}

/** `bash -o pipefail -c SCRIPT`: a shell pipeline whose status is the first failing stage's. */
export function bash(what: string, script: string, opts: RunOptions = {}): Promise<RunResult> {
  return runOk(what, 'bash', ['-o', 'pipefail', '-e', '-u', '-c', script], { captureStdout: false, ...opts });
}

/** Single-quotes a word for bash. */
export function sh(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Kills every running child (SIGKILL), e.g. on ^C. */
export function killActiveChildren(): void {
  for (const c of activeChildren) {
    try {
      if (c.pid !== undefined) {
        for (const pid of treePids(c.pid).reverse()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    } catch {
      // gone
    }
  }
}
