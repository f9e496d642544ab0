/**
 * Renders config/backupmate.env from the schema, so the documented keys, defaults and examples
 * cannot drift from what the loader accepts. test/unit/config.test.ts compares the committed
 * file with this output and rewrites it when BACKUPMATE_UPDATE_EXAMPLE=1.
 */
import { CONFIG_KEYS, SECTIONS } from './schema.js';

const HEADER = `\
# backupmate configuration: every key, its default and an example.
#
# GENERATED from src/config/schema.ts: edit the schema, then regenerate with
#   npm run config:example
#
# Where values come from, lowest precedence first (a later source overrides an earlier one):
#   1. built-in defaults (the "Default:" lines below)
#   2. /etc/backupmate/*.env, read in name order (install this file as /etc/backupmate/backupmate.env)
#   3. .backupmate.env in the current directory, if present
#   4. files given with --config FILE, in the order given
#   5. environment variables with the same names
# Unknown keys in these files are reported as warnings and ignored.
#
# This file holds secrets (DB_PASSWORD, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
# MANIFEST_HMAC_KEY). Keep it readable by its owner only:  chmod 600 /etc/backupmate/backupmate.env
# backupmate warns about an env file that sets a secret and is open to group or others.
#
# Syntax: KEY=value, one per line; "#" starts a comment, also after an unquoted value, so quote
# values that contain "#" or spaces. Single quotes keep a value literally: DB_PASSWORD='p#ss w0rd'
# Sizes: a plain number is bytes; K/KiB, M/MiB, G/GiB, T/TiB are binary (16MiB = 16777216 bytes).
# Booleans: true/false, 1/0, yes/no or on/off, in any case.
#
# Every key below is commented out, so its default applies until you uncomment it.
`;

/** Quotes a value for an env file when dotenv would otherwise cut or trim it. */
function envValue(value: string): string {
  if (/^[A-Za-z0-9_./:@+,=-]*$/.test(value)) return value;
  return value.includes("'") ? JSON.stringify(value) : `'${value}'`;
}

export function renderExampleEnv(): string {
  const parts = [HEADER];
  for (const section of SECTIONS) {
    parts.push(`\n# ${'='.repeat(94)}\n# ${section}\n# ${'='.repeat(94)}\n`);
    for (const k of CONFIG_KEYS.filter((info) => info.section === section)) {
      const defaultText = k.defaultText === '' ? '(empty)' : k.defaultText;
      parts.push(`\n# ${k.doc}\n# Default: ${defaultText}${k.sensitive ? '; secret: never shown in logs, errors or config show' : ''}\n#${k.key}=${envValue(k.example)}\n`);
    }
  }
  return parts.join('');
}
