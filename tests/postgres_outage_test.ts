/**
 * The postgres adapter when PostgreSQL goes away: stopped (fast shutdown) and
 * crashed (SIGKILL of every server process) under load, frozen (SIGSTOP),
 * unreachable at start-up. Every call answers within 5 s with
 * STORAGE_UNAVAILABLE naming host and port, never hangs, recovers by itself,
 * and no acknowledged write is lost; the change feed reports `{ all: true }`
 * after a restart and then works again.
 *
 * These tests stop their server, so they share one of their own (each puts
 * it back up first); the start-up test needs a port nothing listens on yet.
 */
import assert from "node:assert/strict";
import { CoordinatorError, describeError, isCoordinatorError } from "../src/core/errors.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { createPostgresAdapter } from "../src/storage/postgres/adapter.ts";
import {
  freePort,
  freshSchema,
  lazyPostgresServer,
  type PostgresServer,
  skipPostgresTests,
  startPostgresServer,
} from "./_postgres_server.ts";

const ignore = skipPostgresTests();
const shared = lazyPostgresServer();
if (!ignore) Deno.test.afterAll(() => shared.stop());
const LIMITS = { maxValueBytes: 1024 * 1024 };
/** The promise: an outage is reported within this time. */
const ANSWER_WITHIN_MS = 5_000;

/** The shared server, running and unfrozen whatever the last test did to it. */
async function upServer(): Promise<PostgresServer> {
  const server = await shared.get();
  server.resume();
  await server.start();
  return server;
}

