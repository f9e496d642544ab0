import { canCountRaw, compressCommand, decompressCommand, zstdCompressedSummary, zstdDecompressedSummary } from '../../../src/archive/compression.js';

describe('compressor commands', () => {
  test('zstd compresses with -vv (its exit summary counts the raw bytes), multi-threaded, at the level', () => {
    expect(compressCommand('zstd', 3)).toMatchObject({ file: 'zstd', args: ['-vv', '-c', '-T0', '-3'] });
    expect(decompressCommand('zstd')).toMatchObject({ file: 'zstd', args: ['-vv', '-d', '-c'] });
    expect(compressCommand('gzip', 6)).toEqual({ file: 'gzip', args: ['-c', '-6'] });
    expect(compressCommand('none', 3)).toBeNull();
    expect(decompressCommand('none')).toBeNull();
  });

  test('the summary lines of zstd 1.5 are read exactly; other lines are not', () => {
    expect(zstdCompressedSummary('/*stdin*\\            :100.00%   (400000000 B => 400009166 B, /*stdout*\\) ')).toBe(400000000);
    expect(zstdCompressedSummary('/*stdin*\\            :  (     0 B =>     13 B, /*stdout*\\) ')).toBe(0);
    expect(zstdCompressedSummary('/*stdin*\\            : 36.65%   (  9.54 MiB =>   3.50 MiB, /*stdout*\\) ')).toBeNull();
    expect(zstdCompressedSummary('Decompression will require 2097152 B of memory')).toBeNull();
    expect(zstdDecompressedSummary('/*stdin*\\           : 10000000 bytes ')).toBe(10000000);
    expect(zstdDecompressedSummary('Using stdin for input ')).toBeNull();
  });

  test('the zstd on this machine reports counts we can read; gzip does not', () => {
    expect(canCountRaw(compressCommand('zstd', 3)!)).toBe(true);
    expect(canCountRaw(compressCommand('gzip', 6)!)).toBe(false);
    expect(canCountRaw({ file: '/nonexistent/zstd', args: ['-vv', '-c'], rawBytesFrom: zstdCompressedSummary })).toBe(false);
  });
});
