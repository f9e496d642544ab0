/**
 * How configuration values may be shown. Secrets (keys marked `sensitive` in the schema) never
 * leave the process in error messages, `config show` output or logs: they appear as <redacted>
 * when set and as the empty string when not, so "is it set?" stays answerable.
 */
import { CONFIG_KEY_NAMES, isSensitive, type ConfigKey, type ConfigValues } from './schema.js';

export const REDACTED = '<redacted>';

/** Longest value quoted in an error message before it is cut. */
const MAX_SHOWN = 120;

/**
 * Every key's value with secrets replaced: '<redacted>' if set, '' if empty. For `config check`
 * and `config show`; byte sizes stay numbers of bytes.
 */
export function redactedView(config: Readonly<ConfigValues>): Record<ConfigKey, string | number | boolean> {
  const view = {} as Record<ConfigKey, string | number | boolean>;
  for (const key of CONFIG_KEY_NAMES) {
    const value = config[key];
    view[key] = isSensitive(key) ? (value === '' ? '' : REDACTED) : value;
  }
  return view;
}

/** The non-empty secret values, for a log redactor that masks them wherever they appear. */
export function secretValues(config: Readonly<ConfigValues>): string[] {
  const secrets = new Set<string>();
  for (const key of CONFIG_KEY_NAMES) {
    const value = config[key];
    if (isSensitive(key) && typeof value === 'string' && value !== '') secrets.add(value);
  }
  return [...secrets];
}

/**
 * A raw value as an error message quotes it: JSON-quoted, cut when long, '<redacted>' for a set
 * secret, and with a URL's user info masked (such a URL is rejected, but is quoted first).
 */
export function quoteValue(key: ConfigKey, raw: string): string {
  if (isSensitive(key)) return raw === '' ? '""' : REDACTED;
  let shown = raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, `$1${REDACTED}@`);
  if (shown.length > MAX_SHOWN) shown = `${shown.slice(0, MAX_SHOWN)}...`;
  return JSON.stringify(shown);
}
