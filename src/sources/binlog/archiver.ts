/**
 * The binlog archiver: keeps the server's binary logs in the store, seconds behind the server.
 *
 * Why streaming with `mariadb-binlog --read-from-remote-server --raw --stop-never`: the server
 * pushes every event to it as it is written (it is a replication client, needs REPLICATION
 * SLAVE), and it writes them unchanged into local files named after the server's binlogs, flushed
 * per event (measured here: the local copy grows within milliseconds of the commit). Uploading
 * closed files on a timer, as the other tools do, makes the rotation interval the data-loss
 * window. We poll the local copy (100 ms), cut it into segments between transactions
 * (segmenter.ts: BINLOG_SEGMENT_BYTES or BINLOG_SEGMENT_SECONDS, and at every file end), and
 * upload each segment, compressed and encrypted like volumes, then its index object.
 *
 * One run = one loop of: ask the server who it is and which binlogs it has → read the archive's
 * last segment (the store is the only state: a daemon restart resumes exactly where the last
 * index object ends, so no duplicate and no hole) → stream from there until mariadb-binlog exits
 * (server restart, network, stop) → flush → again, after a short pause. When the binlog we must
 * continue from is no longer on the server (purged before we had it), a GAP record is written
 * before the next segment, logged and reported through `onGap`; the archive never pretends the
 * window is continuous. A server with another server_id, or whose GTID position is behind what we
 * archived (RESET MASTER), starts a new stream (layout.ts).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { ChildStage } from '../../archive/child.js';
import { compressCommand, type CompressorCommand } from '../../archive/compression.js';
import { encryptCommand } from '../../archive/encryption.js';
import { BackupmateError, errorText } from '../../domain/errors.js';
import type { CompressionAlgorithm } from '../../domain/manifest.js';
import type { Logger } from '../../log/logger.js';
import { backupOptionFileText, writeOptionFile, type ConnectionSettings } from '../../mariadb/mariabackup.js';
import { querySingleValue } from '../../mariadb/server.js';
import type { Storage } from '../../storage/storage.js';
import { formatGtidPos, includes, parseGtidPos, type GtidPos } from './gtid.js';
import { BINLOG_INDEX_FORMAT, gapRecordJson, segmentIndexJson, type GapRecord, type SegmentIndex } from './index.js';
import { gapName, segmentDataName, segmentIndexName, streamDir, streamId } from './layout.js';
import { listArchive, type ArchivedSegment } from './reader.js';
import { FileSegmenter, type SegmentDraft } from './segmenter.js';

export interface ArchiverSettings {
  storage: Storage;
  /** BINLOG_PREFIX */
  prefix: string;
  connection: ConnectionSettings;
  /** Local working directory for mariadb-binlog's copy (emptied at every run). */
  spoolDir: string;
  /** For the option file of the `mariadb` client queries. */
  tempDir: string;
  segmentSeconds: number;
  segmentBytes: number;
  compression: { algorithm: CompressionAlgorithm; level: number };
  /** AGE_RECIPIENTS when ENCRYPTION=age, else []. */
  recipients: string[];
  mariadbBinlogPath?: string;
  log: Logger;
  /** A gap was found (binlogs purged before they were archived). Must not throw. */
  onGap?: (g: GapRecord) => void;
  /** Pause between runs after mariadb-binlog ended (server restart...). Default 1000 ms. */
  retryMs?: number;
}

export interface ArchiverStatus {
  state: 'starting' | 'streaming' | 'waiting' | 'stopped';
  stream: string | null;
  /** The last archived segment's last event time (ISO), and when it was written. */
  lastEventTime: string | null;
  lastWrittenAt: string | null;
  /** Seconds between the last archived event and its arrival in the store. */
  lagSeconds: number | null;
  segmentsWritten: number;
  gaps: number;
  lastError: string | null;
}

interface ServerFacts {
  serverId: number;
  hostname: string;
  version: string;
  gtidBinlogPos: GtidPos;
  logBin: boolean;
  binlogs: string[];
}

