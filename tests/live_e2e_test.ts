/**
 * Live updates with real server processes over stdio: a resource
 * subscription in one process hears of a write in another within 1 s;
 * Claude Code channel notifications for a message and for a task becoming
 * ready, exactly once each; wait returns within 1 s of an event, times out
 * when nothing happens, keeps what happened between two waits, and ends at
 * once when cancelled. On Redis across two machine ids too, and the feed
 * survives a Redis restart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  connectServer,
  delay,
  type McpSession,
  pollUntil,
  type Project,
  startTaskFlags,
  structured,
  withProject,
} from "./_stdio_harness.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";

interface Notified {
  updated: { uri: string; at: number }[];
  channel: { content: string; meta: Record<string, string>; at: number }[];
  listChanged: number;
}

/** Records every notification the session's client receives. */
function listen(session: McpSession): Notified {
  const seen: Notified = { updated: [], channel: [], listChanged: 0 };
  session.client.setNotificationHandler(
    ResourceUpdatedNotificationSchema,
    (n: { params: { uri: string } }) => {
      seen.updated.push({ uri: n.params.uri, at: performance.now() });
      return Promise.resolve();
    },
  );
  session.client.fallbackNotificationHandler = (n: { method: string; params?: unknown }) => {
    if (n.method === "notifications/claude/channel") {
      const p = n.params as { content: string; meta: Record<string, string> };
      seen.channel.push({ ...p, at: performance.now() });
    }
    if (n.method === "notifications/resources/list_changed") seen.listChanged++;
    return Promise.resolve();
  };
  return seen;
}

async function twoSessions(
  project: Project,
  open: () => Promise<McpSession>,
  fn: (a: McpSession, b: McpSession, seen: Notified) => Promise<void>,
): Promise<void> {
  const a = await open();
  const seen = listen(a);
  const b = await open();
  try {
    structured(await a.call("sign_on", {}));
    structured(await b.call("sign_on", {}));
    await fn(a, b, seen);
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
  }
  void project;
}

/** Asserts `ok()` becomes true within `ms` of `since`. */
async function within(what: string, ms: number, ok: () => boolean): Promise<void> {
  await pollUntil(what, () => ok(), { timeoutMs: ms, intervalMs: 10 });
}

Deno.test("live: a subscription hears of another process's write within 1 s; channels push a message and a ready task once each", async () => {
  await withProject(async (project) => {
    const claudeCode = { clientName: "claude-code" };
    await twoSessions(project, () => connectServer(project, claudeCode), async (a, b, seen) => {
      const caps = a.client.getServerCapabilities() as Record<string, Record<string, unknown>>;
      assert.deepEqual(caps.resources, { subscribe: true, listChanged: true });
      assert.deepEqual(caps.experimental, { "claude/channel": {} });
      await a.client.subscribeResource({ uri: "session://tasks" });
      await a.client.subscribeResource({ uri: "session://inbox" });

      let t0 = performance.now();
      structured(await b.call("post_task", { task_id: "t1", title: "write the parser" }));
      await within(
        "session://tasks updated",
        1000,
        () => seen.updated.some((u) => u.uri === "session://tasks" && u.at > t0),
      );
      await within(
        "a channel push for the ready task",
        1000,
        () => seen.channel.some((c) => c.meta.kind === "task" && c.meta.task_id === "t1"),
      );

      t0 = performance.now();
      const sent = structured<{ message_id: string }>(
        await b.call("send_message", { to: "claude_1", body: "hello", subject: "ping" }),
      );
      await within(
        "session://inbox updated",
        1000,
        () => seen.updated.some((u) => u.uri === "session://inbox" && u.at > t0),
      );
      await within(
        "a channel push for the message",
        1000,
        () => seen.channel.some((c) => c.meta.message_id === sent.message_id),
      );
      // Once each, even as more changes come.
      structured(await b.call("store_data", { scope: "@project:x", key: "k", value: 1 }));
      await delay(800);
      assert.equal(seen.channel.filter((c) => c.meta.message_id === sent.message_id).length, 1);
      assert.equal(seen.channel.filter((c) => c.meta.task_id === "t1").length, 1);
      const message = seen.channel.find((c) => c.meta.message_id === sent.message_id)!;
      assert.equal(message.meta.from, "claude_2");
      assert.match(message.content, /New message from claude_2: ping\. Call read_messages/);
      // Coalesced: a burst of writes gives a few updates, not one each.
      const before = seen.updated.filter((u) => u.uri === "session://tasks").length;
      for (let i = 0; i < 20; i++) {
        structured(await b.call("post_task", { task_id: `burst-${i}`, title: "x" }));
      }
      await delay(800);
      const burst = seen.updated.filter((u) => u.uri === "session://tasks").length - before;
      assert.ok(burst >= 1 && burst < 20, `${burst} updates for 20 writes`);
      await a.client.unsubscribeResource({ uri: "session://tasks" });
    });
  });
});

