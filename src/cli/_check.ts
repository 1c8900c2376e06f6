/** One finding of `doctor`: what was checked, how it stands, and what to do about it. */

/** ok; a problem (doctor exits 1); a warning (worth knowing, not failing); or not checked. */
export type CheckStatus = "ok" | "problem" | "warning" | "skipped";

/** One finding. */
export interface CheckResult {
  /** Which check: config, storage, writable, disk, locks, clock, guard. */
  check: string;
  status: CheckStatus;
  /** What was found, in one sentence. */
  detail: string;
  /** What to do about it (problems and warnings). */
  fix?: string;
}

/** Builds a finding. */
export function finding(
  check: string,
  status: CheckStatus,
  detail: string,
  fix?: string,
): CheckResult {
  return fix === undefined ? { check, status, detail } : { check, status, detail, fix };
}
