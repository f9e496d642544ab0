import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  backupArgv,
  backupOptionFileText,
  CHECKPOINT_FILES,
  INFO_FILES,
  mbstreamExtractArgv,
  parseBackupInfo,
  parseCheckpoints,
  prepareArgv,
  putBackArgv,
  quoteOptionValue,
  readFirst,
  writeOptionFile,
  type ConnectionSettings,
} from '../../../src/mariadb/mariabackup.js';
import { errorOf } from '../../helpers/errors.js';

/**
 * A port of how MariaDB's mysys (my_default.c, search_default_file_with_buffers) reads one
 * `key=value` line of an option file: strip a trailing # comment outside quotes, trim, remove one
 * pair of matching surrounding quotes, then decode the backslash escapes.
 */
function mysqlOptionLine(line: string): [string, string] {
  // remove_end_comment
  let quote = '';
  let escape = false;
  let cut = line.length;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if ((ch === "'" || ch === '"') && !escape) {
      if (!quote) quote = ch;
      else if (quote === ch) quote = '';
    }
    if (!quote && ch === '#') {
      cut = i;
      break;
    }
    escape = !!quote && ch === '\\' && !escape;
  }
  const text = line.slice(0, cut);
  const eq = text.indexOf('=');
  const key = text.slice(0, eq).trim();
  let value = text.slice(eq + 1).replace(/^\s+/, '').replace(/\s+$/, '');
  if ((value[0] === '"' || value[0] === "'") && value.length > 1 && value[0] === value[value.length - 1]) {
    value = value.slice(1, -1);
  }
  let out = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && i !== value.length - 1) {
      const c = value[++i];
      const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', s: ' ', '"': '"', "'": "'", '\\': '\\' };
      out += c in map ? map[c] : '\\' + c;
    } else {
      out += value[i];
    }
  }
  return [key, out];
}

function parseOptionFile(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('[')) continue;
    const [k, v] = mysqlOptionLine(line);
    m.set(k, v);
  }
  return m;
}

const CONN: ConnectionSettings = { user: 'backup', password: 's3cret', host: '127.0.0.1', port: 3306, socket: '' };

const TRICKY_PASSWORDS = [
  'plain',
  'with space',
  ' leading and trailing ',
  'has#hash',
  '#starts-with-hash',
  'ends-with-backslash\\',
  '\\\\double-backslash',
  'double"quote',
  '"quoted"',
  "single'quote",
  "'single-quoted'",
  'back\\"slash-quote',
  'literal \\n not a newline',
  'tab\there',
  '= equals = ',
  '; semicolon',
  'ünïcödé-密码',
  '"',
  '\\',
  "'",
  'a\\',
];

describe('quoteOptionValue', () => {
  test.each([
    ['simple', '"simple"'],
    ['', '""'],
    ['a b', '"a b"'],
    ['a#b', '"a#b"'],
    ['a"b', '"a\\"b"'],
    ['a\\b', '"a\\\\b"'],
    ['\\"', '"\\\\\\""'],
    ["it's", '"it\'s"'],
  ])('%j -> %s', (input, expected) => {
    expect(quoteOptionValue(input)).toBe(expected);
  });

  test.each(['line\nbreak', 'carriage\rreturn', '\n'])('refuses %j with CONFIG', (v) => {
    const err = errorOf(() => quoteOptionValue(v));
    expect(err.code).toBe('CONFIG');
    expect(err.exitCode).toBe(78);
    expect(err.message).toBe('option values cannot contain line breaks');
  });

  test.each(TRICKY_PASSWORDS)('MariaDB reads %j back unchanged', (pw) => {
    const [key, value] = mysqlOptionLine(`password=${quoteOptionValue(pw)}`);
    expect(key).toBe('password');
    expect(value).toBe(pw);
  });
});

