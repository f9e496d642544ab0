/**
 * Compression stages as child processes. Node 20's zlib has no zstd, and `zstd -T0` on two cores
 * beats any in-process option (design notes, section 2): compression is the pipeline's bottleneck,
 * so it runs in its own multi-threaded process.
 *
 * Restore follows the manifest's algorithm, never the current configuration.
 */
import type { CompressionAlgorithm } from '../domain/manifest.js';

export interface CompressorCommand {
  file: string;
  args: string[];
}

/** The command that compresses stdin to stdout, or null for `none`. */
export function compressCommand(algorithm: CompressionAlgorithm, level: number): CompressorCommand | null {
  switch (algorithm) {
    case 'zstd':
      return { file: 'zstd', args: ['-q', '-c', '-T0', `-${level}`] };
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
      return { file: 'zstd', args: ['-q', '-d', '-c'] };
    case 'gzip':
      return { file: 'gzip', args: ['-d', '-c'] };
    case 'none':
      return null;
  }
}
