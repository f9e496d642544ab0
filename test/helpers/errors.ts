/** Assertion helpers shared by unit tests. */
import { expect } from '@jest/globals';
import { BackupmateError } from '../../src/domain/errors.js';

/** Runs `fn`, expects a BackupmateError and returns it for assertions on code and message. */
export function errorOf(fn: () => unknown): BackupmateError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BackupmateError);
    return e as BackupmateError;
  }
  throw new Error('expected a BackupmateError, nothing was thrown');
}
