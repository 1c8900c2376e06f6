/** Checks shared by every adapter on the arguments of a write. */
import { CoordinatorError, invalidArgument } from "../core/errors.ts";
import type { JsonValue } from "../core/json.ts";
import { isPlainObject } from "../core/json.ts";
import { validateKey, validateScope } from "../core/scope.ts";
import {
  type AdapterLimits,
  type BatchOp,
  type Entry,
  type Guard,
  type ListOptions,
  MAX_BATCH_OPS,
} from "./contract.ts";

/** Longest accepted TTL: ten years, far beyond any lease or claim. */
export const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

/**
 * Serializes a value to JSON text, refusing what JSON cannot carry and what is
 * over the size limit. Returns the text so callers do not serialize twice.
 */
export function encodeValue(value: JsonValue, limits: AdapterLimits): string {
  let text: string | undefined;
  try {
    // JSON has no NaN or Infinity: JSON.stringify would silently store null.
    text = JSON.stringify(value, (_key, v) => {
      if (typeof v === "number" && !Number.isFinite(v)) {
        throw new TypeError(`${v} is not a JSON number`);
      }
      return v;
    });
  } catch (err) {
    throw invalidArgument(`value is not serializable as JSON: ${(err as Error).message}`);
  }
  if (text === undefined) throw invalidArgument("value must be a JSON value.");
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > limits.maxValueBytes) {
    throw new CoordinatorError(
      "VALUE_TOO_LARGE",
      `value is ${bytes} bytes of JSON; the limit is ${limits.maxValueBytes}.`,
      { bytes, limit: limits.maxValueBytes },
    );
  }
  return text;
}

/** Validates an `ifVersion` argument. */
export function checkIfVersion(ifVersion: number | undefined): void {
  if (ifVersion === undefined) return;
  if (!Number.isSafeInteger(ifVersion) || ifVersion < 0) {
    throw invalidArgument(`if_version must be an integer >= 0, got ${ifVersion}.`);
  }
}

/** Validates a `ttlSeconds` argument and returns the expiry time in ms, or null. */
export function expiryFromTtl(ttlSeconds: number | undefined, nowMs: number): number | null {
  if (ttlSeconds === undefined) return null;
  if (typeof ttlSeconds !== "number" || !(ttlSeconds > 0) || ttlSeconds > MAX_TTL_SECONDS) {
    throw invalidArgument(
      `ttl_seconds must be a number > 0 and <= ${MAX_TTL_SECONDS}, got ${ttlSeconds}.`,
    );
  }
  return nowMs + Math.ceil(ttlSeconds * 1000);
}

/** The VERSION_CONFLICT error for a failed compare-and-set. */
export function versionConflict(
  scope: string,
  key: string,
  expected: number,
  current: number,
): CoordinatorError {
  const now = current === 0 ? "the key is absent" : `its current version is ${current}`;
  return new CoordinatorError(
    "VERSION_CONFLICT",
    `${scope} / ${key}: expected version ${expected}, but ${now}.`,
    { scope, key, expected_version: expected, current_version: current },
  );
}

/**
 * Validates an exported entry handed to restore (INVALID_ARGUMENT names the
 * bad field); returns the value's JSON text and the expiry in epoch ms.
 */
export function checkRestoredEntry(
  entry: Entry,
  limits: AdapterLimits,
): { text: string; expiresMs: number | null; heldBy: string | null } {
  if (!isPlainObject(entry)) throw invalidArgument("entry must be an object.");
  const { version, updatedAt, updatedBy, expiresAt } = entry;
  // Below the largest safe integer, so the next write's version is still exact.
  if (!Number.isSafeInteger(version) || version < 1 || version >= Number.MAX_SAFE_INTEGER) {
    throw invalidArgument(
      `entry.version must be an integer from 1 to ${Number.MAX_SAFE_INTEGER - 1}, got ${version}.`,
    );
  }
  if (typeof updatedAt !== "string" || Number.isNaN(Date.parse(updatedAt))) {
    throw invalidArgument(`entry.updatedAt must be an ISO time, got ${JSON.stringify(updatedAt)}.`);
  }
  if (updatedBy !== null && typeof updatedBy !== "string") {
    throw invalidArgument("entry.updatedBy must be a string or null.");
  }
  const expiresMs = expiresAt === null
    ? null
    : typeof expiresAt === "string"
    ? Date.parse(expiresAt)
    : NaN;
  if (expiresMs !== null && Number.isNaN(expiresMs)) {
    throw invalidArgument(
      `entry.expiresAt must be an ISO time or null, got ${JSON.stringify(expiresAt)}.`,
    );
  }
  // Backups written before holders existed have no heldBy: none.
  const heldBy = checkHeldBy(entry.heldBy);
  return { text: encodeValue(entry.value, limits), expiresMs, heldBy };
}

