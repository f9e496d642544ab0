/**
 * METRICS_TEXTFILE: the metrics as a file for node_exporter's textfile collector. Written to a
 * temp file in the same directory, then renamed over the target, so the collector never reads a
 * half-written file (node_exporter's own advice). Mode 0644: metrics hold no secrets.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BackupmateError, errorText } from '../domain/errors.js';
import type { Metrics } from './metrics.js';

export async function writeTextfile(file: string, metrics: Pick<Metrics, 'text'>): Promise<void> {
  const text = await metrics.text();
  // The collector only reads *.prom; a dot-file temp name is ignored by it meanwhile.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    await fs.writeFile(tmp, text, { mode: 0o644 });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw new BackupmateError('LOCAL_IO', `cannot write METRICS_TEXTFILE ${file}: ${errorText(e)}`, { key: 'METRICS_TEXTFILE' });
  }
}
