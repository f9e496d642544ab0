/** `backupmate list`'s table shows whether a backup is encrypted and whether its manifest has a MAC (issue 11 item 17). */
import { upgradeLegacy, type LegacyManifest, type Manifest } from '../../../src/domain/manifest.js';
import { renderCatalog } from '../../../src/cli/format.js';
import { catalogJson, type Catalog } from '../../../src/storage/catalog.js';
import { chainStatuses } from '../../../src/storage/chain-status.js';

const MiB = 1024 * 1024;

function manifest(id: string, extra: Partial<Manifest> = {}): Manifest {
  return {
    ...upgradeLegacy({
    format: 'backupmate/2',
    id,
    kind: 'full',
    parentId: null,
    fullId: id,
    lsn: { from: '0', to: '200', last: '200' },
    binlog: null,
    versions: { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB', backupmate: '0.1.0' },
    host: 'db1',
    compression: { algorithm: 'zstd', level: 3 },
    encryption: null,
    container: { format: 'tar', chunkSize: 4 * MiB },
    volumes: [{ name: 'data.00000', size: 1034, sha256: 'a'.repeat(64) }],
    rawBytes: 4096,
    storedBytes: 1034,
    startedAt: '2026-11-21T04:00:00.000Z',
    finishedAt: '2026-11-21T04:10:00.000Z',
    durationMs: 600_000,
    } as LegacyManifest),
    ...extra,
  };
}

test('ENCRYPTED and MAC columns, from each manifest', () => {
  const plain = manifest('20261120T040000Z');
  const sealed = manifest('20261121T040000Z', {
    encryption: { type: 'age', recipients: ['age1aaa', 'age1bbb'] },
    mac: { alg: 'HMAC-SHA256', value: 'f'.repeat(64) } as unknown as Manifest['mac'],
  });
  const dir = (m: Manifest) => ({ id: m.id, source: 'physical', kind: m.kind, dir: `full/${m.id}/`, hasManifest: true, objects: [] });
  const catalog: Catalog = {
    backups: [plain, sealed].map((m) => ({ dir: dir(m), manifest: m })),
    incomplete: [{ ...dir(manifest('20261122T040000Z')), hasManifest: false, objects: [{ key: 'full/20261122T040000Z/data.00000', size: MiB }] }],
    broken: [],
  };
  const lines = renderCatalog(catalog).split('\n');
  expect(lines[0]).toMatch(/^ID +SOURCE +KIND +STATUS +PARENT +STORED +RAW +DURATION +FROM_LSN +TO_LSN +ENCRYPTED +MAC +FINISHED$/);
  expect(lines[1]).toMatch(/^20261120T040000Z +physical +full +ok .* 200 +no +no +2026-11-21T04:10:00.000Z$/);
  expect(lines[2]).toMatch(/^20261121T040000Z +physical +full +ok .* 200 +age \(2 keys\) +yes +2026-11-21T04:10:00.000Z$/);
  expect(lines[3]).toMatch(/^20261122T040000Z +physical +full +incomplete +- +1\.0 MiB( +-){7}$/);
});

describe('a member of a broken chain is not "ok" (list)', () => {
  const F = '20261120T040000Z';
  const I1 = '20261120T050000Z';
  const I2 = '20261120T060000Z';
  const I3 = '20261120T070000Z';
  const inc = (id: string, parentId: string, from: string, to: string): Manifest => {
    const m = manifest(id, { kind: 'incremental', parentId, fullId: F });
    return { ...m, source: { ...m.source, lsn: { from, to, last: to } } as unknown as Manifest['source'] };
  };
  const dir = (m: Manifest) => ({ id: m.id, source: 'physical', kind: m.kind, dir: `x/${m.id}/`, hasManifest: true, objects: [] });
  const cat = (ms: Manifest[], incomplete: string[] = []): Catalog => ({
    backups: ms.map((m) => ({ dir: dir(m), manifest: m })),
    incomplete: incomplete.map((id) => ({ id, source: 'physical', kind: 'incremental', dir: `x/${id}/`, hasManifest: false, objects: [] })),
    broken: [],
  });

  test('an intact chain: every member ok', () => {
    const s = chainStatuses(cat([manifest(F), inc(I1, F, '200', '300'), inc(I2, I1, '300', '400')]));
    expect([...s.values()]).toEqual(['ok', 'ok', 'ok']);
  });

  test('a missing (incomplete) parent breaks its child and every backup after it, in the table and the JSON', () => {
    const c = cat([manifest(F), inc(I2, I1, '300', '400'), inc(I3, I2, '400', '500')], [I1]);
    const s = chainStatuses(c);
    expect(s.get(F)).toBe('ok');
    expect(s.get(I2)).toBe(`broken chain: parent ${I1} is incomplete (no manifest)`);
    expect(s.get(I3)).toBe(`broken chain: parent ${I1} is incomplete (no manifest)`);
    expect(renderCatalog(c)).toContain(`broken chain: parent ${I1} is incomplete`);
    const json = catalogJson(c) as { backups: { id: string; status: string }[] };
    expect(json.backups.map((b) => b.status)).toEqual(['ok', s.get(I2), s.get(I3)]);
  });

  test('an LSN gap breaks the link (physical continuity)', () => {
    const s = chainStatuses(cat([manifest(F), inc(I1, F, '250', '300'), inc(I2, I1, '300', '400')]));
    expect(s.get(I1)).toMatch(/^broken chain: backup 20261120T050000Z starts at LSN 250 but its parent 20261120T040000Z ends at LSN 200/);
    expect(s.get(I2)).toBe(s.get(I1));
  });
});
