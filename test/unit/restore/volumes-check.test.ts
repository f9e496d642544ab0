/** The restore's pre-download check of every volume (HEAD), with a fake store. */
import { BackupmateError } from '../../../src/domain/errors.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import type { CatalogEntry } from '../../../src/storage/catalog.js';
import { checkVolumes } from '../../../src/restore/job.js';

/** A catalog entry with just what the check reads: the backup's dir, id and volumes. */
function entry(id: string, volumes: { name: string; size: number }[]): CatalogEntry {
  return {
    dir: { id, source: 'physical', kind: 'full', dir: `p/${id}/`, hasManifest: true, objects: [] },
    manifest: { id, volumes } as unknown as Manifest,
  };
}

const CHAIN = [
  entry('F', [
    { name: 'data.00000', size: 10 },
    { name: 'data.00001', size: 11 },
  ]),
  entry('I1', [{ name: 'data.00000', size: 12 }]),
  entry('I2', [
    { name: 'data.00000', size: 13 },
    { name: 'data.00001', size: 14 },
    { name: 'data.00002', size: 15 },
  ]),
];

/** A store whose HEAD answers from `sizes` after `delay(key)` ms, counting requests in flight. */
function store(sizes: Record<string, number | Error>, delay: (key: string) => number = () => 1) {
  let inFlight = 0;
  const s = {
    description: 'the test store',
    maxInFlight: 0,
    heads: [] as string[],
    async head(key: string): Promise<{ size: number } | null> {
      s.heads.push(key);
      s.maxInFlight = Math.max(s.maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, delay(key)));
      inFlight--;
      const v = sizes[key];
      if (v instanceof Error) throw v;
      return v === undefined ? null : { size: v };
    },
  };
  return s;
}

const ALL = { 'p/F/data.00000': 10, 'p/F/data.00001': 11, 'p/I1/data.00000': 12, 'p/I2/data.00000': 13, 'p/I2/data.00001': 14, 'p/I2/data.00002': 15 };

describe('checkVolumes', () => {
  test('every volume present with its size: resolves after one HEAD each, bounded', async () => {
    const s = store(ALL);
    await checkVolumes(s, CHAIN, 2);
    expect([...s.heads].sort()).toEqual(Object.keys(ALL).sort());
    expect(s.maxInFlight).toBe(2);
  });

  test('the first problem in chain order is reported, whichever answered first, with the same messages as before', async () => {
    const { 'p/I1/data.00000': _gone, ...rest } = ALL;
    // I2's wrong size answers first; I1's missing volume comes earlier in the chain.
    const s = store({ ...rest, 'p/I2/data.00001': 99 }, (k) => (k.startsWith('p/I2/') ? 0 : 20));
    const err = await checkVolumes(s, CHAIN, 8).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('INTEGRITY');
    expect((err as BackupmateError).message).toBe('backup I1: volume p/I1/data.00000 is missing from the test store');
    expect((err as BackupmateError).details['key']).toBe('p/I1/data.00000');
    // All requests settled before the verdict.
    expect(s.heads).toHaveLength(6);
  });

  test('a size mismatch names both sizes', async () => {
    const s = store({ ...ALL, 'p/F/data.00001': 5 });
    await expect(checkVolumes(s, CHAIN)).rejects.toThrow('backup F: volume p/F/data.00001 has 5 bytes, the manifest says 11');
  });

  test("the store's own error comes through when it is the first problem", async () => {
    const down = new BackupmateError('STORAGE', 'the store could not be reached');
    const s = store({ ...ALL, 'p/F/data.00000': down, 'p/I2/data.00002': 1 });
    await expect(checkVolumes(s, CHAIN)).rejects.toBe(down);
  });
});
