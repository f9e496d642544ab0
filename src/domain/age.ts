/**
 * age X25519 recipients (public keys), pure: their form, their bech32 checksum, and how the
 * AGE_RECIPIENTS setting names them (keys inline, or the path of a recipients file).
 *
 * A recipient is "age1" followed by 58 bech32 characters (52 for the 32-byte key, 6 of checksum),
 * 62 characters in all, exactly as `age-keygen` and `age-keygen -y` print it. Public keys are not
 * secret: they are stored in every encrypted backup's manifest.
 */

/** bech32's alphabet (BIP 173): lower-case letters and digits without 1, b, i, o. */
const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

export const AGE_RECIPIENT_RE = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;

const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk;
}

/** True for a well-formed age X25519 recipient whose bech32 checksum is right (a typo fails it). */
export function isAgeRecipient(s: unknown): s is string {
  if (typeof s !== 'string' || !AGE_RECIPIENT_RE.test(s)) return false;
  const hrp = 'age';
  const data = [...s.slice(4)].map((c) => BECH32_CHARSET.indexOf(c));
  const expanded = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31)];
  return polymod([...expanded, ...data]) === 1;
}

/** What the setting must be, for messages ("must ..."). */
export const RECIPIENTS_EXPECTED =
  'must be age1... X25519 public keys (62 characters, as age-keygen -y prints them) separated by commas or spaces, or the absolute path of a file with one per line';

/** The entries of an inline AGE_RECIPIENTS value: separated by commas and/or white space. */
export function splitRecipients(text: string): string[] {
  return text.split(/[\s,]+/).filter((t) => t !== '');
}

/**
 * A recipients file as `age -R` reads it: one recipient per line; blank lines and lines starting
 * with "#" are ignored. Only X25519 recipients (age1...) are accepted here.
 */
export function parseRecipientsFile(text: string): { recipients: string[]; badLine: number | null } {
  const recipients: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!isAgeRecipient(line)) return { recipients, badLine: i + 1 };
    recipients.push(line);
  }
  return { recipients, badLine: null };
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

/**
 * The public keys an AGE_RECIPIENTS value names, or why it names none: `readFile` reads a
 * recipients file (the value is a path when it starts with "/"). Duplicates are dropped, order kept.
 */
export function resolveRecipients(value: string, readFile: (file: string) => string): { recipients: string[] } | { problem: string } {
  const v = value.trim();
  if (v === '') return { problem: `${RECIPIENTS_EXPECTED}; it is empty` };
  if (v.startsWith('/')) {
    let text: string;
    try {
      text = readFile(v);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
      return { problem: `${RECIPIENTS_EXPECTED}; the file cannot be read: ${why}` };
    }
    const { recipients, badLine } = parseRecipientsFile(text);
    if (badLine !== null) return { problem: `${RECIPIENTS_EXPECTED}; line ${badLine} of the file is not an age1... public key (or its checksum is wrong)` };
    if (!recipients.length) return { problem: `${RECIPIENTS_EXPECTED}; the file holds no recipient` };
    return { recipients: [...new Set(recipients)] };
  }
  const entries = splitRecipients(v);
  const bad = entries.findIndex((e) => !isAgeRecipient(e));
  if (bad >= 0) {
    const which = entries.length === 1 ? 'it is not one' : `the ${ordinal(bad + 1)} entry is not one`;
    return { problem: `${RECIPIENTS_EXPECTED}; ${which} (or its checksum is wrong)` };
  }
  return { recipients: [...new Set(entries)] };
}
