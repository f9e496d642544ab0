/**
 * The payload checks of backupmate's built-in sources, by type: what the catalog uses to read a
 * store when no SourceRegistry is at hand (list, prune, the daemon's status). A registry's own
 * sources come first (storage/catalog.ts), so a source registered elsewhere (a test's) is read too.
 */
import type { SourcePayload } from '../domain/manifest.js';
import { parseDirectoryPayload } from './directory/entries.js';
import { parseLogicalPayload } from './logical/payload.js';
import { parsePhysicalPayload } from './physical/payload.js';

export type PayloadParser = (raw: unknown, where: string) => SourcePayload;

export const BUILTIN_PAYLOADS: Readonly<Record<string, PayloadParser>> = {
  physical: parsePhysicalPayload,
  directory: parseDirectoryPayload,
  logical: parseLogicalPayload,
};
