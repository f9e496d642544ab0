/**
 * The directory source: backups of configured paths (config files, key files, /etc/mysql) as a
 * tar, full or incremental, through the same pipeline, store and manifest as every source.
 *
 *   backup:  walk DIRECTORY_BACKUP_PATHS -> decide what to store from the parent's recorded list
 *            (diff.ts) -> tar of it (pack.ts) = the raw stream; payload = paths + the whole list
 *   restore: per chain member, the decoded tar is extracted and checked into its own staging
 *            directory (extract.ts); apply combines them in the full's directory (apply.ts);
 *            putBack('target-dir', DIR) recreates the paths under DIR (DIR/etc/mysql/my.cnf)
 *   verify:  the same extraction into scratch, plus a check that the list is self-consistent
 *
 * Only 'target-dir' is offered: putting configuration back over a live system is a decision for
 * the operator (compare, then copy), not something a backup tool should do in place.
 */
import type { Readable } from 'node:stream';
import type { ChildStage } from '../../archive/child.js';
import { BackupmateError } from '../../domain/errors.js';
import type { BackupRun, ExtractedMember, SourcePlan, RestoreMode, Sink, Source, SourceBackupTarget, SourceContext, SourceManifest } from '../source.js';
import { applyChain, putInPlace } from './apply.js';
import { directoryChainRules, planDirectoryBackup, type DirectoryManifest } from './chain.js';
import { selectStored } from './diff.js';
import { parseDirectoryPayload, type DirectoryPayload } from './entries.js';
import { openTreeSink } from './extract.js';
import { packTree } from './pack.js';
import { walkPaths } from './walk.js';

export const DIRECTORY_SOURCE_TYPE = 'directory';

export interface DirectorySourceSettings {
  /** DIRECTORY_BACKUP_PATHS, parsed: absolute paths. Empty: the source can restore but not back up. */
  paths: readonly string[];
  /** Prepended to every path: '/' in production; tests back up a private tree the same way. */
  root?: string;
  /** MAX_CHAIN_LENGTH: most incrementals after one full before 'auto' takes a full. */
  maxChainLength?: number;
}

/** What the planner needs from the store: this source's readable backups and the unfinished ones. */
export interface DirectoryPlanFacts {
  requested: 'auto' | 'full' | 'incremental';
  valid: readonly DirectoryManifest[];
  incompleteIds?: readonly string[];
}

export class DirectorySource implements Source<DirectoryPayload> {
  readonly type = DIRECTORY_SOURCE_TYPE;
  readonly kinds = ['full', 'incremental'] as const;
  readonly modes: readonly RestoreMode[] = ['target-dir'];
  readonly chain = directoryChainRules;
  /** The target payload of each applied result, until it is put back (apply -> putBack). */
  private readonly applied = new Map<string, DirectoryPayload>();

  constructor(private readonly settings: DirectorySourceSettings) {}

  parsePayload(raw: unknown, where?: string): DirectoryPayload {
    return parseDirectoryPayload(raw, where);
  }

  /**
   * Full or incremental, on which parent (chain.ts planDirectoryBackup), as the target startBackup
   * takes. Needs no server: only this source's backups in the store.
   */
  plan(facts: DirectoryPlanFacts): SourcePlan<DirectoryPayload> {
    const p = planDirectoryBackup({
      requested: facts.requested,
      paths: this.settings.paths,
      valid: facts.valid,
      incompleteIds: facts.incompleteIds ?? [],
      maxChainLength: this.settings.maxChainLength ?? 30,
    });
    return p.kind === 'full' ? { target: { kind: 'full' }, reason: p.reason } : { target: { kind: 'incremental', parent: p.parent, full: p.full }, reason: p.reason };
  }

