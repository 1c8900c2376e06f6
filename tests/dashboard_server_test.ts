/**
 * The dashboard's server in process: the access checks (Host, Origin,
 * token, cookie), read-only methods, security headers, the page's files,
 * and the live path from a tool call to an event on the stream (changes,
 * expiries nobody writes, a store that fails and recovers, keep-alives).
 * The real process and browser are in dashboard_browser_test.ts.
 */
import assert from "node:assert/strict";
import {
  checkHost,
  checkOrigin,
  constantTimeEqual,
  cookieName,
  createGate,
  isLoopback,
} from "../src/dashboard/auth.ts";
import { createLive, type Live } from "../src/dashboard/live.ts";
import { createHandler, type DashboardHandler } from "../src/dashboard/server.ts";
import { startDashboard } from "../src/dashboard/mod.ts";
import { PAGE_SCRIPT } from "../src/dashboard/page/script.ts";
import { realScheduler, type ServerContext } from "../src/core/context.ts";
import { isCoordinatorError } from "../src/core/errors.ts";
import type { Snapshot } from "../src/dashboard/model.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { createMemoryBackend } from "../src/storage/memory/adapter.ts";
import { connect, makeContext, ok } from "./_inprocess.ts";
import { SseReader } from "./_sse.ts";

const TOKEN = "s3cret-token-0123456789";
const PORT = 4117;
const HOST = `127.0.0.1:${PORT}`;

function memoryContext(storage?: StorageAdapter): ServerContext {
  return {
    storage: storage ?? createMemoryBackend().open(),
    identity: { machine: "box", project: "acme/widget" },
    leaseTtlSeconds: 60,
    scheduler: realScheduler,
  };
}

/** A handler over `ctx`, with fast timings; close() stops everything. */
async function handlerFor(
  ctx: ServerContext,
  token: string | null,
  timing: { keepAliveMs?: number; leaseCheckMs?: number } = {},
) {
  const live = createLive({
    ctx,
    details: true,
    log: () => {},
    debounceMs: 10,
    leaseCheckMs: timing.leaseCheckMs ?? 60_000,
    refreshMs: 60_000,
  });
  const handler = createHandler({
    live,
    gate: await createGate({ host: "127.0.0.1", port: PORT, token }),
    project: ctx.identity.project,
    keepAliveMs: timing.keepAliveMs,
  });
  return {
    live,
    handler,
    close() {
      handler.closeStreams();
      live.close();
    },
  };
}

function get(
  handler: DashboardHandler,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
) {
  return handler.handle(
    new Request(`http://${HOST}${path}`, { method, headers: { host: HOST, ...headers } }),
  );
}

Deno.test("access checks", async (t) => {
  await t.step("Host: the bound address, the localhost forms on loopback, nothing else", () => {
    const loop = { host: "127.0.0.1", port: 4117, token: null };
    for (const ok of ["127.0.0.1:4117", "localhost:4117", "LOCALHOST:4117", "[::1]:4117"]) {
      assert.ok(checkHost(ok, loop), ok);
    }
    for (
      const bad of ["evil.example:4117", "127.0.0.1:80", "127.0.0.1", "localhost.evil:4117", ""]
    ) {
      assert.ok(!checkHost(bad, loop), bad);
    }
    assert.ok(!checkHost(null, loop));
    const v6 = { host: "::1", port: 80, token: null };
    assert.ok(checkHost("[::1]", v6), "port 80 may be left out");
    const lan = { host: "10.0.0.5", port: 9000, token: TOKEN };
    assert.ok(checkHost("10.0.0.5:9000", lan));
    assert.ok(!checkHost("localhost:9000", lan), "a LAN bind is not reached as localhost");
    const any = { host: "0.0.0.0", port: 9000, token: TOKEN, machineName: "Build-Box" };
    for (const ok of ["10.1.2.3:9000", "[fe80::1]:9000", "build-box:9000", "localhost:9000"]) {
      assert.ok(checkHost(ok, any), ok);
    }
    assert.ok(!checkHost("rebind.evil.example:9000", any), "a DNS name could be rebound");
  });

  await t.step("Origin: absent or our own", () => {
    assert.ok(checkOrigin(null, HOST));
    assert.ok(checkOrigin(`http://${HOST}`, HOST));
    assert.ok(!checkOrigin("http://evil.example", HOST));
    assert.ok(!checkOrigin("null", HOST));
    assert.ok(!checkOrigin(`https://${HOST}`, HOST));
  });

  await t.step("loopback and constant-time compare", () => {
    for (const h of ["127.0.0.1", "127.9.9.9", "localhost", "::1", "[::1]"]) {
      assert.ok(isLoopback(h));
    }
    for (const h of ["0.0.0.0", "10.0.0.1", "::", "example.com", "1127.0.0.1"]) {
      assert.ok(!isLoopback(h), h);
    }
    assert.ok(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
    assert.ok(!constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
    assert.ok(!constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 2])));
    assert.equal(cookieName(4117), "csc_dashboard_4117");
  });
});

