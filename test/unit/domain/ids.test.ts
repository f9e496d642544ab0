import { backupIdFor, idToDate, isBackupId, nearestIds, normaliseIdText, resolveId } from '../../../src/domain/ids.js';
import { errorOf } from '../../helpers/errors.js';

const IDS = ['20261119T040000Z', '20261120T040000Z', '20261121T040000Z', '20261121T160000Z', '20261122T040000Z'];

describe('isBackupId', () => {
  test.each(['20261121T040000Z', '19700101T000000Z', '99991231T235959Z'])('accepts %s', (id) => {
    expect(isBackupId(id)).toBe(true);
  });

  test.each([
    '',
    '20261121T040000',
    '20261121t040000z',
    '2026-11-21T04:00:00Z',
    '20261121T0400Z',
    ' 20261121T040000Z',
    '20261121T040000Z ',
    '20261121T040000Z/manifest.json',
    'latest',
  ])('refuses %j', (s) => {
    expect(isBackupId(s)).toBe(false);
  });
});

describe('backupIdFor / idToDate', () => {
  test('formats a UTC instant with second precision, dropping milliseconds', () => {
    expect(backupIdFor(new Date('2026-11-21T04:00:00.000Z'))).toBe('20261121T040000Z');
    expect(backupIdFor(new Date('2026-01-02T03:04:05.999Z'))).toBe('20260102T030405Z');
    expect(backupIdFor(new Date(0))).toBe('19700101T000000Z');
  });

  test('ids are valid and sort as text in time order', () => {
    const dates = [new Date('2025-12-31T23:59:59Z'), new Date('2026-01-01T00:00:00Z'), new Date('2026-10-09T08:07:06Z')];
    const ids = dates.map(backupIdFor);
    for (const id of ids) expect(isBackupId(id)).toBe(true);
    expect([...ids].reverse().sort()).toEqual(ids);
  });

  test('idToDate inverts backupIdFor', () => {
    for (const iso of ['2026-11-21T04:00:00.000Z', '2000-02-29T12:34:56.000Z', '1970-01-01T00:00:00.000Z']) {
      const id = backupIdFor(new Date(iso));
      expect(idToDate(id).toISOString()).toBe(iso);
    }
  });

  test('idToDate refuses text that is not an id, with USAGE and the text in the message', () => {
    const err = errorOf(() => idToDate('2026-11-21'));
    expect(err.code).toBe('USAGE');
    expect(err.exitCode).toBe(64);
    expect(err.message).toBe('not a backup id: expected a form like 20261121T040000Z, got "2026-11-21"');
  });
});

describe('normaliseIdText', () => {
  test.each([
    ['20261121T040000Z', '20261121T040000Z'],
    ['2026-11-21T04:00:00Z', '20261121T040000Z'],
    ['2026-11-21t04:00:00z', '20261121T040000Z'],
    ['  2026-11-21T04:00:00Z  ', '20261121T040000Z'],
    ['2026-11-21 04:00', '20261121T0400'],
    ['2026-11-21 04:00:00', '20261121T040000'],
    ['2026-11-21T04', '20261121T04'],
    ['20261121T0400', '20261121T0400'],
    ['2026-11-21', '20261121'],
    ['20261121', '20261121'],
    ['2026-11', '202611'],
    ['2026', '2026'],
    // A Z after a partial time is dropped: the result is a prefix, not a full id.
    ['2026-11-21T04:00Z', '20261121T0400'],
  ])('%j -> %j', (input, expected) => {
    expect(normaliseIdText(input)).toBe(expected);
  });

  test.each(['', 'latest', 'yesterday', '21.11.2026', '2026/11/21', '2026-11-21T04:00:00+01:00', '2026-11-21T04:00:00.000Z', '26-11-21'])(
    '%j is not a timestamp',
    (input) => {
      expect(normaliseIdText(input)).toBeNull();
    },
  );
});

