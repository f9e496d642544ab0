/** `verify`: not in this version; answers with a clear error rather than silence. */
import { BackupmateError } from '../../domain/errors.js';
import type { Handler } from '../control.js';

export const verify = (): Handler => async () => {
  throw new BackupmateError('USAGE', 'verify is not available in this version yet (restore checks every volume\'s sha256 before touching the target)');
};
