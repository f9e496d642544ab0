/**
 * Directory backups end to end with the real CLI (issue 12 item 6): a full, then changes (a file
 * changed, one added, one DELETED, a directory removed, a mode change, an owner change, a
 * symlink retargeted and one added), then an incremental; each restores with
 * `restore <id> --target-dir DIR` byte for byte (contents, modes, owners, symlinks, mtimes).
 * Against s3rver and the file store, with zstd and gzip compression, and with ENCRYPTION=age.
 * list/verify/prune see them as chains like database backups.
 *
 * Real parts: the built CLI, s3rver (a child process), the file store, age. No MariaDB: a
 * directory backup does not need the server.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupmate, logLines, storeEnv, type Store } from '../helpers/backupmate.js';
import { startDaemon } from '../helpers/daemon.js';
import type { PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers } from '../helpers/s3rver.js';

const asRoot = process.getuid?.() === 0;
const dirs: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

afterAll(async () => {
  await stopAllS3rvers();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

/** A working directory with a 0600 .backupmate.env: the store, the paths, scratch and log. */
async function workdir(store: Store, extra: Record<string, string>): Promise<string> {
  const dir = await tempDir('bm-dirwork-');
  const env: Record<string, string> = {
    LOCAL_TEMP_DIR: path.join(dir, 'tmp'),
    LOG_FILE: path.join(dir, 'backupmate.log'),
    LOG_LEVEL: 'debug',
    // Nothing answers here: a directory backup must not need the database.
    DB_SOCKET: path.join(dir, 'no-server.sock'),
    ...storeEnv(store),
    ...extra,
  };
  await fs.writeFile(path.join(dir, '.backupmate.env'), Object.entries(env).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n', { mode: 0o600 });
  return dir;
}

interface Snapshot {
  entries: Record<string, string>;
  mtimes: Record<string, number>;
}

/**
 * Restores set mtimes through a double of seconds (fs.utimes), exact to about a microsecond:
 * everything else must be equal, mtimes within 5 µs.
 */
function expectSameTree(actual: Snapshot, expected: Snapshot): void {
  expect(actual.entries).toEqual(expected.entries);
  for (const [p, ms] of Object.entries(expected.mtimes)) expect([p, Math.abs(actual.mtimes[p] - ms) < 0.005]).toEqual([p, true]);
}

/** Everything a restore must keep, per path under `root` + the configured path. */
function snapshot(root: string, tree: string): Snapshot {
  const out: Record<string, string> = {};
  const mtimes: Record<string, number> = {};
  const visit = (rel: string) => {
    const abs = path.join(root, rel);
    const st = fsSync.lstatSync(abs);
    const common = `${st.uid}:${st.gid}`;
    mtimes[rel] = st.mtimeMs;
    if (st.isSymbolicLink()) out[rel] = `link -> ${fsSync.readlinkSync(abs)} ${common}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${(st.mode & 0o7777).toString(8)} ${common}`;
      for (const c of fsSync.readdirSync(abs).sort()) visit(`${rel}/${c}`);
    } else {
      const sha = createHash('sha256').update(fsSync.readFileSync(abs)).digest('hex');
      out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${st.size} ${sha} ${common}`;
    }
  };
  visit(tree.replace(/^\/+/, ''));
  return { entries: out, mtimes };
}

function write(tree: string, rel: string, content: string | Buffer, mode = 0o644): void {
  const abs = path.join(tree, rel);
  fsSync.mkdirSync(path.dirname(abs), { recursive: true });
  fsSync.writeFileSync(abs, content);
  fsSync.chmodSync(abs, mode);
}

/** The first tree: config files, a key, a larger file, a symlink, a nested directory. */
function makeTree(tree: string): void {
  write(tree, 'mysql/my.cnf', '[mysqld]\nport=3306\n', 0o644);
  write(tree, 'mysql/conf.d/server.cnf', '[server]\ninnodb_buffer_pool_size=1G\n', 0o640);
  write(tree, 'mysql/conf.d/old.cnf', 'to be deleted\n');
  write(tree, 'mysql/olddir/x.cnf', 'a directory that goes away\n');
  write(tree, 'keys/tls.key', 'PRIVATE KEY\n', 0o600);
  // Incompressible and larger than a volume part would hold in one piece.
  write(tree, 'blobs/random.bin', randomBytes(6 * 1024 * 1024 + 123));
  fsSync.symlinkSync('my.cnf', path.join(tree, 'mysql/current.cnf'));
  fsSync.mkdirSync(path.join(tree, 'empty'));
  fsSync.chmodSync(path.join(tree, 'empty'), 0o2750);
  if (asRoot) fsSync.chownSync(path.join(tree, 'mysql/conf.d/server.cnf'), 999, 998);
  fsSync.utimesSync(path.join(tree, 'mysql/my.cnf'), 1_600_000_000.123, 1_600_000_000.123);
}

/** The changes between the full and the incremental. */
function changeTree(tree: string): void {
  write(tree, 'mysql/my.cnf', '[mysqld]\nport=3307\nmax_connections=500\n', 0o644);
  write(tree, 'mysql/conf.d/new.cnf', '[client]\n');
  fsSync.rmSync(path.join(tree, 'mysql/conf.d/old.cnf'));
  fsSync.rmSync(path.join(tree, 'mysql/olddir'), { recursive: true });
  fsSync.chmodSync(path.join(tree, 'keys/tls.key'), 0o400);
  if (asRoot) fsSync.chownSync(path.join(tree, 'keys/tls.key'), 1234, 4321);
  fsSync.rmSync(path.join(tree, 'mysql/current.cnf'));
  fsSync.symlinkSync('conf.d/new.cnf', path.join(tree, 'mysql/current.cnf'));
  fsSync.symlinkSync('../keys', path.join(tree, 'mysql/keys-link'));
}

/** The problems a command printed: "backupmate: ..." lines and error-level JSON log lines (info lines go to stderr too). */
function problems(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('backupmate:') || (l.startsWith('{') && (JSON.parse(l) as { level?: string }).level === 'error'));
}

async function backupDirs(work: string, args: string[], env: Record<string, string> = {}): Promise<{ id: string; kind: string }> {
  const r = await backupmate(work, ['backup', '--directories', ...args], env);
  expect({ exit: r.exitCode, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  const end = logLines(r.stdout).find((l) => l.event === 'backup.end')!;
  return { id: end.backupId as string, kind: end.kind as string };
}

async function restoreTo(work: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const target = path.join(await tempDir('bm-dirrestore-'), 'out');
  const r = await backupmate(work, ['restore', ...args, '--target-dir', target], env);
  expect({ exit: r.exitCode, problems: problems(r.stderr) }).toEqual({ exit: 0, problems: [] });
  expect(r.stdout).toMatch(/^restored directory backup \S+ into /);
  return target;
}

interface ListJson {
  backups: { id: string; kind: string; parentId: string | null; fullId: string; status?: string; source?: { type: string } }[];
}

const CASES: Array<{ name: string; store: 'file' | 's3'; env: Record<string, string> }> = [
  { name: 'file store, zstd', store: 'file', env: { COMPRESSION: 'zstd' } },
  { name: 's3rver, gzip, age', store: 's3', env: { COMPRESSION: 'gzip', ENCRYPTION: 'age' } },
];

describe.each(CASES)('directory backups: $name', ({ store: kind, env: extra }) => {
  let work: string;
  let tree: string;
  let storeDir = '';
  const env: Record<string, string> = {};

  beforeAll(async () => {
    tree = path.join(await tempDir('bm-dirtree-'), 'etc');
    makeTree(tree);
    let store: Store;
    if (kind === 'file') {
      storeDir = await tempDir('bm-dirstore-');
      store = { kind: 'file', path: storeDir };
    } else {
      store = { kind: 's3', server: await startS3rver() };
    }
    if (extra.ENCRYPTION === 'age') {
      const keys = await tempDir('bm-dirkeys-');
      const identity = path.join(keys, 'id.txt');
      execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
      env.AGE_RECIPIENTS = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
      env.AGE_IDENTITY_FILE = identity;
    }
    work = await workdir(store, { ...extra, ...env, DIRECTORY_BACKUP_PATHS: tree });
  });

  test('full + incremental restore byte for byte; list, verify and prune treat them as chains', async () => {
    const full = await backupDirs(work, []);
    expect(full.kind).toBe('full');
    const atFull = snapshot('/', tree);

    changeTree(tree);
    const incr = await backupDirs(work, []);
    expect(incr.kind).toBe('incremental');
    const atIncr = snapshot('/', tree);
    expect(atIncr.entries).not.toEqual(atFull.entries);

    // Each backup restores to exactly its own tree: the incremental's without the deleted files.
    const t2 = await restoreTo(work, [incr.id]);
    expectSameTree(snapshot(t2, tree), atIncr);
    expect(fsSync.existsSync(path.join(t2, tree, 'mysql/conf.d/old.cnf'))).toBe(false);
    const t1 = await restoreTo(work, [full.id]);
    expectSameTree(snapshot(t1, tree), atFull);
    // latest --directories picks the newest directory backup.
    const t3 = await restoreTo(work, ['latest', '--directories']);
    expectSameTree(snapshot(t3, tree), atIncr);

    // list --json: the source type next to kind, one chain.
    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as ListJson;
    expect(list.backups.map((b) => [b.id, b.kind, b.source?.type, b.parentId, b.fullId])).toEqual([
      [full.id, 'full', 'directory', null, full.id],
      [incr.id, 'incremental', 'directory', full.id, full.id],
    ]);

    const v = await backupmate(work, ['verify', 'all', '--json']);
    expect({ exit: v.exitCode, problems: problems(v.stderr) }).toEqual({ exit: 0, problems: [] });
    const report = JSON.parse(v.stdout) as { backups: { id: string; status: string }[] };
    expect(report.backups.map((b) => [b.id, b.status])).toEqual([
      [full.id, 'ok'],
      [incr.id, 'ok'],
    ]);

    // A new chain, then prune keeping one chain: the first chain goes whole, the new one stays.
    const full2 = await backupDirs(work, ['--full']);
    const incr2 = await backupDirs(work, ['--incremental']);
    const pruned = await backupmate(work, ['prune'], { RETENTION_FULL_COUNT: '1' });
    expect({ exit: pruned.exitCode, problems: problems(pruned.stderr) }).toEqual({ exit: 0, problems: [] });
    const after = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as ListJson;
    expect(after.backups.map((b) => b.id)).toEqual([full2.id, incr2.id]);
    const t4 = await restoreTo(work, [incr2.id]);
    expectSameTree(snapshot(t4, tree), atIncr);
  });

  test('restores refuse a non-empty target and the database-only modes', async () => {
    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as ListJson;
    const id = list.backups.at(-1)!.id;
    const busy = await tempDir('bm-dirbusy-');
    await fs.writeFile(path.join(busy, 'precious'), 'p');
    const r = await backupmate(work, ['restore', id, '--target-dir', busy]);
    expect(r.exitCode).toBe(73);
    expect(r.stderr).toContain('is not empty');
    expect(await fs.readFile(path.join(busy, 'precious'), 'utf8')).toBe('p');
    const cb = await backupmate(work, ['restore', id, '--copy-back']);
    expect(cb.exitCode).not.toBe(0);
    expect(cb.stderr).toMatch(/--target-dir/);
    // latest without --directories means the newest database backup: there is none, and the message says where to look.
    const db = await backupmate(work, ['restore', 'latest', '--target-dir', path.join(busy, 'new')]);
    expect(db.exitCode).toBe(66);
    expect(db.stderr).toMatch(/directory backup\(s\): restore those with --directories --target-dir DIR/);
  });
});

describe('directory backups: configuration', () => {
  test('a configured path that does not exist fails the backup (exit 74) and leaves nothing valid', async () => {
    const storeDir = await tempDir('bm-dirstore-');
    const work = await workdir({ kind: 'file', path: storeDir }, { DIRECTORY_BACKUP_PATHS: path.join(storeDir, 'missing') });
    const r = await backupmate(work, ['backup', '--directories']);
    expect(r.exitCode).toBe(74);
    expect(r.stderr).toContain('which does not exist');
    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as ListJson;
    expect(list.backups.filter((b) => b.status !== 'incomplete')).toEqual([]);
  });

  test('without DIRECTORY_BACKUP_PATHS, backup --directories is a configuration error (exit 78)', async () => {
    const work = await workdir({ kind: 'file', path: await tempDir('bm-dirstore-') }, {});
    const r = await backupmate(work, ['backup', '--directories']);
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain('DIRECTORY_BACKUP_PATHS');
  });
});

describe('directory backups: the daemon', () => {
  test('DIRECTORY_BACKUP_SCHEDULE runs directory backups, a full then incrementals, without a database', async () => {
    const tree = path.join(await tempDir('bm-dirtree-'), 'etc');
    makeTree(tree);
    const storeDir = await tempDir('bm-dirstore-');
    const store: Store = { kind: 'file', path: storeDir };
    const base = await tempDir('bm-dirdaemon-');
    // No server: the daemon's database schedules are off and nothing answers on DB_SOCKET.
    const noServer = { socket: path.join(base, 'none.sock'), rootPassword: '', datadir: path.join(base, 'data') } as unknown as PrivateServer;
    const d = await startDaemon(noServer, store, {
      FULL_BACKUP_SCHEDULE: 'off',
      INCREMENTAL_BACKUP_SCHEDULE: 'off',
      DIRECTORY_BACKUP_PATHS: tree,
      DIRECTORY_BACKUP_SCHEDULE: '*/2 * * * * *',
      SCHEDULE_TIMEZONE: 'UTC',
    });
    try {
      const ended = (kind: string) => (l: Record<string, unknown>) => l.event === 'backup.end' && l.source === 'directory' && l.kind === kind && l.status === 'succeeded';
      await d.waitForLog(ended('full'), 60_000);
      await d.waitForLog(ended('incremental'), 60_000);
    } finally {
      await d.stop();
    }
    const work = await workdir(store, { DIRECTORY_BACKUP_PATHS: tree });
    const list = JSON.parse((await backupmate(work, ['list', '--json'])).stdout) as ListJson;
    const kinds = list.backups.map((b) => [b.kind, b.source?.type]);
    expect(kinds[0]).toEqual(['full', 'directory']);
    expect(kinds[1]).toEqual(['incremental', 'directory']);
    const t = await restoreTo(work, [list.backups[1].id]);
    expectSameTree(snapshot(t, tree), snapshot('/', tree));
  });
});
