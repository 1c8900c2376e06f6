/** Path globs of file reservations: normalization, matching, and overlap between globs. */
import assert from "node:assert/strict";
import { matchPath, normalizePathGlob, overlaps } from "../src/core/board/path_globs.ts";

Deno.test("normalizePathGlob: ./, // and a trailing / become canonical; escapes are refused", () => {
  assert.equal(normalizePathGlob("./src//a.ts"), "src/a.ts");
  assert.equal(normalizePathGlob("docs/"), "docs/**");
  assert.equal(normalizePathGlob("a/./b"), "a/b");
  for (
    const bad of [
      "",
      " ",
      "/abs",
      "C:/x",
      "..",
      "a/../b",
      "a\\b",
      "x\u0000y",
      "[ab",
      "a".repeat(513),
    ]
  ) {
    assert.throws(() => normalizePathGlob(bad), /INVALID_ARGUMENT|path/, JSON.stringify(bad));
  }
});

Deno.test("matchPath: *, **, ? and sets, segment by segment", () => {
  const cases: [string, string, boolean][] = [
    ["src/**", "src/a/b/c.ts", true],
    ["src/**", "srcx/a.ts", false],
    ["src/*.ts", "src/a.ts", true],
    ["src/*.ts", "src/sub/a.ts", false],
    ["**/*.md", "README.md", true],
    ["**/*.md", "docs/x/y.md", true],
    ["a/**/b", "a/b", true],
    ["a/**/b", "a/x/y/b", true],
    ["a/**/b", "a/xb", false],
    ["file?.txt", "file1.txt", true],
    ["file?.txt", "file/.txt", false],
    ["[a-c]*.ts", "beta.ts", true],
    ["[!a-c]*.ts", "beta.ts", false],
    ["README.md", "README.md", true],
  ];
  for (const [glob, path, want] of cases) {
    assert.equal(matchPath(glob, path), want, `${glob} ~ ${path}`);
  }
});

Deno.test("overlaps: true exactly when some path matches both globs", () => {
  const cases: [string, string, boolean][] = [
    ["src/**", "src/a.ts", true],
    ["src/**", "lib/**", false],
    ["*.ts", "lib/x.ts", false],
    ["**/*.ts", "lib/x.ts", true],
    ["src/*.ts", "src/*.js", false],
    ["src/*", "src/**", true],
    ["src/a*", "src/*b", true],
    ["src/a*", "src/b*", false],
    ["**", "anything/at/all", true],
    ["a/**/z", "a/b/**", true],
    ["x[0-9].ts", "x[a-z].ts", false],
    ["x[0-9].ts", "x5.ts", true],
    ["docs/**/*.md", "docs/api/*.md", true],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(overlaps(a, b), want, `${a} ∩ ${b}`);
    assert.equal(overlaps(b, a), want, `${b} ∩ ${a}`);
  }
});
