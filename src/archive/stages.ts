/**
 * Runs a set of concurrent pipeline stages as one unit: the first real failure stops them all.
 *
 * Every stage's outcome counts (mariabackup, container, compressor, upload). When one fails, the
 * `stop` hook kills the children, destroys the streams and aborts uploads; then we wait for every
 * stage to settle, so nothing keeps running after the job reports, and report the ROOT cause:
 * a stage that failed on its own beats the broken pipes and kills that followed from it.
 */
import { BackupmateError } from '../domain/errors.js';

export interface StageOutcome {
  stage: string;
  promise: Promise<unknown>;
}

/** Errors that are consequences of another stage's failure, not causes. */
export function isConsequence(e: unknown): boolean {
  const err = e as { code?: string; name?: string; details?: Record<string, unknown> };
  if (err?.details?.killedByUs) return true;
  // A producer that failed because the consumer of its pipe died first (marked by the job).
  if (err?.details?.brokenPipe) return true;
  // A child whose output pipe we closed dies of SIGPIPE: the reader's failure is the cause.
  if (err?.details?.signal === 'SIGPIPE') return true;
  if (err?.code === 'EPIPE' || err?.code === 'ERR_STREAM_PREMATURE_CLOSE' || err?.code === 'ERR_STREAM_DESTROYED') return true;
  if (err?.code === 'ABORT_ERR' || err?.name === 'AbortError') return true;
  // Some stream libraries re-wrap these and drop the code.
  if (/\b(EPIPE|ECONNRESET)\b|premature close|stream (was )?destroyed/i.test(String((e as Error)?.message ?? ''))) return true;
  return false;
}

/**
 * Lower is more likely the root cause. Stages fail in an order set by the scheduler, not by
 * causality (a killed compressor breaks the container's pipe before its own exit is reported),
 * so the cause is chosen by kind once every stage has settled.
 */
function rank(e: unknown): number {
  if (e instanceof BackupmateError) {
    if (e.code === 'CANCELLED') return 0;
    if (e.details.killedByUs || e.details.brokenPipe || e.details.signal === 'SIGPIPE') return 5;
    if (e.code === 'TOOL_FAILED' || e.code === 'TOOL_MISSING') return 1;
    return 2;
  }
  return isConsequence(e) ? 4 : 3;
}

export async function runStages(stages: StageOutcome[], stop: (cause: unknown) => void, signal?: AbortSignal): Promise<void> {
  const errors: { stage: string; error: unknown }[] = [];
  let stopped = false;
  const fail = (stage: string, error: unknown) => {
    errors.push({ stage, error });
    if (!stopped) {
      stopped = true;
      stop(error);
    }
  };
  const onAbort = () =>
    fail('job', signal?.reason instanceof BackupmateError ? signal.reason : new BackupmateError('CANCELLED', 'the job was cancelled'));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.allSettled(stages.map((s) => s.promise.catch((e) => fail(s.stage, e))));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (!errors.length) return;
  const root = [...errors].sort((a, b) => rank(a.error) - rank(b.error))[0];
  const err = root.error;
  if (err instanceof BackupmateError) {
    if (err.details.stage === undefined) (err.details as Record<string, unknown>).stage = root.stage;
    throw err;
  }
  throw new BackupmateError('INTERNAL', `${root.stage}: ${(err as Error)?.message ?? String(err)}`, { stage: root.stage }, { cause: err });
}
