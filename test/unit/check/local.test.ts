/** The local checks' decisions over a scripted probe (no file is touched, no program run). */
import { checkReadableFile, checkTool, checkWritableDir, localChecks, toolsFor, versionFrom, type LocalProbe, type PathKind, type ToolRun } from '../../../src/check/local.js';
import { checkError, privilegeCheck, spaceCheck, versionCheck } from '../../../src/check/check.js';
import type { Config } from '../../../src/config/load.js';

function probe(paths: Record<string, PathKind>, opts: { unwritable?: string[]; unreadable?: string[]; tools?: Record<string, ToolRun> } = {}): LocalProbe {
  return {
    user: 'uid 998',
    kind: (p) => paths[p] ?? 'missing',
    can: (p, what) => !(what === 'write' ? opts.unwritable ?? [] : opts.unreadable ?? []).includes(p),
    run: async (file) => opts.tools?.[file] ?? { ok: false, missing: true, output: '', reason: 'ENOENT' },
    freeBytes: () => 1024,
  };
}

describe('checkWritableDir: decided from the path or its nearest existing parent, nothing created', () => {
  test('an existing writable directory is fine', () => {
    expect(checkWritableDir('LOCAL_TEMP_DIR', '/var/tmp/bm', probe({ '/var/tmp/bm': 'dir' }))).toMatchObject({ ok: true, text: 'LOCAL_TEMP_DIR /var/tmp/bm is a writable directory' });
  });
  test('a path below a file cannot be created, and the message names the file', () => {
    expect(checkWritableDir('LOCAL_TEMP_DIR', '/etc/passwd/x', probe({ '/etc/passwd': 'file', '/etc': 'dir', '/': 'dir' }))).toEqual({
      key: 'LOCAL_TEMP_DIR',
      ok: false,
      code: 'CONFIG',
      text: 'LOCAL_TEMP_DIR /etc/passwd/x cannot be created: /etc/passwd is not a directory',
    });
  });
  test('a missing directory is judged by the nearest existing parent', () => {
    const p = probe({ '/var': 'dir', '/': 'dir' }, { unwritable: ['/var'] });
    expect(checkWritableDir('STATE_DIR', '/var/lib/backupmate', p).text).toBe('STATE_DIR /var/lib/backupmate cannot be created: /var is not writable by uid 998');
    expect(checkWritableDir('STATE_DIR', '/var/lib/backupmate', probe({ '/var': 'dir' })).text).toBe('STATE_DIR /var/lib/backupmate does not exist yet and can be created in /var');
  });
  test('an existing directory that is not writable, and a file where a directory should be', () => {
    expect(checkWritableDir('STORAGE_PATH', '/srv/b', probe({ '/srv/b': 'dir' }, { unwritable: ['/srv/b'] })).text).toBe('STORAGE_PATH /srv/b is not writable by uid 998');
    expect(checkWritableDir('STORAGE_PATH', '/srv/b', probe({ '/srv/b': 'file' })).text).toBe('STORAGE_PATH /srv/b is not a directory');
  });
  test('a parent the user may not even look into', () => {
    expect(checkWritableDir('STATE_DIR', '/root/x/y', probe({ '/root/x': 'inaccessible' })).text).toBe('STATE_DIR /root/x/y cannot be created: permission denied on /root/x (for uid 998)');
  });
});

describe('checkReadableFile', () => {
  test.each([
    [{}, [], 'AGE_IDENTITY_FILE /k cannot be read: no such file', false],
    [{ '/k': 'dir' }, [], 'AGE_IDENTITY_FILE /k cannot be read: it is a directory', false],
    [{ '/k': 'file' }, ['/k'], 'AGE_IDENTITY_FILE /k cannot be read: permission denied (for uid 998)', false],
    [{ '/k': 'file' }, [], 'AGE_IDENTITY_FILE /k is readable', true],
  ] as [Record<string, PathKind>, string[], string, boolean][])('%j unreadable %j: %s', (paths, unreadable, text, ok) => {
    expect(checkReadableFile('AGE_IDENTITY_FILE', '/k', probe(paths, { unreadable }))).toMatchObject({ ok, text });
  });
});

