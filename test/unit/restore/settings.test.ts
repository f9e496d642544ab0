/** PREPARE_USE_MEMORY and MARIABACKUP_PARALLEL reach the restore's settings. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { restoreSettings } from '../../../src/app/wiring.js';
import { loadConfig, type Config } from '../../../src/config/load.js';
import { BackupmateError } from '../../../src/domain/errors.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-restore-settings-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function load(env: Record<string, string>): Config {
  return loadConfig({ cwd: tmp, etcDir: path.join(tmp, 'etc'), env: { STORAGE: 'file', STORAGE_PATH: '/srv/store', ...env } });
}

describe('restore settings', () => {
  test('defaults: 256MiB for prepare, MARIABACKUP_PARALLEL (2) for copy-back/move-back', () => {
    expect(restoreSettings(load({}))).toMatchObject({ prepareUseMemory: 256 * 1024 ** 2, parallel: 2 });
  });

  test('as configured', () => {
    expect(restoreSettings(load({ PREPARE_USE_MEMORY: '4GiB', MARIABACKUP_PARALLEL: '6' }))).toMatchObject({ prepareUseMemory: 4 * 1024 ** 3, parallel: 6 });
    expect(restoreSettings(load({ PREPARE_USE_MEMORY: '16M' })).prepareUseMemory).toBe(16 * 1024 ** 2);
  });

  test('PREPARE_USE_MEMORY below 16MiB is a configuration error naming the key', () => {
    let err: unknown;
    try {
      load({ PREPARE_USE_MEMORY: '8MiB' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('CONFIG');
    expect((err as BackupmateError).message).toContain('PREPARE_USE_MEMORY must be a byte size from 16MiB');
  });
});
