/**
 * The Encryption section of the configuration: ENCRYPTION, AGE_RECIPIENTS, AGE_IDENTITY_FILE.
 * (config.test.ts covers what every key must satisfy: example, default, documentation.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackupmateError } from '../../src/domain/errors.js';
import { PROBLEM_PREFIX, loadConfig, type Config } from '../../src/config/load.js';
import { backupSettings, restoreSettings } from '../../src/app/wiring.js';

const A = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const B = 'age15s8y3tcfjqzv6cfehya97256ar8875jgpac5lkrg4an2s8y3yausj6mxpc';
const BASE = { S3_BUCKET_NAME: 'bucket' };

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-encconfig-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function load(env: Record<string, string>): Config {
  return loadConfig({ cwd: tmp, etcDir: path.join(tmp, 'etc'), env: { ...BASE, ...env } });
}

function problems(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    expect((e as BackupmateError).exitCode).toBe(78);
    return (e as BackupmateError).message.split('\n').filter((l) => l.startsWith(PROBLEM_PREFIX));
  }
  throw new Error('expected loadConfig to throw');
}

describe('defaults', () => {
  test('no encryption, no recipients, no identity', () => {
    const c = load({});
    expect([c.ENCRYPTION, c.AGE_RECIPIENTS, c.AGE_IDENTITY_FILE]).toEqual(['none', '', '']);
    expect(backupSettings(c).encryption).toBeNull();
    expect(restoreSettings(c).ageIdentityFile).toBe('');
  });
});

describe('valid', () => {
  test('ENCRYPTION=age with inline keys (commas, spaces, any case of "age")', () => {
    const c = load({ ENCRYPTION: 'AGE', AGE_RECIPIENTS: ` ${A}, ${B} ` });
    expect(c.ENCRYPTION).toBe('age');
    expect(c.AGE_RECIPIENTS).toBe(`${A}, ${B}`);
    expect(backupSettings(c).encryption).toEqual({ type: 'age', recipients: `${A}, ${B}` });
  });

  test('ENCRYPTION=age with a recipients file', () => {
    const file = path.join(tmp, 'recipients.txt');
    fs.writeFileSync(file, `# backup keys\n${A}\n${B}\n`);
    const c = load({ ENCRYPTION: 'age', AGE_RECIPIENTS: file });
    expect(c.AGE_RECIPIENTS).toBe(file);
  });

  test('an identity file is only a path: it need not exist on the database host', () => {
    const c = load({ AGE_IDENTITY_FILE: '/run/backupmate/restore-identity.txt' });
    expect(restoreSettings(c).ageIdentityFile).toBe('/run/backupmate/restore-identity.txt');
  });

  test('a restore-only host needs no recipients', () => {
    expect(load({ ENCRYPTION: 'none', AGE_IDENTITY_FILE: '/root/key.txt' }).ENCRYPTION).toBe('none');
  });
});

describe('invalid: one line each, naming the key', () => {
  test.each<[string, Record<string, string>, string, string[]]>([
    ['ENCRYPTION=age without recipients', { ENCRYPTION: 'age' }, 'AGE_RECIPIENTS', ['must be set when ENCRYPTION=age', 'ENCRYPTION is "age"']],
    ['an unknown encryption', { ENCRYPTION: 'aes' }, 'ENCRYPTION', ['must be one of none, age']],
    ['a truncated key', { ENCRYPTION: 'age', AGE_RECIPIENTS: A.slice(0, -1) }, 'AGE_RECIPIENTS', ['62 characters', 'it is not one']],
    ['a mistyped key (checksum)', { ENCRYPTION: 'age', AGE_RECIPIENTS: `${A} ${B.replace('5s8y', '5s9y')}` }, 'AGE_RECIPIENTS', ['the 2nd entry is not one']],
    ['a private key given as recipient', { ENCRYPTION: 'age', AGE_RECIPIENTS: 'AGE-SECRET-KEY-1' + 'Q'.repeat(58) }, 'AGE_RECIPIENTS', ['public keys']],
    ['a relative recipients path', { ENCRYPTION: 'age', AGE_RECIPIENTS: 'keys/recipients.txt' }, 'AGE_RECIPIENTS', ['absolute path']],
    ['a missing recipients file', { ENCRYPTION: 'age', AGE_RECIPIENTS: '/nonexistent/recipients.txt' }, 'AGE_RECIPIENTS', ['cannot be read: no such file']],
    ['a relative identity file', { AGE_IDENTITY_FILE: 'key.txt' }, 'AGE_IDENTITY_FILE', ['absolute path or empty']],
  ])('%s', (_name, env, key, mentions) => {
    const lines = problems(env);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`${PROBLEM_PREFIX}${key} `)).toBe(true);
    for (const m of mentions) expect(lines[0]).toContain(m);
  });

  test('a recipients file with a bad line names the line', () => {
    const file = path.join(tmp, 'recipients.txt');
    fs.writeFileSync(file, `${A}\nssh-ed25519 AAAAC3Nza\n`);
    const lines = problems({ ENCRYPTION: 'age', AGE_RECIPIENTS: file });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('line 2 of the file is not an age1... public key');
    expect(lines[0]).toContain(`got "${file}"`);
  });
});
