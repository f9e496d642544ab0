/**
 * One registry of error codes and the process exit status each maps to.
 *
 * Every failure a user can meet carries one of these codes. The CLI turns the code into the exit
 * status (documented in the README), the control channel sends the code as is, and messages say
 * what was expected and what came in. Codes are stable: scripts depend on them.
 */
export const ERROR_CODES = {
  /** Wrong command-line usage: unknown option, missing argument, bad value. */
  USAGE: { exit: 64, doc: 'bad command-line usage (unknown option, missing or malformed argument)' },
  /** A configuration key is missing, malformed or inconsistent with another. */
  CONFIG: { exit: 78, doc: 'invalid configuration (a key is missing, malformed or inconsistent)' },
  /** The requested backup id does not exist in the store. */
  BACKUP_NOT_FOUND: { exit: 66, doc: 'no backup matches the requested id or time' },
  /** A backup's objects do not match their manifest (checksum, size, missing volume). */
  INTEGRITY: { exit: 65, doc: 'a backup failed an integrity check (checksum, size or missing object)' },
  /** The restore target is not in a state we may touch (server running, not empty...). */
  TARGET_STATE: { exit: 73, doc: 'the restore target is not safe to write (server running, directory not empty)' },
  /** The store could not be reached or refused the request. */
  STORAGE: { exit: 76, doc: 'the store could not be reached or refused a request' },
  /** An external program (mariabackup, mbstream, zstd...) failed. */
  TOOL_FAILED: { exit: 71, doc: 'an external program (mariabackup, mbstream, zstd, ...) failed' },
  /** A required program is not installed or not executable. */
  TOOL_MISSING: { exit: 69, doc: 'a required program is missing or not executable' },
  /** The job was cancelled (signal or request). */
  CANCELLED: { exit: 75, doc: 'the job was cancelled before it finished' },
  /** Local filesystem problem (permissions, no space). */
  LOCAL_IO: { exit: 74, doc: 'a local file or directory could not be read or written' },
  /** backupmatectl: the daemon's control socket does not exist or nobody listens on it. */
  DAEMON_UNAVAILABLE: { exit: 68, doc: 'the backupmate daemon is not running (no control socket, or nobody answers on it)' },
  /** backupmatectl: the control socket exists but we may not connect to it. */
  PERMISSION: { exit: 77, doc: 'no permission on the control socket (join its group, see the message)' },
  /** The daemon is busy with something that excludes the request (a restore while a backup runs). */
  BUSY: { exit: 72, doc: 'the daemon is busy with a job that excludes this request (wait, or cancel it)' },
  /** The user declined a confirmation. */
  DECLINED: { exit: 67, doc: 'the operation was not confirmed, nothing was changed' },
  /** The control protocol was violated (version mismatch, malformed message). */
  PROTOCOL: { exit: 79, doc: 'the control protocol failed (backupmatectl and daemon versions differ, or a malformed message)' },
  /** Another writer (backup, prune, restore) holds the store prefix's lock (storage/lock.ts). */
  STORE_LOCKED: { exit: 81, doc: 'another backupmate (named in the message: host, pid, job, since when) is at work on the same store prefix' },
  /** A restore drill's restored server would not start, or its data failed a check (CHECK TABLE, a missing table). */
  DRILL_FAILED: { exit: 80, doc: "a restore drill's server did not start or its data failed a check (CHECK TABLE, missing table or rows)" },
  /** A bug: anything we did not anticipate. */
  INTERNAL: { exit: 70, doc: 'an unexpected internal error (a bug: please report it with the log)' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An error meant for the user: it carries a stable code and a message that names what was wrong,
 * what was expected and what came in. The CLI prints `message` (never a stack) and exits with the
 * code's status.
 */
export class BackupmateError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for logs (stage, exit code, stderr tail...). Must never hold secrets. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupmateError';
    this.code = code;
    this.details = details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

export function isBackupmateError(e: unknown): e is BackupmateError {
  return e instanceof BackupmateError;
}

/** Best-effort one-line text of any thrown value. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
