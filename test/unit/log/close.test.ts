/**
 * closeLogger: waits for every transport to drain, may be called twice, and turns every later log
 * call (from the logger or any child) into a harmless no-op. Before, a line logged after close
 * (a late child-process stderr line, a detached rm's error handler, a progress timer) made winston
 * emit "write after end" as an unhandled 'error': exit 1 with a stack trace at the end of a restore.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closeLogger, createLogger } from '../../../src/log/logger.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-log-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `fn`, then lets the event loop turn a few times, collecting errors nobody handled. */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onError = (e: unknown) => seen.push(e);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  try {
    await fn();
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  return seen;
}

describe('closeLogger', () => {
  test('every line logged before close is in the file; later calls from the logger and a child neither throw nor emit an unhandled error', async () => {
    const file = path.join(dir, 'a.log');
    const logger = createLogger({ level: 'debug', console: 'none', file });
    const child = logger.child({ backupId: 'X' });
    const lines = 2000;
    const errors = await unhandledDuring(async () => {
      for (let i = 0; i < lines; i++) (i % 2 ? child : logger).debug(`line ${i}`, { event: 'test.line', i });
      logger.info('last line before close', { event: 'test.last' });
      await closeLogger(logger);
      expect(() => {
        logger.info('after close', { event: 'test.late' });
        logger.error('after close, error level');
        child.debug('after close, from a child');
        child.warn('after close, from a child', { event: 'test.late' });
        logger.log('info', 'after close, log()');
      }).not.toThrow();
      // Closing again waits for nothing and does not throw either.
      await closeLogger(logger);
      await closeLogger(child);
    });
    expect(errors).toEqual([]);
    const logged = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { message: string; i?: number; backupId?: string });
    expect(logged).toHaveLength(lines + 1);
    expect(logged.slice(0, lines).map((l) => l.i)).toEqual(Array.from({ length: lines }, (_, i) => i));
    expect(logged[1].backupId).toBe('X');
    expect(logged.at(-1)!.message).toBe('last line before close');
    expect(logged.some((l) => l.message.includes('after close'))).toBe(false);
  });

  test('a logger with the console transport only (stdout) closes too, and twice at once', async () => {
    const logger = createLogger({ level: 'debug', console: 'stdout' });
    const errors = await unhandledDuring(async () => {
      await Promise.all([closeLogger(logger), closeLogger(logger)]);
      logger.info('after close');
    });
    expect(errors).toEqual([]);
  });
});
