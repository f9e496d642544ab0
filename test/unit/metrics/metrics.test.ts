import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Metrics } from '../../../src/metrics/metrics.js';
import { parseListen } from '../../../src/metrics/http.js';
import { writeTextfile } from '../../../src/metrics/textfile.js';
import type { Manifest } from '../../../src/domain/manifest.js';

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

const manifest = (over: Partial<Manifest>): Manifest =>
  ({ id: 'x', kind: 'full', source: { type: 'physical' }, finishedAt: '2026-12-02T10:00:00.000Z', durationMs: 5000, rawBytes: 100, storedBytes: 40, ...over }) as Manifest;

describe('Metrics', () => {
  test('backups, failures, retries and drills move the metrics the issue lists', async () => {
    const m = new Metrics();
    let t = await m.text();
    expect(sample(t, 'backupmate_up')).toBe(1);
    // No archive has reported: no lag sample at all (0 would claim a healthy archive).
    expect(t).not.toMatch(/^backupmate_binlog_archive_lag_seconds/m);
    expect(t).toMatch(/backupmate_info\{version="[^"]+"\} 1/);
    expect(sample(t, 'backupmate_job_failures_total', 'job="backup"')).toBe(0);
    m.backupEnded({ source: 'physical', kind: 'full', ok: true, at: new Date(1_000_000), durationMs: 2500, rawBytes: 10, storedBytes: 4 });
    m.backupEnded({ source: 'physical', kind: 'incremental', ok: false, at: new Date(2_000_000), durationMs: 1 });
    m.jobFailed('backup');
    m.storageRetried('s3://b');
    m.storageRetried('s3://b');
    m.drillEnded({ ok: true, at: new Date(3_000_000), backupId: 'x', timeToReadyMs: 4200 });
    m.drillEnded({ ok: false, at: new Date(4_000_000), backupId: 'x', timeToReadyMs: null });
    m.archiveLag(7);
    m.archiveGap();
    t = await m.text();
    expect(sample(t, 'backupmate_last_success_timestamp_seconds', 'source="physical",kind="full"')).toBe(1000);
    expect(sample(t, 'backupmate_backup_duration_seconds', 'source="physical",kind="full"')).toBe(2.5);
    expect(sample(t, 'backupmate_backup_size_bytes', 'source="physical",kind="full",stage="stored"')).toBe(4);
    expect(sample(t, 'backupmate_last_failure_timestamp_seconds', 'source="physical",kind="incremental"')).toBe(2000);
    expect(sample(t, 'backupmate_job_failures_total', 'job="backup"')).toBe(1);
    expect(sample(t, 'backupmate_storage_retries_total', 'store="s3://b"')).toBe(2);
    expect(sample(t, 'backupmate_drill_last_success_timestamp_seconds')).toBe(3000);
    expect(sample(t, 'backupmate_drill_time_to_ready_seconds')).toBe(4.2);
    expect(sample(t, 'backupmate_drill_failures_total')).toBe(1);
    expect(sample(t, 'backupmate_binlog_archive_lag_seconds', 'archive="binlog"')).toBe(7);
    expect(sample(t, 'backupmate_binlog_gaps_total', 'archive="binlog"')).toBe(1);
  });

  test('the catalog gives counts and bytes per source and never moves a newer success back', async () => {
    const m = new Metrics();
    m.backupEnded({ source: 'physical', kind: 'full', ok: true, at: new Date('2026-12-02T12:00:00Z'), durationMs: 1000, rawBytes: 1, storedBytes: 1 });
    m.storeCatalog('file:///s', [manifest({}), manifest({ id: 'y', kind: 'incremental', storedBytes: 2 }), manifest({ id: 'z', source: { type: 'directory' } as never })]);
    const t = await m.text();
    expect(sample(t, 'backupmate_store_backups', 'source="physical",store="file:///s"')).toBe(2);
    expect(sample(t, 'backupmate_store_bytes', 'source="physical",store="file:///s"')).toBe(42);
    expect(sample(t, 'backupmate_store_backups', 'source="directory",store="file:///s"')).toBe(1);
    expect(sample(t, 'backupmate_last_success_timestamp_seconds', 'source="physical",kind="full"')).toBe(Date.parse('2026-12-02T12:00:00Z') / 1000);
    expect(sample(t, 'backupmate_last_success_timestamp_seconds', 'source="physical",kind="incremental"')).toBe(Date.parse('2026-12-02T10:00:00Z') / 1000);
  });

  test('the textfile is written atomically, leaves no temp file, and passes promtool check metrics', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-metrics-'));
    try {
      const m = new Metrics();
      m.backupEnded({ source: 'physical', kind: 'full', ok: true, at: new Date(), durationMs: 1000, rawBytes: 1, storedBytes: 1 });
      const file = path.join(dir, 'backupmate.prom');
      await writeTextfile(file, m);
      expect(fs.readdirSync(dir)).toEqual(['backupmate.prom']);
      const text = fs.readFileSync(file, 'utf8');
      // promtool reads the exposition on stdin; it exits non-zero on any problem (lint included).
      execFileSync('promtool', ['check', 'metrics'], { input: text });
      await expect(writeTextfile(path.join(dir, 'missing', 'x.prom'), m)).rejects.toMatchObject({ code: 'LOCAL_IO', message: expect.stringMatching(/METRICS_TEXTFILE/) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('parseListen splits HOST:PORT and [v6]:PORT', () => {
    expect(parseListen('127.0.0.1:9187')).toEqual({ host: '127.0.0.1', port: 9187 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
  });
});
