/**
 * Starting the Redis adapter: what it finds out before the first call. An
 * ACL user that lacks a permission the adapter needs fails at once with
 * CONFIG_INVALID naming it (not later, on every call, with a "retry" hint),
 * and a refused connection is noticed at once instead of after the connect
 * timeout.
 */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import type { AdapterLimits } from "../src/storage/contract.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "../src/storage/contract.ts";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";
import {
  errorText,
  freePort,
  rawClient,
  skipRedisTests,
  startRedisServer,
  until,
  withServer,
} from "./_redis_server.ts";

const ignore = skipRedisTests();
const LIMITS: AdapterLimits = { maxValueBytes: DEFAULT_MAX_VALUE_BYTES };
const SECRET = "acl-s3cret/p@ss";

/** The least the adapter needs, as documented in src/storage/redis/adapter.ts. */
const NEEDED = [
  "~csc:*",
  "&csc:*",
  "+@read",
  "+@write",
  "+eval",
  "+evalsha",
  "+publish",
  "+subscribe",
  "+time",
];

Deno.test({
  name: "redis start-up: an ACL user missing a needed permission is CONFIG_INVALID naming it",
  ignore,
}, async (t) => {
  await withServer(async (server) => {
    const raw = await rawClient(server.url);
    const url = `redis://csc:${encodeURIComponent(SECRET)}@127.0.0.1:${server.port}`;
    /** Gives user csc exactly `rules` (its password stays). */
    const grant = (rules: string[]) =>
      raw.send("ACL", "SETUSER", "csc", "reset", "on", `>${SECRET}`, "-@all", ...rules);
    try {
      await t.step("the documented list is enough, watch included", async () => {
        await grant(NEEDED);
        const logs: string[] = [];
        const adapter = await createRedisAdapter({
          url,
          prefix: "csc:",
          limits: LIMITS,
          log: (line) => logs.push(line),
        });
        try {
          const seen: string[] = [];
          let subscribed = false;
          const stop = adapter.watch((c) => {
            if ("all" in c) subscribed = true;
            else seen.push(...c.scopes);
          });
          try {
            await until("subscribed", () => subscribed);
            await adapter.store("s", "k", 1);
            await adapter.writeBatch("s", [{ op: "set", key: "b", value: 2 }]);
            await until("the change feed works for this user", () => seen.includes("s"));
          } finally {
            stop();
          }
          assert.deepEqual(await adapter.listKeys("s"), ["b", "k"]);
          assert.equal(await adapter.deleteScope("s"), true);
          assert.deepEqual(logs, [], "no complaint: the clock and everything else are allowed");
        } finally {
          await adapter.close();
        }
      });

      // Each rule taken away alone, and the permission the error must name.
      const cases: [string, string[], RegExp][] = [
        ["+eval", NEEDED.filter((r) => r !== "+eval"), /\+eval\b/],
        ["+evalsha", NEEDED.filter((r) => r !== "+evalsha"), /\+evalsha\b/],
        ["+publish", NEEDED.filter((r) => r !== "+publish"), /\+publish\b/],
        ["+subscribe", NEEDED.filter((r) => r !== "+subscribe"), /\+subscribe\b/],
        ["the channel", NEEDED.filter((r) => r !== "&csc:*"), /&csc:changes\b/],
        ["+@write", NEEDED.filter((r) => r !== "+@write"), /\+hset\b/],
        ["the keys", NEEDED.filter((r) => r !== "~csc:*"), /~csc:\*/],
      ];
      for (const [what, rules, names] of cases) {
        await t.step(`without ${what}`, async () => {
          await grant(rules);
          // A script the server already knows must not hide a missing +eval.
          await raw.send("SCRIPT", "FLUSH");
          const logs: string[] = [];
          const started = performance.now();
          const err = await rejectsWithCode(
            () =>
              createRedisAdapter({
                url,
                prefix: "csc:",
                limits: LIMITS,
                connectTimeoutMs: 5_000,
                log: (line) => logs.push(line),
              }),
            "CONFIG_INVALID",
          );
          assert.ok(performance.now() - started < 4_000, "at once, not after a timeout");
          assert.match(err.message, names);
          assert.match(err.message, /^storage\.config\.url: /);
          assert.equal(err.details.field, "storage.config.url");
          for (const text of [errorText(err), ...logs]) {
            assert.ok(!text.includes(SECRET), text);
            assert.ok(!text.includes(encodeURIComponent(SECRET)), text);
          }
        });
      }
      await t.step("with the eval script cached, a missing +eval is still found", async () => {
        await grant(NEEDED);
        const ok = await createRedisAdapter({ url, prefix: "csc:", limits: LIMITS });
        await ok.store("s", "k", 1); // every script is now in the server's cache
        await ok.close();
        await grant(NEEDED.filter((r) => r !== "+eval"));
        const err = await rejectsWithCode(
          () => createRedisAdapter({ url, prefix: "csc:", limits: LIMITS }),
          "CONFIG_INVALID",
        );
        assert.match(err.message, /\+eval\b/);
      });
    } finally {
      raw.close();
    }
  });
});

Deno.test({
  name: "redis start-up: a refused connection is noticed at once; calls recover later",
  ignore,
}, async () => {
  // Nothing listens on this port yet: the connection is refused outright.
  const port = freePort();
  const password = "refused-s3cret";
  const url = `redis://:${password}@127.0.0.1:${port}`;
  const logs: string[] = [];
  const started = performance.now();
  const adapter = await createRedisAdapter({
    url,
    prefix: "rf:",
    limits: LIMITS,
    connectTimeoutMs: 5_000,
    log: (line) => logs.push(line),
  });
  let server: Awaited<ReturnType<typeof startRedisServer>> | null = null;
  try {
    const took = performance.now() - started;
    assert.ok(took < 1_000, `createRedisAdapter took ${took.toFixed(0)} ms on a refused port`);
    assert.ok(logs.some((l) => /ECONNREFUSED.*Serving anyway/.test(l)), logs.join("\n"));
    const err = await rejectsWithCode(() => adapter.store("s", "k", 1), "STORAGE_UNAVAILABLE");
    assert.match(err.message, new RegExp(`redis at 127\\.0\\.0\\.1:${port} is unreachable`));
    await rejectsWithCode(() => adapter.retrieve("s", "k"), "STORAGE_UNAVAILABLE");

    server = await startRedisServer({ port, password });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await adapter.store("s", "k", 1);
        break;
      } catch (e) {
        if (!isCoordinatorError(e, "STORAGE_UNAVAILABLE") || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal((await adapter.retrieve("s", "k"))?.value, 1);
    for (const text of [errorText(err), ...logs]) assert.ok(!text.includes(password), text);
  } finally {
    await adapter.close();
    await server?.stop();
  }
});
