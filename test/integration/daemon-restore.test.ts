/**
 * A daemon-managed restore that cannot be confirmed (issue 11, item 8): with `interactive: false`
 * and no `yes`, the daemon declines at once, before anything is downloaded; a declined restore
 * (no terminal, or answered "no") is not a failure and sends no "FAILED restore" alert.
 *
 * Real parts: a private mariadbd, the real daemon (`backupmate run`) and backupmatectl, a file
 * store, and a webhook listener on loopback standing in for Slack. The restore requests are
 * sent as raw protocol lines, as backupmatectl sends them.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSampleData } from '../helpers/data.js';
import { ctl, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';

let source: PrivateServer;
let d: DaemonHandle;
let hook: http.Server;
const alerts: string[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  source = await startPrivateServer({ rootPassword: 'Rt-daemon-restore' });
  await loadSampleData(source, { rows: 5_000 });
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      alerts.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-store-'));
  dirs.push(storeDir);
  d = await startDaemon(
    source,
    { kind: 'file', path: storeDir },
    {
      FULL_BACKUP_SCHEDULE: 'off',
      INCREMENTAL_BACKUP_SCHEDULE: 'off',
      SLACK_WEBHOOK_URL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/services/T000/B000/hook`,
      // The server must never actually be stopped here: every restore below is declined or fails first.
      MARIADB_STOP_COMMAND: 'false',
      MARIADB_START_COMMAND: 'false',
    },
  );
  dirs.push(d.dir);
  const b = await ctl(d.socket, ['backup', '--full', '--wait']);
  expect(b.exitCode).toBe(0);
});

afterAll(async () => {
  await d?.stop('SIGKILL').catch(() => {});
  await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
  await stopAllServers();
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

interface Exchange {
  events: Record<string, unknown>[];
  error?: { code: string; message: string };
  result?: unknown;
}

/** Sends one request line; answers a `confirm` event with `answer`; returns what came back. */
function request(params: Record<string, unknown>, answer = false): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const ex: Exchange = { events: [] };
    const c = net.connect(d.socket);
    let buf = '';
    c.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        if (msg.event) {
          ex.events.push(msg);
          if (msg.event === 'confirm') c.write(JSON.stringify({ v: 1, id: 1, method: 'confirm', params: { yes: answer } }) + '\n');
        } else if (msg.error) ex.error = msg.error as Exchange['error'];
        else if ('result' in msg) ex.result = msg.result;
      }
    });
    c.on('error', reject);
    c.on('close', () => resolve(ex));
    c.write(JSON.stringify({ v: 1, id: 1, method: 'restore', params }) + '\n');
  });
}

async function stagingDirs(): Promise<string[]> {
  return (await fs.readdir(path.join(d.dir, 'tmp')).catch(() => [] as string[])).filter((n) => n.startsWith('restore-'));
}

describe('a restore that cannot be confirmed', () => {
  test('interactive:false without yes: declined at once, nothing downloaded, no confirm asked', async () => {
    const before = d.logLines().length;
    const ex = await request({ id: 'latest', mode: 'copy-back', interactive: false });
    expect(ex.events.filter((e) => e.event === 'confirm')).toEqual([]);
    expect(ex.error).toMatchObject({ code: 'DECLINED' });
    expect(ex.error!.message).toMatch(/no terminal to ask and no --yes; nothing was downloaded or changed/);
    const after = d.logLines().slice(before);
    expect(after.filter((l) => typeof l.event === 'string' && (l.event as string).startsWith('restore.'))).toEqual([]);
    expect(await stagingDirs()).toEqual([]);
  });

  test('answered "no" after the download: the job ends cancelled (not failed), the datadir untouched', async () => {
    const ex = await request({ id: 'latest', mode: 'copy-back' }, false);
    expect(ex.events.some((e) => e.event === 'confirm')).toBe(true);
    expect(ex.error).toMatchObject({ code: 'DECLINED' });
    const end = await d.waitForLog((l) => l.event === 'job.finished' && l.jobKind === 'restore');
    expect(end.status).toBe('cancelled');
    expect((await source.sql('SELECT 1')).trim()).toBe('1');
    expect((await fs.readdir(path.dirname(source.datadir))).filter((n) => n.includes('before-restore'))).toEqual([]);
  });

  test('neither sends an alert; a failed restore does (the listener works)', async () => {
    const ex = await request({ id: '19990101T000000Z', mode: 'target-dir', targetDir: path.join(d.dir, 'nope') });
    expect(ex.error).toMatchObject({ code: 'BACKUP_NOT_FOUND' });
    // Alerts go out in the order the jobs finished: once the failure's arrived, an alert for the
    // declined restore would have been sent before it.
    for (let i = 0; i < 200 && alerts.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatch(/FAILED/i);
    expect(alerts[0]).toMatch(/19990101T000000Z|BACKUP_NOT_FOUND|no backup/i);
    expect(alerts.join('\n')).not.toMatch(/DECLINED|not confirmed/);
  });
});
