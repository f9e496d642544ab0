/**
 * The replay: applies local binlog files to a prepared datadir, from the backup's GTID position
 * (exclusive) up to a moment or a GTID (inclusive), on a private scratch server, and proves it
 * reached the target. Called by the point-in-time restore (restore/pitr.ts) between "prepared in
 * staging" and "put back", so a replay that fails leaves production untouched.
 *
 * How, and why so:
 * - The files are scanned first (replay-scan.ts: headers only) and `cutReplay` turns the request
 *   into the exact stop position: a time becomes per-domain stop GTIDs, so mariadb-binlog is never
 *   asked for --stop-datetime (which mishandled several files in some versions, MDEV-35528), and
 *   holes, duplicates and a missing --gtid are refused before the server starts.
 * - ONE `mariadb-binlog --start-position=<backup> --stop-position=<cut> FILE...` piped into ONE
 *   `mariadb` session: temporary tables and transactions spanning files survive (per-file
 *   sessions break them, wal-g#888). GTID start is exclusive, stop inclusive (MariaDB >= 10.8).
 * - The scratch server runs with --skip-log-bin (mariadb/scratch.ts): ERROR 1950 (gtid_strict_mode,
 *   wal-g#2556) is raised only when binlogging, and nothing else writes to it before the replay,
 *   so no GTID sequence number is consumed ahead of the replayed ones (mariadb-operator#1709).
 * - Success needs every proof, never one alone (mariadb-operator#1709 reported success while data
 *   was lost): mariadb-binlog exits 0 (it fails itself when the files "never reached expected
 *   GTID state"), the client exits 0 (it stops at the first failing statement), the client
 *   answered the end marker sent after the last event, and the GTIDs that went through the pipe
 *   are exactly the planned ones (count and last per domain). Then a clean shutdown, so InnoDB
 *   writes the replayed state before the datadir is put back.
 */
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, pipeline } from 'node:stream';
import { ChildStage } from '../../archive/child.js';
import { runStages } from '../../archive/stages.js';
import { BackupmateError } from '../../domain/errors.js';
import type { Logger } from '../../log/logger.js';
import { startScratchServer } from '../../mariadb/scratch.js';
import { cutReplay, type PitrRequest, type ReplayCut } from '../../restore/pitr-plan.js';
import { formatGtid, formatPosition, parseGtid, replayWindow, type GtidPosition } from './replay-gtid.js';
import { BinlogScanner, type ScannedTransaction } from './replay-scan.js';

export interface ReplayOptions {
  /** The prepared datadir (mariabackup --prepare done); the replay writes into it. */
  datadir: string;
  /** A private, empty directory for the scratch server (short path: the socket lives there). */
  workDir: string;
  /** Local binlog files in stream order (the archive's segments, downloaded and decoded). */
  files: readonly string[];
  /** The backup's GTID position (its consistent point). */
  start: GtidPosition;
  request: PitrRequest;
  log: Logger;
  osUser?: string;
  /** LOCAL_TEMP_DIR: see ScratchServerOptions.traverseRoot. */
  traverseRoot?: string;
  /** More mariadbd options for the scratch server (tests: --gtid-strict-mode=1). */
  serverOptions?: readonly string[];
  mariadbBinlog?: string;
  mariadbClient?: string;
  signal?: AbortSignal;
}

export interface ReplayResult {
  /** The position reached ("0-1-42,2-1-7"): the backup's, advanced by every replayed transaction. */
  reached: string;
  transactions: number;
  lastReplayed: { gtid: string; committedAt: string } | null;
  /** The first transaction left out (a time cut), so a reader sees where the line fell. */
  firstLeftOut: { gtid: string; committedAt: string } | null;
  timings: { scanMs: number; replayMs: number };
}

const END_MARKER = 'backupmate-replay-end';

/** Scans files in order into one transaction list. */
export async function scanFiles(files: readonly string[], signal?: AbortSignal): Promise<ScannedTransaction[]> {
  const out: ScannedTransaction[] = [];
  for (const f of files) {
    const s = new BinlogScanner(path.basename(f));
    for await (const chunk of createReadStream(f, { highWaterMark: 1 << 20, signal })) s.push(chunk as Buffer);
    out.push(...s.end().transactions);
  }
  return out;
}

