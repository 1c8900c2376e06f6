/**
 * The Redis adapter: the shared storage contract over a real redis-server,
 * plus what only Redis has: no KEYS, credentials, outages and recovery,
 * durability across a crash, corrupt data, and the key layout.
 *
 * Every test starts its own redis-server (tens of milliseconds) and stops it
 * in `finally`, so no server outlives its test, even under --filter.
 */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import type { AdapterLimits, Entry, StorageAdapter } from "../src/storage/contract.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "../src/storage/contract.ts";
import { redactSecrets, redactUrl } from "../src/core/redact.ts";
import { createRedisAdapter, redisAdapterFactory } from "../src/storage/redis/adapter.ts";
import {
  errorText,
  rawClient,
  skipRedisTests,
  startRedisServer,
  withServer,
} from "./_redis_server.ts";
import { rejectsWithCode, runStorageContract } from "../src/storage/testing/contract_suite.ts";

const ignore = skipRedisTests();
const LIMITS: AdapterLimits = { maxValueBytes: DEFAULT_MAX_VALUE_BYTES };
/** The promise of the brief: an outage is reported within this time. */
const UNAVAILABLE_WITHIN_MS = 5000;

let prefixCounter = 0;
/** A prefix no other test uses, so tests sharing a server could not see each other. */
function freshPrefix(): string {
  return `csct${Date.now().toString(36)}${(prefixCounter++).toString(36)}:`;
}

/** Calls every adapter operation once. */
function everyOperation(adapter: StorageAdapter): [string, () => Promise<unknown>][] {
  return [
    ["store", () => adapter.store("s", "k", 1)],
    ["retrieve", () => adapter.retrieve("s", "k")],
    ["delete", () => adapter.delete("s", "k")],
    ["listKeys", () => adapter.listKeys("s")],
    ["listEntries", () => adapter.listEntries("s")],
    ["listScopes", () => adapter.listScopes()],
    ["deleteScope", () => adapter.deleteScope("s")],
    ["writeBatch", () => adapter.writeBatch("s", [{ op: "set", key: "b", value: 1 }])],
  ];
}

