/**
 * Whether a drill replays the binlog archive, and to where (pure). Issue 16: "a drill restores the
 * backup (its whole chain, and with a binlog archive, up to its last archived moment)".
 *
 * The drilled backup is the only one the planner may choose (a newer backup must not stand in for
 * the one being proven), and the moment is the end of that backup's restorable interval
 * (restore/pitr-plan.ts restorableWindow): the last archived transaction's second, or the last one
 * before a hole or reported gap. The request is that second as `--time` means it, so the drill
 * replays exactly what `restore --time <that moment>` would: transactions committed in that last
 * second are left out (the archive may not hold all of that second yet; the planner's one rule).
 *
 * No archive, or an archive that cannot continue from this backup (no GTID position, archive
 * starts after it, a hole right after it): no replay, with the reason, and the drill runs as a
 * plain restore drill. Never an error: the drill proves the backup either way, and says which.
 */
import { BackupmateError } from '../domain/errors.js';
import { planPointInTime, restorableWindow, type PitrArchive, type PitrBackup, type PitrPlan } from '../restore/pitr-plan.js';

export type DrillReplayDecision = { replay: true; plan: PitrPlan; upTo: string } | { replay: false; reason: string };

export function planDrillReplay(backup: PitrBackup, archive: PitrArchive, hasArchive: boolean): DrillReplayDecision {
  if (!hasArchive) return { replay: false, reason: 'the store holds no binlog archive' };
  if (archive.segments.length === 0) return { replay: false, reason: 'the binlog archive holds no segment with a transaction yet' };
  const { intervals, unusable } = restorableWindow([backup], archive);
  const interval = intervals.find((i) => i.backupId === backup.id);
  if (!interval) {
    const why = unusable.find((u) => u.id === backup.id)?.reason ?? 'no restorable interval starts at it';
    return { replay: false, reason: `the archive cannot continue from backup ${backup.id}: ${why}` };
  }
  try {
    const plan = planPointInTime([backup], archive, { time: new Date(interval.to) });
    return { replay: true, plan, upTo: interval.to };
  } catch (e) {
    if (e instanceof BackupmateError && e.code === 'NOT_RESTORABLE') return { replay: false, reason: `the archive cannot continue from backup ${backup.id}: ${e.message}` };
    throw e;
  }
}