Deno.test("HTTP handler with a token", async (t) => {
  const ctx = memoryContext();
  const { handler, close } = await handlerFor(ctx, TOKEN);
  try {
    await t.step(
      "no token, a wrong one, a malformed header: 401 saying how, not what",
      async () => {
        for (
          const headers of [
            {} as Record<string, string>,
            { authorization: "Bearer wrong-token-0123456789" },
            { authorization: `Basic ${btoa(`x:${TOKEN}`)}` },
            { cookie: `${cookieName(PORT)}=${TOKEN}` },
          ]
        ) {
          const res = await get(handler, "/", headers);
          assert.equal(res.status, 401, JSON.stringify(headers));
          assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="dashboard"');
          const body = await res.text();
          assert.ok(!body.includes(TOKEN));
          assert.match(body, /needs its token/);
        }
      },
    );

    await t.step("the right Bearer token: the page, with its security headers", async () => {
      const res = await get(handler, "/", { authorization: `Bearer ${TOKEN}` });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type")!, /text\/html/);
      const csp = res.headers.get("content-security-policy")!;
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.ok(!csp.includes("unsafe-inline"));
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
      const html = await res.text();
      assert.match(html, /<script src="\/app.js" defer><\/script>/);
      assert.ok(!/<script>/.test(html) && !/ style=/.test(html), "nothing inline");
    });

    await t.step(
      "?token= once: a cookie (not the token), then the address without it",
      async () => {
        const wrong = await get(handler, "/?token=nope-nope-nope-nope");
        assert.equal(wrong.status, 401);
        await wrong.body?.cancel();
        const res = await get(handler, `/?project=acme%2Fwidget&token=${TOKEN}`);
        assert.equal(res.status, 303);
        assert.equal(res.headers.get("location"), "/?project=acme%2Fwidget");
        const cookie = res.headers.get("set-cookie")!;
        assert.match(cookie, /HttpOnly/);
        assert.match(cookie, /SameSite=Strict/);
        assert.match(cookie, /Path=\//);
        assert.ok(!cookie.includes(TOKEN), "the cookie holds a digest");
        const pair = cookie.split(";")[0];
        assert.ok(pair.startsWith(`${cookieName(PORT)}=`));
        const again = await get(handler, "/", { cookie: `other=1; ${pair}` });
        assert.equal(again.status, 200);
        await again.body?.cancel();
        const otherPort = pair.replace(String(PORT), "4118");
        const moved = await get(handler, "/", { cookie: otherPort });
        assert.equal(moved.status, 401, "another port's cookie does not count");
        await moved.body?.cancel();
        const withWrong = await get(handler, "/?token=nope-nope-nope-nope", { cookie: pair });
        assert.equal(
          withWrong.status,
          401,
          "a wrong token in the URL is refused even with a cookie",
        );
        await withWrong.body?.cancel();
      },
    );

    await t.step("a foreign Host or Origin: 403, even with the token", async () => {
      const auth = { authorization: `Bearer ${TOKEN}` };
      for (
        const headers of [
          { ...auth, host: `evil.example:${PORT}` } as Record<string, string>,
          { ...auth, origin: "http://evil.example" },
          { ...auth, origin: "null" },
          { host: `evil.example:${PORT}` },
        ]
      ) {
        const res = await get(handler, "/", headers);
        assert.equal(res.status, 403, JSON.stringify(headers));
        await res.body?.cancel();
      }
      const own = await get(handler, "/api/projects", { ...auth, origin: `http://${HOST}` });
      assert.equal(own.status, 200);
      assert.deepEqual(await own.json(), [{ project: "acme/widget", active: false }]);
    });

    await t.step("read-only: every other method is 405", async () => {
      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
        const res = await get(handler, "/", { authorization: `Bearer ${TOKEN}` }, method);
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.get("allow"), "GET, HEAD");
        await res.body?.cancel();
      }
      const head = await get(handler, "/", { authorization: `Bearer ${TOKEN}` }, "HEAD");
      assert.equal(head.status, 200);
      assert.equal(head.body, null);
    });
  } finally {
    close();
    await ctx.storage.close();
  }
});

