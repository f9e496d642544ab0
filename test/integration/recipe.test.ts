/**
 * The README's "Restoring without backupmate" recipe, run exactly as written (only the variables
 * and the service commands are pointed at this sandbox): standard tools alone must bring a
 * backup back, and the restored server must match the source.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
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

/** The bash block between `<!-- NAME:start -->` and `<!-- NAME:end -->` in README.md. */
async function readmeRecipe(name = 'recipe'): Promise<string> {
  const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- ${name}:start -->\\n\`\`\`bash\\n([\\s\\S]*?)\`\`\`\\n<!-- ${name}:end -->`).exec(readme);
  if (!m) throw new Error(`README.md has no recipe block between <!-- ${name}:start --> and <!-- ${name}:end -->`);
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

test('the README recipe for an encrypted backup restores it with age -d and the identity of one recipient', async () => {
  const keys = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-recipe-keys-'));
  const identity = path.join(keys, 'key.txt');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
  const work = await makeWorkdir(source, { kind: 's3', server: s3 }, {
    FULL_BACKUP_PREFIX: 'recipe-age/full/',
    INCREMENTAL_BACKUP_PREFIX: 'recipe-age/incremental/',
    ENCRYPTION: 'age',
    AGE_RECIPIENTS: recipient,
  });
  const b = await backupmate(work, ['backup', '--full']);
  expect(b.exitCode).toBe(0);
  const id = logLines(b.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
  const before = await source.checksums();

  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-recipe-age-'));
  const datadir = path.join(base, 'datadir');
  let script = await readmeRecipe('recipe-age');
  expect(script).toContain('age -d -i "$IDENTITY"');
  script = setVar(script, 'ID', id);
  script = setVar(script, 'SRC', `s3://${s3.bucket}/recipe-age/full/${id}/`);
  script = setVar(script, 'WORK', path.join(base, 'work'));
  script = setVar(script, 'DATADIR', datadir);
  script = setVar(script, 'IDENTITY', identity);
  const preamble = [
    'systemctl() { echo "(sandbox) systemctl $*"; }',
    `aws() { command aws --endpoint-url '${s3.endpoint}' "$@"; }`,
    `mkdir -p '${datadir}'`,
  ].join('\n');
  const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_DEFAULT_REGION: s3.region, AWS_EC2_METADATA_DISABLED: 'true' };
  const r = await execa('bash', ['-c', preamble + '\n' + script], { reject: false, all: true, env });
  expect({ exit: r.exitCode, tail: r.exitCode ? String(r.all).slice(-3000) : '' }).toEqual({ exit: 0, tail: '' });
  expect(String(r.all)).toMatch(/data\.00000: OK/);

  // The plain recipe cannot read it: tar sees age ciphertext.
  const plainBase = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-recipe-plain-'));
  let plain = await readmeRecipe();
  plain = setVar(plain, 'ID', id);
  plain = setVar(plain, 'SRC', `s3://${s3.bucket}/recipe-age/full/${id}/`);
  plain = setVar(plain, 'WORK', path.join(plainBase, 'work'));
  plain = setVar(plain, 'DATADIR', path.join(plainBase, 'datadir'));
  const p = await execa('bash', ['-c', preamble + '\n' + plain], { reject: false, all: true, env });
  expect(p.exitCode).not.toBe(0);
  expect(String(p.all)).toMatch(/tar: This does not look like a tar archive/);

  const restored = await startPrivateServer({ datadir, baseDir: base, rootPassword: 'recipe-pw' });
  expect(await restored.checksums()).toEqual(before);
  await restored.destroy();
  await fs.rm(keys, { recursive: true, force: true });
});
