/**
 * Writes binlog files into a store as a binlog archive in the `backupmate-binlog/1` format
 * (src/sources/binlog/index.ts), one whole closed file per segment, uncompressed: what the
 * archiver (branch binlog) writes, for the point-in-time restore tests to read through the real
 * read API (listArchive/openSegment). The files are the server's own; only the uploader differs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Storage } from '../../src/storage/storage.js';
import { segmentIndexJson, type SegmentIndex } from '../../src/sources/binlog/index.js';
import { segmentDataName, segmentIndexName, streamDir, streamId } from '../../src/sources/binlog/layout.js';
import { advance, type GtidPos } from '../../src/sources/binlog/gtid.js';
import { scanBinlog } from '../../src/sources/binlog/replay-scan.js';
import { Readable } from 'node:stream';

const iso = (s: number) => new Date(s * 1000).toISOString();

export async function archiveBinlogFiles(storage: Storage, prefix: string, files: readonly string[], o: { serverId?: number; startedAt?: Date } = {}): Promise<string[]> {
  const stream = streamId(o.serverId ?? 1, o.startedAt ?? new Date('2026-01-01T00:00:00Z'));
  let pos: GtidPos = [];
  const keys: string[] = [];
  for (const [i, file] of files.entries()) {
    const bytes = await fs.readFile(file);
    const scan = scanBinlog(bytes, path.basename(file));
    const seq = i + 1;
    const start = pos;
    const first: GtidPos = [];
    const last: GtidPos = [];
    for (const t of scan.transactions) {
      const g = { domain: t.gtid.domain, server: t.gtid.server, seq: Number(t.gtid.seq) };
      if (!first.some((f) => f.domain === g.domain)) first.push(g);
      pos = advance(pos, g);
    }
    for (const g of pos) if (scan.transactions.some((t) => t.gtid.domain === g.domain)) last.push(g);
    const times = scan.transactions.map((t) => t.time);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const object = segmentDataName(seq, 'none', false);
    const idx: SegmentIndex = {
      format: 'backupmate-binlog/1',
      stream,
      seq,
      object,
      server: { serverId: o.serverId ?? 1, hostname: 'test', version: '10.11' },
      binlog: { file: path.basename(file), startPos: 4, endPos: bytes.length, startsFile: true, closesFile: true, nextFile: files[i + 1] ? path.basename(files[i + 1]!) : null, checksum: 'CRC32' },
      gtid: { start, end: pos, first: first.sort((a, b) => a.domain - b.domain), last },
      firstEventTime: times.length ? iso(Math.min(...times)) : null,
      lastEventTime: times.length ? iso(Math.max(...times)) : null,
      lastCommitTime: times.length ? iso(Math.max(...times)) : null,
      events: scan.events,
      transactions: scan.transactions.length,
      rawBytes: bytes.length,
      rawSha256: sha,
      storedBytes: bytes.length,
      sha256: sha,
      compression: { algorithm: 'none' },
      encryption: null,
      writtenAt: new Date().toISOString(),
    };
    const dir = streamDir(prefix, stream);
    await storage.put(dir + object, Readable.from([bytes]));
    await storage.put(dir + segmentIndexName(seq), Readable.from([Buffer.from(segmentIndexJson(idx))]));
    keys.push(dir + object);
  }
  return keys;
}
