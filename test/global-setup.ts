/**
 * Once per `jest` run, before any worker starts: every test's temp files go into ONE directory
 * of this run, which global-teardown.ts removes at the end, passed or failed.
 *
 * Tests (and the helpers' private servers, s3rver, the CLI they spawn) create their directories
 * with mkdtemp(os.tmpdir()), and os.tmpdir() follows TMPDIR, which workers inherit from here. So
 * no test has to remember its own cleanup for the run to leave nothing behind (one run used to
 * leave ~100 /tmp/bm-* directories, 4 GB with datadirs).
 *
 * A run killed before its teardown (SIGKILL, a CI timeout) leaves its directory: the next run
 * removes directories whose owning jest process is gone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const RUN_DIR_PREFIX = 'bm-run-';
const OWNER_FILE = '.owner-pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export default function globalSetup(): void {
  const base = os.tmpdir();
  for (const name of fs.readdirSync(base)) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = path.join(base, name);
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8').trim());
    } catch {
      continue; // not one of ours, or being created right now
    }
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) fs.rmSync(dir, { recursive: true, force: true });
  }
  const dir = fs.mkdtempSync(path.join(base, RUN_DIR_PREFIX));
  // Private servers run as the mysql user: their datadirs below must be reachable.
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  process.env.BACKUPMATE_TEST_RUN_DIR = dir;
  process.env.TMPDIR = dir;
}
