/**
 * Client-side encryption with age (X25519 recipients) as child-process stages, like compression:
 * `age -e -r KEY...` after the compressor ('encryptor'), `age -d -i IDENTITY` before the
 * decompressor ('decryptor'). The standard `age` tool decrypts every volume stream by itself.
 *
 * Why the CLI and not the npm `age-encryption` library: on the 2-core reference machine, 1 GiB of
 * incompressible data (what zstd output looks like to a cipher), fed from Node through a pipe,
 * encrypted at 630 MiB/s and decrypted at 557 MiB/s with age 1.1.1, against 91 MiB/s and
 * 86 MiB/s in-process with age-encryption 0.3.1 (which also takes that CPU from the event loop).
 *
 * Backups need only public keys (AGE_RECIPIENTS), stored in the manifest. Restores follow the
 * manifest: an encrypted backup needs AGE_IDENTITY_FILE, checked against the manifest's recipients
 * before anything is downloaded (`age-keygen -y` derives the identity's public keys; the secret
 * key is never read into this process).
 */
import { BackupmateError } from '../domain/errors.js';
import type { Manifest } from '../domain/manifest.js';
import { ChildStage } from './child.js';
import type { CompressorCommand } from './compression.js';

export const AGE_PROGRAM = 'age';
export const AGE_KEYGEN_PROGRAM = 'age-keygen';

/**
 * age prints "age: error: ..." and then a line asking for bug reports; marking the error line as
 * fatal makes it the one a failed stage's message quotes (age never prints it and exits 0).
 */
export function ageStderrIsFatal(line: string): boolean {
  return /^age(-keygen)?: error: /.test(line);
}

/** Encrypts stdin to stdout for every recipient (binary age format, not armored). */
export function encryptCommand(recipients: readonly string[]): CompressorCommand {
  if (!recipients.length) throw new BackupmateError('INTERNAL', 'age encryption without recipients');
  return { file: AGE_PROGRAM, args: ['-e', ...recipients.flatMap((r) => ['-r', r])] };
}

/** Decrypts stdin to stdout with the identity file. */
export function decryptCommand(identityFile: string): CompressorCommand {
  return { file: AGE_PROGRAM, args: ['-d', '-i', identityFile] };
}

/** Fails fast (TOOL_MISSING) when `age` is not installed, before any data flows. */
export async function probeAge(): Promise<void> {
  const child = new ChildStage({ stage: 'encryptor', file: AGE_PROGRAM, args: ['--version'], stdin: 'ignore', stdout: 'ignore' });
  try {
    await child.done;
  } catch (e) {
    if (e instanceof BackupmateError && e.code === 'TOOL_MISSING') {
      throw new BackupmateError('TOOL_MISSING', 'ENCRYPTION=age needs the age program on PATH (Debian package age)', { stage: 'encryptor' });
    }
    throw e;
  }
}

/** The public keys (age1...) of the identities in `identityFile`, from `age-keygen -y`. */
export async function identityRecipients(identityFile: string): Promise<string[]> {
  const child = new ChildStage({
    stage: 'age-keygen',
    file: AGE_KEYGEN_PROGRAM,
    args: ['-y', identityFile],
    stdin: 'ignore',
    stderrIsFatal: ageStderrIsFatal,
  });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => child.stdout!.once('close', () => resolve()));
  try {
    await child.done;
  } catch (e) {
    if (e instanceof BackupmateError && e.code === 'TOOL_MISSING') {
      throw new BackupmateError('TOOL_MISSING', 'restoring an encrypted backup needs age-keygen on PATH (Debian package age)', { stage: 'age-keygen' });
    }
    const why = e instanceof BackupmateError ? (e.details.stderrTail as string[] | undefined)?.find(ageStderrIsFatal)?.replace(/^age-keygen: error: /, '') : undefined;
    throw new BackupmateError('CONFIG', `AGE_IDENTITY_FILE ${identityFile} is not a usable age identity file${why ? `: ${why}` : ''}`, { stage: 'age-keygen' });
  }
  await ended;
  return Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('age1'));
}

/** The manifest's recipients, or [] for an unencrypted backup. */
export function manifestRecipients(m: Manifest): string[] {
  return m.encryption ? m.encryption.recipients : [];
}

export function noIdentityError(m: Manifest): BackupmateError {
  return new BackupmateError(
    'CONFIG',
    `backup ${m.id} is encrypted (age); set AGE_IDENTITY_FILE to the identity of one of its recipients: ${manifestRecipients(m).join(', ')}`,
    { backupId: m.id },
  );
}

export function identityMismatchError(m: Manifest, identityFile: string, identityKeys?: readonly string[]): BackupmateError {
  const mine = identityKeys?.length ? `; ${identityFile} is the identity of ${identityKeys.join(', ')}` : '';
  return new BackupmateError(
    'CONFIG',
    `AGE_IDENTITY_FILE does not match any recipient of backup ${m.id}: it is encrypted to ${manifestRecipients(m).join(', ')}${mine}`,
    { backupId: m.id },
  );
}

/** True when an `age -d` stage failed because the identity is not one of the file's recipients. */
export function isIdentityMismatch(e: unknown): boolean {
  if (!(e instanceof BackupmateError) || e.details.stage !== 'decryptor') return false;
  const tail = (e.details.stderrTail as string[] | undefined) ?? [];
  return tail.some((l) => /no identity matched any of the recipients/.test(l));
}

/**
 * Before a restore or verify touches anything: every encrypted backup of `chain` must be
 * decryptable with `identityFile` ('' = none configured). Throws CONFIG naming the backup and its
 * recipients. Unencrypted chains need no identity and run nothing.
 */
export async function checkIdentityFor(chain: readonly Manifest[], identityFile: string): Promise<void> {
  const encrypted = chain.filter((m) => m.encryption !== null);
  if (!encrypted.length) return;
  if (identityFile === '') throw noIdentityError(encrypted[0]!);
  const keys = await identityRecipients(identityFile);
  for (const m of encrypted) {
    if (!manifestRecipients(m).some((r) => keys.includes(r))) throw identityMismatchError(m, identityFile, keys);
  }
}
