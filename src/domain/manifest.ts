/**
 * The manifest: the one object that makes a backup exist.
 *
 * It is written LAST, after every volume has been uploaded and every stage of the pipeline has
 * exited successfully. A backup directory without `manifest.json` is incomplete and is never
 * offered for restore. Restore trusts nothing else: volume sizes and sha256 sums, compression,
 * LSNs and versions all come from here, not from the current configuration.
 */
import { isAgeRecipient } from './age.js';
import { BackupmateError } from './errors.js';
import { isBackupId } from './ids.js';
import type { ManifestMac } from './mac.js';

/**
 * The format written now. backupmate/3: the envelope (ManifestEnvelope) with the source's payload
 * in `source`; the stored stream is [age](tar) with the compressed raw stream in the tar's entries
 * (archive/container.ts, layout 2). Read only: backupmate/2 (same stream, a physical backup's
 * facts at the top level) and backupmate/1 (the stored stream was [age](compressor(tar)) with the
 * raw xbstream in the tar). Both are upgraded to the envelope in memory by parseManifest.
 */
export const MANIFEST_FORMAT = 'backupmate/3';
export const LEGACY_MANIFEST_FORMATS = ['backupmate/1', 'backupmate/2'] as const;
export const MANIFEST_FORMATS_READ = [...LEGACY_MANIFEST_FORMATS, MANIFEST_FORMAT] as const;
export type ManifestFormat = (typeof MANIFEST_FORMATS_READ)[number];
export const MANIFEST_NAME = 'manifest.json';
/** `sha256sum -c` input for the volumes, written just before the manifest (manual recovery). */
export const SUMS_NAME = 'SHA256SUMS';

/** The kinds of physical and directory backups (a source lists its own kinds: manifest.kind is a string). */
export type BackupKind = 'full' | 'incremental';
export type CompressionAlgorithm = 'zstd' | 'gzip' | 'none';

export interface VolumeRecord {
  /** Object name relative to the backup's directory, e.g. `data.00000`. */
  name: string;
  size: number;
  sha256: string;
}

/** Client-side encryption of the volume stream: `age -e -r KEY...` after the compressor. */
export interface ManifestEncryption {
  type: 'age';
  recipients: string[];
}

/**
 * Which server a backup was taken from, so the planner never chains a backup of one server onto
 * another's (domain/plan.ts). MariaDB has no server_uuid: host, datadir and server_id together
 * name the history an LSN belongs to.
 */
export interface ServerIdentity {
  /** @@hostname of the server. */
  host: string;
  /** @@datadir, as a real path (symlinks resolved) where the backup host can resolve it. */
  datadir: string;
  /** @@server_id. */
  serverId: number;
}

/** A backupmate/1 or /2 manifest as stored (read only; upgraded by parseManifest). */
export interface LegacyManifest {
  format: (typeof LEGACY_MANIFEST_FORMATS)[number];
  id: string;
  kind: BackupKind;
  /** The backup this one was taken against (null for a full). */
  parentId: string | null;
  /** The full at the root of this backup's chain (its own id for a full). */
  fullId: string;
  /** LSNs from mariabackup's checkpoints file, as decimal strings (64-bit values). */
  lsn: { from: string; to: string; last: string };
  /** Binary log position at the backup's consistent point, when the server logs binlogs. */
  binlog: { file: string; position: number; gtid: string | null } | null;
  versions: { server: string; mariabackup: string; backupmate: string };
  /** The host backupmate ran on (os.hostname()). */
  host: string;
  /**
   * The server the backup was taken from. Absent in manifests written before the field existed:
   * the planner then skips the identity check.
   */
  server?: ServerIdentity;
  compression: { algorithm: CompressionAlgorithm; level: number | null };
  /**
   * null, or age with the public keys (age1..., not secret) the volumes were encrypted to; a
   * restore needs the identity of one of them (AGE_IDENTITY_FILE).
   */
  encryption: ManifestEncryption | null;
  /**
   * How the byte stream is framed: a tar with the (compressed, since backupmate/2) xbstream cut
   * into fixed-size entries.
   */
  container: { format: 'tar'; chunkSize: number };
  volumes: VolumeRecord[];
  /** Bytes mariabackup produced (the xbstream). */
  rawBytes: number;
  /** Bytes stored (sum of volume sizes). */
  storedBytes: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /**
   * With MANIFEST_HMAC_KEY set: HMAC-SHA256 over the canonical form of every other field
   * (domain/mac.ts). Absent in manifests written without a key.
   */
  mac?: ManifestMac;
}

/**
 * backupmate/3: the envelope every source shares. Fields common to every backup live here; what
 * only one source type understands lives in `source`, a payload owned by that type
 * (sources/<type>/). Every reader works on this shape: backupmate/1 and /2 manifests are upgraded
 * to it in memory (upgradeManifest), keeping the original object so that their MAC still verifies.
 */

