import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRestoreMarker, readRestoreMarker, RESTORE_MARKER_NAME, serializeRestoreMarker, writeRestoreMarker } from '../../../src/mariadb/restore-marker.js';

const M = { restoredBackupId: '20261121T040000Z', restoredAt: '2026-11-22T03:10:00.000Z', toLsn: '69032247', host: 'db1' };

describe('parseRestoreMarker', () => {
  test('round trips', () => {
    expect(parseRestoreMarker(serializeRestoreMarker(M))).toEqual(M);
  });

  test.each([
    ['not JSON', '{', /^not valid JSON/],
    ['a bad id', JSON.stringify({ ...M, restoredBackupId: 'x' }), /^expected \{restoredBackupId: a backup id/],
    ['a bad time', JSON.stringify({ ...M, restoredAt: 'yesterday' }), /^expected/],
    ['a numeric LSN', JSON.stringify({ ...M, toLsn: 5 }), /^expected/],
  ])('%s is a problem, not a marker', (_n, text, problem) => {
    const r = parseRestoreMarker(text);
    expect('problem' in r && r.problem).toMatch(problem);
  });
});

describe('writeRestoreMarker / readRestoreMarker', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-marker-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('no marker: null; a written one reads back, replacing an older one, with nothing else left', async () => {
    expect(await readRestoreMarker(dir)).toBeNull();
    expect(await readRestoreMarker(path.join(dir, 'missing'))).toBeNull();
    await writeRestoreMarker(dir, { ...M, toLsn: '1' });
    const file = await writeRestoreMarker(dir, M);
    expect(file).toBe(path.join(dir, RESTORE_MARKER_NAME));
    expect(await readRestoreMarker(dir)).toEqual(M);
    expect(await fs.readdir(dir)).toEqual([RESTORE_MARKER_NAME]);
  });

  test("the marker gets the datadir's owner and group", async () => {
    const st = await fs.stat(dir);
    const f = await fs.stat(await writeRestoreMarker(dir, M));
    expect([f.uid, f.gid]).toEqual([st.uid, st.gid]);
    if (process.getuid?.() === 0) {
      await fs.chown(dir, 65534, 65534);
      const g = await fs.stat(await writeRestoreMarker(dir, M));
      expect([g.uid, g.gid]).toEqual([65534, 65534]);
    }
  });

  test('a malformed marker is a problem naming the file', async () => {
    await fs.writeFile(path.join(dir, RESTORE_MARKER_NAME), 'garbage');
    const r = await readRestoreMarker(dir);
    expect(r && 'problem' in r && r.problem).toMatch(new RegExp(`^${path.join(dir, RESTORE_MARKER_NAME)} is malformed: not valid JSON`));
  });
});