  async startBackup(ctx: SourceContext, target: SourceBackupTarget<DirectoryPayload>): Promise<BackupRun<DirectoryPayload>> {
    const paths = [...this.settings.paths];
    if (paths.length === 0) {
      throw new BackupmateError('CONFIG', 'directory backup: DIRECTORY_BACKUP_PATHS is empty; name the directories to keep, e.g. DIRECTORY_BACKUP_PATHS=/etc/mysql');
    }
    if (target.kind !== 'full' && target.kind !== 'incremental') throw new BackupmateError('INTERNAL', `directory backup: unknown kind ${target.kind}`);
    if (target.kind === 'incremental' && !target.parent) throw new BackupmateError('INTERNAL', 'directory backup: an incremental needs its parent');
    const parent = target.kind === 'incremental' ? target.parent!.source : null;
    const walked = await walkPaths(paths, this.settings.root ?? '/');
    for (const s of walked.skipped) ctx.log.warn(`directory backup: skipped /${s.path}: a ${s.kind} has no content to keep`, { event: 'directory.skipped', path: s.path, kind: s.kind });
    const chosen = selectStored(walked.files, parent?.files ?? null);
    const stored = chosen.files.filter((f) => f.stored && f.type !== 'dir').length;
    ctx.log.info(
      `directory backup (${target.kind}): ${walked.files.length} entries under ${paths.join(', ')}; ${stored} to store` +
        (parent ? `, ${chosen.removed.length} removed since ${target.parent!.id}` : ''),
      { event: 'directory.plan', entries: walked.files.length, stored, removed: chosen.removed.length },
    );
    const packed = packTree(chosen.files, { root: this.settings.root, onWarning: (m) => ctx.log.warn(m, { event: 'directory.unstable' }) });
    const onAbort = () => packed.stream.destroy(new BackupmateError('CANCELLED', 'directory backup cancelled'));
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    return {
      output: packed.stream as Readable,
      stages: [{ stage: 'directory tar', promise: packed.done }],
      finish: async () => {
        ctx.signal?.removeEventListener('abort', onAbort);
        const out = await packed.done;
        const payload: DirectoryPayload = { type: 'directory', paths, files: out.files, removed: chosen.removed, unstable: out.unstable };
        // What the manifest will say must read back: a payload the restore would refuse is no backup.
        parseDirectoryPayload(payload, 'directory backup: the file list');
        return { payload, extras: [] };
      },
      kill: () => packed.stream.destroy(),
    };
  }

  async openSink(_ctx: SourceContext, m: SourceManifest<DirectoryPayload>, dir: string, _feed: ChildStage | null): Promise<Sink> {
    const sink = openTreeSink(dir, m.source, `backup ${m.id}`);
    return { input: sink.input, stages: [{ stage: 'directory extract', promise: sink.done }], kill: () => sink.input.destroy() };
  }

  async check(_ctx: SourceContext, m: SourceManifest<DirectoryPayload>, _dir: string): Promise<Record<string, unknown>> {
    const files = m.source.files;
    return {
      entries: files.length,
      stored: files.filter((f) => f.stored).length,
      contentBytes: files.filter((f) => f.stored && f.type === 'file').reduce((n, f) => n + f.size, 0),
      unstable: m.source.unstable.length,
    };
  }

  async apply(_ctx: SourceContext, chain: readonly ExtractedMember<DirectoryPayload>[]): Promise<string> {
    const result = await applyChain(chain.map((c) => ({ id: c.manifest.id, payload: c.manifest.source, dir: c.dir })));
    this.applied.set(result, chain.at(-1)!.manifest.source);
    return result;
  }

  async putBack(ctx: SourceContext, mode: RestoreMode, resultDir: string, destination: string): Promise<void> {
    if (mode !== 'target-dir') {
      throw new BackupmateError('USAGE', `directory backups are restored with --target-dir DIR only (they recreate the paths under DIR), not with --${mode}`);
    }
    const payload = this.applied.get(resultDir);
    if (!payload) throw new BackupmateError('INTERNAL', `directory restore: ${resultDir} was not produced by apply`);
    this.applied.delete(resultDir);
    await putInPlace(resultDir, destination, payload, { onWarning: (m) => ctx.log.warn(m, { event: 'directory.owners' }) });
    ctx.log.info(`directory restore: ${payload.files.length} entries of ${payload.paths.join(', ')} recreated under ${destination}`, { event: 'directory.restored', destination });
  }
}

export { planDirectoryBackup, type DirectoryPlan, type DirectoryPlanInput } from './chain.js';
