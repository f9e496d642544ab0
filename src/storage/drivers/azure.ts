/**
 * Azure Blob store (STORAGE=azure): block blobs in one container, through @azure/storage-blob.
 * Tested against Azurite (Microsoft's emulator) with the shared storage contract.
 *
 * How the contract of ../storage.ts is kept:
 * - Streamed puts stage blocks (Put Block) of AZURE_BLOCK_SIZE, AZURE_CONCURRENCY in flight, and
 *   commit the block list (Put Block List) only after the body ended normally (./blocks.ts):
 *   memory ~ block size x (concurrency + 1); an object is at most 50,000 blocks (limits.ts).
 *   Until the commit the blob does not exist for readers (head: null, not listed), so a failed or
 *   aborted upload leaves nothing committed. Its staged blocks are then discarded here
 *   (`discardUncommitted`); any a killed process left behind are listed by `listUnfinished` and
 *   garbage-collected by Azure after 7 days in any case.
 * - A Buffer (manifest.json, small objects) is one Put Blob; RetryStorage retries it whole.
 * - Retries: the SDK's own retry policy is switched off (maxTries 1): RetryStorage retries whole
 *   operations, and ./blocks.ts retries each block and the commit with the same policy,
 *   `classifyAzure` and 'storage.retry' log line. So no request is tried more than
 *   RETRY_ATTEMPTS times. A download whose body breaks is resumed from where it broke by the SDK
 *   (maxRetryRequests, pinned to the blob's ETag: a changed blob fails instead of splicing).
 * - Timeouts: every request gets AZURE_REQUEST_TIMEOUT_MS to be answered (a block's upload
 *   included); a stall counts as transient (ETIMEDOUT) and is retried. A download's BODY has no
 *   idle timeout (the SDK offers none; a broken connection is resumed, a silent one waits).
 * - Loading: the SDK is imported on first use, so commands on other stores (and `--help`) do not
 *   pay its start-up time (~0.5 s on two cores).
 * - Errors: `classifyAzure` reads Azure's error codes (x-ms-error-code: ServerBusy,
 *   AuthenticationFailed, ContainerNotFound, BlobNotFound...) and HTTP statuses on top of the
 *   shared errno tables (net-errors.ts); messages name the keys to check (./azure-auth.ts).
 */
import type { BlockBlobClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/core-auth';
import { Readable } from 'node:stream';
import type { StoredObject } from '../../domain/catalog.js';
import { BackupmateError } from '../../domain/errors.js';
import type { RetryEvent, RetryPolicy } from '../retry.js';
import { checkKey, notFound, type PutOptions, type UnfinishedUpload } from '../storage.js';
import { authLabel, credentialKeys, resolveAzureAuth, type AzureAuth, type AzureAuthSettings } from './azure-auth.js';
import { attemptsOf, uploadBlocks } from './blocks.js';
import type { DriverEntry, StorageDriver } from './driver.js';
import { AZURE_LIMITS } from './limits.js';
import { classifyChain, errnoClass, httpStatusClass, isAbortError, UNREACHABLE_ERRNO, type ErrorClass } from './net-errors.js';

export const DEFAULT_AZURE_REQUEST_TIMEOUT_MS = 120_000;

/** A Buffer up to this size is one Put Blob (Azure allows 5000 MiB); larger ones are staged. */
const SINGLE_PUT_MAX = 256 * 1024 * 1024;

/** Azure error codes (x-ms-error-code) that mean "try again". */
const TRANSIENT_CODES = new Set(['ServerBusy', 'OperationTimedOut', 'InternalError', 'TooManyRequests', 'REQUEST_SEND_ERROR']);

/** Azure error codes no retry can fix (wrong credential, missing container, bad request...). */
const PERMANENT_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationSourceIPMismatch',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
  'AccountIsDisabled',
  'InsufficientAccountPermissions',
  'ContainerNotFound',
  'ContainerBeingDeleted',
  'ContainerDisabled',
  'ResourceNotFound',
  'InvalidBlockList',
  'InvalidBlobOrBlock',
  'InvalidBlockId',
  'BlockCountExceedsLimit',
  'RequestBodyTooLarge',
  'InvalidHeaderValue',
  'InvalidQueryParameterValue',
  'InvalidUri',
  'InvalidResourceName',
  'OutOfRangeInput',
  'UnsupportedHeader',
  'ConditionNotMet',
  'BlobAlreadyExists',
]);

