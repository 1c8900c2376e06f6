/** Small statistics and formatting helpers for the bench. */

/** The q-th quantile (0..1) of the samples, nearest-rank; NaN when empty. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** The median (nearest-rank p50). */
export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

/** p50 and p99 of latency samples in milliseconds, rounded to microseconds. */
export function latency(samples: readonly number[]): { p50: number; p99: number; n: number } {
  return {
    p50: round(quantile(samples, 0.5)),
    p99: round(quantile(samples, 0.99)),
    n: samples.length,
  };
}

/** Rounds to `digits` decimals (3 by default); keeps null and NaN as null. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Times one async call in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const result = await fn();
  return [performance.now() - start, result];
}

/** A number for the table: a few significant digits, "-" for null. */
export function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "-";
  if (Number.isInteger(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** Renders rows as an aligned plain-text (and Markdown-compatible) table. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  const rule = "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|";
  return [line(header), rule, ...rows.map(line)].join("\n");
}
