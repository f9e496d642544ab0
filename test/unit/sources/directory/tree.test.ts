/**
 * The directory source's walk -> tar -> extract -> apply chain on a real temp tree (no store, no
 * processes): full + incremental with a change, an addition, a deletion, a mode change, an owner
 * change, a type change and symlinks must restore exactly, and bad tars must be refused.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BackupmateError } from '../../../../src/domain/errors.js';
import { applyChain, putInPlace } from '../../../../src/sources/directory/apply.js';
import { selectStored } from '../../../../src/sources/directory/diff.js';
import { parseDirectoryPayload, relativeName, UNSTABLE_KEY, type DirectoryPayload } from '../../../../src/sources/directory/entries.js';
import { extractTree } from '../../../../src/sources/directory/extract.js';
import { packTree, type PackOptions } from '../../../../src/sources/directory/pack.js';
import { walkPaths } from '../../../../src/sources/directory/walk.js';

let base: string;
let src: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-dirsrc-'));
  src = path.join(base, 'src');
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

const asRoot = process.getuid?.() === 0;

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** One backup: walk, decide against `parent`, pack; returns the payload and the tar bytes. */
async function backup(paths: string[], parent: DirectoryPayload | null, options: PackOptions = {}) {
  const walked = await walkPaths(paths);
  const chosen = selectStored(walked.files, parent?.files ?? null);
  const { stream, done } = packTree(chosen.files, options);
  const bytes = await collect(stream);
  const out = await done;
  const payload = parseDirectoryPayload({ type: 'directory', paths, files: out.files, removed: chosen.removed, unstable: out.unstable });
  return { payload, bytes, out, skipped: walked.skipped };
}