/** @azure/identity's errors when no credential of the chain works: the setup is wrong. */
const PERMANENT_NAMES = new Set(['CredentialUnavailableError', 'AuthenticationRequiredError', 'AggregateAuthenticationError', 'AuthenticationError']);

interface AzureErrorLike {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  response?: { headers?: { get?: (name: string) => string | undefined } };
}

/**
 * The error's code: the SDK's `code` (Azure's error code, or an errno), else the response's
 * x-ms-error-code header: a HEAD answer has no body, and the SDK leaves `code` unset then.
 */
export function azureCode(e: unknown): string {
  const err = e as AzureErrorLike | undefined;
  if (typeof err?.code === 'string' && err.code) return err.code;
  const header = typeof err?.response?.headers?.get === 'function' ? err.response.headers.get('x-ms-error-code') : undefined;
  return typeof header === 'string' ? header : '';
}

/** A blob (not a container, not an account) that is not there. */
export function isAzureNotFound(e: unknown): boolean {
  const err = e as AzureErrorLike | undefined;
  const code = azureCode(e);
  if (code === 'BlobNotFound') return true;
  return err?.statusCode === 404 && code === '';
}

function classifyAzureOne(o: object): ErrorClass | undefined {
  const e = o as AzureErrorLike;
  const code = azureCode(e);
  const name = typeof e.name === 'string' ? e.name : '';
  if (PERMANENT_NAMES.has(name) || name === 'AbortError') return 'permanent';
  if (isAzureNotFound(e)) return 'not-found';
  if (PERMANENT_CODES.has(code)) return 'permanent';
  if (TRANSIENT_CODES.has(code)) return 'transient';
  const errno = errnoClass(code);
  if (errno) return errno;
  if (typeof e.statusCode === 'number' && e.statusCode > 0) return httpStatusClass(e.statusCode);
  if (typeof e.message === 'string' && /socket hang up|ECONNRESET|EPIPE/i.test(e.message)) return 'transient';
  return undefined;
}

/**
 * Pure: what an Azure driver error means. Transient: 5xx and 429 (ServerBusy, OperationTimedOut,
 * InternalError), connection refused/reset, broken pipe, request timeouts, a request that could
 * not be sent. Not found: BlobNotFound (a bare 404 of a HEAD), and our own `notFound()`.
 * Permanent: everything else, notably 403 (AuthenticationFailed, AuthorizationFailure...), 404
 * ContainerNotFound, 400/409/412, a credential chain that found no identity, cancellations, and
 * errors we do not recognise. Looks through `cause`.
 */
export function classifyAzure(error: unknown): ErrorClass {
  return classifyChain(error, classifyAzureOne);
}

export interface AzureStorageOptions extends AzureAuthSettings {
  container: string;
  blockSize: number;
  concurrency: number;
  requestTimeoutMs?: number;
  /** Blobs per listing page (default 5,000, Azure's most); tests set it small to exercise paging. */
  listPageSize?: number;
  /** Retries of the block and commit requests of a streamed put (absent: one attempt each). */
  uploadRetry?: RetryPolicy & { onRetry?: (ev: RetryEvent) => void; random?: () => number };
}

/** Everything but the secret, for logs and errors. */
export function describeAzure(auth: AzureAuth, container: string): string {
  const where = auth.account ? `${auth.account}/${container}` : container;
  const isDefault = auth.account && auth.endpoint === `https://${auth.account}.blob.core.windows.net`;
  return `azure://${where} (${isDefault ? '' : `${auth.endpoint}, `}${authLabel(auth)})`;
}

/** The default credential chain, loaded only when used (@azure/identity pulls in MSAL). */
function lazyDefaultCredential(): TokenCredential {
  let loaded: Promise<TokenCredential> | undefined;
  const load = () => (loaded ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential()));
  return { getToken: async (scopes, options) => (await load()).getToken(scopes, options) };
}

