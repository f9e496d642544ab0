/**
 * The restore's download/prepare overlap, with fakes (no mariadb): the pure scheduling rule and
 * the driver that runs it (ordering, bounded downloads, first failure stops everything).
 */
import { jest } from '@jest/globals';
import { BackupmateError } from '../../../src/domain/errors.js';
import { nextSteps, runChainPipeline, type ChainPipelineOptions, type PipelineState } from '../../../src/restore/job.js';

describe('nextSteps', () => {
  const st = (downloads: PipelineState['downloads'], prepared = 0, preparing = false, stopped = false): PipelineState => ({ downloads, prepared, preparing, stopped });

  test('downloads start in chain order, at most `concurrency` at once: the full first', () => {
    expect(nextSteps(st(['waiting', 'waiting', 'waiting', 'waiting']), 2)).toEqual({ downloads: [0, 1], prepare: null });
    expect(nextSteps(st(['running', 'done', 'waiting', 'waiting']), 2)).toEqual({ downloads: [2], prepare: null });
    expect(nextSteps(st(['running', 'running', 'waiting', 'waiting']), 2)).toEqual({ downloads: [], prepare: null });
    expect(nextSteps(st(['waiting', 'waiting', 'waiting']), 1)).toEqual({ downloads: [0], prepare: null });
  });

  test('the full is prepared as soon as it is downloaded, while later downloads run', () => {
    expect(nextSteps(st(['done', 'running', 'waiting', 'waiting']), 2)).toEqual({ downloads: [2], prepare: 0 });
  });

  test('an incremental that is downloaded waits for the full (and every step before it)', () => {
    expect(nextSteps(st(['running', 'done', 'done', 'running']), 2).prepare).toBeNull();
    expect(nextSteps(st(['done', 'done', 'done', 'running'], 0, true), 2).prepare).toBeNull();
    expect(nextSteps(st(['done', 'done', 'done', 'running'], 1, false), 2).prepare).toBe(1);
    expect(nextSteps(st(['done', 'done', 'running', 'done'], 2, false), 2).prepare).toBeNull();
    expect(nextSteps(st(['done', 'done', 'done', 'done'], 3, false), 2).prepare).toBe(3);
  });

  test('one prepare at a time; nothing after the last; nothing at all once stopped', () => {
    expect(nextSteps(st(['done', 'done'], 1, true), 2).prepare).toBeNull();
    expect(nextSteps(st(['done', 'done'], 2, false), 2)).toEqual({ downloads: [], prepare: null });
    expect(nextSteps(st(['done', 'waiting', 'waiting'], 0, false, true), 2)).toEqual({ downloads: [], prepare: null });
  });
});

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((r) => setImmediate(r));

/** Fake download and prepare steps the test finishes by hand; records what started when. */
class Steps {
  readonly log: string[] = [];
  readonly downloads = new Map<number, Deferred<number>>();
  readonly prepares = new Map<number, Deferred<void>>();
  readonly signals: AbortSignal[] = [];
  /** Steps that stop when their signal aborts (the others ignore it, like a slow child). */
  abortable = true;

  options(count: number, over: Partial<ChainPipelineOptions> = {}): ChainPipelineOptions {
    return {
      count,
      concurrency: 2,
      download: (i, signal) => this.start(`download ${i}`, this.downloads, i, signal),
      prepare: (i, signal) => this.start(`prepare ${i}`, this.prepares, i, signal),
      ...over,
    };
  }

  private start<T>(name: string, map: Map<number, Deferred<T>>, i: number, signal: AbortSignal): Promise<T> {
    if (map.has(i)) throw new Error(`${name} started twice`);
    this.log.push(name);
    this.signals.push(signal);
    const d = deferred<T>();
    map.set(i, d);
    if (this.abortable) signal.addEventListener('abort', () => d.reject(new Error(`${name} aborted`)), { once: true });
    return d.promise;
  }

  async finishDownload(i: number, bytes = 100 + i): Promise<void> {
    this.log.push(`downloaded ${i}`);
    this.downloads.get(i)!.resolve(bytes);
    await flush();
  }

  async finishPrepare(i: number): Promise<void> {
    this.log.push(`prepared ${i}`);
    this.prepares.get(i)!.resolve();
    await flush();
  }
}

