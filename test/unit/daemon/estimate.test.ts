import type { Manifest } from '../../../src/domain/manifest.js';
import { estimateRaw, progressTotal } from '../../../src/daemon/estimate.js';

const GiB = 1024 ** 3;
const m = (id: string, kind: 'full' | 'incremental', rawBytes: number, fullId = id): Manifest => ({ id, kind, rawBytes, fullId }) as unknown as Manifest;

describe('estimateRaw', () => {
  const full1 = m('20261101T040000Z', 'full', 10 * GiB);
  const full2 = m('20261108T040000Z', 'full', 12 * GiB);
  const inc1a = m('20261102T040000Z', 'incremental', 1 * GiB, full1.id);
  const inc2a = m('20261109T040000Z', 'incremental', 2 * GiB, full2.id);
  const inc2b = m('20261110T040000Z', 'incremental', 3 * GiB, full2.id);

  test('a full: the newest full in the store (whoever took it), whatever the order', () => {
    expect(estimateRaw([full2, inc1a, full1], 'full')).toBe(12 * GiB);
  });
  test('no full in the store: unknown (0)', () => {
    expect(estimateRaw([], 'full')).toBe(0);
  });
  test('an incremental: the newest incremental of its chain', () => {
    expect(estimateRaw([full1, full2, inc1a, inc2b, inc2a], 'incremental', full2.id)).toBe(3 * GiB);
    expect(estimateRaw([full1, full2, inc1a, inc2a, inc2b], 'incremental', full1.id)).toBe(1 * GiB);
  });
  test('the first incremental of a new chain: the newest incremental on any chain', () => {
    const full3 = m('20261115T040000Z', 'full', 13 * GiB);
    expect(estimateRaw([full1, full2, full3, inc1a, inc2a, inc2b], 'incremental', full3.id)).toBe(3 * GiB);
  });
  test('no incremental at all: unknown, not a fraction of the full', () => {
    expect(estimateRaw([full1, full2], 'incremental', full2.id)).toBe(0);
  });
});

describe('progressTotal', () => {
  const pct = (bytes: number, total: number) => Math.floor((bytes * 100) / total);
  test('the estimate while below it', () => {
    expect(progressTotal(1000, 0)).toBe(1000);
    expect(progressTotal(1000, 500)).toBe(1000);
  });
  test('unknown stays unknown', () => {
    expect(progressTotal(0, 500)).toBe(0);
  });
  test('never more than 99% before the end, also once the data outgrew the estimate', () => {
    for (const bytes of [989, 990, 999, 1000, 1001, 5000, 123_456_789, 12 * GiB + 7]) {
      const t = progressTotal(1000, bytes);
      expect(t).toBeGreaterThan(bytes);
      expect(pct(bytes, t)).toBeLessThanOrEqual(99);
    }
    expect(pct(5000, progressTotal(1000, 5000))).toBe(99);
  });
});