/** A request ended by our deadline (not by the job): ETIMEDOUT, so it is retried. */
function timeoutError(ms: number, doing: string): Error {
  return Object.assign(new Error(`${doing}: no answer within ${ms} ms (AZURE_REQUEST_TIMEOUT_MS)`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

export class AzureStorage implements StorageDriver {
  readonly name = 'azure';
  readonly limits = AZURE_LIMITS;
  readonly description: string;
  private readonly auth: AzureAuth;
  private containerClient?: Promise<ContainerClient>;
  private readonly timeoutMs: number;

  constructor(private readonly opts: AzureStorageOptions) {
    this.auth = resolveAzureAuth(opts);
    this.description = describeAzure(this.auth, opts.container);
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_AZURE_REQUEST_TIMEOUT_MS;
  }

  /** The container's client, built on first use (the SDK is loaded then: see the header). */
  private container(): Promise<ContainerClient> {
    return (this.containerClient ??= this.makeContainer());
  }

  private async makeContainer(): Promise<ContainerClient> {
    const { AnonymousCredential, ContainerClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
    // One attempt per request: RetryStorage and ./blocks.ts retry (see the header).
    const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 1 }, userAgentOptions: { userAgentPrefix: 'backupmate' } };
    const url = `${this.auth.endpoint}/${encodeURIComponent(this.opts.container)}`;
    switch (this.auth.method) {
      case 'connection-string':
        return new ContainerClient(this.auth.connectionString, this.opts.container, pipeline);
      case 'shared-key':
        return new ContainerClient(url, new StorageSharedKeyCredential(this.auth.account, this.auth.key), pipeline);
      case 'sas':
        return new ContainerClient(`${url}?${this.auth.sas}`, new AnonymousCredential(), pipeline);
      case 'default-chain':
        return new ContainerClient(url, lazyDefaultCredential(), pipeline);
    }
  }

  classify(error: unknown): ErrorClass {
    return classifyAzure(error);
  }

  private async blob(key: string): Promise<BlockBlobClient> {
    return (await this.container()).getBlockBlobClient(key);
  }

  /**
   * Runs one request with AZURE_REQUEST_TIMEOUT_MS to be answered; `keepSignal` leaves the
   * caller's signal on the response (a download's body), while the deadline ends with the answer.
   */
  private async deadline<T>(doing: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timer = new AbortController();
    const t = setTimeout(() => timer.abort(timeoutError(this.timeoutMs, doing)), this.timeoutMs);
    try {
      return await fn(signal ? AbortSignal.any([signal, timer.signal]) : timer.signal);
    } catch (e) {
      if (timer.signal.aborted && !signal?.aborted) throw timer.signal.reason;
      throw e;
    } finally {
      clearTimeout(t);
    }
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    checkKey(key);
    const signal = options.signal;
    if (signal?.aborted) throw signal.reason;
    const blob = await this.blob(key);
    if (Buffer.isBuffer(body) && body.length <= SINGLE_PUT_MAX) {
      try {
        await this.deadline(`uploading ${key}`, signal, (s) => blob.upload(body, body.length, { abortSignal: s }));
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        throw this.wrap(e, `uploading ${key}`);
      }
      return;
    }
    const stream = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    const retry = this.opts.uploadRetry;
    try {
      await uploadBlocks(stream, {
        key,
        blockSize: this.opts.blockSize,
        concurrency: this.opts.concurrency,
        maxBlocks: AZURE_LIMITS.maxParts,
        signal,
        stage: (id, data, _i, s) => this.deadline(`uploading a block of ${key}`, s, (d) => blob.stageBlock(id, data, data.length, { abortSignal: d })).then(() => {}),
        commit: (ids, s) => this.deadline(`committing ${key}`, s, (d) => blob.commitBlockList([...ids], { abortSignal: d })).then(() => {}),
        ...(retry ? { retry } : {}),
        classify: classifyAzure,
        describeError: (e) => errorLine(e),
      });
    } catch (e) {
      // Nothing was committed; the staged blocks go too (best effort, one attempt, no signal:
      // the job's may be aborted already).
      await this.discardUncommitted(blob);
      if (signal?.aborted && (isAbortError(e) || e === signal.reason)) throw signal.reason;
      throw this.wrap(e, `uploading ${key}`);
    }
  }

  /**
   * Drops the uncommitted blocks of a blob that has no committed version: committing an empty
   * block list discards every uncommitted block, `If-None-Match: *` makes sure no committed
   * object is ever replaced by it, and the empty blob it creates is deleted by its ETag at once.
   * Best effort: on failure Azure garbage-collects the blocks after 7 days. Returns whether the
   * blocks were dropped.
   */
  private async discardUncommitted(blob: BlockBlobClient): Promise<boolean> {
    try {
      const made = await this.deadline('discarding uncommitted blocks', undefined, (s) =>
        blob.commitBlockList([], { conditions: { ifNoneMatch: '*' }, abortSignal: s }),
      );
      await this.deadline('discarding uncommitted blocks', undefined, (s) => blob.delete({ conditions: { ifMatch: made.etag }, abortSignal: s }));
      return true;
    } catch {
      return false;
    }
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    checkKey(key);
    const blob = await this.blob(key);
    const timer = new AbortController();
    const t = setTimeout(() => timer.abort(timeoutError(this.timeoutMs, `downloading ${key}`)), this.timeoutMs);
    // The job's signal stays on the body; the deadline only covers the answer (see the header).
    const job = new AbortController();
    const onJobAbort = () => job.abort(options.signal!.reason);
    options.signal?.addEventListener('abort', onJobAbort, { once: true });
    const onTimeout = () => job.abort(timer.signal.reason);
    timer.signal.addEventListener('abort', onTimeout, { once: true });
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      const out = await blob.download(0, undefined, { abortSignal: job.signal, maxRetryRequests: Math.max(0, (this.opts.uploadRetry?.attempts ?? 1) - 1) });
      const body = out.readableStreamBody;
      if (!(body instanceof Readable)) throw new BackupmateError('STORAGE', `unexpected body type for ${key}`);
      body.once('close', () => options.signal?.removeEventListener('abort', onJobAbort));
      return body;
    } catch (e) {
      options.signal?.removeEventListener('abort', onJobAbort);
      if (timer.signal.aborted && !options.signal?.aborted) throw this.wrap(timer.signal.reason, `downloading ${key}`);
      if (isAzureNotFound(e)) throw notFound(this, key);
      throw this.wrap(e, `downloading ${key}`);
    } finally {
      clearTimeout(t);
      timer.signal.removeEventListener('abort', onTimeout);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    checkKey(key);
    try {
      const blob = await this.blob(key);
      const p = await this.deadline(`checking ${key}`, undefined, (s) => blob.getProperties({ abortSignal: s }));
      return { size: p.contentLength ?? 0 };
    } catch (e) {
      if (isAzureNotFound(e)) return null;
      throw this.wrap(e, `checking ${key}`);
    }
  }

  private async listNames(prefix: string, uncommitted: boolean): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const pages = (await this.container()).listBlobsFlat({ prefix, ...(uncommitted ? { includeUncommitedBlobs: true } : {}) }).byPage({ maxPageSize: this.opts.listPageSize ?? 5000 });
    for (;;) {
      const next = await this.deadline(`listing ${prefix}`, undefined, () => pages.next());
      if (next.done) break;
      for (const b of next.value.segment.blobItems) {
        out.push({ key: b.name, size: b.properties.contentLength ?? 0, lastModified: b.properties.lastModified });
      }
    }
    return out;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    try {
      const out = await this.listNames(prefix, false);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    } catch (e) {
      throw this.wrap(e, `listing ${prefix}`);
    }
  }

  /**
   * Blobs under `prefix` that have staged blocks and no committed version: uploads a killed
   * process never committed. (Listed with include=uncommittedblobs, minus the committed blobs.)
   */
  async listUnfinished(prefix: string): Promise<UnfinishedUpload[]> {
    try {
      const [all, committed] = await Promise.all([this.listNames(prefix, true), this.listNames(prefix, false)]);
      const done = new Set(committed.map((o) => o.key));
      return all
        .filter((o) => !done.has(o.key))
        .map((o) => ({ key: o.key, handle: `uncommitted:${o.key}`, startedAt: o.lastModified ?? null }));
    } catch (e) {
      throw this.wrap(e, `listing unfinished uploads (uncommitted blocks) under ${prefix}`);
    }
  }

  /** Discards the staged blocks: an upload still running can then no longer commit its list. */
  async abortUnfinished(u: UnfinishedUpload): Promise<void> {
    checkKey(u.key);
    const blob = await this.blob(u.key);
    if (await this.discardUncommitted(blob)) return;
    // Not dropped: either nothing is left to drop (gone, or committed meanwhile), or the store failed.
    try {
      await this.deadline(`checking ${u.key}`, undefined, (s) => blob.getBlockList('uncommitted', { abortSignal: s }));
    } catch (e) {
      if (isAzureNotFound(e)) return;
      throw this.wrap(e, `discarding the uncommitted blocks of ${u.key}`);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      checkKey(key);
      try {
        const blob = await this.blob(key);
        await this.deadline(`deleting ${key}`, undefined, (s) => blob.deleteIfExists({ deleteSnapshots: 'include', abortSignal: s }));
      } catch (e) {
        if (!isAzureNotFound(e)) throw this.wrap(e, `deleting ${key}`);
      }
    }
  }

  /** Turns SDK errors into one line that says what to check. */
  private wrap(e: unknown, doing: string): unknown {
    if (e instanceof BackupmateError) return e;
    const err = e as AzureErrorLike & { name?: string };
    if (err?.name === 'AbortError') return e;
    const status = typeof err?.statusCode === 'number' ? err.statusCode : undefined;
    const code = azureCode(e);
    const tries = attemptsOf(e);
    let hint = '';
    if (status === 403 || PERMANENT_NAMES.has(String(err?.name)) || /^Authori|^Authentication|^InvalidAuthenticationInfo$|^NoAuthentication/.test(code)) {
      hint = `; check ${credentialKeys(this.auth)}`;
    } else if (code === 'ContainerNotFound') {
      hint = `; check AZURE_CONTAINER (container "${this.opts.container}" does not exist${this.auth.account ? ` in account ${this.auth.account}` : ''}: create it, e.g. az storage container create --name ${this.opts.container})`;
    } else if (code === 'ResourceNotFound' || code === 'ENOTFOUND' || UNREACHABLE_ERRNO.has(code) || err?.name === 'TimeoutError') {
      hint = "; check AZURE_STORAGE_ACCOUNT / AZURE_BLOB_ENDPOINT, the network and the store's status";
    }
    const errno = code && (errnoClass(code) || UNREACHABLE_ERRNO.has(code)) ? code : undefined;
    return new BackupmateError(
      'STORAGE',
      `${doing} on ${this.description} failed: ${errorLine(e)}${hint}` + (tries > 1 ? ` (gave up after ${tries} attempts)` : ''),
      { ...(status ? { httpStatus: status } : {}), ...(errno ? { errno } : {}), endpoint: this.auth.endpoint, ...(tries > 1 ? { attempts: tries } : {}) },
      { cause: e },
    );
  }
}

/** `AuthenticationFailed (HTTP 403): Server failed to authenticate the request.` (first line only: Azure appends RequestId and Time). */
export function errorLine(e: unknown): string {
  const err = e as AzureErrorLike | undefined;
  const name = typeof err?.name === 'string' && err.name !== 'RestError' ? err.name : '';
  const code = azureCode(e);
  const label = [code || name || 'Error', name && code && name !== code && name !== 'Error' ? `(${name})` : ''].filter(Boolean).join(' ');
  const status = typeof err?.statusCode === 'number' ? ` (HTTP ${err.statusCode})` : '';
  const message = (typeof err?.message === 'string' ? err.message : String(e)).split('\n')[0]!.trim();
  return `${label}${status}${message ? `: ${message}` : ''}`;
}

/** STORAGE=azure: the AZURE_* keys; blocks of streamed puts retried with the wrapper's policy. */
export const azureDriver: DriverEntry = {
  limits: AZURE_LIMITS,
  create: (c, deps) =>
    new AzureStorage({
      container: c.AZURE_CONTAINER,
      connectionString: c.AZURE_STORAGE_CONNECTION_STRING,
      account: c.AZURE_STORAGE_ACCOUNT,
      key: c.AZURE_STORAGE_KEY,
      sas: c.AZURE_STORAGE_SAS_TOKEN,
      endpoint: c.AZURE_BLOB_ENDPOINT,
      blockSize: c.AZURE_BLOCK_SIZE,
      concurrency: c.AZURE_CONCURRENCY,
      requestTimeoutMs: c.AZURE_REQUEST_TIMEOUT_MS,
      uploadRetry: { ...deps.retry, onRetry: deps.onRetry },
    }),
};