const txFact = (t: ScannedTransaction | null) => (t ? { gtid: formatGtid(t.gtid), committedAt: new Date(t.time * 1000).toISOString() } : null);

/**
 * Watches mariadb-binlog's SQL text on its way to the client: collects the GTID of every event
 * header comment ("#261202 16:22:53 server id 1 ... \tGTID 0-1-3 trans") and appends the end marker.
 */
export class GtidWatcher extends Transform {
  readonly seen: string[] = [];
  /** The "#" line being collected across chunks (null: the current line is not a header comment). */
  private line: string | null = null;
  private atLineStart = true;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, data?: unknown) => void): void {
    const text = chunk.toString('latin1');
    let pos = 0;
    while (pos < text.length) {
      if (this.atLineStart) {
        this.line = text.charCodeAt(pos) === 0x23 /* # */ ? '' : null;
        this.atLineStart = false;
      }
      const nl = text.indexOf('\n', pos);
      const end = nl < 0 ? text.length : nl;
      // Header comments are short; a "#" line longer than 4 KiB is not one we look for.
      if (this.line !== null) this.line = this.line.length + (end - pos) > 4096 ? null : this.line + text.slice(pos, end);
      if (nl < 0) break;
      if (this.line !== null) {
        const m = /\tGTID (\d+-\d+-\d+)/.exec(this.line);
        if (m && /^#\d{6} /.test(this.line)) this.seen.push(m[1]!);
      }
      this.line = null;
      this.atLineStart = true;
      pos = nl + 1;
    }
    cb(null, chunk);
  }

  override _flush(cb: (e?: Error | null, data?: unknown) => void): void {
    cb(null, Buffer.from(`\nSELECT '${END_MARKER}';\n`));
  }
}

/** The planned GTIDs the pipe must carry, in order (those after `start`, up to the cut). */
function plannedGtids(start: GtidPosition, cut: ReplayCut, transactions: readonly ScannedTransaction[]): string[] {
  const out: string[] = [];
  for (const t of transactions) {
    const stopSeq = cut.stop.get(t.gtid.domain)?.seq ?? 0n;
    const startSeq = start.get(t.gtid.domain)?.seq ?? 0n;
    if (t.gtid.seq > startSeq && t.gtid.seq <= stopSeq) out.push(formatGtid(t.gtid));
  }
  return out;
}

