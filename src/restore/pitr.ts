/**
 * The point-in-time restore: `restore --time WHEN` / `--gtid GTID` (and backupmatectl's
 * `restore <timestamp>`). Wires the pure planner (pitr-plan.ts) to the catalog and the binlog
 * archive (sources/binlog/reader.ts), and the replay (sources/binlog/replay.ts) into the restore's
 * beforePutBack hook (restore/source-restore.ts):
 *
 *   catalog + archive index → planPointInTime (backup, segments, or NOT_RESTORABLE with the window)
 *   → runSourceRestore of exactly that backup (its whole chain) into staging, prepared
 *   → beforePutBack: download + check (sha256) the segments next to staging → replay on a scratch
 *     server (stop computed from the files, every proof checked) → put back.
 *
 * A replay error aborts before put back: production is untouched. Called by the CLI
 * (cli/commands.ts) and the daemon's restore handler through `pointInTimeRestore`.
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseRestoreTime } from '../domain/chain.js';
import { BackupmateError } from '../domain/errors.js';
import { idToDate, isBackupId } from '../domain/ids.js';
import type { Manifest } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';
import { isPhysical } from '../sources/physical/payload.js';
import { listArchive, openSegment, type ArchiveListing, type ArchivedSegment } from '../sources/binlog/reader.js';
import type { GtidPos } from '../sources/binlog/gtid.js';
import { formatGtid, parsePosition, type Gtid } from '../sources/binlog/replay-gtid.js';
import { replayBinlogs, type ReplayResult } from '../sources/binlog/replay.js';
import { commonDir } from '../mariadb/scratch.js';
import type { Storage } from '../storage/storage.js';
import { planPointInTime, type PitrArchive, type PitrBackup, type PitrPlan, type PitrRequest } from './pitr-plan.js';
import type { BeforePutBack } from './source-restore.js';

export const DEFAULT_BINLOG_PREFIX = 'backupmate/binlog/';

function toPosition(p: GtidPos): Map<number, Gtid> {
  return new Map(p.map((g) => [g.domain, { domain: g.domain, server: g.server, seq: BigInt(g.seq) }]));
}

/** The planner's view of the archive: segments with transactions, and every gap listArchive found. */
export function pitrArchiveOf(listing: ArchiveListing): PitrArchive {
  return {
    segments: listing.segments
      .filter((s) => s.transactions > 0 && s.firstEventTime !== null && (s.lastCommitTime ?? s.lastEventTime) !== null)
      .map((s) => ({
        key: s.key,
        first: toPosition(s.gtid.first),
        last: toPosition(s.gtid.last),
        firstEventTime: s.firstEventTime!,
        // What a restore can reach: the last COMMITTED transaction of the segment.
        lastEventTime: (s.lastCommitTime ?? s.lastEventTime)!,
      })),
    gaps: listing.gaps.map((g) => ({ from: g.from ?? new Date(0).toISOString(), to: g.to ?? new Date(8.64e15).toISOString() })),
  };
}

/** The planner's view of the physical backups (valid manifests only; the restore checks their chains). */
export function pitrBackupsOf(manifests: readonly Manifest[]): PitrBackup[] {
  return manifests.filter(isPhysical).map((m) => {
    const gtid = m.source.binlog?.gtid ?? null;
    let pos: Map<number, Gtid> | null = null;
    if (gtid !== null) {
      try {
        pos = parsePosition(gtid, `backup ${m.id}'s binlog GTID`);
      } catch {
        pos = null; // unreadable: this backup starts no replay (restorableWindow says so)
      }
    }
    return { id: m.id, kind: m.kind, finishedAt: m.finishedAt, gtid: pos };
  });
}

export interface PointInTimeSetup {
  plan: PitrPlan;
  listing: ArchiveListing;
}

/** Reads the archive and plans; NOT_RESTORABLE (with the window) when the moment cannot be reached. */
export async function planFromStore(
  storage: Storage,
  manifests: readonly Manifest[],
  prefix: string,
  request: PitrRequest,
  log: Logger,
  signal?: AbortSignal,
  listed?: ArchiveListing,
): Promise<PointInTimeSetup> {
  const listing = listed ?? (await listArchive(storage, prefix, { signal }));
  for (const p of listing.problems) log.warn('binlog archive problem', { kind: p.kind, stream: p.stream, seq: p.seq, problem: p.message });
  const plan = planPointInTime(pitrBackupsOf(manifests), pitrArchiveOf(listing), request);
  log.info('point-in-time plan', {
    backup: plan.backup.id,
    segments: plan.segments.length,
    request: 'time' in request ? request.time.toISOString() : formatGtid(request.gtid),
    reason: plan.reason,
  });
  return { plan, listing };
}

export interface ReplayHookOptions {
  /** LOCAL_TEMP_DIR: the segments and the scratch server's directory go under it. */
  tempDir: string;
  osUser?: string;
  ageIdentityFile?: string;
  /** Filled when the replay is done (for the report). */
  onReplayed?: (r: ReplayResult) => void;
}

/**
 * The beforePutBack hook of a point-in-time restore: downloads the plan's segments (checked
 * against their index: sha256, sizes) into a private directory under LOCAL_TEMP_DIR, replays
 * them into the prepared staging datadir, and removes the downloads again (also on failure).
 */