/** Validates a guard's shape; returns it with its scope validated. */
export function checkGuard(guard: Guard | undefined): Guard | undefined {
  if (guard === undefined) return undefined;
  if (!isPlainObject(guard)) throw invalidArgument("guard must be an object.");
  validateScope(guard.scope);
  validateKey(guard.key);
  if (typeof guard.field !== "string" || guard.field === "") {
    throw invalidArgument("guard.field must be a non-empty string.");
  }
  if (typeof guard.equals !== "string") throw invalidArgument("guard.equals must be a string.");
  return guard;
}

/**
 * True when the guard holds for the guard key's live value (undefined when
 * the key is absent or expired).
 */
export function guardHolds(guard: Guard, value: JsonValue | undefined): boolean {
  return isPlainObject(value) && Object.hasOwn(value, guard.field) &&
    value[guard.field] === guard.equals;
}

/** The error of a failed guard: VERSION_CONFLICT with `details.guard`, so it is never mistaken for success. */
export function guardFailed(guard: Guard, scope: string, key: string | null): CoordinatorError {
  return new CoordinatorError(
    "VERSION_CONFLICT",
    `${scope}${key === null ? "" : ` / ${key}`}: not written, because its guard no longer ` +
      `holds (${guard.scope} / ${guard.key} no longer has ${guard.field} ${
        JSON.stringify(guard.equals)
      }).`,
    { scope, key, guard: { scope: guard.scope, key: guard.key, field: guard.field } },
  );
}

/** True when `err` is the VERSION_CONFLICT of a failed guard. */
export function isGuardFailure(err: unknown): err is CoordinatorError {
  return err instanceof CoordinatorError && err.code === "VERSION_CONFLICT" &&
    err.details.guard !== undefined;
}

/** Validates a heldBy tag. */
export function checkHeldBy(heldBy: string | null | undefined): string | null {
  if (heldBy === undefined || heldBy === null) return null;
  if (typeof heldBy !== "string" || heldBy.length === 0 || heldBy.length > 512) {
    throw invalidArgument("held_by must be a non-empty string of at most 512 characters or null.");
  }
  return heldBy;
}

/** Validates an updatedBy writer id. */
export function checkUpdatedBy(updatedBy: string | null | undefined): string | null {
  if (updatedBy === undefined || updatedBy === null) return null;
  if (typeof updatedBy !== "string") throw invalidArgument("updated_by must be a string or null.");
  return updatedBy;
}

/** A batch op with its value encoded and its options checked. */
export type CheckedOp =
  | {
    op: "set";
    key: string;
    text: string;
    ifVersion: number | undefined;
    ttlSeconds: number | undefined;
    heldBy: string | null;
  }
  | { op: "delete"; key: string; ifVersion: number | undefined }
  | { op: "check"; key: string; ifVersion: number };

/**
 * Validates a batch (at most MAX_BATCH_OPS writes, distinct valid keys, valid
 * options) and encodes its values, before any lock is taken.
 */
export function checkBatch(ops: BatchOp[], limits: AdapterLimits): CheckedOp[] {
  if (!Array.isArray(ops)) throw invalidArgument("ops must be an array.");
  if (ops.length > MAX_BATCH_OPS) {
    throw invalidArgument(`a batch holds at most ${MAX_BATCH_OPS} writes, got ${ops.length}.`);
  }
  const seen = new Set<string>();
  return ops.map((op): CheckedOp => {
    if (!isPlainObject(op)) throw invalidArgument("every op must be an object.");
    const key = validateKey(op.key);
    if (seen.has(key)) {
      throw invalidArgument(`key ${JSON.stringify(key)} appears twice in a batch.`);
    }
    seen.add(key);
    checkIfVersion(op.ifVersion);
    if (op.op === "delete") return { op: "delete", key, ifVersion: op.ifVersion };
    if (op.op === "check") {
      if (op.ifVersion === undefined) throw invalidArgument("a check needs ifVersion.");
      return { op: "check", key, ifVersion: op.ifVersion };
    }
    if (op.op !== "set") {
      throw invalidArgument(
        `op must be "set", "delete" or "check", got ${(op as { op: unknown }).op}.`,
      );
    }
    expiryFromTtl(op.ttlSeconds, 0);
    return {
      op: "set",
      key,
      text: encodeValue(op.value, limits),
      ifVersion: op.ifVersion,
      ttlSeconds: op.ttlSeconds,
      heldBy: checkHeldBy(op.heldBy),
    };
  });
}

/** Validates list options; returns the prefix ("" for none) and the limit (Infinity for none). */
export function checkListOptions(options: ListOptions | undefined): {
  prefix: string;
  limit: number;
} {
  const prefix = options?.prefix ?? "";
  const limit = options?.limit ?? Infinity;
  if (typeof prefix !== "string") throw invalidArgument("prefix must be a string.");
  if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw invalidArgument(`limit must be an integer >= 0, got ${limit}.`);
  }
  return { prefix, limit };
}

/** Plain code-unit order, the same as Array.prototype.sort without a comparator. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The expiry of an ISO time in epoch ms, or null for null. */
export function expiryMs(expiresAt: string | null): number | null {
  return expiresAt === null ? null : Date.parse(expiresAt);
}
