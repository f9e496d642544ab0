/**
 * The Source port: what a kind of backup (physical/mariabackup, directory, later logical and
 * binlog) does, so that the jobs (backup, restore, verify, prune, list) stay generic:
 *
 *   backup:  source.startBackup → [compress] → container → [encrypt] → volumes → SHA256SUMS → manifest LAST
 *   restore: select a target of a kind the mode needs → source.chain.restoreChain →
 *            [source.preflight] → per member, in chain order: download + decode → source.openSink,
 *            and as soon as member i is extracted (and i-1 applied) [source.applyMember(i)], WHILE
 *            member i+1 downloads → source.apply(chain) → the caller's beforePutBack(result) →
 *            source.putBack(mode)
 *   verify:  download + decode → source.openSink into scratch (→ source.check, when it has one)
 *
 * A Source is built once per process from its own settings (app/wiring.ts, or a test), and found
 * by its type through a SourceRegistry (sources/registry.ts). Everything a source reads from the
 * manifest is its own payload (`manifest.source`), checked by `parsePayload` when the catalog is
 * read: a payload a source cannot fully understand makes the backup unreadable, never guessed at.
 *
 * Streams: a source's raw output and a sink's input are either a Node stream or a ChildStage
 * (archive/child.ts). A ChildStage lets the pipeline connect it to the compressor/decompressor
 * through a kernel pipe, so the bytes never pass through Node (mariabackup ⇒ zstd at backup,
 * zstd ⇒ mbstream at restore). A ChildStage's `done` carries its exit status: every one of them
 * is awaited by the pipeline, so the commit gate (manifest last) follows from the stages.
 */
import type { Readable, Writable } from 'node:stream';
import type { ChildStage } from '../archive/child.js';
import type { ExtraFile } from '../archive/container.js';
import type { StageOutcome } from '../archive/stages.js';
import type { ManifestEnvelope, SourcePayload } from '../domain/manifest.js';
import type { Logger } from '../log/logger.js';

/** A manifest whose payload the source has parsed. */
export type SourceManifest<P extends SourcePayload> = ManifestEnvelope<P>;

/** Where a restore puts the result. A source lists the modes it supports. */
export type RestoreMode = 'target-dir' | 'copy-back' | 'move-back' | 'into-server';

/** What every source call gets from the job. */
export interface SourceContext {
  log: Logger;
  signal?: AbortSignal;
  /** A private, empty-at-start directory under LOCAL_TEMP_DIR the job removes at its end. */
  jobDir: string;
  /**
   * Restore only: hands the job work that may finish in the background (e.g. removing an applied
   * member's scratch). The job awaits it before it removes jobDir, also after a failure.
   */
  background?(p: Promise<unknown>): void;
}

/** What a restore's preflight knows: nothing has been downloaded yet. */
export interface RestorePreflight {
  mode: RestoreMode;
  /** Where the result goes (target-dir: the directory; copy-back/move-back: the datadir). */
  destination: string;
  /**
   * The server using `destination` is stopped by the caller right before the put back (the
   * daemon's managed restore): a source must not refuse early because one runs now.
   */
  serverStoppedLater: boolean;
}

/** What putBack reports. */
export interface PutBackResult {
  /** Where the previous contents of the destination were moved (never deleted), if anywhere. */
  movedAside?: string | null;
  /**
   * The source started the removal of the job's staging itself (e.g. a detached rm -rf after a
   * copy-back, so the person waiting does not wait for gigabytes to be deleted): the job leaves it.
   */
  stagingRemovedInBackground?: boolean;
}

/** What to take: the kind, and for a kind with a parent, the parent and the chain's root. */
export interface SourceBackupTarget<P extends SourcePayload> {
  kind: string;
  /** The parent's id (absent for a full); given when the caller has no parent manifest at hand. */
  parentId?: string;
  /** The chain root's id (absent for a full). */
  fullId?: string;
  /** The backup this one is taken against (absent for a full). */
  parent?: SourceManifest<P>;
  /** The chain root of `parent` (absent for a full). */
  full?: SourceManifest<P>;
}

/** A running backup's raw output. */
export interface BackupRun<P extends SourcePayload> {
  /**
   * The raw byte stream to store. A ChildStage (its stdout is the stream) lets the pipeline hand
   * it to the compressor through the kernel; its `done` is awaited by the pipeline.
   */
  output: ChildStage | Readable;
  /** The source's other concurrent stages (helpers, input pipes), awaited with the pipeline's. */
  stages: StageOutcome[];
  /**
   * Called once the raw stream has ended, before the container is closed: confirms the source
   * succeeded (or throws: TOOL_FAILED, INTEGRITY... and no backup is made) and returns the
   * manifest payload and the small files to keep in the container's meta/ (e.g. checkpoints).
   */
  finish(): Promise<{ payload: P; extras: ExtraFile[] }>;
  /** Stops everything the source started (idempotent). */
  kill(): void;
}

/** Where the decoded raw stream of ONE backup goes at restore or verify. */
export interface Sink {
  /**
   * The writable end the pipeline writes the raw stream into, or null when the sink took the
   * decoder's stdout through the kernel (see openSink's `feed`).
   */
  input: Writable | null;
  /** The sink's stages (e.g. mbstream -x), awaited with the pipeline's. */
  stages: StageOutcome[];
  kill(): void;
}

/** One member of a chain being restored: its manifest and the directory it was extracted into. */
export interface ExtractedMember<P extends SourcePayload> {
  manifest: SourceManifest<P>;
  dir: string;
}

/**
 * Chain rules of a source type: which backups a restore needs, whether one may follow another.
 * Pure functions over manifests (unit-tested without processes).
 */
