/** Times, durations and sizes as the admin commands print them for people. */

/**
 * A duration in the largest two units that matter: "45s", "3m05s", "2h10m", "4d06h".
 *
 * @example
 * ```ts
 * duration(185_000); // "3m05s"
 * ```
 */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, "0");
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${two(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${two(m % 60)}m`;
  return `${Math.floor(h / 24)}d${two(h % 24)}h`;
}

/** How long ago an ISO time was, from `nowMs`: "12s ago"; "-" for none. */
export function ago(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return "-";
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  return at > nowMs ? `in ${duration(at - nowMs)}` : `${duration(nowMs - at)} ago`;
}

/** Time left until an ISO time, from `nowMs`: "42s", or "expired"; "-" for none. */
export function timeLeft(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return "-";
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  return at <= nowMs ? "expired" : duration(at - nowMs);
}

/** A byte count in binary units: "512 B", "3.4 KiB", "12.0 GiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Milliseconds with the precision a round trip deserves: "0.42 ms", "12 ms". */
export function millis(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`;
}
