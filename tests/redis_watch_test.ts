/**
 * The Redis change feed over a real server: changes from another adapter
 * arrive, a restart is reported as `{ all: true }` and the feed goes on, the
 * subscriber connection lives only while someone watches, a failing listener
 * harms no one, and no log line or error of the new paths (scripts that
 * publish, the subscriber) carries the password.
 */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import type { AdapterLimits, Change } from "../src/storage/contract.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "../src/storage/contract.ts";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";
import { errorText, rawClient, skipRedisTests, until, withServer } from "./_redis_server.ts";

const ignore = skipRedisTests();
const LIMITS: AdapterLimits = { maxValueBytes: DEFAULT_MAX_VALUE_BYTES };

/** A listener that records what it hears. */
function recorder() {
  const changes: Change[] = [];
  return {
    changes,
    listener: (change: Change) => changes.push(change),
    alls: () => changes.filter((c) => "all" in c).length,
    heard: (scope: string) => changes.some((c) => "scopes" in c && c.scopes.includes(scope)),
  };
}

/** Retries `fn` while the server is coming back. */
async function whenBack<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isCoordinatorError(err, "STORAGE_UNAVAILABLE") || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

Deno.test({
  name: "redis watch: a write through one adapter reaches a listener on another within 1 s",
  ignore,
}, async () => {
  await withServer(async (server) => {
    const open = () => createRedisAdapter({ url: server.url, prefix: "wa:", limits: LIMITS });
    const [watcher, writer] = await Promise.all([open(), open()]);
    const rec = recorder();
    const stop = watcher.watch(rec.listener);
    try {
      // The first `{ all: true }` says the subscription is in place.
      await until("subscribed", () => rec.alls() >= 1);
      const kinds: [string, (scope: string) => Promise<unknown>][] = [
        ["store", (s) => writer.store(s, "k", 1)],
        ["writeBatch", (s) => writer.writeBatch(s, [{ op: "set", key: "k", value: 1 }])],
        ["restore", (s) =>
          writer.restore(s, "k", {
            value: 1,
            version: 3,
            updatedAt: new Date().toISOString(),
            updatedBy: null,
            expiresAt: null,
            heldBy: null,
          })],
        ["delete", async (s) => {
          await writer.store(s, "k", 1);
          await until(`${s} stored`, () => rec.heard(s));
          rec.changes.length = 0;
          await writer.delete(s, "k");
        }],
        ["deleteScope", async (s) => {
          await writer.store(s, "k", 1);
          await until(`${s} stored`, () => rec.heard(s));
          rec.changes.length = 0;
          await writer.deleteScope(s);
        }],
        ["the watcher's own store", (s) => watcher.store(s, "k", 1)],
      ];
      for (const [kind, write] of kinds) {
        const scope = `w:${kind}`;
        await write(scope);
        await until(`${kind} reported`, () => rec.heard(scope), 1_000);
      }
      // A write that changes nothing reports nothing.
      rec.changes.length = 0;
      assert.equal(await writer.delete("w:never", "k"), false);
      await writer.store("w:marker", "k", 1);
      await until("marker", () => rec.heard("w:marker"), 1_000);
      assert.ok(!rec.heard("w:never"), JSON.stringify(rec.changes));
      assert.equal(rec.alls(), 0, "no reconnect, no `all`");
    } finally {
      stop();
      await Promise.all([watcher.close(), writer.close()]);
    }
  });
});

Deno.test({
  name: "redis watch: after a Redis restart it reports { all: true }, then changes again",
  ignore,
}, async () => {
  const password = "w@tch-s3cret";
  await withServer(async (server) => {
    const logs: string[] = [];
    const open = () =>
      createRedisAdapter({
        url: server.url,
        prefix: "wr:",
        limits: LIMITS,
        log: (line) => logs.push(line),
      });
    const [watcher, writer] = await Promise.all([open(), open()]);
    const rec = recorder();
    const stop = watcher.watch(rec.listener);
    try {
      await until("subscribed", () => rec.alls() >= 1);
      await writer.store("before", "k", 1);
      await until("before", () => rec.heard("before"));

      let alls = rec.alls();
      await server.restart();
      await until("all after the restart", () => rec.alls() > alls, 10_000);
      await whenBack(() => writer.store("after", "k", 1));
      await until("a change after the restart", () => rec.heard("after"));

      // Killed hard, twice in a row: still no silent gap.
      alls = rec.alls();
      await server.kill("SIGKILL");
      await server.restart();
      await until("all after the second restart", () => rec.alls() > alls, 10_000);
      await whenBack(() => writer.store("again", "k", 1));
      await until("a change after the second restart", () => rec.heard("again"));
      for (const line of logs) {
        assert.ok(!line.includes(password) && !line.includes(encodeURIComponent(password)), line);
      }
    } finally {
      stop();
      await Promise.all([watcher.close(), writer.close()]);
    }
  }, { password });
});