/** `SELECT ...; SHOW BINARY LOGS` through the mariadb client (batch, no column names). */
async function serverFacts(c: ConnectionSettings, tempDir: string): Promise<ServerFacts> {
  const out = await querySingleValue(c, tempDir, 'SELECT @@server_id, @@hostname, VERSION(), @@gtid_binlog_pos, @@log_bin; SHOW BINARY LOGS');
  const lines = out.split('\n');
  const [id, host, version, pos, logBin] = (lines[0] ?? '').split('\t');
  return {
    serverId: Number(id),
    hostname: host ?? '',
    version: version ?? '',
    gtidBinlogPos: parseGtidPos(pos ?? ''),
    logBin: logBin === '1',
    binlogs: lines.slice(1).map((l) => l.split('\t')[0]!).filter(Boolean),
  };
}

/** Runs stdin through the commands one after the other (segments are small: bounded by BINLOG_SEGMENT_BYTES). */
async function encode(input: Buffer, cmds: readonly CompressorCommand[]): Promise<Buffer> {
  let data = input;
  for (const c of cmds) {
    data = await new Promise<Buffer>((resolve, reject) => {
      const p = spawn(c.file, c.args.filter((a) => a !== '-vv'), { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      p.stdout.on('data', (b: Buffer) => out.push(b));
      p.stderr.on('data', (b: Buffer) => (err += b.toString()));
      p.stdin.on('error', () => {});
      p.once('error', (e) => reject(new BackupmateError('TOOL_MISSING', `binlog archive: cannot run ${c.file}: ${e.message}`)));
      p.once('close', (code, signal) => {
        if (code === 0) resolve(Buffer.concat(out));
        else reject(new BackupmateError('TOOL_FAILED', `binlog archive: ${c.file} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}: ${err.trim().split('\n').pop() ?? ''}`, { stage: c.file }));
      });
      p.stdin.end(data);
    });
  }
  return data;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export class BinlogArchiver {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private child: ChildStage | null = null;
  private readonly st: ArchiverStatus = {
    state: 'starting',
    stream: null,
    lastEventTime: null,
    lastWrittenAt: null,
    lagSeconds: null,
    segmentsWritten: 0,
    gaps: 0,
    lastError: null,
  };
  /** Uploads in order, one at a time. */
  private uploads: Promise<void> = Promise.resolve();
  private uploadError: unknown = null;

  constructor(private readonly s: ArchiverSettings) {}

  status(): ArchiverStatus {
    return { ...this.st };
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops streaming, uploads the complete transactions already received, and returns when done. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.child?.kill();
    await this.loop;
    this.st.state = 'stopped';
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        await this.once(signal);
      } catch (e) {
        if (signal.aborted) break;
        this.st.lastError = errorText(e);
        this.s.log.warn(`binlog archive: ${errorText(e)}; retrying`, { event: 'binlog.error' });
      }
      this.st.state = 'waiting';
      await sleep(this.s.retryMs ?? 1000, signal);
    }
  }

  /** One connection's life: resume point → stream → segments uploaded. */
  private async once(signal: AbortSignal): Promise<void> {
    const s = this.s;
    const server = await serverFacts(s.connection, s.tempDir);
    if (!server.logBin) throw new BackupmateError('CONFIG', 'BINLOG_ARCHIVE=on but the server runs without log_bin: enable binary logging (log_bin, server_id) and restart it');
    if (!server.binlogs.length) throw new BackupmateError('CONFIG', 'the server reports no binary logs (SHOW BINARY LOGS is empty)');
    const listing = await listArchive(s.storage, s.prefix, { signal });
    const last: ArchivedSegment | undefined = listing.segments.at(-1);
    let stream: string;
    let seq: number;
    let file: string;
    let startPos = 4;
    let gtid: GtidPos = [];
    let fromFileStart = true;
    let pendingGap: Omit<GapRecord, 'to'> | null = null;
    const continues = last && last.server.serverId === server.serverId && includes(server.gtidBinlogPos, last.gtid.end);
    if (!last || !continues) {
      stream = streamId(server.serverId, new Date());
      seq = 1;
      file = server.binlogs[0]!;
      if (last) s.log.warn(`binlog archive: the server (server_id ${server.serverId}, GTID ${formatGtidPos(server.gtidBinlogPos) || 'empty'}) does not continue the archived history ${last.stream} (ended at ${formatGtidPos(last.gtid.end)}); starting a new stream ${stream}`, { event: 'binlog.new_stream' });
    } else {
      stream = last.stream;
      seq = last.seq + 1;
      gtid = last.gtid.end;
      if (last.binlog.closesFile) {
        const i = server.binlogs.indexOf(last.binlog.file);
        file = last.binlog.nextFile ?? (i >= 0 ? server.binlogs[i + 1] : undefined) ?? '';
      } else {
        file = last.binlog.file;
        startPos = last.binlog.endPos;
        fromFileStart = false;
      }
      if (!file || !server.binlogs.includes(file)) {
        // Purged before we had it: continue from the oldest binlog the server still has.
        const lost = file ? [file] : [];
        pendingGap = {
          format: BINLOG_INDEX_FORMAT,
          kind: 'gap',
          stream,
          seq,
          from: last.lastEventTime,
          gtidFrom: last.gtid.end,
          gtidTo: [],
          lostFiles: lost,
          reason: `binlog ${file || `after ${last.binlog.file}`} was purged from the server before it was archived; the archive continues at ${server.binlogs[0]}`,
          detectedAt: new Date().toISOString(),
        };
        file = server.binlogs[0]!;
        startPos = 4;
        fromFileStart = true;
        s.log.error(`binlog archive GAP: ${pendingGap.reason}`, { event: 'binlog.gap', lostFiles: lost });
      }
    }
    this.st.stream = stream;
    const state = { stream, seq, server, pendingGap, fromFileStart };

    await fs.rm(s.spoolDir, { recursive: true, force: true });
    await fs.mkdir(s.spoolDir, { recursive: true, mode: 0o700 });
    const optFile = path.join(s.spoolDir, 'client.cnf');
    await writeOptionFile(optFile, backupOptionFileText(s.connection, 'client'));
    const args = [
      `--defaults-file=${optFile}`,
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--start-position=${startPos}`,
      `--result-file=${s.spoolDir}/`,
      file,
    ];
    s.log.info(`binlog archive: streaming ${file} from ${startPos} into ${stream} (segment ${seq})`, { event: 'binlog.stream', file, startPos, stream, seq });
    const child = new ChildStage({
      stage: 'mariadb-binlog',
      file: s.mariadbBinlogPath ?? 'mariadb-binlog',
      args,
      stdin: 'ignore',
      stdout: 'ignore',
      onStderr: (l) => s.log.warn(l, { event: 'binlog.stderr' }),
    });
    this.child = child;
    let exited = false;
    const childDone = child.done.then(
      () => {
        exited = true;
      },
      (e: unknown) => {
        exited = true;
        throw e;
      },
    );
    childDone.catch(() => {});
    this.st.state = 'streaming';
    // Tail the local copy, file after file, until the child exits and everything it wrote is read.
    let seg = new FileSegmenter(file, gtid, { maxBytes: s.segmentBytes, maxSeconds: s.segmentSeconds }, state.fromFileStart && !last ? true : state.fromFileStart);
    let offset = 0;
    const buf = Buffer.alloc(1 << 20);
    try {
      for (;;) {
        if (this.uploadError) throw this.uploadError;
        const localPath = path.join(s.spoolDir, seg.file);
        let n = 0;
        const fh = await fs.open(localPath, 'r').catch(() => null);
        if (fh) {
          try {
            for (;;) {
              const r = await fh.read(buf, 0, buf.length, offset);
              if (!r.bytesRead) break;
              offset += r.bytesRead;
              n += r.bytesRead;
              for (const d of seg.feed(Buffer.from(buf.subarray(0, r.bytesRead)), Date.now())) this.enqueue(d, state);
              if (seg.ended) break;
            }
          } finally {
            await fh.close();
          }
        }
        if (seg.ended) {
          await fs.rm(localPath, { force: true });
          if (!seg.nextFile) break; // a Stop event: the server shut down; the next run picks up the next file
          seg = new FileSegmenter(seg.nextFile, seg.gtidPos, { maxBytes: s.segmentBytes, maxSeconds: s.segmentSeconds }, true);
          offset = 0;
          continue;
        }
        const t = seg.tick(Date.now());
        if (t) this.enqueue(t, state);
        if (!n) {
          if (exited || signal.aborted) break;
          await sleep(100, signal);
        }
      }
      const rest = seg.flush();
      if (rest) this.enqueue(rest, state);
    } finally {
      child.kill();
      this.child = null;
      await childDone.catch((e: unknown) => {
        if (!signal.aborted) this.s.log.info(`binlog archive: mariadb-binlog ended: ${errorText(e)}`, { event: 'binlog.stream_end' });
      });
      await this.uploads;
    }
    if (this.uploadError) {
      const e = this.uploadError;
      this.uploadError = null;
      throw e;
    }
  }

  private enqueue(d: SegmentDraft, state: { stream: string; seq: number; server: ServerFacts; pendingGap: Omit<GapRecord, 'to'> | null }): void {
    const seq = state.seq++;
    const gap = state.pendingGap;
    state.pendingGap = null;
    this.uploads = this.uploads.then(async () => {
      if (this.uploadError) return;
      try {
        if (gap) {
          const g: GapRecord = { ...gap, seq, to: d.firstEventTime, gtidTo: d.gtidStart };
          await this.s.storage.put(streamDir(this.s.prefix, state.stream) + gapName(seq), Buffer.from(gapRecordJson(g)), { role: 'metadata' });
          this.st.gaps++;
          try {
            this.s.onGap?.(g);
          } catch {
            /* a notifier must not stop the archive */
          }
        }
        await this.write(d, state.stream, seq, state.server);
      } catch (e) {
        this.uploadError = e;
        this.child?.kill();
      }
    });
  }

  private async write(d: SegmentDraft, stream: string, seq: number, server: ServerFacts): Promise<void> {
    const s = this.s;
    const cmds: CompressorCommand[] = [];
    const c = compressCommand(s.compression.algorithm, s.compression.level);
    if (c) cmds.push(c);
    if (s.recipients.length) cmds.push(encryptCommand(s.recipients));
    const stored = await encode(d.bytes, cmds);
    const object = segmentDataName(seq, s.compression.algorithm, s.recipients.length > 0);
    const dir = streamDir(s.prefix, stream);
    await s.storage.put(dir + object, stored, { role: 'data' });
    const index: SegmentIndex = {
      format: BINLOG_INDEX_FORMAT,
      stream,
      seq,
      object,
      server: { serverId: server.serverId, hostname: server.hostname, version: server.version },
      binlog: { file: d.file, startPos: d.startPos, endPos: d.endPos, startsFile: d.startsFile, closesFile: d.closesFile, nextFile: d.nextFile, checksum: d.checksum },
      gtid: { start: d.gtidStart, end: d.gtidEnd, first: d.first, last: d.last },
      firstEventTime: d.firstEventTime,
      lastEventTime: d.lastEventTime,
      lastCommitTime: d.lastCommitTime,
      events: d.events,
      transactions: d.transactions,
      rawBytes: d.bytes.length,
      rawSha256: d.sha256,
      storedBytes: stored.length,
      sha256: createHash('sha256').update(stored).digest('hex'),
      compression: { algorithm: s.compression.algorithm },
      encryption: s.recipients.length ? { type: 'age', recipients: [...s.recipients] } : null,
      writtenAt: new Date().toISOString(),
    };
    await s.storage.put(dir + segmentIndexName(seq), Buffer.from(segmentIndexJson(index)), { role: 'metadata' });
    this.st.segmentsWritten++;
    this.st.lastWrittenAt = index.writtenAt;
    if (d.lastEventTime) {
      this.st.lastEventTime = d.lastEventTime;
      this.st.lagSeconds = (Date.parse(index.writtenAt) - Date.parse(d.lastEventTime)) / 1000;
    }
    s.log.info(`binlog archive: ${stream} segment ${seq} (${d.file}:${d.startPos}-${d.endPos}, ${d.transactions} transactions, GTID ${formatGtidPos(d.gtidEnd)})`, {
      event: 'binlog.segment',
      stream,
      seq,
      bytes: d.bytes.length,
    });
  }
}
