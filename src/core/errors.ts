/**
 * The error codes a user can meet, in one place. Every code is stable: clients
 * and docs match on it, so never rename one; add a new code instead.
 *
 * @module
 */
import { redactText } from "./redact.ts";

/** Stable, machine-readable error codes. */
export type ErrorCode =
  | "NOT_SIGNED_ON"
  | "INVALID_ARGUMENT"
  | "VERSION_CONFLICT"
  | "INSTANCE_TAKEN"
  | "VALUE_TOO_LARGE"
  | "CORRUPT_STATE"
  | "STORAGE_UNAVAILABLE"
  | "CONFIG_INVALID"
  | "TASK_TAKEN"
  | "STALE_CLAIM"
  | "PATHS_RESERVED"
  | "INTERNAL_ERROR";

/** What each code means and what the user should do about it. */
export const ERROR_HINTS: Readonly<Record<ErrorCode, string>> = {
  NOT_SIGNED_ON: "Call sign_on first; every tool except sign_on needs a signed-on session.",
  INVALID_ARGUMENT: "Fix the argument named in the message and call again.",
  VERSION_CONFLICT:
    "Someone else changed the key first: retrieve it again, re-apply your change and retry with the new version.",
  INSTANCE_TAKEN:
    "Another live session holds that instance: sign on without session_id to get a free one, or wait for its lease to expire.",
  VALUE_TOO_LARGE:
    "Store a smaller value (split it over several keys) or raise limits.max_value_bytes in the config.",
  CORRUPT_STATE:
    "The named state file is not valid: inspect it, repair or move it away; other scopes keep working.",
  STORAGE_UNAVAILABLE:
    "The storage backend could not be reached: check that it is running and reachable, then retry.",
  CONFIG_INVALID: "Fix the named field in the named config file; run --validate-config to check.",
  TASK_TAKEN:
    "Another live session holds that task: claim another (claim_task without task_id), or message its holder.",
  STALE_CLAIM:
    "Your claim on that task ended (your session lost its lease and someone else may hold it now): stop working on it, list_tasks to see who has it, and claim again if it is free.",
  PATHS_RESERVED:
    "Another live session reserved those paths: work on other files, wait for it to release them, or message it.",
  INTERNAL_ERROR:
    "This is a bug in claude-session-coordinator: please report it with the server's stderr log.",
};

/** An error a user can meet: a stable code, one clear sentence, optional details. */
export class CoordinatorError extends Error {
  /** The stable code clients and docs match on. */
  readonly code: ErrorCode;
  /** What a program can read about the failure (the key, the versions, the holder). */
  readonly details: Readonly<Record<string, unknown>>;

  /** An error with a code, a sentence a person can act on, and optional details. */
  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "CoordinatorError";
    this.code = code;
    this.details = details;
  }
}

/** Builds an INVALID_ARGUMENT error. */
export function invalidArgument(message: string, details: Record<string, unknown> = {}) {
  return new CoordinatorError("INVALID_ARGUMENT", message, details);
}

/** True when `err` is a CoordinatorError, optionally with the given code. */
export function isCoordinatorError(err: unknown, code?: ErrorCode): err is CoordinatorError {
  return err instanceof CoordinatorError && (code === undefined || err.code === code);
}

/** One line for a user: `CODE: message` followed by what to do, with credentials hidden. */
export function formatError(err: CoordinatorError): string {
  return redactText(`${err.code}: ${err.message} ${ERROR_HINTS[err.code]}`);
}

/** Follows `cause` chains into one string, for --verbose logs; credentials hidden. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    parts.push(cur instanceof Error ? `${cur.name}: ${cur.message}` : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return redactText(parts.join("\n  caused by: "));
}