Deno.test({
  name: "redis watch: the subscriber connection lives only while someone watches",
  ignore,
}, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "ws:", limits: LIMITS });
    const raw = await rawClient(server.url);
    const subscribers = async () =>
      Number((await raw.send("PUBSUB", "NUMSUB", "ws:changes") as [string, number])[1]);
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 5_000;
      while (await subscribers() !== n) {
        if (Date.now() > deadline) assert.fail(`expected ${n} subscribers`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    try {
      assert.equal(await subscribers(), 0, "none before the first watch");
      const one = recorder();
      const two = recorder();
      const stopOne = adapter.watch(one.listener);
      const stopTwo = adapter.watch(two.listener);
      await waitFor(1); // one connection for every listener
      stopOne();
      stopOne(); // twice is harmless
      await adapter.store("s", "k", 1);
      await until("the other listener still hears", () => two.heard("s"));
      stopTwo();
      await waitFor(0);
      const three = recorder();
      adapter.watch(three.listener);
      await waitFor(1);
      await until("a new subscription says so", () => three.alls() >= 1);
      await adapter.close();
      await waitFor(0);
      assert.equal(
        adapter.watch(() => assert.fail("a closed adapter calls no listener"))(),
        undefined,
      );
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({
  name: "redis watch: a listener that throws harms neither the feed nor other listeners",
  ignore,
}, async () => {
  await withServer(async (server) => {
    const logs: string[] = [];
    const adapter = await createRedisAdapter({
      url: server.url,
      prefix: "wt:",
      limits: LIMITS,
      log: (line) => logs.push(line),
    });
    const rec = recorder();
    const stopBad = adapter.watch(() => {
      throw new Error("listener bug");
    });
    const stopGood = adapter.watch(rec.listener);
    try {
      await until("subscribed", () => rec.alls() >= 1);
      await adapter.store("a", "k", 1);
      await adapter.store("b", "k", 1);
      await until("both scopes", () => rec.heard("a") && rec.heard("b"));
      assert.ok(logs.some((l) => /a listener failed \(listener bug\)/.test(l)), logs.join("\n"));
    } finally {
      stopBad();
      stopGood();
      await adapter.close();
    }
  });
});

Deno.test({
  name: "redis watch: permissions lost at run time: clear errors and logs, no password",
  ignore,
}, async () => {
  const password = "run-t1me/s3cret";
  await withServer(async (server) => {
    const raw = await rawClient(server.url);
    const logs: string[] = [];
    const adapter = await createRedisAdapter({
      url: server.url,
      prefix: "wp:",
      limits: LIMITS,
      log: (line) => logs.push(line),
    });
    const rec = recorder();
    const stop = adapter.watch(rec.listener);
    const clean = (text: string) =>
      assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), text);
    try {
      await until("subscribed", () => rec.alls() >= 1);
      await adapter.store("s", "k", 1);

      // A write script whose PUBLISH is refused writes nothing at all.
      await raw.send("ACL", "SETUSER", "default", "-publish");
      const refused = await rejectsWithCode(
        () => adapter.store("s", "k", 2),
        "STORAGE_UNAVAILABLE",
      );
      clean(errorText(refused));
      await raw.send("ACL", "SETUSER", "default", "+publish");
      assert.equal((await adapter.retrieve("s", "k"))?.value, 1, "the refused write left no trace");

      // A subscriber that may no longer subscribe says so, then recovers.
      await raw.send("ACL", "SETUSER", "default", "-subscribe");
      await raw.send("CLIENT", "KILL", "TYPE", "pubsub");
      await until("the refusal is logged", () => logs.some((l) => /cannot subscribe/.test(l)));
      const alls = rec.alls();
      await raw.send("ACL", "SETUSER", "default", "+subscribe");
      await until("subscribed again", () => rec.alls() > alls, 10_000);
      await adapter.store("s", "k", 3);
      await until("changes flow again", () => rec.heard("s"));
      assert.ok(logs.some((l) => /subscribed again/.test(l)), logs.join("\n"));
      for (const line of logs) clean(line);
    } finally {
      stop();
      raw.close();
      await adapter.close();
    }
  }, { password });
});
