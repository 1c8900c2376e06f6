/**
 * The admin commands' flag values, checked and typed: a wrong value is a
 * UsageError (exit 2) naming the flag, before anything is opened.
 */
import { UsageError } from "./_shared.ts";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The time `--since` names, in epoch ms: a duration back from `nowMs`
 * ("90s", "10m", "2h", "1d") or an ISO-8601 time ("2026-11-30T09:00:00Z";
 * a date alone is midnight UTC).
 *
 * @example
 * ```ts
 * parseSince("10m", Date.parse("2026-11-30T10:00:00Z")); // Date.parse("2026-11-30T09:50:00Z")
 * ```
 */
export function parseSince(text: string, nowMs: number): number {
  const relative = /^(\d{1,9})([smhd])$/.exec(text.trim());
  if (relative) return nowMs - Number(relative[1]) * UNIT_MS[relative[2]];
  const at = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text.trim()) : NaN;
  if (Number.isNaN(at)) {
    throw new UsageError(
      `--since ${
        JSON.stringify(text)
      } is neither a duration (30s, 10m, 2h, 1d) nor an ISO time (2026-11-30T09:00:00Z)`,
    );
  }
  return at;
}

/** A flag that must be a whole number from `min` up; undefined when absent. */
export function parseCount(flag: string, text: string | undefined, min = 1): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text.trim()) || Number(text) < min) {
    throw new UsageError(
      `--${flag} must be a whole number of at least ${min}, not ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

/**
 * The project id `--project-id` names (to look at another project sharing
 * the store). It becomes part of every scope, so it may not hold ":" (the
 * scope separator), start with "@", or be empty.
 */
export function parseProjectId(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (text === "" || text.includes(":") || text.startsWith("@") || /[\s\p{Cc}]/u.test(text)) {
    throw new UsageError(
      `--project-id ${
        JSON.stringify(text)
      } is not a project id: ids look like "acme/widgets" (no ":", no spaces, not starting with "@")`,
    );
  }
  return text;
}

/** Refuses positional arguments a command does not take. */
export function noArguments(command: string, args: string[]): void {
  if (args.length > 0) {
    throw new UsageError(`${command} takes no arguments, got ${JSON.stringify(args.join(" "))}`);
  }
}