describe('backupOptionFileText', () => {
  test('TCP: a [mariabackup] group with user, password, host and port', () => {
    expect(backupOptionFileText(CONN)).toBe('[mariabackup]\nuser="backup"\npassword="s3cret"\nhost="127.0.0.1"\nport=3306\n');
  });

  test('a socket replaces host and port', () => {
    const text = backupOptionFileText({ ...CONN, socket: '/run/mysqld/mysqld.sock' });
    expect(text).toBe('[mariabackup]\nuser="backup"\npassword="s3cret"\nsocket="/run/mysqld/mysqld.sock"\n');
    expect(text).not.toContain('host=');
    expect(text).not.toContain('port=');
  });

  test('an empty password writes no password line (socket auth)', () => {
    const text = backupOptionFileText({ ...CONN, password: '', socket: '/run/mysqld/mysqld.sock' });
    expect(text).toBe('[mariabackup]\nuser="backup"\nsocket="/run/mysqld/mysqld.sock"\n');
  });

  test.each(TRICKY_PASSWORDS)('password %j survives the option file as MariaDB parses it', (pw) => {
    const text = backupOptionFileText({ ...CONN, password: pw, user: 'we"ird user#1' });
    expect(text.startsWith('[mariabackup]\n')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    const opts = parseOptionFile(text);
    expect(opts.get('password')).toBe(pw);
    expect(opts.get('user')).toBe('we"ird user#1');
    expect(opts.get('host')).toBe('127.0.0.1');
    expect(opts.get('port')).toBe('3306');
  });

  test('a password with a line break is refused with CONFIG and the message does not echo it', () => {
    const err = errorOf(() => backupOptionFileText({ ...CONN, password: 'first\nsecond' }));
    expect(err.code).toBe('CONFIG');
    expect(err.message).not.toContain('first');
  });
});

describe('writeOptionFile', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-optfile-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('writes the text with mode 0600', async () => {
    const file = path.join(tmp, 'backup.cnf');
    const text = backupOptionFileText(CONN);
    await writeOptionFile(file, text);
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  test('refuses to overwrite an existing file', async () => {
    const file = path.join(tmp, 'backup.cnf');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    await expect(writeOptionFile(file, 'new')).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
  });
});

describe('argv builders', () => {
  const args = { optionFile: '/tmp/job/backup.cnf', targetDir: '/tmp/job/scratch', lsnDir: '/tmp/job/lsn', parallel: 4 };

  test('backupArgv: --defaults-file first, then the streaming backup options', () => {
    expect(backupArgv(args)).toEqual([
      '--defaults-file=/tmp/job/backup.cnf',
      '--backup',
      '--stream=xbstream',
      '--target-dir=/tmp/job/scratch',
      '--extra-lsndir=/tmp/job/lsn',
      '--parallel=4',
    ]);
  });

  test('backupArgv with an incremental LSN appends it and keeps --defaults-file first', () => {
    const argv = backupArgv({ ...args, incrementalLsn: '18446744073709551615' });
    expect(argv[0]).toBe('--defaults-file=/tmp/job/backup.cnf');
    expect(argv[argv.length - 1]).toBe('--incremental-lsn=18446744073709551615');
    expect(argv.filter((a) => a.startsWith('--defaults-file') || a === '--no-defaults')).toHaveLength(1);
  });

  test('no argv ever carries the password or the user', () => {
    const secret = 'Sup3r "secret" pass#word\\';
    const text = backupOptionFileText({ ...CONN, password: secret });
    expect(text).toContain('password=');
    const all = [
      ...backupArgv(args),
      ...backupArgv({ ...args, incrementalLsn: '1' }),
      ...prepareArgv('/t'),
      ...prepareArgv('/t', '/i'),
      ...prepareArgv('/t', '/i', 1024 ** 3),
      ...putBackArgv('copy-back', '/t', '/var/lib/mysql'),
      ...putBackArgv('move-back', '/t', '/var/lib/mysql'),
      ...putBackArgv('copy-back', '/t', '/var/lib/mysql', 4),
      ...mbstreamExtractArgv('/t'),
    ];
    for (const a of all) {
      expect(a).not.toContain(secret);
      expect(a).not.toContain('s3cret');
      expect(a).not.toMatch(/password|--user|--host|--port|--socket/);
    }
  });

  test('prepareArgv: --no-defaults first', () => {
    expect(prepareArgv('/staging/full')).toEqual(['--no-defaults', '--prepare', '--target-dir=/staging/full']);
    expect(prepareArgv('/staging/full', '/staging/inc1')).toEqual([
      '--no-defaults',
      '--prepare',
      '--target-dir=/staging/full',
      '--incremental-dir=/staging/inc1',
    ]);
  });

  test('prepareArgv: --use-memory after the first argument, whole MiB as M, else bytes', () => {
    expect(prepareArgv('/staging/full', undefined, 1024 ** 3)).toEqual(['--no-defaults', '--prepare', '--target-dir=/staging/full', '--use-memory=1024M']);
    expect(prepareArgv('/staging/full', '/staging/inc1', 16 * 1024 ** 2)).toEqual([
      '--no-defaults',
      '--prepare',
      '--target-dir=/staging/full',
      '--incremental-dir=/staging/inc1',
      '--use-memory=16M',
    ]);
    expect(prepareArgv('/s', undefined, 20_000_000)).toContain('--use-memory=20000000');
    for (const argv of [prepareArgv('/s', undefined, 1024 ** 3), prepareArgv('/s', '/i', 1024 ** 3)]) {
      expect(argv[0]).toBe('--no-defaults');
      expect(argv.filter((a) => a.startsWith('--defaults') || a === '--no-defaults')).toHaveLength(1);
    }
    expect(() => prepareArgv('/s', undefined, 0)).toThrow('--use-memory');
    expect(() => prepareArgv('/s', undefined, 1.5)).toThrow('--use-memory');
  });

  test('putBackArgv: --parallel when given, after the first argument', () => {
    expect(putBackArgv('copy-back', '/staging/full', '/var/lib/mysql', 4)).toEqual([
      '--no-defaults',
      '--copy-back',
      '--target-dir=/staging/full',
      '--datadir=/var/lib/mysql',
      '--parallel=4',
    ]);
    expect(putBackArgv('move-back', '/s', '/d', 2)).toEqual(['--no-defaults', '--move-back', '--target-dir=/s', '--datadir=/d', '--parallel=2']);
  });

  test('putBackArgv: --no-defaults first, then the mode', () => {
    expect(putBackArgv('copy-back', '/staging/full', '/var/lib/mysql')).toEqual([
      '--no-defaults',
      '--copy-back',
      '--target-dir=/staging/full',
      '--datadir=/var/lib/mysql',
    ]);
    expect(putBackArgv('move-back', '/s', '/d')[0]).toBe('--no-defaults');
    expect(putBackArgv('move-back', '/s', '/d')[1]).toBe('--move-back');
  });

  test('mbstreamExtractArgv extracts into the directory', () => {
    expect(mbstreamExtractArgv('/staging/full')).toEqual(['-x', '-C', '/staging/full']);
  });

  test('paths with spaces stay one argument each', () => {
    const argv = backupArgv({ ...args, targetDir: '/tmp/my job/scratch' });
    expect(argv).toContain('--target-dir=/tmp/my job/scratch');
    expect(argv).toHaveLength(6);
  });
});

describe('parseCheckpoints', () => {
  const FULL = ['backup_type = full-backuped', 'from_lsn = 0', 'to_lsn = 45678', 'last_lsn = 45690', 'recover_binlog_info = 0', ''].join('\n');

  test('reads a full backup checkpoints file', () => {
    expect(parseCheckpoints(FULL)).toEqual({ backupType: 'full-backuped', fromLsn: '0', toLsn: '45678', lastLsn: '45690' });
  });

  test('keeps 64-bit LSNs exact as text', () => {
    const cp = parseCheckpoints('backup_type = incremental\nfrom_lsn = 18446744073709551000\nto_lsn = 18446744073709551615\nlast_lsn = 18446744073709551615\n');
    expect(cp).toEqual({
      backupType: 'incremental',
      fromLsn: '18446744073709551000',
      toLsn: '18446744073709551615',
      lastLsn: '18446744073709551615',
    });
  });

  test('tolerates CRLF, missing spaces and unknown keys', () => {
    const cp = parseCheckpoints('backup_type=log-applied\r\nfrom_lsn=0\r\nto_lsn=100\r\nlast_lsn=101\r\nflushed_lsn=100\r\n');
    expect(cp).toEqual({ backupType: 'log-applied', fromLsn: '0', toLsn: '100', lastLsn: '101' });
  });

  test.each(['backup_type', 'from_lsn', 'to_lsn', 'last_lsn'])('a missing %s is TOOL_FAILED naming the key', (key) => {
    const text = FULL.split('\n')
      .filter((l) => !l.startsWith(key + ' '))
      .join('\n');
    const err = errorOf(() => parseCheckpoints(text));
    expect(err.code).toBe('TOOL_FAILED');
    expect(err.message).toBe(`mariabackup checkpoints file lacks "${key}"`);
  });

  test('an empty file lacks backup_type first', () => {
    const err = errorOf(() => parseCheckpoints(''));
    expect(err.message).toBe('mariabackup checkpoints file lacks "backup_type"');
  });
});

describe('parseBackupInfo', () => {
  const info = (binlogPos: string | null) =>
    [
      'uuid = 1b4e28ba-2fa1-11d2-883f-0016d3cca427',
      'name = ',
      'tool_name = mariabackup',
      'tool_command = --defaults-file=/tmp/job/backup.cnf --backup --stream=xbstream',
      'tool_version = 10.11.19-MariaDB',
      'ibbackup_version = 10.11.19-MariaDB',
      'server_version = 10.11.19-MariaDB-log',
      'start_time = 2026-11-21 04:00:00',
      'end_time = 2026-11-21 04:10:00',
      'lock_time = 0',
      ...(binlogPos === null ? [] : [`binlog_pos = ${binlogPos}`]),
      'innodb_from_lsn = 0',
      'innodb_to_lsn = 45678',
      'partial = N',
      'incremental = N',
      'format = xbstream',
      'compressed = N',
      '',
    ].join('\n');

  test('with a GTID', () => {
    expect(parseBackupInfo(info("filename 'mysql-bin.000002', position '342', GTID of the last change '0-1-2'"))).toEqual({
      serverVersion: '10.11.19-MariaDB-log',
      toolVersion: '10.11.19-MariaDB',
      binlog: { file: 'mysql-bin.000002', position: 342, gtid: '0-1-2' },
    });
  });

  test('with a multi-domain GTID', () => {
    const r = parseBackupInfo(info("filename 'binlog.000117', position '4', GTID of the last change '0-1-100,1-2-7'"));
    expect(r.binlog).toEqual({ file: 'binlog.000117', position: 4, gtid: '0-1-100,1-2-7' });
  });

  test('without a GTID', () => {
    expect(parseBackupInfo(info("filename 'mysql-bin.000002', position '342'")).binlog).toEqual({
      file: 'mysql-bin.000002',
      position: 342,
      gtid: null,
    });
  });

  test('with an empty GTID', () => {
    expect(parseBackupInfo(info("filename 'mysql-bin.000009', position '1234', GTID of the last change ''")).binlog).toEqual({
      file: 'mysql-bin.000009',
      position: 1234,
      gtid: null,
    });
  });

  test('no binlog_pos (binary log off): binlog is null, versions are still read', () => {
    expect(parseBackupInfo(info(null))).toEqual({ serverVersion: '10.11.19-MariaDB-log', toolVersion: '10.11.19-MariaDB', binlog: null });
  });

  test('an unrecognised binlog_pos gives a null binlog rather than a guess', () => {
    expect(parseBackupInfo(info('mysql-bin.000002:342')).binlog).toBeNull();
  });

  test('an empty file gives nulls', () => {
    expect(parseBackupInfo('')).toEqual({ serverVersion: null, toolVersion: null, binlog: null });
  });

  test('values containing "=" are kept whole', () => {
    const r = parseBackupInfo('server_version = 10.11.19-MariaDB=custom\ntool_version=x\n');
    expect(r.serverVersion).toBe('10.11.19-MariaDB=custom');
    expect(r.toolVersion).toBe('x');
  });
});

describe('readFirst', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-readfirst-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the accepted names, old and new', () => {
    expect(CHECKPOINT_FILES).toEqual(['xtrabackup_checkpoints', 'mariadb_backup_checkpoints']);
    expect(INFO_FILES).toEqual(['xtrabackup_info', 'mariadb_backup_info']);
  });

  test('reads the first name that exists', async () => {
    fs.writeFileSync(path.join(tmp, 'mariadb_backup_checkpoints'), 'new');
    expect(await readFirst(tmp, CHECKPOINT_FILES)).toEqual({ name: 'mariadb_backup_checkpoints', text: 'new' });
    fs.writeFileSync(path.join(tmp, 'xtrabackup_checkpoints'), 'old');
    expect(await readFirst(tmp, CHECKPOINT_FILES)).toEqual({ name: 'xtrabackup_checkpoints', text: 'old' });
  });

  test('null when none exists, also for a missing directory', async () => {
    expect(await readFirst(tmp, CHECKPOINT_FILES)).toBeNull();
    expect(await readFirst(path.join(tmp, 'nope'), CHECKPOINT_FILES)).toBeNull();
    expect(await readFirst(tmp, [])).toBeNull();
  });

  test('an empty file is read, not skipped', async () => {
    fs.writeFileSync(path.join(tmp, 'xtrabackup_info'), '');
    expect(await readFirst(tmp, INFO_FILES)).toEqual({ name: 'xtrabackup_info', text: '' });
  });

  test('errors other than "missing" are not hidden', async () => {
    fs.mkdirSync(path.join(tmp, 'xtrabackup_checkpoints'));
    fs.writeFileSync(path.join(tmp, 'mariadb_backup_checkpoints'), 'new');
    await expect(readFirst(tmp, CHECKPOINT_FILES)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