/** Retries `fn` until it succeeds or `ms` pass; returns how long it took. */
async function eventually(fn: () => Promise<unknown>, ms: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    try {
      await fn();
      return performance.now() - start;
    } catch (err) {
      if (performance.now() - start > ms) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// ---------------------------------------------------------------------------
// The shared contract, unchanged.

if (!ignore) {
  runStorageContract("redis", async (limits, now) => {
    const server = await startRedisServer();
    try {
      // Every handle is another adapter on the same server and prefix, as
      // another process or machine would open it.
      const prefix = freshPrefix();
      const open = () => createRedisAdapter({ url: server.url, prefix, limits, now });
      const adapter = await open();
      return {
        adapter,
        open,
        // Behind the handles' backs, like a restart of a server without persistence.
        wipe: async () => {
          const raw = await rawClient(server.url);
          try {
            await raw.send("FLUSHALL");
          } finally {
            raw.close();
          }
        },
        cleanup: async () => {
          await adapter.close();
          await server.stop();
        },
      };
    } catch (err) {
      await server.stop();
      throw err;
    }
  });
} else {
  Deno.test({ name: "redis contract (skipped: no redis-server)", ignore: true, fn() {} });
}

// ---------------------------------------------------------------------------
// Redis-specific behaviour.

Deno.test({ name: "redis: never sends KEYS, even listing many scopes", ignore }, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "p:", limits: LIMITS });
    const raw = await rawClient(server.url);
    try {
      // More scopes than one SSCAN page, so paging is exercised.
      const scopes = Array.from({ length: 1200 }, (_, i) => `proj:s${String(i).padStart(4, "0")}`);
      await Promise.all(scopes.map((s) => adapter.store(s, "k", 1)));
      await adapter.store("other:x", "k", 1, { ttlSeconds: 60 });
      assert.deepEqual(await adapter.listScopes("proj:*"), scopes);
      assert.deepEqual(await adapter.listScopes("other:*"), ["other:x"]);
      assert.equal((await adapter.listScopes()).length, 1201);
      await adapter.retrieve("proj:s0001", "k");
      await adapter.listEntries("proj:s0001");
      await adapter.delete("proj:s0001", "k");
      await adapter.deleteScope("proj:s0002");
      const stats = String(await raw.send("INFO", "commandstats"));
      assert.doesNotMatch(stats, /cmdstat_keys:/, "KEYS was never called");
      assert.doesNotMatch(stats, /cmdstat_scan:/, "the keyspace was never scanned");
      assert.match(stats, /cmdstat_sscan:calls=\d+/);
      assert.match(stats, /cmdstat_evalsha:calls=\d+/, "scripts run by SHA");
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({ name: "redis: key layout, real expiry and lazy cleanup", ignore }, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "lay:", limits: LIMITS });
    const raw = await rawClient(server.url);
    try {
      const before = adapter.now();
      const forever = await adapter.store("team:a", "forever", { x: 1 }, {
        updatedBy: "claude_1",
        heldBy: "claude_1/s1",
      });
      const ttl = await adapter.store("team:a", "brief", "v", { ttlSeconds: 0.3 });
      const keys = (await raw.send("SCAN", "0", "COUNT", "1000") as [string, string[]])[1].sort();
      assert.deepEqual(keys, [
        "lay:i:team:a",
        "lay:k:team:a\u0000brief",
        "lay:k:team:a\u0000forever",
        "lay:l:team:a",
        "lay:m:team:a",
        "lay:scopes",
      ]);
      // A new scope's first version is seeded from the clock (versionSeed).
      assert.ok(forever.version > (before - 1000) * 1000, `version ${forever.version}`);
      assert.deepEqual(
        await raw.send("HGETALL", "lay:k:team:a\u0000forever"),
        [
          "value",
          '{"x":1}',
          "version",
          String(forever.version),
          "updated_at",
          forever.updatedAt,
          "updated_by",
          "claude_1",
          "held_by",
          "claude_1/s1",
        ],
      );
      assert.equal(await raw.send("PTTL", "lay:k:team:a\u0000forever"), -1);
      // The expiry is Redis's own: PEXPIREAT to the reported expires_at.
      const expireTime = await raw.send("PEXPIRETIME", "lay:k:team:a\u0000brief");
      assert.equal(expireTime, Date.parse(ttl.expiresAt!));
      assert.equal(ttl.version, forever.version + 1);
      assert.equal(await raw.send("HGET", "lay:m:team:a", "seq"), String(ttl.version));
      assert.equal(await raw.send("ZSCORE", "lay:i:team:a", "forever"), "inf");
      // The lexicographic index: UTF-16 code units in hex, NUL, the key; all scores 0.
      assert.deepEqual(await raw.send("ZRANGE", "lay:l:team:a", "0", "-1", "WITHSCORES"), [
        "00620072006900650066\u0000brief",
        "0",
        "0066006f00720065007600650072\u0000forever",
        "0",
      ]);

      await new Promise((r) => setTimeout(r, 450));
      assert.equal(await raw.send("EXISTS", "lay:k:team:a\u0000brief"), 0, "Redis expired it");
      assert.deepEqual(await adapter.listKeys("team:a"), ["forever"]);
      assert.equal(await raw.send("ZSCORE", "lay:i:team:a", "brief"), null, "index purged");
      assert.equal(await raw.send("ZCARD", "lay:l:team:a"), 1, "so is the lexicographic index");

      // An emptied scope leaves the scope set lazily, but keeps its counter.
      await adapter.delete("team:a", "forever");
      assert.deepEqual(await raw.send("SMEMBERS", "lay:scopes"), []);
      assert.equal(await raw.send("EXISTS", "lay:i:team:a", "lay:l:team:a"), 0);
      assert.equal(await raw.send("HGET", "lay:m:team:a", "seq"), String(ttl.version));
      // So does a deleted scope: versions never go backwards.
      await adapter.store("team:a", "again", 1);
      assert.equal(await adapter.deleteScope("team:a"), true);
      assert.equal(await raw.send("EXISTS", "lay:i:team:a", "lay:l:team:a"), 0);
      assert.equal(await raw.send("HGET", "lay:m:team:a", "seq"), String(ttl.version + 1));

      // A scope whose keys all expired is dropped from the set by listScopes.
      await adapter.store("gone", "k", 1, { ttlSeconds: 0.1 });
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await adapter.listScopes(), []);
      assert.deepEqual(await raw.send("SMEMBERS", "lay:scopes"), []);
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({ name: "redis: prefixes isolate deployments on one server", ignore }, async () => {
  await withServer(async (server) => {
    const a = await createRedisAdapter({ url: server.url, prefix: "a:", limits: LIMITS });
    const b = await createRedisAdapter({ url: server.url, prefix: "b:", limits: LIMITS });
    const raw = await rawClient(server.url);
    try {
      await a.store("shared", "k", "from a");
      assert.equal(await b.retrieve("shared", "k"), null);
      assert.deepEqual(await b.listScopes(), []);
      const fromB = await b.store("shared", "k", "from b");
      assert.equal(
        await raw.send("HGET", "b:m:shared", "seq"),
        String(fromB.version),
        "own counter",
      );
      assert.equal(await b.deleteScope("shared"), true);
      assert.equal((await a.retrieve("shared", "k"))?.value, "from a");
    } finally {
      raw.close();
      await a.close();
      await b.close();
    }
  });
});

Deno.test({ name: "redis: a password in the URL works and never leaks", ignore }, async () => {
  const password = "s3cr:et/p@ss%w0rd";
  await withServer(async (server) => {
    assert.ok(server.url.includes(encodeURIComponent(password)));
    const lines: string[] = [];
    const adapter = await createRedisAdapter({
      url: server.url,
      prefix: "pw:",
      limits: LIMITS,
      log: (line) => lines.push(line),
    });
    try {
      await adapter.store("s", "k", "v");
      assert.equal((await adapter.retrieve("s", "k"))?.value, "v");

      // Wrong password: a config error, without either password in it.
      const wrongPassword = "wr0ng-Secret";
      const wrongUrl = `redis://:${wrongPassword}@127.0.0.1:${server.port}`;
      const wrong = await rejectsWithCode(
        () => createRedisAdapter({ url: wrongUrl, prefix: "pw:", limits: LIMITS }),
        "CONFIG_INVALID",
      );
      assert.match(wrong.message, /WRONGPASS/);
      assert.match(wrong.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
      for (const text of [errorText(wrong), ...lines]) {
        assert.ok(!text.includes(wrongPassword), text);
        assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)));
      }

      // No password at all against a protected server.
      const none = await rejectsWithCode(
        () =>
          createRedisAdapter({
            url: `redis://127.0.0.1:${server.port}`,
            prefix: "pw:",
            limits: LIMITS,
          }),
        "CONFIG_INVALID",
      );
      assert.match(none.message, /NOAUTH|WRONGPASS/);

      // Outage: messages and log lines name host:port, never the password.
      await server.kill("SIGKILL");
      const down = await rejectsWithCode(() => adapter.store("s", "k", 2), "STORAGE_UNAVAILABLE");
      assert.match(down.message, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
      await server.restart();
      await eventually(() => adapter.store("s", "k", 3), 5000);
      assert.ok(lines.some((l) => l.includes("connection lost")), lines.join("\n"));
      assert.ok(lines.some((l) => l.includes("connection restored")), lines.join("\n"));
      for (const text of [errorText(down), ...lines]) {
        assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), text);
      }
    } finally {
      await adapter.close();
    }
  }, { password });
});

