import { jest } from '@jest/globals';
import { Readable } from 'node:stream';
import { packContainer } from '../../../src/archive/container.js';
import { isConsequence, runStages, type StageOutcome } from '../../../src/archive/stages.js';
import { BackupmateError } from '../../../src/domain/errors.js';

jest.setTimeout(10_000);

/** A promise that rejects with `error` after `ms` milliseconds (0: on the next macrotask). */
function failsAfter(ms: number, error: unknown): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(error), ms));
}

function succeedsAfter(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errnoError(code: string, message = `write ${code}`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

function killed(stage: string): BackupmateError {
  return new BackupmateError('TOOL_FAILED', `${stage} was killed by SIGKILL`, { stage, signal: 'SIGKILL', killedByUs: true });
}

async function runError(stages: StageOutcome[], stop: (cause: unknown) => void = () => {}, signal?: AbortSignal): Promise<BackupmateError> {
  const e = await runStages(stages, stop, signal).then(
    () => {
      throw new Error('expected runStages to reject');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BackupmateError);
  return e as BackupmateError;
}

describe('isConsequence', () => {
  test.each<[string, unknown]>([
    ['EPIPE', errnoError('EPIPE')],
    ['premature close', errnoError('ERR_STREAM_PREMATURE_CLOSE', 'Premature close')],
    ['stream destroyed', errnoError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed')],
    ['ABORT_ERR', errnoError('ABORT_ERR', 'The operation was aborted')],
    ['an AbortError by name', abortError()],
    ['a stage we killed', killed('compressor')],
    ['EPIPE named only in the message', new Error('write EPIPE')],
    ['ECONNRESET named only in the message', new Error('read ECONNRESET')],
    ['"Premature close" without a code', new Error('Premature close')],
    ["streamx's destroyed stream", Object.assign(new Error('Stream was destroyed'), { code: 'STREAM_DESTROYED' })],
  ])('%s is a consequence', (_what, e) => {
    expect(isConsequence(e)).toBe(true);
  });

  test.each<[string, unknown]>([
    ['a tool failure', new BackupmateError('TOOL_FAILED', 'zstd exited with code 1', { killedByUs: false })],
    ['a storage error', new BackupmateError('STORAGE', 'uploading x failed: AccessDenied')],
    ['ENOSPC', errnoError('ENOSPC', 'write ENOSPC: no space left on device')],
    ['a word merely containing EPIPE', new Error('XEPIPEX')],
    ['a plain error', new Error('boom')],
    ['a string', 'boom'],
    ['null', null],
    ['undefined', undefined],
  ])('%s is not', (_what, e) => {
    expect(isConsequence(e)).toBe(false);
  });
});

describe('runStages', () => {
  test('resolves when every stage succeeds, without calling stop', async () => {
    const stop = jest.fn();
    await expect(
      runStages(
        [
          { stage: 'a', promise: succeedsAfter(5) },
          { stage: 'b', promise: Promise.resolve(42) },
        ],
        stop,
      ),
    ).resolves.toBeUndefined();
    expect(stop).not.toHaveBeenCalled();
  });

  test('no stages: resolves', async () => {
    await expect(runStages([], () => {})).resolves.toBeUndefined();
  });

  test('the first failure calls stop once with its error, later failures do not', async () => {
    const first = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1: Access denied');
    const stop = jest.fn();
    await runError(
      [
        { stage: 'mariabackup', promise: failsAfter(0, first) },
        { stage: 'compressor', promise: failsAfter(20, killed('compressor')) },
        { stage: 'upload', promise: failsAfter(30, abortError()) },
      ],
      stop,
    );
    expect(stop).toHaveBeenCalledTimes(1);
    expect(stop).toHaveBeenCalledWith(first);
  });

  test('waits for every stage to settle before reporting', async () => {
    let slowSettled = false;
    const slow = succeedsAfter(60).then(() => {
      slowSettled = true;
    });
    await runError([
      { stage: 'fast', promise: failsAfter(0, new Error('boom')) },
      { stage: 'slow', promise: slow },
    ]);
    expect(slowSettled).toBe(true);
  });

  test('a real failure that arrives AFTER its consequences is still the root cause', async () => {
    const real = new BackupmateError('TOOL_FAILED', 'compressor exited with code 1: zstd: error 70 : Write error : No space left on device', {
      stage: 'compressor',
      exitCode: 1,
    });
    const stop = jest.fn();
    const err = await runError(
      [
        { stage: 'compressor-input', promise: failsAfter(0, errnoError('EPIPE')) },
        { stage: 'mariabackup', promise: failsAfter(10, killed('mariabackup')) },
        { stage: 'upload', promise: failsAfter(15, abortError()) },
        { stage: 'container', promise: failsAfter(20, errnoError('ERR_STREAM_PREMATURE_CLOSE', 'Premature close')) },
        { stage: 'compressor', promise: failsAfter(40, real) },
      ],
      stop,
    );
    expect(err).toBe(real);
    expect(err.code).toBe('TOOL_FAILED');
    expect(err.message).toBe('compressor exited with code 1: zstd: error 70 : Write error : No space left on device');
    expect(stop).toHaveBeenCalledTimes(1);
    expect((stop.mock.calls[0] as unknown[])[0]).toMatchObject({ code: 'EPIPE' });
  });

  test('a tool failure beats a storage error that arrived first', async () => {
    const storageErr = new BackupmateError('STORAGE', 'uploading data.00000 failed: SlowDown');
    const tool = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1');
    const err = await runError([
      { stage: 'mariabackup', promise: failsAfter(20, tool) },
      { stage: 'upload', promise: failsAfter(0, storageErr) },
    ]);
    expect(err).toBe(tool);
  });

  test('a producer that failed on a broken pipe (marked brokenPipe) loses to the consumer that died first', async () => {
    const producer = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1: write failed', { brokenPipe: true });
    const consumer = new BackupmateError('TOOL_FAILED', 'compressor was killed by SIGKILL', { signal: 'SIGKILL' });
    const err = await runError([
      { stage: 'mariabackup', promise: failsAfter(0, producer) },
      { stage: 'compressor', promise: failsAfter(20, consumer) },
    ]);
    expect(err).toBe(consumer);
    expect(isConsequence(producer)).toBe(true);
  });

  test('a missing tool counts as a tool failure', async () => {
    const storageErr = new BackupmateError('STORAGE', 'uploading data.00000 failed: SlowDown');
    const missing = new BackupmateError('TOOL_MISSING', 'compressor: program "zstd" not found or not executable');
    const err = await runError([
      { stage: 'upload', promise: failsAfter(0, storageErr) },
      { stage: 'compressor', promise: failsAfter(15, missing) },
    ]);
    expect(err).toBe(missing);
  });

  test('between two failures of the same kind, the first one wins', async () => {
    const a = new BackupmateError('TOOL_FAILED', 'compressor exited with code 1');
    const b = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1');
    const err = await runError([
      { stage: 'mariabackup', promise: failsAfter(20, b) },
      { stage: 'compressor', promise: failsAfter(0, a) },
    ]);
    expect(err).toBe(a);
  });

  test('any BackupmateError beats a plain error, which beats a consequence, which beats a kill', async () => {
    const plain = new Error('unexpected end of data');
    const storageErr = new BackupmateError('STORAGE', 'uploading data.00001 failed: connection reset');
    expect(
      await runError([
        { stage: 'container', promise: failsAfter(0, plain) },
        { stage: 'upload', promise: failsAfter(15, storageErr) },
      ]),
    ).toBe(storageErr);

    const plainErr = await runError([
      { stage: 'mariabackup', promise: failsAfter(0, killed('mariabackup')) },
      { stage: 'compressor-input', promise: failsAfter(5, errnoError('EPIPE')) },
      { stage: 'container', promise: failsAfter(15, new Error('unexpected end of data')) },
    ]);
    expect(plainErr.code).toBe('INTERNAL');
    expect(plainErr.message).toBe('container: unexpected end of data');

    const consequence = await runError([
      { stage: 'mariabackup', promise: failsAfter(0, killed('mariabackup')) },
      { stage: 'compressor-input', promise: failsAfter(15, errnoError('EPIPE', 'write EPIPE')) },
    ]);
    expect(consequence.message).toBe('compressor-input: write EPIPE');
  });

  test('only consequences: the first one is reported, wrapped as INTERNAL naming its stage', async () => {
    const epipe = errnoError('EPIPE', 'write EPIPE');
    const err = await runError([
      { stage: 'compressor-input', promise: failsAfter(0, epipe) },
      { stage: 'upload', promise: failsAfter(10, abortError()) },
    ]);
    expect(err.code).toBe('INTERNAL');
    expect(err.exitCode).toBe(70);
    expect(err.message).toBe('compressor-input: write EPIPE');
    expect(err.details.stage).toBe('compressor-input');
    expect(err.cause).toBe(epipe);
  });

  test('a killed stage alone is reported as it is', async () => {
    const k = killed('mariabackup');
    expect(await runError([{ stage: 'mariabackup', promise: failsAfter(0, k) }])).toBe(k);
  });

  test('a BackupmateError without a stage gets the stage name; one with a stage keeps it', async () => {
    const noStage = new BackupmateError('STORAGE', 'uploading data.00003 failed: connection reset');
    const err = await runError([{ stage: 'upload', promise: failsAfter(0, noStage) }]);
    expect(err).toBe(noStage);
    expect(err.details.stage).toBe('upload');

    const withStage = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1', { stage: 'mariabackup' });
    const err2 = await runError([{ stage: 'container', promise: failsAfter(0, withStage) }]);
    expect(err2.details.stage).toBe('mariabackup');
  });

  test('a thrown non-Error value becomes INTERNAL with its text', async () => {
    const err = await runError([{ stage: 'odd', promise: failsAfter(0, 'just a string') }]);
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('odd: just a string');
    expect(err.details).toEqual({ stage: 'odd' });
  });

  test('a plain Error becomes INTERNAL with the stage and message, keeping the cause', async () => {
    const e = new Error('unexpected end of data');
    const err = await runError([{ stage: 'container', promise: failsAfter(0, e) }]);
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('container: unexpected end of data');
    expect(err.cause).toBe(e);
  });
});

describe('cancellation', () => {
  test('aborting the signal stops the stages and the outcome is CANCELLED', async () => {
    const ac = new AbortController();
    let rejectStage!: (e: unknown) => void;
    const stage = new Promise((_, reject) => (rejectStage = reject));
    const stop = jest.fn((_cause: unknown) => rejectStage(killed('mariabackup')));
    setTimeout(() => ac.abort(), 5);
    const err = await runError([{ stage: 'mariabackup', promise: stage }], stop, ac.signal);
    expect(err.code).toBe('CANCELLED');
    expect(err.exitCode).toBe(75);
    expect(err.message).toBe('the job was cancelled');
    expect(err.details.stage).toBe('job');
    expect(stop).toHaveBeenCalledTimes(1);
    expect(stop.mock.calls[0][0]).toBe(err);
  });

  test('CANCELLED wins over the real-looking failures the cancellation caused', async () => {
    const ac = new AbortController();
    const rejecters: ((e: unknown) => void)[] = [];
    const pending = () => new Promise((_, reject) => rejecters.push(reject));
    const stages = [
      { stage: 'mariabackup', promise: pending() },
      { stage: 'upload', promise: pending() },
    ];
    const stop = jest.fn(() => {
      // What the stop hook provokes: a kill, and an upload that fails on its own terms.
      rejecters[0](killed('mariabackup'));
      rejecters[1](new BackupmateError('STORAGE', 'uploading data.00000 failed: socket hang up'));
    });
    setTimeout(() => ac.abort(), 5);
    const err = await runError(stages, stop, ac.signal);
    expect(err.code).toBe('CANCELLED');
    expect(stop).toHaveBeenCalledTimes(1);
  });

  test('a signal aborted before the start stops at once', async () => {
    const ac = new AbortController();
    ac.abort();
    const stop = jest.fn();
    const err = await runError([{ stage: 'a', promise: succeedsAfter(5) }], stop, ac.signal);
    expect(err.code).toBe('CANCELLED');
    expect(stop).toHaveBeenCalledTimes(1);
  });

  test('a BackupmateError given as the abort reason is reported as is', async () => {
    const ac = new AbortController();
    const reason = new BackupmateError('CANCELLED', 'cancelled by backupmatectl (request 7)');
    setTimeout(() => ac.abort(reason), 5);
    const err = await runError([{ stage: 'a', promise: succeedsAfter(30) }], () => {}, ac.signal);
    expect(err).toBe(reason);
    expect(err.details.stage).toBe('job');
  });

  test('a non-BackupmateError abort reason still yields CANCELLED', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('SIGTERM')), 5);
    const err = await runError([{ stage: 'a', promise: succeedsAfter(30) }], () => {}, ac.signal);
    expect(err.code).toBe('CANCELLED');
    expect(err.message).toBe('the job was cancelled');
  });

  test('a stage failure before the abort: stop is still called only once', async () => {
    const ac = new AbortController();
    const stop = jest.fn();
    const real = new BackupmateError('TOOL_FAILED', 'mariabackup exited with code 1');
    setTimeout(() => ac.abort(), 15);
    const err = await runError(
      [
        { stage: 'mariabackup', promise: failsAfter(0, real) },
        { stage: 'upload', promise: succeedsAfter(40) },
      ],
      stop,
      ac.signal,
    );
    expect(stop).toHaveBeenCalledTimes(1);
    expect(stop).toHaveBeenCalledWith(real);
    // A cancel that arrives while the job is already failing is still reported as a cancel.
    expect(err.code).toBe('CANCELLED');
  });

  test('the abort listener is removed once the stages settled', async () => {
    const ac = new AbortController();
    const stop = jest.fn();
    await runStages([{ stage: 'a', promise: Promise.resolve() }], stop, ac.signal);
    ac.abort();
    expect(stop).not.toHaveBeenCalled();
  });
});

describe('with the real container stage', () => {
  // The job's stop hook destroys container.stream; container.done then rejects with tar-stream's
  // plain "already finalized or destroyed". That must not mask the stage that really failed, even
  // when the real failure (the compressor's exit status) is reported last.
  test('a container torn down by stop() does not mask the stage that really failed', async () => {
    let killed = false;
    async function* mariabackupStdout() {
      while (!killed) {
        yield Buffer.alloc(1000, 7);
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    const container = packContainer(mariabackupStdout(), { format: 'backupmate-container/2', backupId: '20261121T040000Z', chunkSize: 4096, compression: 'none' }, async () => []);
    // The compressor reads a little, then dies: its input pipe breaks at once, its exit status follows.
    const compressorStdin = (async () => {
      let n = 0;
      for await (const _ of container.stream as Readable) if (++n === 3) break;
      throw errnoError('EPIPE');
    })();
    const compressorFailure = new BackupmateError('TOOL_FAILED', 'compressor exited with code 1: zstd: error 70 : Write error', {
      stage: 'compressor',
      exitCode: 1,
    });
    const compressorDone = compressorStdin.catch(() => failsAfter(100, compressorFailure));
    const err = await runError(
      [
        { stage: 'container', promise: container.done },
        { stage: 'compressor-input', promise: compressorStdin },
        { stage: 'compressor', promise: compressorDone },
      ],
      () => {
        killed = true;
        container.stream.destroy();
      },
    );
    expect(err.message).toBe('compressor exited with code 1: zstd: error 70 : Write error');
    // The container did fail, with an error that is not a BackupmateError.
    const containerErr = await container.done.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(containerErr).toBeInstanceOf(Error);
    expect(containerErr).not.toBeInstanceOf(BackupmateError);
  });
});