Deno.test("HTTP handler on loopback without a token", async (t) => {
  const ctx = memoryContext();
  const { handler, close } = await handlerFor(ctx, null);
  try {
    await t.step("the page's files; the script parses and is plain", async () => {
      for (
        const [path, type] of [["/app.js", "javascript"], ["/app.css", "css"], [
          "/favicon.svg",
          "svg",
        ]]
      ) {
        const res = await get(handler, path);
        assert.equal(res.status, 200, path);
        assert.match(res.headers.get("content-type")!, new RegExp(type));
        await res.body?.cancel();
      }
      new Function(PAGE_SCRIPT); // throws on a syntax error
      assert.ok(!PAGE_SCRIPT.includes("innerHTML"), "data never goes through the HTML parser");
    });

    await t.step("unknown paths and projects: 404; a ?token= is ignored", async () => {
      for (const path of ["/nope", "/events?project=acme%2Fnothing", "/api/snapshot?project=a:b"]) {
        const res = await get(handler, path);
        assert.equal(res.status, 404, path);
        await res.body?.cancel();
      }
      const res = await get(handler, "/?token=whatever");
      assert.equal(res.status, 200);
      await res.body?.cancel();
    });

    await t.step("the snapshot as JSON, with the store's clock", async () => {
      const res = await get(handler, "/api/snapshot");
      assert.equal(res.status, 200);
      const snap = await res.json() as Snapshot & { now: number };
      assert.equal(snap.project, "acme/widget");
      assert.equal(snap.adapter, "memory");
      assert.ok(Math.abs(snap.now - Date.now()) < 5_000);
      assert.deepEqual(snap.machines, []);
      const head = await get(handler, "/events", {}, "HEAD");
      assert.equal(head.status, 200);
      assert.match(head.headers.get("content-type")!, /event-stream/);
    });
  } finally {
    close();
    await ctx.storage.close();
  }
});

