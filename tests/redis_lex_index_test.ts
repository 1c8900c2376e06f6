/**
 * The Redis adapter's lexicographic index (`P l:<scope>`, see scripts.ts):
 * a listing with a prefix and a limit reads only what it returns, in
 * JavaScript's order for keys of any characters; every write keeps the index
 * equal to the key index; and data written before the index existed is
 * indexed on first use.
 *
 * Seeded: the seed is printed, and `LEX_SEED=<n>` replays a run.
 */
import assert from "node:assert/strict";
import type { AdapterLimits, StorageAdapter } from "../src/storage/contract.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "../src/storage/contract.ts";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { lexHex } from "../src/storage/redis/scripts.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";
import { type RawClient, rawClient, skipRedisTests, withServer } from "./_redis_server.ts";

const ignore = skipRedisTests();
const LIMITS: AdapterLimits = { maxValueBytes: DEFAULT_MAX_VALUE_BYTES };
const SEED = Number(Deno.env.get("LEX_SEED") || crypto.getRandomValues(new Uint32Array(1))[0]);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
    chance: (p: number) => next() < p,
  };
}

/**
 * Characters where UTF-8 byte order and UTF-16 order part ways (U+E000..U+FFFF
 * against supplementary characters), around the surrogate range, one to four
 * UTF-8 bytes long, and a few ASCII ones so that prefixes share a lot.
 */
const ALPHABET = [
  "a",
  "b",
  "r",
  ":",
  "~",
  "é",
  "\u07FF",
  "\u0800",
  "日",
  "\uD7FF",
  "\uE000",
  "\uFEFF",
  "\uFF21",
  "\uFFFD",
  "\uFFFF",
  "\u{10000}",
  "😀",
  "😁",
  "𝄞",
  "\u{10FFFF}",
];

/** The key a lexicographic index member ends in (after the hex and NUL). */
function lexMember(key: string): string {
  return `${lexHex(key)}\u0000${key}`;
}

/** What the contract promises: live keys starting with the prefix, JavaScript's order, at most limit. */
function reference(live: Iterable<string>, prefix: string, limit: number | undefined): string[] {
  return [...live].filter((k) => k.startsWith(prefix)).sort().slice(0, limit);
}

/**
 * Fails unless the lexicographic index holds exactly one member per key
 * index member, as the TypeScript encoding computes it, with score 0: the
 * invariant every script keeps. Checked on the raw data, not through a
 * listing, since a listing would mend a difference in size (sync_lex).
 */
async function assertIndexesAgree(raw: RawClient, prefix: string, scope: string, what: string) {
  const keys = (await raw.send("ZRANGE", `${prefix}i:${scope}`, "0", "-1")) as string[];
  const lexed =
    (await raw.send("ZRANGE", `${prefix}l:${scope}`, "0", "-1", "WITHSCORES")) as string[];
  const members = lexed.filter((_, i) => i % 2 === 0);
  const scores = new Set(lexed.filter((_, i) => i % 2 === 1));
  assert.deepEqual(members.sort(), keys.map(lexMember).sort(), `${what}: the two indexes differ`);
  assert.ok(scores.size === 0 || (scores.size === 1 && scores.has("0")), `${what}: scores`);
}

/** Calls of each Redis command (scripts' inner commands included) while `fn` runs. */
async function commandCalls(raw: RawClient, fn: () => Promise<unknown>) {
  await raw.send("CONFIG", "RESETSTAT");
  await fn();
  const stats = String(await raw.send("INFO", "commandstats"));
  const calls: Record<string, number> = {};
  for (const [, name, n] of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[name] = Number(n);
  }
  // CONFIG RESETSTAT may count itself; INFO counts only once it has answered.
  delete calls.config;
  delete calls["config|resetstat"];
  return calls;
}

/** Writes `keys` (value = the key) in batches of 500, as the brief's load does. */
async function writeAll(adapter: StorageAdapter, scope: string, keys: string[]) {
  for (let i = 0; i < keys.length; i += 500) {
    await adapter.writeBatch(
      scope,
      keys.slice(i, i + 500).map((key) => ({ op: "set" as const, key, value: key })),
    );
  }
}

