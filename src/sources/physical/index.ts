/**
 * The physical source: mariabackup backups of the server's datadir, registered in the sources
 * registry (app/sources.ts) like every source, so backup, restore and verify reach mariabackup
 * only through the Source port.
 *
 *   backup:  mariabackup --backup --stream=xbstream (./backup.ts)
 *   restore: mbstream -x per member (./sink.ts), prepared member by member AS THEY ARRIVE
 *            (applyMember: the overlap of downloads and prepare), checked (apply), put back with
 *            target-dir / copy-back / move-back and the restore marker (./restore.ts)
 *   chain:   LSN continuity and one mariabackup per chain (./chain.ts)
 */
import type { ChildStage } from '../../archive/child.js';
import { BackupmateError } from '../../domain/errors.js';
import { mariabackupVersion, type ConnectionSettings } from '../../mariadb/mariabackup.js';
import type { BackupRun, ChainRules, ExtractedMember, RestoreMode, RestorePreflight, Sink, Source, SourceBackupTarget, SourceContext, SourceManifest } from '../source.js';
import { startPhysicalBackup, type PhysicalBackupTarget } from './backup.js';
import { physicalLinkProblems, physicalSummary, resolveRestoreChain } from './chain.js';
import { parsePhysicalPayload, physicalOf, PHYSICAL, type PhysicalPayload } from './payload.js';
import { checkPrepared, checkToolVersion, prepareMember, putBackPhysical, refuseIfRunning, type PhysicalRestoreSettings } from './restore.js';
import { mbstreamSink } from './sink.js';

export interface PhysicalSourceSettings extends PhysicalRestoreSettings {
  mbstreamPath: string;
  /** The DB_* connection (backup: mariabackup's option file; restore: the DB_SOCKET server's @@datadir). */
  connection?: ConnectionSettings;
}

/** Physical chain rules over manifests (./chain.ts works on summaries). */
export const physicalChainRules: ChainRules<PhysicalPayload> = {
  hasParent: (kind) => kind === 'incremental',
  continuity: (parent, child) => physicalLinkProblems(physicalSummary(parent), physicalSummary(child)).map((p) => p.message),
  restoreChain: (target, valid, incompleteIds) => {
    const byId = new Map(valid.map((m) => [m.id, m]));
    return resolveRestoreChain(physicalSummary(target), valid.map(physicalSummary), incompleteIds).map((b) => byId.get(b.id)!);
  },
};

export class PhysicalSource implements Source<PhysicalPayload> {
  readonly type = PHYSICAL;
  readonly kinds = ['full', 'incremental'] as const;
  readonly modes: readonly RestoreMode[] = ['target-dir', 'copy-back', 'move-back'];
  readonly chain = physicalChainRules;
  readonly applyName = 'prepare';

  constructor(private readonly settings: PhysicalSourceSettings) {}

  parsePayload(raw: unknown, where?: string): PhysicalPayload {
    return parsePhysicalPayload(raw, where);
  }

  startBackup(ctx: SourceContext, target: SourceBackupTarget<PhysicalPayload>): Promise<BackupRun<PhysicalPayload>> {
    const s = this.settings;
    if (!s.connection) throw new BackupmateError('INTERNAL', 'physical backup: no DB_* connection was given to the source');
    return startPhysicalBackup({ mariabackupPath: s.mariabackupPath, connection: s.connection, parallel: s.parallel ?? 1 }, ctx, target as PhysicalBackupTarget);
  }

  async openSink(ctx: SourceContext, _m: SourceManifest<PhysicalPayload>, dir: string, feed: ChildStage | null): Promise<Sink> {
    return mbstreamSink(ctx.log, this.settings.mbstreamPath, dir, feed);
  }

  /** The local mariabackup can prepare the chain; copy-back/move-back: no server runs on the datadir (unless stopped later). */
  async preflight(ctx: SourceContext, chain: readonly SourceManifest<PhysicalPayload>[], p: RestorePreflight): Promise<void> {
    const s = this.settings;
    const checks = [
      mariabackupVersion(s.mariabackupPath).then((v) => checkToolVersion(v, physicalOf(chain[0]).versions.mariabackup, chain[chain.length - 1].id, s.mariabackupPath)),
      p.mode !== 'target-dir' && !p.serverStoppedLater ? refuseIfRunning(s, p.destination, ctx.log) : Promise.resolve(),
    ];
    await Promise.allSettled(checks);
    for (const c of checks) await c;
  }

  applyMember(ctx: SourceContext, chain: readonly ExtractedMember<PhysicalPayload>[], index: number, o: { mode: RestoreMode; signal: AbortSignal }): Promise<void> {
    return prepareMember(this.settings, ctx, chain[0].dir, chain[index], index, o.mode !== 'copy-back', o.signal);
  }

  async apply(_ctx: SourceContext, chain: readonly ExtractedMember<PhysicalPayload>[]): Promise<string> {
    await checkPrepared(chain[0].dir, chain[chain.length - 1].manifest);
    return chain[0].dir;
  }

  putBack(ctx: SourceContext, mode: RestoreMode, resultDir: string, destination: string, chain: readonly ExtractedMember<PhysicalPayload>[]) {
    return putBackPhysical(this.settings, ctx, mode, resultDir, destination, chain[chain.length - 1].manifest);
  }
}