describe('tools', () => {
  const base = { MARIADB_BACKUP_PATH: 'mariabackup', MBSTREAM_PATH: 'mbstream', COMPRESSION: 'zstd', ENCRYPTION: 'none' } as const;
  test('the programs follow the configuration', () => {
    expect(toolsFor(base).map((t) => t.file)).toEqual(['mariabackup', 'mbstream', 'mariadb', 'zstd']);
    expect(toolsFor({ ...base, COMPRESSION: 'none', ENCRYPTION: 'age' }).map((t) => t.file)).toEqual(['mariabackup', 'mbstream', 'mariadb', 'age']);
    expect(toolsFor({ ...base, COMPRESSION: 'gzip' }).map((t) => t.file)).toContain('gzip');
  });
  test.each([
    ['mariabackup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu (x86_64)', '10.11.19-MariaDB'],
    ['mariadb  Ver 15.1 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)', '10.11.19-MariaDB'],
    ['*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***', '1.5.4'],
    ['gzip 1.12\nCopyright', '1.12'],
    ['v1.1.1', '1.1.1'],
    ['mbstream  Ver 1.0 for debian-linux-gnu (x86_64)', '1.0'],
  ])('versionFrom(%j) = %s', (out, v) => expect(versionFrom(out)).toBe(v));
  test('a missing program names the key and the package', async () => {
    const [t] = toolsFor({ ...base, MARIADB_BACKUP_PATH: '/opt/mb' });
    expect(await checkTool(t!, probe({}))).toMatchObject({
      ok: false,
      key: 'MARIADB_BACKUP_PATH',
      text: 'MARIADB_BACKUP_PATH: MARIADB_BACKUP_PATH=/opt/mb needs /opt/mb, which is not installed or not on PATH (Debian package mariadb-backup)',
    });
  });
  test('a program that fails says how', async () => {
    const t = toolsFor({ ...base, ENCRYPTION: 'age' }).find((x) => x.file === 'age')!;
    const r = await checkTool(t, probe({}, { tools: { age: { ok: false, missing: false, output: '', reason: 'exit 1' } } }));
    expect(r.text).toBe('ENCRYPTION: ENCRYPTION=age: "age --version" failed: exit 1');
  });
});

describe('localChecks', () => {
  const c = {
    LOCAL_TEMP_DIR: '/t',
    STATE_DIR: '/s',
    STORAGE: 'file',
    STORAGE_PATH: '/b',
    LOG_FILE: '/l/x.log',
    CONTROL_SOCKET: '/r/bm.sock',
    AGE_IDENTITY_FILE: '/id',
    ENCRYPTION: 'age',
    AGE_RECIPIENTS: '/rcpt',
    MARIADB_BACKUP_PATH: 'mariabackup',
    MBSTREAM_PATH: 'mbstream',
    COMPRESSION: 'zstd',
  } as unknown as Config;
  test('checks every path key, the files and the programs, in order', async () => {
    const good: ToolRun = { ok: true, missing: false, output: 'v1.2.3', reason: '' };
    const p = probe(
      { '/t': 'dir', '/s': 'dir', '/b': 'dir', '/l': 'dir', '/r': 'dir', '/id': 'file', '/rcpt': 'file' },
      { tools: { mariabackup: good, mbstream: good, mariadb: good, zstd: good, age: good } },
    );
    const r = await localChecks(c, p);
    expect(r.map((x) => [x.key, x.ok])).toEqual([
      ['LOCAL_TEMP_DIR', true],
      ['STATE_DIR', true],
      ['STORAGE_PATH', true],
      ['LOG_FILE', true],
      ['CONTROL_SOCKET', true],
      ['AGE_IDENTITY_FILE', true],
      ['AGE_RECIPIENTS', true],
      ['MARIADB_BACKUP_PATH', true],
      ['MBSTREAM_PATH', true],
      ['DB_USER', true],
      ['COMPRESSION', true],
      ['ENCRYPTION', true],
    ]);
    expect(r[3]!.text).toBe('LOG_FILE /l/x.log: directory /l is a writable directory');
  });
});

describe('check decisions', () => {
  test('versions: major.minor must match', () => {
    expect(versionCheck('10.11.19-MariaDB-log', '10.11.19-MariaDB', 'mariabackup')).toMatchObject({ ok: true });
    expect(versionCheck('11.4.3-MariaDB', '10.11.19-MariaDB', 'mariabackup')).toMatchObject({ ok: false, code: 'TOOL_MISSING' });
  });
  test('privileges: the missing ones and the GRANT with the user name', () => {
    expect(privilegeCheck('bk', "GRANT SELECT ON *.* TO `bk`@`localhost`")).toMatchObject({
      ok: false,
      code: 'CONFIG',
      text: 'the backup user bk (DB_USER) lacks RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR: run GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO bk',
    });
    expect(privilegeCheck('bk', 'GRANT ALL PRIVILEGES ON *.* TO `bk`@`localhost`').ok).toBe(true);
  });
  test('free space against the newest chain', () => {
    expect(spaceCheck('/t', '/t', 100, 200)).toMatchObject({ ok: false, code: 'LOCAL_IO' });
    expect(spaceCheck('/t', '/t', 300, 200).ok).toBe(true);
    expect(spaceCheck('/t/x', '/t', 300, null).text).toBe('LOCAL_TEMP_DIR /t/x (measured at /t, which exists): 300 B free; no backup in the store yet to compare with');
  });
  test('the exit status is the first failure\'s', () => {
    const e = checkError([
      { key: 'A', ok: true, text: 'fine', code: 'CONFIG' },
      { key: 'S', ok: false, text: 'store down', code: 'STORAGE' },
      { key: 'T', ok: false, text: 'tmp bad', code: 'CONFIG' },
    ]);
    expect(e?.exitCode).toBe(76);
    expect(e?.message).toBe('check: 2 of 3 checks failed; the first: store down');
    expect(checkError([{ key: 'A', ok: true, text: 'fine', code: 'CONFIG' }])).toBeNull();
  });
});
