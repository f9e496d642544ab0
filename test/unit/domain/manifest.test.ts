import { BackupmateError } from '../../../src/domain/errors.js';
import {
  containerLayout,
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  parseManifest,
  serializeManifest,
  sha256sums,
  upgradeLegacy,
  volumeName,
  type LegacyManifest,
  type Manifest,
} from '../../../src/domain/manifest.js';
import { parsePhysicalPayload } from '../../../src/sources/physical/payload.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = '0123456789abcdef'.repeat(4);
/** Real age X25519 public keys (age-keygen), and a private key that must never pass as one. */
const AGE_KEY_A = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const AGE_KEY_B = 'age15s8y3tcfjqzv6cfehya97256ar8875jgpac5lkrg4an2s8y3yausj6mxpc';
const AGE_SECRET = 'AGE-SECRET-KEY-1' + 'Q'.repeat(58);

/** A backupmate/2 manifest as the pre-envelope build wrote it (read by the legacy reader). */
function validManifest(): LegacyManifest {
  return {
    format: 'backupmate/2',
    id: '20261121T040000Z',
    kind: 'full',
    parentId: null,
    fullId: '20261121T040000Z',
    lsn: { from: '0', to: '18446744073709551615', last: '18446744073709551615' },
    binlog: { file: 'mysql-bin.000002', position: 342, gtid: '0-1-2' },
    versions: { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB', backupmate: '0.1.0' },
    host: 'db1',
    compression: { algorithm: 'zstd', level: 3 },
    encryption: null,
    container: { format: 'tar', chunkSize: 4 * 1024 * 1024 },
    volumes: [
      { name: 'data.00000', size: 1024, sha256: SHA_A },
      { name: 'data.00001', size: 10, sha256: SHA_B },
    ],
    rawBytes: 4096,
    storedBytes: 1034,
    startedAt: '2026-11-21T04:00:00.000Z',
    finishedAt: '2026-11-21T04:10:00.000Z',
    durationMs: 600_000,
  };
}

/** The manifest as JSON text after `edit` changed its plain-object form. */
function textWith(edit: (m: Record<string, unknown>) => void): string {
  const m = JSON.parse(JSON.stringify(validManifest())) as Record<string, unknown>;
  edit(m);
  return JSON.stringify(m);
}

function parseError(text: string, where = 'full/20261121T040000Z/manifest.json'): BackupmateError {
  try {
    parseManifest(text, where);
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    const err = e as BackupmateError;
    expect(err.code).toBe('INTEGRITY');
    expect(err.exitCode).toBe(65);
    return err;
  }
  throw new Error('expected parseManifest to throw');
}

describe('constants and names', () => {
  test('manifest name and format', () => {
    expect(MANIFEST_NAME).toBe('manifest.json');
    expect(MANIFEST_FORMAT).toBe('backupmate/3');
  });

  test('backupmate/1 manifests (container layout 1) are still read', () => {
    expect(containerLayout({ format: 'backupmate/1' })).toBe(1);
    expect(containerLayout({ format: 'backupmate/2' })).toBe(2);
    expect(containerLayout({ format: 'backupmate/3' })).toBe(2);
  });

  test('volume names are zero-padded to five digits and sort as text', () => {
    expect(volumeName(0)).toBe('data.00000');
    expect(volumeName(7)).toBe('data.00007');
    expect(volumeName(12345)).toBe('data.12345');
    const names = [0, 1, 9, 10, 99, 100, 9999, 10000].map(volumeName);
    expect([...names].sort()).toEqual(names);
  });
});

const legacyText = (m: LegacyManifest) => JSON.stringify(m, null, 2) + '\n';

describe('serializeManifest / parseManifest', () => {
  test('a backupmate/2 manifest reads as the envelope, its physical facts in the payload, every field kept', () => {
    const m = validManifest();
    const got = parseManifest(legacyText(m), 'x');
    expect(got).toEqual(upgradeLegacy(m));
    expect(got.source).toEqual({
      type: 'physical',
      lsn: m.lsn,
      binlog: m.binlog,
      versions: { server: m.versions.server, mariabackup: m.versions.mariabackup },
    });
    expect(got.versions).toEqual({ backupmate: m.versions.backupmate });
    expect(got.format).toBe('backupmate/2');
    expect(parsePhysicalPayload(got.source)).toBe(got.source);
  });

  test('a backupmate/3 manifest round trips; text is indented JSON ending in a newline', () => {
    const m = upgradeLegacy(validManifest());
    const v3: Manifest = { ...m, format: MANIFEST_FORMAT };
    const text = serializeManifest(v3);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\n  "id": "20261121T040000Z",\n');
    expect(parseManifest(text, 'x')).toEqual(v3);
    expect(JSON.parse(text).source.type).toBe('physical');
  });

  test('backupmate/3: the envelope names what it misses; the payload is its source\'s to check', () => {
    const v3 = { ...upgradeLegacy(validManifest()), format: MANIFEST_FORMAT } as Record<string, unknown>;
    const err = parseError(JSON.stringify({ ...v3, source: { lsn: {} }, versions: {}, parentId: 7, kind: 'Full' }), 'm.json');
    expect(err.message).toBe(
      'manifest m.json is malformed: expected kind: a lower-case word; parentId null or a backup id; source: an object with a type; versions.backupmate',
    );
    // Another source's payload is not judged here.
    expect(parseManifest(JSON.stringify({ ...v3, source: { type: 'toy', anything: 1 } }), 'x').source).toEqual({ type: 'toy', anything: 1 });
    expect(() => parsePhysicalPayload({ type: 'physical', lsn: { from: '1' }, binlog: null, versions: {} }, 'manifest m.json')).toThrow(
      'manifest m.json is malformed: expected source.lsn.from/to/last as decimal strings; source.versions.server and .mariabackup as strings',
    );
  });

  test('an incremental with null binlog and compression none round trips', () => {
    const m: LegacyManifest = {
      ...validManifest(),
      kind: 'incremental',
      parentId: '20261120T040000Z',
      fullId: '20261119T040000Z',
      binlog: null,
      compression: { algorithm: 'none', level: null },
    };
    expect(parseManifest(legacyText(m), 'x')).toEqual(upgradeLegacy(m));
  });

  test('an age-encrypted manifest round trips with its recipients', () => {
    const m: LegacyManifest = { ...validManifest(), encryption: { type: 'age', recipients: [AGE_KEY_A, AGE_KEY_B] } };
    expect(parseManifest(legacyText(m), 'x')).toEqual(upgradeLegacy(m));
  });

  test('LSNs above 2^53 survive as decimal strings', () => {
    const m = parseManifest(legacyText(validManifest()), 'x');
    expect((m.source as unknown as LegacyManifest).lsn.to).toBe('18446744073709551615');
  });

  test('text that is not JSON is INTEGRITY naming the object', () => {
    const err = parseError('{"format": "backupmate/1",', 'full/20261121T040000Z/manifest.json');
    expect(err.message).toMatch(/^manifest full\/20261121T040000Z\/manifest\.json is not valid JSON: /);
  });

  test.each(['null', '42', '"text"', 'true'])('JSON %s is not an object', (text) => {
    const err = parseError(text, 'm.json');
    expect(err.message).toBe('manifest m.json is malformed: expected an object');
  });

  test('an empty object lists every missing part in one message', () => {
    const err = parseError('{}', 'm.json');
    expect(err.message).toBe(
      'manifest m.json is malformed: expected ' +
        [
          'format "backupmate/1" or "backupmate/2" or "backupmate/3" (got undefined)',
          'id like 20261121T040000Z',
          'kind: a lower-case word',
          'fullId',
          'compression.algorithm zstd|gzip|none',
          'encryption null or {type "age", recipients: a non-empty list of age1... public keys}',
          'volumes: a non-empty list of {name, size > 0, sha256}',
          'rawBytes > 0',
        ].join('; '),
    );
  });

  test.each<[string, (m: Record<string, unknown>) => void, string]>([
    ['a future format', (m) => (m.format = 'backupmate/4'), 'format "backupmate/1" or "backupmate/2" or "backupmate/3" (got "backupmate/4")'],
    ['an id that is not an id', (m) => (m.id = '2026-11-21T04:00:00Z'), 'id like 20261121T040000Z'],
    ['a numeric id', (m) => (m.id = 20261121), 'id like 20261121T040000Z'],
    ['an unknown kind', (m) => (m.kind = 'differential'), 'kind full|incremental'],
    ['a missing fullId', (m) => delete m.fullId, 'fullId'],
    ['a numeric LSN', (m) => ((m.lsn as Record<string, unknown>).to = 12345), 'lsn.from/to/last as decimal strings'],
    ['a negative LSN', (m) => ((m.lsn as Record<string, unknown>).from = '-1'), 'lsn.from/to/last as decimal strings'],
    ['a missing last LSN', (m) => delete (m.lsn as Record<string, unknown>).last, 'lsn.from/to/last as decimal strings'],
    ['no lsn', (m) => (m.lsn = null), 'lsn.from/to/last as decimal strings'],
    ['an unknown compression', (m) => (m.compression = { algorithm: 'lz4', level: 1 }), 'compression.algorithm zstd|gzip|none'],
    ['no compression', (m) => delete m.compression, 'compression.algorithm zstd|gzip|none'],
    ['an unknown encryption', (m) => (m.encryption = { algorithm: 'aes' }), 'encryption null or {type "age", recipients: a non-empty list of age1... public keys}'],
    ['missing encryption', (m) => delete m.encryption, 'encryption null or {type "age", recipients: a non-empty list of age1... public keys}'],
    ['age without recipients', (m) => (m.encryption = { type: 'age', recipients: [] }), 'encryption null or {type "age", recipients: a non-empty list of age1... public keys}'],
    ['age with a private key as recipient', (m) => (m.encryption = { type: 'age', recipients: [AGE_SECRET] }), 'encryption null or {type "age", recipients: a non-empty list of age1... public keys}'],
    ['age with a mistyped recipient', (m) => (m.encryption = { type: 'age', recipients: [AGE_KEY_A.slice(0, -1) + 'q'] }), 'encryption null or {type "age", recipients: a non-empty list of age1... public keys}'],
    ['age with recipients as text', (m) => (m.encryption = { type: 'age', recipients: AGE_KEY_A }), 'encryption null or {type "age", recipients: a non-empty list of age1... public keys}'],
    ['no volumes', (m) => (m.volumes = []), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['volumes not a list', (m) => (m.volumes = { name: 'data.00000' }), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['a zero-size volume', (m) => ((m.volumes as Record<string, unknown>[])[1].size = 0), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['a fractional size', (m) => ((m.volumes as Record<string, unknown>[])[0].size = 1.5), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['a size as text', (m) => ((m.volumes as Record<string, unknown>[])[0].size = '1024'), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['an uppercase sha256', (m) => ((m.volumes as Record<string, unknown>[])[0].sha256 = 'A'.repeat(64)), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['a short sha256', (m) => ((m.volumes as Record<string, unknown>[])[0].sha256 = 'a'.repeat(63)), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['a volume name with a slash', (m) => ((m.volumes as Record<string, unknown>[])[0].name = '../data.00000'), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['a volume name with a space', (m) => ((m.volumes as Record<string, unknown>[])[0].name = 'data 0'), 'volumes: a non-empty list of {name, size > 0, sha256}'],
    ['rawBytes zero', (m) => (m.rawBytes = 0), 'rawBytes > 0'],
    ['rawBytes as text', (m) => (m.rawBytes = '4096'), 'rawBytes > 0'],
    ['rawBytes beyond 2^53', (m) => (m.rawBytes = 2 ** 53), 'rawBytes > 0'],
  ])('refuses %s', (_what, edit, expected) => {
    const err = parseError(textWith(edit), 'm.json');
    expect(err.message).toBe(`manifest m.json is malformed: expected ${expected}`);
  });

  test('several problems are all named, separated by "; "', () => {
    const err = parseError(
      textWith((m) => {
        m.kind = 'weekly';
        m.rawBytes = -1;
      }),
      'm.json',
    );
    expect(err.message).toBe('manifest m.json is malformed: expected kind full|incremental; rawBytes > 0');
  });

  test('unknown extra fields are tolerated', () => {
    const m = parseManifest(textWith((m) => (m.comment = 'added by a newer minor version')), 'x');
    expect(m.id).toBe('20261121T040000Z');
  });

  // BUG (src/domain/manifest.ts, parseManifest, the `vols.every(...)` check): an element of
  // `volumes` that is null (or not an object) is dereferenced (`r.name`) and throws a TypeError
  // ("Cannot read properties of null") instead of the INTEGRITY error every other malformation
  // gets; the CLI then reports an INTERNAL bug (exit 70) for a damaged manifest.
  test('a null volume entry is INTEGRITY, not a TypeError', () => {
    const err = parseError(textWith((m) => ((m.volumes as unknown[])[1] = null)), 'm.json');
    expect(err.message).toBe('manifest m.json is malformed: expected volumes: a non-empty list of {name, size > 0, sha256}');
  });
  // BUG (src/domain/manifest.ts, parseManifest, volume name regex /^[\w.-]+$/): "." and ".." match,
  // so a manifest naming a volume ".." passes validation; restore then asks the store for
  // `<dir>..`, which checkKey refuses with INTERNAL ("invalid storage key") instead of the
  // manifest being refused up front with INTEGRITY.
  test.each(['.', '..'])('a volume named %j is refused', (name) => {
    const err = parseError(textWith((m) => ((m.volumes as Record<string, unknown>[])[0].name = name)), 'm.json');
    expect(err.message).toBe('manifest m.json is malformed: expected volumes: a non-empty list of {name, size > 0, sha256}');
  });
});

describe('sha256sums', () => {
  test('one "<sha256>  <name>" line per volume, in order, as sha256sum -c expects', () => {
    expect(sha256sums(upgradeLegacy(validManifest()))).toBe(`${SHA_A}  data.00000\n${SHA_B}  data.00001\n`);
  });
});

describe('the server identity (backupmate/2 manifest.server, now source.server)', () => {
  test('round trips; manifests without it (older versions) still parse', () => {
    const m: LegacyManifest = { ...validManifest(), server: { host: 'db1', datadir: '/var/lib/mysql', serverId: 1 } };
    expect(parseManifest(legacyText(m), 'x')).toEqual(upgradeLegacy(m));
    expect((parseManifest(legacyText(m), 'x').source as { server?: unknown }).server).toEqual(m.server);
    expect((parseManifest(legacyText(validManifest()), 'x').source as { server?: unknown }).server).toBeUndefined();
  });

  test.each([
    ['null', null],
    ['a string', 'db1'],
    ['without serverId', { host: 'db1', datadir: '/d' }],
    ['a negative serverId', { host: 'db1', datadir: '/d', serverId: -1 }],
    ['an empty datadir', { host: 'db1', datadir: '', serverId: 1 }],
  ])('%s is refused, saying what was expected', (_name, server) => {
    const text = JSON.stringify({ ...validManifest(), server });
    let err: unknown;
    try {
      parseManifest(text, 'm.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).message).toBe('manifest m.json is malformed: expected server absent or {host, datadir: non-empty strings, serverId: an integer >= 0}');
  });
});
