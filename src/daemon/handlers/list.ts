/** `list`: the store's backups, the same JSON as `backupmate list --json` (with each drilled backup's newest drill record, lastDrills). */
import { catalogPrefixes } from '../../backup/decide.js';
import { lastDrills } from '../../drill/record.js';
import { catalogJson, readCatalog } from '../../storage/catalog.js';
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';

export const list = (d: DaemonContext): Handler => async () => {
  const catalog = await readCatalog(d.storage, catalogPrefixes(d.config));
  const drills = await lastDrills(d.storage, catalog.backups);
  return { ...(catalogJson(catalog) as object), lastDrills: Object.fromEntries(drills) };
};