/** Polls `ok` until it holds, failing after `ms`. */
async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000) {
  const deadline = performance.now() + ms;
  while (!(await ok())) {
    if (performance.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Checks that an error is the outage error this server should produce, with no secret in it. */
function assertUnavailable(err: unknown, server: { port: number; password?: string }): void {
  assert.ok(isCoordinatorError(err, "STORAGE_UNAVAILABLE"), describeError(err));
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`), err.message);
  assert.equal(err.details.port, server.port);
  if (server.password !== undefined) {
    const text = [describeError(err), JSON.stringify((err as CoordinatorError).details)].join();
    assert.ok(!text.includes(server.password), text);
    assert.ok(!text.includes(encodeURIComponent(server.password)), text);
  }
}

/** Writers storing new keys one after another; what they were told is recorded. */
function startLoad(adapter: StorageAdapter, writers: number) {
  const acked = new Map<string, number>();
  const failures: { err: unknown; ms: number }[] = [];
  let slowest = 0;
  let running = true;
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; running;) {
      const key = `w${w}:${String(i).padStart(5, "0")}`;
      const start = performance.now();
      try {
        await adapter.store("load", key, { i });
        slowest = Math.max(slowest, performance.now() - start);
        acked.set(key, i);
        i++;
      } catch (err) {
        const ms = performance.now() - start;
        slowest = Math.max(slowest, ms);
        failures.push({ err, ms });
        await sleep(25); // then write the same key again: a store is idempotent
      }
    }
  });
  return {
    acked,
    failures,
    slowest: () => slowest,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

Deno.test({
  name: "postgres outage: stopped and crashed under load, every call answers within 5 s, " +
    "recovers by itself, no acknowledged write lost",
  ignore,
}, async () => {
  const server = await upServer();
  const schema = freshSchema();
  const lines: string[] = [];
  const adapter = await createPostgresAdapter({
    url: server.url(),
    schema,
    limits: LIMITS,
    log: (line) => lines.push(line),
  });
  const load = startLoad(adapter, 4);
  try {
    await waitFor("the first writes", () => load.acked.size >= 20);
    for (const signal of ["SIGINT", "SIGKILL"] as const) {
      const failuresBefore = load.failures.length;
      await server.kill(signal);
      await waitFor(`failures after ${signal}`, () => load.failures.length > failuresBefore + 4);
      await sleep(1_500); // a gap of a little while, under load
      await server.start();
      const ackedAtStart = load.acked.size;
      await waitFor(`recovery after ${signal}`, () => load.acked.size >= ackedAtStart + 40);
    }
  } finally {
    await load.stop();
  }
  try {
    assert.ok(load.failures.length > 0);
    for (const { err } of load.failures) assertUnavailable(err, server);
    assert.ok(
      load.slowest() < ANSWER_WITHIN_MS,
      `the slowest call took ${load.slowest().toFixed(0)} ms`,
    );
    // Nothing acknowledged is lost: read back by this adapter and by a new one.
    const fresh = await createPostgresAdapter({ url: server.url(), schema, limits: LIMITS });
    try {
      const stored = new Map(
        (await fresh.listEntries("load")).map((e) => [e.key, (e.entry.value as { i: number }).i]),
      );
      for (const [key, i] of load.acked) {
        assert.equal(stored.get(key), i, `${key} was acknowledged`);
      }
    } finally {
      await fresh.close();
    }
    assert.ok(lines.some((l) => /connection lost/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /connection restored/.test(l)), lines.join("\n"));
    for (const line of lines) assert.ok(!line.includes(server.password), line);
    console.log(
      `  ${load.acked.size} writes acknowledged, ${load.failures.length} refused during two ` +
        `outages, slowest call ${load.slowest().toFixed(0)} ms`,
    );
  } finally {
    await adapter.close();
    await server.sql(`DROP SCHEMA "${schema}" CASCADE`);
  }
});

Deno.test({
  name: "postgres outage: a frozen server is STORAGE_UNAVAILABLE within 5 s, then recovers",
  ignore,
}, async () => {
  const server = await upServer();
  const schema = freshSchema();
  const adapter = await createPostgresAdapter({ url: server.url(), schema, limits: LIMITS });
  try {
    const before = await adapter.store("frozen", "k", "before");
    server.pause();
    try {
      // The first call meets a pooled connection that no longer answers; the
      // second a connection attempt the frozen server never completes.
      for (const call of ["on a pooled connection", "on a new connection"]) {
        const start = performance.now();
        const err = await adapter.store("frozen", "k", "during").catch((e) => e);
        const ms = performance.now() - start;
        assertUnavailable(err, server);
        assert.ok(ms < ANSWER_WITHIN_MS, `${call}: ${ms.toFixed(0)} ms`);
      }
    } finally {
      server.resume();
    }
    await waitFor("recovery", async () => {
      try {
        await adapter.store("frozen", "k", "after");
        return true;
      } catch {
        return false;
      }
    });
    const entry = await adapter.retrieve("frozen", "k");
    assert.equal(entry?.value, "after");
    assert.ok(entry!.version > before.version);
  } finally {
    server.resume();
    await adapter.close();
    await server.sql(`DROP SCHEMA "${schema}" CASCADE`);
  }
});

Deno.test({
  name: "postgres outage: the change feed reports { all: true } after a restart, then works again",
  ignore,
}, async () => {
  const server = await upServer();
  const schema = freshSchema();
  const watcher = await createPostgresAdapter({ url: server.url(), schema, limits: LIMITS });
  const writer = await createPostgresAdapter({ url: server.url(), schema, limits: LIMITS });
  const heard: { change: string; at: number }[] = [];
  const stop = watcher.watch((c) =>
    heard.push({ change: "all" in c ? "*" : c.scopes.join(), at: performance.now() })
  );
  const heardSince = (since: number, change: string) =>
    heard.some((h) => h.at >= since && h.change === change);
  try {
    await waitFor("the feed to listen", () => heardSince(0, "*"));
    let sent = performance.now();
    await writer.store("before", "k", 1);
    await waitFor("a change before the restart", () => heardSince(sent, "before"), 1_000);

    const killed = performance.now();
    await server.kill("SIGINT");
    await sleep(500);
    await server.start();
    await waitFor("{ all: true } after the restart", () => heardSince(killed, "*"));
    // The feed listens again: a write reaches it within a second.
    await waitFor("the writer to reconnect", async () => {
      try {
        sent = performance.now();
        await writer.store("after", "k", 1);
        return true;
      } catch {
        return false;
      }
    });
    await waitFor("a change after the restart", () => heardSince(sent, "after"), 1_000);
  } finally {
    stop();
    await watcher.close();
    await writer.close();
    await server.sql(`DROP SCHEMA "${schema}" CASCADE`);
  }
});

Deno.test({
  name: "postgres outage: unreachable at start-up, the adapter starts anyway, answers " +
    "STORAGE_UNAVAILABLE within 5 s, and makes its tables once the server appears",
  ignore,
}, async () => {
  const port = freePort();
  const password = `late:/@${crypto.randomUUID().slice(0, 6)}`;
  const url = `postgres://csc_admin:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const lines: string[] = [];
  const start = performance.now();
  const adapter = await createPostgresAdapter({
    url,
    schema: "late",
    limits: LIMITS,
    log: (line) => lines.push(line),
  });
  let server: PostgresServer | null = null;
  try {
    assert.ok(performance.now() - start < ANSWER_WITHIN_MS, "it started without waiting long");
    assert.ok(lines.some((l) => /unreachable.*Serving anyway/.test(l)), lines.join("\n"));
    for (const call of [() => adapter.store("s", "k", 1), () => adapter.listScopes()]) {
      const t0 = performance.now();
      const err = await call().catch((e) => e);
      assertUnavailable(err, { port, password });
      assert.ok(performance.now() - t0 < ANSWER_WITHIN_MS);
    }
    server = await startPostgresServer({ port, password });
    await waitFor("the adapter to find the server", async () => {
      try {
        await adapter.store("s", "k", 1);
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(await adapter.listScopes(), ["s"]);
    for (const line of lines) assert.ok(!line.includes(password), line);
  } finally {
    await adapter.close();
    await server?.stop();
  }
});

Deno.test({
  name: "postgres outage: a host that does not answer is STORAGE_UNAVAILABLE within 5 s",
  ignore,
}, async () => {
  // TEST-NET-1 (RFC 5737): never routed, so the connection times out or is refused.
  const url = "postgres://u:secret-pw@192.0.2.1:5432/db";
  const start = performance.now();
  const adapter = await createPostgresAdapter({ url, limits: LIMITS });
  try {
    const err = await adapter.retrieve("s", "k").catch((e) => e);
    assert.ok(isCoordinatorError(err, "STORAGE_UNAVAILABLE"), describeError(err));
    assert.match(err.message, /192\.0\.2\.1:5432/);
    assert.ok(!describeError(err).includes("secret-pw"));
    assert.ok(performance.now() - start < 2 * ANSWER_WITHIN_MS, "start-up and one call");
  } finally {
    await adapter.close();
  }
});
