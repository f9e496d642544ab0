/** The package version, read once from package.json (kept in one place). */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
function findVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(rel) as { name?: string; version?: string };
      if (pkg.name === 'backupmate' && pkg.version) return pkg.version;
    } catch {
      /* try the next location: src/ when run by ts-jest, dist/src/ when built */
    }
  }
  return '0.0.0';
}
export const VERSION = findVersion();
