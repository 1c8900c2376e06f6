/** Relative scope names: this machine, project-wide, other machines, and back. */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import { projectScopesGlob, relativeScope, resolveScope } from "../src/core/scope_names.ts";
import { matchGlob } from "../src/core/scope.ts";

const id = { machine: "box-1", project: "acme/widget" };

Deno.test("resolveScope prefixes the three forms", () => {
  assert.equal(resolveScope(id, "tasks"), "box-1:acme/widget:tasks");
  assert.equal(resolveScope(id, "session:claude_1"), "box-1:acme/widget:session:claude_1");
  assert.equal(resolveScope(id, "@project:claims"), "@project:acme/widget:claims");
  assert.equal(resolveScope(id, "@machine:laptop:session:x"), "laptop:acme/widget:session:x");
});

Deno.test("relativeScope inverts resolveScope and ignores other projects", () => {
  for (const rel of ["tasks", "a:b:c", "@project:claims", "@machine:laptop:session:x", "ü/..\\"]) {
    assert.equal(relativeScope(id, resolveScope(id, rel)), rel);
  }
  assert.equal(relativeScope(id, "box-1:other/repo:tasks"), null);
  assert.equal(relativeScope(id, "box-1:acme/widget:"), null);
  assert.equal(relativeScope(id, "nocolon"), null);
  assert.equal(relativeScope(id, "Bad Machine:acme/widget:x"), null);
});

Deno.test("projectScopesGlob selects every machine's scopes of the project only", () => {
  const glob = projectScopesGlob(id);
  assert.ok(matchGlob(glob, "box-1:acme/widget:tasks"));
  assert.ok(matchGlob(glob, "@project:acme/widget:claims"));
  assert.ok(!matchGlob(glob, "box-1:acme/other:tasks"));
});

Deno.test("bad relative scopes are INVALID_ARGUMENT", () => {
  for (
    const bad of ["", "@project:", "@machine:laptop", "@machine::x", "@other:x", 5, "x".repeat(300)]
  ) {
    assert.throws(() => resolveScope(id, bad), (e) => isCoordinatorError(e, "INVALID_ARGUMENT"));
  }
});

Deno.test("defect: a name after a prefix cannot start with @, so no scope aliases another", () => {
  const id = { machine: "box", project: "acme/widget" };
  for (
    const alias of [
      "@machine:box:@project:claims",
      "@machine:box:@machine:other:x",
      "@project:@machine:box:x",
      "@project:@project:x",
    ]
  ) {
    assert.throws(
      () => resolveScope(id, alias),
      (err: Error) => /must not start with "@"/.test(err.message),
      alias,
    );
  }
  // A stored scope of that shape (from an older version) is not listed under another name.
  assert.equal(relativeScope(id, "box:acme/widget:@project:claims"), null);
  assert.equal(relativeScope(id, "box:acme/widget:claims"), "claims");
});
