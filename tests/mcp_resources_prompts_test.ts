/** session://context, session://state/{id} and the startup / sign-off prompts, in process. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, makeContext, ok } from "./_inprocess.ts";

interface TextContents {
  contents: Array<{ uri: string; mimeType?: string; text: string }>;
}
interface PromptResult {
  messages: Array<{ role: string; content: { type: string; text: string } }>;
}

async function readJson(s: Awaited<ReturnType<typeof connect>>, uri: string) {
  const res = await s.client.readResource({ uri }) as TextContents;
  assert.equal(res.contents[0].mimeType, "application/json");
  return JSON.parse(res.contents[0].text);
}

async function promptText(s: Awaited<ReturnType<typeof connect>>, name: string) {
  const res = await s.client.getPrompt({ name }) as PromptResult;
  assert.equal(res.messages[0].role, "user");
  return res.messages[0].content.text;
}

Deno.test("session://context shows instances, active sessions with their work, and next steps", async () => {
  const h = await makeContext();
  const a = await connect(h.ctx), b = await connect(h.ctx), c = await connect(h.ctx);
  try {
    const before = await readJson(c, "session://context");
    assert.equal(before.this_session, null);
    assert.equal(before.first_available, "claude_1");
    assert.equal(before.machine, "testbox");
    assert.equal(before.project, "acme/widget");
    assert.match(before.next_steps[0], /sign_on/);

    ok(await a.call("sign_on"));
    ok(await b.call("sign_on"));
    ok(
      await a.call("store_data", { scope: "session:claude_1", key: "current_issue", value: "#42" }),
    );
    ok(await a.call("store_data", { scope: "session:claude_1", key: "status", value: "testing" }));
    ok(
      await a.call("store_data", {
        scope: "session:claude_1",
        key: "todos",
        value: [
          { content: "a", status: "completed" },
          { content: "b", status: "in_progress" },
          "c",
        ],
      }),
    );
    ok(await b.call("sign_off", { summary: "done", next_steps: ["x"] }));

    const view = await readJson(a, "session://context");
    assert.equal(view.this_session.session_id, "claude_1");
    assert.equal(view.first_available, "claude_2");
    assert.deepEqual(
      view.instances.map((i: { session_id: string; status: string; has_handoff: boolean }) => [
        i.session_id,
        i.status,
        i.has_handoff,
      ]),
      [["claude_1", "active", false], ["claude_2", "available", true]],
    );
    assert.equal(view.active_sessions.length, 1);
    const me = view.active_sessions[0];
    assert.equal(me.current_issue, "#42");
    assert.equal(me.status, "testing");
    assert.equal(me.todo_count, 3);
    assert.equal(me.open_todo_count, 2);
    assert.equal(me.branch, "main");
    assert.equal(me.worktree, h.repo);
    assert.match(view.next_steps.join(" "), /sign_off/);
  } finally {
    await a.close();
    await b.close();
    await c.close();
    await h.close();
  }
});

Deno.test("session://state/{session_id}: list, complete, read, and a clear error for unknown ids", async () => {
  const h = await makeContext();
  const a = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await a.call("store_data", { scope: "session:claude_1", key: "status", value: "busy" }));
    const { resources } = await a.client.listResources() as { resources: Array<{ uri: string }> };
    const uris = resources.map((r) => r.uri);
    assert.ok(uris.includes("session://context"));
    assert.ok(uris.includes("session://state/claude_1"));
    const templates = await a.client.listResourceTemplates() as {
      resourceTemplates: Array<{ uriTemplate: string }>;
    };
    assert.deepEqual(templates.resourceTemplates.map((t) => t.uriTemplate), [
      "session://state/{session_id}",
    ]);
    const completion = await a.client.complete({
      ref: { type: "ref/resource", uri: "session://state/{session_id}" },
      argument: { name: "session_id", value: "cla" },
    }) as { completion: { values: string[] } };
    assert.deepEqual(completion.completion.values, ["claude_1"]);

    const state = await readJson(a, "session://state/claude_1");
    assert.equal(state.session_id, "claude_1");
    assert.equal(state.scope, "session:claude_1");
    assert.deepEqual(state.state, { status: "busy" });
    assert.equal(state.lease.session_id, "claude_1");

    await assert.rejects(
      a.client.readResource({ uri: "session://state/%E0%A4%A" }),
      (err: Error) => {
        assert.match(
          err.message,
          /INVALID_ARGUMENT: session id in .* is not valid percent-encoding/,
        );
        return true;
      },
    );
    await assert.rejects(
      a.client.readResource({ uri: "session://state/claude_99" }),
      (err: Error & { code?: number }) => {
        assert.equal(err.code, -32002);
        assert.match(err.message, /INVALID_ARGUMENT: unknown session "claude_99"/);
        return true;
      },
    );
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("prompts: startup names the project, the free instance and what others do", async () => {
  const h = await makeContext();
  const a = await connect(h.ctx), b = await connect(h.ctx);
  try {
    const { prompts } = await a.client.listPrompts() as { prompts: Array<{ name: string }> };
    assert.deepEqual(prompts.map((p) => p.name).sort(), ["sign-off", "startup"]);
    ok(await a.call("sign_on"));
    ok(
      await a.call("store_data", { scope: "session:claude_1", key: "current_issue", value: "#7" }),
    );
    const text = await promptText(b, "startup");
    assert.match(text, /acme\/widget/);
    assert.match(text, /you will get claude_2/);
    assert.match(text, /claude_1 on testbox.*working on #7/);
    const mine = await promptText(a, "startup");
    assert.match(mine, /signed on as claude_1/);
  } finally {
    await a.close();
    await b.close();
    await h.close();
  }
});

Deno.test("prompts: sign-off lists incomplete todos and asks for a handoff", async () => {
  const h = await makeContext();
  const a = await connect(h.ctx);
  try {
    assert.match(await promptText(a, "sign-off"), /not signed on/);
    ok(await a.call("sign_on"));
    assert.match(await promptText(a, "sign-off"), /No incomplete todos/);
    ok(
      await a.call("store_data", {
        scope: "session:claude_1",
        key: "todos",
        value: [
          { content: "write tests", status: "pending" },
          { content: "ship", status: "completed" },
          { title: "docs", done: false },
        ],
      }),
    );
    const text = await promptText(a, "sign-off");
    assert.match(text, /Incomplete todos in session:claude_1 \(2\)/);
    assert.match(text, /- write tests/);
    assert.match(text, /- docs/);
    assert.doesNotMatch(text, /- ship/);
    assert.match(text, /sign_off with summary/);
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("defect: one session's damaged scope shows as unreadable; the views and prompts still work, and prompt errors carry codes", async () => {
  const h = await makeContext();
  const a = await connect(h.ctx), b = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await b.call("sign_on"));
    ok(await a.call("store_data", { scope: "session:claude_1", key: "status", value: "busy" }));
    ok(await b.call("store_data", { scope: "session:claude_2", key: "status", value: "fine" }));
    // Damage claude_1's log by hand.
    const log = join(h.stateDir, "testbox~acme+widget~session~claude_1.jsonl");
    await Deno.writeTextFile(log, "this is not a log line\n", { append: true });
    const view = await b.client.readResource({ uri: "session://context" });
    const ctx = JSON.parse((view.contents[0] as { text: string }).text);
    const [one, two] = ctx.active_sessions;
    assert.match(one.unreadable, /^CORRUPT_STATE: /);
    assert.equal(two.status, "fine");
    assert.match(
      await promptText(b, "startup"),
      /claude_1 .*its scope is unreadable \(CORRUPT_STATE/,
    );
    // A damaged shared scope fails the prompt with the stable code in the message.
    const instances = join(h.stateDir, "%40project~acme+widget~instances.jsonl");
    await Deno.writeTextFile(instances, "{oops\n", { append: true });
    await assert.rejects(
      () => b.client.getPrompt({ name: "startup" }),
      (err: Error) => /CORRUPT_STATE: /.test(err.message),
    );
  } finally {
    await a.close();
    await b.close();
    await h.close();
  }
});

Deno.test("resources/list offers only session ids whose URIs read back", async () => {
  const h = await makeContext();
  const a = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await a.call("store_data", { scope: "session:a/b", key: "k", value: 1 }));
    ok(await a.call("store_data", { scope: "session:Weird Name", key: "k", value: 1 }));
    ok(await a.call("store_data", { scope: "session:reviewer", key: "k", value: 1 }));
    const { resources } = await a.client.listResources();
    const uris = resources.map((r: { uri: string }) => r.uri);
    assert.deepEqual(uris.filter((u: string) => u.startsWith("session://state/")), [
      "session://state/claude_1",
      "session://state/reviewer",
    ]);
    for (const uri of uris) await a.client.readResource({ uri });
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("initialize declares only what the server does: no logging, no listChanged", async () => {
  const h = await makeContext();
  const a = await connect(h.ctx);
  try {
    const caps = a.client.getServerCapabilities() as Record<string, Record<string, unknown>>;
    assert.equal(caps.logging, undefined);
    assert.equal(caps.tools?.listChanged, undefined);
    assert.equal(caps.prompts?.listChanged, undefined);
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("channel pushes are for Claude Code by its client name, variants included", async () => {
  const { usesChannels } = await import("../src/mcp/live.ts");
  for (const name of ["claude-code", "Claude Code", "claude-code-vscode", "claude_code"]) {
    assert.equal(usesChannels(name), true, name);
  }
  for (const name of ["claude-codex", "cursor", "Visual Studio Code", "e2e-test", "", undefined]) {
    assert.equal(usesChannels(name), false, String(name));
  }
});
