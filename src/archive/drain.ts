/**
 * Backpressure helper: resolves when `stream` drains, rejects (or resolves, see `onClose`) if it
 * closes first. Removes both listeners either way, so a long stream does not pile up listeners.
 */
import type { EventEmitter } from 'node:events';

export function waitDrain(stream: EventEmitter, onClose: 'resolve' | Error = 'resolve'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (closed: boolean) => {
      stream.off('drain', drained);
      stream.off('close', closedFn);
      if (closed && onClose !== 'resolve') reject(onClose);
      else resolve();
    };
    const drained = () => done(false);
    const closedFn = () => done(true);
    stream.once('drain', drained);
    stream.once('close', closedFn);
  });
}
