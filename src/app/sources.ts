/**
 * The composition root of the sources: which Source objects this process has, built from the
 * configuration, with the store layout of the configured prefixes. Commands and the daemon get
 * their registry here (one place to add a source).
 */
import { catalogPrefixes } from '../backup/decide.js';
import { parseDirectoryPaths, type ConfigValues } from '../config/schema.js';
import type { Config } from '../config/load.js';
import { restoreSettings } from './wiring.js';
import { DirectorySource } from '../sources/directory/index.js';
import { PhysicalSource } from '../sources/physical/index.js';
import { SourceRegistry } from '../sources/registry.js';

export function directorySource(c: Pick<ConfigValues, 'DIRECTORY_BACKUP_PATHS' | 'MAX_CHAIN_LENGTH'>): DirectorySource {
  return new DirectorySource({ paths: parseDirectoryPaths(c.DIRECTORY_BACKUP_PATHS), maxChainLength: c.MAX_CHAIN_LENGTH });
}

/** The mariabackup source, from the same settings a restore is configured with (app/wiring.ts). */
export function physicalSource(c: Config): PhysicalSource {
  return new PhysicalSource(restoreSettings(c));
}

export function makeSources(c: Config): SourceRegistry {
  return new SourceRegistry([physicalSource(c), directorySource(c)], catalogPrefixes(c));
}