export function replayHook(storage: Storage, setup: PointInTimeSetup, o: ReplayHookOptions): BeforePutBack {
  return async (stagingResult, info) => {
    if (info.id !== setup.plan.backup.id) {
      throw new BackupmateError('INTERNAL', `point-in-time: planned backup ${setup.plan.backup.id} but the restore prepared ${info.id}`);
    }
    const byKey = new Map<string, ArchivedSegment>(setup.listing.segments.map((s) => [s.key, s]));
    // Short name: the scratch server's socket lives under it (sun_path is 108 bytes).
    const work = await fs.mkdtemp(path.join(o.tempDir, 'bm-pitr-'));
    await fs.chmod(work, 0o700);
    try {
      const files: string[] = [];
      const t0 = Date.now();
      for (const [i, key] of setup.plan.segments.entries()) {
        const seg = byKey.get(key);
        if (!seg) throw new BackupmateError('INTERNAL', `point-in-time: planned segment ${key} is not in the archive listing`);
        const file = path.join(work, `${String(i).padStart(6, '0')}.binlog`);
        await pipeline(await openSegment(storage, seg, { ageIdentityFile: o.ageIdentityFile, signal: info.signal }), createWriteStream(file, { mode: 0o600 }));
        files.push(file);
      }
      info.log.info('binlog segments downloaded', { segments: files.length, ms: Date.now() - t0 });
      const r = await replayBinlogs({
        datadir: stagingResult,
        workDir: path.join(work, 's'),
        files,
        start: setup.plan.backup.gtid!,
        request: setup.plan.request,
        log: info.log,
        osUser: o.osUser,
        // mariadbd (as osUser) must traverse down to both its socket directory and the staging
        // datadir: o+x (never read) from their deepest common directory down (scratch.ts).
        traverseRoot: commonDir(work, stagingResult),
        signal: info.signal,
      });
      o.onReplayed?.(r);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  };
}

/** One line for the human report. */
export function describeReplay(r: ReplayResult, request: PitrRequest): string {
  const target = 'time' in request ? `before ${request.time.toISOString()}` : `up to and including ${formatGtid(request.gtid)}`;
  const last = r.lastReplayed ? `; last replayed ${r.lastReplayed.gtid} committed ${r.lastReplayed.committedAt}` : '';
  const next = r.firstLeftOut ? `; first left out ${r.firstLeftOut.gtid} committed ${r.firstLeftOut.committedAt}` : '';
  return `replayed ${r.transactions} transaction(s) ${target}: reached GTID ${r.reached || '(empty)'}${last}${next} (scan ${r.timings.scanMs} ms, replay ${r.timings.replayMs} ms)`;
}


/**
 * Whether a restore request is a point in time, and its setup. `--gtid` always is. `--time` is
 * when the store holds a binlog archive; without one it keeps its older meaning (the newest
 * backup finished at or before WHEN) and the caller must SAY that the result is the backup's
 * state, not WHEN's (returned: null).
 */
export async function pointInTimeSetup(
  storage: Storage,
  manifests: readonly Manifest[],
  prefix: string,
  request: PitrRequest,
  log: Logger,
  signal?: AbortSignal,
): Promise<PointInTimeSetup | null> {
  const listing = await listArchive(storage, prefix, { signal });
  if ('time' in request && listing.segments.length === 0 && listing.gapRecords.length === 0) return null;
  return planFromStore(storage, manifests, prefix, request, log, signal, listing);
}

/**
 * `backupmatectl restore <timestamp>` / `backupmate restore <timestamp>`: a backup id given
 * exactly (20261202T040000Z, or the same instant written as a time) still means that backup; any
 * other time form ("2026-12-02 14:05:17", "…T14:05:17+01:00") means that moment. Returns the
 * moment, or null when `text` names a backup (or is no time at all: an id prefix, "latest").
 */
export function pointInTimeOfId(text: string, ids: readonly string[], timeZone: string | undefined): Date | null {
  const t = text.trim();
  if (t === 'latest' || ids.includes(t)) return null;
  let when: Date;
  try {
    when = parseRestoreTime(t, timeZone);
  } catch {
    return null;
  }
  if (ids.some((id) => isBackupId(id) && idToDate(id).getTime() === when.getTime())) return null;
  return when;
}

/**
 * What a restore request means for database backups: the point-in-time setup (or null: a plain
 * restore of `id`/`time`), and the stderr note when --time falls back to its older meaning.
 */
export async function resolvePointInTime(
  storage: Storage,
  manifests: readonly Manifest[],
  prefix: string,
  args: { id?: string; time?: Date; gtid?: Gtid; timeZone?: string },
  log: Logger,
  signal?: AbortSignal,
): Promise<{ setup: PointInTimeSetup | null; note: string | null }> {
  const time = args.time ?? (args.id !== undefined && args.gtid === undefined ? pointInTimeOfId(args.id, manifests.map((m) => m.id), args.timeZone) : null) ?? undefined;
  if (!time && !args.gtid) return { setup: null, note: null };
  const request: PitrRequest = args.gtid ? { gtid: args.gtid } : { time: time! };
  const setup = await pointInTimeSetup(storage, manifests, prefix, request, log, signal);
  if (setup) return { setup, note: null };
  if (args.time === undefined) return { setup: null, note: null }; // a timestamp-like id without an archive: resolved as an id, as before
  return {
    setup: null,
    note:
      `note: the store holds no binlog archive under ${prefix}: --time restores the newest backup finished at or before ${time!.toISOString()}, ` +
      `i.e. the state of that backup, not of ${time!.toISOString()} (set BINLOG_ARCHIVE=on for point-in-time restores)`,
  };
}
