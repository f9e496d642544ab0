/**
 * The throwaway server (src/mariadb/scratch.ts) on a real datadir: it answers as its private
 * superuser although the datadir's root password is unknown to it, reads the data, never opens a
 * TCP port, drops its user at stop, and leaves no process behind (also when it cannot start).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackupmateError } from '../../src/domain/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { SCRATCH_USER, startScratchServer } from '../../src/mariadb/scratch.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

const log = createLogger({ level: 'debug', console: 'none' });
let src: PrivateServer;
let base: string;

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  src = await startPrivateServer({ rootPassword: 'not-known-to-the-scratch-server' });
  await src.sql('CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB; INSERT INTO shop.t VALUES (1,"a"),(2,"b")');
  await src.stop();
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-scratch-'));
});

afterAll(async () => {
  await stopAllServers();
  await fs.rm(base, { recursive: true, force: true });
});

describe('scratch server', () => {
  test('answers on its own socket, reads the data, drops its user and stops', async () => {
    const s = await startScratchServer({ datadir: src.datadir, workDir: path.join(base, 'w1'), log });
    try {
      expect(await s.query('SELECT COUNT(*) FROM shop.t')).toBe('2');
      expect(await s.query("SELECT @@skip_networking, @@log_bin, @@event_scheduler")).toBe('1\t0\tDISABLED');
      await expect(fs.access(path.join(base, 'w1', 'init.sql'))).rejects.toThrow();
    } finally {
      await s.stop();
    }
    expect(alive(s.pid)).toBe(false);
    await s.stop(); // idempotent
    // The production datadir's account table is as it was: the private user is gone again.
    await src.start();
    expect(await src.sql(`SELECT COUNT(*) FROM mysql.user WHERE user = '${SCRATCH_USER}'`)).toBe('0');
    await src.stop();
  });

  test('a server that cannot start fails with its error log and leaves no process', async () => {
    const bad = path.join(base, 'not-a-datadir');
    await fs.mkdir(bad);
    await fs.writeFile(path.join(bad, 'ibdata1'), 'garbage');
    const e = await startScratchServer({ datadir: bad, workDir: path.join(base, 'w2'), log, readyTimeoutMs: 60_000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BackupmateError);
    expect((e as BackupmateError).code).toBe('TOOL_FAILED');
    expect((e as BackupmateError).message).toMatch(/scratch server on .* (exited before it was ready|did not answer)/);
  });
});
