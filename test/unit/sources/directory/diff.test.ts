import { continuityProblems, diffFileLists, selectStored } from '../../../../src/sources/directory/diff.js';
import type { FileEntry } from '../../../../src/sources/directory/entries.js';

function e(path: string, over: Partial<FileEntry> = {}): FileEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3, mtimeMs: 1000, key: `3:1:1:${path.length}`, stored: false, ...over };
}
const dir = (path: string, over: Partial<FileEntry> = {}) => e(path, { type: 'dir', size: 0, mode: 0o755, ...over });

describe('diffFileLists', () => {
  const parent = [dir('etc'), e('etc/a'), e('etc/b'), e('etc/c'), e('etc/l', { type: 'symlink', size: 0, target: 'a' })];

  it('sorts the tree into added, changed, unchanged and removed', () => {
    const now = [dir('etc'), e('etc/a'), e('etc/b', { key: 'other' }), e('etc/d'), e('etc/l', { type: 'symlink', size: 0, target: 'b' })];
    const d = diffFileLists(parent, now);
    expect(d.added.map((x) => x.path)).toEqual(['etc/d']);
    expect(d.changed.map((x) => x.path)).toEqual(['etc/b', 'etc/l']);
    expect(d.unchanged.map((x) => x.path)).toEqual(['etc', 'etc/a']);
    expect(d.removed).toEqual(['etc/c']);
  });

  it('counts a type change, a mode change and an owner change as changed even with an equal key', () => {
    const now = [dir('etc'), dir('etc/a', { key: parent[1].key }), e('etc/b', { mode: 0o600 }), e('etc/c', { uid: 7 }), parent[4]];
    expect(diffFileLists(parent, now).changed.map((x) => x.path)).toEqual(['etc/a', 'etc/b', 'etc/c']);
  });

  it('sees nothing to do for an identical tree', () => {
    const d = diffFileLists(parent, parent);
    expect([d.added, d.changed, d.removed]).toEqual([[], [], []]);
  });
});

describe('selectStored', () => {
  const parent = [dir('etc'), dir('etc/sub'), e('etc/a'), e('etc/sub/b')];

  it('stores everything in a full', () => {
    const { files, removed } = selectStored(parent, null);
    expect(files.every((f) => f.stored)).toBe(true);
    expect(removed).toEqual([]);
  });

  it('stores changed and new files plus every directory in an incremental, and names the removed', () => {
    const now = [dir('etc'), dir('etc/sub'), e('etc/a', { key: 'new' }), e('etc/n')];
    const { files, removed } = selectStored(now, parent);
    expect(files.filter((f) => f.stored).map((f) => f.path)).toEqual(['etc', 'etc/sub', 'etc/a', 'etc/n']);
    expect(removed).toEqual(['etc/sub/b']);
  });

  it('does not change the caller\'s entries', () => {
    const now = [e('x')];
    selectStored(now, null);
    expect(now[0].stored).toBe(false);
  });
});

describe('continuityProblems', () => {
  const parent = [dir('etc'), e('etc/a'), e('etc/b')];

  it('accepts a child whose unstored entries are the parent\'s', () => {
    const child = [dir('etc', { stored: true }), e('etc/a'), e('etc/b', { key: 'x', stored: true })];
    expect(continuityProblems(parent, child)).toEqual([]);
  });

  it('names an unstored entry the parent does not have, or has in another version', () => {
    const child = [dir('etc', { stored: true }), e('etc/a', { key: 'x' }), e('etc/z')];
    expect(continuityProblems(parent, child)).toEqual(['etc/a is not stored and differs from the parent\'s', 'etc/z is neither stored nor in the parent']);
  });
});
