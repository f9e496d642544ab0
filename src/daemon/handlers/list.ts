/** `list`: the store's backups, the same JSON as `backupmate list --json`. */
import { catalogPrefixes } from '../../backup/decide.js';
import { catalogJson, readCatalog } from '../../storage/catalog.js';
import type { DaemonContext } from '../context.js';
import type { Handler } from '../control.js';

export const list = (d: DaemonContext): Handler => async () => catalogJson(await readCatalog(d.storage, catalogPrefixes(d.config)));
