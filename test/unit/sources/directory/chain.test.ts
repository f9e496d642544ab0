import { BackupmateError } from '../../../../src/domain/errors.js';
import { directoryChainRules, directoryRestoreChain, planDirectoryBackup, type DirectoryManifest } from '../../../../src/sources/directory/chain.js';
import type { FileEntry } from '../../../../src/sources/directory/entries.js';

const PATHS = ['/etc/mysql'];
function f(path: string, key: string, stored: boolean): FileEntry {
  return { path, type: path === 'etc/mysql' ? 'dir' : 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtimeMs: 0, key, stored };
}
function m(id: string, kind: 'full' | 'incremental', parentId: string | null, fullId: string, files: FileEntry[], paths = PATHS): DirectoryManifest {
  return {
    format: 'backupmate/3',
    id,
    kind,
    parentId,
    fullId,
    source: { type: 'directory', paths, files, removed: [], unstable: [] },
    host: 'h',
    versions: { backupmate: '0' },
    startedAt: '',
    finishedAt: '',
    durationMs: 0,
    rawBytes: 1,
    storedBytes: 1,
    compression: { algorithm: 'none', level: null },
    encryption: null,
    container: { format: 'tar', chunkSize: 1 },
    volumes: [],
  };
}

const full = m('20261201T000000Z', 'full', null, '20261201T000000Z', [f('etc/mysql', 'd', true), f('etc/mysql/a', 'a1', true), f('etc/mysql/b', 'b1', true)]);
const inc1 = m('20261202T000000Z', 'incremental', full.id, full.id, [f('etc/mysql', 'd', true), f('etc/mysql/a', 'a2', true), f('etc/mysql/b', 'b1', false)]);
const inc2 = m('20261203T000000Z', 'incremental', inc1.id, full.id, [f('etc/mysql', 'd', true), f('etc/mysql/a', 'a2', false)]);

function error(fn: () => unknown): BackupmateError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    return e as BackupmateError;
  }
  throw new Error('expected a throw');
}

describe('directory chain rules', () => {
  it('orders a restore chain full first', () => {
    expect(directoryRestoreChain(inc2, [inc2, full, inc1], []).map((x) => x.id)).toEqual([full.id, inc1.id, inc2.id]);
    expect(directoryRestoreChain(full, [full], []).map((x) => x.id)).toEqual([full.id]);
    expect(directoryChainRules.hasParent('incremental')).toBe(true);
    expect(directoryChainRules.hasParent('full')).toBe(false);
  });

  it('names a missing or incomplete parent', () => {
    expect(error(() => directoryRestoreChain(inc2, [full, inc2], [])).message).toBe(`cannot restore ${inc2.id}: backup ${inc2.id} needs its parent ${inc1.id}, which is missing from the store`);
    const e = error(() => directoryRestoreChain(inc2, [full, inc2], [inc1.id]));
    expect(e.code).toBe('INTEGRITY');
    expect(e.message).toContain('which is incomplete');
  });

  it('refuses a link whose unstored files are another version than the parent\'s, or whose paths differ', () => {
    const bad = m('20261202T000000Z', 'incremental', full.id, full.id, [f('etc/mysql', 'd', true), f('etc/mysql/a', 'OTHER', false)]);
    expect(directoryChainRules.continuity(full, bad)).toEqual([`backup ${bad.id} relies on files its parent ${full.id} does not hold: etc/mysql/a is not stored and differs from the parent's`]);
    const other = m('20261202T000000Z', 'incremental', full.id, full.id, inc1.source.files, ['/etc/mysql', '/etc/x']);
    expect(directoryChainRules.continuity(full, other)[0]).toContain('keeps /etc/mysql,/etc/x but its parent');
    expect(directoryChainRules.continuity(full, inc1)).toEqual([]);
  });
});

describe('planDirectoryBackup', () => {
  const base = { paths: PATHS, maxChainLength: 30, incompleteIds: [] as string[] };

  it('takes a full when there is none, and refuses a requested incremental then', () => {
    expect(planDirectoryBackup({ ...base, requested: 'auto', valid: [] })).toEqual({ kind: 'full', reason: 'no valid directory backup in the store' });
    const e = error(() => planDirectoryBackup({ ...base, requested: 'incremental', valid: [] }));
    expect(e.code).toBe('BACKUP_NOT_FOUND');
    expect(e.message).toContain('take a full one (backup --directories --full)');
  });

  it('chains onto the newest backup', () => {
    const p = planDirectoryBackup({ ...base, requested: 'auto', valid: [full, inc1] });
    expect(p).toMatchObject({ kind: 'incremental', chainLength: 2 });
    expect(p.kind === 'incremental' && [p.parent.id, p.full.id]).toEqual([inc1.id, full.id]);
  });

  it('takes a full when the paths changed', () => {
    const p = planDirectoryBackup({ ...base, paths: ['/etc/mysql', '/etc/new'], requested: 'auto', valid: [full] });
    expect(p.kind).toBe('full');
    expect(p.reason).toContain('DIRECTORY_BACKUP_PATHS is /etc/mysql,/etc/new but the newest directory backup');
    expect(error(() => planDirectoryBackup({ ...base, paths: ['/x'], requested: 'incremental', valid: [full] })).code).toBe('BACKUP_NOT_FOUND');
  });

  it('takes a full at MAX_CHAIN_LENGTH unless an incremental is requested', () => {
    expect(planDirectoryBackup({ ...base, maxChainLength: 2, requested: 'auto', valid: [full, inc1, inc2] }).reason).toContain('has 2 incrementals (MAX_CHAIN_LENGTH=2)');
    expect(planDirectoryBackup({ ...base, maxChainLength: 2, requested: 'incremental', valid: [full, inc1, inc2] }).kind).toBe('incremental');
  });

  it('takes a full when the newest backup is not restorable', () => {
    const p = planDirectoryBackup({ ...base, requested: 'auto', valid: [full, inc2], incompleteIds: [inc1.id] });
    expect(p.kind).toBe('full');
    expect(p.reason).toContain('is not restorable (backup');
    expect(error(() => planDirectoryBackup({ ...base, requested: 'incremental', valid: [full, inc2] })).code).toBe('INTEGRITY');
  });

  it('always honours a requested full', () => {
    expect(planDirectoryBackup({ ...base, requested: 'full', valid: [full, inc1] })).toEqual({ kind: 'full', reason: 'requested' });
  });
});
