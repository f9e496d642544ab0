import { groupBackupDirs, type StoredObject } from '../../../src/domain/catalog.js';

const o = (key: string, size = 1): StoredObject => ({ key, size });

describe('groupBackupDirs', () => {
  test('groups objects by id, marks the ones with a manifest, sorts by id', () => {
    const objects = [
      o('full/20261122T040000Z/data.00000', 100),
      o('full/20261121T040000Z/data.00000', 10),
      o('full/20261121T040000Z/data.00001', 5),
      o('full/20261121T040000Z/manifest.json', 2),
    ];
    const dirs = groupBackupDirs('full/', 'full', objects);
    expect(dirs).toEqual([
      {
        id: '20261121T040000Z',
        source: 'physical',
        kind: 'full',
        dir: 'full/20261121T040000Z/',
        hasManifest: true,
        objects: [objects[1], objects[2], objects[3]],
      },
      { id: '20261122T040000Z', source: 'physical', kind: 'full', dir: 'full/20261122T040000Z/', hasManifest: false, objects: [objects[0]] },
    ]);
  });

  test('the kind given is recorded on every dir', () => {
    const dirs = groupBackupDirs('inc/', 'incremental', [o('inc/20261121T040000Z/manifest.json')]);
    expect(dirs).toHaveLength(1);
    expect(dirs[0].kind).toBe('incremental');
    expect(dirs[0].hasManifest).toBe(true);
  });

  test('a manifest only counts directly in the backup dir, not deeper or under another name', () => {
    const dirs = groupBackupDirs('full/', 'full', [
      o('full/20261121T040000Z/sub/manifest.json'),
      o('full/20261122T040000Z/manifest.json.partial-abcd1234'),
      o('full/20261123T040000Z/Manifest.json'),
    ]);
    expect(dirs.map((d) => [d.id, d.hasManifest])).toEqual([
      ['20261121T040000Z', false],
      ['20261122T040000Z', false],
      ['20261123T040000Z', false],
    ]);
  });

  test('objects that are not ours are ignored', () => {
    const dirs = groupBackupDirs('full/', 'full', [
      o('other/20261121T040000Z/manifest.json'),
      o('full/README'),
      o('full/20261121T040000Z'),
      o('full/not-an-id/manifest.json'),
      o('full/2026-11-21T04:00:00Z/manifest.json'),
      o('fullx/20261121T040000Z/manifest.json'),
      o('full//manifest.json'),
    ]);
    expect(dirs).toEqual([]);
  });

  test('an empty prefix groups ids at the top level', () => {
    const dirs = groupBackupDirs('', 'full', [o('20261121T040000Z/manifest.json'), o('x/20261121T040000Z/manifest.json')]);
    expect(dirs.map((d) => [d.dir, d.hasManifest])).toEqual([['20261121T040000Z/', true]]);
  });

  test('a deeper prefix works the same', () => {
    const dirs = groupBackupDirs('site/db1/full/', 'full', [
      o('site/db1/full/20261121T040000Z/data.00000'),
      o('site/db2/full/20261121T040000Z/data.00000'),
    ]);
    expect(dirs).toHaveLength(1);
    expect(dirs[0].dir).toBe('site/db1/full/20261121T040000Z/');
  });

  test('no objects, no dirs', () => {
    expect(groupBackupDirs('full/', 'full', [])).toEqual([]);
  });

  test('ids sort in time order whatever the listing order', () => {
    const ids = ['20261121T040000Z', '20251231T235959Z', '20261121T035959Z', '20270101T000000Z'];
    const dirs = groupBackupDirs('full/', 'full', ids.map((id) => o(`full/${id}/data.00000`)));
    expect(dirs.map((d) => d.id)).toEqual([...ids].sort());
  });

  test('does not modify the objects it is given', () => {
    const objects = [o('full/20261121T040000Z/data.00000', 7)];
    const copy = JSON.parse(JSON.stringify(objects));
    groupBackupDirs('full/', 'full', objects);
    expect(objects).toEqual(copy);
  });

  test('a layout row of another source and every kind: the source is recorded, the kind is unknown until the manifest is read', () => {
    const dirs = groupBackupDirs('dirs/', '*', [o('dirs/20261121T040000Z/data.00000')], 'directory');
    expect(dirs.map((d) => [d.source, d.kind])).toEqual([['directory', 'unknown']]);
  });
});
