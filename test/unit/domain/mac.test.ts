import { createHmac } from 'node:crypto';
import { BackupmateError } from '../../../src/domain/errors.js';
import { authenticateManifest, canonicalJson, computeManifestMac, manifestCanonicalForm, signManifest } from '../../../src/domain/mac.js';
import { MANIFEST_FORMAT, parseManifest, serializeManifest, type Manifest } from '../../../src/domain/manifest.js';

const KEY = '0123456789abcdef'.repeat(4);
const OTHER_KEY = 'fedcba9876543210'.repeat(4);

function manifest(): Manifest {
  return {
    format: MANIFEST_FORMAT,
    id: '20261121T040000Z',
    kind: 'incremental',
    parentId: '20261120T040000Z',
    fullId: '20261120T040000Z',
    source: {
      type: 'physical',
      lsn: { from: '1000', to: '2000', last: '2000' },
      binlog: { file: 'mysql-bin.000002', position: 342, gtid: null },
      versions: { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB' },
    } as Manifest['source'],
    versions: { backupmate: '0.1.0' },
    host: 'db1',
    compression: { algorithm: 'zstd', level: 3 },
    encryption: null,
    container: { format: 'tar', chunkSize: 4 * 1024 * 1024 },
    volumes: [{ name: 'data.00000', size: 1024, sha256: 'a'.repeat(64) }],
    rawBytes: 4096,
    storedBytes: 1024,
    startedAt: '2026-11-21T04:00:00.000Z',
    finishedAt: '2026-11-21T04:10:00.000Z',
    durationMs: 600_000,
  };
}

/** Sign, write and read back as a restore would: the text is what the store holds. */
function roundTrip(m: Manifest, edit?: (raw: Record<string, any>) => void): Manifest {
  const raw = JSON.parse(serializeManifest(m)) as Record<string, any>;
  edit?.(raw);
  return parseManifest(JSON.stringify(raw, null, 2), 'x/manifest.json');
}

function integrityError(f: () => unknown): BackupmateError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    expect((e as BackupmateError).code).toBe('INTEGRITY');
    expect((e as BackupmateError).exitCode).toBe(65);
    return e as BackupmateError;
  }
  throw new Error('expected an INTEGRITY error');
}

describe('canonicalJson', () => {
  test('sorts keys at every level, keeps array order, no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  test('is independent of insertion order and of formatting', () => {
    const a = { x: 1, y: { p: true, q: null } };
    const b = JSON.parse('{ "y": { "q": null, "p": true },\n  "x": 1 }');
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  test('writes values as JSON.stringify does (escapes, numbers, null) and leaves out undefined members', () => {
    expect(canonicalJson({ s: 'ä"\\\n', n: -1.5e-7, big: 2 ** 53 - 1, u: undefined, arr: [undefined, 1] })).toBe(
      `{"arr":[null,1],"big":9007199254740991,"n":-1.5e-7,"s":${JSON.stringify('ä"\\\n')}}`,
    );
    expect(canonicalJson('x')).toBe('"x"');
    expect(canonicalJson(null)).toBe('null');
  });

  test('sorts keys by code units, like Array.prototype.sort', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4, '10': 5, '9': 6 })).toBe('{"10":5,"9":6,"B":2,"_":4,"a":3,"b":1}');
  });
});

