/**
 * The age stages with the real `age` and `age-keygen` (Debian package age): argv, the identity
 * check a restore runs before downloading, and the messages of a failing age.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChildStage } from '../../../src/archive/child.js';
import {
  ageStderrIsFatal,
  checkIdentityFor,
  decryptCommand,
  encryptCommand,
  identityRecipients,
  isIdentityMismatch,
} from '../../../src/archive/encryption.js';
import { BackupmateError } from '../../../src/domain/errors.js';
import type { Manifest } from '../../../src/domain/manifest.js';

let tmp: string;
let key1: string;
let key2: string;
let pub1: string;
let pub2: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-age-'));
  key1 = path.join(tmp, 'key1.txt');
  key2 = path.join(tmp, 'key2.txt');
  execFileSync('age-keygen', ['-o', key1], { stdio: 'ignore' });
  execFileSync('age-keygen', ['-o', key2], { stdio: 'ignore' });
  pub1 = execFileSync('age-keygen', ['-y', key1], { encoding: 'utf8' }).trim();
  pub2 = execFileSync('age-keygen', ['-y', key2], { encoding: 'utf8' }).trim();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function manifest(id: string, recipients: string[] | null): Manifest {
  return { id, encryption: recipients ? { type: 'age', recipients } : null } as unknown as Manifest;
}

async function through(cmd: { file: string; args: string[] }, input: Buffer, stage: string): Promise<Buffer> {
  const child = new ChildStage({ stage, file: cmd.file, args: cmd.args, stderrIsFatal: ageStderrIsFatal });
  const out: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stdin!.end(input);
  await child.done;
  return Buffer.concat(out);
}

test('argv: one -r per recipient; -d -i IDENTITY', () => {
  expect(encryptCommand(['age1a', 'age1b'])).toEqual({ file: 'age', args: ['-e', '-r', 'age1a', '-r', 'age1b'] });
  expect(decryptCommand('/k.txt')).toEqual({ file: 'age', args: ['-d', '-i', '/k.txt'] });
  expect(() => encryptCommand([])).toThrow(BackupmateError);
});

test('encrypt to two recipients; either identity decrypts; the output is age, not the input', async () => {
  const plain = Buffer.concat([Buffer.from('ustar\0'), Buffer.alloc(100_000, 7)]);
  const sealed = await through(encryptCommand([pub1, pub2]), plain, 'encryptor');
  expect(sealed.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
  expect(sealed.includes(Buffer.from('ustar'))).toBe(false);
  expect(await through(decryptCommand(key1), sealed, 'decryptor')).toEqual(plain);
  expect(await through(decryptCommand(key2), sealed, 'decryptor')).toEqual(plain);
});

test("a wrong identity: the stage's message quotes age's error line, and it is recognised", async () => {
  const sealed = await through(encryptCommand([pub1]), Buffer.from('secret'), 'encryptor');
  const err = await through(decryptCommand(key2), sealed, 'decryptor').then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BackupmateError);
  expect((err as BackupmateError).message).toBe('decryptor exited with code 1: age: error: no identity matched any of the recipients');
  expect(isIdentityMismatch(err)).toBe(true);
});

test('identityRecipients derives the public keys with age-keygen -y', async () => {
  expect(await identityRecipients(key1)).toEqual([pub1]);
  const both = path.join(tmp, 'both.txt');
  fs.writeFileSync(both, fs.readFileSync(key1, 'utf8') + fs.readFileSync(key2, 'utf8'), { mode: 0o600 });
  expect(await identityRecipients(both)).toEqual([pub1, pub2]);
});

describe('checkIdentityFor', () => {
  test('unencrypted chains need nothing', async () => {
    await expect(checkIdentityFor([manifest('20261121T040000Z', null)], '')).resolves.toBeUndefined();
  });

  test('no identity configured: CONFIG naming the backup and its recipients', async () => {
    const err = await checkIdentityFor([manifest('20261121T040000Z', [pub1, pub2])], '').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('CONFIG');
    expect((err as BackupmateError).message).toBe(
      `backup 20261121T040000Z is encrypted (age); set AGE_IDENTITY_FILE to the identity of one of its recipients: ${pub1}, ${pub2}`,
    );
  });

  test('an identity of one recipient passes', async () => {
    await expect(checkIdentityFor([manifest('20261121T040000Z', [pub2, pub1])], key1)).resolves.toBeUndefined();
  });

  test('a wrong identity: CONFIG naming the backup, its recipients and the identity', async () => {
    const err = (await checkIdentityFor([manifest('20261121T040000Z', null), manifest('20261122T040000Z', [pub1])], key2).catch((e: unknown) => e)) as BackupmateError;
    expect(err.code).toBe('CONFIG');
    expect(err.message).toBe(`AGE_IDENTITY_FILE does not match any recipient of backup 20261122T040000Z: it is encrypted to ${pub1}; ${key2} is the identity of ${pub2}`);
    expect(err.message).not.toMatch(/AGE-SECRET-KEY/);
  });

  test('a file that is no identity, or is missing: CONFIG naming it', async () => {
    const notKey = path.join(tmp, 'not-a-key.txt');
    fs.writeFileSync(notKey, `${pub1}\n`);
    for (const file of [notKey, path.join(tmp, 'missing.txt')]) {
      const err = (await checkIdentityFor([manifest('20261121T040000Z', [pub1])], file).catch((e: unknown) => e)) as BackupmateError;
      expect(err.code).toBe('CONFIG');
      expect(err.message).toMatch(new RegExp(`^AGE_IDENTITY_FILE ${file} is not a usable age identity file: `));
    }
  });
});
