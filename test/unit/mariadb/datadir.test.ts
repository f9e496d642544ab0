/**
 * Is a server using the restore target? The pure parts (the /proc/locks parser, st_dev
 * decoding, matching locks to files) and findRunningServer's rule for the DB_SOCKET server:
 * it counts only when its own @@datadir is the target.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { devNumbers, findLockHolder, findRunningServer, lockOnFiles, parseProcLocks } from '../../../src/mariadb/datadir.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-datadir-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// As printed by Linux 6.1 for a running mariadbd (ibdata1, aria_log_control), plus other kinds.
const SAMPLE = [
  '1: POSIX  ADVISORY  WRITE 12622 fe:00:2205250 0 EOF',
  '2: POSIX  ADVISORY  WRITE 12622 fe:00:2205236 0 EOF',
  '3: FLOCK  ADVISORY  WRITE 811 00:1a:1234 0 EOF',
  '4: OFDLCK ADVISORY  READ  -1 103:02:99 0 EOF',
  '4: -> POSIX  ADVISORY  WRITE 999 fe:00:777 0 EOF',
  'garbage',
  '',
].join('\n');

describe('parseProcLocks', () => {
  test('device in hex, inode in decimal; waiters marked; other lines skipped', () => {
    const locks = parseProcLocks(SAMPLE);
    expect(locks).toHaveLength(5);
    expect(locks[0]).toEqual({ type: 'POSIX', access: 'WRITE', pid: 12622, major: 0xfe, minor: 0, inode: 2205250n, blocked: false });
    expect(locks[3]).toMatchObject({ type: 'OFDLCK', access: 'READ', pid: -1, major: 0x103, minor: 2, inode: 99n });
    expect(locks[4]).toMatchObject({ pid: 999, inode: 777n, blocked: true });
  });
});

describe('devNumbers', () => {
  test('decodes st_dev like glibc major()/minor()', () => {
    expect(devNumbers(65024n)).toEqual({ major: 254, minor: 0 }); // fe:00
    expect(devNumbers(0x1an)).toEqual({ major: 0, minor: 26 });
    // major 259, minor 300: minor's high bits live above bit 20.
    const dev = ((259n & 0xfffn) << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n);
    expect(devNumbers(dev)).toEqual({ major: 259, minor: 300 });
  });
});

describe('lockOnFiles', () => {
  const locks = parseProcLocks(SAMPLE);
  test('matches device and inode', () => {
    expect(lockOnFiles(locks, [{ file: '/d/ibdata1', dev: 65024n, ino: 2205250n }])).toMatchObject({ file: '/d/ibdata1', lock: { pid: 12622 } });
  });
  test('same inode on another device is not a match; nor is a waiter', () => {
    expect(lockOnFiles(locks, [{ file: '/d/ibdata1', dev: 0x801n, ino: 2205250n }])).toBeNull();
    expect(lockOnFiles(locks, [{ file: '/d/ibdata1', dev: 65024n, ino: 777n }])).toBeNull();
  });
});

/** A procLocks file claiming a write lock by `pid` on `file`. */
function fakeProcLocks(file: string, pid: number): string {
  const st = fs.statSync(file, { bigint: true });
  const { major, minor } = devNumbers(st.dev);
  const p = path.join(tmp, 'locks');
  fs.writeFileSync(p, `1: POSIX  ADVISORY  WRITE ${pid} ${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino} 0 EOF\n`);
  return p;
}

describe('findLockHolder', () => {
  test('a lock on ibdata1 (or aria_log_control) names the file and the holder', async () => {
    const datadir = path.join(tmp, 'data');
    fs.mkdirSync(datadir);
    fs.writeFileSync(path.join(datadir, 'aria_log_control'), '');
    const locks = fakeProcLocks(path.join(datadir, 'aria_log_control'), process.pid);
    expect(await findLockHolder(datadir, locks)).toMatch(new RegExp(`process ${process.pid} holds a write lock on .*aria_log_control`));
    // The lock alone decides: no pid file, no process with this cwd, no socket.
    expect(await findRunningServer(datadir, { procLocks: locks })).toMatch(/aria_log_control/);
  });

  test('no such files, or no lock on them: null', async () => {
    fs.writeFileSync(path.join(tmp, 'other'), '');
    const locks = fakeProcLocks(path.join(tmp, 'other'), 1);
    expect(await findLockHolder(tmp, locks)).toBeNull();
    fs.writeFileSync(path.join(tmp, 'ibdata1'), '');
    expect(await findLockHolder(tmp, locks)).toBeNull();
    // /proc/locks unreadable (not Linux): this check finds nothing; the others still run.
    expect(await findLockHolder(tmp, path.join(tmp, 'no-such-locks-file'))).toBeNull();
  });
});

describe('findRunningServer and the DB_SOCKET server', () => {
  let server: net.Server;
  let socket: string;
  beforeEach(async () => {
    socket = path.join(tmp, 's.sock');
    server = net.createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(socket, r));
  });
  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('a server on DB_SOCKET that uses another datadir does not count', async () => {
    const target = path.join(tmp, 'new-empty');
    expect(await findRunningServer(target, { socket, askDatadir: async () => '/var/lib/mysql/\n' })).toBeNull();
  });

  test("counts when its @@datadir is the target's real path", async () => {
    const target = path.join(tmp, 'data');
    fs.mkdirSync(target);
    fs.symlinkSync(target, path.join(tmp, 'link'));
    expect(await findRunningServer(path.join(tmp, 'link'), { socket, askDatadir: async () => `${target}/` })).toMatch(
      /socket .*s\.sock \(DB_SOCKET\) reports @@datadir=/,
    );
  });

  test('the socket answers but the datadir cannot be asked: not counted, said in a debug line', async () => {
    const lines: string[] = [];
    const log = { debug: (m: string) => lines.push(m) } as never;
    const verdict = await findRunningServer(path.join(tmp, 'data'), {
      socket,
      askDatadir: async () => {
        throw new Error('Access denied for user');
      },
      log,
    });
    expect(verdict).toBeNull();
    expect(lines.join('\n')).toMatch(/could not be asked \(Access denied for user\)/);
  });
});
