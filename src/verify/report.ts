/**
 * The verify report's shape and the error a non-ok report ends a command with: shared by the
 * verify job, `backupmate verify`, the daemon and backupmatectl (which must stay light: no
 * storage or archive code here).
 */
import { BackupmateError, type ErrorCode } from '../domain/errors.js';

export type VerifyStatus = 'ok' | 'corrupt' | 'unchecked' | 'incomplete';

export interface BackupVerdict {
  id: string;
  kind: string;
  status: VerifyStatus;
  /** What is wrong (corrupt), or why it could not be checked (unchecked); empty when ok. */
  problems: string[];
  /** Worth knowing, not wrong: a MAC that cannot be checked without the key, a missing SHA256SUMS. */
  warnings: string[];
  /** unchecked: the cause's error code (CONFIG, STORAGE, LOCAL_IO...); corrupt: INTEGRITY. */
  code?: ErrorCode;
  volumes?: number;
  storedBytes?: number;
  rawBytes?: number;
  /** Bytes downloaded and checked end to end (0 when the stream was not read). */
  checkedBytes: number;
  durationMs: number;
}

export interface VerifyReport {
  /** As asked: an id, "latest" or "all". */
  request: string;
  backups: BackupVerdict[];
  /** "3 backups: 2 ok, 1 corrupt". */
  summary: string;
  /** null when every checked backup is ok (incomplete ones do not count); else the exit status's code. */
  code: ErrorCode | null;
  durationMs: number;
}

/**
 * The error a non-ok report ends the command with (null when all is well): INTEGRITY (exit 65)
 * when anything is corrupt, naming the backups; otherwise the code of the first backup that could
 * not be checked (CONFIG 78 for a missing identity, STORAGE 76...), with its reason.
 */
export function verifyError(r: Pick<VerifyReport, 'request' | 'backups' | 'summary' | 'code'>): BackupmateError | null {
  if (r.code === null) return null;
  const corrupt = r.backups.filter((b) => b.status === 'corrupt').map((b) => b.id);
  if (r.code === 'INTEGRITY') {
    return new BackupmateError('INTEGRITY', `verify ${r.request}: ${r.summary}; corrupt: ${corrupt.join(', ')}`, { corrupt });
  }
  const first = r.backups.find((b) => b.status === 'unchecked');
  return new BackupmateError(r.code, `verify ${r.request}: ${r.summary}; ${first ? `${first.id}: ${first.problems[0] ?? 'could not be checked'}` : ''}`.replace(/; $/, ''), {
    unchecked: r.backups.filter((b) => b.status === 'unchecked').map((b) => b.id),
  });
}