export interface ChainRules<P extends SourcePayload> {
  /** Whether a backup of `kind` has a parent (physical/directory: 'incremental'). */
  hasParent(kind: string): boolean;
  /**
   * Problems with `child` following `parent` (empty = the link holds): LSN continuity, versions,
   * same server... Each problem is a sentence naming the facts.
   */
  continuity(parent: SourceManifest<P>, child: SourceManifest<P>): string[];
  /**
   * The backups a restore of `target` needs, in apply order ([root, ..., target]); throws
   * BackupmateError('INTEGRITY') naming the broken link. `valid` are this source's readable
   * backups, `incompleteIds` the directories without a manifest.
   */
  restoreChain(target: SourceManifest<P>, valid: readonly SourceManifest<P>[], incompleteIds: readonly string[]): SourceManifest<P>[];
}

/** What a source's planner gets: what was asked for, and this source's backups in the store. */
export interface SourcePlanFacts<P extends SourcePayload> {
  /** A forced kind, or 'auto' (the source decides). */
  requested: 'auto' | 'full' | 'incremental';
  /** This source's readable backups. */
  valid: readonly SourceManifest<P>[];
  /** This source's backup directories without a manifest. */
  incompleteIds: readonly string[];
}

/** A planner's decision: what startBackup takes, and why (logged, shown by `backup`). */
export interface SourcePlan<P extends SourcePayload> {
  target: SourceBackupTarget<P>;
  reason: string;
}

export interface Source<P extends SourcePayload = SourcePayload> {
  /** `manifest.source.type`, e.g. 'physical', 'directory'. */
  readonly type: string;
  /** The kinds this source writes, e.g. ['full', 'incremental']. */
  readonly kinds: readonly string[];
  /** Restore modes this source can put its result back with. */
  readonly modes: readonly RestoreMode[];
  /**
   * Checks a manifest's `source` object; throws BackupmateError('INTEGRITY') saying what was
   * expected, and where (`where`: e.g. "manifest bm/full/ID/manifest.json").
   */
  parsePayload(raw: unknown, where?: string): P;
  readonly chain: ChainRules<P>;

  /**
   * Backup (optional): decides the kind (full/incremental/differential...) and the parent of the
   * next backup from this source's backups in the store, as `startBackup` takes it. A source
   * with a plan is backed up by the generic sequence (backup/sequence.ts) without source-specific
   * code. (The physical source's planner also asks the server for its LSN and identity, so it
   * still runs through backup/decide.ts.)
   */
  plan?(facts: SourcePlanFacts<P>): SourcePlan<P> | Promise<SourcePlan<P>>;

  /** Backup: starts producing the raw stream. Throws before any data flows when it cannot. */
  startBackup(ctx: SourceContext, target: SourceBackupTarget<P>): Promise<BackupRun<P>>;

  /**
   * Restore/verify: opens the sink for the decoded raw stream of backup `m` into the empty
   * directory `dir`. `feed` is the last decoder when it is a child process (e.g. zstd -d): a sink
   * that is itself a child may take `feed` as its stdin (kernel pipe) and return `input: null`.
   */
  openSink(ctx: SourceContext, m: SourceManifest<P>, dir: string, feed: ChildStage | null): Promise<Sink>;

  /**
   * Verify only (optional): a check of one extracted backup beyond a clean extraction. Returns
   * facts for the report; throws INTEGRITY when the backup is not usable.
   */
  check?(ctx: SourceContext, m: SourceManifest<P>, dir: string): Promise<Record<string, unknown>>;

  /**
   * Restore (optional): read-only checks of the chain and the destination BEFORE anything is
   * downloaded (physical: the local mariabackup can prepare it; no server runs on the datadir).
   * Throws the error to report; touches nothing.
   */
  preflight?(ctx: SourceContext, chain: readonly SourceManifest<P>[], p: RestorePreflight): Promise<void>;

  /** What the restore report calls the apply step ('prepare' for physical; absent: 'apply'). */
  readonly applyName?: string;

  /**
   * Restore (optional), the STREAMING apply: member `chain[index]` of the chain ([root, ...,
   * target]; every member's `dir` exists from the start) is extracted and verified; apply it now. Called strictly in chain order, each
   * member once, the next only after this one resolved, while the job downloads the next members
   * (physical: mariabackup --prepare of the full, then --incremental-dir of each incremental, so
   * prepare overlaps the downloads). `signal` aborts it when a download fails or the job is
   * cancelled. A source without it does all its work in `apply`.
   */
  applyMember?(ctx: SourceContext, chain: readonly ExtractedMember<P>[], index: number, o: { mode: RestoreMode; signal: AbortSignal }): Promise<void>;

  /**
   * Restore: runs once every member is extracted (and, with applyMember, applied): finishes the
   * combination of the chain ([root, ..., target], as restoreChain ordered them) and returns the
   * directory holding the result (physical: checks the prepared full's checkpoints; directory:
   * incrementals applied over the full, deletions included).
   */
  apply(ctx: SourceContext, chain: readonly ExtractedMember<P>[]): Promise<string>;

  /**
   * Restore: puts the result (`resultDir`, from apply) in place for `mode` at `destination`
   * (target-dir: the directory to create/fill; copy-back/move-back: the server's datadir). A
   * source that needs more (stop the server...) gets it from its own settings. `chain` is the
   * one apply got. Called only after the caller's beforePutBack hook returned.
   */
  putBack(ctx: SourceContext, mode: RestoreMode, resultDir: string, destination: string, chain: readonly ExtractedMember<P>[]): Promise<PutBackResult | void>;
}
