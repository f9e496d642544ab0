/**
 * The composition root of the sources: which Source objects this process has, built from the
 * configuration, with the store layout of the configured prefixes. Commands and the daemon get
 * their registry here (one place to add a source).
 *
 * The physical source's restore (copy-back/move-back, server handling) still runs through
 * restore/job.ts, so it is not registered here; backups of it are read with the built-in payload
 * check (sources/payloads.ts).
 */
import { catalogPrefixes } from '../backup/decide.js';
import { parseDirectoryPaths, type ConfigValues } from '../config/schema.js';
import type { Config } from '../config/load.js';
import { DirectorySource } from '../sources/directory/index.js';
import { SourceRegistry } from '../sources/registry.js';

export function directorySource(c: Pick<ConfigValues, 'DIRECTORY_BACKUP_PATHS' | 'MAX_CHAIN_LENGTH'>): DirectorySource {
  return new DirectorySource({ paths: parseDirectoryPaths(c.DIRECTORY_BACKUP_PATHS), maxChainLength: c.MAX_CHAIN_LENGTH });
}

export function makeSources(c: Config): SourceRegistry {
  return new SourceRegistry([directorySource(c)], catalogPrefixes(c));
}