Deno.test({ name: "redis: an ACL user limited to its prefix is enough", ignore }, async () => {
  await withServer(async (server) => {
    const raw = await rawClient(server.url);
    // The least the adapter needs: its own keys and change channel, plain
    // reads and writes, running scripts (commands inside scripts are checked
    // against the ACL too), and publishing and subscribing for the change feed.
    await raw.send(
      "ACL",
      "SETUSER",
      "csc",
      "on",
      ">app-secret",
      "resetkeys",
      "~csc:*",
      "resetchannels",
      "&csc:*",
      "-@all",
      "+@read",
      "+@write",
      "+eval",
      "+evalsha",
      "+publish",
      "+subscribe",
    );
    const url = `redis://csc:app-secret@127.0.0.1:${server.port}`;
    const adapter = await createRedisAdapter({ url, prefix: "csc:", limits: LIMITS });
    try {
      const first = await adapter.store("s", "k", 1, { ttlSeconds: 60 });
      await adapter.store("s", "k", 2, { ifVersion: first.version });
      await adapter.restore("s", "r", {
        value: 1,
        version: 9,
        updatedAt: new Date().toISOString(),
        updatedBy: null,
        expiresAt: null,
        heldBy: "h",
      });
      assert.equal((await adapter.retrieve("s", "k"))?.value, 2);
      assert.deepEqual(await adapter.listKeys("s"), ["k", "r"]);
      assert.equal((await adapter.listEntries("s")).length, 2);
      assert.deepEqual(await adapter.listScopes(), ["s"]);
      await rejectsWithCode(
        () => adapter.store("s", "k", 1, { updatedBy: 5 as unknown as string }),
        "INVALID_ARGUMENT",
      );
      await rejectsWithCode(
        () => adapter.restore("s", "k", null as unknown as Entry),
        "INVALID_ARGUMENT",
      );
      assert.equal(await adapter.delete("s", "k"), true);
      assert.equal(await adapter.deleteScope("s"), true);
      // Outside its prefix the user can do nothing: the ACL really applies,
      // and a prefix the ACL does not cover is reported at startup.
      const err = await rejectsWithCode(
        () => createRedisAdapter({ url, prefix: "other:", limits: LIMITS }),
        "CONFIG_INVALID",
      );
      assert.match(err.message, /NOPERM/);
      assert.match(err.message, /~other:\*/);
      assert.ok(!errorText(err).includes("app-secret"));
      // Permissions taken away at run time: STORAGE_UNAVAILABLE saying why.
      await raw.send("ACL", "SETUSER", "csc", "-evalsha", "-eval");
      const runtime = await rejectsWithCode(
        () => adapter.store("s", "k", 3),
        "STORAGE_UNAVAILABLE",
      );
      assert.match(runtime.message, /NOPERM/);
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test(
  { name: "redis: down means STORAGE_UNAVAILABLE fast, then recovery", ignore },
  async () => {
    await withServer(async (server) => {
      const adapter = await createRedisAdapter({ url: server.url, prefix: "dn:", limits: LIMITS });
      try {
        const before = await adapter.store("s", "k", "before");
        await server.kill("SIGKILL");
        let slowest = 0;
        for (const [name, op] of everyOperation(adapter)) {
          const start = performance.now();
          const err = await rejectsWithCode(op, "STORAGE_UNAVAILABLE");
          const took = performance.now() - start;
          slowest = Math.max(slowest, took);
          assert.ok(took < UNAVAILABLE_WITHIN_MS, `${name} took ${took.toFixed(0)} ms`);
          assert.match(err.message, new RegExp(`redis at 127\\.0\\.0\\.1:${server.port} `), name);
          assert.equal(err.details.host, "127.0.0.1");
          assert.equal(err.details.port, server.port);
        }
        console.log(`  slowest STORAGE_UNAVAILABLE with redis down: ${slowest.toFixed(1)} ms`);

        await server.restart();
        const took = await eventually(() => adapter.store("s", "k", "after"), 5000);
        console.log(`  recovered ${took.toFixed(0)} ms after the restart`);
        // The server ran without persistence, so its data is gone; the adapter
        // still works and starts the scope afresh.
        const after = await adapter.retrieve("s", "k");
        assert.equal(after?.value, "after");
        assert.ok(before.version >= 1);
      } finally {
        await adapter.close();
      }
    });
  },
);

Deno.test({ name: "redis: a frozen server times out instead of hanging", ignore }, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "fz:", limits: LIMITS });
    try {
      await adapter.store("s", "k", 1);
      server.pause();
      const start = performance.now();
      // In parallel: each must give up on its own within the command timeout.
      const errors = await Promise.all(
        everyOperation(adapter).map(async ([name, op]) => {
          const err = await rejectsWithCode(op, "STORAGE_UNAVAILABLE");
          return { name, err, took: performance.now() - start };
        }),
      );
      for (const { name, err, took } of errors) {
        assert.ok(took < UNAVAILABLE_WITHIN_MS, `${name} took ${took.toFixed(0)} ms`);
        assert.match(err.message, /no reply within 3000 ms/, name);
      }
      console.log(
        `  slowest STORAGE_UNAVAILABLE with redis frozen: ${
          Math.max(...errors.map((e) => e.took)).toFixed(0)
        } ms`,
      );
      // A new adapter cannot even finish its handshake: it starts degraded
      // within the connect timeout and its calls fail instead of hanging.
      const connectStart = performance.now();
      const late = await createRedisAdapter({
        url: server.url,
        prefix: "fz:",
        limits: LIMITS,
        connectTimeoutMs: 500,
        commandTimeoutMs: 500,
      });
      assert.ok(performance.now() - connectStart < 2000);
      await rejectsWithCode(() => late.retrieve("s", "k"), "STORAGE_UNAVAILABLE");
      await late.close();
      server.resume();
      // Only that it answers again: the writes sent while frozen (the store,
      // the delete, the deleteScope...) may all have been applied on resume,
      // since their bytes were already in the server's socket buffer. Hence
      // "may or may not have been applied" in their errors.
      await eventually(() => adapter.retrieve("s", "k"), 5000);
      // Replies that arrive late must not be handed to later commands.
      let last = 0;
      for (let i = 0; i < 20; i++) {
        const { version } = await adapter.store("s", `n${i}`, i);
        assert.ok(version > last);
        last = version;
        const entry = await adapter.retrieve("s", `n${i}`);
        assert.equal(entry?.value, i);
        assert.equal(entry?.version, version);
      }
    } finally {
      server.resume();
      await adapter.close();
    }
  });
});

