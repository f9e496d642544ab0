/** The staging directory's writability probe: an unwritable directory is LOCAL_IO naming it and the errno in words, not "not enough free space". */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackupmateError } from '../../../src/domain/errors.js';
import { probeWritable } from '../../../src/restore/job.js';

function errno(code: string): () => Promise<string> {
  return () => Promise.reject(Object.assign(new Error(`${code}: failed`), { code }));
}

async function errorOf(p: Promise<unknown>): Promise<BackupmateError> {
  try {
    await p;
  } catch (e) {
    return e as BackupmateError;
  }
  throw new Error('expected a rejection');
}

describe('probeWritable', () => {
  test.each([
    ['EROFS', /^LOCAL_TEMP_DIR \/var\/tmp\/bm is read-only \(EROFS\)/],
    ['EACCES', /^LOCAL_TEMP_DIR \/var\/tmp\/bm is not writable: permission denied \(EACCES\)/],
    ['EPERM', /^LOCAL_TEMP_DIR \/var\/tmp\/bm is not writable: operation not permitted .*\(EPERM\)/],
  ])('%s', async (code, message) => {
    const e = await errorOf(probeWritable('/var/tmp/bm', 'LOCAL_TEMP_DIR', errno(code)));
    expect(e).toBeInstanceOf(BackupmateError);
    expect(e.code).toBe('LOCAL_IO');
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/free space/);
  });

  test('a writable directory passes and keeps nothing of the probe', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-probe-'));
    try {
      await probeWritable(dir, 'LOCAL_TEMP_DIR');
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
