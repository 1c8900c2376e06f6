/** Every tool and every error code, in process, through the real SDK client. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TOOL_NAMES } from "../src/mcp/tools/mod.ts";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { connect, errorCode, makeContext, ok, type ToolResult } from "./_inprocess.ts";

interface ListedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: { type: string };
  outputSchema?: { type: string };
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean };
}

Deno.test("tools/list: every tool with a compact teaching description, a strict schema and annotations", async () => {
  const h = await makeContext();
  const s = await connect(h.ctx);
  try {
    // The SDK's declarations resolve zod to `any` under Deno; name the shape we read.
    const listed = await s.client.listTools();
    const tools = listed.tools as ListedTool[];
    assert.deepEqual(tools.map((t) => t.name), [...TOOL_NAMES]);
    for (const tool of tools) {
      assert.ok(tool.title, `${tool.name} has a title`);
      assert.ok((tool.description ?? "").length > 30, `${tool.name} has a description`);
      assert.equal(tool.inputSchema.type, "object");
      assert.equal(
        (tool.inputSchema as { additionalProperties?: boolean }).additionalProperties,
        false,
        `${tool.name} refuses unknown arguments`,
      );
      // Agents pay for every byte of tools/list on every turn: results are
      // self-describing JSON text, so no output schema is sent.
      assert.equal(tool.outputSchema, undefined, `${tool.name} sends no output schema`);
      assert.ok(tool.annotations, `${tool.name} has annotations`);
    }
    const size = new TextEncoder().encode(JSON.stringify(listed)).length;
    assert.ok(size <= 1600 * tools.length, `tools/list is ${size} bytes for ${tools.length} tools`);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.equal(byName.retrieve_data.annotations?.readOnlyHint, true);
    assert.equal(byName.list_scopes.annotations?.readOnlyHint, true);
    assert.equal(byName.delete_scope.annotations?.destructiveHint, true);
    assert.equal(byName.delete_data.annotations?.destructiveHint, true);
    assert.equal(byName.store_data.annotations?.readOnlyHint, false);
    assert.deepEqual(
      (byName.store_data.inputSchema as { required?: string[] }).required,
      ["scope", "key", "value"],
    );
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("initialize carries the workflow instructions", async () => {
  const h = await makeContext();
  const s = await connect(h.ctx);
  try {
    const text = s.client.getInstructions() ?? "";
    for (
      const word of [
        "sign_on",
        "session://context",
        "claim_task",
        "update_task",
        "read_messages",
        "reserve_paths",
        "sign_off",
        "handoff",
        "NOT_SIGNED_ON",
      ]
    ) {
      assert.ok(text.includes(word), `instructions mention ${word}`);
    }
    assert.equal(s.client.getServerVersion()?.name, "claude-session-coordinator");
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("every tool but sign_on answers NOT_SIGNED_ON before sign_on", async () => {
  const h = await makeContext();
  const s = await connect(h.ctx);
  try {
    const calls: Array<[string, Record<string, unknown>]> = [
      ["sign_off", {}],
      ["store_data", { scope: "x", key: "k", value: 1 }],
      ["retrieve_data", { scope: "x", key: "k" }],
      ["delete_data", { scope: "x", key: "k" }],
      ["delete_scope", { scope: "x" }],
      ["list_keys", { scope: "x" }],
      ["list_scopes", {}],
    ];
    for (const [name, args] of calls) {
      const res = await s.call(name, args);
      assert.equal(errorCode(res), "NOT_SIGNED_ON", name);
      assert.match(res.content[0].text, /sign_on/);
    }
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("store, retrieve, list and delete through the tools", async (t) => {
  const h = await makeContext();
  const s = await connect(h.ctx);
  try {
    const me = ok(await s.call("sign_on"));
    assert.equal(me.session_id, "claude_1");
    assert.equal(me.machine, "testbox");
    assert.equal(me.project, "acme/widget");
    assert.equal(me.full_scope_prefix, "testbox:acme/widget:");
    assert.equal(me.handoff, null);

    await t.step("store_data returns version and expiry; the text mirrors the JSON", async () => {
      const res = await s.call("store_data", {
        scope: "session:claude_1",
        key: "todos",
        value: [{ content: "a", status: "pending" }, { content: "b", status: "completed" }],
      });
      const out = ok(res);
      assert.equal(out.scope, "session:claude_1");
      assert.equal(out.key, "todos");
      assert.equal(typeof out.version, "number");
      assert.equal(out.expires_at, null);
      assert.deepEqual(JSON.parse(res.content[0].text), out);
    });

    await t.step("retrieve_data finds it with updated_by; absent keys give version 0", async () => {
      const got = ok(await s.call("retrieve_data", { scope: "session:claude_1", key: "todos" }));
      assert.equal(got.found, true);
      assert.equal(got.updated_by, "claude_1");
      assert.equal((got.value as unknown[]).length, 2);
      const none = ok(await s.call("retrieve_data", { scope: "session:claude_1", key: "nope" }));
      assert.deepEqual(
        { found: none.found, value: none.value, version: none.version, by: none.updated_by },
        { found: false, value: null, version: 0, by: null },
      );
    });

    await t.step("scopes are prefixed on disk and relative in list_scopes", async () => {
      ok(await s.call("store_data", { scope: "@project:claims", key: "issue-1", value: "me" }));
      ok(await s.call("store_data", { scope: "notes", key: "n", value: { deep: { x: [1] } } }));
      const files = [...Deno.readDirSync(h.stateDir)].map((e) => e.name);
      assert.ok(files.includes("testbox~acme+widget~notes.jsonl"), files.join(","));
      const all = ok(await s.call("list_scopes")).scopes as string[];
      assert.ok(all.includes("notes"));
      assert.ok(all.includes("session:claude_1"));
      assert.ok(all.includes("@project:claims"));
      assert.ok(all.includes("@project:instances"));
      assert.deepEqual(all, [...all].sort());
      const sessions = ok(await s.call("list_scopes", { pattern: "session:*" })).scopes;
      assert.deepEqual(sessions, ["session:claude_1"]);
      const shared = ok(await s.call("list_scopes", { pattern: "@project:c*" })).scopes;
      assert.deepEqual(shared, ["@project:claims"]);
    });

    await t.step("list_keys is sorted", async () => {
      ok(await s.call("store_data", { scope: "notes", key: "a", value: 1 }));
      const keys = ok(await s.call("list_keys", { scope: "notes" }));
      assert.deepEqual(keys, { scope: "notes", keys: ["a", "n"] });
    });

    await t.step(
      "compare-and-set claims and VERSION_CONFLICT with the current version",
      async () => {
        const first = ok(
          await s.call("store_data", {
            scope: "@project:claims",
            key: "issue-2",
            value: 1,
            if_version: 0,
          }),
        );
        const again = await s.call("store_data", {
          scope: "@project:claims",
          key: "issue-2",
          value: 2,
          if_version: 0,
        });
        assert.equal(errorCode(again), "VERSION_CONFLICT");
        assert.match(again.content[0].text, new RegExp(`current version is ${first.version}`));
        const body = JSON.parse(again.content[0].text.split("\n")[1]);
        assert.equal(body.error.details.current_version, first.version);
        const delWrong = await s.call("delete_data", {
          scope: "@project:claims",
          key: "issue-2",
          if_version: 999,
        });
        assert.equal(errorCode(delWrong), "VERSION_CONFLICT");
        const del = ok(
          await s.call("delete_data", {
            scope: "@project:claims",
            key: "issue-2",
            if_version: first.version,
          }),
        );
        assert.equal(del.deleted, true);
        assert.equal(
          ok(await s.call("delete_data", { scope: "@project:claims", key: "issue-2" })).deleted,
          false,
        );
      },
    );

    await t.step("ttl_seconds sets expires_at", async () => {
      const out = ok(
        await s.call("store_data", { scope: "tmp", key: "k", value: 1, ttl_seconds: 60 }),
      );
      assert.ok(typeof out.expires_at === "string" && Date.parse(out.expires_at) > Date.now());
    });

    await t.step("delete_scope", async () => {
      assert.equal(ok(await s.call("delete_scope", { scope: "notes" })).deleted, true);
      assert.equal(ok(await s.call("delete_scope", { scope: "notes" })).deleted, false);
      assert.deepEqual(ok(await s.call("list_keys", { scope: "notes" })).keys, []);
    });

    await t.step("other machines' scopes are addressed with @machine:", async () => {
      await h.ctx.storage.store("laptop:acme/widget:session:claude_9", "status", "remote");
      const got = ok(
        await s.call("retrieve_data", { scope: "@machine:laptop:session:claude_9", key: "status" }),
      );
      assert.equal(got.value, "remote");
      const listed = ok(await s.call("list_scopes", { pattern: "@machine:*" })).scopes;
      assert.deepEqual(listed, ["@machine:laptop:session:claude_9"]);
    });
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("INVALID_ARGUMENT for bad input, unknown tools and reserved scopes; the server keeps serving", async () => {
  const h = await makeContext();
  const s = await connect(h.ctx);
  try {
    ok(await s.call("sign_on"));
    const bad: Array<[string, Record<string, unknown>]> = [
      ["store_data", { scope: "x", key: "k" }],
      ["store_data", { scope: 5, key: "k", value: 1 }],
      ["store_data", { scope: "x", key: "", value: 1 }],
      ["store_data", { scope: "x\u0000y", key: "k", value: 1 }],
      ["store_data", { scope: "x", key: "k", value: 1, if_version: -1 }],
      ["store_data", { scope: "x", key: "k", value: 1, if_version: 1.5 }],
      ["store_data", { scope: "x", key: "k", value: 1, ttl_seconds: 0 }],
      ["store_data", { scope: "@project:instances", key: "claude_1", value: 1 }],
      ["delete_scope", { scope: "@project:handoffs" }],
      ["store_data", { scope: "@other:x", key: "k", value: 1 }],
      ["store_data", { scope: "@machine:UPPER:x", key: "k", value: 1 }],
      ["retrieve_data", { scope: "x".repeat(300), key: "k" }],
      ["list_scopes", { pattern: "[z-a]" }],
      ["sign_on", { session_id: "Not Valid" }],
      ["no_such_tool", {}],
      ["store_data", { scope: "x", key: "k", value: 1, ifVersion: 0 }],
      ["store_data", { scope: "@machine:testbox:@project:instances", key: "k", value: 1 }],
      ["store_data", { scope: "@project:tasks", key: "t:x", value: 1 }],
      ["delete_scope", { scope: "@project:reservations" }],
    ];
    for (const [name, args] of bad) {
      const res = await s.call(name, args);
      assert.equal(errorCode(res), "INVALID_ARGUMENT", `${name} ${JSON.stringify(args)}`);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const tooDeep = await s.call("store_data", { scope: "x", key: "k", value: deep });
    assert.equal(errorCode(tooDeep), "INVALID_ARGUMENT");
    assert.match(tooDeep.content[0].text, /nested more than 1000 levels deep/);
    const noValue = await s.call("store_data", { scope: "x", key: "k" });
    assert.match(noValue.content[0].text, /^INVALID_ARGUMENT: value is required\./);
    const typo = await s.call("store_data", { scope: "x", key: "k", value: 1, ifVersion: 0 });
    assert.match(
      typo.content[0].text,
      /unknown argument "ifVersion"; the arguments are scope, key, value, if_version/,
    );
    // Arguments that are not an object at all.
    const arrayArgs = await s.client.request(
      { method: "tools/call", params: { name: "store_data", arguments: [] } },
      CallToolResultSchema,
    ) as ToolResult;
    assert.equal(errorCode(arrayArgs), "INVALID_ARGUMENT");
    assert.match(arrayArgs.content[0].text, /arguments must be an object, got an array/);
    const unknown = await s.call("no_such_tool");
    assert.match(unknown.content[0].text, /sign_on, sign_off/);
    assert.equal(ok(await s.call("list_keys", { scope: "x" })).scope, "x");
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("VALUE_TOO_LARGE over limits.max_value_bytes", async () => {
  const h = await makeContext({ maxValueBytes: 1000 });
  const s = await connect(h.ctx);
  try {
    ok(await s.call("sign_on"));
    const res = await s.call("store_data", { scope: "x", key: "k", value: "y".repeat(2000) });
    assert.equal(errorCode(res), "VALUE_TOO_LARGE");
    assert.match(res.content[0].text, /limit is 1000/);
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("CORRUPT_STATE names the file; other scopes keep working", async () => {
  const h = await makeContext();
  const s = await connect(h.ctx);
  try {
    ok(await s.call("sign_on"));
    ok(await s.call("store_data", { scope: "broken", key: "k", value: 1 }));
    const file = join(h.stateDir, "testbox~acme+widget~broken.jsonl");
    await Deno.writeTextFile(file, "{ not json");
    const res = await s.call("retrieve_data", { scope: "broken", key: "k" });
    assert.equal(errorCode(res), "CORRUPT_STATE");
    assert.ok(res.content[0].text.includes(file));
    assert.equal(
      errorCode(await s.call("store_data", { scope: "broken", key: "k", value: 2 })),
      "CORRUPT_STATE",
    );
    assert.equal(await Deno.readTextFile(file), "{ not json");
    ok(await s.call("store_data", { scope: "fine", key: "k", value: 1 }));
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("STORAGE_UNAVAILABLE when the backend is gone", async () => {
  const h = await makeContext();
  const s = await connect(h.ctx);
  try {
    ok(await s.call("sign_on"));
    await h.ctx.storage.close();
    const res = await s.call("retrieve_data", { scope: "x", key: "k" });
    assert.equal(errorCode(res), "STORAGE_UNAVAILABLE");
  } finally {
    await s.close();
    await h.close();
  }
});

Deno.test("an unexpected failure is INTERNAL_ERROR, logged, and the server keeps serving", async () => {
  const h = await makeContext();
  const logs: string[] = [];
  const s = await connect(h.ctx, logs);
  s.binding.workTree = () => Promise.reject(new TypeError("boom"));
  try {
    const res = await s.call("sign_on");
    assert.equal(errorCode(res), "INTERNAL_ERROR");
    assert.ok(logs.some((l) => l.includes("boom")));
    assert.equal(errorCode(await s.call("list_scopes")), "NOT_SIGNED_ON");
  } finally {
    await s.close();
    await h.close();
  }
});
