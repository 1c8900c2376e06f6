/** `deno task demo` runs end to end and shows each step it promises. */
import assert from "node:assert/strict";

Deno.test("the demo runs: instances, one winner per claim, shared progress, handoff across a restart", async () => {
  const script = new URL("../scripts/demo.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(text, /they hold claude_1 and claude_2 of project acme\/widget/);
  assert.match(text, /got issue-7; session [AB] was told VERSION_CONFLICT/);
  assert.match(text, /sees claude_\d on .*: issue issue-7, status writing the fix, 1 open todos/);
  assert.match(text, /claude_\d resumes: "Reproduced issue-7/);
  assert.match(text, /recorded by the server: branch main, commit [0-9a-f]{12}/);
  assert.match(text, /took (schema|docs), session [AB] took (schema|docs); "api" waits/);
  assert.match(text, /"schema" is done, so "api" is ready now/);
  assert.match(text, /reads: "I am on the parser/);
  assert.match(text, /is told PATHS_RESERVED/);
  assert.match(text, /demo finished/);
});
