/** Removes the run's temp directory (see global-setup.ts); BACKUPMATE_KEEP_TEST_DIRS=1 keeps it. */
import * as fs from 'node:fs';

export default function globalTeardown(): void {
  const dir = process.env.BACKUPMATE_TEST_RUN_DIR;
  if (!dir) return;
  if (process.env.BACKUPMATE_KEEP_TEST_DIRS === '1') {
    process.stderr.write(`test directories kept in ${dir} (BACKUPMATE_KEEP_TEST_DIRS=1)\n`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