/** The source payload's common part: its type names the Source that owns the rest (sources/registry.ts). */
export interface SourcePayload {
  type: string;
}

/** The physical (mariabackup) payload. */
export interface PhysicalPayload extends SourcePayload {
  type: 'physical';
  /** LSNs from mariabackup's checkpoints file, as decimal strings (64-bit values). */
  lsn: { from: string; to: string; last: string };
  /** Binary log position at the backup's consistent point, when the server logs binlogs. */
  binlog: { file: string; position: number; gtid: string | null } | null;
  /** The server the backup was taken from; absent when upgraded from a manifest written before the field existed. */
  server?: ServerIdentity;
  versions: { server: string; mariabackup: string };
  /**
   * The base tables and their row estimates right after the backup (sources/physical/inventory.ts),
   * for restore drills; absent in older manifests or when it could not be read.
   */
  inventory?: { at: string; tables: { schema: string; name: string; engine: string | null; rows: number | null }[]; truncated?: boolean };
}

export interface ManifestEnvelope<P extends SourcePayload = SourcePayload> {
  /** As stored: backupmate/3, or /1 and /2 upgraded in memory (the format says which container layout). */
  format: ManifestFormat;
  id: string;
  source: P;
  /** A kind the source type lists (physical and directory: 'full' | 'incremental'). */
  kind: string;
  /** The backup this one was taken against (null for a full). */
  parentId: string | null;
  /** The backup at the root of this backup's chain (its own id for a full). */
  fullId: string;
  /** The host backupmate ran on (os.hostname()). */
  host: string;
  /** backupmate's version; a source may add its tools' versions in its payload. */
  versions: { backupmate: string };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Bytes the source produced (the raw stream, before compression). */
  rawBytes: number;
  /** Bytes stored (sum of volume sizes). */
  storedBytes: number;
  compression: { algorithm: CompressionAlgorithm; level: number | null };
  encryption: ManifestEncryption | null;
  /** A tar with the compressed raw stream cut into fixed-size entries (archive/container.ts). */
  container: { format: 'tar'; chunkSize: number };
  volumes: VolumeRecord[];
  mac?: ManifestMac;
}

/** Every reader's manifest: the envelope, its payload checked by its source (sources/registry.ts). */
export type Manifest<P extends SourcePayload = SourcePayload> = ManifestEnvelope<P>;

/** The container layout a manifest's volumes use (archive/container.ts). */
export function containerLayout(m: Pick<Manifest, 'format'>): 1 | 2 {
  return m.format === 'backupmate/1' ? 1 : 2;
}

export function volumeName(index: number): string {
  return `data.${String(index).padStart(5, '0')}`;
}

export function sha256sums(m: Pick<Manifest, 'volumes'>): string {
  return m.volumes.map((v) => `${v.sha256}  ${v.name}\n`).join('');
}

export function serializeManifest(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}

/**
 * The object a manifest was upgraded from (backupmate/1 and /2), as parsed from its JSON: its MAC
 * was computed over that form (domain/mac.ts), not over the envelope. Absent for backupmate/3.
 */
const originals = new WeakMap<object, Record<string, unknown>>();
export function storedForm(m: Manifest): Record<string, unknown> | undefined {
  return originals.get(m);
}

/** The physical payload of a legacy manifest (its facts were top-level fields). */
export function upgradeLegacy(old: LegacyManifest): Manifest<PhysicalPayload> {
  const source: PhysicalPayload = {
    type: 'physical',
    lsn: old.lsn,
    binlog: old.binlog ?? null,
    ...(old.server ? { server: old.server } : {}),
    versions: { server: old.versions?.server ?? 'unknown', mariabackup: old.versions?.mariabackup ?? 'unknown' },
  };
  const m: Manifest<PhysicalPayload> = {
    format: old.format,
    id: old.id,
    source,
    kind: old.kind,
    parentId: old.parentId,
    fullId: old.fullId,
    host: old.host,
    versions: { backupmate: old.versions?.backupmate ?? 'unknown' },
    startedAt: old.startedAt,
    finishedAt: old.finishedAt,
    durationMs: old.durationMs,
    rawBytes: old.rawBytes,
    storedBytes: old.storedBytes,
    compression: old.compression,
    encryption: old.encryption,
    container: old.container,
    volumes: old.volumes,
    ...(old.mac ? { mac: old.mac } : {}),
  };
  originals.set(m, old as unknown as Record<string, unknown>);
  return m;
}

