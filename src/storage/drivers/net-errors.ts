/**
 * Error facts every driver shares: Node's errno codes (sockets, DNS, local and NFS disks), HTTP
 * status classes, and the walk along a `cause` chain. Drivers add their own service codes (S3
 * error names, Azure's x-ms-error-code...) on top, in their own file.
 */
import { BackupmateError } from '../../domain/errors.js';

/** What an error means to whoever might retry it. */
export type ErrorClass = 'transient' | 'permanent' | 'not-found';

/**
 * Network and filesystem error codes that may go away by themselves: connection reset or refused
 * (a server restarting; a wrong endpoint then costs only the bounded backoff before its
 * what-to-check message), broken pipe, timeouts, unreachable networks, DNS "try again", and on
 * local or NFS stores EIO / EAGAIN / EBUSY / ESTALE.
 */
export const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EAI_AGAIN',
  'EIO',
  'EAGAIN',
  'EBUSY',
  'ESTALE',
  'UND_ERR_SOCKET',
]);

/** Codes that no retry can fix: no space, no permission, read-only, unknown host, bad path. */
export const PERMANENT_ERRNO = new Set([
  'ENOSPC',
  'EDQUOT',
  'EFBIG',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'EEXIST',
  'ENAMETOOLONG',
  'ENOTFOUND',
  'ERR_INVALID_ARG_TYPE',
]);

/** Errors that say the store could not be reached at all (hints then name the endpoint and the network). */
export const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EPIPE']);

export function errnoClass(code: unknown): ErrorClass | undefined {
  if (typeof code !== 'string') return undefined;
  if (TRANSIENT_ERRNO.has(code)) return 'transient';
  if (PERMANENT_ERRNO.has(code)) return 'permanent';
  return undefined;
}

/** 5xx and 429 may pass; 501 Not Implemented (a server without an operation) never does; other 4xx never. */
export function httpStatusClass(status: number): ErrorClass {
  if (status === 501) return 'permanent';
  return status === 429 || status >= 500 ? 'transient' : 'permanent';
}

/** A request ended because the upload or the job was aborted: never the cause of a failure. */
export function isAbortError(e: unknown): boolean {
  const name = (e as { name?: unknown })?.name;
  return name === 'AbortError' || (e as { code?: unknown })?.code === 'ABORT_ERR';
}

/** One error's verdict, or undefined to look at its `cause`. */
export type ClassifyOne = (e: object) => ErrorClass | undefined;

/**
 * Walks an error and its causes (at most 8, so a cycle ends) and returns the first verdict.
 * Our own errors decide first: only STORAGE errors can be transient (INTEGRITY, CANCELLED,
 * INTERNAL... never), a not-found answer is 'not-found', and a wrapped driver error lets its
 * cause decide (it knows best: S3's RequestTimeout is a 400 yet transient). Anything else goes
 * to the driver's `one`, then to the errno tables. Unrecognised errors are permanent: a bug is
 * not fixed by trying again.
 */
export function classifyChain(error: unknown, one: ClassifyOne = () => undefined): ErrorClass {
  let e: unknown = error;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const verdict = e instanceof BackupmateError ? classifyOurs(e) : (one(e) ?? errnoClass((e as { code?: unknown }).code));
    if (verdict) return verdict;
    e = (e as { cause?: unknown }).cause;
  }
  return 'permanent';
}

function classifyOurs(e: BackupmateError): ErrorClass | undefined {
  if (e.details.notFound === true) return 'not-found';
  if (e.code !== 'STORAGE') return 'permanent';
  if (e.cause !== undefined && e.cause !== null) return undefined;
  const status = e.details.httpStatus;
  if (typeof status === 'number') return httpStatusClass(status);
  return errnoClass(e.details.errno);
}