Deno.test({ name: "redis: no acknowledged write is lost across a crash", ignore }, async () => {
  // appendfsync always: Redis fsyncs the AOF before it replies, so every
  // acknowledged write is on disk when the process is killed with SIGKILL,
  // the harshest stop there is. (Snapshots or appendfsync everysec would
  // lose up to a second of acknowledged writes; that is the operator's
  // trade-off and is documented, not something the adapter can change.)
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "du:", limits: LIMITS });
    try {
      const acknowledged = new Map<string, number>();
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const { version } = await adapter.store("d", `k${i}`, i);
            acknowledged.set(`k${i}`, version);
          } catch (err) {
            if (!isCoordinatorError(err, "STORAGE_UNAVAILABLE")) throw err;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      await server.kill("SIGKILL");
      await new Promise((r) => setTimeout(r, 100));
      stop = true;
      await writer;
      assert.ok(acknowledged.size > 10, `only ${acknowledged.size} writes before the crash`);

      await server.restart();
      await eventually(() => adapter.listKeys("d"), 5000);
      for (const [key, version] of acknowledged) {
        const entry = await adapter.retrieve("d", key);
        assert.equal(entry?.version, version, `${key} survived the crash`);
      }
      const maxVersion = Math.max(...acknowledged.values());
      const next = await adapter.store("d", "after", true);
      assert.ok(next.version > maxVersion, "the version counter survived too");
    } finally {
      await adapter.close();
    }
  }, { durable: true });
});