Deno.test({
  name: `redis: prefix listings agree with JavaScript for random keys and prefixes (seed ${SEED})`,
  ignore,
}, async () => {
  console.log(`seed ${SEED} (LEX_SEED=${SEED} replays it)`);
  const r = rng(SEED);
  await withServer(async (server) => {
    let clock = Date.now();
    const adapter = await createRedisAdapter({
      url: server.url,
      prefix: "lx:",
      limits: LIMITS,
      now: () => clock,
    });
    const raw = await rawClient(server.url);
    try {
      const word = (min: number, max: number) =>
        Array.from({ length: r.int(min, max) }, () => r.pick(ALPHABET)).join("");
      const live = new Set<string>();
      while (live.size < 400) live.add(word(1, 6));
      // A tenth expire (by the adapter's clock, below), a tenth are deleted
      // by hand behind the adapter's back (as Redis's own expiry would).
      const all = [...live];
      const expiring = new Set(all.filter(() => r.chance(0.1)));
      const vanishing = new Set(all.filter((k) => !expiring.has(k) && r.chance(0.1)));
      await writeAll(adapter, "s", all.filter((k) => !expiring.has(k)));
      for (const key of expiring) await adapter.store("s", key, key, { ttlSeconds: 600 });
      await assertIndexesAgree(raw, "lx:", "s", "after the writes");

      /** Random prefixes: of real keys (also cut inside a surrogate pair), random text, halves of pairs. */
      const prefixes = () => {
        const key = r.pick(all);
        const cut = key.slice(0, r.int(0, key.length));
        return r.pick([cut, cut, cut, word(0, 2), "\uD83D", "\uDE00", "\uD834", "\uDBFF", ""]);
      };
      const check = async (round: string) => {
        for (let i = 0; i < 150; i++) {
          const prefix = prefixes();
          const limit = r.chance(0.2) ? undefined : r.int(0, 30);
          const want = reference(live, prefix, limit);
          const what = `${round}: prefix ${JSON.stringify(prefix)}, limit ${limit} (seed ${SEED})`;
          assert.deepEqual(await adapter.listKeys("s", { prefix, limit }), want, what);
          if (i % 5 === 0) {
            const entries = await adapter.listEntries("s", { prefix, limit });
            assert.deepEqual(entries.map((e) => e.key), want, what);
            assert.deepEqual(entries.map((e) => e.entry.value), want, what);
          }
        }
      };
      await check("all live");
      assert.deepEqual(
        await adapter.listKeys("s", { limit: Number.MAX_SAFE_INTEGER }),
        [...live].sort(),
        "the largest limit",
      );

      // Expired by the adapter's clock (Redis still holds the hashes), and
      // vanished hashes still in both indexes: listings skip and purge them.
      clock += 3600_000;
      for (const key of expiring) live.delete(key);
      for (const key of vanishing) {
        live.delete(key);
        await raw.send("DEL", `lx:k:s\u0000${key}`);
      }
      await check("with dead keys");
      await assertIndexesAgree(raw, "lx:", "s", "after listings purged");
      assert.deepEqual(await adapter.listKeys("s"), [...live].sort());
      assert.equal(await raw.send("ZCARD", "lx:i:s"), live.size, "every dead member purged");
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({
  name: "redis: listing 64 of 20,000 keys runs the same commands as listing 64 of 100",
  ignore,
}, async () => {
  await withServer(async (server) => {
    const adapter = await createRedisAdapter({ url: server.url, prefix: "big:", limits: LIMITS });
    const raw = await rawClient(server.url);
    try {
      // The board's layout: a record, a ready entry and a dependency entry per task.
      const board = (tasks: number) =>
        Array.from({ length: tasks }, (_, i) => String(i).padStart(6, "0"))
          .flatMap((id) => [`t:${id}`, `r:5:${id}`, `d:${id}`]);
      const large = board(6667).slice(0, 20_000);
      // 100 keys, enough of them ready entries to fill the window.
      const small = board(70).filter((k) => k.startsWith("r:")).concat(
        board(30).filter((k) => k.startsWith("t:")),
      );
      await writeAll(adapter, "small", small);
      await writeAll(adapter, "large", large);
      assert.equal(await raw.send("ZCARD", "big:l:small"), 100);
      assert.equal(await raw.send("ZCARD", "big:l:large"), 20_000);

      const want = large.filter((k) => k.startsWith("r:")).sort().slice(0, 64);
      // Once before counting, so the server has the script cached (EVALSHA, no EVAL).
      await adapter.listKeys("small", { limit: 1 });
      let got: string[] = [];
      const largeCalls = await commandCalls(raw, async () => {
        got = (await adapter.listEntries("large", { prefix: "r:", limit: 64 })).map((e) => e.key);
      });
      assert.deepEqual(got, want);
      assert.equal(got.length, 64);
      const smallCalls = await commandCalls(raw, async () => {
        const entries = await adapter.listEntries("small", { prefix: "r:", limit: 64 });
        assert.equal(entries.length, 64);
      });
      // The same commands, as often, whatever the scope's size: the cost
      // depends on the limit alone. (Not timed: timings are for benchmarks.)
      assert.deepEqual(largeCalls, smallCalls);
      assert.equal(largeCalls.zrangebylex, 1, JSON.stringify(largeCalls));
      assert.equal(largeCalls.zrange, undefined, "the whole index is never read");
      assert.ok(largeCalls.hmget <= 2 * 64, JSON.stringify(largeCalls));
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({ name: "redis: every write keeps the two indexes equal", ignore }, async (t) => {
  await withServer(async (server) => {
    let clock = Date.now();
    const adapter = await createRedisAdapter({
      url: server.url,
      prefix: "dr:",
      limits: LIMITS,
      now: () => clock,
    });
    const raw = await rawClient(server.url);
    const agree = (what: string) => assertIndexesAgree(raw, "dr:", "s", what);
    const first = (limit = 3) => adapter.listKeys("s", { prefix: "k", limit });
    try {
      await t.step("store, overwrite, batch, restore", async () => {
        for (const key of ["k1", "k2", "k😀", "k\uFFFD", "k3"]) await adapter.store("s", key, 1);
        await agree("after stores");
        await adapter.store("s", "k1", 2, { ttlSeconds: 60 });
        await agree("after an overwrite with a TTL");
        await adapter.writeBatch("s", [
          { op: "set", key: "k4", value: 1 },
          { op: "delete", key: "k2" },
          { op: "delete", key: "never" },
          { op: "check", key: "k3", ifVersion: (await adapter.retrieve("s", "k3"))!.version },
        ]);
        await agree("after a batch");
        const entry = (await adapter.retrieve("s", "k3"))!;
        assert.equal(await adapter.restore("s", "k0", entry), true);
        assert.equal(
          await adapter.restore("s", "kx", {
            ...entry,
            expiresAt: new Date(clock - 1).toISOString(),
          }),
          false,
        );
        await agree("after restores");
        assert.deepEqual(await first(), ["k0", "k1", "k3"]);
      });

      await t.step("a deleted key leaves a limited listing", async () => {
        assert.equal(await adapter.delete("s", "k0"), true);
        await agree("after a delete");
        assert.deepEqual(await first(), ["k1", "k3", "k4"]);
      });

      await t.step("an expired key leaves a limited listing", async () => {
        clock += 61_000; // k1's TTL is over by the adapter's clock
        assert.deepEqual(await first(), ["k3", "k4", "k😀"]);
        await agree("after a listing purged an expired key");
        assert.equal(await raw.send("ZCARD", "dr:l:s"), 4);
      });

      await t.step("listScopes purges dead members from both", async () => {
        await adapter.store("s", "k5", 1, { ttlSeconds: 1 });
        clock += 2000;
        await raw.send("DEL", "dr:k:s\u0000k3"); // vanished behind the adapter's back
        assert.deepEqual(await adapter.listScopes(), ["s"]);
        await agree("after listScopes");
        for (const key of ["k4", "k😀", "k\uFFFD"]) await adapter.delete("s", key);
        assert.deepEqual(await adapter.listScopes(), []);
        assert.equal(
          await raw.send("EXISTS", "dr:i:s", "dr:l:s"),
          0,
          "an emptied scope leaves no index",
        );
      });

      await t.step("deleteScope removes both", async () => {
        await adapter.store("s", "k1", 1);
        assert.equal(await adapter.deleteScope("s"), true);
        assert.equal(await raw.send("EXISTS", "dr:i:s", "dr:l:s"), 0);
      });

      await t.step(
        "a damaged index is CORRUPT_STATE naming it, and deleteScope repairs it",
        async () => {
          await adapter.store("s", "k1", 1);
          await raw.send("DEL", "dr:l:s");
          await raw.send("SET", "dr:l:s", "not a zset");
          for (const op of [() => adapter.listKeys("s"), () => adapter.store("s", "k2", 1)]) {
            const err = await rejectsWithCode(op, "CORRUPT_STATE");
            assert.equal(err.details.redis_key, "dr:l:s");
          }
          assert.deepEqual(await adapter.listScopes(), ["s"], "a damaged scope is still listed");
          assert.equal(await adapter.deleteScope("s"), true);
          await adapter.store("s", "k1", 1);
          assert.deepEqual(await first(), ["k1"]);
          await agree("after the repair");
        },
      );
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});

Deno.test({
  name: "redis: data written before the lexicographic index is indexed on first use",
  ignore,
}, async () => {
  const r = rng(SEED ^ 0x5bd1e995);
  await withServer(async (server) => {
    const raw = await rawClient(server.url);
    const now = Date.now();
    /** The layout before `l:` existed: hash, key index, counter, scopes set. */
    const writeOld = async (scope: string, key: string, version: number, expiresAt?: number) => {
      const fields = [
        "value",
        JSON.stringify(key),
        "version",
        String(version),
        "updated_at",
        new Date(now).toISOString(),
      ];
      if (expiresAt !== undefined) fields.push("expires_at", String(expiresAt));
      await raw.send("HSET", `old:k:${scope}\u0000${key}`, ...fields);
      if (expiresAt !== undefined) {
        await raw.send("PEXPIREAT", `old:k:${scope}\u0000${key}`, String(expiresAt));
      }
      await raw.send(
        "ZADD",
        `old:i:${scope}`,
        expiresAt === undefined ? "+inf" : String(expiresAt),
        key,
      );
      await raw.send("HSET", `old:m:${scope}`, "seq", String(version));
      await raw.send("SADD", "old:scopes", scope);
    };
    const keys = new Set<string>();
    while (keys.size < 300) {
      keys.add(Array.from({ length: r.int(1, 5) }, () => r.pick(ALPHABET)).join(""));
    }
    const all = [...keys];
    let version = 1;
    for (const key of all) {
      await writeOld("a", key, version++);
      await writeOld("b", key, version++);
    }
    // An entry expired long ago whose hash is gone, and one still in the
    // index whose hash vanished: old data can hold both.
    await raw.send("ZADD", "old:i:a", String(now - 1000), "expired-long-ago");
    await raw.send("ZADD", "old:i:a", "+inf", "vanished");
    await raw.send("SADD", "old:scopes", "c");
    await writeOld("c", "only", version++, now + 600_000);

    const adapter = await createRedisAdapter({ url: server.url, prefix: "old:", limits: LIMITS });
    try {
      assert.equal(
        await raw.send("EXISTS", "old:l:a", "old:l:b", "old:l:c"),
        0,
        "no lex index yet",
      );
      // Scope a: written to and deleted from before its first listing.
      const live = new Set(all);
      await adapter.store("a", "r:new", 1);
      live.add("r:new");
      const gone = all[0];
      assert.equal(await adapter.delete("a", gone), true);
      live.delete(gone);
      for (const prefix of ["", "r", "a", "😀", "\uD83D", "\uE000", "\uFFFF"]) {
        for (const limit of [0, 1, 7, 64, undefined]) {
          assert.deepEqual(
            await adapter.listKeys("a", { prefix, limit }),
            reference(live, prefix, limit),
            `prefix ${JSON.stringify(prefix)}, limit ${limit}`,
          );
        }
      }
      // The index the script built is the one TypeScript computes: the
      // scripts' UTF-8 decoding agrees with lexHex on every character.
      await assertIndexesAgree(raw, "old:", "a", "after the build");
      assert.equal(await raw.send("ZCARD", "old:l:a"), live.size);
      // Built once: the next listing only reads what it returns.
      const calls = await commandCalls(raw, () => adapter.listKeys("a", { prefix: "r", limit: 5 }));
      assert.equal(calls.zrange, undefined, JSON.stringify(calls));
      assert.equal(calls.zadd, undefined, JSON.stringify(calls));

      // Scope b: listed whole, with entries.
      const entries = await adapter.listEntries("b");
      assert.deepEqual(entries.map((e) => e.key), [...all].sort());
      assert.deepEqual(entries.map((e) => e.entry.value), [...all].sort());
      await assertIndexesAgree(raw, "old:", "b", "scope b");
      // Scope c: reached through listScopes first, which keeps both indexes equal too.
      assert.deepEqual(await adapter.listScopes(), ["a", "b", "c"]);
      assert.deepEqual(
        await adapter.listEntries("c", { prefix: "o", limit: 1 }).then((e) => e.map((x) => x.key)),
        [
          "only",
        ],
      );
      await assertIndexesAgree(raw, "old:", "c", "scope c");
      // New versions stay above the old ones.
      const newest = Math.max(...entries.map((e) => e.entry.version));
      assert.ok((await adapter.store("b", "later", 1)).version > newest);
    } finally {
      raw.close();
      await adapter.close();
    }
  });
});