export async function replayBinlogs(o: ReplayOptions): Promise<ReplayResult> {
  if (o.files.length === 0 && !('gtid' in o.request && (o.start.get(o.request.gtid.domain)?.seq ?? 0n) >= o.request.gtid.seq)) {
    // Even "nothing to replay" must be proven by the archive; an empty list proves nothing.
    throw new BackupmateError('INTERNAL', 'replay: no binlog file to replay from (the planner should have refused)');
  }
  const t0 = Date.now();
  const transactions = await scanFiles(o.files, o.signal);
  const cut = cutReplay(o.start, transactions, o.request);
  const scanMs = Date.now() - t0;
  const planned = plannedGtids(o.start, cut, transactions);
  const window = replayWindow(o.start, cut.stop);
  const result = (replayMs: number): ReplayResult => ({
    reached: formatPosition(cut.stop),
    transactions: cut.transactions,
    lastReplayed: txFact(cut.lastReplayed),
    firstLeftOut: txFact(cut.firstLeftOut),
    timings: { scanMs, replayMs },
  });
  o.log.info('replay planned', {
    from: formatPosition(o.start),
    to: formatPosition(cut.stop),
    transactions: cut.transactions,
    files: o.files.length,
    lastReplayed: txFact(cut.lastReplayed),
    firstLeftOut: txFact(cut.firstLeftOut),
  });
  if (!window) {
    o.log.info('replay: the backup is already at the target, nothing to apply');
    return result(0);
  }
  if (planned.length !== cut.transactions) throw new BackupmateError('INTERNAL', `replay: planned ${planned.length} GTIDs but the cut counts ${cut.transactions}`);

  const t1 = Date.now();
  await fs.mkdir(o.workDir, { recursive: true, mode: 0o700 });
  const server = await startScratchServer({
    datadir: o.datadir,
    workDir: o.workDir,
    log: o.log,
    osUser: o.osUser,
    traverseRoot: o.traverseRoot,
    // Per-commit durability is pointless here: the result is used only after a clean shutdown
    // (checked below), and a crash means restoring again. Without an fsync per replayed commit
    // the replay is several times faster than `mariadb-binlog | mariadb` into a default server.
    extraOptions: ['--innodb-flush-log-at-trx-commit=0', '--skip-innodb-doublewrite', ...(o.serverOptions ?? [])],
    signal: o.signal,
    // The restored datadir is thrown away if anything fails; keepUser=false still drops our user.
  });
  let clientOut = '';
  const watcher = new GtidWatcher();
  try {
    const binlog = new ChildStage({
      stage: 'mariadb-binlog',
      file: o.mariadbBinlog ?? 'mariadb-binlog',
      args: [`--start-position=${window.start}`, `--stop-position=${window.stop}`, ...o.files],
      stdin: 'ignore',
      onStderr: (l) => o.log.warn(l, { stage: 'mariadb-binlog' }),
    });
    const client = new ChildStage({
      stage: 'mariadb-replay',
      file: o.mariadbClient ?? 'mariadb',
      // --batch: no pager or prompts; --binary-mode: row events' BINLOG '...' and \0 in strings pass as is.
      args: [`--defaults-file=${server.clientOptionFile}`, '--batch', '--skip-column-names', '--binary-mode'],
      onStderr: (l) => o.log.warn(l, { stage: 'mariadb-replay' }),
    });
    client.stdout!.on('data', (d: Buffer) => {
      if (clientOut.length < 4096) clientOut += d.toString('utf8');
    });
    const piped = new Promise<void>((resolve, reject) => pipeline(binlog.stdout!, watcher, client.stdin!, (e) => (e ? reject(e) : resolve())));
    await runStages(
      [
        { stage: 'mariadb-binlog', promise: binlog.done },
        { stage: 'mariadb-replay', promise: client.done },
        { stage: 'replay-pipe', promise: piped },
      ],
      () => {
        binlog.kill();
        client.kill();
      },
      o.signal,
    );
    if (!clientOut.includes(END_MARKER)) {
      throw new BackupmateError('TOOL_FAILED', `replay: the mariadb client exited 0 but never answered the end marker: the replay did not reach the end of the binlogs`, { stage: 'mariadb-replay' });
    }
    const seen = watcher.seen;
    const lastOf = (list: readonly string[]) => {
      const m = new Map<number, string>();
      for (const g of list) m.set(parseGtid(g).domain, g);
      return [...m.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]).join(',');
    };
    if (seen.length !== planned.length || lastOf(seen) !== lastOf(planned)) {
      throw new BackupmateError(
        'TOOL_FAILED',
        `replay stopped short: ${seen.length} transactions went to the server (last per domain ${lastOf(seen) || 'none'}), ${planned.length} were planned (last per domain ${lastOf(planned)})`,
        { stage: 'mariadb-replay', seen: seen.length, planned: planned.length },
      );
    }
  } finally {
    await server.stop();
  }
  // The replayed commits are durable only through a clean shutdown (see extraOptions): a server
  // that had to be killed may have lost the last ones, so that is a failed replay, never a success.
  const logText = await fs.readFile(server.errorLog, 'utf8').catch(() => '');
  if (!/Shutdown complete/.test(logText.split('\n').slice(-30).join('\n'))) {
    throw new BackupmateError('TOOL_FAILED', `replay: the scratch server did not shut down cleanly (no "Shutdown complete" in ${server.errorLog}): the replayed state may be incomplete; nothing was put back`, {
      stage: 'scratch-mariadbd',
    });
  }
  const replayMs = Date.now() - t1;
  o.log.info('replay done', { reached: formatPosition(cut.stop), transactions: cut.transactions, replayMs, scanMs });
  return result(replayMs);
}
