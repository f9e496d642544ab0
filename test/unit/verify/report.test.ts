import { renderVerify } from '../../../src/cli/format.js';
import { verifyError, type BackupVerdict, type VerifyReport } from '../../../src/verify/report.js';

function verdict(id: string, status: BackupVerdict['status'], problems: string[] = [], extra: Partial<BackupVerdict> = {}): BackupVerdict {
  return { id, kind: 'full', status, problems, warnings: [], checkedBytes: 0, durationMs: 1500, ...extra };
}

function report(backups: BackupVerdict[], code: VerifyReport['code'], summary = 'x'): VerifyReport {
  return { request: 'all', backups, summary, code, durationMs: 1 };
}

describe('verifyError', () => {
  test('null when all is well (incomplete backups do not fail a verify)', () => {
    expect(verifyError(report([verdict('A', 'ok'), verdict('B', 'incomplete')], null))).toBeNull();
  });

  test('INTEGRITY (65) naming every corrupt backup', () => {
    const e = verifyError(report([verdict('A', 'corrupt', ['p']), verdict('B', 'unchecked', ['q'], { code: 'STORAGE' }), verdict('C', 'corrupt', ['r'])], 'INTEGRITY', '3 backups: 0 ok, 2 corrupt, 1 could not be checked'))!;
    expect([e.code, e.exitCode, e.message]).toEqual(['INTEGRITY', 65, 'verify all: 3 backups: 0 ok, 2 corrupt, 1 could not be checked; corrupt: A, C']);
  });

  test.each([
    ['CONFIG', 78],
    ['STORAGE', 76],
    ['LOCAL_IO', 74],
  ] as const)('could not check: the cause\'s code %s (%i) with the first reason', (code, exit) => {
    const e = verifyError(report([verdict('A', 'ok'), verdict('B', 'unchecked', [`could not check: because ${code}`], { code })], code, '2 backups: 1 ok, 1 could not be checked'))!;
    expect([e.code, e.exitCode, e.message]).toEqual([code, exit, `verify all: 2 backups: 1 ok, 1 could not be checked; B: could not check: because ${code}`]);
  });
});

describe('renderVerify', () => {
  test('one row per backup, each further problem and warning on its own line, then the summary', () => {
    const text = renderVerify(
      report(
        [
          verdict('20261121T040000Z', 'ok', [], { volumes: 3, storedBytes: 3 * 1024 * 1024, rawBytes: 30 * 1024 * 1024, warnings: ['w1'] }),
          { ...verdict('20261122T040000Z', 'corrupt', ['broken chain: x', 'depends on y']), kind: 'incremental' },
          verdict('20261123T040000Z', 'unchecked', ['could not check: z'], { code: 'CONFIG' }),
          verdict('20261124T040000Z', 'incomplete', ['no manifest']),
        ],
        'INTEGRITY',
        '4 backups: 1 ok, 1 corrupt, 1 could not be checked, 1 incomplete',
      ),
    );
    expect(text).toBe(
      [
        'ID                KIND         STATUS           DETAIL',
        '20261121T040000Z  full         ok               3 volumes, 3.0 MiB stored, 30.0 MiB unpacked: checked end to end in 1.5s',
        '                                                warning: w1',
        '20261122T040000Z  incremental  corrupt          broken chain: x',
        '                                                depends on y',
        '20261123T040000Z  full         could not check  could not check: z',
        '20261124T040000Z  full         incomplete       no manifest',
        'verify all: 4 backups: 1 ok, 1 corrupt, 1 could not be checked, 1 incomplete',
        '',
      ].join('\n'),
    );
  });

  test('an empty store says so', () => {
    expect(renderVerify(report([], null, '0 backups: 0 ok'))).toBe('verify all: no backups in the store\n');
  });
});
