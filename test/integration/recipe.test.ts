/**
 * The README's "Restoring without backupmate" recipe, run exactly as written (only the variables
 * and the service commands are pointed at this sandbox): standard tools alone must bring a
 * backup back, and the restored server must match the source.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, makeWorkdir, ROOT } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

let source: PrivateServer;
let s3: S3Server;

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: 'recipe-pw' }), startS3rver()]);
  await loadSampleData(source, { rows: 100_000 });
});

afterAll(async () => {
  await stopAllServers();
  await stopAllS3rvers();
});

async function readmeRecipe(): Promise<string> {
  const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- recipe:start -->\n```bash\n([\s\S]*?)```\n<!-- recipe:end -->/.exec(readme);
  if (!m) throw new Error('README.md has no recipe block between <!-- recipe:start --> and <!-- recipe:end -->');
  return m[1];
}

/** Replaces `NAME=...` assignment lines; fails if the README no longer has them. */
function setVar(script: string, name: string, value: string): string {
  const re = new RegExp(`^${name}=.*$`, 'm');
  if (!re.test(script)) throw new Error(`the README recipe no longer assigns ${name}`);
  return script.replace(re, `${name}='${value}'`);
}

test('the README recipe restores a backup from S3 with aws, sha256sum, zstd, tar, mbstream and mariabackup', async () => {
  const work = await makeWorkdir(source, { kind: 's3', server: s3 });
  const b = await backupmate(work, ['backup', '--full']);
  expect(b.exitCode).toBe(0);
  const id = logLines(b.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
  const before = await source.checksums();

  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-recipe-'));
  const datadir = path.join(base, 'datadir');
  let script = await readmeRecipe();
  script = setVar(script, 'ID', id);
  script = setVar(script, 'SRC', `s3://${s3.bucket}/backupmate/full/${id}/`);
  script = setVar(script, 'WORK', path.join(base, 'work'));
  script = setVar(script, 'DATADIR', datadir);
  // The sandbox's stand-ins: no system service to stop, and an endpoint for the loopback S3 server.
  const preamble = [
    'systemctl() { echo "(sandbox) systemctl $*"; }',
    `aws() { command aws --endpoint-url '${s3.endpoint}' "$@"; }`,
    `mkdir -p '${datadir}'`, // the "old datadir" the recipe moves aside
  ].join('\n');
  const r = await execa('bash', ['-c', preamble + '\n' + script], {
    reject: false,
    all: true,
    env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_DEFAULT_REGION: s3.region, AWS_EC2_METADATA_DISABLED: 'true' },
  });
  expect({ exit: r.exitCode, tail: r.exitCode ? String(r.all).slice(-3000) : '' }).toEqual({ exit: 0, tail: '' });
  expect(String(r.all)).toMatch(/data\.00000: OK/);
  expect(await fs.readdir(base)).toEqual(expect.arrayContaining(['datadir', 'datadir.before-manual-restore']));

  const restored = await startPrivateServer({ datadir, baseDir: base, rootPassword: 'recipe-pw' });
  expect(await restored.checksums()).toEqual(before);
  await restored.destroy();
});
