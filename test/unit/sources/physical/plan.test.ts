import { idToDate } from '../../../../src/domain/ids.js';
import type { PhysicalSummary as BackupSummary } from '../../../../src/sources/physical/chain.js';
import { planBackup, type Plan, type PlanInput } from '../../../../src/sources/physical/plan.js';
import { errorOf } from '../../../helpers/errors.js';
import { full, inc } from '../../../helpers/summaries.js';

/** `n` incrementals, each on the previous, one day apart starting the day after `f`. */
function chainOf(f: BackupSummary, n: number): BackupSummary[] {
  const out = [f];
  for (let i = 1; i <= n; i++) out.push(inc(new Date(idToDate(f.id).getTime() + i * 86_400_000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''), out[i - 1]));
  return out;
}

const base = (over: Partial<PlanInput>): PlanInput => ({
  now: new Date('2026-11-21T12:00:00Z'),
  timeZone: 'UTC',
  fullSchedule: 'off',
  incrementalBase: 'latest',
  maxChainLength: 30,
  serverVersion: '10.11.19-MariaDB',
  valid: [],
  ...over,
});

const summary = (p: Plan) => (p.kind === 'full' ? { kind: p.kind } : { kind: p.kind, parent: p.parent.id, full: p.full.id, chainLength: p.chainLength });

describe('planBackup: no full', () => {
  test('an empty store takes a full', () => {
    expect(planBackup(base({}))).toEqual({ kind: 'full', reason: 'no valid full backup in the store' });
  });

  test('orphan incrementals do not count as a base', () => {
    const F = full('20261114T000000Z');
    const orphan = inc('20261115T000000Z', F);
    expect(planBackup(base({ valid: [orphan] }))).toEqual({ kind: 'full', reason: 'no valid full backup in the store' });
  });

  test('an incomplete full in the store is ignored, and the reason says so', () => {
    expect(planBackup(base({ incompleteIds: ['20261121T000000Z'] }))).toEqual({
      kind: 'full',
      reason: 'no valid full backup in the store; the newest backup in the store, 20261121T000000Z, is incomplete and is ignored',
    });
  });

  test('a requested incremental is refused: take a full first', () => {
    const e = errorOf(() => planBackup(base({ requested: 'incremental' })));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toBe('cannot take an incremental backup: there is no valid full backup in the store to base it on; take a full backup first');
    // The notification's next step reads the stage: "take a full", not "pick a backup that exists".
    expect(e.details.stage).toBe('plan');
  });

  test('a requested incremental with only an incomplete full says that too', () => {
    const e = errorOf(() => planBackup(base({ requested: 'incremental', incompleteIds: ['20261121T000000Z'] })));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toBe(
      'cannot take an incremental backup: there is no valid full backup in the store to base it on; the newest backup in the store, 20261121T000000Z, is incomplete and is ignored; take a full backup first',
    );
  });
});

describe('planBackup: requested full', () => {
  test('is always a full', () => {
    const valid = chainOf(full('20261114T000000Z'), 2);
    expect(planBackup(base({ valid, requested: 'full' }))).toEqual({ kind: 'full', reason: 'requested' });
    expect(planBackup(base({ requested: 'full' }))).toEqual({ kind: 'full', reason: 'requested' });
  });
});