async function restore(members: Array<{ payload: DirectoryPayload; bytes: Buffer }>, target: string): Promise<void> {
  const chain = [];
  for (const [i, m] of members.entries()) {
    const dir = path.join(base, `stage-${i}-${Math.random().toString(36).slice(2)}`);
    fs.mkdirSync(dir);
    await extractTree(Readable.from([m.bytes]), dir, m.payload, `backup ${i}`);
    chain.push({ id: `b${i}`, payload: m.payload, dir });
  }
  await putInPlace(await applyChain(chain), target, members.at(-1)!.payload);
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

/** Everything a restore must keep, per path under `root` + the configured paths. */
function snapshot(root: string, paths: string[]): Snapshot {
  const out: Record<string, string> = {};
  const mtimes: Record<string, number> = {};
  const visit = (rel: string) => {
    const abs = path.join(root, rel);
    const st = fs.lstatSync(abs);
    const common = `${st.uid}:${st.gid}`;
    mtimes[rel] = st.mtimeMs;
    if (st.isSymbolicLink()) out[rel] = `link -> ${fs.readlinkSync(abs)} ${common}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${(st.mode & 0o7777).toString(8)} ${common}`;
      for (const c of fs.readdirSync(abs).sort()) visit(`${rel}/${c}`);
    } else {
      const sha = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
      out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${st.size} ${sha} ${common}`;
    }
  };
  for (const p of paths) visit(relativeName(p));
  return { entries: out, mtimes };
}

function write(rel: string, content: string | Buffer, mode = 0o644): void {
  const abs = path.join(src, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content, { mode });
  fs.chmodSync(abs, mode);
}

function setTimes(rel: string, ms: number): void {
  fs.lutimesSync(path.join(src, rel), ms / 1000, ms / 1000);
}

describe('directory tree round trip', () => {
  it('restores a full and then a full + incremental exactly, deletions included', async () => {
    write('conf/my.cnf', '[mysqld]\nport=3306\n', 0o640);
    write('conf/keep.cnf', 'unchanged\n');
    write('conf/gone.cnf', 'to be deleted\n');
    write('conf/sub/deep.txt', Buffer.alloc(3 * 1024 * 1024 + 17, 7), 0o600);
    write('conf/olddir/x', 'in a directory that goes away\n');
    write('conf/becomes-dir', 'a file now, a directory later\n');
    write('keys/secret.key', 'k3y\n', 0o400);
    fs.symlinkSync('my.cnf', path.join(src, 'conf/link.cnf'));
    fs.symlinkSync('/nonexistent/target', path.join(src, 'conf/dangling'));
    fs.mkdirSync(path.join(src, 'conf/empty'), { mode: 0o750 });
    fs.chmodSync(path.join(src, 'conf/empty'), 0o2750);
    if (asRoot) fs.chownSync(path.join(src, 'conf/my.cnf'), 999, 998);
    const long = `conf/${'n'.repeat(120)}/${'m'.repeat(120)}.txt`;
    write(long, 'a name longer than ustar holds\n');
    setTimes('conf/keep.cnf', 1_600_000_000_123.456);
    setTimes('conf/link.cnf', 1_500_000_000_000);
    setTimes('conf/sub', 1_400_000_000_500);

    const paths = [path.join(src, 'conf'), path.join(src, 'keys')];
    const full = await backup(paths, null);
    expect(full.payload.files.every((f) => f.stored)).toBe(true);
    const atFull = snapshot('/', paths);

    const t1 = path.join(base, 'restore-full');
    await restore([full], t1);
    expectSameTree(snapshot(t1, paths), atFull);

    // Between the backups: change, add, delete (a file and a directory), mode and owner changes,
    // a file that becomes a directory, a symlink retargeted and a new one.
    write('conf/my.cnf', '[mysqld]\nport=3307\nlonger now\n', 0o640);
    write('conf/new.cnf', 'new\n');
    fs.rmSync(path.join(src, 'conf/gone.cnf'));
    fs.rmSync(path.join(src, 'conf/olddir'), { recursive: true });
    fs.chmodSync(path.join(src, 'keys/secret.key'), 0o440);
    if (asRoot) fs.chownSync(path.join(src, 'keys/secret.key'), 1234, 4321);
    fs.rmSync(path.join(src, 'conf/becomes-dir'));
    write('conf/becomes-dir/inside', 'now inside a directory\n');
    fs.rmSync(path.join(src, 'conf/link.cnf'));
    fs.symlinkSync('new.cnf', path.join(src, 'conf/link.cnf'));
    fs.symlinkSync('sub', path.join(src, 'conf/sublink'));
    setTimes('conf/new.cnf', 1_650_000_000_999.5);

    const incr = await backup(paths, full.payload);
    const stored = incr.payload.files.filter((f) => f.stored && f.type !== 'dir').map((f) => f.path).sort();
    expect(stored).toEqual(
      ['conf/becomes-dir/inside', 'conf/link.cnf', 'conf/my.cnf', 'conf/new.cnf', 'conf/sublink', 'keys/secret.key'].map((p) => relativeName(path.join(src, p))).sort(),
    );
    expect(incr.payload.removed.map((p) => p.slice(relativeName(src).length + 1)).sort()).toEqual(['conf/gone.cnf', 'conf/olddir', 'conf/olddir/x']);
    // The incremental's tar is small: the 3 MiB file is not in it.
    expect(incr.bytes.length).toBeLessThan(64 * 1024);
    const atIncr = snapshot('/', paths);

    const t2 = path.join(base, 'restore-incr');
    await restore([full, incr], t2);
    expectSameTree(snapshot(t2, paths), atIncr);

    // A second incremental with nothing changed stores no file content and still restores.
    const incr2 = await backup(paths, incr.payload);
    expect(incr2.out.contentBytes).toBe(0);
    const t3 = path.join(base, 'restore-incr2');
    await restore([full, incr, incr2], t3);
    expectSameTree(snapshot(t3, paths), atIncr);
  });

  it('gives a standard tar: GNU tar lists and extracts it', async () => {
    write('conf/a.cnf', 'hello\n', 0o640);
    fs.symlinkSync('a.cnf', path.join(src, 'conf/l'));
    const paths = [path.join(src, 'conf')];
    const full = await backup(paths, null);
    const out = path.join(base, 'gnu');
    fs.mkdirSync(out);
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-x', '-p', '-C', out], { input: full.bytes });
    const rel = relativeName(path.join(src, 'conf'));
    expect(fs.readFileSync(path.join(out, rel, 'a.cnf'), 'utf8')).toBe('hello\n');
    expect(fs.statSync(path.join(out, rel, 'a.cnf')).mode & 0o777).toBe(0o640);
    expect(fs.readlinkSync(path.join(out, rel, 'l'))).toBe('a.cnf');
  });

  it('refuses a configured path that does not exist', async () => {
    await expect(walkPaths([path.join(base, 'nope')])).rejects.toMatchObject({ code: 'LOCAL_IO', message: expect.stringContaining('which does not exist') });
  });

  it('walks a path inside another configured path once, and skips sockets and FIFOs with a report', async () => {
    write('conf/a', 'a');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(src, 'conf/fifo')]);
    const r = await walkPaths([path.join(src, 'conf'), path.join(src, 'conf'), `${path.join(src, 'conf')}/`]);
    expect(r.files.map((f) => f.path.split('/').pop())).toEqual(['conf', 'a']);
    expect(r.skipped).toEqual([{ path: relativeName(path.join(src, 'conf/fifo')), kind: 'fifo' }]);
  });
});

describe('files that change while they are read', () => {
  it('pads a file that shrank with zeros, keeps the tar valid and marks it unstable', async () => {
    write('conf/busy.log', Buffer.alloc(100_000, 1));
    const paths = [path.join(src, 'conf')];
    const warnings: string[] = [];
    const full = await backup(paths, null, {
      onWarning: (m) => warnings.push(m),
      onOpened: async (abs) => {
        if (abs.endsWith('busy.log')) fs.truncateSync(abs, 10);
      },
    });
    const entry = full.payload.files.find((f) => f.path.endsWith('busy.log'))!;
    expect(entry).toMatchObject({ size: 100_000, key: UNSTABLE_KEY });
    expect(full.payload.unstable).toEqual([entry.path]);
    expect(warnings.join('\n')).toMatch(/shrank while it was read/);
    // The tar is intact: restoring gives the recorded size, 10 bytes of data then zeros.
    const t = path.join(base, 't');
    await restore([full], t);
    const data = fs.readFileSync(path.join(t, entry.path));
    expect(data.length).toBe(100_000);
    expect(data.subarray(0, 10).every((b) => b === 1) && data.subarray(10).every((b) => b === 0)).toBe(true);
    // The next incremental stores it again.
    const incr = await backup(paths, full.payload);
    expect(incr.payload.files.find((f) => f.path === entry.path)?.stored).toBe(true);
  });

  it('stores only the size seen at open of a file that grew, and marks it unstable', async () => {
    write('conf/grow.log', 'start\n');
    const full = await backup([path.join(src, 'conf')], null, {
      onOpened: async (abs) => {
        if (abs.endsWith('grow.log')) fs.appendFileSync(abs, 'more and more\n');
      },
    });
    const entry = full.payload.files.find((f) => f.path.endsWith('grow.log'))!;
    expect(entry).toMatchObject({ size: 6, key: UNSTABLE_KEY });
    const t = path.join(base, 't');
    await restore([full], t);
    expect(fs.readFileSync(path.join(t, entry.path), 'utf8')).toBe('start\n');
  });

  it('drops a file that vanished between the walk and its read', async () => {
    write('conf/a', 'a');
    write('conf/b', 'b');
    const full = await backup([path.join(src, 'conf')], null, {
      onWarning: () => undefined,
      onOpened: async (abs) => {
        if (abs.endsWith('/a')) fs.rmSync(path.join(src, 'conf/b'));
      },
    });
    expect(full.out.vanished).toEqual([relativeName(path.join(src, 'conf/b'))]);
    expect(full.payload.files.map((f) => f.path.split('/').pop())).toEqual(['conf', 'a']);
  });
});

describe('refused tars and targets', () => {
  const paths = ['/etc'];
  const payload = (files: Array<Partial<DirectoryPayload['files'][number]> & { path: string }>): DirectoryPayload =>
    parseDirectoryPayload({
      type: 'directory',
      paths,
      files: files.map((f) => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtimeMs: 0, key: 'k', stored: true, ...f })),
    });

  async function tarOf(entries: Array<{ name: string; type?: 'file' | 'symlink' | 'directory'; data?: string; linkname?: string }>): Promise<Buffer> {
    const pack = tar.pack();
    for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname }, e.data ?? '');
    pack.finalize();
    return collect(Readable.from(pack));
  }

  async function extractError(bytes: Buffer, p: DirectoryPayload): Promise<BackupmateError> {
    const dir = fs.mkdtempSync(path.join(base, 'x-'));
    try {
      await extractTree(Readable.from([bytes]), dir, p, 'backup T');
    } catch (e) {
      expect(fs.existsSync(path.join(base, 'evil'))).toBe(false);
      return e as BackupmateError;
    }
    throw new Error('extract succeeded');
  }

  beforeEach(() => fs.mkdirSync(src, { recursive: true }));

  it.each([
    ['a ".." entry', '../evil', /refused tar entry "..\/evil": a ".." segment/],
    ['an absolute entry', '/evil', /refused tar entry "\/evil": an absolute name/],
    ['an entry the manifest does not list', 'etc/other', /does not list as stored/],
  ])('refuses %s with INTEGRITY', async (_n, name, message) => {
    const err = await extractError(await tarOf([{ name: 'etc', type: 'directory' }, { name, data: 'x' }]), payload([{ path: 'etc', type: 'dir', size: 0 }]));
    expect(err).toMatchObject({ code: 'INTEGRITY' });
    expect(err.message).toMatch(message);
  });

  it('refuses to write through a symlink the tar created', async () => {
    // The tar makes etc/l -> the base dir, then writes etc/l/evil: that would land outside.
    const bytes = await tarOf([
      { name: 'etc', type: 'directory' },
      { name: 'etc/l', type: 'symlink', linkname: base },
      { name: 'etc/l/evil', data: 'x' },
    ]);
    // A payload cannot list etc/l/evil (its parent is a symlink): use one that passes the shape check.
    const p: DirectoryPayload = {
      type: 'directory',
      paths,
      removed: [],
      unstable: [],
      files: [
        { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0, key: 'k', stored: true },
        { path: 'etc/l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtimeMs: 0, key: 'k', stored: true, target: base },
        { path: 'etc/l/evil', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtimeMs: 0, key: 'k', stored: true },
      ],
    };
    const err = await extractError(bytes, p);
    expect(err).toMatchObject({ code: 'INTEGRITY' });
    expect(err.message).toMatch(/etc\/l is not a directory/);
  });

  it('refuses a tar that lacks a stored entry, or holds one with another size', async () => {
    const p = payload([{ path: 'etc', type: 'dir', size: 0 }, { path: 'etc/a', size: 1 }, { path: 'etc/b', size: 1 }]);
    const short = await extractError(await tarOf([{ name: 'etc', type: 'directory' }, { name: 'etc/a', data: 'x' }]), p);
    expect(short.message).toMatch(/ends without 1 stored entries \(first: etc\/b\)/);
    const sized = await extractError(await tarOf([{ name: 'etc', type: 'directory' }, { name: 'etc/a', data: 'xy' }]), p);
    expect(sized.message).toMatch(/etc\/a has 2 bytes in the tar, the manifest says 1/);
  });

  it('never restores into a non-empty target directory', async () => {
    write('conf/a', 'a');
    const full = await backup([path.join(src, 'conf')], null);
    const t = path.join(base, 'busy');
    fs.mkdirSync(t);
    fs.writeFileSync(path.join(t, 'precious'), 'p');
    await expect(restore([full], t)).rejects.toMatchObject({ code: 'TARGET_STATE', message: expect.stringContaining('is not empty (it holds precious)') });
    expect(fs.readFileSync(path.join(t, 'precious'), 'utf8')).toBe('p');
  });

  it('refuses a chain whose incremental does not continue its parent', async () => {
    write('conf/a', 'a');
    const paths2 = [path.join(src, 'conf')];
    const full = await backup(paths2, null);
    write('conf/a', 'changed');
    const other = await backup(paths2, null);
    const incr = await backup(paths2, other.payload);
    await expect(restore([full, incr], path.join(base, 't'))).rejects.toMatchObject({ code: 'INTEGRITY', message: expect.stringContaining('does not continue b0') });
  });
});
