/**
 * Runs the real `backupmate` CLI (the built dist/, as users run it) against a private server and
 * store, with configuration passed the way users pass it: an env file plus environment overrides.
 */
import { execa, type Result } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PrivateServer } from './mariadb.js';
import type { AzuriteServer } from './azurite.js';
import type { S3Server } from './s3rver.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/backupmate.js');

export type Store =
  | { kind: 'file'; path: string }
  | { kind: 's3'; server: S3Server }
  | { kind: 'azure'; server: AzuriteServer }
  /** s3rver seen through the GCS-quirks proxy (test/helpers/gcs-proxy.ts) at `endpoint`. */
  | { kind: 'gcs'; server: S3Server; endpoint: string };

export function storeEnv(store: Store): Record<string, string> {
  if (store.kind === 'file') return { STORAGE: 'file', STORAGE_PATH: store.path };
  if (store.kind === 'azure') {
    const a = store.server;
    return {
      STORAGE: 'azure',
      AZURE_CONTAINER: a.container,
      AZURE_STORAGE_ACCOUNT: a.account,
      AZURE_STORAGE_KEY: a.key,
      AZURE_BLOB_ENDPOINT: a.endpoint,
      // Small blocks and volumes: multi-block and multi-volume paths run in tests.
      AZURE_BLOCK_SIZE: '1MiB',
      VOLUME_SIZE: '5MiB',
    };
  }
  if (store.kind === 'gcs') {
    return {
      STORAGE: 'gcs',
      GCS_BUCKET_NAME: store.server.bucket,
      GCS_ENDPOINT: store.endpoint,
      GCS_HMAC_ACCESS_ID: store.server.accessKeyId,
      GCS_HMAC_SECRET: store.server.secretAccessKey,
      S3_PART_SIZE: '5MiB',
      VOLUME_SIZE: '5MiB',
    };
  }
  const s = store.server;
  return {
    STORAGE: 's3',
    S3_BUCKET_NAME: s.bucket,
    S3_ENDPOINT: s.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: s.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
    AWS_REGION: s.region,
    // s3rver's minimum is S3's: 5 MiB parts. Small volumes make multi-volume paths run in tests.
    S3_PART_SIZE: '5MiB',
    VOLUME_SIZE: '5MiB',
  };
}

/** A working directory with a 0600 .backupmate.env for `server` and `store`. */
export async function makeWorkdir(server: PrivateServer, store: Store, extra: Record<string, string> = {}): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bm-work-'));
  const env: Record<string, string> = {
    DB_SOCKET: server.socket,
    DB_USER: 'root',
    DB_PASSWORD: server.rootPassword ?? '',
    LOCAL_TEMP_DIR: path.join(dir, 'tmp'),
    LOG_FILE: path.join(dir, 'backupmate.log'),
    LOG_LEVEL: 'debug',
    ...storeEnv(store),
    ...extra,
  };
  const text = Object.entries(env)
    .map(([k, v]) => `${k}='${v.replace(/'/g, '')}'`)
    .join('\n');
  await fs.writeFile(path.join(dir, '.backupmate.env'), text + '\n', { mode: 0o600 });
  return dir;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `backupmate ARGS` in `cwd`; `env` overrides the env file (as real environment variables do). */
export async function backupmate(cwd: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r: Result = await execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    reject: false,
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** JSON log lines from a command's output. */
export function logLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls every process's argv while `during` runs; returns the command lines that contained `needle`. */
export async function watchArgv<T>(needle: string, during: () => Promise<T>): Promise<{ result: T; hits: string[]; samples: number }> {
  const hits = new Set<string>();
  let samples = 0;
  let running = true;
  const poll = (async () => {
    while (running) {
      for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmd.includes(needle)) hits.add(cmd.replace(/\0/g, ' '));
      }
      samples++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const result = await during();
    return { result, hits: [...hits], samples };
  } finally {
    running = false;
    await poll;
  }
}