/**
 * Parses and checks a manifest's envelope (backupmate/3) or a legacy manifest (upgraded to the
 * envelope). `where` names the object for error messages. The source payload of a backupmate/3
 * manifest is only checked to name its type here: its source's parsePayload checks the rest
 * (storage/catalog.ts). A manifest we cannot fully understand is refused: guessing at 3 a.m. is
 * how restores silently do nothing.
 */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BackupmateError('INTEGRITY', `manifest ${where} is not valid JSON: ${(e as Error).message}`);
  }
  const problems: string[] = [];
  const m = raw as Record<string, unknown>;
  const need = (cond: boolean, what: string) => {
    if (!cond) problems.push(what);
  };
  need(typeof m === 'object' && m !== null && !Array.isArray(m), 'an object');
  if (problems.length) throw new BackupmateError('INTEGRITY', `manifest ${where} is malformed: expected ${problems.join(', ')}`);
  need(
    (MANIFEST_FORMATS_READ as readonly unknown[]).includes(m.format),
    `format ${MANIFEST_FORMATS_READ.map((f) => `"${f}"`).join(' or ')} (got ${JSON.stringify(m.format)})`,
  );
  const legacy = (LEGACY_MANIFEST_FORMATS as readonly unknown[]).includes(m.format);
  need(typeof m.id === 'string' && isBackupId(m.id), 'id like 20261121T040000Z');
  if (legacy) need(m.kind === 'full' || m.kind === 'incremental', 'kind full|incremental');
  else need(typeof m.kind === 'string' && /^[a-z][a-z0-9-]*$/.test(m.kind), 'kind: a lower-case word');
  need(typeof m.fullId === 'string', 'fullId');
  if (legacy) {
    const lsn = m.lsn as Record<string, unknown> | undefined;
    need(!!lsn && ['from', 'to', 'last'].every((k) => typeof lsn[k] === 'string' && /^\d+$/.test(lsn[k] as string)), 'lsn.from/to/last as decimal strings');
    const srv = m.server as Record<string, unknown> | undefined;
    need(srv === undefined || isServerIdentity(srv), 'server absent or {host, datadir: non-empty strings, serverId: an integer >= 0}');
  } else if (m.format === MANIFEST_FORMAT) {
    // A format we do not know is refused by the format check alone (its fields are not guessed at).
    need(m.parentId === null || typeof m.parentId === 'string', 'parentId null or a backup id');
    const src = m.source as Record<string, unknown> | undefined;
    need(typeof src === 'object' && src !== null && !Array.isArray(src) && typeof src.type === 'string' && src.type !== '', 'source: an object with a type');
    const v = m.versions as Record<string, unknown> | undefined;
    need(typeof v === 'object' && v !== null && typeof v.backupmate === 'string', 'versions.backupmate');
  }
  const comp = m.compression as Record<string, unknown> | undefined;
  need(!!comp && ['zstd', 'gzip', 'none'].includes(comp.algorithm as string), 'compression.algorithm zstd|gzip|none');
  const enc = m.encryption as Record<string, unknown> | null | undefined;
  need(
    enc === null ||
      (typeof enc === 'object' && enc.type === 'age' && Array.isArray(enc.recipients) && enc.recipients.length > 0 && enc.recipients.every(isAgeRecipient)),
    'encryption null or {type "age", recipients: a non-empty list of age1... public keys}',
  );
  const vols = m.volumes as unknown[];
  need(
    Array.isArray(vols) &&
      vols.length > 0 &&
      vols.every((v) => {
        if (typeof v !== 'object' || v === null) return false;
        const r = v as Record<string, unknown>;
        return typeof r.name === 'string' && /^[\w.-]+$/.test(r.name) && r.name !== '.' && r.name !== '..' && Number.isSafeInteger(r.size) && (r.size as number) > 0 && /^[0-9a-f]{64}$/.test(r.sha256 as string);
      }),
    'volumes: a non-empty list of {name, size > 0, sha256}',
  );
  need(Number.isSafeInteger(m.rawBytes) && (m.rawBytes as number) > 0, 'rawBytes > 0');
  // The MAC's content is judged by authenticateManifest (domain/mac.ts), so that a damaged MAC is
  // reported as "not authentic, naming the backup", not as an unreadable manifest.
  need(m.mac === undefined || (typeof m.mac === 'object' && m.mac !== null && !Array.isArray(m.mac)), 'mac absent or an object');
  if (problems.length) throw new BackupmateError('INTEGRITY', `manifest ${where} is malformed: expected ${problems.join('; ')}`);
  if (legacy) return upgradeLegacy(m as unknown as LegacyManifest);
  return m as unknown as Manifest;
}

/** {host, datadir: non-empty strings, serverId: an integer >= 0} */
export function isServerIdentity(srv: unknown): srv is ServerIdentity {
  const s = srv as Record<string, unknown>;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.host === 'string' &&
    s.host !== '' &&
    typeof s.datadir === 'string' &&
    s.datadir !== '' &&
    Number.isSafeInteger(s.serverId) &&
    (s.serverId as number) >= 0
  );
}
