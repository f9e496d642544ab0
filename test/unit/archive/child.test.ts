import { jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChildStage, summarizeStderr } from '../../../src/archive/child.js';
import { isConsequence } from '../../../src/archive/stages.js';
import { BackupmateError } from '../../../src/domain/errors.js';

jest.setTimeout(10_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-child-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function sh(script: string, extra: Partial<ConstructorParameters<typeof ChildStage>[0]> = {}): ChildStage {
  return new ChildStage({ stage: 'tool', file: 'sh', args: ['-c', script], stdin: 'ignore', stdout: 'ignore', ...extra });
}

async function failure(stage: ChildStage): Promise<BackupmateError> {
  const e = await stage.done.then(
    () => {
      throw new Error('expected the stage to fail');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BackupmateError);
  return e as BackupmateError;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('exit status', () => {
  test('exit 0 resolves', async () => {
    const s = sh('exit 0');
    await expect(s.done).resolves.toBeUndefined();
    expect(s.pid).toEqual(expect.any(Number));
  });

  test('a non-zero exit is TOOL_FAILED naming the stage, the code and the last stderr line', async () => {
    const s = sh('echo oops >&2; exit 3', { stage: 'mariabackup' });
    const err = await failure(s);
    expect(err.code).toBe('TOOL_FAILED');
    expect(err.exitCode).toBe(71);
    expect(err.message).toBe('mariabackup exited with code 3: oops');
    expect(err.details).toMatchObject({ stage: 'mariabackup', exitCode: 3, stderrTail: ['oops'], killedByUs: false });
    expect(err.details.signal).toBeUndefined();
  });

  test('the message quotes the last non-blank stderr line, trimmed', async () => {
    const err = await failure(sh(`printf 'first\\n  the real error  \\n\\n   \\n' >&2; exit 1`));
    expect(err.message).toBe('tool exited with code 1: the real error');
    expect(err.details.stderrTail).toEqual(['first', '  the real error  ', '', '   ']);
  });

  test('a failure with a silent stderr has no trailing colon', async () => {
    const err = await failure(sh('exit 2'));
    expect(err.message).toBe('tool exited with code 2');
    expect(err.details.exitCode).toBe(2);
  });

  test('a child that dies of a signal on its own is TOOL_FAILED, not killed by us', async () => {
    const s = sh('kill -TERM $$');
    const err = await failure(s);
    expect(err.code).toBe('TOOL_FAILED');
    expect(err.message).toBe('tool was killed by SIGTERM');
    expect(err.details).toMatchObject({ signal: 'SIGTERM', killedByUs: false });
    expect(s.wasKilledByUs).toBe(false);
  });
});

describe('missing programs', () => {
  test('a program that does not exist is TOOL_MISSING', async () => {
    const file = path.join(tmp, 'no-such-program');
    const s = new ChildStage({ stage: 'compressor', file, args: ['-c'] });
    const err = await failure(s);
    expect(err.code).toBe('TOOL_MISSING');
    expect(err.exitCode).toBe(69);
    expect(err.message).toBe(`compressor: program "${file}" not found or not executable`);
    expect(err.details.stage).toBe('compressor');
  });

  test('a bare name not on PATH is TOOL_MISSING', async () => {
    const err = await failure(new ChildStage({ stage: 'mbstream', file: 'backupmate-test-no-such-tool', args: [] }));
    expect(err.code).toBe('TOOL_MISSING');
    expect(err.message).toBe('mbstream: program "backupmate-test-no-such-tool" not found or not executable');
  });

  // BUG (src/archive/child.ts, `missing` only looks for ENOENT): a program that exists but is not
  // executable fails to spawn with EACCES and is reported as TOOL_FAILED "could not run: ..." (exit
  // 71), while the error registry defines TOOL_MISSING (exit 69) as "a required program is missing
  // or not executable" and the TOOL_MISSING message itself says "not found or not executable".
  test('a file without execute permission is TOOL_MISSING', async () => {
    const file = path.join(tmp, 'zstd');
    fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    const err = await failure(new ChildStage({ stage: 'compressor', file, args: [] }));
    expect(err.code).toBe('TOOL_MISSING');
    expect(err.message).toBe(`compressor: program "${file}" not found or not executable`);
  });
});

describe('kill()', () => {
  test('kills a running child; its failure is marked killedByUs', async () => {
    const s = sh('echo started >&2; exec sleep 30', { stage: 'mariabackup' });
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (s.stderrTail.includes('started')) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    s.kill();
    expect(s.wasKilledByUs).toBe(true);
    const err = await failure(s);
    expect(err.code).toBe('TOOL_FAILED');
    expect(err.message).toBe('mariabackup was killed by SIGKILL: started');
    expect(err.details).toMatchObject({ stage: 'mariabackup', signal: 'SIGKILL', killedByUs: true });
  });

  test('kill() right after the start also counts as ours', async () => {
    const s = sh('exec sleep 30');
    s.kill();
    const err = await failure(s);
    expect(err.details).toMatchObject({ signal: 'SIGKILL', killedByUs: true });
  });

  test('kill() after a clean exit does nothing', async () => {
    const s = sh('exit 0');
    await s.done;
    s.kill();
    expect(s.wasKilledByUs).toBe(false);
  });

  test('kill() after a failed exit does not turn the failure into a consequence', async () => {
    const s = sh('echo broken >&2; exit 4');
    const err = await failure(s);
    s.kill();
    expect(s.wasKilledByUs).toBe(false);
    expect(err.details.killedByUs).toBe(false);
  });

  test('a child that already died but is not reaped yet is not marked as killed by us', async () => {
    const s = sh('exit 5');
    // Block the event loop (so Node cannot reap it) until the child is a zombie, then kill().
    const deadline = Date.now() + 3000;
    let zombie = false;
    while (!zombie && Date.now() < deadline) {
      try {
        const stat = fs.readFileSync(`/proc/${s.pid}/stat`, 'utf8');
        zombie = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
      } catch {
        break;
      }
    }
    expect(zombie).toBe(true);
    s.kill();
    expect(s.wasKilledByUs).toBe(false);
    const err = await failure(s);
    expect(err.message).toBe('tool exited with code 5');
    expect(err.details).toMatchObject({ exitCode: 5, killedByUs: false });
  });
});

describe('stderr', () => {
  test('lines go to onStderr in order; the tail keeps the last 20', async () => {
    const lines: string[] = [];
    const s = sh('i=1; while [ $i -le 30 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 1', { onStderr: (l) => lines.push(l) });
    const err = await failure(s);
    expect(lines).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
    expect(s.stderrTail).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 11}`));
    expect(err.details.stderrTail).toEqual(s.stderrTail);
    expect(err.message).toBe('tool exited with code 1: line 30');
  });

  test('CRLF line ends are handled', async () => {
    const lines: string[] = [];
    await sh(`printf 'a\\r\\nb\\r\\n' >&2`, { onStderr: (l) => lines.push(l) }).done;
    expect(lines).toEqual(['a', 'b']);
  });

  test('stderrIsFatal: a fatal line fails a stage that exits 0, quoting that line', async () => {
    const s = sh('echo "reading stream" >&2; echo "mbstream: error: cannot open ./ibdata1" >&2; echo "done" >&2; exit 0', {
      stage: 'mbstream',
      stderrIsFatal: (l) => /\berror\b/.test(l),
    });
    const err = await failure(s);
    expect(err.code).toBe('TOOL_FAILED');
    expect(err.message).toBe('mbstream reported an error: mbstream: error: cannot open ./ibdata1');
    expect(err.details).toMatchObject({ stage: 'mbstream', exitCode: 0, killedByUs: false });
  });

  test('stderrIsFatal: the first fatal line is quoted, also when the exit code is non-zero', async () => {
    const s = sh('echo "error: first" >&2; echo "error: second" >&2; echo "bye" >&2; exit 2', {
      stderrIsFatal: (l) => l.startsWith('error:'),
    });
    const err = await failure(s);
    expect(err.message).toBe('tool exited with code 2: error: first');
  });

  test('stderrIsFatal that matches nothing lets exit 0 succeed', async () => {
    const seen: string[] = [];
    const s = sh('echo "all good" >&2; exit 0', {
      stderrIsFatal: (l) => {
        seen.push(l);
        return false;
      },
    });
    await expect(s.done).resolves.toBeUndefined();
    expect(seen).toEqual(['all good']);
  });
});

/** Real stderr of `mariabackup --prepare` (10.11) on a damaged backup, captured for these tests. */
const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');
const fixture = (name: string) => path.join(FIXTURES, name);

describe('the summary quotes the meaningful stderr line, not the shutdown noise', () => {
  // Issue 11 item 13: a failed prepare was summarised by mariabackup's last line,
  // "Error in my_thread_global_end(): 1 threads didn't exit", instead of the real error.
  test('a prepare of a backup with a corrupt ibdata1: srv_start() returned 37, with the [ERROR] that says why', async () => {
    const s = sh(`cat '${fixture('prepare-corrupt-ibdata1.stderr')}' >&2; exit 1`, { stage: 'prepare' });
    const err = await failure(s);
    expect(err.message).toBe(
      'prepare exited with code 1: mariadb-backup: srv_start() returned 37 (Data structure corruption); before it: [ERROR] InnoDB: Inconsistent tablespace ID in ./ibdata1',
    );
    expect(err.message).not.toMatch(/my_thread_global_end/);
    // The details keep the raw tail, noise and timestamps included.
    expect((err.details.stderrTail as string[]).at(-1)).toBe("Error in my_thread_global_end(): 1 threads didn't exit");
    expect(err.details.stderrTail).toHaveLength(20);
  });

  test('a prepare of a backup with a damaged redo log: srv_start() returned 11, with the [ERROR] that says why', async () => {
    const err = await failure(sh(`cat '${fixture('prepare-damaged-redo-log.stderr')}' >&2; exit 1`, { stage: 'prepare' }));
    expect(err.message).toBe(
      'prepare exited with code 1: mariadb-backup: srv_start() returned 11 (Generic error); before it: ' +
        '[ERROR] InnoDB: No valid checkpoint was found; the log was created with Backup 10.11.19.',
    );
  });

  test('the last error-like line wins over later ordinary lines; timestamps are dropped', () => {
    expect(summarizeStderr(['2026-12-02  6:45:56 0 [ERROR] InnoDB: Operating system error number 28', '[00] 2026-12-02 06:45:56 cleaning up', ''])).toBe(
      '[ERROR] InnoDB: Operating system error number 28',
    );
    expect(summarizeStderr(['zstd: stdin: unexpected end of file', 'zstd: error 70 : Write error : cannot write block', 'bye'])).toBe(
      'zstd: error 70 : Write error : cannot write block',
    );
    expect(summarizeStderr(['copying', 'mariabackup: FATAL: cannot open ./ib_logfile0', 'mariabackup: Warning: 0 files and 3 streams is left open'])).toBe(
      'mariabackup: FATAL: cannot open ./ib_logfile0',
    );
    expect(summarizeStderr(['xtrabackup_copy_logfile() failed.', "Error in my_thread_global_end(): 2 threads didn't exit"])).toBe('xtrabackup_copy_logfile() failed.');
  });

  test('a returned-code line without an [ERROR] before it stands alone', () => {
    expect(summarizeStderr(['[00] 2026-12-02 06:45:56 mariadb-backup: srv_start() returned 37 (Data structure corruption).'])).toBe(
      'mariadb-backup: srv_start() returned 37 (Data structure corruption).',
    );
  });

  test('nothing error-like: the last line that is not noise; only noise: the last line; nothing: empty', () => {
    expect(summarizeStderr(['first', 'oops', "Error in my_thread_global_end(): 2 threads didn't exit", '  '])).toBe('oops');
    expect(summarizeStderr(["Error in my_thread_global_end(): 2 threads didn't exit"])).toBe("Error in my_thread_global_end(): 2 threads didn't exit");
    expect(summarizeStderr(['', '  '])).toBe('');
    expect(summarizeStderr([])).toBe('');
  });
});

describe('streams, environment and cwd', () => {
  test('stdin and stdout stream bytes through the child', async () => {
    const s = new ChildStage({ stage: 'cat', file: 'cat', args: [] });
    const data = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const out = readAll(s.stdout!);
    s.stdin!.end(data);
    expect((await out).equals(data)).toBe(true);
    await expect(s.done).resolves.toBeUndefined();
  });

  test('writing into a child that already exited does not throw; the exit status decides', async () => {
    const s = new ChildStage({ stage: 'head', file: 'sh', args: ['-c', 'exit 0'], stdout: 'ignore' });
    await s.done;
    await new Promise<void>((resolve) => {
      s.stdin!.write(Buffer.alloc(1 << 20), () => resolve());
    });
    // Nothing blew up: the EPIPE on stdin is swallowed.
    expect(s.wasKilledByUs).toBe(false);
  });

  test('env is added to the inherited environment, cwd is honoured', async () => {
    const s = sh('echo "$BACKUPMATE_TEST_VAR in $(pwd) with PATH=${PATH:+set}" >&2; exit 9', {
      env: { BACKUPMATE_TEST_VAR: 'hello' },
      cwd: tmp,
    });
    const err = await failure(s);
    expect(err.message).toBe(`tool exited with code 9: hello in ${fs.realpathSync(tmp)} with PATH=set`);
  });
});

describe('a producer handed to a consumer (stdin: another stage)', () => {
  async function outcome(s: ChildStage): Promise<BackupmateError | null> {
    return s.done.then(
      () => null,
      (e: unknown) => e as BackupmateError,
    );
  }

  test('the bytes flow in the kernel, not through Node', async () => {
    const producer = new ChildStage({ stage: 'producer', file: 'sh', args: ['-c', 'head -c 100000 /dev/zero'], stdin: 'ignore' });
    const consumer = new ChildStage({ stage: 'consumer', file: 'wc', args: ['-c'], stdin: producer });
    let out = '';
    consumer.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await Promise.all([producer.done, consumer.done]);
    expect(out.trim()).toBe('100000');
  });

  test('a producer that fails on EPIPE because its consumer died is marked brokenPipe; the consumer is not', async () => {
    // SIGPIPE ignored: `yes` then fails with EPIPE and exit 1, as mariabackup does.
    const producer = new ChildStage({ stage: 'producer', file: 'sh', args: ['-c', "trap '' PIPE; exec yes"], stdin: 'ignore' });
    const consumer = new ChildStage({ stage: 'consumer', file: 'sh', args: ['-c', 'head -c 10 >/dev/null; exit 3'], stdin: producer, stdout: 'ignore' });
    const [p, c] = await Promise.all([outcome(producer), outcome(consumer)]);
    expect(c?.details).toMatchObject({ exitCode: 3 });
    expect(c?.details.brokenPipe).toBeUndefined();
    expect(p?.details).toMatchObject({ exitCode: 1, brokenPipe: true });
  });

  test('a producer that fails on its own while its consumer succeeds is not marked', async () => {
    const producer = new ChildStage({ stage: 'producer', file: 'sh', args: ['-c', 'echo partial; exit 2'], stdin: 'ignore' });
    const consumer = new ChildStage({ stage: 'consumer', file: 'cat', args: [], stdin: producer, stdout: 'ignore' });
    const [p, c] = await Promise.all([outcome(producer), outcome(consumer)]);
    expect(c).toBeNull();
    expect(p?.details).toMatchObject({ exitCode: 2 });
    expect(p?.details.brokenPipe).toBeUndefined();
  });
});

describe('ChildStage.reader: the end of the stream carries the exit status', () => {
  const readAllOf = async (r: NodeJS.ReadableStream) => {
    const chunks: Buffer[] = [];
    for await (const c of r) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };

  test('a program that exits 0 gives its whole output, then ends', async () => {
    const c = new ChildStage({ stage: 'producer', file: 'sh', args: ['-c', 'printf hello'], stdin: 'ignore' });
    expect(await readAllOf(c.reader())).toBe('hello');
  });

  test('a program that wrote everything and then failed makes the reader error at EOF, with the stage failure', async () => {
    const c = new ChildStage({ stage: 'producer', file: 'sh', args: ['-c', 'printf hello; echo broke >&2; exit 3'], stdin: 'ignore' });
    const err = await readAllOf(c.reader()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('TOOL_FAILED');
    expect((err as BackupmateError).message).toContain('producer');
    expect((err as BackupmateError).details.exitCode).toBe(3);
  });

  test('destroying the reader before the end ends the program (killed, or SIGPIPE: a consequence, never a cause)', async () => {
    const c = new ChildStage({ stage: 'producer', file: 'sh', args: ['-c', 'exec yes'], stdin: 'ignore' });
    const r = c.reader();
    for await (const _ of r) break;
    const err = await c.done.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackupmateError);
    expect(isConsequence(err)).toBe(true);
  });
});
