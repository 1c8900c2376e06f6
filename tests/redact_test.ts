/** Credentials never survive into anything shown: URLs, parsed or not, and printed configs. */
import assert from "node:assert/strict";
import { redactSecrets, redactUrl } from "../src/core/redact.ts";

Deno.test("redactUrl hides passwords even in URLs that do not parse", () => {
  for (
    const url of ["redis://user:s3cr/et@localhost:6379", "redis://:p@ss/w@rd@h:1", "x //a:b@c"]
  ) {
    const shown = redactUrl(url);
    assert.ok(!/s3cr|p@ss|w@rd|a:b/.test(shown), `${url} -> ${shown}`);
    assert.match(shown, /\*\*\*@/);
  }
  assert.equal(redactUrl("redis://h:6379"), "redis://h:6379");
  assert.deepEqual(redactSecrets({ u: "rediss://:pw@h" }), { u: "rediss://:***@h" });
});
