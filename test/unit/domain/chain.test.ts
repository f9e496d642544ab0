import { buildChains, majorMinor, parseRestoreTime, selectRestoreTarget, versionsDiffer } from '../../../src/domain/chain.js';
import { upgradeLegacy, type LegacyManifest } from '../../../src/domain/manifest.js';
import { physicalSummary as summarize, resolveRestoreChain, type PhysicalSummary as BackupSummary } from '../../../src/sources/physical/chain.js';
import { errorOf } from '../../helpers/errors.js';
import { full, inc } from '../../helpers/summaries.js';

// Two chains: A (full + 3 incrementals, each on the previous) and B (full + 1 incremental).
const A = full('20261114T000000Z');
const A1 = inc('20261115T000000Z', A);
const A2 = inc('20261116T000000Z', A1);
const A3 = inc('20261117T000000Z', A2);
const B = full('20261121T000000Z');
const B1 = inc('20261122T000000Z', B);
const ALL = [A, A1, A2, A3, B, B1];

describe('summarize', () => {
  test('keeps the chaining fields of a manifest and nothing else', () => {
    const m: LegacyManifest = {
      format: 'backupmate/1',
      id: '20261122T000000Z',
      kind: 'incremental',
      parentId: '20261121T000000Z',
      fullId: '20261121T000000Z',
      lsn: { from: '1000', to: '2000', last: '2001' },
      binlog: null,
      versions: { server: '10.11.19-MariaDB-log', mariabackup: '10.11.19-MariaDB', backupmate: '0.1.0' },
      host: 'db1',
      compression: { algorithm: 'zstd', level: 3 },
      encryption: null,
      container: { format: 'tar', chunkSize: 1 },
      volumes: [{ name: 'data.00000', size: 40, sha256: 'a'.repeat(64) }],
      rawBytes: 100,
      storedBytes: 40,
      startedAt: '2026-11-22T00:00:00.000Z',
      finishedAt: '2026-11-22T00:01:00.000Z',
      durationMs: 60_000,
    };
    const s = summarize(upgradeLegacy(m));
    expect(s).toEqual({
      id: '20261122T000000Z',
      source: 'physical',
      kind: 'incremental',
      parentId: '20261121T000000Z',
      fullId: '20261121T000000Z',
      lsn: { from: '1000', to: '2000', last: '2001' },
      versions: { server: '10.11.19-MariaDB-log', mariabackup: '10.11.19-MariaDB' },
      startedAt: '2026-11-22T00:00:00.000Z',
      finishedAt: '2026-11-22T00:01:00.000Z',
      rawBytes: 100,
      storedBytes: 40,
    });
    m.lsn.to = '9';
    expect(s.lsn.to).toBe('2000');
  });
});

describe('buildChains', () => {
  test('groups by fullId, oldest chain first, full then incrementals by id', () => {
    const shuffled = [B1, A2, B, A3, A, A1];
    const { chains, orphans } = buildChains(shuffled);
    expect(chains.map((c) => c.full.id)).toEqual([A.id, B.id]);
    expect(chains[0].members.map((b) => b.id)).toEqual([A.id, A1.id, A2.id, A3.id]);
    expect(chains[1].members.map((b) => b.id)).toEqual([B.id, B1.id]);
    expect(orphans).toEqual([]);
  });

  test('incrementals whose full is absent are orphans, ordered by id', () => {
    const { chains, orphans } = buildChains([A3, A1, A2, B, B1]);
    expect(chains.map((c) => c.full.id)).toEqual([B.id]);
    expect(orphans.map((b) => b.id)).toEqual([A1.id, A2.id, A3.id]);
  });

  test('an empty store has no chains', () => {
    expect(buildChains([])).toEqual({ chains: [], orphans: [] });
  });

  test('a differential chain (every incremental on the full) groups the same way', () => {
    const D1 = inc('20261122T000000Z', B);
    const D2 = inc('20261123T000000Z', B, { lsn: { from: '1000', to: '3000', last: '3000' } });
    expect(buildChains([D2, B, D1]).chains[0].members.map((b) => b.id)).toEqual([B.id, D1.id, D2.id]);
  });
});