Deno.test("live: wait returns within 1 s of an event, times out when nothing happens, keeps what happened between waits, and ends at once when cancelled", async () => {
  await withProject(async (project) => {
    await twoSessions(project, () => connectServer(project), async (a, b) => {
      // Nothing happens: timed_out.
      const quiet = structured<{ timed_out: boolean; events: unknown[] }>(
        await a.call("wait", { for: ["messages"], timeout_seconds: 0.5 }),
      );
      assert.deepEqual(quiet, { timed_out: true, events: [] });
      // An event while waiting.
      const pending = a.call("wait", { for: ["messages", "notes"], timeout_seconds: 30 });
      await delay(300);
      const t0 = performance.now();
      const sent = structured<{ message_id: string }>(
        await b.call("send_message", { to: "claude_1", body: "hi" }),
      );
      const got = structured<
        { timed_out: boolean; events: { kind: string; message_id?: string }[] }
      >(
        await pending,
      );
      const took = performance.now() - t0;
      assert.equal(got.timed_out, false);
      assert.deepEqual(got.events.map((e) => [e.kind, e.message_id]), [[
        "message",
        sent.message_id,
      ]]);
      assert.ok(took < 1000, `wait returned ${took.toFixed(0)} ms after the event`);
      // Between two waits: a write to a followed scope is kept for the next wait.
      structured(await b.call("store_data", { scope: "notes", key: "k", value: 1 }));
      await delay(300);
      const kept = structured<
        { timed_out: boolean; events: { kind: string; scope?: string; key?: string }[] }
      >(
        await a.call("wait", { for: ["notes"], timeout_seconds: 5 }),
      );
      assert.deepEqual(kept.events.map((e) => [e.kind, e.scope, e.key]), [["scope", "notes", "k"]]);
      // Cancelled: the call ends at once and the server goes on.
      const controller = new AbortController();
      const cancelled = a.client.callTool(
        { name: "wait", arguments: { for: ["tasks"], timeout_seconds: 300 } },
        undefined,
        { signal: controller.signal },
      );
      await delay(200);
      const c0 = performance.now();
      controller.abort();
      await assert.rejects(cancelled);
      const next = await a.call("list_keys", { scope: "notes" });
      assert.ok(performance.now() - c0 < 2000, "the server answers at once after a cancel");
      assert.equal(next.isError, undefined);
    });
  });
});

Deno.test("live: channel pushes go to Claude Code only; list_changed to a client that listed resources", async () => {
  await withProject(async (project) => {
    const other = await connectServer(project);
    const seen = listen(other);
    const b = await connectServer(project, { clientName: "claude-code" });
    const seenB = listen(b);
    try {
      structured(await other.call("sign_on", {}));
      structured(await b.call("sign_on", {}));
      structured(await other.call("send_message", { to: "claude_2", subject: "hi", body: "x" }));
      structured(await b.call("send_message", { to: "claude_1", subject: "hi", body: "y" }));
      await pollUntil("claude-code is pushed its message", () => seenB.channel.length === 1, {
        timeoutMs: 2000,
      });
      // The other client's message came as long ago: no push is on its way.
      await delay(300);
      assert.equal(seen.channel.length, 0, "no channel push to a client other than Claude Code");
      assert.equal(seen.listChanged, 0);

      await other.client.listResources();
      const c = await connectServer(project);
      try {
        structured(await c.call("sign_on", {}));
        await pollUntil(
          "list_changed after a third session signs on",
          () => seen.listChanged >= 1,
          {
            timeoutMs: 3000,
          },
        );
        assert.equal(seenB.listChanged, 0, "b never listed resources");
      } finally {
        await c.close();
      }
    } finally {
      await Promise.allSettled([other.close(), b.close()]);
    }
  });
});