describe('runChainPipeline', () => {
  test('full + 3 incrementals: prepare overlaps the downloads, strictly in chain order', async () => {
    const steps = new Steps();
    const done = jest.fn<NonNullable<ChainPipelineOptions['onDownloadsDone']>>();
    const run = runChainPipeline(steps.options(4, { onDownloadsDone: done }));
    await flush();
    await steps.finishDownload(1); // an incremental first: it waits for the full
    await steps.finishDownload(0); // the full: prepared at once, while 2 and 3 download
    await steps.finishPrepare(0); // incremental 1 is there: applied at once
    await steps.finishDownload(3); // 3 waits for 2
    await steps.finishPrepare(1);
    await steps.finishDownload(2);
    expect(done).toHaveBeenCalledTimes(1);
    expect(done).toHaveBeenCalledWith([100, 101, 102, 103], expect.any(Number));
    await steps.finishPrepare(2);
    await steps.finishPrepare(3);
    const r = await run;
    expect(r.bytes).toEqual([100, 101, 102, 103]);
    expect(steps.log).toEqual([
      'download 0',
      'download 1',
      'downloaded 1',
      'download 2',
      'downloaded 0',
      'download 3',
      'prepare 0',
      'prepared 0',
      'prepare 1',
      'downloaded 3',
      'prepared 1',
      'downloaded 2',
      'prepare 2',
      'prepared 2',
      'prepare 3',
      'prepared 3',
    ]);
  });

  test('one download at a time (what runRestore uses): each prepare overlaps the next download', async () => {
    const steps = new Steps();
    const run = runChainPipeline(steps.options(3, { concurrency: 1 }));
    await flush();
    await steps.finishDownload(0);
    await steps.finishPrepare(0);
    await steps.finishDownload(1);
    await steps.finishDownload(2); // while incremental 1 is applied
    await steps.finishPrepare(1);
    await steps.finishPrepare(2);
    await run;
    expect(steps.log).toEqual([
      'download 0',
      'downloaded 0',
      'download 1',
      'prepare 0',
      'prepared 0',
      'downloaded 1',
      'download 2',
      'prepare 1',
      'downloaded 2',
      'prepared 1',
      'prepare 2',
      'prepared 2',
    ]);
  });

  test('a full alone: download, then prepare', async () => {
    const steps = new Steps();
    const run = runChainPipeline(steps.options(1));
    await flush();
    await steps.finishDownload(0);
    await steps.finishPrepare(0);
    await expect(run).resolves.toMatchObject({ bytes: [100] });
    expect(steps.log).toEqual(['download 0', 'downloaded 0', 'prepare 0', 'prepared 0']);
  });

  test('timings: time inside prepare, and how much of it overlapped the downloads', async () => {
    let clock = 0;
    const steps = new Steps();
    const run = runChainPipeline(steps.options(2, { now: () => clock }));
    await flush();
    clock = 10;
    await steps.finishDownload(0); // prepare 0 from 10
    clock = 30;
    await steps.finishDownload(1); // downloads done at 30
    clock = 40;
    await steps.finishPrepare(0); // prepare 1 from 40
    clock = 45;
    await steps.finishPrepare(1);
    expect(await run).toEqual({ bytes: [100, 101], downloadsDoneAt: 30, preparedAt: 45, prepareBusyMs: 35, prepareOverlapMs: 20 });
  });

  test.each(Array.from({ length: 40 }, (_, i) => i))('random completion order %i: every rule holds', async (seed) => {
    let x = seed + 1;
    const rand = () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x / 2147483648;
    };
    const n = 1 + (seed % 6);
    const concurrency = 1 + (seed % 3);
    const events: string[] = [];
    let downloading = 0;
    let maxDownloading = 0;
    let preparing = 0;
    const downloaded = new Set<number>();
    const prepared: number[] = [];
    const wait = () => new Promise<void>((r) => setTimeout(r, Math.floor(rand() * 4)));
    const r = await runChainPipeline({
      count: n,
      concurrency,
      download: async (i) => {
        events.push(`download ${i}`);
        maxDownloading = Math.max(maxDownloading, ++downloading);
        await wait();
        downloading--;
        downloaded.add(i);
        return i;
      },
      prepare: async (i) => {
        expect(preparing).toBe(0);
        expect(downloaded.has(i)).toBe(true);
        expect(prepared).toEqual(Array.from({ length: i }, (_, k) => k));
        preparing++;
        await wait();
        preparing--;
        prepared.push(i);
      },
    });
    expect(prepared).toEqual(Array.from({ length: n }, (_, k) => k));
    expect(events).toEqual(Array.from({ length: n }, (_, k) => `download ${k}`));
    expect(maxDownloading).toBeLessThanOrEqual(concurrency);
    expect(r.bytes).toEqual(Array.from({ length: n }, (_, k) => k));
    expect(r.prepareBusyMs).toBeGreaterThanOrEqual(0);
    expect(r.preparedAt).toBeGreaterThanOrEqual(r.downloadsDoneAt);
  });

  test('a download fails while the full is being prepared: prepare and the other download are aborted, all settle, the first error is thrown', async () => {
    const steps = new Steps();
    steps.abortable = false; // like children that take a moment to die
    const done = jest.fn<NonNullable<ChainPipelineOptions['onDownloadsDone']>>();
    const run = runChainPipeline(steps.options(4, { onDownloadsDone: done }));
    let settled = false;
    const outcome = run.then(
      () => (settled = true),
      (e: unknown) => {
        settled = true;
        return e;
      },
    );
    await flush();
    await steps.finishDownload(0); // prepare 0 and download 2 start
    expect(steps.log).toEqual(['download 0', 'download 1', 'downloaded 0', 'download 2', 'prepare 0']);
    const root = new Error('backup 1: volume x is corrupt');
    steps.downloads.get(1)!.reject(root);
    await flush();
    // Every running step was told to stop...
    expect(steps.signals.every((s) => s.aborted)).toBe(true);
    expect(steps.signals[0]!.reason).toBe(root);
    // ...and the pipeline waits for them; nothing new starts meanwhile.
    expect(settled).toBe(false);
    steps.prepares.get(0)!.reject(new Error('prepare was cancelled'));
    await flush();
    expect(settled).toBe(false);
    await steps.finishDownload(2); // finishing after the failure starts nothing
    expect(settled).toBe(true);
    expect(await outcome).toBe(root);
    expect(steps.log).not.toContain('download 3');
    expect(steps.log).not.toContain('prepare 1');
    expect(done).not.toHaveBeenCalled();
  });

  test('prepare fails: the running downloads are aborted and the prepare error is thrown', async () => {
    const steps = new Steps();
    const run = runChainPipeline(steps.options(4));
    const outcome = run.catch((e: unknown) => e);
    await flush();
    await steps.finishDownload(0);
    const root = new Error('prepare exited with code 1');
    steps.prepares.get(0)!.reject(root);
    expect(await outcome).toBe(root);
    expect(steps.signals.every((s) => s.aborted)).toBe(true);
    expect(steps.log).toEqual(['download 0', 'download 1', 'downloaded 0', 'download 2', 'prepare 0']);
  });

  test('cancellation stops downloads and a running prepare; the cancellation is what is thrown', async () => {
    const steps = new Steps();
    const cancel = new AbortController();
    const run = runChainPipeline(steps.options(3, { signal: cancel.signal }));
    const outcome = run.catch((e: unknown) => e);
    await flush();
    await steps.finishDownload(0);
    const reason = new BackupmateError('CANCELLED', 'cancelled by SIGINT');
    cancel.abort(reason);
    expect(await outcome).toBe(reason);
    expect(steps.signals).toHaveLength(4); // download 0, 1, 2, prepare 0
    expect(steps.signals.every((s) => s.aborted)).toBe(true);
  });

  test('already cancelled: nothing starts', async () => {
    const steps = new Steps();
    const cancel = new AbortController();
    cancel.abort(new BackupmateError('CANCELLED', 'stop'));
    await expect(runChainPipeline(steps.options(3, { signal: cancel.signal }))).rejects.toThrow('stop');
    expect(steps.log).toEqual([]);
  });

  test('a cancellation without a reason of ours is reported as CANCELLED', async () => {
    const steps = new Steps();
    const cancel = new AbortController();
    const outcome = runChainPipeline(steps.options(2, { signal: cancel.signal })).catch((e: unknown) => e);
    await flush();
    cancel.abort();
    const err = await outcome;
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).code).toBe('CANCELLED');
  });

  test('a step that throws synchronously counts as its failure', async () => {
    const root = new Error('no such directory');
    await expect(
      runChainPipeline({
        count: 2,
        concurrency: 2,
        download: async () => 1,
        prepare: () => {
          throw root;
        },
      }),
    ).rejects.toBe(root);
  });
});
