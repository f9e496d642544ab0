/**
 * Manifest authentication: an HMAC-SHA256 over the manifest's canonical form.
 *
 * The sha256 sums in a manifest protect the volumes; nothing protected the manifest itself, so
 * anyone who can write to the store could change an LSN, a size or a sum (and the volume with
 * it) unnoticed. With MANIFEST_HMAC_KEY set, every manifest a backup writes carries
 * `mac: { alg: 'hmac-sha256', value: <hex> }`, and restore and verify refuse a manifest whose MAC
 * is wrong or missing, before anything is downloaded or the target touched.
 *
 * Canonical form: the manifest as parsed from JSON, WITHOUT its `mac` field, serialised with
 * object keys sorted (recursively, by UTF-16 code units as Array.prototype.sort does), no
 * whitespace, arrays in their order, and values as JSON.stringify writes them. It is computed
 * over every field present, including ones this version does not know, so nothing can be added
 * unnoticed either. The key is the text of MANIFEST_HMAC_KEY, as UTF-8 bytes. A backupmate/1 or /2
 * manifest, upgraded to the envelope in memory, is checked over the form it was stored in.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BackupmateError } from './errors.js';
import { storedForm, type Manifest } from './manifest.js';

export const MAC_ALG = 'hmac-sha256';

export interface ManifestMac {
  alg: typeof MAC_ALG;
  /** Lower-case hex HMAC-SHA256 of the canonical form (64 characters). */
  value: string;
}

/** JSON with object keys sorted at every level and no whitespace; undefined members left out like JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    // Top-level undefined/functions have no JSON form; inside arrays JSON.stringify writes null.
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** The manifest without its `mac`, canonically serialised: the bytes the MAC covers. */
export function manifestCanonicalForm(m: Manifest): string {
  // An upgraded backupmate/1 or /2 manifest: its MAC covers the object as it was stored.
  const { mac: _mac, ...rest } = (storedForm(m) ?? m) as Manifest & { mac?: unknown };
  return canonicalJson(rest);
}

/** Hex HMAC-SHA256 of the manifest's canonical form under `key`. */
export function computeManifestMac(m: Manifest, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(manifestCanonicalForm(m), 'utf8').digest('hex');
}

/** The manifest with its MAC (replacing any earlier one), `mac` last so it reads as a trailer. */
export function signManifest(m: Manifest, key: string): Manifest {
  const { mac: _mac, ...rest } = m;
  return { ...rest, mac: { alg: MAC_ALG, value: computeManifestMac(rest as Manifest, key) } };
}

export type MacVerdict =
  /** The key is set and the MAC matches. */
  | { state: 'authentic' }
  /** No key and no MAC: nothing to check (integrity still comes from the volumes' sha256). */
  | { state: 'unsigned' }
  /** A MAC but no key: the manifest cannot be authenticated here. */
  | { state: 'unverifiable'; warning: string };

/**
 * Checks a manifest's MAC against `key` ('' = MANIFEST_HMAC_KEY not set). Throws INTEGRITY naming
 * the backup when a key is set and the MAC is missing or wrong (compared in constant time).
 */
export function authenticateManifest(m: Manifest, key: string): MacVerdict {
  const mac = (m as Manifest & { mac?: ManifestMac }).mac;
  if (!key) {
    if (!mac) return { state: 'unsigned' };
    return {
      state: 'unverifiable',
      warning: `manifest of backup ${m.id} carries a MAC but MANIFEST_HMAC_KEY is not set: cannot authenticate it`,
    };
  }
  if (!mac) {
    throw new BackupmateError(
      'INTEGRITY',
      `manifest of backup ${m.id} is not authentic (no MAC, but MANIFEST_HMAC_KEY is set): it was written before the key was set, or its MAC was removed; ` +
        'to use it anyway, run with MANIFEST_HMAC_KEY set to empty',
      { backupId: m.id, mac: 'missing' },
    );
  }
  const expected = Buffer.from(computeManifestMac(m, key), 'hex');
  const got = Buffer.from(/^[0-9a-f]{64}$/.test(mac.value) ? mac.value : '', 'hex');
  if (mac.alg !== MAC_ALG || got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new BackupmateError(
      'INTEGRITY',
      `manifest of backup ${m.id} is not authentic (MAC mismatch): it was changed after it was written, or MANIFEST_HMAC_KEY differs`,
      { backupId: m.id, mac: 'mismatch' },
    );
  }
  return { state: 'authentic' };
}
