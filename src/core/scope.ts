/**
 * Scope and key grammar: validation, the reversible mapping from a scope to a
 * file name, and fnmatch-style glob matching for list_scopes.
 */
import { createHash } from "node:crypto";
import { invalidArgument } from "./errors.ts";

/** Longest scope or key, in characters (code points). */
export const MAX_NAME_CHARS = 256;

/** A scope that passed validation. */
export type Scope = string & { readonly __brand: "Scope" };

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

function validateName(what: "scope" | "key", value: unknown): string {
  if (typeof value !== "string") {
    throw invalidArgument(
      `${what} must be a string, got ${value === null ? "null" : typeof value}.`,
    );
  }
  if (value.length === 0) throw invalidArgument(`${what} must not be empty.`);
  // A string of at most MAX_NAME_CHARS code units has at most that many code
  // points; only longer ones need counting (this runs for every log line read).
  const chars = value.length <= MAX_NAME_CHARS ? 0 : [...value].length;
  if (chars > MAX_NAME_CHARS) {
    throw invalidArgument(`${what} is ${chars} characters long; the limit is ${MAX_NAME_CHARS}.`);
  }
  if (CONTROL.test(value)) {
    throw invalidArgument(`${what} ${JSON.stringify(value)} contains a control character.`);
  }
  if (!value.isWellFormed()) {
    throw invalidArgument(`${what} contains an unpaired UTF-16 surrogate.`);
  }
  return value;
}

/** Validates a full scope name; throws INVALID_ARGUMENT when it is unusable. */
export function validateScope(scope: unknown): Scope {
  return validateName("scope", scope) as Scope;
}

/** Validates a key name; throws INVALID_ARGUMENT when it is unusable. */
export function validateKey(key: unknown): string {
  return validateName("key", key);
}

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

/**
 * Compiles an fnmatch-style glob: `*` matches any run of characters (it crosses
 * `:` and `/`), `?` one character, `[abc]`, `[a-z]` and `[!abc]` one character
 * of (or not of) a set. Everything else matches itself. Matching is
 * case-sensitive and anchored at both ends.
 */
export function globToRegExp(pattern: string): RegExp {
  // The pieces between stars: pattern = pieces[0] * pieces[1] * … * pieces[n].
  const pieces = [""];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "*") {
      pieces.push("");
      continue;
    }
    let re: string;
    if (ch === "?") re = ".";
    else if (ch === "[") {
      let j = i + 1;
      if (chars[j] === "!") j++;
      if (chars[j] === "]") j++;
      while (j < chars.length && chars[j] !== "]") j++;
      if (j >= chars.length) {
        pieces[pieces.length - 1] += "\\[";
        continue;
      }
      let body = chars.slice(i + 1, j).join("");
      const negate = body.startsWith("!");
      if (negate) body = body.slice(1);
      body = body.replace(/[\\\]^]/g, (c) => "\\" + c);
      re = negate ? `[^${body}]` : `[${body}]`;
      i = j;
    } else re = ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    pieces[pieces.length - 1] += re;
  }
  try {
    return new RegExp(`^${joinStarPieces(pieces)}$`, "su");
  } catch (err) {
    throw invalidArgument(
      `pattern ${JSON.stringify(pattern)} is not a valid glob: ${(err as Error).message}`,
    );
  }
}

/**
 * Joins the pieces between stars so that matching takes time linear in the
 * pattern times the name. A plain `^a.*b.*c$` backtracks through every way
 * of placing each `.*`: thirty stars against a long scope name never finish,
 * and one list_scopes call would hang the server. Each piece has a fixed
 * length, so its leftmost occurrence after the previous piece is always a
 * right choice: a lookahead finds it, the backreference consumes it, and
 * since a finished lookahead is never backtracked into, each piece is
 * searched for once. The last piece is anchored at the end.
 */
function joinStarPieces(pieces: string[]): string {
  if (pieces.length === 1) return pieces[0];
  let re = pieces[0];
  let group = 0;
  for (const piece of pieces.slice(1, -1)) {
    // Always followed by "(?=" or ".*", never by a digit that would extend the \N.
    if (piece !== "") re += `(?=(.*?${piece}))\\${++group}`;
  }
  return `${re}.*${pieces[pieces.length - 1]}`;
}

/** True when `name` matches the fnmatch-style `pattern` (see globToRegExp). */
export function matchGlob(pattern: string, name: string): boolean {
  return globToRegExp(pattern).test(name);
}