Deno.test({ name: "redis: unreadable data is CORRUPT_STATE naming the key", ignore }, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "cr:", limits: LIMITS });
    const raw = await rawClient(server.url);
    try {
      await adapter.store("s", "good", 1);
      await adapter.store("s", "bad", 1);
      await raw.send("HSET", "cr:k:s\u0000bad", "value", "{not json");
      const read = await rejectsWithCode(() => adapter.retrieve("s", "bad"), "CORRUPT_STATE");
      assert.match(read.message, /"cr:k:s\\u0000bad"/);
      assert.match(read.message, /not valid JSON/);
      assert.equal(read.details.redis_key, "cr:k:s\u0000bad");
      await rejectsWithCode(() => adapter.listEntries("s"), "CORRUPT_STATE");
      assert.deepEqual(await adapter.listKeys("s"), ["bad", "good"], "names are still readable");
      assert.equal((await adapter.retrieve("s", "good"))?.value, 1, "other keys are fine");

      // A key of the wrong type, for a plain read and for a script.
      await raw.send("DEL", "cr:k:s\u0000bad");
      await raw.send("SET", "cr:k:s\u0000bad", "a string");
      const type = await rejectsWithCode(() => adapter.retrieve("s", "bad"), "CORRUPT_STATE");
      assert.match(type.message, /WRONGTYPE/);
      const write = await rejectsWithCode(() => adapter.store("s", "bad", 2), "CORRUPT_STATE");
      assert.equal(write.details.redis_key, "cr:k:s\u0000bad");
      await rejectsWithCode(() => adapter.delete("s", "bad"), "CORRUPT_STATE");
      await rejectsWithCode(() => adapter.listKeys("s"), "CORRUPT_STATE");

      // Broken bookkeeping fields.
      await adapter.store("t", "v", 1);
      await raw.send("HSET", "cr:k:t\u0000v", "version", "x");
      const version = await rejectsWithCode(() => adapter.retrieve("t", "v"), "CORRUPT_STATE");
      assert.match(version.message, /version/);
      await rejectsWithCode(() => adapter.store("t", "v", 2), "CORRUPT_STATE");
      await raw.send("HSET", "cr:k:t\u0000v", "version", "3", "expires_at", "soon");
      await rejectsWithCode(() => adapter.retrieve("t", "v"), "CORRUPT_STATE");
      await rejectsWithCode(() => adapter.delete("t", "v"), "CORRUPT_STATE");
      await raw.send("HDEL", "cr:k:t\u0000v", "version", "expires_at");
      await rejectsWithCode(() => adapter.retrieve("t", "v"), "CORRUPT_STATE");
      const noVersion = await rejectsWithCode(() => adapter.store("t", "v", 2), "CORRUPT_STATE");
      assert.match(noVersion.message, /no version field/);
      await raw.send("HSET", "cr:k:t\u0000v", "version", "3");
      await raw.send("HDEL", "cr:k:t\u0000v", "updated_at");
      await rejectsWithCode(() => adapter.retrieve("t", "v"), "CORRUPT_STATE");
      await rejectsWithCode(() => adapter.listEntries("t"), "CORRUPT_STATE");
      await raw.send("HDEL", "cr:k:t\u0000v", "value");
      await rejectsWithCode(() => adapter.retrieve("t", "v"), "CORRUPT_STATE");
      await rejectsWithCode(() => adapter.listEntries("t"), "CORRUPT_STATE");

      // A broken version counter names the counter.
      await raw.send("SET", "cr:m:u", "not a hash");
      const meta = await rejectsWithCode(() => adapter.store("u", "k", 1), "CORRUPT_STATE");
      assert.equal(meta.details.redis_key, "cr:m:u");

      // A broken index: the scope is still listed (so it can be found and
      // repaired), reading it says what is wrong, and deleteScope repairs it.
      await adapter.store("w", "k", 1);
      await raw.send("DEL", "cr:i:w");
      await raw.send("SET", "cr:i:w", "not a zset");
      assert.ok((await adapter.listScopes()).includes("w"));
      const index = await rejectsWithCode(() => adapter.listKeys("w"), "CORRUPT_STATE");
      assert.equal(index.details.redis_key, "cr:i:w");

      for (const scope of ["s", "t", "u", "w"]) await adapter.deleteScope(scope);
      assert.deepEqual(await adapter.listScopes(), []);
      await adapter.store("s", "bad", "repaired");
      assert.equal((await adapter.retrieve("s", "bad"))?.value, "repaired");
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({ name: "redis: bookkeeping lost by hand never rewinds versions", ignore }, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "bk:", limits: LIMITS });
    const raw = await rawClient(server.url);
    try {
      let last = 0;
      for (let i = 0; i < 5; i++) last = (await adapter.store("s", "k", i)).version;
      await raw.send("DEL", "bk:m:s");
      assert.ok((await adapter.store("s", "k", 5)).version > last);
      // Even a lost counter and a clock far behind never hand out k's version again.
      await raw.send("DEL", "bk:m:s");
      await raw.send("HSET", "bk:k:s\u0000k", "version", String(Number.MAX_SAFE_INTEGER - 10));
      assert.equal((await adapter.store("s", "k", 5)).version, Number.MAX_SAFE_INTEGER - 9);
      // An index member whose hash vanished is dropped, not listed.
      await adapter.store("s", "ghost", 1);
      await raw.send("DEL", "bk:k:s\u0000ghost");
      assert.deepEqual(await adapter.listKeys("s"), ["k"]);
      assert.deepEqual(await adapter.listScopes("s"), ["s"]);
      await adapter.store("s2", "ghost", 1);
      await raw.send("DEL", "bk:k:s2\u0000ghost");
      assert.deepEqual(await adapter.listScopes("s2"), []);
      // Scripts the server forgot (restart, SCRIPT FLUSH) are loaded again.
      const ghost = await adapter.store("s", "ghost2", 1);
      await raw.send("SCRIPT", "FLUSH");
      assert.equal((await adapter.store("s", "k", 6)).version, ghost.version + 1);
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({ name: "redis: close() ends the connection; later calls fail", ignore }, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "cl:", limits: LIMITS });
    await adapter.store("s", "k", 1);
    await adapter.close();
    await adapter.close();
    for (const [, op] of everyOperation(adapter)) {
      const err = await rejectsWithCode(op, "STORAGE_UNAVAILABLE");
      assert.match(err.message, /closed/);
    }
    // Closing while the server is gone does not hang either.
    const other = await createRedisAdapter({ url: server.url, prefix: "cl:", limits: LIMITS });
    await server.kill("SIGKILL");
    await rejectsWithCode(() => other.retrieve("s", "k"), "STORAGE_UNAVAILABLE");
    await other.close();
  });
});

