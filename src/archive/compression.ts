/**
 * Compression stages as child processes. Node 20's zlib has no zstd, and `zstd -T0` on two cores
 * beats any in-process option (design notes, section 2): compression is the pipeline's bottleneck,
 * so it runs in its own multi-threaded process.
 *
 * The uncompressed stream never passes through Node when the compressor can count it for us:
 * mariabackup's stdout is handed to zstd as its stdin (a kernel pipe, see ChildStage's `stdin`),
 * and at exit zstd reports the exact byte count on stderr (`-vv`: "(N B => M B, ...)"). On two
 * cores, every cycle Node spends copying 2 GB of raw stream is a cycle taken from zstd. Whether
 * this zstd prints a summary we can read is probed once (`canCountRaw`); when it does not (another
 * version, or gzip, which reports no byte count), Node stays in the path and counts.
 *
 * Restore follows the manifest's algorithm, never the current configuration.
 */
import { spawnSync } from 'node:child_process';
import type { CompressionAlgorithm } from '../domain/manifest.js';

export interface CompressorCommand {
  file: string;
  args: string[];
  /**
   * Reads the uncompressed byte count from one of the tool's stderr lines (null for other lines);
   * absent when the tool reports none.
   */
  rawBytesFrom?: (line: string) => number | null;
}

/** `zstd -vv` when compressing: `/*stdin*\ :100.00%   (400000000 B => 400009166 B, /*stdout*\)`. */
export function zstdCompressedSummary(line: string): number | null {
  const m = /\(\s*(\d+) B => \s*(\d+) B,/.exec(line);
  return m ? Number(m[1]) : null;
}

/** `zstd -vv -d`: `/*stdin*\           : 10000000 bytes`. */
export function zstdDecompressedSummary(line: string): number | null {
  const m = /^\S.*:\s+(\d+) bytes\s*$/.exec(line);
  return m ? Number(m[1]) : null;
}

/** The command that compresses stdin to stdout, or null for `none`. */
export function compressCommand(algorithm: CompressionAlgorithm, level: number): CompressorCommand | null {
  switch (algorithm) {
    case 'zstd':
      // -vv instead of -q: the exit summary carries the exact input size (no progress lines are
      // printed when stderr is not a terminal). Other lines it prints are logged at debug level.
      return { file: 'zstd', args: ['-vv', '-c', '-T0', `-${level}`], rawBytesFrom: zstdCompressedSummary };
    case 'gzip':
      return { file: 'gzip', args: ['-c', `-${level}`] };
    case 'none':
      return null;
  }
}

/** The command that decompresses stdin to stdout, or null for `none`. */
export function decompressCommand(algorithm: CompressionAlgorithm): CompressorCommand | null {
  switch (algorithm) {
    case 'zstd':
      return { file: 'zstd', args: ['-vv', '-d', '-c'], rawBytesFrom: zstdDecompressedSummary };
    case 'gzip':
      return { file: 'gzip', args: ['-d', '-c'] };
    case 'none':
      return null;
  }
}

const probed = new Map<string, boolean>();

/**
 * True when `cmd` reports the size of its input in a way `rawBytesFrom` reads (checked once per
 * program by compressing 3 bytes). False for tools without a summary and for a tool that is
 * missing (the real stage then fails with its own, clearer error).
 */
export function canCountRaw(cmd: CompressorCommand): boolean {
  if (!cmd.rawBytesFrom) return false;
  const key = `${cmd.file}\0${cmd.args.join('\0')}`;
  let ok = probed.get(key);
  if (ok === undefined) {
    try {
      const r = spawnSync(cmd.file, cmd.args, { input: 'abc', timeout: 10_000, encoding: 'utf8' });
      ok = r.status === 0 && r.stderr.split('\n').some((l) => cmd.rawBytesFrom!(l) === 3);
    } catch {
      ok = false;
    }
    probed.set(key, ok);
  }
  return ok;
}