Deno.test("live: closing stdin while a wait is pending ends the server at once", async () => {
  await withProject(async (project) => {
    const a = await connectServer(project);
    structured(await a.call("sign_on", {}));
    const pending = a.call("wait", { for: ["tasks"], timeout_seconds: 300 });
    pending.catch(() => {});
    await delay(300);
    const t0 = performance.now();
    await a.close();
    assert.ok(performance.now() - t0 < 10_000, "shutdown is not held up by the wait");
  });
});

Deno.test({
  name: "live on Redis: across two machine ids within 1 s, and the feed survives a Redis restart",
  ignore: skipRedisTests(),
  fn: async () => {
    const redis = await startRedisServer({ durable: true });
    try {
      await withProject(async (project) => {
        const configs = ["laptop", "desktop"].map((machine) => {
          const file = join(project.base, `${machine}.json`);
          Deno.writeTextFileSync(
            file,
            JSON.stringify({
              storage: { adapter: "redis", config: { url: redis.url } },
              session: { machine_id: machine },
            }),
          );
          return file;
        });
        const flags = [...startTaskFlags(), `--allow-net=127.0.0.1:${redis.port}`];
        let n = 0;
        await twoSessions(
          project,
          () => connectServer(project, { flags, args: ["--config", configs[n++ % 2]] }),
          async (a, b, seen) => {
            await a.client.subscribeResource({ uri: "session://context" });
            let t0 = performance.now();
            structured(
              await b.call("store_data", { scope: "session:claude_2", key: "status", value: "x" }),
            );
            await within(
              "context updated across machines",
              1000,
              () => seen.updated.some((u) => u.at > t0),
            );
            await redis.restart();
            // After the restart the feed reconnects and reports; then changes flow again.
            await pollUntil(
              "b writes again",
              async () =>
                !(await b.call("store_data", { scope: "@project:n", key: "k", value: 1 })).isError,
              {
                timeoutMs: 15_000,
                intervalMs: 200,
              },
            );
            t0 = performance.now();
            structured(await b.call("store_data", { scope: "@project:n", key: "k", value: 2 }));
            await within(
              "an update after the restart",
              3000,
              () => seen.updated.some((u) => u.at > t0),
            );
          },
        );
      }, { config: null });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test("live: a crashed holder's task is announced ready within its lease TTL, though nothing is written when a lease lapses", async () => {
  await withProject(async (project) => {
    const a = await connectServer(project, { clientName: "claude-code" });
    const b = await connectServer(project);
    const seen = listen(a);
    try {
      structured(await a.call("sign_on", {}));
      structured(await b.call("sign_on", {}));
      structured(await b.call("post_task", { task_id: "t1", title: "fragile" }));
      structured(await b.call("claim_task", { task_id: "t1" }));
      // Take what happened so far (posted, ready, in progress), so the next wait is for what comes.
      for (;;) {
        const drained = structured<{ timed_out: boolean }>(
          await a.call("wait", { for: ["tasks"], timeout_seconds: 1 }),
        );
        if (drained.timed_out) break;
      }
      const killedAt = performance.now();
      Deno.kill(b.pid, "SIGKILL");
      const got = structured<{ timed_out: boolean; events: { task_id: string; status: string }[] }>(
        await a.call("wait", { for: ["tasks"], timeout_seconds: 20 }),
      );
      const after = performance.now() - killedAt;
      assert.deepEqual(got.events.map((e) => [e.task_id, e.status]), [["t1", "ready"]]);
      assert.ok(
        after < 5_000 + 2_000,
        `announced ${after.toFixed(0)} ms after the crash (lease 5 s)`,
      );
      // The idle session (it holds no task) also got the channel push.
      await pollUntil(
        "a channel push for t1",
        () => seen.channel.filter((c) => c.meta.task_id === "t1").length >= 1,
        { timeoutMs: 2000 },
      );
    } finally {
      await Promise.allSettled([a.close(), b.close()]);
    }
  }, { config: { session: { lease_ttl_seconds: 5 } } });
});
