/**
 * Failure paths with real parts: a failed or killed job leaves no valid-looking backup, aborts its
 * multipart upload and says clearly what went wrong; a damaged backup is refused before the target
 * is touched; user errors get one line and a documented exit status.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runFullBackup, type BackupSettings } from '../../src/backup/job.js';
import { BackupmateError } from '../../src/domain/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { FileStorage } from '../../src/storage/drivers/file.js';
import { S3Storage } from '../../src/storage/drivers/s3.js';
import type { Storage } from '../../src/storage/storage.js';
import { backupmate, logLines, makeWorkdir, type Store } from '../helpers/backupmate.js';
import { loadSampleData } from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/proxy.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'f41lure-pw';
let source: PrivateServer;
let s3: S3Server;
let proxy: RecordingProxy;

beforeAll(async () => {
  [source, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startS3rver()]);
  proxy = await startRecordingProxy(s3.endpoint);
  await loadSampleData(source, { rows: 120_000 });
  // ~32 MiB that zstd cannot shrink, so the stored stream is long enough to kill mid-upload.
  await source.sql('CREATE DATABASE noise; CREATE TABLE noise.r (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB; INSERT INTO noise.r SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_32000;', 'mysql');
});

afterAll(async () => {
  await proxy?.close();
  await stopAllServers();
  await stopAllS3rvers();
});

const quiet = () => createLogger({ level: 'debug', console: 'none' });

function s3Storage(endpoint: string): S3Storage {
  return new S3Storage({
    bucket: s3.bucket,
    region: s3.region,
    endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    partSize: 5 * 1024 * 1024,
    queueSize: 2,
  });
}

function settings(prefix: string, tempDir: string, password = PASSWORD): BackupSettings {
  return {
    fullPrefix: prefix,
    incrementalPrefix: prefix.replace(/full\/$/, 'inc/'),
    tempDir,
    mariabackupPath: 'mariabackup',
    connection: { user: 'root', password, host: 'localhost', port: 3306, socket: source.socket },
    parallel: 2,
    compression: { algorithm: 'zstd', level: 3 },
    volumeSize: 64 * 1024 * 1024,
    hostname: 'test',
  };
}

/** Kills every running process named `comm` whose parent is this process. */
async function killChild(comm: string): Promise<number[]> {
  const killed: number[] = [];
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === comm && ppid === process.pid) {
        process.kill(Number(pid), 'SIGKILL');
        killed.push(Number(pid));
      }
    } catch {
      /* gone */
    }
  }
  return killed;
}

async function runningChildren(comm: string): Promise<number> {
  let n = 0;
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (name === comm && Number(rest[1]) === process.pid && rest[0] !== 'Z') n++;
  }
  return n;
}

