/**
 * The local file adapter's file names: the reversible mapping from a scope
 * to the one file name that holds it, and back.
 */
import { createHash } from "node:crypto";
import { type Scope, validateScope } from "../../core/scope.ts";

// File names: lower-case letters, digits, "-", "_" and "." (not leading) stand
// for themselves; ":" becomes "~" and "/" becomes "+" so names stay readable;
// every other byte of the UTF-8 encoding becomes "%xx". Upper case is escaped
// too, so two scopes never share a name on case-insensitive file systems.
// Since "/", "\\" and a leading "." are always escaped, no scope can name a
// path outside the directory: traversal is impossible by construction.
const PLAIN = /^[a-z0-9_.-]$/;
const HASHED_PREFIX = "%h-";
/** The suffix of the scope files of on-disk format 1 (one JSON document per scope). */
export const LEGACY_FILE_SUFFIX = ".json";
/** The suffix of the per-scope append-only logs of on-disk format 2 (JSON Lines). */
export const LOG_FILE_SUFFIX = ".jsonl";
// Leaves room for temp-file suffixes under the common 255-byte name limit.
const MAX_ENCODED = 180;
// Windows refuses these device names whatever the extension.
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/;

function escapeBytes(ch: string): string {
  return [...new TextEncoder().encode(ch)]
    .map((b) => "%" + b.toString(16).padStart(2, "0"))
    .join("");
}

function encodeReadable(scope: string): string {
  let out = "";
  let first = true;
  for (const ch of scope) {
    if (ch === ":") out += "~";
    else if (ch === "/") out += "+";
    else if (PLAIN.test(ch) && !(first && ch === ".")) out += ch;
    else out += escapeBytes(ch);
    first = false;
  }
  const stem = out.split(".")[0];
  if (WINDOWS_DEVICE.test(stem)) out = escapeBytes(out[0]) + out.slice(1);
  return out;
}

/**
 * Maps a scope to the one file name that holds it, directly inside the state
 * directory: the encoded scope plus `suffix` (".json", the format-1 name, by
 * default). Long scopes get a hashed name; their file carries the scope.
 */
export function scopeToFileName(scope: Scope, suffix: string = LEGACY_FILE_SUFFIX): string {
  const encoded = encodeReadable(scope);
  if (encoded.length <= MAX_ENCODED) return encoded + suffix;
  const digest = createHash("sha256").update(scope, "utf8").digest("hex");
  return HASHED_PREFIX + digest + suffix;
}

/** True when the file name (ending in `suffix`, ".json" by default) is hashed, so the scope must be read from the file. */
export function isHashedFileName(name: string, suffix: string = LEGACY_FILE_SUFFIX): boolean {
  return name.startsWith(HASHED_PREFIX) && name.endsWith(suffix);
}

/**
 * Recovers the scope from a readable file name ending in `suffix` (".json" by
 * default). Returns null for names that no scope maps to (foreign files, temp
 * files, other suffixes) and for hashed names.
 */
export function fileNameToScope(name: string, suffix: string = LEGACY_FILE_SUFFIX): Scope | null {
  if (!name.endsWith(suffix) || isHashedFileName(name, suffix)) return null;
  const body = name.slice(0, -suffix.length);
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === "%") {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch === "~") bytes.push(0x3a);
    else if (ch === "+") bytes.push(0x2f);
    else if (PLAIN.test(ch) && !(i === 0 && ch === ".")) bytes.push(...enc.encode(ch));
    else return null;
  }
  let scope: string;
  try {
    // ignoreBOM keeps a leading U+FEFF: it is part of the scope, not a byte-order mark.
    scope = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      new Uint8Array(bytes),
    );
  } catch {
    return null;
  }
  // Only canonical encodings count, so the mapping stays one-to-one.
  try {
    return scopeToFileName(validateScope(scope), suffix) === name ? scope as Scope : null;
  } catch {
    return null;
  }
}
