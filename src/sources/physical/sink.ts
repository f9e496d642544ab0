/** The physical source at restore and verify time: where a backup's decoded xbstream goes. */
import { ChildStage } from '../../archive/child.js';
import type { Logger } from '../../log/logger.js';
import { mbstreamExtractArgv } from '../../mariadb/mariabackup.js';
import type { Sink } from '../source.js';

/**
 * The physical sink: `mbstream -x` into `staging`, fed by `feed` through the kernel when given.
 * mbstream -x prints errors (e.g. a file that already exists) and still exits 0: such a line fails it.
 */
export function mbstreamSink(log: Logger, mbstreamPath: string, staging: string, feed: ChildStage | null): Sink {
  const mbstream = new ChildStage({
    stage: 'mbstream',
    file: mbstreamPath,
    args: mbstreamExtractArgv(staging),
    stdin: feed ?? 'pipe',
    stdout: 'ignore',
    onStderr: (l) => log.warn(l, { event: 'mbstream.stderr' }),
    stderrIsFatal: (l) => /error|failed|can't|cannot/i.test(l),
  });
  return { input: feed ? null : mbstream.stdin, stages: [{ stage: 'mbstream', promise: mbstream.done }], kill: () => mbstream.kill() };
}

