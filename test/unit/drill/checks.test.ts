import { checkVerdicts, inventoryVerdict, quoteIdent } from '../../../src/drill/checks.js';
import { drillSummary } from '../../../src/drill/record.js';
import { renderDrill } from '../../../src/cli/format.js';
import { parseInventory } from '../../../src/sources/physical/inventory.js';
import type { DrillReport } from '../../../src/drill/drill.js';

describe('CHECK TABLE verdicts', () => {
  const tables = [
    { schema: 'a', name: 'ok' },
    { schema: 'a', name: 'bad' },
    { schema: 'mysql', name: 'general_log' },
    { schema: 'a', name: 'silent' },
  ];
  test('OK passes, an error row fails, an engine without CHECK is uncheckable, no row at all fails', () => {
    const out = [
      'a.ok\tcheck\tstatus\tOK',
      'a.bad\tcheck\twarning\tSize of datafile is: 1234         Should be: 5000',
      'a.bad\tcheck\terror\tCorrupt',
      "mysql.general_log\tcheck\tnote\tThe storage engine for the table doesn't support check",
    ].join('\n');
    expect(checkVerdicts(tables, out)).toEqual([
      { table: 'a.ok', status: 'ok', message: '' },
      { table: 'a.bad', status: 'failed', message: 'Corrupt' },
      { table: 'mysql.general_log', status: 'uncheckable', message: "The storage engine for the table doesn't support check" },
      { table: 'a.silent', status: 'failed', message: 'CHECK TABLE returned nothing for it' },
    ]);
  });

  test('a final status other than OK fails', () => {
    expect(checkVerdicts([{ schema: 'a', name: 't' }], 'a.t\tcheck\tstatus\tTable is marked as crashed')[0]).toMatchObject({ status: 'failed', message: 'Table is marked as crashed' });
  });

  test('identifiers are quoted with backticks doubled', () => {
    expect(quoteIdent('we`ird')).toBe('`we``ird`');
  });
});

describe('inventory', () => {
  test('parsed from the batch client output; rows null when unknown; escapes undone', () => {
    const inv = parseInventory('app\tt\tInnoDB\t2000\napp\twe\\tird\tCSV\t\n', new Date(0));
    expect(inv).toEqual({
      at: '1970-01-01T00:00:00.000Z',
      tables: [
        { schema: 'app', name: 't', engine: 'InnoDB', rows: 2000 },
        { schema: 'app', name: 'we\tird', engine: 'CSV', rows: null },
      ],
    });
  });

  test('missing tables and tables restored empty fail; CSV and log tables do not count as emptied', () => {
    const inventory = {
      at: '',
      tables: [
        { schema: 'app', name: 't', engine: 'InnoDB', rows: 10 },
        { schema: 'app', name: 'gone', engine: 'InnoDB', rows: 0 },
        { schema: 'app', name: 'empty', engine: 'MyISAM', rows: 5 },
        { schema: 'mysql', name: 'general_log', engine: 'CSV', rows: 2 },
      ],
    };
    const found = new Map([
      ['app.t', 10],
      ['app.empty', 0],
      ['mysql.general_log', 0],
      ['app.extra', 3],
    ]);
    expect(inventoryVerdict(found, inventory)).toEqual({ missing: ['app.gone'], emptied: ['app.empty'] });
    expect(inventoryVerdict(found, undefined)).toEqual({ missing: [], emptied: [] });
  });
});

describe('drill rendering', () => {
  const report: DrillReport = {
    format: 'backupmate-drill/1',
    drillId: 'd',
    backupId: '20261202T100000Z',
    backupDir: 'backupmate/full/20261202T100000Z/',
    chain: ['20261202T100000Z'],
    status: 'ok',
    host: 'h',
    startedAt: '',
    finishedAt: '',
    timeToReadyMs: 252_000,
    stepsMs: { preflight: 10, restore: 240_000, start: 12_000, check: 3000, compare: 1000 },
    downloadedBytes: 1,
    tables: { checked: 12, uncheckable: [], failed: [], missing: [], emptied: [], recorded: 12 },
    databases: 3,
    rows: 1234,
  };
  test('a passed drill says its time to ready, steps and tables', () => {
    const text = renderDrill(report);
    expect(text).toMatch(/^drill of backup 20261202T100000Z passed: restored server ready in 4m12s/);
    expect(text).toMatch(/tables: +12 checked OK, 0 failed, 0 missing, 0 emptied \(12 recorded at backup time\)/);
    expect(drillSummary(report)).toBe('ok, 4m12s to ready');
  });
  test('a failed drill names the step and the cause', () => {
    const failed: DrillReport = { ...report, status: 'failed', failedStep: 'check', error: { code: 'DRILL_FAILED', message: 'CHECK TABLE failed for 1 table(s): a.b (Corrupt)' }, tables: { ...report.tables, failed: [{ table: 'a.b', status: 'failed', message: 'Corrupt' }] } };
    expect(renderDrill(failed)).toMatch(/^drill of backup 20261202T100000Z FAILED at step check: CHECK TABLE failed/);
    expect(renderDrill(failed)).toContain('CHECK TABLE a.b: Corrupt');
    expect(drillSummary(failed)).toBe('FAILED at check');
  });
});
