/** Scope grammar: validation, the scope ↔ file name mapping and glob matching. */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import {
  globToRegExp,
  matchGlob,
  MAX_NAME_CHARS,
  type Scope,
  validateKey,
  validateScope,
} from "../src/core/scope.ts";
import {
  fileNameToScope,
  isHashedFileName,
  LEGACY_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  scopeToFileName,
} from "../src/storage/file/names.ts";

function assertInvalid(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isCoordinatorError(err, "INVALID_ARGUMENT"), `INVALID_ARGUMENT, got ${err}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const name = (scope: string) => scopeToFileName(scope as Scope);

Deno.test("validateScope and validateKey accept usable names", () => {
  const good = [
    "a",
    "proj:task/1",
    "x".repeat(MAX_NAME_CHARS),
    "😀".repeat(MAX_NAME_CHARS), // 256 code points, 512 UTF-16 units
    "日本語",
    " spaced ",
    "..",
    "a\\b",
  ];
  for (const value of good) {
    assert.equal(validateScope(value), value);
    assert.equal(validateKey(value), value);
  }
});

Deno.test("validateScope and validateKey refuse unusable names", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["empty", "", /must not be empty/],
    ["257 characters", "x".repeat(257), /257 characters long; the limit is 256/],
    ["257 astral characters", "😀".repeat(257), /257 characters/],
    ["NUL", "a\u0000", /control character/],
    ["newline", "a\nb", /control character/],
    ["tab", "\t", /control character/],
    ["unit separator", "\u001f", /control character/],
    ["DEL", "\u007f", /control character/],
    ["C1 control", "\u009f", /control character/],
    ["line separator", "\u2028", /control character/],
    ["paragraph separator", "\u2029", /control character/],
    ["lone high surrogate", "a\ud800", /unpaired UTF-16 surrogate/],
    ["lone low surrogate", "\udc00b", /unpaired UTF-16 surrogate/],
    ["a number", 7, /must be a string, got number/],
    ["null", null, /must be a string, got null/],
    ["undefined", undefined, /must be a string, got undefined/],
    ["an object", {}, /must be a string, got object/],
  ];
  for (const [what, value, message] of cases) {
    await t.step(what, () => {
      assertInvalid(() => validateScope(value), message);
      assertInvalid(() => validateKey(value), message);
    });
  }
  assertInvalid(() => validateScope(""), /^scope /);
  assertInvalid(() => validateKey(""), /^key /);
});

Deno.test("scopeToFileName keeps readable names readable", () => {
  const cases: [string, string][] = [
    ["proj", "proj.json"],
    ["proj:task/1", "proj~task+1.json"],
    ["a_b-c.d", "a_b-c.d.json"],
    ["a__b", "a__b.json"],
    ["Upper", "%55pper.json"],
    [".hidden", "%2ehidden.json"],
    ["..", "%2e..json"],
    ["a/../b", "a+..+b.json"],
    ["a\\b", "a%5cb.json"],
    ["a b", "a%20b.json"],
    ["~+%", "%7e%2b%25.json"],
    ["é", "%c3%a9.json"],
    ["😀", "%f0%9f%98%80.json"],
    ["con", "%63on.json"],
    ["con.txt", "%63on.txt.json"],
    ["lpt1", "%6cpt1.json"],
    ["console", "console.json"],
    ["con:x", "con~x.json"],
    // A leading U+FEFF is part of the name, not a byte-order mark to drop.
    ["\ufeffbom", "%ef%bb%bfbom.json"],
  ];
  for (const [scope, expected] of cases) {
    assert.equal(name(scope), expected, scope);
    assert.equal(fileNameToScope(expected), scope, expected);
    assert.equal(isHashedFileName(expected), false);
  }
});

Deno.test("long scopes get a hashed name that the file must resolve", () => {
  // 180 encoded characters is the longest readable name.
  assert.equal(name("a".repeat(180)), "a".repeat(180) + ".json");
  const long = name("a".repeat(181));
  assert.match(long, /^%h-[0-9a-f]{64}\.json$/);
  assert.ok(isHashedFileName(long));
  assert.equal(fileNameToScope(long), null);
  // Escapes count towards the length: 60 "é" are 360 encoded characters.
  assert.ok(isHashedFileName(name("é".repeat(60))));
  assert.ok(!isHashedFileName(name("é".repeat(30))));
  // Distinct long scopes get distinct names; the same scope the same one.
  assert.notEqual(name("a".repeat(181)), name("a".repeat(182)));
  assert.equal(name("b".repeat(256)), name("b".repeat(256)));
  assert.ok(!isHashedFileName("%h-abc.txt"));
  assert.ok(!isHashedFileName("x%h-abc.json"));
});

Deno.test("fileNameToScope refuses names no scope maps to", () => {
  const foreign = [
    "README.md",
    "proj",
    ".json",
    "Upper.json", // upper case is always escaped
    "%2E.json", // hex digits are lower case
    "a%2d.json", // "-" is never escaped
    "a%zz.json",
    "a%2.json",
    "%ff.json", // not UTF-8
    "%00.json", // a control character
    "a b.json",
    ".hidden.json",
    ".proj.json.123.abc.tmp",
    "con.json", // written as %63on.json
    "%h-" + "0".repeat(64) + ".json",
    "a".repeat(181) + ".json", // would have been hashed
  ];
  for (const file of foreign) assert.equal(fileNameToScope(file), null, file);
});

Deno.test("a suffix names a scope's other files: the .jsonl log beside the .json file", () => {
  assert.equal(LEGACY_FILE_SUFFIX, ".json");
  assert.equal(LOG_FILE_SUFFIX, ".jsonl");
  const cases: [string, string][] = [
    ["proj:task/1", "proj~task+1"],
    ["Upper", "%55pper"],
    ["x.json", "x.json"],
    ["..", "%2e."],
  ];
  for (const [scope, stem] of cases) {
    const log = scopeToFileName(scope as Scope, LOG_FILE_SUFFIX);
    assert.equal(log, stem + ".jsonl");
    assert.equal(scopeToFileName(scope as Scope, LEGACY_FILE_SUFFIX), stem + ".json");
    assert.equal(fileNameToScope(log, LOG_FILE_SUFFIX), scope);
    // Each name decodes only with its own suffix.
    assert.equal(fileNameToScope(log), null, `${log} is not a format-1 name`);
    assert.equal(fileNameToScope(stem + ".json", LOG_FILE_SUFFIX), null);
    assert.equal(isHashedFileName(log, LOG_FILE_SUFFIX), false);
  }
  // A scope ending in ".json" cannot make its log look like another scope's file.
  assert.notEqual(
    scopeToFileName("x.json" as Scope, LOG_FILE_SUFFIX),
    scopeToFileName("x.jsonl" as Scope),
  );
  const long = "L".repeat(200) as Scope;
  const hashedLog = scopeToFileName(long, LOG_FILE_SUFFIX);
  assert.match(hashedLog, /^%h-[0-9a-f]{64}\.jsonl$/);
  assert.equal(hashedLog, scopeToFileName(long) + "l", "the same digest as the format-1 name");
  assert.ok(isHashedFileName(hashedLog, LOG_FILE_SUFFIX));
  assert.ok(!isHashedFileName(hashedLog), "not a hashed format-1 name");
  assert.equal(fileNameToScope(hashedLog, LOG_FILE_SUFFIX), null);
  for (const foreign of ["a%zz.jsonl", "Upper.jsonl", ".jsonl", ".a.jsonl.1.ab.tmp"]) {
    assert.equal(fileNameToScope(foreign, LOG_FILE_SUFFIX), null, foreign);
  }
});

/** mulberry32: a tiny seeded PRNG, so the property test is repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [
  ..."abcxyzABCXYZ0189_-.:/\\~+%* []!?()#@$&'\"=,;",
  "é",
  "Ü",
  "ß",
  "日",
  "本",
  "\u00a0",
  "\ufeff",
  "😀",
  "𝄞",
  "con",
  "nul",
  "%h-",
  "..",
  "__",
];

Deno.test("the scope ↔ file name mapping is injective and reversible (random scopes)", () => {
  const random = prng(20240601);
  const seen = new Map<string, string>();
  const seenFolded = new Map<string, string>();
  for (let i = 0; i < 3000; i++) {
    // Mostly short scopes, some near and over the readable-name limit.
    const length = random() < 0.9 ? 1 + Math.floor(random() * 24) : 40 + Math.floor(random() * 200);
    let scope = "";
    while ([...scope].length < length) scope += ALPHABET[Math.floor(random() * ALPHABET.length)];
    scope = [...scope].slice(0, Math.min(length, MAX_NAME_CHARS)).join("");
    validateScope(scope);
    const file = name(scope);
    assert.match(file, /^[a-z0-9_.%~+-]+\.json$/, `${JSON.stringify(scope)} → ${file}`);
    assert.ok(!file.startsWith("."), file);
    assert.ok(new TextEncoder().encode(file).length <= 200, "room for temp-file suffixes");
    if (isHashedFileName(file)) assert.equal(fileNameToScope(file), null);
    else assert.equal(fileNameToScope(file), scope, file);
    const other = seen.get(file);
    assert.ok(other === undefined || other === scope, `${scope} and ${other} share ${file}`);
    seen.set(file, scope);
    const folded = file.toLowerCase();
    const otherFolded = seenFolded.get(folded);
    assert.ok(otherFolded === undefined || otherFolded === scope, "case-insensitive clash");
    seenFolded.set(folded, scope);
  }
  assert.ok(seen.size > 2500, "the generator produced mostly distinct scopes");
});

Deno.test("matchGlob: fnmatch semantics", async (t) => {
  const cases: [string, string, boolean][] = [
    ["*", "", true],
    ["*", "anything:at/all", true],
    ["proj:*", "proj:a/b:c", true],
    ["proj:*", "other:a", false],
    ["*:task", "proj/sub:task", true],
    ["a*b*c", "a-x-b-y-c", true],
    ["a*b*c", "a-x-c", false],
    ["?", "a", true],
    ["?", "😀", true],
    ["?", "ab", false],
    ["?", "", false],
    ["a?c", "a/c", true],
    ["[abc]", "b", true],
    ["[abc]", "d", false],
    ["[a-c]x", "bx", true],
    ["[a-c]x", "dx", false],
    ["[!abc]", "d", true],
    ["[!abc]", "a", false],
    ["[!a-c]", "z", true],
    ["[]]", "]", true],
    ["[!]]", "]", false],
    ["[!]]", "x", true],
    ["[", "[", true],
    ["a[b", "a[b", true],
    ["[]", "[]", true],
    ["[[]", "[", true],
    ["[a-]", "-", true],
    ["[^a]", "^", true],
    ["[^a]", "b", false],
    ["[\\]", "\\", true],
    ["[a\\]", "\\", true],
    ["a.b", "a.b", true],
    ["a.b", "axb", false],
    ["a+b", "a+b", true],
    ["a+b", "aab", false],
    ["(x)|y", "(x)|y", true],
    ["(x)|y", "y", false],
    ["^$", "^$", true],
    ["{a}", "{a}", true],
    ["a\\b", "a\\b", true],
    ["a/b", "a/b", true],
    ["ABC", "abc", false],
    ["proj", "proj:x", false],
    ["proj", "x:proj", false],
    ["日本*", "日本語", true],
  ];
  for (const [pattern, value, expected] of cases) {
    await t.step(`${pattern} ~ ${value}`, () => {
      assert.equal(matchGlob(pattern, value), expected);
    });
  }
});

Deno.test("an invalid glob is INVALID_ARGUMENT", () => {
  assertInvalid(() => globToRegExp("[z-a]"), /not a valid glob/);
  assertInvalid(() => matchGlob("x[9-0]", "x5"), /"x\[9-0\]"/);
});
