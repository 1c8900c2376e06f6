/**
 * Scope and key grammar: validation and fnmatch-style glob matching for
 * list_scopes. How the local adapter names files is in storage/file/names.ts.
 */
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