/** Opens /events and returns a reader. */
async function openEvents(handler: DashboardHandler, query = ""): Promise<SseReader> {
  const res = await get(handler, `/events${query}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /text\/event-stream/);
  return new SseReader(res);
}

const hasSession = (id: string) => (data: string) =>
  (JSON.parse(data) as Snapshot).machines.some((m) => m.sessions.some((s) => s.session_id === id));

Deno.test("live: a tool call reaches the event stream at once", async () => {
  const h = await makeContext();
  const { handler, close } = await handlerFor(h.ctx, null);
  const agent = await connect(h.ctx);
  try {
    const events = await openEvents(handler);
    assert.deepEqual(JSON.parse(await events.nextOf("projects")), [
      { project: "acme/widget", active: false },
    ]);
    const first = JSON.parse(await events.nextOf("snapshot")) as Snapshot;
    assert.equal(first.sessions, 0);

    ok(await agent.call("sign_on"));
    let t0 = performance.now();
    await events.nextOf("snapshot", hasSession("claude_1"), 5_000);
    const signOnMs = performance.now() - t0;

    const posted = ok(await agent.call("post_task", { title: "Write the tests" }));
    await events.nextOf("snapshot", (d) => (JSON.parse(d) as Snapshot).tasks.length === 1);
    ok(await agent.call("claim_task", { task_id: posted.task_id }));
    t0 = performance.now();
    const claimed = JSON.parse(
      await events.nextOf("snapshot", (d) => (JSON.parse(d) as Snapshot).counts.in_progress === 1),
    ) as Snapshot;
    const claimMs = performance.now() - t0;
    assert.deepEqual(claimed.machines[0].sessions[0].tasks, [{
      task_id: posted.task_id,
      title: "Write the tests",
    }]);
    console.log(
      `in process: sign_on → event ${signOnMs.toFixed(0)} ms, claim → event ${
        claimMs.toFixed(0)
      } ms`,
    );
    assert.ok(signOnMs < 1000 && claimMs < 1000);

    // A second subscriber gets the current snapshot at once.
    const second = await openEvents(handler);
    assert.equal((JSON.parse(await second.nextOf("snapshot")) as Snapshot).counts.in_progress, 1);
    await second.cancel();
    await events.cancel();
  } finally {
    await agent.close();
    close();
    await h.close();
  }
});

Deno.test("live: an expired lease disappears though nobody writes", async () => {
  let now = Date.now();
  const storage = createMemoryBackend({ now: () => now }).open();
  const ctx = memoryContext(storage);
  await storage.store("@project:acme/widget:instances", "claude_1", {
    session_id: "claude_1",
    grant_id: "g",
    machine: "box",
    pid: 1,
    client: null,
    worktree: "/w",
    branch: "main",
    since: new Date(now).toISOString(),
    last_seen: new Date(now).toISOString(),
    lease_expires_at: new Date(now + 5_000).toISOString(),
  }, { ttlSeconds: 5 });
  const { handler, close } = await handlerFor(ctx, null, { leaseCheckMs: 30 });
  try {
    const events = await openEvents(handler);
    await events.nextOf("snapshot", hasSession("claude_1"));
    now += 6_000;
    await events.nextOf("snapshot", (d) => !hasSession("claude_1")(d), 5_000);
    await events.cancel();
  } finally {
    close();
    await storage.close();
  }
});

Deno.test("live: a store that fails shows a problem, and recovers", async () => {
  const inner = createMemoryBackend().open();
  let failing = false;
  const storage: StorageAdapter = {
    ...inner,
    name: inner.name,
    now: () => inner.now(),
    listEntries: (scope, options) =>
      failing ? Promise.reject(new Error("connection refused")) : inner.listEntries(scope, options),
    watch: (listener) => inner.watch(listener),
  };
  const { handler, close } = await handlerFor(memoryContext(storage), null, { leaseCheckMs: 40 });
  try {
    const events = await openEvents(handler);
    await events.nextOf("snapshot");
    failing = true;
    const problem = JSON.parse(await events.nextOf("problem")) as { message: string };
    assert.match(problem.message, /could not read the store: .*connection refused/);
    const res = await get(handler, "/api/snapshot");
    assert.equal(res.status, 503);
    await res.body?.cancel();
    failing = false;
    assert.equal(await events.nextOf("problem"), "null");
    await events.cancel();
  } finally {
    close();
    await inner.close();
  }
});

Deno.test("live: keep-alive comments, and closing ends every stream", async () => {
  const ctx = memoryContext();
  const { handler, close, live } = await handlerFor(ctx, null, { keepAliveMs: 30 });
  try {
    const events = await openEvents(handler);
    for (;;) {
      const ev = await events.next();
      if (ev?.comment === "keep-alive") break;
    }
    handler.closeStreams();
    while ((await events.next()) !== null) { /* drain */ }
    assert.ok(events.done);
    assertClosedLive(live);
  } finally {
    close();
    await ctx.storage.close();
  }
});

function assertClosedLive(live: Live): void {
  live.close();
  assert.throws(() => live.subscribe("acme/widget", () => {}), /closed/);
}

Deno.test("startDashboard", async (t) => {
  const ctx = memoryContext();
  try {
    await t.step("refuses a non-loopback address without a token", async () => {
      await assert.rejects(
        startDashboard({ ctx, host: "0.0.0.0", port: 0, token: null, log: () => {} }),
        (err) => isCoordinatorError(err, "CONFIG_INVALID") && /without a token/.test(err.message),
      );
    });

    await t.step("an address this machine does not have, or cannot resolve", async () => {
      for (const host of ["10.255.255.1", "no-such-host.invalid"]) {
        await assert.rejects(
          startDashboard({ ctx, host, port: 0, token: TOKEN, log: () => {} }),
          (err) =>
            isCoordinatorError(err, "CONFIG_INVALID") && err.message.includes(host) &&
            err.message.includes("--host"),
          host,
        );
      }
    });

    await t.step("port 0 picks a free port; a taken port names itself and --port 0", async () => {
      const dashboard = await startDashboard({
        ctx,
        host: "127.0.0.1",
        port: 0,
        token: null,
        log: () => {},
      });
      try {
        assert.equal(dashboard.url, `http://127.0.0.1:${dashboard.port}/`);
        const res = await fetch(dashboard.url);
        assert.equal(res.status, 200);
        await res.body?.cancel();
        await assert.rejects(
          startDashboard({
            ctx,
            host: "127.0.0.1",
            port: dashboard.port,
            token: null,
            log: () => {},
          }),
          (err) =>
            isCoordinatorError(err, "CONFIG_INVALID") &&
            err.message.includes(`port ${dashboard.port}`) && err.message.includes("--port 0"),
        );
      } finally {
        await dashboard.close();
      }
      await dashboard.finished;
    });
  } finally {
    await ctx.storage.close();
  }
});
