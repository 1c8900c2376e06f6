/**
 * Ownership under pauses and wipes, with real server processes over stdio:
 * a server stopped with SIGSTOP past its lease, resumed with SIGCONT after
 * another session took its instance, must never act as that instance again;
 * a write that passed its lease check and then waited (for a scope lock,
 * while its process was stopped) must be refused, not acknowledged; and a
 * state directory deleted under running servers must not let a stale
 * version or a stale lease win.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { scopeToFileName } from "../src/storage/file/names.ts";
import type { Scope } from "../src/core/scope.ts";
import {
  connectServer,
  delay,
  type McpSession,
  pollUntil,
  type Project,
  structured,
  toolError,
  withProject,
} from "./_stdio_harness.ts";

/** The project's lease TTL (the smallest the config allows), and a wait safely past it. */
const LEASE_S = 5;
const PAST_LEASE_MS = LEASE_S * 1000 + 1500;

function stop(session: McpSession): void {
  Deno.kill(session.pid, "SIGSTOP");
}
function resume(session: McpSession): void {
  Deno.kill(session.pid, "SIGCONT");
}

/** sign_on as `id`, retrying while the old holder's lease has not run out yet. */
async function takeOver(session: McpSession, id: string): Promise<void> {
  await pollUntil(`sign_on ${id} after the old lease expired`, async () => {
    const res = await session.call("sign_on", { session_id: id });
    return res.isError ? null : true;
  }, { timeoutMs: 15_000, intervalMs: 200 });
}

async function withServers(
  fn: (project: Project, open: () => Promise<McpSession>) => Promise<void>,
): Promise<void> {
  await withProject(async (project) => {
    const sessions: McpSession[] = [];
    try {
      await fn(project, async () => {
        const s = await connectServer(project);
        sessions.push(s);
        return s;
      });
    } finally {
      for (const s of sessions) {
        try {
          resume(s);
        } catch { /* exited */ }
        await s.close().catch(() => {});
      }
    }
  }, { config: { session: { lease_ttl_seconds: LEASE_S } } });
}

Deno.test("defect: a server stopped past its lease cannot write as the instance another took, used and released", async () => {
  await withServers(async (_project, open) => {
    const a = await open();
    structured(await a.call("sign_on", { session_id: "claude_1" }));
    structured(
      await a.call("store_data", { scope: "session:claude_1", key: "status", value: "a" }),
    );
    stop(a);
    await delay(PAST_LEASE_MS);
    const b = await open();
    await takeOver(b, "claude_1");
    structured(
      await b.call("store_data", { scope: "session:claude_1", key: "status", value: "b" }),
    );
    structured(await b.call("sign_off", { summary: "b was here" }));
    resume(a);
    const res = await a.call("store_data", {
      scope: "session:claude_1",
      key: "status",
      value: "a again",
    });
    assert.equal(toolError(res).error.code, "NOT_SIGNED_ON", "the stale session is refused");
    assert.match(toolError(res).text, /[Nn]othing was written/);

    const c = await open();
    structured(await c.call("sign_on", { session_id: "claude_2" }));
    const status = structured<{ value: unknown }>(
      await c.call("retrieve_data", { scope: "session:claude_1", key: "status" }),
    );
    assert.equal(status.value, "b", "b's state survives");
    structured(await c.call("sign_off", {}));
    const next = structured<{ handoff: { summary: string; received_at?: string } }>(
      await c.call("sign_on", { session_id: "claude_1" }),
    );
    assert.equal(next.handoff.summary, "b was here");
    assert.equal(next.handoff.received_at, undefined, "b's handoff was never read by a");
  });
});

Deno.test("defect: a write that waited for a scope lock while its server was stopped past its lease is refused", async () => {
  await withServers(async (project, open) => {
    const a = await open();
    structured(await a.call("sign_on", { session_id: "claude_1" }));
    // Hold the shared scope's lock, so a's write passes its lease check and then waits.
    const locks = join(project.root, ".claude", "session-state", ".locks");
    await Deno.mkdir(locks, { recursive: true });
    const lockFile = join(
      locks,
      scopeToFileName("@project:acme/widget:shared" as Scope) + ".lock",
    );
    const lock = await Deno.open(lockFile, { read: true, write: true, create: true });
    await lock.lock(true);
    let unlocked = false;
    try {
      const pending = a.call("store_data", { scope: "@project:shared", key: "k", value: "from a" });
      pending.catch(() => {});
      await delay(500); // a is now waiting for the lock
      stop(a);
      await delay(PAST_LEASE_MS);
      const b = await open();
      await takeOver(b, "claude_1");
      await lock.unlock();
      unlocked = true;
      structured(
        await b.call("store_data", { scope: "@project:shared", key: "k", value: "from b" }),
      );
      resume(a);
      const res = await pending;
      assert.equal(toolError(res).error.code, "NOT_SIGNED_ON", "the delayed write is refused");
      const now = structured<{ value: unknown }>(
        await b.call("retrieve_data", { scope: "@project:shared", key: "k" }),
      );
      assert.equal(now.value, "from b");
    } finally {
      if (!unlocked) await lock.unlock().catch(() => {});
      lock.close();
    }
  });
});

Deno.test("defect: after the state directory is deleted under running servers, stale versions and leases never win", async () => {
  await withServers(async (project, open) => {
    const a = await open();
    const b = await open();
    structured(await a.call("sign_on", { session_id: "claude_1" }));
    const claimed = structured<{ version: number }>(
      await a.call("store_data", {
        scope: "@project:claims",
        key: "issue-1",
        value: { by: "a" },
        if_version: 0,
      }),
    );
    await Deno.remove(join(project.root, ".claude", "session-state"), { recursive: true });
    // The store is empty now: b signs on as claude_1 and claims issue-1 afresh.
    structured(await b.call("sign_on", { session_id: "claude_1" }));
    const fresh = structured<{ version: number }>(
      await b.call("store_data", {
        scope: "@project:claims",
        key: "issue-1",
        value: { by: "b" },
        if_version: 0,
      }),
    );
    assert.ok(fresh.version > claimed.version, "versions never repeat after a wipe");
    // a's stale delete is refused: it no longer holds claude_1 (and its version is stale).
    const del = await a.call("delete_data", {
      scope: "@project:claims",
      key: "issue-1",
      if_version: claimed.version,
    });
    assert.ok(del.isError, "the stale delete is refused");
    // a's heartbeat must not take b's lease over: let it try a few times.
    await delay(LEASE_S * 1000);
    const still = structured<{ value: { by: string }; version: number }>(
      await b.call("retrieve_data", { scope: "@project:claims", key: "issue-1" }),
    );
    assert.deepEqual(still.value, { by: "b" });
    structured(await b.call("store_data", { scope: "session:claude_1", key: "k", value: 1 }));
    const context = await b.readJson("session://context") as {
      this_session: { session_id: string } | null;
    };
    assert.equal(context.this_session?.session_id, "claude_1");
    const other = await a.call("store_data", { scope: "x", key: "k", value: 1 });
    assert.equal(toolError(other).error.code, "NOT_SIGNED_ON");
  });
});
