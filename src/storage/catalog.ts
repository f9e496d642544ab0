/**
 * Reads the store's catalog: which backups exist (manifest present and readable), which are
 * incomplete (objects without a manifest), and which manifests are unreadable.
 */
import { groupBackupDirs, type BackupDir } from '../domain/catalog.js';
import { errorText, isBackupmateError, type ErrorCode } from '../domain/errors.js';
import { BackupmateError } from '../domain/errors.js';
import { MANIFEST_NAME, parseManifest, type Manifest } from '../domain/manifest.js';
import { BUILTIN_PAYLOADS, type PayloadParser } from '../sources/payloads.js';
import type { LayoutEntry } from '../sources/registry.js';
import { chainStatuses } from './chain-status.js';
import { readAll, type Storage } from './storage.js';

export interface CatalogEntry {
  dir: BackupDir;
  manifest: Manifest;
}

export interface Catalog {
  /** Backups with a valid manifest, oldest first. */
  backups: CatalogEntry[];
  /** Directories without a manifest: failed, killed or still running jobs. */
  incomplete: BackupDir[];
  /** Directories whose manifest could not be read or parsed; `code` says why (INTEGRITY: malformed, STORAGE: not readable...). */
  broken: { dir: BackupDir; error: string; code?: ErrorCode }[];
}

/** Payload checks by source type: a SourceRegistry (its `get(type).parsePayload`) or a plain table. */
export interface PayloadParsers {
  has(type: string): boolean;
  get(type: string): { parsePayload(raw: unknown, where?: string): unknown };
}

/** The payload check for `type`: the given sources' first, then the built-in ones. */
function payloadParser(type: string, sources?: PayloadParsers): PayloadParser | undefined {
  if (sources?.has(type)) {
    const src = sources.get(type);
    return (raw, where) => src.parsePayload(raw, where) as Manifest['source'];
  }
  return BUILTIN_PAYLOADS[type];
}

/**
 * Reads and checks `<dir>manifest.json`: the envelope (domain/manifest.ts), then the source's
 * payload. `expectedSource`: the source type the layout puts under this directory.
 */
export async function readManifest(storage: Storage, dir: string, sources?: PayloadParsers, expectedSource?: string): Promise<Manifest> {
  const key = dir + MANIFEST_NAME;
  const m = parseManifest((await readAll(await storage.get(key))).toString('utf8'), key);
  if (expectedSource !== undefined && m.source.type !== expectedSource) {
    throw new BackupmateError('INTEGRITY', `manifest ${key} describes a ${m.source.type} backup, but the store layout keeps ${expectedSource} backups there`);
  }
  const parse = payloadParser(m.source.type, sources);
  if (!parse) throw new BackupmateError('INTEGRITY', `manifest ${key} describes a backup of source type "${m.source.type}", which this backupmate does not know`);
  parse(m.source, `manifest ${key}`);
  return m;
}

/**
 * The catalog of every prefix of `layout` (sources/registry.ts; a row without `source` is a
 * physical one). `sources` checks payloads of types beyond the built-in ones.
 */
export async function readCatalog(
  storage: Storage,
  layout: readonly (Omit<LayoutEntry, 'source'> & { source?: string })[],
  sources?: PayloadParsers,
): Promise<Catalog> {
  const catalog: Catalog = { backups: [], incomplete: [], broken: [] };
  // The prefixes are listed at once (every command pays this round trip before anything else);
  // results are gathered in the layout's order.
  const listings = await Promise.all(
    layout.map(async ({ prefix, kind, source }) => groupBackupDirs(prefix, kind, await storage.list(prefix), source ?? 'physical')),
  );
  for (const dirs of listings) {
    const withManifest = dirs.filter((d) => d.hasManifest);
    catalog.incomplete.push(...dirs.filter((d) => !d.hasManifest));
    // Bounded concurrency: a store may hold hundreds of backups.
    const results = await mapLimit(withManifest, 8, async (d) => {
      try {
        const m = await readManifest(storage, d.dir, sources, d.source);
        if (m.id !== d.id) throw new Error(`manifest names backup ${m.id}, but lives in ${d.dir}`);
        return { ok: true as const, entry: { dir: { ...d, kind: m.kind }, manifest: m } };
      } catch (e) {
        return { ok: false as const, dir: d, error: errorText(e), code: isBackupmateError(e) ? e.code : ('INTEGRITY' as const) };
      }
    });
    for (const r of results) {
      if (r.ok) catalog.backups.push(r.entry);
      else catalog.broken.push({ dir: r.dir, error: r.error, code: r.code });
    }
  }
  catalog.backups.sort((a, b) => a.manifest.id.localeCompare(b.manifest.id));
  return catalog;
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The JSON shape of a listing, shared by `backupmate list --json` and the daemon's `list`. */
export function catalogJson(catalog: Catalog): unknown {
  const statuses = chainStatuses(catalog);
  return {
    backups: catalog.backups.map((b) => ({ ...b.manifest, status: statuses.get(b.manifest.id) ?? 'ok' })),
    incomplete: catalog.incomplete.map((d) => ({
      id: d.id,
      source: { type: d.source },
      kind: d.kind,
      status: 'incomplete',
      objects: d.objects.map((o) => o.key),
      bytes: d.objects.reduce((a, o) => a + o.size, 0),
    })),
    unreadable: catalog.broken.map((b) => ({ id: b.dir.id, source: { type: b.dir.source }, kind: b.dir.kind, status: 'unreadable', error: b.error })),
  };
}
