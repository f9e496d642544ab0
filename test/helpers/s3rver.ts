/**
 * A local S3 endpoint (s3rver) for integration tests, run as a CHILD PROCESS so that its HTTP
 * server, its file store and its CPU use stay out of the jest worker, and so that it can be
 * killed like any other server.
 *
 * Facts about s3rver 3.7.1 this relies on:
 *  - it only accepts access key `S3RVER` / secret `S3RVER`;
 *  - it encrypts ListObjects continuation tokens with DES, which OpenSSL 3 only provides through
 *    the legacy provider: without `node --openssl-legacy-provider` every paginated listing
 *    answers 500;
 *  - `port: 0` works, so the OS picks the port and there is no free-port race; the child
 *    reports the bound port on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export interface S3Server {
  endpoint: string; // http://127.0.0.1:<port>
  port: number;
  bucket: string;
  accessKeyId: 'S3RVER';
  secretAccessKey: 'S3RVER';
  region: 'us-east-1';
  directory: string; // s3rver's file store
  /** Kills the child by pid and waits for it; removes `directory` if startS3rver created it (unless BACKUPMATE_KEEP_TEST_DIRS is set). */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const KEEP_DIRS = !!process.env.BACKUPMATE_KEEP_TEST_DIRS;

/**
 * The child's program (CommonJS, run with -e). Besides starting s3rver it polls for its parent:
 * when the test process dies without calling stop() (crash, SIGKILLed jest worker) the child
 * exits on its own and removes a directory the helper created, so nothing is left running.
 * argv: <s3rver module path> <directory> <bucket> <parent pid> <"1" = remove directory when orphaned>
 */
const CHILD_SCRIPT = `
const [modulePath, directory, bucket, parentPid, removeDir] = process.argv.slice(1);
const S3rver = require(modulePath);
new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] })
  .run()
  .then(({ port }) => console.log('S3RVER_LISTENING ' + port))
  .catch((err) => { console.error(err); process.exit(1); });
setInterval(() => {
  try { process.kill(Number(parentPid), 0); } catch {
    if (removeDir === '1') require('fs').rmSync(directory, { recursive: true, force: true });
    process.exit(0);
  }
}, 1000);
`;

const live = new Set<S3Server>();
const pendingStarts = new Set<Promise<S3Server>>();

/** Stops every s3rver this module started, including ones still starting (for afterAll safety). */
export async function stopAllS3rvers(): Promise<void> {
  await Promise.allSettled([...pendingStarts]);
  await Promise.all([...live].map((s) => s.stop()));
}

function resolveS3rverModule(): string {
  // import.meta.url keeps the lookup relative to this file, not to the cwd jest was started in.
  return createRequire(import.meta.url).resolve('s3rver');
}

export async function startS3rver(opts: { bucket?: string; directory?: string } = {}): Promise<S3Server> {
  const starting = launch(opts);
  pendingStarts.add(starting);
  try {
    return await starting;
  } finally {
    pendingStarts.delete(starting);
  }
}

async function launch(opts: { bucket?: string; directory?: string }): Promise<S3Server> {
  const bucket = opts.bucket ?? 'backupmate-test';
  const ownsDirectory = opts.directory === undefined;
  const directory = ownsDirectory ? await fsp.mkdtemp(path.join(os.tmpdir(), 'bm-s3-')) : path.resolve(opts.directory!);
  await fsp.mkdir(directory, { recursive: true });

  // NODE_OPTIONS of the jest run (--experimental-vm-modules) has no business in the child.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      '-e',
      CHILD_SCRIPT,
      resolveS3rverModule(),
      directory,
      bucket,
      String(process.pid),
      ownsDirectory && !KEEP_DIRS ? '1' : '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true },
  );
  // Detached + unref: a forgotten server must not keep the jest worker alive; the child's parent
  // poll then ends it.
  child.unref();

  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 20_000) stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });

  let port: number;
  try {
    port = await waitForPort(child, exited, () => stderr);
  } catch (err) {
    killIfAlive(child, 'SIGKILL');
    await exited;
    if (ownsDirectory && !KEEP_DIRS) await fsp.rm(directory, { recursive: true, force: true });
    throw err;
  }
  // Keep draining stdout (readline paused it) but let neither pipe keep the jest worker alive.
  child.stdout!.resume();
  for (const stream of [child.stdout, child.stderr]) (stream as Socket).unref();

  const server: S3Server = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    directory,
    stop: async () => {
      live.delete(server);
      killIfAlive(child, 'SIGTERM');
      if (!(await settlesWithin(exited, STOP_TIMEOUT_MS))) {
        killIfAlive(child, 'SIGKILL');
        await exited;
      }
      if (ownsDirectory && !KEEP_DIRS) await fsp.rm(directory, { recursive: true, force: true });
    },
  };
  live.add(server);
  return server;
}

/** Resolves with the port the child printed; rejects (with its stderr) if it exits or takes too long. */
function waitForPort(child: ChildProcess, exited: Promise<void>, stderr: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      rl.close();
      reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS / 1000} s\n${stderr()}`));
    }, START_TIMEOUT_MS);
    rl.on('line', (line) => {
      const m = /^S3RVER_LISTENING (\d+)$/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      rl.close();
      resolve(Number(m[1]));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not spawn s3rver: ${err.message}`));
    });
    void exited.then(() => {
      clearTimeout(timer);
      // Give stderr a moment to drain so the message carries s3rver's own error.
      setTimeout(() => reject(new Error(`s3rver exited during startup (code ${child.exitCode})\n${stderr()}`)), 50);
    });
  });
}

function killIfAlive(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
  }
}

function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    t.unref();
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}
