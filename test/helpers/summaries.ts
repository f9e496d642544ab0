/** Physical backup summaries for the pure chain, planning and retention tests. */
import type { PhysicalSummary as BackupSummary } from '../../src/sources/physical/chain.js';
import { idToDate } from '../../src/domain/ids.js';

export const V = { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB' };

/** A full backup started at its id's instant, finished 10 minutes later, LSNs 0 → 1000. */
export function full(id: string, over: Partial<BackupSummary> = {}): BackupSummary {
  const start = idToDate(id);
  return {
    id,
    source: 'physical',
    kind: 'full',
    parentId: null,
    fullId: id,
    lsn: { from: '0', to: '1000', last: '1000' },
    versions: { ...V },
    startedAt: start.toISOString(),
    finishedAt: new Date(start.getTime() + 600_000).toISOString(),
    rawBytes: 1000,
    storedBytes: 400,
    ...over,
  };
}

/** An incremental on `parent` whose LSNs line up with it (from = parent's to, +1000). */
export function inc(id: string, parent: BackupSummary, over: Partial<BackupSummary> = {}): BackupSummary {
  const start = idToDate(id);
  const from = parent.lsn.to;
  const to = String(BigInt(from) + 1000n);
  return {
    id,
    source: 'physical',
    kind: 'incremental',
    parentId: parent.id,
    fullId: parent.fullId,
    lsn: { from, to, last: to },
    versions: { ...V },
    startedAt: start.toISOString(),
    finishedAt: new Date(start.getTime() + 60_000).toISOString(),
    rawBytes: 100,
    storedBytes: 40,
    ...over,
  };
}
