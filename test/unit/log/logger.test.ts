/**
 * The console of createLogger: `<N>` priority prefixes when the stream is the journal (issue 11
 * item 12), plain JSON otherwise, and the 'human' console for a person at a terminal (item 15).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { consoleMode } from '../../../src/app/wiring.js';
import { createLogger, fdIsJournal, humanLine, isJournalStream, journalLine, type LoggerOptions } from '../../../src/log/logger.js';
import { summaryLine } from '../../../src/cli/commands.js';

async function linesOf(opts: Partial<LoggerOptions>, write: (l: ReturnType<typeof createLogger>) => void): Promise<string[]> {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString()));
  const logger = createLogger({ level: 'debug', console: 'stdout', consoleStream: stream, ...opts });
  write(logger);
  await new Promise<void>((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
  });
  await new Promise((r) => setImmediate(r));
  return out.split('\n').filter((l) => l !== '');
}

describe('journal priorities', () => {
  test('a logger whose stream is the journal writes <3>/<4>/<6>/<7> before each JSON line', async () => {
    const lines = await linesOf({ journal: true }, (l) => {
      l.error('bad', { event: 'x' });
      l.warn('careful');
      l.info('fine');
      l.debug('detail');
    });
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<3>', '<4>', '<6>', '<7>']);
    expect(JSON.parse(lines[1]!.slice(3))).toMatchObject({ level: 'warn', message: 'careful' });
  });

  test('not the journal: plain JSON lines', async () => {
    const lines = await linesOf({ journal: false }, (l) => l.warn('careful'));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith('{')).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', message: 'careful' });
  });

  test('an injected stream is never taken for the journal unless told', async () => {
    const lines = await linesOf({}, (l) => l.warn('careful'));
    expect(lines[0]!.startsWith('{')).toBe(true);
  });

  test('the file gets JSON without the prefix', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-log-'));
    try {
      const file = path.join(dir, 'x.log');
      await linesOf({ journal: true, file }, (l) => l.warn('careful'));
      await new Promise((r) => setTimeout(r, 50));
      expect(fs.readFileSync(file, 'utf8').startsWith('{')).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('journalLine', () => {
    expect(journalLine('warn', '{"a":1}')).toBe('<4>{"a":1}');
    expect(journalLine('info', 'x')).toBe('<6>x');
  });

  test('isJournalStream compares JOURNAL_STREAM with the stream\'s device and inode', () => {
    expect(isJournalStream('8:1234', { dev: 8, ino: 1234 })).toBe(true);
    expect(isJournalStream('8:1234', { dev: 8n, ino: 1234n })).toBe(true);
    expect(isJournalStream('8:1234', { dev: 8, ino: 999 })).toBe(false);
    expect(isJournalStream(undefined, { dev: 8, ino: 1234 })).toBe(false);
    expect(isJournalStream('garbage', { dev: 8, ino: 1234 })).toBe(false);
    expect(isJournalStream('8:1234', null)).toBe(false);
  });

  test('fdIsJournal: a file descriptor is the journal only when its fstat matches', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-log-'));
    const fd = fs.openSync(path.join(dir, 'f'), 'w');
    try {
      const st = fs.fstatSync(fd);
      expect(fdIsJournal(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe(true);
      expect(fdIsJournal(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` })).toBe(false);
      expect(fdIsJournal(fd, {})).toBe(false);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the human console', () => {
  test('only warnings and errors, as short lines; no JSON; job end records left to the command', async () => {
    const lines = await linesOf({ console: 'human', secrets: ['s3cret'] }, (l) => {
      l.info('started', { event: 'backup.start' });
      l.warn('mariabackup and the server differ in their patch version');
      l.error('retention after the backup failed: s3cret leaked?', { event: 'prune.failed' });
      l.error('backup failed before it started: boom', { event: 'backup.end' });
    });
    expect(lines).toEqual([
      'backupmate: warning: mariabackup and the server differ in their patch version',
      'backupmate: error: retention after the backup failed: <redacted> leaked?',
    ]);
  });

  test('humanLine', () => {
    expect(humanLine('backupmate', { level: 'info', message: 'x' })).toBeNull();
    expect(humanLine('backupmate', { level: 'warn', message: 'x' })).toBe('backupmate: warning: x');
    expect(humanLine('backupmate', { level: 'error', message: 'x', event: 'verify.end' })).toBeNull();
  });
});

describe('consoleMode: which console a command gets', () => {
  const tty = { stdout: true, stderr: true };
  const none = { stdout: false, stderr: false };
  test.each([
    ['stdout', 'backup', tty, false, 'human'],
    ['stdout', 'backup', tty, true, 'stdout'],
    ['stdout', 'backup', none, false, 'stdout'],
    ['stdout', 'backup', { stdout: false, stderr: true }, false, 'stdout'],
    ['stderr', 'verify', tty, false, 'human'],
    ['stderr', 'verify', { stdout: true, stderr: false }, false, 'stderr'],
    ['stderr', 'list', tty, false, 'human'],
    ['stderr', 'restore', tty, false, 'human'],
    ['stdout', 'run', tty, false, 'stdout'],
    ['none', 'backup', tty, false, 'none'],
  ] as const)('%s for %s with ttys %j, json %s -> %s', (wanted, command, ttys, json, want) => {
    expect(consoleMode(wanted, command, ttys, json)).toBe(want);
  });
});

test('the backup summary line', () => {
  expect(summaryLine({ id: '20261121T040000Z', kind: 'incremental', parentId: '20261120T040000Z', rawBytes: 3 * 1024 ** 3, storedBytes: 512 * 1024 ** 2, durationMs: 95_000 })).toMatch(
    /^backup 20261121T040000Z succeeded: incremental on 20261120T040000Z, 3(\.0)? GiB read, 512(\.0)? MiB stored, in 1m ?35s$/,
  );
});