describe('majorMinor / versionsDiffer', () => {
  test.each([
    ['10.11.19-MariaDB', '10.11'],
    ['10.11.19-MariaDB-log', '10.11'],
    ['10.11.19-MariaDB-1:10.11.19+maria~ubu2204', '10.11'],
    ['mariabackup based on MariaDB server 11.4.3-MariaDB Linux (x86_64)', '11.4'],
    ['10.06.1', '10.6'],
    ['unknown', null],
  ])('%s → %s', (v, mm) => {
    expect(majorMinor(v)).toBe(mm);
  });

  test('only readable, different major.minor versions differ', () => {
    expect(versionsDiffer('10.11.19-MariaDB', '10.11.20-MariaDB')).toBe(false);
    expect(versionsDiffer('10.11.19-MariaDB', '11.4.3-MariaDB')).toBe(true);
    expect(versionsDiffer('10.6.1', '10.11.1')).toBe(true);
    expect(versionsDiffer('unknown', '11.4.3-MariaDB')).toBe(false);
  });
});

describe('resolveRestoreChain', () => {
  test('a full restores alone', () => {
    expect(resolveRestoreChain(A, ALL, [])).toEqual([A]);
  });

  test('an incremental restores from its full, in prepare order', () => {
    expect(resolveRestoreChain(A3, ALL, []).map((b) => b.id)).toEqual([A.id, A1.id, A2.id, A3.id]);
    expect(resolveRestoreChain(A1, ALL, []).map((b) => b.id)).toEqual([A.id, A1.id]);
    expect(resolveRestoreChain(B1, ALL, []).map((b) => b.id)).toEqual([B.id, B1.id]);
  });

  test('a differential restores from its full only, skipping sibling incrementals', () => {
    const D1 = inc('20261122T000000Z', B);
    const D2 = inc('20261123T000000Z', B);
    expect(resolveRestoreChain(D2, [B, D1, D2], []).map((b) => b.id)).toEqual([B.id, D2.id]);
  });

  test('LSNs are compared as numbers, not text', () => {
    const X1 = inc('20261122T000000Z', B, { lsn: { from: '01000', to: '2000', last: '2000' } });
    expect(resolveRestoreChain(X1, [B, X1], []).map((b) => b.id)).toEqual([B.id, X1.id]);
  });

  test('LSNs beyond 2^53 are compared exactly', () => {
    const big = '18446744073709551000';
    const F = full('20261121T000000Z', { lsn: { from: '0', to: big, last: big } });
    const ok = inc('20261122T000000Z', F);
    expect(ok.lsn.from).toBe(big);
    expect(resolveRestoreChain(ok, [F, ok], [])).toHaveLength(2);
    const off = inc('20261122T000000Z', F, { lsn: { from: '18446744073709551001', to: '18446744073709552000', last: '18446744073709552000' } });
    const e = errorOf(() => resolveRestoreChain(off, [F, off], []));
    expect(e.message).toContain(`starts at LSN 18446744073709551001 but its parent 20261121T000000Z ends at LSN ${big}`);
  });

  test('an incomplete parent: names the backup that needs it and says it is incomplete', () => {
    // A2's manifest was never written: the job died. A3 was taken on it anyway.
    const valid = [A, A1, A3];
    const e = errorOf(() => resolveRestoreChain(A3, valid, [A2.id]));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe(
      'cannot restore 20261117T000000Z: backup 20261117T000000Z needs its parent 20261116T000000Z, which is incomplete (it has no manifest: the job that wrote it did not finish)',
    );
    expect(e.details).toMatchObject({ backup: A3.id, parent: A2.id, parentState: 'incomplete' });
  });

  test('a missing parent: says it is missing from the store', () => {
    const e = errorOf(() => resolveRestoreChain(A3, [A, A1, A3], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe('cannot restore 20261117T000000Z: backup 20261117T000000Z needs its parent 20261116T000000Z, which is missing from the store');
    expect(e.details).toMatchObject({ parentState: 'missing' });
  });

  test('a missing full, several links up, is named', () => {
    const e = errorOf(() => resolveRestoreChain(A3, [A1, A2, A3], []));
    expect(e.message).toBe('cannot restore 20261117T000000Z: backup 20261115T000000Z needs its parent 20261114T000000Z, which is missing from the store');
  });

  test('an incremental without a parent id', () => {
    const X = inc('20261122T000000Z', B, { parentId: null });
    const e = errorOf(() => resolveRestoreChain(X, [B, X], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe('cannot restore 20261122T000000Z: incremental 20261122T000000Z has no parent id in its manifest');
  });

  test("a parent from another chain (fullId differs)", () => {
    const X = inc('20261122T000000Z', A3, { fullId: B.id });
    const e = errorOf(() => resolveRestoreChain(X, [...ALL, X], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe(
      'cannot restore 20261122T000000Z: backup 20261122T000000Z belongs to the chain of full 20261121T000000Z but its parent 20261117T000000Z belongs to the chain of full 20261114T000000Z',
    );
  });

  test('LSNs that do not line up name both backups and both LSNs', () => {
    const gap = inc('20261117T000000Z', A2, { lsn: { from: '3500', to: '4500', last: '4500' } });
    const e = errorOf(() => resolveRestoreChain(gap, [A, A1, A2, gap], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe('cannot restore 20261117T000000Z: backup 20261117T000000Z starts at LSN 3500 but its parent 20261116T000000Z ends at LSN 3000');
    expect(e.details).toMatchObject({ backup: gap.id, parent: A2.id, from: '3500', parentTo: '3000' });
  });

  test('a broken link below the target is reported even though the target itself is fine', () => {
    const badA2 = inc('20261116T000000Z', A1, { lsn: { from: '1999', to: '3000', last: '3000' } });
    const e = errorOf(() => resolveRestoreChain(A3, [A, A1, badA2, A3], []));
    expect(e.message).toBe('cannot restore 20261117T000000Z: backup 20261116T000000Z starts at LSN 1999 but its parent 20261115T000000Z ends at LSN 2000');
  });

  test('parent links that loop are refused', () => {
    const X = inc('20261122T000000Z', B, { parentId: '20261123T000000Z', lsn: { from: '2000', to: '1000', last: '1000' } });
    const Y = inc('20261123T000000Z', B, { parentId: '20261122T000000Z', lsn: { from: '1000', to: '2000', last: '2000' } });
    const e = errorOf(() => resolveRestoreChain(Y, [B, X, Y], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe('cannot restore 20261123T000000Z: the parent links loop back to 20261123T000000Z');
  });

  test('a link into another chain is caught at that link', () => {
    const X = inc('20261122T000000Z', B, { fullId: A.id, parentId: B.id });
    const e = errorOf(() => resolveRestoreChain(X, [B, X], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toContain('belongs to the chain of full 20261114T000000Z but its parent 20261121T000000Z belongs to the chain of full 20261121T000000Z');
  });

  test('the full reached must be the one the target names', () => {
    // A corrupt full whose manifest names another full: every link agrees, the root does not.
    const badFull = full('20261121T000000Z', { fullId: A.id });
    const X = inc('20261122T000000Z', badFull);
    const e = errorOf(() => resolveRestoreChain(X, [badFull, X], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe('cannot restore 20261122T000000Z: its parent links lead to full 20261121T000000Z but its manifest names full 20261114T000000Z');
  });

  test.each([
    ['mariabackup', { server: '10.11.19-MariaDB', mariabackup: '11.4.3-MariaDB' }, 'was taken with mariabackup 11.4.3-MariaDB but its full 20261121T000000Z with mariabackup 10.11.19-MariaDB'],
    ['server', { server: '11.4.3-MariaDB', mariabackup: '10.11.19-MariaDB' }, 'was taken with server 11.4.3-MariaDB but its full 20261121T000000Z with server 10.11.19-MariaDB'],
  ])('a %s major.minor change within the chain is refused', (_tool, versions, text) => {
    const X = inc('20261122T000000Z', B, { versions });
    const e = errorOf(() => resolveRestoreChain(X, [B, X], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe(`cannot restore 20261122T000000Z: backup 20261122T000000Z ${text}; one mariabackup prepares the whole chain, so its major.minor versions must match`);
  });

  test('a patch-level version change within the chain is fine', () => {
    const X = inc('20261122T000000Z', B, { versions: { server: '10.11.20-MariaDB', mariabackup: '10.11.20-MariaDB' } });
    expect(resolveRestoreChain(X, [B, X], [])).toHaveLength(2);
  });
});

describe('selectRestoreTarget', () => {
  test("'latest' is the newest valid backup, incomplete ones ignored", () => {
    expect(selectRestoreTarget('latest', ALL, ['20261123T000000Z']).id).toBe(B1.id);
  });

  test.each([
    ['20261116T000000Z', A2.id],
    ['2026-11-16T00:00:00Z', A2.id],
    ['2026-11-16 00:00', A2.id],
    ['20261116', A2.id],
    [' 20261122 ', B1.id],
  ])('%j designates %s', (request, id) => {
    expect(selectRestoreTarget(request, ALL, []).id).toBe(id);
  });

  test('an id that is incomplete is refused as incomplete', () => {
    const e = errorOf(() => selectRestoreTarget('20261123T000000Z', ALL, ['20261123T000000Z']));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toBe(
      'backup 20261123T000000Z is incomplete (it has no manifest: the job that wrote it did not finish) and cannot be restored; the newest valid backup is 20261122T000000Z',
    );
  });

  test('a prefix that only matches an incomplete backup is refused as incomplete', () => {
    const e = errorOf(() => selectRestoreTarget('20261123', ALL, ['20261123T000000Z']));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toMatch(/^backup 20261123T000000Z is incomplete/);
  });

  test('an unknown id names the nearest valid ones', () => {
    const e = errorOf(() => selectRestoreTarget('20261201T000000Z', ALL, []));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toContain('no valid backup with id "20261201T000000Z"; nearest: ');
  });

  test('an ambiguous prefix is a usage error', () => {
    const e = errorOf(() => selectRestoreTarget('202611', ALL, []));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('is ambiguous');
  });

  test('an empty store', () => {
    const e = errorOf(() => selectRestoreTarget('latest', [], ['20261123T000000Z']));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toBe('no valid backup in the store to restore for "latest" (1 incomplete backup cannot be restored: 20261123T000000Z)');
    const t = errorOf(() => selectRestoreTarget({ time: new Date('2026-11-21T00:00:00Z') }, [], []));
    expect(t.message).toBe('no valid backup in the store to restore for time 2026-11-21T00:00:00.000Z');
  });

  describe('by time', () => {
    test.each([
      // finishedAt: A 00:10, A1..A3 00:01 on 15th..17th, B 21st 00:10, B1 22nd 00:01
      ['2026-11-14T00:10:00Z', A.id], // exactly at finishedAt counts
      ['2026-11-15T00:00:59Z', A.id], // A1 started but not finished
      ['2026-11-15T00:01:00Z', A1.id],
      ['2026-11-20T12:00:00Z', A3.id],
      ['2026-11-21T00:05:00Z', A3.id],
      ['2026-11-21T00:10:00Z', B.id],
      ['2030-01-01T00:00:00Z', B1.id],
    ])('at %s → %s', (time, id) => {
      expect(selectRestoreTarget({ time: new Date(time) }, ALL, []).id).toBe(id);
    });

    test('the order of the input does not matter', () => {
      expect(selectRestoreTarget({ time: new Date('2026-11-20T00:00:00Z') }, [...ALL].reverse(), []).id).toBe(A3.id);
    });

    test('before the first backup finished: names the oldest finish time', () => {
      const e = errorOf(() => selectRestoreTarget({ time: new Date('2026-11-14T00:09:59Z') }, ALL, []));
      expect(e.code).toBe('BACKUP_NOT_FOUND');
      expect(e.message).toBe(
        'no backup finished at or before 2026-11-14T00:09:59.000Z: the oldest valid backup, 20261114T000000Z, finished at 2026-11-14T00:10:00.000Z',
      );
    });
  });
});

describe('parseRestoreTime', () => {
  test.each<[string, string | undefined, string]>([
    ['2026-11-21T10:30:00Z', 'Europe/Berlin', '2026-11-21T10:30:00.000Z'],
    ['2026-11-21 10:30:00z', undefined, '2026-11-21T10:30:00.000Z'],
    ['2026-11-21t10:30Z', 'UTC', '2026-11-21T10:30:00.000Z'],
    ['2026-11-21 10:30:00+01:00', 'America/New_York', '2026-11-21T09:30:00.000Z'],
    ['2026-11-21 10:30:00 +01:00', 'UTC', '2026-11-21T09:30:00.000Z'],
    ['2026-11-21 10:30-0530', 'UTC', '2026-11-21T16:00:00.000Z'],
    ['2026-11-21 10:30+01', 'UTC', '2026-11-21T09:30:00.000Z'],
    ['2026-11-21T10:30:00.123Z', 'UTC', '2026-11-21T10:30:00.123Z'],
    ['2026-11-21T10:30:00.5Z', 'UTC', '2026-11-21T10:30:00.500Z'],
    ['2026-11-21T10:30:00.123456789Z', 'UTC', '2026-11-21T10:30:00.123Z'],
    // No offset: wall-clock time in the zone given.
    ['2026-11-21 10:30', 'Europe/Berlin', '2026-11-21T09:30:00.000Z'],
    ['2026-07-21 10:30', 'Europe/Berlin', '2026-07-21T08:30:00.000Z'],
    ['2026-11-21 10:30', 'America/New_York', '2026-11-21T15:30:00.000Z'],
    ['2026-11-21T10:30:15', 'UTC', '2026-11-21T10:30:15.000Z'],
    ['2026-07-21 10:30', 'Australia/Lord_Howe', '2026-07-21T00:00:00.000Z'],
    ['  2026-11-21 10:30  ', 'UTC', '2026-11-21T10:30:00.000Z'],
    // Around DST changes: the hours that exist once are unambiguous.
    ['2026-03-29 01:59', 'Europe/Berlin', '2026-03-29T00:59:00.000Z'],
    ['2026-03-29 03:00', 'Europe/Berlin', '2026-03-29T01:00:00.000Z'],
    ['2026-11-01 00:59', 'America/New_York', '2026-11-01T04:59:00.000Z'],
    ['2026-11-01 02:00', 'America/New_York', '2026-11-01T07:00:00.000Z'],
    // An explicit offset disambiguates the repeated hour.
    ['2026-11-01 01:30-04:00', 'America/New_York', '2026-11-01T05:30:00.000Z'],
    ['2026-11-01 01:30-05:00', 'America/New_York', '2026-11-01T06:30:00.000Z'],
    ['2028-02-29 12:00', 'UTC', '2028-02-29T12:00:00.000Z'],
  ])('%j in %s → %s', (text, zone, iso) => {
    expect(parseRestoreTime(text, zone).toISOString()).toBe(iso);
  });

  test("'' and undefined are the system zone", () => {
    const expected = parseRestoreTime('2026-11-21 10:30', new Intl.DateTimeFormat().resolvedOptions().timeZone).toISOString();
    expect(parseRestoreTime('2026-11-21 10:30', '').toISOString()).toBe(expected);
    expect(parseRestoreTime('2026-11-21 10:30').toISOString()).toBe(expected);
  });

  const FORMS = 'expected a time like "2026-11-21 10:30", "2026-11-21 10:30:00", "2026-11-21T10:30:00Z" or "2026-11-21 10:30:00+01:00"';

  test.each(['', 'yesterday', '2026-11-21', '21.11.2026 10:30', '2026-11-21 10', '2026/11/21 10:30', '1700000000', '2026-11-21 10:30 CET', '2026-11-21 10:30:00Z extra'])(
    'refuses %j listing the accepted forms',
    (text) => {
      const e = errorOf(() => parseRestoreTime(text, 'UTC'));
      expect(e.code).toBe('USAGE');
      expect(e.message).toBe(`--time: ${FORMS}, got "${text}"`);
    },
  );

  test.each(['2026-13-01 10:30', '2026-02-29 10:30', '2026-04-31 10:30', '2026-11-21 24:00', '2026-11-21 10:60', '2026-11-21 10:30:60', '2026-00-10 10:30', '2026-11-00 10:30'])(
    'refuses the impossible %j',
    (text) => {
      const e = errorOf(() => parseRestoreTime(text, 'UTC'));
      expect(e.code).toBe('USAGE');
      expect(e.message).toBe(`--time: "${text}" is not a valid date and time of day; ${FORMS}`);
    },
  );

  test('refuses an impossible offset', () => {
    const e = errorOf(() => parseRestoreTime('2026-11-21 10:30+25:00', 'UTC'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe(`--time: "2026-11-21 10:30+25:00" has an invalid UTC offset; ${FORMS}`);
  });

  test('a wall-clock time skipped by the spring change is refused, naming the zone and the offsets', () => {
    const e = errorOf(() => parseRestoreTime('2026-03-29 02:30', 'Europe/Berlin'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe(
      '--time: "2026-03-29 02:30" does not exist in Europe/Berlin: the clocks jumped forward over it (UTC offset +01:00 to +02:00); give a time outside the skipped interval or add the UTC offset you mean',
    );
  });

  test('a wall-clock time repeated by the autumn change is refused, offering both offsets', () => {
    const e = errorOf(() => parseRestoreTime('2026-11-01 01:30', 'America/New_York'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe(
      '--time: "2026-11-01 01:30" happens twice in America/New_York (at -04:00 and at -05:00, 2026-11-01T05:30:00.000Z and 2026-11-01T06:30:00.000Z) because the clocks went back; add the offset you mean, e.g. "2026-11-01 01:30-04:00"',
    );
  });

  test('Lord Howe: a half-hour overlap is ambiguous too', () => {
    const e = errorOf(() => parseRestoreTime('2026-04-05 01:45', 'Australia/Lord_Howe'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('happens twice in Australia/Lord_Howe (at +11:00 and at +10:30');
  });

  test('an unknown zone is a configuration error', () => {
    const e = errorOf(() => parseRestoreTime('2026-11-21 10:30', 'Mars/Olympus_Mons'));
    expect(e.code).toBe('CONFIG');
    expect(e.message).toMatch(/^time zone "Mars\/Olympus_Mons" is unknown: /);
  });
});

describe('resolveRestoreChain: an incremental that ends before it starts', () => {
  // What a backup taken after a restore to an older backup looks like: mariabackup started at the
  // parent's to_lsn, but the server's history (and so its checkpoint) lies below it.
  const F = full('20261114T000000Z', { lsn: { from: '0', to: '459380486', last: '459380486' } });
  const bad = inc('20261115T000000Z', F, { lsn: { from: '459380486', to: '69032247', last: '69032247' } });
  const after = inc('20261116T000000Z', bad);

  test('is refused, naming the backup and both LSNs', () => {
    const e = errorOf(() => resolveRestoreChain(bad, [F, bad], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toBe(
      'cannot restore 20261115T000000Z: incremental 20261115T000000Z ends at LSN 69032247, before it starts at LSN 459380486: ' +
        "it was taken on a server whose history does not continue its parent 20261114T000000Z's (was an older backup restored?), so it cannot be prepared",
    );
    expect(e.details).toMatchObject({ backup: bad.id, from: '459380486', to: '69032247' });
  });

  test('every later backup of the chain inherits the refusal, which names the bad link', () => {
    const e = errorOf(() => resolveRestoreChain(after, [F, bad, after], []));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toMatch(/^cannot restore 20261116T000000Z: incremental 20261115T000000Z ends at LSN 69032247, before it starts at LSN 459380486/);
  });

  test('an incremental without changes (to = from) is fine', () => {
    const same = inc('20261115T000000Z', F, { lsn: { from: '459380486', to: '459380486', last: '459380486' } });
    expect(resolveRestoreChain(same, [F, same], []).map((b) => b.id)).toEqual([F.id, same.id]);
  });

  test('LSNs compare as 64-bit numbers, not as text', () => {
    const F9 = full('20261114T000000Z', { lsn: { from: '0', to: '9', last: '9' } });
    const up = inc('20261115T000000Z', F9, { lsn: { from: '9', to: '10', last: '10' } });
    expect(resolveRestoreChain(up, [F9, up], []).map((b) => b.id)).toEqual([F9.id, up.id]);
  });
});

describe('summarize: server identity', () => {
  test('copies the identity when the manifest has one, leaves it out otherwise', () => {
    const F = full('20261114T000000Z');
    expect('server' in F).toBe(false);
    const m = {
      format: 'backupmate/2',
      id: F.id,
      kind: 'full',
      parentId: null,
      fullId: F.id,
      lsn: F.lsn,
      binlog: null,
      versions: { ...F.versions, backupmate: '0.1.0' },
      host: 'db1',
      server: { host: 'db1', datadir: '/var/lib/mysql', serverId: 7 },
      compression: { algorithm: 'zstd', level: 3 },
      encryption: null,
      container: { format: 'tar', chunkSize: 1 },
      volumes: [],
      rawBytes: 1,
      storedBytes: 1,
      startedAt: F.startedAt,
      finishedAt: F.finishedAt,
      durationMs: 1,
    } as unknown as LegacyManifest;
    const s = summarize(upgradeLegacy(m));
    expect(s.server).toEqual({ host: 'db1', datadir: '/var/lib/mysql', serverId: 7 });
    m.server!.serverId = 8;
    expect(s.server!.serverId).toBe(7);
    const { server: _s, ...old } = m;
    expect('server' in summarize(upgradeLegacy(old as LegacyManifest))).toBe(false);
  });
});
