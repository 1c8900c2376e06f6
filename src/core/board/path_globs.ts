/**
 * Path globs for file reservations, relative to the repository root:
 * `*` matches within one path segment, `**` (a whole segment) matches any
 * number of segments, `?` one character, `[abc]` / `[a-z]` / `[!abc]` one
 * character of a set; anything else matches itself. `src/` reserves the
 * directory and everything in it, like `src/**`.
 *
 * Two globs overlap when some path matches both; `overlaps` decides that
 * exactly (a search over the pairs of positions in both patterns), so
 * `src/**` conflicts with `src/a.ts` and `*.ts` with `lib/x.ts`... only if a
 * path could match both: `*.ts` matches no path with a "/", so it does not
 * conflict with `lib/x.ts`.
 *
 * @module
 */
import { invalidArgument } from "../errors.ts";

/** One step of a compiled glob. */
type Token =
  | { t: "char"; c: string }
  | { t: "any" } // ?: one character but "/"
  | { t: "star" } // *: any run without "/"
  | { t: "globstar" } // a trailing **: anything, "/" included
  | { t: "gs" } // **/ inside a glob: skips to after "gsin", or enters it
  | { t: "gsin" } // the body of **/: any run that ends with "/"
  | { t: "set"; negate: boolean; items: (string | [string, string])[] };

/** The longest path or glob accepted. */
const MAX_LENGTH = 512;

/**
 * Normalizes a reservation path as a user may write it: "./" and duplicate
 * "/" dropped, a trailing "/" made "/**". Refuses absolute paths, "..",
 * backslashes and control characters (INVALID_ARGUMENT naming the path).
 */
export function normalizePathGlob(raw: string): string {
  const bad = (why: string) =>
    invalidArgument(`path ${JSON.stringify(raw.slice(0, 100))} ${why}`, { path: raw });
  if (typeof raw !== "string" || raw.trim() === "") throw bad("must not be empty.");
  if (raw.length > MAX_LENGTH) throw bad(`is longer than ${MAX_LENGTH} characters.`);
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw bad("contains a control character.");
  if (raw.includes("\\")) throw bad('uses "\\"; write paths with "/".');
  if (raw.startsWith("/") || /^[A-Za-z]:/.test(raw)) {
    throw bad("must be relative to the repository root, not absolute.");
  }
  let path = raw.replace(/\/+/g, "/").replace(/^(\.\/)+/, "");
  if (path.endsWith("/")) path += "**";
  const segments = path.split("/");
  if (segments.some((s) => s === "..")) throw bad('must stay inside the repository (no "..").');
  path = segments.filter((s) => s !== ".").join("/");
  if (path === "") throw bad("names no file.");
  compile(path); // refuses an unclosed set
  return path;
}

function compile(glob: string): Token[] {
  const tokens: Token[] = [];
  const chars = [...glob];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    const atSegmentStart = i === 0 || chars[i - 1] === "/";
    if (ch === "*" && chars[i + 1] === "*" && atSegmentStart) {
      if (i + 2 === chars.length) {
        tokens.push({ t: "globstar" });
        i += 1;
        continue;
      }
      if (chars[i + 2] === "/") {
        tokens.push({ t: "gs" }, { t: "gsin" });
        i += 2; // the "/" belongs to the "**/" unit
        continue;
      }
    }
    if (ch === "*") {
      if (tokens.at(-1)?.t !== "star") tokens.push({ t: "star" });
      continue;
    }
    if (ch === "?") {
      tokens.push({ t: "any" });
      continue;
    }
    if (ch === "[") {
      let j = i + 1;
      const negate = chars[j] === "!" || chars[j] === "^";
      if (negate) j++;
      const items: (string | [string, string])[] = [];
      let first = true;
      while (j < chars.length && (chars[j] !== "]" || first)) {
        if (chars[j + 1] === "-" && chars[j + 2] !== undefined && chars[j + 2] !== "]") {
          items.push([chars[j], chars[j + 2]]);
          j += 3;
        } else {
          items.push(chars[j]);
          j++;
        }
        first = false;
      }
      if (j >= chars.length) {
        throw invalidArgument(`path ${JSON.stringify(glob)} has an unclosed "[".`, { path: glob });
      }
      tokens.push({ t: "set", negate, items });
      i = j;
      continue;
    }
    tokens.push({ t: "char", c: ch });
  }
  return tokens;
}

function inSet(tok: Extract<Token, { t: "set" }>, c: string): boolean {
  const hit = tok.items.some((it) => typeof it === "string" ? it === c : it[0] <= c && c <= it[1]);
  return c !== "/" && hit !== tok.negate;
}

/** Where a position can get to without consuming a character. */
function closure(tokens: Token[], start: number): number[] {
  const out = [start];
  for (let k = 0; k < out.length; k++) {
    const i = out[k];
    const tok = tokens[i];
    const next = tok?.t === "star" || tok?.t === "globstar"
      ? [i + 1]
      : tok?.t === "gs"
      ? [i + 1, i + 2]
      : [];
    for (const n of next) if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** Where a position gets to by consuming `c` (none when it cannot). */
function step(tokens: Token[], i: number, c: string): number[] {
  const tok = tokens[i];
  switch (tok?.t) {
    case "char":
      return tok.c === c ? [i + 1] : [];
    case "any":
      return c !== "/" ? [i + 1] : [];
    case "set":
      return inSet(tok, c) ? [i + 1] : [];
    case "star":
      return c !== "/" ? [i] : [];
    case "globstar":
      return [i];
    case "gsin":
      return c === "/" ? [i, i + 1] : [i];
    default:
      return []; // the end, or "gs", which consumes nothing
  }
}

/** True when `path` (a plain relative path) matches the glob. */
export function matchPath(glob: string, path: string): boolean {
  return overlapsTokens(compile(glob), literal(path));
}

function literal(path: string): Token[] {
  return [...path].map((c) => ({ t: "char" as const, c }));
}

/** True when some path matches both globs. */
export function overlaps(a: string, b: string): boolean {
  return overlapsTokens(compile(a), compile(b));
}

/**
 * Searches the product of the two patterns: a state is a position in each,
 * and a step consumes one character both sides accept. Reaching both ends
 * means a common path exists. The characters tried are those either side
 * names literally, "/", and one stand-in for "any other character".
 */
function overlapsTokens(a: Token[], b: Token[]): boolean {
  const alphabet = new Set<string>(["\u0001", "/"]);
  for (const tok of [...a, ...b]) {
    if (tok.t === "char") alphabet.add(tok.c);
    if (tok.t === "set") {
      for (const it of tok.items) {
        if (typeof it === "string") alphabet.add(it);
        else alphabet.add(it[0]).add(it[1]);
      }
    }
  }
  const seen = new Set<number>();
  const width = b.length + 1;
  const stack: [number, number][] = [[0, 0]];
  while (stack.length > 0) {
    const [i0, j0] = stack.pop()!;
    for (const i of closure(a, i0)) {
      for (const j of closure(b, j0)) {
        const id = i * width + j;
        if (seen.has(id)) continue;
        seen.add(id);
        if (i === a.length && j === b.length) return true;
        for (const c of alphabet) {
          for (const ni of step(a, i, c)) {
            for (const nj of step(b, j, c)) stack.push([ni, nj]);
          }
        }
      }
    }
  }
  return false;
}