describe('a failed backup leaves nothing that looks valid', () => {
  test('wrong password: the preflight says so clearly, exit 71, nothing written to the store', async () => {
    const work = await makeWorkdir(source, { kind: 's3', server: s3 }, { FULL_BACKUP_PREFIX: 'badpw/full/', DB_PASSWORD: 'not-the-password' });
    const r = await backupmate(work, ['backup', '--full']);
    expect(r.exitCode).toBe(71);
    expect(r.stderr).toMatch(/^backupmate: cannot query the server at socket .* as root \(DB_\* settings\): .*Access denied/m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout + r.stderr).not.toContain('not-the-password');
    const end = logLines(r.stdout).find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'failed', code: 'TOOL_FAILED', stage: 'preflight' });
    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: unknown[]; incomplete: unknown[] };
    expect(list).toMatchObject({ backups: [], incomplete: [] });
  });

  test('mariabackup exits non-zero after streaming everything: the job fails, no manifest, nothing left', async () => {
    // A mariabackup that does its whole job, then reports failure: only its exit status says so.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-fake-'));
    const wrapper = path.join(dir, 'mariabackup-then-fail');
    await fs.writeFile(wrapper, '#!/bin/sh\nmariabackup "$@" || exit\ncase "$*" in *--backup*) echo "simulated failure after the stream" >&2; exit 3;; esac\n', { mode: 0o755 });
    const work = await makeWorkdir(source, { kind: 's3', server: s3 }, { FULL_BACKUP_PREFIX: 'exit3/full/', MARIADB_BACKUP_PATH: wrapper });
    const r = await backupmate(work, ['backup', '--full']);
    expect(r.exitCode).toBe(71);
    expect(r.stderr).toMatch(/^backupmate: mariabackup exited with code 3: simulated failure after the stream/m);
    const end = logLines(r.stdout).find((l) => l.event === 'backup.end')!;
    expect(end).toMatchObject({ status: 'failed', code: 'TOOL_FAILED', stage: 'mariabackup' });
    expect(Array.isArray(end.stderrTail)).toBe(true);
    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as { backups: unknown[]; incomplete: unknown[] };
    expect(list).toMatchObject({ backups: [], incomplete: [] });
    expect(await fs.readdir(path.join(work, 'tmp'))).toEqual([]);
  });

  test.each([
    ['mariabackup', 'mariabackup', /mariabackup was killed by SIGKILL/],
    ['zstd', 'compressor', /compressor was killed by SIGKILL/],
  ])('%s killed mid-stream: job fails at that stage, multipart upload aborted, no manifest, no children left', async (comm, stage, message) => {
    const prefix = `killed-${comm}/full/`;
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-kill-'));
    const storage = s3Storage(proxy.endpoint);
    const seen = proxy.requests.length;
    let killed: number[] = [];
    const err = await runFullBackup(storage, quiet(), settings(prefix, tmp), {
      onProgress: (p) => {
        // Kill once a multipart upload is surely under way (more than one 5 MiB part stored).
        if (!killed.length && p.storedBytes > 11 * 1024 * 1024) {
          killed = [-1];
          void killChild(comm).then((k) => (killed = k));
        }
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(killed.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('TOOL_FAILED');
    expect((err as BackupmateError).details.stage).toBe(stage);
    expect((err as BackupmateError).message).toMatch(message);
    const sent = proxy.requests.slice(seen);
    expect(sent.some((r) => r.method === 'POST' && r.url.includes('uploads'))).toBe(true); // a multipart upload began
    expect(sent.some((r) => r.method === 'DELETE' && r.url.includes('uploadId='))).toBe(true); // ...and was aborted
    expect(sent.some((r) => r.url.includes('manifest.json') && r.method === 'PUT')).toBe(false);
    expect(await storage.list(prefix)).toEqual([]);
    expect(await runningChildren('mariabackup')).toBe(0);
    expect(await runningChildren('zstd')).toBe(0);
    expect(await fs.readdir(tmp)).toEqual([]);
  });
});

describe('notifications', () => {
  test('a failed backup posts to the Slack webhook; an unreachable webhook does not fail a good backup', async () => {
    const received: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/secret-token`;
    try {
      const work = await makeWorkdir(source, { kind: 's3', server: s3 }, { FULL_BACKUP_PREFIX: 'notify/full/', SLACK_WEBHOOK_URL: url });
      const bad = await backupmate(work, ['backup', '--full'], { DB_PASSWORD: 'wrong-password' });
      expect(bad.exitCode).toBe(71);
      expect(received).toHaveLength(1);
      const text = received[0];
      expect(text).toContain(os.hostname());
      expect(text).toMatch(/FAILED/i);
      expect(text).toMatch(/Access denied/);
      expect(text).not.toContain('wrong-password');
      // The webhook URL (a secret) never appears in the log.
      expect(bad.stdout + bad.stderr).not.toContain('secret-token');

      // A closed port: the notification fails, is logged, and the backup still succeeds.
      const good = await backupmate(work, ['backup', '--full'], { SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/hook', NOTIFY_ON: 'always' });
      expect(good.exitCode).toBe(0);
      expect(logLines(good.stdout).some((l) => l.event === 'notify.failed')).toBe(true);
    } finally {
      server.close();
    }
  });
});

describe('restore refuses damaged backups and unsafe targets before touching anything', () => {
  let work: string;
  let storeDir: string;
  let id: string;
  let volumeKey: string;

  beforeAll(async () => {
    storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-'));
    const store: Store = { kind: 'file', path: storeDir };
    work = await makeWorkdir(source, store);
    const b = await backupmate(work, ['backup', '--full']);
    expect(b.exitCode).toBe(0);
    id = logLines(b.stdout).find((l) => l.event === 'backup.end')!.backupId as string;
    volumeKey = path.join(storeDir, 'backupmate/full', id, 'data.00000');
  });

  async function restoreTo(): Promise<{ r: Awaited<ReturnType<typeof backupmate>>; base: string; target: string }> {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-target-'));
    const target = path.join(base, 'data');
    return { r: await backupmate(work, ['restore', id, '--target-dir', target]), base, target };
  }

  test('a flipped byte in a volume: exit 65 naming the object, the target dir never appears', async () => {
    const original = await fs.readFile(volumeKey);
    const damaged = Buffer.from(original);
    const at = Math.floor(damaged.length / 2);
    damaged[at] ^= 0xff;
    await fs.writeFile(volumeKey, damaged);
    try {
      const { r, base } = await restoreTo();
      expect(r.exitCode).toBe(65);
      expect(r.stderr).toContain(`volume backupmate/full/${id}/data.00000 is corrupt`);
      expect(await fs.readdir(base)).toEqual([]);
    } finally {
      await fs.writeFile(volumeKey, original);
    }
  });

  test('a missing volume: exit 65 naming the object, before any download', async () => {
    const moved = volumeKey + '.away';
    await fs.rename(volumeKey, moved);
    try {
      const { r, base } = await restoreTo();
      expect(r.exitCode).toBe(65);
      expect(r.stderr).toContain(`volume backupmate/full/${id}/data.00000 is missing`);
      expect(await fs.readdir(base)).toEqual([]);
    } finally {
      await fs.rename(moved, volumeKey);
    }
  });

  test('copy-back onto the datadir of a running server: exit 73 and a message saying to stop it', async () => {
    const r = await backupmate(work, ['restore', id, '--copy-back'], { MARIADB_DATADIR: source.datadir });
    expect(r.exitCode).toBe(73);
    expect(r.stderr).toMatch(/MariaDB is running on .*Stop it first/);
    expect(await source.sql('SELECT 1')).toBe('1');
  });

  test('a non-empty --target-dir: exit 73', async () => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-target-'));
    await fs.writeFile(path.join(base, 'keep.txt'), 'x');
    const r = await backupmate(work, ['restore', id, '--target-dir', base]);
    expect(r.exitCode).toBe(73);
    expect(r.stderr).toContain('is not empty');
    expect(await fs.readdir(base)).toEqual(['keep.txt']);
  });

  test('an unknown id: exit 66 naming the nearest backups', async () => {
    const r = await backupmate(work, ['restore', '2001-01-01T00:00:00Z', '--target-dir', '/tmp/never']);
    expect(r.exitCode).toBe(66);
    expect(r.stderr).toContain(`nearest: ${id}`);
  });

  test('usage errors: exit 64 with one line', async () => {
    const r = await backupmate(work, ['restore', id]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr.trim()).toBe('backupmate: restore: expected exactly one of --target-dir DIR, --copy-back, --move-back, --into-server, got none');
  });

  test('config check redacts the password and names where values came from', async () => {
    const r = await backupmate(work, ['config', 'check']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('configuration is valid');
    expect(r.stdout).toMatch(/DB_PASSWORD\s+<redacted>\s+\/.*\.backupmate\.env/);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  test('a bad configuration value: exit 78 naming the key and the value', async () => {
    const r = await backupmate(work, ['list'], { DB_PORT: 'abc' });
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toMatch(/DB_PORT.*"abc"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('store-independent checks', () => {
  test('an incomplete backup (no manifest) is listed as incomplete and cannot be restored', async () => {
    const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-'));
    const storage: Storage = new FileStorage(storeDir);
    await storage.put('backupmate/full/20260101T000000Z/data.00000', Buffer.from('partial'));
    const work = await makeWorkdir(source, { kind: 'file', path: storeDir });
    const list = await backupmate(work, ['list']);
    expect(list.stdout).toMatch(/20260101T000000Z\s+physical\s+full\s+incomplete/);
    const r = await backupmate(work, ['restore', '20260101T000000Z', '--target-dir', path.join(storeDir, 'x')]);
    expect(r.exitCode).toBe(66);
    expect(r.stderr).toMatch(/incomplete backup cannot be restored: 20260101T000000Z/);
  });
});
