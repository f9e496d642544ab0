/**
 * One drill as the CLI and the daemon run it: the drill (drill.ts), then its record next to the
 * backup in the store (record.ts), then the observer (metrics). Returns the report, or throws
 * DrillFailed carrying it (after recording it too: a failed drill is a fact worth keeping).
 */
import type { Logger } from '../log/logger.js';
import type { DrillObserver } from '../metrics/metrics.js';
import type { Storage } from '../storage/storage.js';
import { DrillFailed, runDrill, type DrillReport, type DrillRequest, type DrillSettings } from './drill.js';
import { writeDrillRecord } from './record.js';

export async function drillAndRecord(storage: Storage, logger: Logger, s: DrillSettings, req: DrillRequest, observer?: DrillObserver): Promise<DrillReport> {
  let report: DrillReport;
  try {
    report = await runDrill(storage, logger, s, req);
  } catch (e) {
    if (!(e instanceof DrillFailed)) throw e;
    report = e.report;
    // A cancelled drill says nothing about the backup: no record, no failure metric.
    if (report.error?.code !== 'CANCELLED') {
      await writeDrillRecord(storage, report, logger);
      observer?.drillEnded({ ok: false, at: new Date(report.finishedAt), backupId: report.backupId, timeToReadyMs: report.timeToReadyMs });
    }
    throw e;
  }
  await writeDrillRecord(storage, report, logger);
  observer?.drillEnded({ ok: true, at: new Date(report.finishedAt), backupId: report.backupId, timeToReadyMs: report.timeToReadyMs });
  return report;
}
