/**
 * The physical source at backup time: `mariabackup --backup --stream=xbstream` as the raw stream,
 * and its checkpoints and info files as the manifest payload's facts.
 *
 * LOCAL_TEMP_DIR (the job's dir) holds only the 0600 option file, the checkpoints
 * (`--extra-lsndir`) and mariabackup's scratch: no copy of the data touches local disk.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ChildStage } from '../../archive/child.js';
import type { ExtraFile } from '../../archive/container.js';
import { BackupmateError } from '../../domain/errors.js';
import {
  backupArgv,
  backupOptionFileText,
  CHECKPOINT_FILES,
  INFO_FILES,
  mariabackupVersion,
  parseBackupInfo,
  parseCheckpoints,
  readFirst,
  writeOptionFile,
  type ConnectionSettings,
} from '../../mariadb/mariabackup.js';
import { serverState } from '../../mariadb/server.js';
import type { BackupRun, SourceBackupTarget, SourceContext } from '../source.js';
import { lsnBelow } from './chain.js';
import { readInventory } from './inventory.js';
import { physicalOf, type PhysicalPayload } from './payload.js';

export interface PhysicalBackupSettings {
  mariabackupPath: string;
  connection: ConnectionSettings;
  parallel: number;
}

/** A physical target: an incremental starts at its parent's to_lsn (`fromLsn`, or read from `parent`). */
export type PhysicalBackupTarget = SourceBackupTarget<PhysicalPayload> & { fromLsn?: string };

export async function startPhysicalBackup(s: PhysicalBackupSettings, ctx: SourceContext, target: PhysicalBackupTarget): Promise<BackupRun<PhysicalPayload>> {
  const { log, jobDir } = ctx;
  const incremental = target.kind === 'incremental';
  const fromLsn = incremental ? (target.fromLsn ?? (target.parent ? physicalOf(target.parent).lsn.to : undefined)) : undefined;
  if (incremental && fromLsn === undefined) throw new BackupmateError('INTERNAL', 'an incremental physical backup needs its parent (its to_lsn)');
  const parentId = target.parentId ?? target.parent?.id;
  const mbVersion = await mariabackupVersion(s.mariabackupPath);
  // Which server this backup is of, recorded so no later backup of another server (or another
  // datadir) chains onto it (sources/physical/plan.ts).
  const { identity } = await serverState(s.connection, jobDir);
  const optionFile = path.join(jobDir, 'backup.cnf');
  await writeOptionFile(optionFile, backupOptionFileText(s.connection));
  const lsnDir = path.join(jobDir, 'lsn');
  const scratch = path.join(jobDir, 'scratch');
  await fs.mkdir(lsnDir);
  await fs.mkdir(scratch);

  const mb = new ChildStage({
    stage: 'mariabackup',
    file: s.mariabackupPath,
    args: backupArgv({ optionFile, targetDir: scratch, lsnDir, parallel: s.parallel, incrementalLsn: fromLsn }),
    stdin: 'ignore',
    cwd: jobDir,
    onStderr: (line) => log.debug(line, { event: 'mariabackup.stderr' }),
  });
  log.info('mariabackup started', { event: 'mariabackup.start', pid: mb.pid, mariabackupVersion: mbVersion });

  const finish = async (): Promise<{ payload: PhysicalPayload; extras: ExtraFile[] }> => {
    await mb.done;
    const cp = await readFirst(lsnDir, CHECKPOINT_FILES);
    if (!cp) throw new BackupmateError('TOOL_FAILED', `mariabackup exited 0 but wrote no checkpoints file in ${lsnDir}`, { stage: 'mariabackup' });
    const checkpoints = parseCheckpoints(cp.text);
    const expectedType = incremental ? 'incremental' : 'full-backuped';
    if (checkpoints.backupType !== expectedType) {
      throw new BackupmateError('TOOL_FAILED', `mariabackup reported backup_type=${checkpoints.backupType}, expected ${expectedType}`, { stage: 'mariabackup' });
    }
    if (incremental && checkpoints.fromLsn !== fromLsn) {
      throw new BackupmateError('TOOL_FAILED', `mariabackup started the incremental at LSN ${checkpoints.fromLsn}, expected the parent's to_lsn ${fromLsn}`, {
        stage: 'mariabackup',
      });
    }
    // The server's history does not continue the parent's (typically: an older backup was
    // restored since). Such a delta can never be prepared, so it must not become a backup.
    // INTEGRITY, not TOOL_FAILED: mariabackup did its job; it is the chain that would break.
    if (incremental && lsnBelow(checkpoints.toLsn, checkpoints.fromLsn)) {
      throw new BackupmateError(
        'INTEGRITY',
        `the incremental on ${parentId} ends at LSN ${checkpoints.toLsn}, below where it starts (the parent's to_lsn ${checkpoints.fromLsn}): ` +
          "the server's history does not continue the parent's (was an older backup restored?), so it could never be restored; " +
          'take a full backup (backupmate backup --full)',
        { stage: 'mariabackup', parentId, fromLsn: checkpoints.fromLsn, toLsn: checkpoints.toLsn },
      );
    }
    const extras: ExtraFile[] = [{ name: cp.name, data: Buffer.from(cp.text) }];
    const inf = await readFirst(lsnDir, INFO_FILES);
    const info = inf ? parseBackupInfo(inf.text) : null;
    if (inf) extras.push({ name: inf.name, data: Buffer.from(inf.text) });
    // For restore drills: which tables there were (best effort, see inventory.ts).
    const inventory = await readInventory(s.connection, jobDir, log);
    return {
      payload: {
        type: 'physical',
        lsn: { from: checkpoints.fromLsn, to: checkpoints.toLsn, last: checkpoints.lastLsn },
        binlog: info?.binlog ?? null,
        server: identity,
        versions: { server: info?.serverVersion ?? 'unknown', mariabackup: mbVersion },
        ...(inventory ? { inventory } : {}),
      },
      extras,
    };
  };
  return { output: mb, stages: [], finish, kill: () => mb.kill() };
}
