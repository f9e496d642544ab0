/**
 * METRICS_TEXTFILE for one-shot commands (`backupmate backup` / `drill` from cron or a Kubernetes
 * CronJob): the run's own outcome, plus what the store's catalog says (newest success per source
 * and kind, counts and bytes), written when the command ends. Off (every method a no-op) when
 * METRICS_TEXTFILE is empty. Never changes the command's outcome: a failed write is a warning.
 *
 * A one-shot process has no memory of earlier runs: counters start at 0 in every file (Prometheus
 * treats that as a counter reset) and a failure's timestamp is the run's own.
 */
import { catalogPrefixes } from '../backup/decide.js';
import type { Config } from '../config/load.js';
import { errorText } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import { readCatalog } from '../storage/catalog.js';
import type { Storage } from '../storage/storage.js';
import { Metrics } from './metrics.js';
import { writeTextfile } from './textfile.js';

export interface OneShotMetrics {
  /** The observers to hand to the job and to makeStorage; undefined when METRICS_TEXTFILE is off. */
  readonly metrics: Metrics | undefined;
  /** At the command's end: `failedJob` names the job kind when the command failed. */
  flush(storage: Storage | undefined, failedJob?: string): Promise<void>;
}

export function oneShotMetrics(c: Config, logger: Logger): OneShotMetrics {
  const file = c.METRICS_TEXTFILE;
  if (!file) return { metrics: undefined, flush: async () => {} };
  const metrics = new Metrics();
  return {
    metrics,
    async flush(storage, failedJob) {
      if (failedJob) metrics.jobFailed(failedJob);
      try {
        if (storage) {
          const catalog = await readCatalog(storage, catalogPrefixes(c));
          metrics.storeCatalog(storage.description, catalog.backups.map((b) => b.manifest));
        }
      } catch (e) {
        logger.warn(`metrics: cannot read the store's catalog: ${errorText(e)}`, { event: 'metrics.catalog', status: 'failed' });
      }
      try {
        await writeTextfile(file, metrics);
      } catch (e) {
        logger.warn(errorText(e), { event: 'metrics.textfile', status: 'failed' });
      }
    },
  };
}