describe('manifest MAC', () => {
  test('is HMAC-SHA256 (hex) under the key text of the canonical form without the mac field', () => {
    const m = manifest();
    const expected = createHmac('sha256', KEY).update(canonicalJson(m)).digest('hex');
    expect(computeManifestMac(m, KEY)).toBe(expected);
    const signed = signManifest(m, KEY);
    expect(signed.mac).toEqual({ alg: 'hmac-sha256', value: expected });
    expect(manifestCanonicalForm(signed)).toBe(canonicalJson(m));
    // The MAC is the last field written, the rest as before.
    expect(Object.keys(JSON.parse(serializeManifest(signed))).at(-1)).toBe('mac');
  });

  test('signing again replaces the MAC (another key, another value)', () => {
    const once = signManifest(manifest(), KEY);
    const again = signManifest(once, OTHER_KEY);
    expect(again.mac!.value).toBe(computeManifestMac(manifest(), OTHER_KEY));
  });

  test('a signed manifest read back from the store is authentic', () => {
    const m = roundTrip(signManifest(manifest(), KEY));
    expect(authenticateManifest(m, KEY)).toEqual({ state: 'authentic' });
  });

  test('reformatting or reordering the JSON keeps it authentic', () => {
    const signed = signManifest(manifest(), KEY);
    const reordered: Record<string, unknown> = {};
    for (const k of Object.keys(signed).reverse()) reordered[k] = (signed as unknown as Record<string, unknown>)[k];
    const m = parseManifest(JSON.stringify(reordered), 'x');
    expect(authenticateManifest(m, KEY).state).toBe('authentic');
  });

  test.each([
    ['source.lsn.to', (r: Record<string, any>) => (r.source.lsn.to = '2001')],
    ['source.type', (r: Record<string, any>) => (r.source.type = 'directory')],
    ['rawBytes', (r: Record<string, any>) => (r.rawBytes += 1)],
    ['a volume sha256', (r: Record<string, any>) => (r.volumes[0].sha256 = 'b'.repeat(64))],
    ['parentId', (r: Record<string, any>) => (r.parentId = '20261119T040000Z')],
    ['encryption dropped', (r: Record<string, any>) => (r.encryption = null, (r.host = 'db2'))],
    ['a field added', (r: Record<string, any>) => (r.note = 'hello')],
    ['the MAC itself', (r: Record<string, any>) => (r.mac.value = r.mac.value.replace(/^./, (c: string) => (c === '0' ? '1' : '0')))],
    ['the MAC algorithm', (r: Record<string, any>) => (r.mac.alg = 'hmac-sha1')],
    ['the MAC value not hex', (r: Record<string, any>) => (r.mac.value = 'zz')],
  ])('one change (%s) makes it not authentic, naming the backup', (_what, edit) => {
    const m = roundTrip(signManifest(manifest(), KEY), edit);
    const err = integrityError(() => authenticateManifest(m, KEY));
    expect(err.message).toBe(
      'manifest of backup 20261121T040000Z is not authentic (MAC mismatch): it was changed after it was written, or MANIFEST_HMAC_KEY differs',
    );
  });

  test('another key: not authentic', () => {
    const m = roundTrip(signManifest(manifest(), KEY));
    expect(integrityError(() => authenticateManifest(m, OTHER_KEY)).details).toMatchObject({ backupId: '20261121T040000Z', mac: 'mismatch' });
  });

  test('with a key set, a manifest without MAC is refused, saying how to use it anyway', () => {
    const err = integrityError(() => authenticateManifest(roundTrip(manifest()), KEY));
    expect(err.message).toContain('manifest of backup 20261121T040000Z is not authentic (no MAC, but MANIFEST_HMAC_KEY is set)');
    expect(err.message).toContain('run with MANIFEST_HMAC_KEY set to empty');
  });

  test('without a key: unsigned manifests pass; a MAC present gives a "cannot authenticate" warning', () => {
    expect(authenticateManifest(roundTrip(manifest()), '')).toEqual({ state: 'unsigned' });
    const v = authenticateManifest(roundTrip(signManifest(manifest(), KEY)), '');
    expect(v).toEqual({
      state: 'unverifiable',
      warning: 'manifest of backup 20261121T040000Z carries a MAC but MANIFEST_HMAC_KEY is not set: cannot authenticate it',
    });
  });

  test('parseManifest accepts a mac object and refuses a mac of another type', () => {
    expect(parseManifest(JSON.stringify({ ...manifest(), mac: { alg: 'x' } }), 'x').mac).toEqual({ alg: 'x' });
    const err = integrityError(() => parseManifest(JSON.stringify({ ...manifest(), mac: 'abc' }), 'x/manifest.json'));
    expect(err.message).toContain('mac absent or an object');
  });

  test('the key never appears in messages', () => {
    const m = roundTrip(signManifest(manifest(), KEY), (r) => (r.rawBytes = 1));
    expect(integrityError(() => authenticateManifest(m, KEY)).message).not.toContain(KEY);
  });

  test('a backupmate/2 manifest, upgraded to the envelope when read, verifies over the form it was stored in', () => {
    // As the pre-envelope build wrote it: the physical facts at the top level, the MAC over that object.
    const v2: Record<string, unknown> = {
      format: 'backupmate/2',
      id: '20261121T040000Z',
      kind: 'full',
      parentId: null,
      fullId: '20261121T040000Z',
      lsn: { from: '0', to: '2000', last: '2000' },
      binlog: null,
      versions: { server: '10.11.19-MariaDB', mariabackup: '10.11.19-MariaDB', backupmate: '0.1.0' },
      host: 'db1',
      server: { host: 'db1', datadir: '/var/lib/mysql', serverId: 1 },
      compression: { algorithm: 'zstd', level: 3 },
      encryption: null,
      container: { format: 'tar', chunkSize: 4 * 1024 * 1024 },
      volumes: [{ name: 'data.00000', size: 1024, sha256: 'a'.repeat(64) }],
      rawBytes: 4096,
      storedBytes: 1024,
      startedAt: '2026-11-21T04:00:00.000Z',
      finishedAt: '2026-11-21T04:10:00.000Z',
      durationMs: 600_000,
    };
    const value = createHmac('sha256', Buffer.from(KEY, 'utf8')).update(canonicalJson(v2), 'utf8').digest('hex');
    const text = JSON.stringify({ ...v2, mac: { alg: 'hmac-sha256', value } }, null, 2);
    const m = parseManifest(text, 'x/manifest.json');
    expect(m.source).toMatchObject({ type: 'physical', lsn: { to: '2000' }, server: { serverId: 1 } });
    expect(authenticateManifest(m, KEY)).toEqual({ state: 'authentic' });
    // A changed stored field is still caught.
    const changed = parseManifest(text.replace('"to": "2000"', '"to": "2001"'), 'x/manifest.json');
    expect(integrityError(() => authenticateManifest(changed, KEY)).details).toMatchObject({ mac: 'mismatch' });
  });
});
