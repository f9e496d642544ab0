/**
 * The sources a process knows, by type, and THE layout: where each source's backups live in the
 * store. The layout is the one place that says so; catalog, list, verify, prune, restore and
 * backup-id allocation all read it (never a prefix pair spelled out in a job).
 */
import { BackupmateError } from '../domain/errors.js';
import type { SourcePayload } from '../domain/manifest.js';
import type { Source } from './source.js';

/** One row of the layout: backups of `source` with kind `kind` ('*': every kind) live under `prefix`. */
export interface LayoutEntry {
  source: string;
  kind: string;
  /** `<prefix><id>/` is a backup's directory. */
  prefix: string;
}

/** The configured prefixes the standard layout is made of. */
export interface LayoutPrefixes {
  /** FULL_BACKUP_PREFIX */
  fullPrefix: string;
  /** INCREMENTAL_BACKUP_PREFIX */
  incrementalPrefix: string;
  /** DIRECTORY_BACKUP_PREFIX (absent: no directory backups in this layout) */
  directoryPrefix?: string;
  /** LOGICAL_BACKUP_PREFIX (absent: no logical backups in this layout) */
  logicalPrefix?: string;
}

/** The layout of backupmate's own sources. */
export function standardLayout(p: LayoutPrefixes): LayoutEntry[] {
  return [
    { source: 'physical', kind: 'full', prefix: p.fullPrefix },
    { source: 'physical', kind: 'incremental', prefix: p.incrementalPrefix },
    ...(p.directoryPrefix ? [{ source: 'directory', kind: '*', prefix: p.directoryPrefix }] : []),
    ...(p.logicalPrefix ? [{ source: 'logical', kind: '*', prefix: p.logicalPrefix }] : []),
  ];
}

/** A job's settings name the layout: given whole (`layout`), or the standard one of its prefixes. */
export function layoutOf(s: LayoutPrefixes & { layout?: readonly LayoutEntry[] }): readonly LayoutEntry[] {
  return s.layout ?? standardLayout(s);
}

/** The prefix a backup of `source`/`kind` is written under; throws INTERNAL when the layout has none. */
export function prefixFor(layout: readonly LayoutEntry[], source: string, kind: string): string {
  const e = layout.find((l) => l.source === source && l.kind === kind) ?? layout.find((l) => l.source === source && l.kind === '*');
  if (!e) throw new BackupmateError('INTERNAL', `the store layout has no place for ${source} backups of kind ${kind}`);
  return e.prefix;
}

/** Every distinct prefix of the layout (backup ids are unique across all of them). */
export function layoutPrefixes(layout: readonly LayoutEntry[]): string[] {
  return [...new Set(layout.map((l) => l.prefix))];
}

/** Sources by type, and the layout of the store they write to. */
export class SourceRegistry {
  private readonly byType = new Map<string, Source>();

  constructor(
    sources: readonly Source<any>[],
    readonly layout: readonly LayoutEntry[],
  ) {
    for (const s of sources) {
      if (this.byType.has(s.type)) throw new BackupmateError('INTERNAL', `two sources of type ${s.type}`);
      this.byType.set(s.type, s as Source);
    }
  }

  get types(): string[] {
    return [...this.byType.keys()];
  }

  has(type: string): boolean {
    return this.byType.has(type);
  }

  /** The source of `type`; throws INTEGRITY (a backup of a type this backupmate does not know). */
  get<P extends SourcePayload = SourcePayload>(type: string): Source<P> {
    const s = this.byType.get(type);
    if (!s) {
      throw new BackupmateError('INTEGRITY', `backups of source type "${type}" cannot be read by this backupmate (it knows ${this.types.join(', ') || 'none'})`, {
        sourceType: type,
      });
    }
    return s as unknown as Source<P>;
  }

  prefixFor(type: string, kind: string): string {
    return prefixFor(this.layout, type, kind);
  }
}
