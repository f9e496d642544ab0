/**
 * A local Azure Blob endpoint (Azurite, Microsoft's emulator) for integration tests, run as a
 * CHILD PROCESS like s3rver (test/helpers/s3rver.ts): its server and CPU stay out of the jest
 * worker, and it is killed by pid.
 *
 * Facts about Azurite 3.35 this relies on:
 *  - `--blobPort 0` works: the OS picks the port, the child prints "listens on http://HOST:PORT";
 *  - `--inMemoryPersistence` keeps blobs and metadata in memory: nothing is written to disk (and
 *    no __azurite_db_*.json appears in the working directory);
 *  - `--disableTelemetry`: otherwise it tries to send usage data to an outside service;
 *  - `--skipApiVersionCheck`: the SDK may speak a newer service version than the emulator knows;
 *  - the account is the well-known devstoreaccount1 with its published key, addressed path-style
 *    (http://127.0.0.1:PORT/devstoreaccount1).
 * The child polls for its parent and exits when the test process died without calling stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** Azurite's published development key (not a secret). */
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  /** http://127.0.0.1:<port>/devstoreaccount1 */
  endpoint: string;
  port: number;
  account: typeof AZURITE_ACCOUNT;
  key: string;
  container: string;
  connectionString: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * The child (CommonJS, run with -e): starts Azurite's blob server from its own entry point with
 * the given argv, and exits when its parent is gone. argv: <azurite-blob main.js> <parent pid> <args...>
 */
const CHILD_SCRIPT = `
const [main, parentPid, ...args] = process.argv.slice(1);
process.argv = [process.argv[0], main, ...args];
require(main);
setInterval(() => { try { process.kill(Number(parentPid), 0); } catch { process.exit(0); } }, 1000).unref();
`;

const live = new Set<AzuriteServer>();

export async function stopAllAzurites(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

function azuriteBlobMain(): string {
  const pkg = createRequire(import.meta.url).resolve('azurite/package.json');
  return path.join(path.dirname(pkg), 'dist/src/blob/main.js');
}

/** Starts Azurite and creates `container` (default backupmate-test). */
export async function startAzurite(opts: { container?: string } = {}): Promise<AzuriteServer> {
  const container = opts.container ?? 'backupmate-test';
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const args = ['--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--loose', '--silent'];
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT, azuriteBlobMain(), String(process.pid), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    detached: true,
    cwd: '/',
  });
  child.unref();
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    if (stderr.length < 20_000) stderr += c;
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let port: number;
  try {
    port = await waitForPort(child, exited, () => stderr);
  } catch (e) {
    kill(child, 'SIGKILL');
    await exited;
    throw e;
  }
  child.stdout!.resume();
  for (const s of [child.stdout, child.stderr]) (s as Socket).unref();
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const server: AzuriteServer = {
    endpoint,
    port,
    account: AZURITE_ACCOUNT,
    key: AZURITE_KEY,
    container,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
    stop: async () => {
      live.delete(server);
      kill(child, 'SIGTERM');
      const t = new Promise<boolean>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS).unref());
      if (!(await Promise.race([exited.then(() => true), t]))) {
        kill(child, 'SIGKILL');
        await exited;
      }
    },
  };
  live.add(server);
  try {
    const { ContainerClient } = await import('@azure/storage-blob');
    await new ContainerClient(server.connectionString, container).createIfNotExists();
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

function waitForPort(child: ChildProcess, exited: Promise<void>, stderr: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      rl.close();
      reject(new Error(`Azurite did not start within ${START_TIMEOUT_MS / 1000} s\n${stderr()}`));
    }, START_TIMEOUT_MS);
    rl.on('line', (line) => {
      const m = /listens on https?:\/\/[^:]+:(\d+)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      rl.close();
      resolve(Number(m[1]));
    });
    void exited.then(() => {
      clearTimeout(timer);
      setTimeout(() => reject(new Error(`Azurite exited during startup (code ${child.exitCode})\n${stderr()}`)), 50);
    });
  });
}

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, signal);
    } catch {
      /* gone */
    }
  }
}
