/**
 * What the store holds, as backups: pure grouping of object listings into backup directories.
 *
 * A directory `<prefix><id>/` with `manifest.json` is a candidate backup (its manifest is read and
 * checked by the caller); one without is incomplete: the leftovers of a failed or running job.
 */
import { isBackupId } from './ids.js';
import { MANIFEST_NAME } from './manifest.js';

export interface StoredObject {
  key: string;
  size: number;
  lastModified?: Date;
}

export interface BackupDir {
  id: string;
  /** The source type the store layout expects under this prefix (sources/registry.ts). */
  source: string;
  /**
   * The kind the layout says lives under this prefix; for a prefix that holds every kind of its
   * source ('*' in the layout) the manifest's kind once read, 'unknown' without a manifest.
   */
  kind: string;
  /** `<prefix><id>/` */
  dir: string;
  hasManifest: boolean;
  objects: StoredObject[];
}

/**
 * Groups a prefix's objects by backup id. Objects that don't look like ours are ignored. `where`
 * is the layout row: the source type (default physical) and kind ('*': any) living there.
 */
export function groupBackupDirs(prefix: string, kind: string, objects: readonly StoredObject[], source = 'physical'): BackupDir[] {
  const byId = new Map<string, BackupDir>();
  for (const o of objects) {
    if (!o.key.startsWith(prefix)) continue;
    const rest = o.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) continue;
    const id = rest.slice(0, slash);
    if (!isBackupId(id)) continue;
    let d = byId.get(id);
    if (!d) {
      d = { id, source, kind: kind === '*' ? 'unknown' : kind, dir: `${prefix}${id}/`, hasManifest: false, objects: [] };
      byId.set(id, d);
    }
    d.objects.push(o);
    if (rest.slice(slash + 1) === MANIFEST_NAME) d.hasManifest = true;
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}