Deno.test(
  { name: "redis: unreachable at start: serves degraded, then recovers by itself", ignore },
  async () => {
    const server = await startRedisServer({ password: "hunter2" });
    await server.kill();
    const logs: string[] = [];
    const start = performance.now();
    const adapter = await createRedisAdapter({
      url: server.url,
      prefix: "x:",
      limits: LIMITS,
      log: (line) => logs.push(line),
    });
    try {
      assert.ok(performance.now() - start < UNAVAILABLE_WITHIN_MS);
      assert.ok(logs.some((l) => /is unreachable: .*Serving anyway/.test(l)), logs.join("\n"));
      assert.ok(!logs.join("\n").includes("hunter2"));
      const t0 = performance.now();
      const err = await rejectsWithCode(() => adapter.store("s", "k", 1), "STORAGE_UNAVAILABLE");
      assert.ok(performance.now() - t0 < UNAVAILABLE_WITHIN_MS);
      assert.match(
        err.message,
        new RegExp(`redis at 127\\.0\\.0\\.1:${server.port} is unreachable`),
      );
      assert.ok(!errorText(err).includes("hunter2"), errorText(err));
      assert.deepEqual(err.details, { adapter: "redis", host: "127.0.0.1", port: server.port });
      await server.restart();
      const deadline = Date.now() + UNAVAILABLE_WITHIN_MS;
      for (;;) {
        try {
          await adapter.store("s", "k", 1);
          break;
        } catch (e) {
          if (!isCoordinatorError(e, "STORAGE_UNAVAILABLE") || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal((await adapter.retrieve("s", "k"))?.value, 1);
    } finally {
      await adapter.close();
      await server.stop();
    }
  },
);

Deno.test("redis: a server that refuses every command: calls fail clearly, creation does not hang", async () => {
  // A stand-in for a Redis that is still loading its data: every command gets
  // -LOADING. The client connects, but the adapter must not report success.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(4096);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          // One reply per command: each RESP command starts with "*<count>".
          const text = new TextDecoder().decode(buf.subarray(0, n));
          const commands = text.split("\r\n").filter((line) => /^\*\d+$/.test(line)).length;
          const reply = "-LOADING Redis is loading the dataset in memory\r\n".repeat(commands);
          await conn.write(new TextEncoder().encode(reply)).catch(() => {});
        }
      })();
    }
  })();
  try {
    const logs: string[] = [];
    const adapter = await createRedisAdapter({
      url: `redis://127.0.0.1:${port}`,
      prefix: "x:",
      limits: LIMITS,
      log: (line) => logs.push(line),
    });
    try {
      assert.ok(logs.some((l) => /it answered LOADING/.test(l)), logs.join("\n"));
      const err = await rejectsWithCode(() => adapter.retrieve("s", "k"), "STORAGE_UNAVAILABLE");
      assert.match(err.message, /LOADING/);
    } finally {
      await adapter.close();
    }
  } finally {
    listener.close();
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // already closed by the client
      }
    }
    await serving.catch(() => {});
  }
});