describe('planBackup: incremental bases', () => {
  const valid = chainOf(full('20261114T000000Z'), 3); // full + incrementals on the 15th, 16th, 17th

  test("'latest': on the newest backup of the chain", () => {
    const p = planBackup(base({ valid }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261117T000000Z', full: '20261114T000000Z', chainLength: 4 });
    expect(p.reason).toBe('incremental on 20261117T000000Z, the newest backup of the chain of 20261114T000000Z; it will be incremental 4 of MAX_CHAIN_LENGTH=30');
  });

  test("'latest' on a fresh full: on the full", () => {
    const p = planBackup(base({ valid: [full('20261121T000000Z')] }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261121T000000Z', full: '20261121T000000Z', chainLength: 1 });
    expect(p.reason).toBe('incremental on full 20261121T000000Z, the newest backup of its chain; it will be incremental 1 of MAX_CHAIN_LENGTH=30');
  });

  test("'full' (differential): on the full, counting every incremental of the chain", () => {
    const p = planBackup(base({ valid, incrementalBase: 'full' }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261114T000000Z', full: '20261114T000000Z', chainLength: 4 });
    expect(p.reason).toBe('differential incremental on full 20261114T000000Z (INCREMENTAL_BASE=full); it will be incremental 4 of MAX_CHAIN_LENGTH=30');
  });

  test('the newest chain is used, whatever the input order', () => {
    const older = chainOf(full('20261101T000000Z'), 2);
    const newer = chainOf(full('20261114T000000Z'), 1);
    const p = planBackup(base({ valid: [...newer, ...older].reverse() }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261115T000000Z', full: '20261114T000000Z', chainLength: 2 });
  });

  test('incomplete backups are never parents; a newest incomplete one is mentioned', () => {
    const p = planBackup(base({ valid, incompleteIds: ['20261118T000000Z'] }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261117T000000Z', full: '20261114T000000Z', chainLength: 4 });
    expect(p.reason).toBe(
      'incremental on 20261117T000000Z, the newest backup of the chain of 20261114T000000Z; it will be incremental 4 of MAX_CHAIN_LENGTH=30; the newest backup in the store, 20261118T000000Z, is incomplete and is ignored',
    );
  });

  test('an incomplete backup older than the newest valid one is not mentioned', () => {
    const p = planBackup(base({ valid, incompleteIds: ['20261110T000000Z'] }));
    expect(p.reason).not.toContain('incomplete');
  });
});

describe('planBackup: chain length', () => {
  test.each([
    [0, 1, 'incremental'],
    [2, 3, 'incremental'],
    [3, 3, 'full'],
    [4, 3, 'full'],
    [0, 1, 'incremental'],
  ])('%d incrementals with MAX_CHAIN_LENGTH=%d → %s', (n, max, kind) => {
    expect(planBackup(base({ valid: chainOf(full('20261101T000000Z'), n), maxChainLength: max })).kind).toBe(kind);
  });

  test('the reason names the chain, the count and the limit', () => {
    const p = planBackup(base({ valid: chainOf(full('20261101T000000Z'), 3), maxChainLength: 3 }));
    expect(p).toEqual({ kind: 'full', reason: 'chain of 20261101T000000Z has 3 incrementals (MAX_CHAIN_LENGTH=3)' });
    const one = planBackup(base({ valid: chainOf(full('20261101T000000Z'), 1), maxChainLength: 1 }));
    expect(one.reason).toBe('chain of 20261101T000000Z has 1 incremental (MAX_CHAIN_LENGTH=1)');
  });

  test('the limit counts differential incrementals too', () => {
    const F = full('20261101T000000Z');
    const valid = [F, inc('20261102T000000Z', F), inc('20261103T000000Z', F)];
    expect(planBackup(base({ valid, incrementalBase: 'full', maxChainLength: 2 })).kind).toBe('full');
  });

  test('a requested incremental may go beyond the limit, and says so', () => {
    const p = planBackup(base({ valid: chainOf(full('20261101T000000Z'), 3), maxChainLength: 3, requested: 'incremental' }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261104T000000Z', full: '20261101T000000Z', chainLength: 4 });
    expect(p.reason).toBe(
      'requested incremental on 20261104T000000Z, the newest backup of the chain of 20261101T000000Z; it will be incremental 4 of the chain (MAX_CHAIN_LENGTH=3 applies to automatic backups only)',
    );
  });
});

describe('planBackup: full schedule', () => {
  // Each row: the newest full's id (= its start), the full schedule, the zone, now, the expected kind.
  test.each<[string, string, string, string, 'full' | 'incremental']>([
    // Weekly = Sunday 00:00. 2026-11-22 is a Sunday; in Berlin that is 2026-11-21T23:00Z.
    ['20261114T233000Z', 'weekly', 'Europe/Berlin', '2026-11-21T22:59:59Z', 'incremental'],
    ['20261114T233000Z', 'weekly', 'Europe/Berlin', '2026-11-21T23:00:00Z', 'full'],
    // The same instants in other zones: a full after each zone's own Sunday tick.
    ['20261115T060000Z', 'weekly', 'UTC', '2026-11-21T23:30:00Z', 'incremental'],
    ['20261115T060000Z', 'weekly', 'UTC', '2026-11-22T00:00:00Z', 'full'],
    ['20261115T060000Z', 'weekly', 'America/New_York', '2026-11-22T04:59:00Z', 'incremental'],
    ['20261115T060000Z', 'weekly', 'America/New_York', '2026-11-22T05:00:00Z', 'full'],
    // A full started exactly at the tick is that tick's full.
    ['20261122T000000Z', 'weekly', 'UTC', '2026-11-22T00:00:00Z', 'incremental'],
    // Daily in Berlin across the spring change: the day after 2026-03-29 starts at 22:00Z, not 23:00Z.
    ['20260328T230005Z', 'daily', 'Europe/Berlin', '2026-03-29T21:59:59Z', 'incremental'],
    ['20260328T230005Z', 'daily', 'Europe/Berlin', '2026-03-29T22:00:00Z', 'full'],
    // Daily in New York across the autumn change: 2026-11-01 has 25 hours.
    ['20261101T040010Z', 'daily', 'America/New_York', '2026-11-02T04:30:00Z', 'incremental'],
    ['20261101T040010Z', 'daily', 'America/New_York', '2026-11-02T05:00:00Z', 'full'],
    // Daily in Lord Howe across its 30-minute spring change on 2026-10-04.
    ['20261003T133005Z', 'daily', 'Australia/Lord_Howe', '2026-10-04T12:59:00Z', 'incremental'],
    ['20261003T133005Z', 'daily', 'Australia/Lord_Howe', '2026-10-04T13:00:00Z', 'full'],
    // Monthly from January 31 to February: the 1st comes.
    ['20260131T120000Z', 'monthly', 'UTC', '2026-01-31T23:59:59Z', 'incremental'],
    ['20260131T120000Z', 'monthly', 'UTC', '2026-02-01T00:00:00Z', 'full'],
    // "On the 31st": February has none, so the chain runs on into March.
    ['20260131T000005Z', '0 0 31 * *', 'UTC', '2026-02-28T23:59:59Z', 'incremental'],
    ['20260131T000005Z', '0 0 31 * *', 'UTC', '2026-03-30T12:00:00Z', 'incremental'],
    ['20260131T000005Z', '0 0 31 * *', 'UTC', '2026-03-31T00:00:00Z', 'full'],
    // "On the last day": February 28.
    ['20260131T000005Z', '0 0 L * *', 'UTC', '2026-02-27T23:59:59Z', 'incremental'],
    ['20260131T000005Z', '0 0 L * *', 'UTC', '2026-02-28T00:00:00Z', 'full'],
    // Cron expression with a time of day.
    ['20261115T030000Z', '0 3 * * 0', 'UTC', '2026-11-22T02:59:00Z', 'incremental'],
    ['20261115T030000Z', '0 3 * * 0', 'UTC', '2026-11-22T03:00:00Z', 'full'],
    // 'off': never a full because of age.
    ['20250101T000000Z', 'off', 'UTC', '2026-11-21T12:00:00Z', 'incremental'],
  ])('full %s, %s in %s, now %s → %s', (fullId, fullSchedule, timeZone, now, kind) => {
    const p = planBackup(base({ valid: [full(fullId)], fullSchedule, timeZone, now: new Date(now) }));
    expect(p.kind).toBe(kind);
  });

  test('the configured zone decides: the same full and instant differ between Berlin and UTC', () => {
    const input = { valid: [full('20261115T060000Z')], fullSchedule: 'weekly', now: new Date('2026-11-21T23:30:00Z') };
    expect(planBackup(base({ ...input, timeZone: 'Europe/Berlin' })).kind).toBe('full');
    expect(planBackup(base({ ...input, timeZone: 'UTC' })).kind).toBe('incremental');
  });

  test('the reason names the full, the schedule and the tick in the configured zone', () => {
    const p = planBackup(base({ valid: [full('20261114T233000Z')], fullSchedule: 'weekly', timeZone: 'Europe/Berlin', now: new Date('2026-11-21T23:00:00Z') }));
    expect(p).toEqual({ kind: 'full', reason: 'newest full 20261114T233000Z started before the weekly full tick at 2026-11-22T00:00 Europe/Berlin' });
  });

  test('a cron schedule is quoted in the reason', () => {
    const p = planBackup(base({ valid: [full('20261115T030000Z')], fullSchedule: '0 3 * * 0', timeZone: 'America/New_York', now: new Date('2026-11-22T08:00:00Z') }));
    expect(p).toEqual({ kind: 'full', reason: 'newest full 20261115T030000Z started before the "0 3 * * 0" full tick at 2026-11-22T03:00 America/New_York' });
  });

  test("the system zone ('') is named by its IANA name", () => {
    const system = new Intl.DateTimeFormat().resolvedOptions().timeZone;
    const p = planBackup(base({ valid: [full('20261101T120000Z')], fullSchedule: 'weekly', timeZone: '', now: new Date('2026-11-21T12:00:00Z') }));
    expect(p.kind).toBe('full');
    expect(p.reason).toMatch(new RegExp(` ${system.replace('/', '\\/')}$`));
  });

  test('startedAt, not the id, decides (a full whose job started before the tick)', () => {
    const f = full('20261122T000000Z', { startedAt: '2026-11-21T23:59:58.000Z' });
    expect(planBackup(base({ valid: [f], fullSchedule: 'weekly', now: new Date('2026-11-22T06:00:00Z') })).kind).toBe('full');
  });

  test('the newest full counts, not an older one', () => {
    const valid = [...chainOf(full('20261101T000000Z'), 2), full('20261115T000000Z')];
    const p = planBackup(base({ valid, fullSchedule: 'weekly', now: new Date('2026-11-21T12:00:00Z') }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261115T000000Z', full: '20261115T000000Z', chainLength: 1 });
  });

  test('a requested incremental ignores the full schedule', () => {
    const p = planBackup(base({ valid: [full('20261101T000000Z')], fullSchedule: 'daily', requested: 'incremental' }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: '20261101T000000Z', full: '20261101T000000Z', chainLength: 1 });
    expect(p.reason).toMatch(/^requested incremental on full 20261101T000000Z/);
  });

  test('an incomplete newest full does not count as the tick\'s full', () => {
    const p = planBackup(
      base({ valid: [full('20261114T000000Z')], incompleteIds: ['20261115T000000Z'], fullSchedule: 'weekly', now: new Date('2026-11-15T06:00:00Z') }),
    );
    expect(p).toEqual({
      kind: 'full',
      reason:
        'newest full 20261114T000000Z started before the weekly full tick at 2026-11-15T00:00 UTC; the newest backup in the store, 20261115T000000Z, is incomplete and is ignored',
    });
  });
});

describe('planBackup: server version', () => {
  const valid = chainOf(full('20261114T000000Z'), 2);

  test('a major.minor change starts a new chain, naming both versions', () => {
    const p = planBackup(base({ valid, serverVersion: '11.4.3-MariaDB' }));
    expect(p).toEqual({
      kind: 'full',
      reason: 'the server version changed from 10.11.19-MariaDB (full 20261114T000000Z) to 11.4.3-MariaDB: major.minor 10.11 vs 11.4',
    });
  });

  test('a patch-level change keeps the chain', () => {
    expect(planBackup(base({ valid, serverVersion: '10.11.20-MariaDB-log' })).kind).toBe('incremental');
  });

  test('an unreadable recorded version does not block incrementals', () => {
    const f = full('20261114T000000Z', { versions: { server: 'unknown', mariabackup: '10.11.19-MariaDB' } });
    expect(planBackup(base({ valid: [f] })).kind).toBe('incremental');
  });

  test('the version rule comes before the schedule and length rules', () => {
    const p = planBackup(base({ valid, serverVersion: '11.4.3-MariaDB', fullSchedule: 'daily', maxChainLength: 1 }));
    expect(p.reason).toMatch(/^the server version changed/);
  });

  test('a requested incremental across a version change is refused', () => {
    const e = errorOf(() => planBackup(base({ valid, serverVersion: '11.4.3-MariaDB', requested: 'incremental' })));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toBe(
      'cannot take an incremental backup: the server version changed from 10.11.19-MariaDB (full 20261114T000000Z) to 11.4.3-MariaDB: major.minor 10.11 vs 11.4, so no backup in the store can be its base; take a full backup first',
    );
  });
});

describe('planBackup: broken chains', () => {
  const F = full('20261114T000000Z');
  const I1 = inc('20261115T000000Z', F);
  // I2 claims I1 as its parent, but its LSNs start elsewhere: something between them is lost.
  const I2 = inc('20261116T000000Z', I1, { lsn: { from: '2500', to: '3500', last: '3500' } });

  test("a parent whose LSNs don't line up with its own parent starts a new chain", () => {
    expect(planBackup(base({ valid: [F, I1, I2] }))).toEqual({
      kind: 'full',
      reason:
        'the newest backup of the chain of 20261114T000000Z, 20261116T000000Z, is not restorable (backup 20261116T000000Z starts at LSN 2500 but its parent 20261115T000000Z ends at LSN 2000), so a new chain starts',
    });
  });

  test('a break deeper than the parent is named at its own link', () => {
    const I3 = inc('20261117T000000Z', I2);
    const p = planBackup(base({ valid: [F, I1, I2, I3] }));
    expect(p).toEqual({
      kind: 'full',
      reason:
        'the newest backup of the chain of 20261114T000000Z, 20261117T000000Z, is not restorable (backup 20261116T000000Z starts at LSN 2500 but its parent 20261115T000000Z ends at LSN 2000), so a new chain starts',
    });
  });

  test('a parent whose ancestor is incomplete starts a new chain', () => {
    const p = planBackup(base({ valid: [F, inc('20261116T000000Z', I1)], incompleteIds: [I1.id] }));
    expect(p).toEqual({
      kind: 'full',
      reason:
        'the newest backup of the chain of 20261114T000000Z, 20261116T000000Z, is not restorable (backup 20261116T000000Z needs its parent 20261115T000000Z, which is incomplete (it has no manifest: the job that wrote it did not finish)), so a new chain starts',
    });
  });

  test('a differential base is not affected by a broken incremental', () => {
    const p = planBackup(base({ valid: [F, I1, I2], incrementalBase: 'full' }));
    expect(summary(p)).toEqual({ kind: 'incremental', parent: F.id, full: F.id, chainLength: 3 });
  });

  test('a requested incremental on a broken chain is refused', () => {
    const e = errorOf(() => planBackup(base({ valid: [F, I1, I2], requested: 'incremental' })));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe(
      'cannot take an incremental backup on 20261116T000000Z: it is not restorable (backup 20261116T000000Z starts at LSN 2500 but its parent 20261115T000000Z ends at LSN 2000); take a full backup to start a new chain',
    );
    expect(e.details).toMatchObject({ parent: I2.id, backup: I2.id });
  });

  test('a tool version change inside the chain starts a new one', () => {
    const I2v = inc('20261116T000000Z', I1, { versions: { server: '10.11.19-MariaDB', mariabackup: '11.4.3-MariaDB' } });
    const p = planBackup(base({ valid: [F, I1, I2v] }));
    expect(p.kind).toBe('full');
    expect(p.reason).toContain('was taken with mariabackup 11.4.3-MariaDB but its full 20261114T000000Z with mariabackup 10.11.19-MariaDB');
  });
});

describe('planBackup: determinism', () => {
  test('the same input gives the same plan whatever the order of backups', () => {
    const valid = [...chainOf(full('20261101T000000Z'), 3), ...chainOf(full('20261110T000000Z'), 4)];
    const a = planBackup(base({ valid, incompleteIds: ['20261120T000000Z', '20261105T000000Z'] }));
    const b = planBackup(base({ valid: [...valid].reverse(), incompleteIds: ['20261105T000000Z', '20261120T000000Z'] }));
    expect(b).toEqual(a);
    expect(summary(a)).toEqual({ kind: 'incremental', parent: '20261114T000000Z', full: '20261110T000000Z', chainLength: 5 });
  });
});

describe("planBackup: the server's history must continue the chain", () => {
  const F = full('20261114T000000Z');
  const I1 = inc('20261115T000000Z', F); // LSN 1000 → 2000, finished 2026-11-15T00:01:00Z
  const ID = { host: 'db1', datadir: '/var/lib/mysql', serverId: 1 };
  const Fi = full('20261114T000000Z', { server: ID });
  const I1i = inc('20261115T000000Z', Fi, { server: ID });
  const chain = (server: PlanInput['server'], over: Partial<PlanInput> = {}) => planBackup(base({ valid: [F, I1], server, ...over }));

  test('a current LSN below the parent\'s last_lsn starts a new chain, naming both LSNs', () => {
    expect(chain({ currentLsn: '1500' })).toEqual({
      kind: 'full',
      reason:
        "the server's history does not continue 20261115T000000Z (chain of 20261114T000000Z): the server's current LSN 1500 is below 2000, where 20261115T000000Z ends (its last_lsn), so a new chain starts",
    });
  });

  test('a current LSN at or above the parent\'s last_lsn keeps the chain', () => {
    expect(summary(chain({ currentLsn: '2000' }))).toEqual({ kind: 'incremental', parent: I1.id, full: F.id, chainLength: 2 });
    expect(summary(chain({ currentLsn: '10000' }))).toEqual({ kind: 'incremental', parent: I1.id, full: F.id, chainLength: 2 });
  });

  test('LSNs compare as numbers (999 < 2000 although "999" > "2000" as text)', () => {
    expect(chain({ currentLsn: '999' }).kind).toBe('full');
  });

  test('last_lsn counts, not to_lsn (the checkpoint the backup started from may lag far behind)', () => {
    const lagging = inc('20261115T000000Z', F, { lsn: { from: '1000', to: '1000', last: '3000000' } });
    const p = planBackup(base({ valid: [F, lagging], server: { currentLsn: '2500000' } }));
    expect(p.reason).toContain("the server's current LSN 2500000 is below 3000000, where 20261115T000000Z ends (its last_lsn)");
    expect(planBackup(base({ valid: [F, lagging], server: { currentLsn: '3000000' } })).kind).toBe('incremental');
  });

  test('a differential compares with the full, its parent', () => {
    expect(summary(chain({ currentLsn: '1500' }, { incrementalBase: 'full' }))).toEqual({ kind: 'incremental', parent: F.id, full: F.id, chainLength: 2 });
    expect(chain({ currentLsn: '900' }, { incrementalBase: 'full' }).reason).toContain("the server's current LSN 900 is below 1000, where 20261114T000000Z ends (its last_lsn)");
  });

  test('a restore recorded after the parent finished starts a new chain, whatever the LSN', () => {
    const lastRestore = { restoredBackupId: F.id, restoredAt: '2026-11-16T08:00:00.000Z', toLsn: '1000' };
    expect(chain({ currentLsn: '90000', lastRestore })).toEqual({
      kind: 'full',
      reason:
        "the server's history does not continue 20261115T000000Z (chain of 20261114T000000Z): backup 20261114T000000Z was restored into the server's datadir at 2026-11-16T08:00:00.000Z, after 20261115T000000Z finished at 2026-11-15T00:01:00.000Z, so a new chain starts",
    });
  });

  test('a restore before the parent finished does not matter (the chain started after it)', () => {
    const lastRestore = { restoredBackupId: '20261101T000000Z', restoredAt: '2026-11-13T08:00:00.000Z', toLsn: '1000' };
    expect(chain({ currentLsn: '90000', lastRestore }).kind).toBe('incremental');
    expect(chain({ lastRestore: null }).kind).toBe('incremental');
  });

  test('a different server identity starts a new chain, naming the field', () => {
    const p = planBackup(base({ valid: [Fi, I1i], server: { identity: { ...ID, datadir: '/srv/mysql' } } }));
    expect(p).toEqual({
      kind: 'full',
      reason:
        "the server's history does not continue 20261115T000000Z (chain of 20261114T000000Z): the server's datadir is /srv/mysql but 20261115T000000Z was taken from datadir /var/lib/mysql, so a new chain starts",
    });
    const q = planBackup(base({ valid: [Fi, I1i], server: { identity: { host: 'db2', datadir: ID.datadir, serverId: 2 } } }));
    expect(q.reason).toContain("the server's host is db2 but 20261115T000000Z was taken from host db1; the server's serverId is 2 but 20261115T000000Z was taken from serverId 1");
  });

  test('the same identity keeps the chain; parents without one (older manifests) are not checked', () => {
    expect(planBackup(base({ valid: [Fi, I1i], server: { identity: { ...ID } } })).kind).toBe('incremental');
    expect(chain({ identity: { host: 'db2', datadir: '/x', serverId: 9 } }).kind).toBe('incremental');
  });

  test('every contradiction is named', () => {
    const lastRestore = { restoredBackupId: F.id, restoredAt: '2026-11-16T08:00:00.000Z', toLsn: '1000' };
    const p = planBackup(base({ valid: [Fi, I1i], server: { currentLsn: '1200', lastRestore, identity: { ...ID, serverId: 3 } } }));
    expect(p.kind).toBe('full');
    expect(p.reason).toContain('serverId is 3');
    expect(p.reason).toContain('was restored into');
    expect(p.reason).toContain('current LSN 1200');
  });

  test('it comes before the schedule and length rules, which would give a less useful reason', () => {
    const p = chain({ currentLsn: '1500' }, { fullSchedule: 'daily', maxChainLength: 1 });
    expect(p.reason).toMatch(/^the server's history does not continue/);
  });

  test('a requested incremental is refused, not turned into a full', () => {
    const e = errorOf(() => chain({ currentLsn: '1500' }, { requested: 'incremental' }));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toBe(
      "cannot take an incremental backup on 20261115T000000Z: the server's history does not continue it (the server's current LSN 1500 is below 2000, where 20261115T000000Z ends (its last_lsn)), " +
        'so no backup in the store can be its base; take a full backup to start a new chain',
    );
    expect(e.details).toMatchObject({ parent: I1.id, full: F.id });
  });

  test('without facts about the server nothing is checked (as before)', () => {
    expect(chain(undefined).kind).toBe('incremental');
    expect(chain({}).kind).toBe('incremental');
  });
});
