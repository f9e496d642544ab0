/**
 * The composition root of the sources: which Source objects this process has, built from the
 * configuration, with the store layout of the configured prefixes. Commands and the daemon get
 * their registry here (one place to add a source).
 */
import * as os from 'node:os';
import { catalogPrefixes } from '../backup/decide.js';
import { parseDirectoryPaths, type ConfigValues } from '../config/schema.js';
import type { Config } from '../config/load.js';
import { restoreSettings } from './wiring.js';
import { DirectorySource } from '../sources/directory/index.js';
import { parseNameList, parseObjects } from '../sources/logical/dump.js';
import { LogicalSource, type LogicalSourceSettings } from '../sources/logical/index.js';
import { PhysicalSource } from '../sources/physical/index.js';
import { SourceRegistry } from '../sources/registry.js';

export function directorySource(c: Pick<ConfigValues, 'DIRECTORY_BACKUP_PATHS' | 'MAX_CHAIN_LENGTH'>): DirectorySource {
  return new DirectorySource({ paths: parseDirectoryPaths(c.DIRECTORY_BACKUP_PATHS), maxChainLength: c.MAX_CHAIN_LENGTH });
}

/** LOGICAL_PARALLEL, with 0 = the number of CPU cores. */
export function logicalParallel(c: Pick<ConfigValues, 'LOGICAL_PARALLEL'>): number {
  return c.LOGICAL_PARALLEL > 0 ? c.LOGICAL_PARALLEL : Math.max(1, os.availableParallelism());
}

/**
 * The logical source of the configuration. `request`: what this process's into-server restore
 * loads (one-shot commands and the daemon's restore handler build the source per request).
 */
export function logicalSource(c: Config, request: Pick<LogicalSourceSettings, 'into' | 'onLoaded'> = {}): LogicalSource {
  const connection = { user: c.DB_USER, password: c.DB_PASSWORD, host: c.DB_HOST, port: c.DB_PORT, socket: c.DB_SOCKET };
  return new LogicalSource({
    connection,
    selection: { databases: parseNameList(c.LOGICAL_DATABASES), exclude: parseNameList(c.LOGICAL_EXCLUDE_DATABASES), objects: parseObjects(c.LOGICAL_OBJECTS) },
    parallel: logicalParallel(c),
    // RESTORE_DB_USER empty: the backup user loads (its password with it).
    restoreConnection: c.RESTORE_DB_USER ? { ...connection, user: c.RESTORE_DB_USER, password: c.RESTORE_DB_PASSWORD } : connection,
    ...request,
  });
}

/** The mariabackup source, from the same settings a restore is configured with (app/wiring.ts). */
export function physicalSource(c: Config): PhysicalSource {
  return new PhysicalSource(restoreSettings(c));
}

export function makeSources(c: Config, request: Pick<LogicalSourceSettings, 'into' | 'onLoaded'> = {}): SourceRegistry {
  return new SourceRegistry([physicalSource(c), directorySource(c), logicalSource(c, request)], catalogPrefixes(c));
}