Deno.test("redis: redactUrl hides passwords", () => {
  assert.equal(redactUrl("redis://:pw@h:1"), "redis://:***@h:1");
  assert.equal(redactUrl("redis://user:pw@h:1/2"), "redis://user:***@h:1/2");
  assert.equal(redactUrl("rediss://user:p%40w@h"), "rediss://user:***@h");
  assert.equal(redactUrl("redis://justsecret@h:1"), "redis://***@h:1");
  assert.equal(redactUrl("redis://h:6379"), "redis://h:6379");
  assert.equal(redactUrl("not a url //user:pw@host"), "not a url //user:***@host");
  assert.deepEqual(
    redactSecrets({ a: ["redis://u:pw@h:1", "plain", 3], b: { url: "rediss://:x@h" }, c: null }),
    { a: ["redis://u:***@h:1", "plain", 3], b: { url: "rediss://:***@h" }, c: null },
  );
});

Deno.test("redis: storage.config is validated and never echoes a password", async () => {
  const context = { projectRoot: "/tmp", limits: LIMITS };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /^storage\.config\.url: is required/],
    [{ url: 42 }, /^storage\.config\.url: is required/],
    [{ url: "http://user:topsecret@h" }, /^storage\.config\.url: must be a redis:\/\//],
    [{ url: "redis://h", prefix: "" }, /^storage\.config\.prefix: must not be empty/],
    [{ url: "redis://h", prefix: "a\nb" }, /^storage\.config\.prefix: must not contain control/],
    [{ url: "redis://h", connect_timeout_ms: 5 }, /^storage\.config\.connect_timeout_ms: /],
    [{ url: "redis://h", command_timeout_ms: 1.5 }, /^storage\.config\.command_timeout_ms: /],
    [{ url: "redis://h", command_timeout_ms: "1" }, /^storage\.config\.command_timeout_ms: /],
    [{ url: "redis://h", passwd: "x" }, /^storage\.config\.passwd: unknown field/],
    [{ url: "redis://:topsecret@h:0" }, /^storage\.config\.url: .*invalid port/],
    [{ url: "redis://:topsecret@h:99999" }, /^storage\.config\.url: .*not a valid URL/],
    [{ url: "redis://:topsecret@h/x" }, /^storage\.config\.url: .*database number/],
    [{ url: "redis://:topsecret@h?x=1" }, /^storage\.config\.url: .*query/],
    [{ url: "redis://:top%zzsecret@h" }, /^storage\.config\.url: .*percent-encoded/],
    [{ url: "redis://:topsecret@[::1" }, /^storage\.config\.url: .*not a valid URL/],
    [{ url: "redis://" }, /^storage\.config\.url: /],
  ];
  for (const [config, expected] of cases) {
    const err = await rejectsWithCode(() => redisAdapterFactory(config, context), "CONFIG_INVALID");
    assert.match(err.message, expected, JSON.stringify(config));
    assert.ok(!errorText(err).includes("topsecret"), errorText(err));
  }
  // createRedisAdapter checks the URL itself too, for callers that skip the factory.
  const direct = await rejectsWithCode(
    () => createRedisAdapter({ url: "http://:topsecret@h", prefix: "p:", limits: LIMITS }),
    "CONFIG_INVALID",
  );
  assert.match(
    direct.message,
    /^storage\.config\.url: "http:\/\/:\*\*\*@h" must start with redis:\/\//,
  );
  // Not an object at all.
  const err = await rejectsWithCode(
    () => redisAdapterFactory(null as unknown as Record<string, unknown>, context),
    "CONFIG_INVALID",
  );
  assert.match(err.message, /^storage\.config\.url: /);
  const notObject = await rejectsWithCode(
    () => redisAdapterFactory([] as unknown as Record<string, unknown>, context),
    "CONFIG_INVALID",
  );
  assert.match(notObject.message, /^storage\.config: must be an object/);
});

