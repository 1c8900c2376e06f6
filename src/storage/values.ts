/** Checks shared by every adapter on the arguments of a write. */
import { CoordinatorError, invalidArgument } from "../core/errors.ts";
import type { JsonValue } from "../core/json.ts";
import { isPlainObject } from "../core/json.ts";
import type { AdapterLimits, Entry } from "./contract.ts";

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
): { text: string; expiresMs: number | null } {
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
  return { text: encodeValue(entry.value, limits), expiresMs };
}
