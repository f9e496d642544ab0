import { AGE_RECIPIENT_RE, isAgeRecipient, parseRecipientsFile, resolveRecipients, splitRecipients } from '../../../src/domain/age.js';

/** Real X25519 recipients as age-keygen prints them. */
const A = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const B = 'age15s8y3tcfjqzv6cfehya97256ar8875jgpac5lkrg4an2s8y3yausj6mxpc';
const C = 'age1eqxl9chzltrt5jpgkpjk96jcc936rw5nza647gyunxatkf7xl52s2wy5mc';

const noFile = (): string => {
  throw new Error('no file expected');
};

describe('isAgeRecipient', () => {
  test.each([A, B, C])('%s is one (62 characters)', (k) => {
    expect(k).toHaveLength(62);
    expect(AGE_RECIPIENT_RE.test(k)).toBe(true);
    expect(isAgeRecipient(k)).toBe(true);
  });

  test.each([
    ['one character changed (bech32 checksum)', A.slice(0, 20) + (A[20] === 'q' ? 'p' : 'q') + A.slice(21)],
    ['last character changed', A.slice(0, -1) + (A.endsWith('p') ? 'q' : 'p')],
    ['too short', A.slice(0, -1)],
    ['too long', A + 'q'],
    ['upper case', A.toUpperCase()],
    ['a character outside bech32 (b)', 'age1' + 'b'.repeat(58)],
    ['a private key', 'AGE-SECRET-KEY-1' + 'Q'.repeat(58)],
    ['an ssh key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk'],
    ['post-quantum prefix', 'age1pq1' + 'q'.repeat(55)],
    ['empty', ''],
  ])('%s is not', (_what, k) => {
    expect(isAgeRecipient(k)).toBe(false);
  });

  test('non-strings are not', () => {
    expect(isAgeRecipient(undefined)).toBe(false);
    expect(isAgeRecipient(42)).toBe(false);
  });
});

describe('AGE_RECIPIENTS values', () => {
  test('splits on commas and white space', () => {
    expect(splitRecipients(` ${A}, ${B}\n${C} ,,`)).toEqual([A, B, C]);
  });

  test('inline keys resolve in order, without duplicates', () => {
    expect(resolveRecipients(`${B} ${A},${B}`, noFile)).toEqual({ recipients: [B, A] });
  });

  test('a bad entry is named by position, never quoting a value', () => {
    const r = resolveRecipients(`${A}, ${A.slice(0, -2)}`, noFile);
    expect(r).toEqual({ problem: expect.stringMatching(/^must be age1\.\.\. .*; the 2nd entry is not one \(or its checksum is wrong\)$/) });
    expect(JSON.stringify(r)).not.toContain(A);
  });

  test('a single bad key', () => {
    expect(resolveRecipients('age1nope', noFile)).toEqual({ problem: expect.stringContaining('; it is not one') });
  });

  test('an absolute path is a recipients file: comments and blank lines are skipped', () => {
    const files: Record<string, string> = { '/etc/backupmate/recipients.txt': `# ops team\n${A}\n\n  ${B}  \n# old: ${C}\n` };
    expect(resolveRecipients('/etc/backupmate/recipients.txt', (f) => files[f]!)).toEqual({ recipients: [A, B] });
  });

  test('a file with a bad line names the line', () => {
    expect(parseRecipientsFile(`${A}\nssh-ed25519 AAAA\n`)).toEqual({ recipients: [A], badLine: 2 });
    expect(resolveRecipients('/r.txt', () => `# x\n${A}\nnot-a-key\n`)).toEqual({ problem: expect.stringContaining('line 3 of the file is not an age1... public key') });
  });

  test('an empty or unreadable file is a problem', () => {
    expect(resolveRecipients('/r.txt', () => '# nothing\n\n')).toEqual({ problem: expect.stringContaining('the file holds no recipient') });
    const enoent = (): string => {
      throw Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
    };
    expect(resolveRecipients('/missing.txt', enoent)).toEqual({ problem: expect.stringContaining('the file cannot be read: no such file') });
  });

  test('empty is a problem for the resolver (the config rule says when it is required)', () => {
    expect(resolveRecipients('  ', noFile)).toEqual({ problem: expect.stringContaining('it is empty') });
  });
});