Deno.test({ name: "redis: the factory builds a working adapter", ignore }, async () => {
  await withServer(async (server) => {
    const adapter = await redisAdapterFactory(
      {
        url: server.url + "/3",
        prefix: "fac:",
        connect_timeout_ms: 1000,
        command_timeout_ms: 1000,
      },
      { projectRoot: "/tmp", limits: LIMITS },
    );
    const raw = await rawClient(server.url + "/3");
    try {
      assert.equal(adapter.name, "redis");
      await adapter.store("s", "k", 1);
      assert.equal(await raw.send("EXISTS", "fac:k:s\u0000k"), 1, "database 3 was selected");
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({
  name: "redis: a machine whose clock runs ahead still sees another machine's live claim",
  ignore,
  async fn() {
    await withServer(async (server) => {
      const honest = await createRedisAdapter({ url: server.url, prefix: "clk:", limits: LIMITS });
      const logs: string[] = [];
      // Two minutes ahead: by its own clock, a 60 s claim made now has expired.
      const ahead = await createRedisAdapter({
        url: server.url,
        prefix: "clk:",
        limits: LIMITS,
        localClock: () => Date.now() + 120_000,
        log: (line) => logs.push(line),
      });
      try {
        await honest.store("@project:o/r:claims", "issue-1", "claude_1", { ttlSeconds: 60 });
        assert.equal((await ahead.retrieve("@project:o/r:claims", "issue-1"))?.value, "claude_1");
        await rejectsWithCode(
          () => ahead.store("@project:o/r:claims", "issue-1", "claude_2", { ifVersion: 0 }),
          "VERSION_CONFLICT",
        );
        assert.ok(
          logs.some((l) => /clock runs 1\d\d\.\d s ahead of the server's/.test(l)),
          logs.join("\n"),
        );
      } finally {
        await honest.close();
        await ahead.close();
      }
    });
  },
});

Deno.test({
  name: "redis: a server on this machine leaves this machine's clock as it is",
  ignore,
  async fn() {
    await withServer(async (server) => {
      for (let i = 0; i < 5; i++) {
        const adapter = await createRedisAdapter({
          url: server.url,
          prefix: "clk:",
          limits: LIMITS,
        });
        try {
          await adapter.listKeys("probe");
          const before = Date.now();
          const now = adapter.now();
          const after = Date.now();
          assert.ok(before <= now && now <= after, `${before} <= ${now} <= ${after}`);
        } finally {
          await adapter.close();
        }
      }
    });
  },
});

Deno.test({
  name: "redis: a list limit keeps JavaScript's order where UTF-8 byte order differs",
  ignore,
}, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "lim:", limits: LIMITS });
    try {
      // U+E000..U+FFFF sort after supplementary characters by UTF-8 bytes but
      // before them in UTF-16, JavaScript's order; the script sorts and
      // applies the limit (by the lexicographic index), so it must agree.
      const keys = [
        "\uE000",
        "\uFFFD",
        "\uFF21",
        "😀",
        "𝄞",
        "\uD7FF",
        "a",
        "é",
        "k:\uFFFF",
        "k:😀",
        "k:a",
        "k:",
      ];
      for (const key of keys) await adapter.store("s", key, key, { heldBy: "h" });
      const sorted = [...keys].sort();
      for (let limit = 0; limit <= keys.length; limit++) {
        assert.deepEqual(await adapter.listKeys("s", { limit }), sorted.slice(0, limit));
        const entries = await adapter.listEntries("s", { limit });
        assert.deepEqual(entries.map((e) => e.entry.value), sorted.slice(0, limit));
        const prefixed = sorted.filter((k) => k.startsWith("k:"));
        assert.deepEqual(
          await adapter.listKeys("s", { prefix: "k:", limit }),
          prefixed.slice(0, limit),
        );
      }
    } finally {
      await adapter.close();
    }
  });
});
