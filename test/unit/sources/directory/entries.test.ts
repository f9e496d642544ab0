import { BackupmateError } from '../../../../src/domain/errors.js';
import { checkedEntryName, entryNameProblem, joinInside, parseDirectoryPayload } from '../../../../src/sources/directory/entries.js';

describe('entry names', () => {
  it.each([
    ['etc/mysql/my.cnf', undefined],
    ['etc/..hidden', undefined],
    ['', 'an empty name'],
    ['/etc/passwd', 'an absolute name'],
    ['etc/../../root', 'a ".." segment'],
    ['..', 'a ".." segment'],
    ['etc//x', 'an empty or "." segment'],
    ['./etc', 'an empty or "." segment'],
    ['etc/\0x', 'a name with a NUL byte'],
  ])('%j -> %s', (name, problem) => {
    expect(entryNameProblem(name)).toBe(problem);
  });

  it('strips a directory\'s trailing slash and refuses traversal with INTEGRITY', () => {
    expect(checkedEntryName('etc/mysql/', 'backup X')).toBe('etc/mysql');
    expect(() => checkedEntryName('../evil', 'backup X')).toThrow(BackupmateError);
    expect(() => checkedEntryName('../evil', 'backup X')).toThrow(/backup X: refused tar entry "..\/evil": a ".." segment/);
  });

  it('joins inside a root only', () => {
    expect(joinInside('/tmp/r', 'etc/a')).toBe('/tmp/r/etc/a');
    expect(() => joinInside('/tmp/r', '../r2/x')).toThrow(/refused path/);
  });
});

describe('parseDirectoryPayload', () => {
  const good = {
    type: 'directory',
    paths: ['/etc/mysql'],
    files: [
      { path: 'etc/mysql/my.cnf', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 5, mtimeMs: 1.5, key: 'k', stored: true },
      { path: 'etc/mysql', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 1, key: 'k', stored: true },
      { path: 'etc/mysql/l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtimeMs: 1, key: 'k', stored: false, target: 'my.cnf' },
    ],
  };

  it('accepts a well-formed payload and sorts its files parents first', () => {
    const p = parseDirectoryPayload(good);
    expect(p.files.map((f) => f.path)).toEqual(['etc/mysql', 'etc/mysql/l', 'etc/mysql/my.cnf']);
    expect(p.removed).toEqual([]);
    expect(p.files[1].target).toBe('my.cnf');
  });

  const broken: Array<[string, (p: typeof good) => unknown, RegExp]> = [
    ['wrong type', (p) => ({ ...p, type: 'physical' }), /expected type "directory"/],
    ['relative path', (p) => ({ ...p, paths: ['etc'] }), /absolute paths/],
    ['traversal', (p) => ({ ...p, files: [...p.files, { ...p.files[0], path: 'etc/mysql/../../x' }] }), /not a safe relative path/],
    ['outside', (p) => ({ ...p, files: [...p.files, { ...p.files[0], path: 'root/x' }] }), /outside the configured paths/],
    ['twice', (p) => ({ ...p, files: [...p.files, p.files[0]] }), /listed twice/],
    ['no parent', (p) => ({ ...p, files: [...p.files, { ...p.files[0], path: 'etc/mysql/sub/x' }] }), /parent etc\/mysql\/sub is not a listed directory/],
    ['parent is a symlink', (p) => ({ ...p, files: [...p.files, { ...p.files[0], path: 'etc/mysql/l/x' }] }), /parent etc\/mysql\/l is not a listed directory/],
    ['symlink without target', (p) => ({ ...p, files: [{ ...p.files[2], target: undefined }, p.files[1]] }), /needs a target/],
    ['negative mode', (p) => ({ ...p, files: [{ ...p.files[0], mode: -1 }, p.files[1]] }), /mode must be/],
  ];
  it.each(broken)('refuses %s with INTEGRITY', (_name, change, message) => {
    let err: unknown;
    try {
      parseDirectoryPayload(change(good));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('INTEGRITY');
    expect((err as Error).message).toMatch(message);
  });
});
