/** Medians, ranges and the units the report prints. */

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { n: v.length, median, min: v[0]!, max: v[v.length - 1]! };
}

export const MiB = 1024 * 1024;
export const MB = 1e6;

/** Bytes per millisecond → MB/s (decimal, as the design notes use). */
export function mbps(bytes: number, ms: number): number {
  return bytes / MB / (ms / 1000);
}

export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function fmtSeconds(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const s = ms / 1000;
  return s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`;
}

export function fmtMiB(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  return `${(bytes / MiB).toFixed(0)} MiB`;
}

export function fmtBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–';
}

/** "median (min–max)" with a formatter; a single run prints just the value. */
export function fmtSummary(s: Summary, f: (x: number) => string): string {
  if (s.n === 0) return '–';
  const [med, lo, hi] = [f(s.median), f(s.min), f(s.max)];
  return s.n === 1 || lo === hi ? med : `${med} (${lo}–${hi})`;
}
