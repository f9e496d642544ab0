import type { BackupDir } from '../../../src/domain/catalog.js';
import { buildChains, type Chain } from '../../../src/domain/chain.js';
import type { PhysicalSummary as BackupSummary } from '../../../src/sources/physical/chain.js';
import { idToDate } from '../../../src/domain/ids.js';
import { planRetention, type RetentionInput } from '../../../src/domain/retention.js';

const DAY = 86_400_000;
const V = { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB' };

/** A backup started at its id's instant, finished 10 minutes later. */
function backup(id: string, kind: 'full' | 'incremental', parent: BackupSummary | null, over: Partial<BackupSummary> = {}): BackupSummary {
  const start = idToDate(id);
  const from = parent ? parent.lsn.to : '0';
  const to = String(BigInt(from) + 1000n);
  return {
    id,
    source: 'physical',
    kind,
    parentId: parent?.id ?? null,
    fullId: parent ? parent.fullId : id,
    lsn: { from, to, last: to },
    versions: { ...V },
    startedAt: start.toISOString(),
    finishedAt: new Date(start.getTime() + 600_000).toISOString(),
    rawBytes: 100,
    storedBytes: 40,
    ...over,
  };
}

const full = (id: string, over: Partial<BackupSummary> = {}) => backup(id, 'full', null, over);
const inc = (id: string, parent: BackupSummary, over: Partial<BackupSummary> = {}) => backup(id, 'incremental', parent, over);

// Four weekly chains (fulls on Sundays 2026-10-25, 11-01, 11-08, 11-15), each with daily incrementals.
const F1 = full('20261025T000000Z');
const F1a = inc('20261026T000000Z', F1);
const F1b = inc('20261027T000000Z', F1a);
const F2 = full('20261101T000000Z');
const F2a = inc('20261102T000000Z', F2);
const F3 = full('20261108T000000Z');
const F3a = inc('20261109T000000Z', F3);
const F3b = inc('20261110T000000Z', F3a);
const F4 = full('20261115T000000Z');
const F4a = inc('20261116T000000Z', F4);
const ALL = [F1, F1a, F1b, F2, F2a, F3, F3a, F3b, F4, F4a];
const CHAINS = buildChains(ALL).chains;
const NOW = new Date('2026-11-21T12:00:00Z');

const input = (over: Partial<RetentionInput>): RetentionInput => ({
  now: NOW,
  chains: CHAINS,
  orphans: [],
  incomplete: [],
  keepFullCount: 0,
  keepDays: 0,
  incompleteGraceHours: 24,
  ...over,
});

const deletedIds = (over: Partial<RetentionInput>) => planRetention(input(over)).deleteBackups.map((d) => d.id);
const ids = (...bs: BackupSummary[]) => bs.map((b) => b.id).sort();

describe('planRetention: rules off', () => {
  test('both 0: nothing is deleted, everything is kept', () => {
    const p = planRetention(input({}));
    expect(p.deleteBackups).toEqual([]);
    expect(p.keep).toEqual(ids(...ALL));
  });

  test('an empty store plans nothing', () => {
    expect(planRetention(input({ chains: [] }))).toEqual({ keep: [], deleteBackups: [], deleteIncomplete: [] });
  });
});

describe('planRetention: RETENTION_FULL_COUNT', () => {
  test.each([
    [1, ids(F1, F1a, F1b, F2, F2a, F3, F3a, F3b)],
    [2, ids(F1, F1a, F1b, F2, F2a)],
    [3, ids(F1, F1a, F1b)],
    [4, []],
    [10, []],
  ])('keep %d chains → delete %j', (n, expected) => {
    expect(deletedIds({ keepFullCount: n })).toEqual(expected);
  });

  test('every member of a deleted chain is listed, with the chain and the rule in the reason', () => {
    const p = planRetention(input({ keepFullCount: 3 }));
    expect(p.deleteBackups).toEqual([
      { id: F1.id, kind: 'full', reason: 'chain of 20261025T000000Z: it is chain 4 from the newest, beyond RETENTION_FULL_COUNT=3' },
      { id: F1a.id, kind: 'incremental', reason: 'chain of 20261025T000000Z: it is chain 4 from the newest, beyond RETENTION_FULL_COUNT=3' },
      { id: F1b.id, kind: 'incremental', reason: 'chain of 20261025T000000Z: it is chain 4 from the newest, beyond RETENTION_FULL_COUNT=3' },
    ]);
    expect(p.keep).toEqual(ids(F2, F2a, F3, F3a, F3b, F4, F4a));
  });
});

describe('planRetention: RETENTION_DAYS', () => {
  // Newest member finish times: chain 1 10-27 00:10, chain 2 11-02 00:10, chain 3 11-10 00:10, chain 4 11-16 00:10.
  test.each([
    [1, ids(F1, F1a, F1b, F2, F2a, F3, F3a, F3b)], // only the newest chain survives: it is never deleted
    [7, ids(F1, F1a, F1b, F2, F2a, F3, F3a, F3b)],
    [12, ids(F1, F1a, F1b, F2, F2a)],
    [20, ids(F1, F1a, F1b)],
    [26, []],
    [365, []],
  ])('keep %d days → delete %j', (days, expected) => {
    expect(deletedIds({ keepDays: days })).toEqual(expected);
  });

  test("a chain's age is its NEWEST member's, so a recent incremental keeps an old full", () => {
    // Chain 3's full is 13 days old but its newest incremental finished 11 days ago.
    expect(deletedIds({ keepDays: 12 })).not.toContain(F3.id);
    expect(deletedIds({ keepDays: 12 })).toContain(F2.id);
  });

  test('the cut-off is exactly now - D days: finished at it is kept, a millisecond before is not', () => {
    const F = full('20261101T000000Z', { finishedAt: new Date(NOW.getTime() - 10 * DAY).toISOString() });
    const G = full('20261102T000000Z', { finishedAt: new Date(NOW.getTime() - 10 * DAY - 1).toISOString() });
    const newest = full('20261120T000000Z');
    expect(deletedIds({ keepDays: 10, chains: buildChains([F, newest]).chains })).toEqual([]);
    expect(deletedIds({ keepDays: 10, chains: buildChains([G, newest]).chains })).toEqual([G.id]);
  });

  test('the reason names the newest member, its finish time and the limit', () => {
    const p = planRetention(input({ keepDays: 20 }));
    expect(p.deleteBackups[0]).toEqual({
      id: F1.id,
      kind: 'full',
      reason:
        'chain of 20261025T000000Z: its newest backup 20261027T000000Z finished at 2026-10-27T00:10:00.000Z, more than 20 days ago (RETENTION_DAYS=20)',
    });
  });

  test('an unreadable finishedAt falls back to the id instant', () => {
    const F = full('20261001T000000Z', { finishedAt: 'garbage' });
    const newest = full('20261120T000000Z');
    const p = planRetention(input({ keepDays: 30, chains: buildChains([F, newest]).chains }));
    expect(p.deleteBackups.map((d) => d.id)).toEqual([F.id]);
    expect(p.deleteBackups[0].reason).toContain('finished at 2026-10-01T00:00:00.000Z');
  });
});

describe('planRetention: both rules (a chain is kept if either rule keeps it)', () => {
  test.each([
    // count, days, deleted
    [1, 12, ids(F1, F1a, F1b, F2, F2a)], // days keeps chains 3 and 4
    [3, 7, ids(F1, F1a, F1b)], // count keeps chains 2-4
    [2, 7, ids(F1, F1a, F1b, F2, F2a)],
    [1, 1, ids(F1, F1a, F1b, F2, F2a, F3, F3a, F3b)],
    [4, 1, []],
    [1, 365, []],
  ])('keep %d chains and %d days → delete %j', (n, days, expected) => {
    expect(deletedIds({ keepFullCount: n, keepDays: days })).toEqual(expected);
  });

  test('the reason of a deletion names both rules', () => {
    const p = planRetention(input({ keepFullCount: 3, keepDays: 7 }));
    expect(p.deleteBackups[0].reason).toBe(
      'chain of 20261025T000000Z: it is chain 4 from the newest, beyond RETENTION_FULL_COUNT=3 and its newest backup 20261027T000000Z finished at 2026-10-27T00:10:00.000Z, more than 7 days ago (RETENTION_DAYS=7)',
    );
  });
});

describe('planRetention: the newest chain', () => {
  test('is never deleted, even when every rule expires it', () => {
    const p = planRetention(input({ keepDays: 1, now: new Date('2030-01-01T00:00:00Z') }));
    expect(p.keep).toEqual(ids(F4, F4a));
    expect(p.deleteBackups.map((d) => d.id)).toEqual(ids(F1, F1a, F1b, F2, F2a, F3, F3a, F3b));
  });

  test('is the chain with the newest full, whatever the input order', () => {
    const p = planRetention(input({ keepDays: 1, chains: [...CHAINS].reverse(), now: new Date('2030-01-01T00:00:00Z') }));
    expect(p.keep).toEqual(ids(F4, F4a));
  });

  test('a single chain is always kept', () => {
    const chains = buildChains([F1, F1a]).chains;
    expect(planRetention(input({ chains, keepDays: 1, keepFullCount: 1 })).keep).toEqual(ids(F1, F1a));
  });
});

describe('planRetention: dependencies', () => {
  test('a chain a kept backup links to (parentId across chains) is kept', () => {
    // A corrupt-looking but real case: F4's incremental names a parent in chain 2.
    const cross = inc('20261117T000000Z', F2a, { fullId: F4.id });
    const chains = buildChains([...ALL, cross]).chains;
    const p = planRetention(input({ chains, keepFullCount: 1 }));
    expect(p.keep).toEqual(ids(F2, F2a, F4, F4a, cross));
    expect(p.deleteBackups.map((d) => d.id)).toEqual(ids(F1, F1a, F1b, F3, F3a, F3b));
  });

  test('dependencies are followed to the fixed point', () => {
    // chain 4 → chain 3 (parentId) → chain 1 (parentId): all three kept.
    const c3 = inc('20261111T000000Z', F1b, { fullId: F3.id });
    const c4 = inc('20261117T000000Z', c3, { fullId: F4.id });
    const chains = buildChains([...ALL, c3, c4]).chains;
    const p = planRetention(input({ chains, keepFullCount: 1 }));
    expect(p.deleteBackups.map((d) => d.id)).toEqual(ids(F2, F2a));
  });

  test('an orphan a kept backup depends on is kept', () => {
    const orphan = full('20261001T000000Z'); // placeholder to derive ids
    const O = inc('20261112T000000Z', orphan); // fullId 20261001T000000Z: not in the store
    const dependent = inc('20261117T000000Z', O, { fullId: F4.id });
    const chains = buildChains([...ALL, dependent]).chains;
    const p = planRetention(input({ chains, orphans: [O], keepFullCount: 4 }));
    expect(p.keep).toContain(O.id);
    expect(p.deleteBackups).toEqual([]);
  });
});

describe('planRetention: orphans', () => {
  const gone = full('20261001T000000Z');
  const O1 = inc('20261002T000000Z', gone);
  const O2 = inc('20261003T000000Z', O1);

  test('with retention on, orphans are deleted: their full no longer exists', () => {
    const p = planRetention(input({ orphans: [O2, O1], keepFullCount: 10 }));
    expect(p.deleteBackups).toEqual([
      { id: O1.id, kind: 'incremental', reason: 'orphan incremental: its full backup 20261001T000000Z no longer exists, so it cannot be restored' },
      { id: O2.id, kind: 'incremental', reason: 'orphan incremental: its full backup 20261001T000000Z no longer exists, so it cannot be restored' },
    ]);
    expect(p.keep).toEqual(ids(...ALL));
  });

  test('with retention off, orphans are kept', () => {
    const p = planRetention(input({ orphans: [O1, O2] }));
    expect(p.deleteBackups).toEqual([]);
    expect(p.keep).toEqual(ids(...ALL, O1, O2));
  });

  test('orphans and chains are deleted in one list sorted by id', () => {
    const p = planRetention(input({ orphans: [O1], keepFullCount: 3 }));
    expect(p.deleteBackups.map((d) => d.id)).toEqual([O1.id, F1.id, F1a.id, F1b.id]);
  });
});

describe('planRetention: incomplete backups', () => {
  const dir = (id: string, kind: 'full' | 'incremental', ages: (number | undefined)[]): BackupDir => {
    const prefix = kind === 'full' ? 'full/' : 'inc/';
    return {
      id,
      source: 'physical',
      kind,
      dir: `${prefix}${id}/`,
      hasManifest: false,
      objects: ages.map((hours, i) => ({
        key: `${prefix}${id}/data.${String(ages.length - 1 - i).padStart(5, '0')}`,
        size: 10,
        ...(hours === undefined ? {} : { lastModified: new Date(NOW.getTime() - hours * 3_600_000) }),
      })),
    };
  };

  test('deleted when every object is older than the grace period, keys sorted', () => {
    const p = planRetention(input({ incomplete: [dir('20261119T000000Z', 'incremental', [30, 48])] }));
    expect(p.deleteIncomplete).toEqual([
      {
        id: '20261119T000000Z',
        kind: 'incremental',
        dir: 'inc/20261119T000000Z/',
        keys: ['inc/20261119T000000Z/data.00000', 'inc/20261119T000000Z/data.00001'],
        reason:
          'incomplete incremental backup (no manifest): its newest object was written at 2026-11-20T06:00:00.000Z, more than 24 hours ago (INCOMPLETE_GRACE_HOURS=24)',
      },
    ]);
  });

  test.each<[string, (number | undefined)[]]>([
    ['one object is within the grace period', [30, 23]],
    ['an object is exactly at the grace limit', [30, 24]],
    ['an object has no lastModified', [30, undefined]],
    ['it has no objects', []],
  ])('kept when %s', (_why, ages) => {
    expect(planRetention(input({ incomplete: [dir('20261119T000000Z', 'full', ages)] })).deleteIncomplete).toEqual([]);
  });

  test('a directory that has a manifest is not incomplete', () => {
    const d = { ...dir('20261119T000000Z', 'full', [100]), hasManifest: true };
    expect(planRetention(input({ incomplete: [d] })).deleteIncomplete).toEqual([]);
  });

  test('handled whether or not backup retention is on, never listed in keep', () => {
    const incomplete = [dir('20261120T000000Z', 'full', [36]), dir('20261118T000000Z', 'incremental', [72])];
    for (const over of [{}, { keepFullCount: 2, keepDays: 3 }]) {
      const p = planRetention(input({ ...over, incomplete }));
      expect(p.deleteIncomplete.map((d) => d.id)).toEqual(['20261118T000000Z', '20261120T000000Z']);
      expect(p.keep).not.toContain('20261120T000000Z');
    }
  });

  test('the grace period is configurable', () => {
    const incomplete = [dir('20261121T000000Z', 'full', [7])];
    expect(planRetention(input({ incomplete, incompleteGraceHours: 6 })).deleteIncomplete).toHaveLength(1);
    expect(planRetention(input({ incomplete, incompleteGraceHours: 8 })).deleteIncomplete).toHaveLength(0);
  });
});

describe('planRetention: determinism', () => {
  test('the plan does not depend on the order of its input', () => {
    const gone = full('20261001T000000Z');
    const O1 = inc('20261002T000000Z', gone);
    const O2 = inc('20261003T000000Z', O1);
    const incomplete: BackupDir[] = [
      { id: '20261120T000000Z', source: 'physical', kind: 'full', dir: 'full/20261120T000000Z/', hasManifest: false, objects: [{ key: 'full/20261120T000000Z/data.00001', size: 1, lastModified: new Date('2026-11-19T00:00:00Z') }, { key: 'full/20261120T000000Z/data.00000', size: 1, lastModified: new Date('2026-11-19T00:00:00Z') }] },
      { id: '20261019T000000Z', source: 'physical', kind: 'incremental', dir: 'inc/20261019T000000Z/', hasManifest: false, objects: [{ key: 'inc/20261019T000000Z/data.00000', size: 1, lastModified: new Date('2026-10-19T00:00:00Z') }] },
    ];
    const a = planRetention(input({ keepFullCount: 2, keepDays: 7, orphans: [O1, O2], incomplete }));
    const shuffledChains: Chain[] = [CHAINS[2], CHAINS[0], CHAINS[3], CHAINS[1]];
    const b = planRetention(input({ keepFullCount: 2, keepDays: 7, orphans: [O2, O1], incomplete: [...incomplete].reverse(), chains: shuffledChains }));
    expect(b).toEqual(a);
    expect(a.deleteBackups.map((d) => d.id)).toEqual([O1.id, O2.id, F1.id, F1a.id, F1b.id, F2.id, F2a.id]);
    expect(a.deleteIncomplete.map((d) => d.id)).toEqual(['20261019T000000Z', '20261120T000000Z']);
    expect(a.deleteIncomplete[1].keys).toEqual(['full/20261120T000000Z/data.00000', 'full/20261120T000000Z/data.00001']);
    // keep + deleted cover every backup exactly once.
    expect([...a.keep, ...a.deleteBackups.map((d) => d.id)].sort()).toEqual(ids(...ALL, O1, O2));
  });

  test('planning does not modify its input', () => {
    const before = JSON.stringify(CHAINS);
    planRetention(input({ keepFullCount: 1 }));
    expect(JSON.stringify(CHAINS)).toBe(before);
  });
});
