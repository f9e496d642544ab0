/**
 * `backupmate check` and `config check` against a private mariadbd and s3rver (issue 11 item 6):
 * a good configuration passes every line; a wrong DB password, a missing bucket, a user without
 * the privileges, an impossible LOCAL_TEMP_DIR and a missing program each fail with their line
 * and exit status; `config check` creates nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { backupmate, makeWorkdir } from '../helpers/backupmate.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

let server: PrivateServer;
let s3: S3Server;
let work: string;

beforeAll(async () => {
  [server, s3] = await Promise.all([startPrivateServer({ rootPassword: 'ch3ck-pw' }), startS3rver()]);
  // Writable stand-ins for the daemon's directories, so a root-less run is judged the same way.
  work = await makeWorkdir(server, { kind: 's3', server: s3 });
  const extra = `STATE_DIR=${work}/state\nCONTROL_SOCKET=${work}/run/bm.sock\n`;
  await fs.appendFile(path.join(work, '.backupmate.env'), extra);
  await server.sql("CREATE USER 'weak'@'localhost' IDENTIFIED BY 'weak-pw'; GRANT SELECT ON *.* TO 'weak'@'localhost';");
});

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
  await stopAllServers();
  await stopAllS3rvers();
});

const lines = (out: string) => out.split('\n').filter((l) => l.trim() !== '');
const failedLines = (out: string) => lines(out).filter((l) => l.startsWith('FAILED'));

describe('backupmate check', () => {
  test('a good configuration: every line ok, exit 0', async () => {
    const r = await backupmate(work, ['check']);
    expect(failedLines(r.stdout)).toEqual([]);
    expect(r.exitCode).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^ok {6}LOCAL_TEMP_DIR .* can be created in /m);
    expect(out).toMatch(/^ok {6}mariabackup \d+\.\d+\.\d+/m);
    expect(out).toMatch(/^ok {6}zstd \d+\.\d+/m);
    expect(out).toMatch(new RegExp(`^ok {6}connected to the server at socket ${server.socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} as root: \\d+\\.\\d+`, 'm'));
    expect(out).toMatch(/^ok {6}server .* and mariabackup .* match/m);
    expect(out).toMatch(/^ok {6}the backup user root has RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR$/m);
    expect(out).toMatch(/^ok {6}the store s3:\/\/.* accepts a write, returns the same bytes and deletes/m);
    expect(out).toMatch(/^ok {6}LOCAL_TEMP_DIR .*: .* free; no backup in the store yet/m);
    expect(out).toMatch(/^check: all \d+ checks passed$/m);
    // The probe object is gone, and nothing was created in LOCAL_TEMP_DIR.
    const listing = await fs.readdir(path.join(s3.directory, s3.bucket), { recursive: true }).catch(() => [] as string[]);
    expect(listing.filter((n) => String(n).includes('.check-'))).toEqual([]);
    await expect(fs.stat(path.join(work, 'tmp'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('a wrong DB password: the server line fails, exit 71', async () => {
    const r = await backupmate(work, ['check'], { DB_PASSWORD: 'wrong' });
    const failed = failedLines(r.stdout);
    expect(failed[0]).toMatch(/^FAILED {2}cannot query the server at socket .* as root \(DB_\* settings\): .*Access denied for user 'root'@'localhost'/);
    expect(failed[1]).toBe('FAILED  the version and privileges of root could not be checked: no connection to the server');
    expect(failed).toHaveLength(2);
    expect(r.stdout).not.toContain('wrong');
    expect(r.stderr).toMatch(/^backupmate: check: 2 of \d+ checks failed; the first: cannot query the server/m);
    expect(r.exitCode).toBe(71);
  });

  test('a backup user without the privileges: named, with the GRANT to run, exit 78', async () => {
    const r = await backupmate(work, ['check'], { DB_USER: 'weak', DB_PASSWORD: 'weak-pw' });
    expect(failedLines(r.stdout)).toEqual([
      'FAILED  the backup user weak (DB_USER) lacks RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR: run GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO weak',
    ]);
    expect(r.exitCode).toBe(78);
  });

  test('a missing bucket: the store line fails, exit 76', async () => {
    const r = await backupmate(work, ['check'], { S3_BUCKET_NAME: 'no-such-bucket', RETRY_ATTEMPTS: '2' });
    const failed = failedLines(r.stdout);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/^FAILED {2}the store s3:\/\/no-such-bucket .*: could not write a probe object: .*(NoSuchBucket|does not exist)/);
    expect(r.exitCode).toBe(76);
  });

  test('LOCAL_TEMP_DIR=/etc/passwd/x: the local line fails, exit 78', async () => {
    const r = await backupmate(work, ['check'], { LOCAL_TEMP_DIR: '/etc/passwd/x' });
    expect(failedLines(r.stdout)[0]).toBe('FAILED  LOCAL_TEMP_DIR /etc/passwd/x cannot be created: /etc/passwd is not a directory');
    expect(r.exitCode).toBe(78);
  });
});

describe('config check checks locally', () => {
  test('LOCAL_TEMP_DIR=/etc/passwd/x: one line naming the key, exit 78', async () => {
    const r = await backupmate(work, ['config', 'check'], { LOCAL_TEMP_DIR: '/etc/passwd/x' });
    expect(lines(r.stderr)).toEqual(['backupmate: invalid configuration: LOCAL_TEMP_DIR /etc/passwd/x cannot be created: /etc/passwd is not a directory']);
    expect(r.stdout).toBe('');
    expect(r.exitCode).toBe(78);
  });

  test('a program that is not installed: one line naming the key, exit 78', async () => {
    const r = await backupmate(work, ['config', 'check'], { MARIADB_BACKUP_PATH: '/nonexistent/mariabackup', COMPRESSION: 'gzip' });
    expect(lines(r.stderr)).toEqual([
      'backupmate: invalid configuration: MARIADB_BACKUP_PATH: MARIADB_BACKUP_PATH=/nonexistent/mariabackup needs /nonexistent/mariabackup, which is not installed or not on PATH (Debian package mariadb-backup)',
    ]);
    expect(r.exitCode).toBe(78);
  });

  test('a good configuration: valid, with the versions of the programs, and nothing created', async () => {
    const r = await backupmate(work, ['config', 'check']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^configuration is valid\n/);
    expect(r.stdout).toMatch(/^ {2}ok: mariabackup \d+\.\d+\.\d+\S* \(MARIADB_BACKUP_PATH=mariabackup\)$/m);
    expect(r.stdout).toMatch(/^ {2}ok: mariadb \d+\.\d+\.\d+/m);
    await expect(fs.stat(path.join(work, 'tmp'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.stat(path.join(work, 'state'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('an unknown key in the env file: exit 78 naming file, line and key', async () => {
    const file = path.join(work, 'typo.env');
    await fs.writeFile(file, 'STORAGE=file\nSTORAGE_PATH=/tmp/x\nFULL_BACKUP_SCHEDUEL=weekly\n', { mode: 0o600 });
    const r = await backupmate(work, ['config', 'check', '--config', file]);
    expect(lines(r.stderr)).toEqual([`backupmate: invalid configuration: ${file} line 3: unknown key FULL_BACKUP_SCHEDUEL (did you mean FULL_BACKUP_SCHEDULE?)`]);
    expect(r.exitCode).toBe(78);
  });
});