describe('resolveId', () => {
  test('"latest" is the greatest id whatever the order of known', () => {
    expect(resolveId('latest', [...IDS].reverse())).toBe('20261122T040000Z');
    expect(resolveId('latest', ['20261121T040000Z', '20251121T040000Z', '20261120T040000Z'])).toBe('20261121T040000Z');
  });

  test('"latest" with no backups is BACKUP_NOT_FOUND', () => {
    const err = errorOf(() => resolveId('latest', []));
    expect(err.code).toBe('BACKUP_NOT_FOUND');
    expect(err.exitCode).toBe(66);
    expect(err.message).toBe('no valid backup in the store: "latest" has nothing to name');
  });

  test('an exact id resolves to itself', () => {
    for (const id of IDS) expect(resolveId(id, IDS)).toBe(id);
  });

  test('other spellings of an exact id resolve', () => {
    expect(resolveId('2026-11-21T04:00:00Z', IDS)).toBe('20261121T040000Z');
    expect(resolveId('2026-11-21 16:00', IDS)).toBe('20261121T160000Z');
    expect(resolveId('2026-11-21 16:00:00', IDS)).toBe('20261121T160000Z');
    expect(resolveId(' 2026-11-22t04:00:00z ', IDS)).toBe('20261122T040000Z');
  });

  test('an unambiguous prefix resolves', () => {
    expect(resolveId('20261119', IDS)).toBe('20261119T040000Z');
    expect(resolveId('2026-11-22', IDS)).toBe('20261122T040000Z');
    expect(resolveId('2026-11-21T16', IDS)).toBe('20261121T160000Z');
  });

  test('an exact id resolves when a neighbour differs only in the seconds', () => {
    expect(resolveId('20261121T040000Z', ['20261121T040000Z', '20261121T040001Z'])).toBe('20261121T040000Z');
  });

  test('an ambiguous prefix is USAGE and lists the matches', () => {
    const err = errorOf(() => resolveId('2026-11-21', IDS));
    expect(err.code).toBe('USAGE');
    expect(err.message).toBe(
      'backup id "2026-11-21" is ambiguous: it matches 2 backups (20261121T040000Z, 20261121T160000Z); give more digits',
    );
  });

  test('an ambiguous prefix lists at most five matches', () => {
    const err = errorOf(() => resolveId('2026', IDS.concat(['20261123T040000Z'])));
    expect(err.code).toBe('USAGE');
    expect(err.message).toContain('it matches 6 backups (');
    expect(err.message).toContain('20261119T040000Z, 20261120T040000Z, 20261121T040000Z, 20261121T160000Z, 20261122T040000Z, ...');
    expect(err.message).not.toContain('20261123T040000Z');
  });

  test('text that is no timestamp is USAGE naming what is accepted and what came in', () => {
    const err = errorOf(() => resolveId('yesterday', IDS));
    expect(err.code).toBe('USAGE');
    expect(err.message).toBe(
      'backup id: expected "latest", an id like 20261121T040000Z or a timestamp like 2026-11-21T04:00:00Z, got "yesterday"',
    );
  });

  test('"latest" is case sensitive: "LATEST" is refused as usage', () => {
    const err = errorOf(() => resolveId('LATEST', IDS));
    expect(err.code).toBe('USAGE');
    expect(err.message).toContain('got "LATEST"');
  });

  test('an unknown id is BACKUP_NOT_FOUND naming the three nearest ids, sorted', () => {
    const err = errorOf(() => resolveId('2026-11-21T05:00:00Z', IDS));
    expect(err.code).toBe('BACKUP_NOT_FOUND');
    expect(err.exitCode).toBe(66);
    expect(err.message).toBe(
      'no valid backup with id "2026-11-21T05:00:00Z"; nearest: 20261121T040000Z, 20261121T160000Z, 20261122T040000Z',
    );
  });

  test('an unknown id in an empty store says the store has no valid backups', () => {
    const err = errorOf(() => resolveId('20261121T040000Z', []));
    expect(err.code).toBe('BACKUP_NOT_FOUND');
    expect(err.message).toBe('no valid backup with id "20261121T040000Z"; the store has no valid backups');
  });
});

describe('nearestIds', () => {
  test('returns the n ids closest in time, sorted as text', () => {
    expect(nearestIds('20261121T120000Z', IDS, 2)).toEqual(['20261121T040000Z', '20261121T160000Z']);
    expect(nearestIds('20261130T000000Z', IDS, 1)).toEqual(['20261122T040000Z']);
    expect(nearestIds('20200101T000000Z', IDS, 3)).toEqual(['20261119T040000Z', '20261120T040000Z', '20261121T040000Z']);
  });

  test('accepts a partial time and pads it with zeros', () => {
    // 20261121T15 -> 2026-11-21 15:00:00: one hour from the 16:00 backup.
    expect(nearestIds('20261121T15', IDS, 1)).toEqual(['20261121T160000Z']);
    // A full id without the Z.
    expect(nearestIds('20261121T150000', IDS, 1)).toEqual(['20261121T160000Z']);
  });

  test('returns every id when there are fewer than n', () => {
    expect(nearestIds('20261121T040000Z', IDS.slice(0, 2), 5)).toEqual(IDS.slice(0, 2));
    expect(nearestIds('20261121T040000Z', [], 3)).toEqual([]);
  });

  test('does not reorder the caller\'s array', () => {
    const ids = [...IDS].reverse();
    nearestIds('20261121T040000Z', ids, 2);
    expect(ids).toEqual([...IDS].reverse());
  });

  // BUG (src/domain/ids.ts, nearestIds): a date-only prefix is padded with ZEROS for month and
  // day ('2026' -> '20260000T000000Z', '202603' -> '20260300T000000Z') and idToDate lets Date.UTC
  // roll month 0 / day 0 backwards, so "2026" is measured from 2025-11-30 and "202603" from
  // 2026-02-28 instead of from the start of the period the user typed.
  test('a year prefix is measured from the start of that year', () => {
    // 2025-12-31 23:00 is 1 h before 2026; 2025-11-20 is six weeks before it.
    expect(nearestIds('2026', ['20251120T000000Z', '20251231T230000Z'], 1)).toEqual(['20251231T230000Z']);
  });

  test('a month prefix is measured from the first day of that month', () => {
    // 2026-02-28 23:00 is 1 h before March; 2026-02-27 02:00 is 46 h before it.
    expect(nearestIds('202603', ['20260227T020000Z', '20260228T230000Z'], 1)).toEqual(['20260228T230000Z']);
  });

  test('resolveId names the backup nearest to a year the user typed', () => {
    // Nearest to 2026-01-01: Dec 31, Dec 20, Dec 10 (today's answer, from 2025-11-30: Nov 29, Dec 10, Dec 20).
    const err = errorOf(() => resolveId('2026', ['20251129T000000Z', '20251210T000000Z', '20251220T000000Z', '20251231T230000Z']));
    expect(err.code).toBe('BACKUP_NOT_FOUND');
    expect(err.message).toBe('no valid backup with id "2026"; nearest: 20251210T000000Z, 20251220T000000Z, 20251231T230000Z');
  });
});
