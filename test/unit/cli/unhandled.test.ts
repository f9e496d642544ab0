import { describe, expect, test } from '@jest/globals';
import { onUnhandledRejection } from '../../../src/cli/main.js';
import { ERROR_CODES } from '../../../src/domain/errors.js';

describe('unhandled rejections', () => {
  test('say so on stderr and exit with the internal-error status', () => {
    const out: string[] = [];
    const codes: number[] = [];
    onUnhandledRejection('backupmate', (c) => codes.push(c), (s) => out.push(s))(new Error('lost track'));
    expect(codes).toEqual([ERROR_CODES.INTERNAL.exit]);
    expect(out.join('')).toBe('backupmate: unexpected error (a bug; please report it with the log): unhandled rejection: lost track\n');
  });

  test('a non-Error reason is named as it is', () => {
    const out: string[] = [];
    onUnhandledRejection('backupmatectl', () => {}, (s) => out.push(s))('plain');
    expect(out.join('')).toContain('unhandled rejection: plain');
  });

});
