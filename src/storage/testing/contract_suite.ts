/**
 * The storage contract suite: one set of tests every adapter must pass. It
 * proves the semantics in the header of src/storage/contract.ts through the
 * public StorageAdapter interface only, so it holds nothing adapter-specific.
 *
 * Usage, from an adapter's test file:
 *   runStorageContract("local", async (limits, now) => {
 *     const adapter = await createMyAdapter({ limits, now });
 *     return { adapter, cleanup: async () => { await adapter.close(); ... } };
 *   });
 */
import assert from "node:assert/strict";
import {
  type CoordinatorError,
  describeError,
  type ErrorCode,
  isCoordinatorError,
} from "../../core/errors.ts";

export type { CoordinatorError, ErrorCode };
import type { JsonValue } from "../../core/json.ts";
import {
  type AdapterLimits,
  type BatchOp,
  type Change,
  DEFAULT_MAX_VALUE_BYTES,
  type Entry,
  type Guard,
  MAX_BATCH_OPS,
  type StorageAdapter,
  versionSeed,
} from "../contract.ts";
import { isGuardFailure, MAX_TTL_SECONDS } from "../values.ts";

/** What MakeAdapter gives a contract test. */
export interface AdapterUnderTest {
  /** The adapter under test, on a fresh, empty backend. */
  adapter: StorageAdapter;
  /**
   * Opens another handle on the same backend, as another process (or
   * machine) would: it must see the first handle's writes and changes.
   * The suite closes every handle it opens.
   */
  open: () => Promise<StorageAdapter>;
  /**
   * Empties the backend behind the handles' backs, as a server restarted
   * without persistence or a deleted state directory does. Omit when the
   * backend cannot be wiped; the wipe tests then do not run.
   */
  wipe?: () => Promise<void>;
  /** Closes the adapter and removes everything it created. */
  cleanup: () => Promise<void>;
}

/**
 * Builds a fresh, empty adapter. `now` is a clock in epoch ms the adapter
 * should use for expiry and times when it can (adapters whose backend keeps
 * its own clock, like Redis, may ignore it; the suite then waits in real
 * time), for every handle it opens.
 */
export type MakeAdapter = (
  limits: AdapterLimits,
  now?: () => number,
) => Promise<AdapterUnderTest>;

/** A clock that runs with real time but can be moved forward by the test. */
interface TestClock {
  now: () => number;
  advance: (ms: number) => void;
}

interface Ctx {
  adapter: StorageAdapter;
  /** Another handle on the same backend (opened on first use). */
  other: () => Promise<StorageAdapter>;
  wipe: (() => Promise<void>) | undefined;
  clock: TestClock;
  t: Deno.TestContext;
}

const LIMITS: AdapterLimits = { maxValueBytes: DEFAULT_MAX_VALUE_BYTES };

/** Awaits `fn` and returns its CoordinatorError, failing unless it has `code`. */
export async function rejectsWithCode(
  fn: () => Promise<unknown>,
  code: ErrorCode,
): Promise<CoordinatorError> {
  let result: unknown;
  try {
    result = await fn();
  } catch (err) {
    if (isCoordinatorError(err, code)) return err;
    assert.fail(`expected ${code}, got ${describeError(err)}`);
  }
  assert.fail(`expected ${code}, but the call returned ${JSON.stringify(result)}`);
}

/** Scope names that stress any mapping of names to files, keys or paths. */
export const AWKWARD_SCOPES: readonly string[] = [
  "team/project/task",
  "/absolute/path",
  "trailing/",
  "proj:alpha:beta",
  "a__b",
  "__",
  "..",
  ".",
  "../../etc/passwd",
  "..\\..\\windows\\system32",
  "C:\\temp",
  "日本語のスコープ",
  "Ünïcödé",
  "UPPER",
  "upper",
  "con",
  "CON",
  "nul.txt",
  ".hidden",
  "%h-deadbeef.json",
  "x.json",
  "a b",
  "~+%",
  "*?[]!{}",
  "emoji 😀",
  "\ufeffleading BOM",
  "s".repeat(256),
  "é".repeat(256),
  "😀".repeat(256),
  "a:/".repeat(85) + "z",
];

/** Registers the contract tests for one adapter. */
export function runStorageContract(name: string, makeAdapter: MakeAdapter): void {
  function contract(
    title: string,
    fn: (ctx: Ctx) => Promise<void>,
    limits: AdapterLimits = LIMITS,
  ): void {
    Deno.test(`${name} contract: ${title}`, async (t) => {
      let skew = 0;
      const clock: TestClock = {
        now: () => Date.now() + skew,
        advance: (ms) => {
          skew += ms;
        },
      };
      const made = await makeAdapter(limits, clock.now);
      const handles: StorageAdapter[] = [];
      let second: Promise<StorageAdapter> | null = null;
      const other = () => {
        second ??= made.open().then((h) => (handles.push(h), h));
        return second;
      };
      try {
        await fn({ adapter: made.adapter, other, wipe: made.wipe, clock, t });
      } finally {
        for (const h of handles) await h.close().catch(() => {});
        await made.cleanup();
      }
    });
  }

  contract("stores and retrieves any JSON value", async ({ adapter, t }) => {
    const values: Record<string, JsonValue> = {
      object: { a: 1, b: [true, false, null], c: { d: "e" } },
      emptyObject: {},
      array: [1, "two", { three: 3 }, [4]],
      emptyArray: [],
      string: "plain",
      emptyString: "",
      unicode: 'héllo wörld ✓ 日本語 😀 "quoted" \\ back\nnew\tline \u0000 nul',
      integer: 42,
      negative: -17,
      float: 0.1,
      big: Number.MAX_SAFE_INTEGER,
      huge: 1e308,
      zero: 0,
      null: null,
      true: true,
      false: false,
      protoKeys: JSON.parse('{"__proto__": {"x": 1}, "constructor": 2, "toString": "s"}'),
      deep: JSON.parse("[".repeat(60) + "1" + "]".repeat(60)),
    };
    for (const [key, value] of Object.entries(values)) {
      await t.step(key, async () => {
        const stored = await adapter.store("values", key, value);
        const entry = await adapter.retrieve("values", key);
        assert.ok(entry, `${key} is retrievable`);
        assert.deepEqual(entry.value, value);
        assert.equal(entry.version, stored.version);
        assert.equal(entry.updatedAt, stored.updatedAt);
        assert.ok(!Number.isNaN(Date.parse(entry.updatedAt)), "updatedAt is an ISO time");
        assert.equal(entry.expiresAt, null);
        assert.equal(stored.expiresAt, null);
      });
    }
    await t.step("a value can change type", async () => {
      await adapter.store("values", "string", [1, 2]);
      assert.deepEqual((await adapter.retrieve("values", "string"))?.value, [1, 2]);
    });
    await t.step("absent keys and scopes read as null", async () => {
      assert.equal(await adapter.retrieve("values", "missing"), null);
      assert.equal(await adapter.retrieve("no-such-scope", "k"), null);
      assert.deepEqual(await adapter.listKeys("no-such-scope"), []);
      assert.deepEqual(await adapter.listEntries("no-such-scope"), []);
    });
    await t.step("the stored value is a copy", async () => {
      const value = { list: [1] };
      await adapter.store("values", "copy", value);
      value.list.push(2);
      const first = await adapter.retrieve("values", "copy");
      assert.deepEqual(first?.value, { list: [1] });
      (first!.value as { list: number[] }).list.push(3);
      assert.deepEqual((await adapter.retrieve("values", "copy"))?.value, { list: [1] });
    });
    await t.step("keys that are special in JavaScript are plain keys", async () => {
      for (const key of ["__proto__", "constructor", "hasOwnProperty", "toString"]) {
        await adapter.store("proto", key, key);
      }
      assert.deepEqual(await adapter.listKeys("proto"), [
        "__proto__",
        "constructor",
        "hasOwnProperty",
        "toString",
      ]);
      assert.equal((await adapter.retrieve("proto", "__proto__"))?.value, "__proto__");
      assert.equal(await adapter.retrieve("proto", "valueOf"), null);
    });
  });

  contract("versions grow with every write and are never reused", async ({ adapter }) => {
    const a1 = (await adapter.store("v", "a", 1)).version;
    assert.ok(Number.isSafeInteger(a1) && a1 > 0, "a version is a positive integer");
    const a2 = (await adapter.store("v", "a", 2)).version;
    assert.ok(a2 > a1, "rewriting a key raises its version");
    const b1 = (await adapter.store("v", "b", 1)).version;
    assert.ok(b1 > a2, "a new key gets a version above any handed out in the scope");
    assert.equal(await adapter.delete("v", "a"), true);
    const a3 = (await adapter.store("v", "a", 3)).version;
    assert.ok(a3 > b1, "a re-created key never reuses an old version");
    // Empty the scope entirely (without deleteScope): versions still grow.
    assert.equal(await adapter.delete("v", "a"), true);
    assert.equal(await adapter.delete("v", "b"), true);
    assert.deepEqual(await adapter.listKeys("v"), []);
    const a4 = (await adapter.store("v", "a", 4)).version;
    assert.ok(a4 > a3, "an emptied scope keeps counting");
    assert.equal((await adapter.retrieve("v", "a"))?.version, a4);
    // Scopes count independently: another scope's writes do not matter here.
    const other = (await adapter.store("v2", "a", 1)).version;
    assert.ok(other > 0);
  });

  contract("ifVersion makes a store conditional", async ({ adapter, t }) => {
    await t.step("0 stores only when the key is absent", async () => {
      const first = await adapter.store("cas", "k", "first", { ifVersion: 0 });
      const err = await rejectsWithCode(
        () => adapter.store("cas", "k", "second", { ifVersion: 0 }),
        "VERSION_CONFLICT",
      );
      assert.equal(err.details.current_version, first.version);
      assert.equal((await adapter.retrieve("cas", "k"))?.value, "first");
    });
    await t.step("n stores only when the current version is n", async () => {
      const current = (await adapter.retrieve("cas", "k"))!.version;
      const next = await adapter.store("cas", "k", "third", { ifVersion: current });
      assert.ok(next.version > current);
      const err = await rejectsWithCode(
        () => adapter.store("cas", "k", "stale", { ifVersion: current }),
        "VERSION_CONFLICT",
      );
      assert.equal(err.details.current_version, next.version);
      const entry = await adapter.retrieve("cas", "k");
      assert.equal(entry?.value, "third", "a refused store changes nothing");
      assert.equal(entry?.version, next.version);
    });
    await t.step("n > 0 on an absent key conflicts with current_version 0", async () => {
      const err = await rejectsWithCode(
        () => adapter.store("cas", "absent", 1, { ifVersion: 5 }),
        "VERSION_CONFLICT",
      );
      assert.equal(err.details.current_version, 0);
      assert.equal(await adapter.retrieve("cas", "absent"), null);
      const other = await rejectsWithCode(
        () => adapter.store("cas-no-scope", "absent", 1, { ifVersion: 1 }),
        "VERSION_CONFLICT",
      );
      assert.equal(other.details.current_version, 0);
    });
  });

  contract("ifVersion makes a delete conditional", async ({ adapter }) => {
    assert.equal(await adapter.delete("del", "absent"), false, "deleting nothing is false");
    assert.equal(await adapter.delete("never-written", "k"), false);
    assert.equal(await adapter.delete("del", "absent", { ifVersion: 0 }), false);
    const conflictAbsent = await rejectsWithCode(
      () => adapter.delete("del", "absent", { ifVersion: 3 }),
      "VERSION_CONFLICT",
    );
    assert.equal(conflictAbsent.details.current_version, 0);
    const { version } = await adapter.store("del", "k", "v");
    const zero = await rejectsWithCode(
      () => adapter.delete("del", "k", { ifVersion: 0 }),
      "VERSION_CONFLICT",
    );
    assert.equal(zero.details.current_version, version);
    const wrong = await rejectsWithCode(
      () => adapter.delete("del", "k", { ifVersion: version + 1 }),
      "VERSION_CONFLICT",
    );
    assert.equal(wrong.details.current_version, version);
    assert.equal((await adapter.retrieve("del", "k"))?.value, "v", "a refused delete keeps it");
    assert.equal(await adapter.delete("del", "k", { ifVersion: version }), true);
    assert.equal(await adapter.retrieve("del", "k"), null);
    assert.equal(await adapter.delete("del", "k"), false);
  });

  contract("ttlSeconds expires keys everywhere", async ({ adapter, clock, t }) => {
    // Adapters that take the injected clock expire keys when it moves;
    // others (Redis) keep real time, so the suite then sleeps for real.
    await adapter.store("probe", "p", 1, { ttlSeconds: 1 });
    clock.advance(5_000);
    const followsClock = (await adapter.retrieve("probe", "p")) === null;
    await adapter.deleteScope("probe");
    const now = followsClock ? clock.now : Date.now;
    const passTime = async (ms: number) => {
      clock.advance(ms);
      if (!followsClock) await new Promise((r) => setTimeout(r, ms));
    };

    const before = now();
    const k1 = await adapter.store("ttl:a", "k1", "soon gone", { ttlSeconds: 0.5 });
    await adapter.store("ttl:a", "k2", "was expiring", { ttlSeconds: 0.5 });
    const k2 = await adapter.store("ttl:a", "k2", "now permanent");
    await adapter.store("ttl:a", "k3", "permanent");
    const k4 = await adapter.store("ttl:a", "k4", "long", { ttlSeconds: 60 });
    await adapter.store("ttl:only", "x", "expiring", { ttlSeconds: 0.5 });
    const after = now();

    await t.step("a store reports and records the expiry", async () => {
      assert.ok(k1.expiresAt !== null);
      assert.equal((await adapter.retrieve("ttl:a", "k1"))?.expiresAt, k1.expiresAt);
      const expires = Date.parse(k4.expiresAt!);
      assert.ok(
        expires >= before + 60_000 - 1_000 && expires <= after + 60_000 + 1_000,
        `expiresAt ${k4.expiresAt} is about 60 s after the write`,
      );
    });
    await t.step("a store without ttlSeconds clears the expiry", async () => {
      assert.equal(k2.expiresAt, null);
      assert.equal((await adapter.retrieve("ttl:a", "k2"))?.expiresAt, null);
    });
    await t.step("live keys are visible before they expire", async () => {
      assert.deepEqual(await adapter.listKeys("ttl:a"), ["k1", "k2", "k3", "k4"]);
      assert.deepEqual(await adapter.listScopes("ttl:*"), ["ttl:a", "ttl:only"]);
    });

    await passTime(700);

    await t.step("expired keys are invisible to every read", async () => {
      assert.equal(await adapter.retrieve("ttl:a", "k1"), null);
      assert.equal(await adapter.retrieve("ttl:only", "x"), null);
      assert.deepEqual(await adapter.listKeys("ttl:a"), ["k2", "k3", "k4"]);
      assert.deepEqual((await adapter.listEntries("ttl:a")).map((e) => e.key), [
        "k2",
        "k3",
        "k4",
      ]);
      assert.deepEqual(await adapter.listKeys("ttl:only"), []);
      assert.deepEqual(await adapter.listScopes("ttl:*"), ["ttl:a"], "no live key, no scope");
      assert.equal((await adapter.retrieve("ttl:a", "k2"))?.value, "now permanent");
    });
    await t.step("an expired key is absent for ifVersion", async () => {
      const err = await rejectsWithCode(
        () => adapter.store("ttl:a", "k1", "again", { ifVersion: k1.version }),
        "VERSION_CONFLICT",
      );
      assert.equal(err.details.current_version, 0);
      const del = await rejectsWithCode(
        () => adapter.delete("ttl:a", "k1", { ifVersion: k1.version }),
        "VERSION_CONFLICT",
      );
      assert.equal(del.details.current_version, 0);
      assert.equal(await adapter.delete("ttl:a", "k1"), false);
      const again = await adapter.store("ttl:a", "k1", "again", { ifVersion: 0 });
      assert.ok(again.version > k4.version, "an expired key's version is not reused");
    });
    await t.step("deleteScope of a scope with only expired keys is false", async () => {
      assert.equal(await adapter.deleteScope("ttl:only"), false);
    });
  });

  contract("listKeys and listEntries are sorted and complete", async ({ adapter }) => {
    // "\ufeff" and "😀" sort one way by UTF-16 code units (JavaScript's order)
    // and the other by UTF-8 bytes: a listing with a limit must follow the former.
    const keys = ["m", "b", "Z", "a", "a:b", "a/b", "é", "0", "zz", "日本", "\ufeff", "😀"];
    const written = new Map<string, number>();
    for (const key of keys) {
      written.set(key, (await adapter.store("ls", key, { key }, { updatedBy: "s1" })).version);
    }
    const sorted = [...keys].sort();
    assert.deepEqual(await adapter.listKeys("ls"), sorted);
    assert.deepEqual(await adapter.listKeys("ls", { limit: keys.length - 1 }), sorted.slice(0, -1));
    const entries = await adapter.listEntries("ls");
    assert.deepEqual(entries.map((e) => e.key), sorted);
    for (const { key, entry } of entries) {
      assert.deepEqual(entry.value, { key });
      assert.equal(entry.version, written.get(key));
      assert.equal(entry.updatedBy, "s1");
      assert.deepEqual(entry, await adapter.retrieve("ls", key));
    }
    assert.equal(await adapter.delete("ls", "m"), true);
    assert.deepEqual(await adapter.listKeys("ls"), sorted.filter((k) => k !== "m"));
  });

  contract("listScopes filters with fnmatch globs", async ({ adapter, t }) => {
    const scopes = ["proj:alpha", "proj:beta/x", "proj:gamma", "other:alpha", "a1", "b2", "c3"];
    for (const scope of [...scopes, "Cap"]) await adapter.store(scope, "k", 1);
    await adapter.store("emptied", "k", 1);
    await adapter.delete("emptied", "k");
    const cases: [string | undefined, string[]][] = [
      [undefined, [...scopes, "Cap"].sort()],
      ["*", [...scopes, "Cap"].sort()],
      ["proj:*", ["proj:alpha", "proj:beta/x", "proj:gamma"]],
      ["*alpha", ["other:alpha", "proj:alpha"]],
      ["proj*x", ["proj:beta/x"]],
      ["proj:beta*", ["proj:beta/x"]],
      ["proj:?eta/x", ["proj:beta/x"]],
      ["??", ["a1", "b2", "c3"]],
      ["[ab]?", ["a1", "b2"]],
      ["[!ab]?", ["c3"]],
      ["[a-b][0-9]", ["a1", "b2"]],
      ["proj:alpha", ["proj:alpha"]],
      ["cap", []],
      ["Cap", ["Cap"]],
      ["proj:", []],
      ["nothing*", []],
      ["emptied", []],
    ];
    for (const [pattern, expected] of cases) {
      await t.step(`pattern ${pattern ?? "(none)"}`, async () => {
        assert.deepEqual(await adapter.listScopes(pattern), expected);
      });
    }
    await t.step("an invalid glob is INVALID_ARGUMENT", async () => {
      await rejectsWithCode(() => adapter.listScopes("[z-a]"), "INVALID_ARGUMENT");
    });
  });

  contract("deleteScope removes everything; versions still grow", async ({ adapter }) => {
    await adapter.store("ds", "a", 1);
    await adapter.store("ds", "b", 2);
    const last = (await adapter.store("ds", "a", 3)).version;
    await adapter.store("keep", "a", 1);
    assert.equal(await adapter.deleteScope("ds"), true);
    assert.equal(await adapter.retrieve("ds", "a"), null);
    assert.deepEqual(await adapter.listKeys("ds"), []);
    assert.deepEqual(await adapter.listScopes(), ["keep"]);
    assert.equal(await adapter.deleteScope("ds"), false, "already gone");
    assert.equal(await adapter.deleteScope("never-existed"), false);
    const after = (await adapter.store("ds", "a", 4)).version;
    assert.ok(after > last, `a version after deleteScope (${after}) is above ${last}`);
    assert.equal((await adapter.retrieve("keep", "a"))?.value, 1, "other scopes untouched");
    await adapter.delete("ds", "a");
    assert.equal(await adapter.deleteScope("ds"), false, "a scope with no live key");
  });

  contract("updatedBy is recorded per write", async ({ adapter }) => {
    await adapter.store("who", "k", 1, { updatedBy: "claude_1" });
    assert.equal((await adapter.retrieve("who", "k"))?.updatedBy, "claude_1");
    await adapter.store("who", "k", 2, { updatedBy: "claude_2" });
    assert.equal((await adapter.retrieve("who", "k"))?.updatedBy, "claude_2");
    await adapter.store("who", "k", 3);
    assert.equal((await adapter.retrieve("who", "k"))?.updatedBy, null);
    await adapter.store("who", "n", 3, { updatedBy: null });
    assert.equal((await adapter.retrieve("who", "n"))?.updatedBy, null);
  });

  contract("values over the size limit are refused", async ({ adapter }) => {
    // 62 characters plus two quotes: exactly the 64-byte limit.
    const atLimit = "x".repeat(62);
    await adapter.store("size", "k", atLimit);
    assert.equal((await adapter.retrieve("size", "k"))?.value, atLimit);
    const err = await rejectsWithCode(
      () => adapter.store("size", "k", atLimit + "x"),
      "VALUE_TOO_LARGE",
    );
    assert.equal(err.details.limit, 64);
    assert.equal(err.details.bytes, 65);
    assert.equal((await adapter.retrieve("size", "k"))?.value, atLimit, "the old value stays");
    // The limit counts UTF-8 bytes, not characters: "é" is two bytes.
    await adapter.store("size", "u", "é".repeat(31));
    await rejectsWithCode(
      () => adapter.store("size", "u", "é".repeat(31) + "x"),
      "VALUE_TOO_LARGE",
    );
    await rejectsWithCode(
      () => adapter.store("size", "new", { a: "y".repeat(80) }),
      "VALUE_TOO_LARGE",
    );
    assert.equal(await adapter.retrieve("size", "new"), null);
  }, { maxValueBytes: 64 });

  contract("bad names and options are INVALID_ARGUMENT", async ({ adapter, t }) => {
    const badNames: unknown[] = [
      "",
      "x".repeat(257),
      "😀".repeat(257),
      "a\u0000b",
      "new\nline",
      "tab\there",
      "del\u007f",
      "c1\u0085",
      "ls\u2028",
      42,
      null,
    ];
    await adapter.store("ok", "ok", 1);
    for (const bad of badNames) {
      const b = bad as string;
      await t.step(`name ${JSON.stringify(bad)}`, async () => {
        await rejectsWithCode(() => adapter.store(b, "k", 1), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.store("ok", b, 1), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.retrieve(b, "k"), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.retrieve("ok", b), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.delete(b, "k"), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.delete("ok", b), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.listKeys(b), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.listEntries(b), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.deleteScope(b), "INVALID_ARGUMENT");
      });
    }
    await t.step("names of exactly 256 characters are fine", async () => {
      await adapter.store("s".repeat(256), "k".repeat(256), 1);
      await adapter.store("😀".repeat(256), "😀".repeat(256), 2);
      assert.equal((await adapter.retrieve("s".repeat(256), "k".repeat(256)))?.value, 1);
      assert.equal((await adapter.retrieve("😀".repeat(256), "😀".repeat(256)))?.value, 2);
    });
    for (const ifVersion of [-1, 1.5, NaN, Infinity, "1"]) {
      await t.step(`ifVersion ${String(ifVersion)}`, async () => {
        const options = { ifVersion: ifVersion as number };
        await rejectsWithCode(() => adapter.store("ok", "ok", 2, options), "INVALID_ARGUMENT");
        await rejectsWithCode(() => adapter.delete("ok", "ok", options), "INVALID_ARGUMENT");
      });
    }
    for (const ttlSeconds of [0, -5, NaN, Infinity, MAX_TTL_SECONDS + 1, "10"]) {
      await t.step(`ttlSeconds ${String(ttlSeconds)}`, async () => {
        const options = { ttlSeconds: ttlSeconds as number };
        await rejectsWithCode(() => adapter.store("ok", "ok", 2, options), "INVALID_ARGUMENT");
      });
    }
    await t.step("nothing changed", async () => {
      const entry = await adapter.retrieve("ok", "ok");
      assert.equal(entry?.value, 1);
      assert.equal(entry?.expiresAt, null);
      assert.deepEqual(await adapter.listScopes(), ["ok", "s".repeat(256), "😀".repeat(256)]);
    });
  });

  contract("awkward scope names round-trip through listScopes", async ({ adapter }) => {
    for (const [i, scope] of AWKWARD_SCOPES.entries()) {
      await adapter.store(scope, "k", { i, scope });
    }
    assert.deepEqual(await adapter.listScopes(), [...AWKWARD_SCOPES].sort());
    assert.deepEqual(await adapter.listScopes("*"), [...AWKWARD_SCOPES].sort());
    for (const [i, scope] of AWKWARD_SCOPES.entries()) {
      assert.deepEqual((await adapter.retrieve(scope, "k"))?.value, { i, scope }, scope);
      assert.deepEqual(await adapter.listKeys(scope), ["k"]);
    }
    // "upper" and "UPPER" are two scopes, even on case-insensitive disks.
    assert.deepEqual(await adapter.listScopes("[uU][pP]*"), ["UPPER", "upper"]);
    assert.deepEqual(await adapter.listScopes("*..*"), [
      "..",
      "../../etc/passwd",
      "..\\..\\windows\\system32",
    ]);
    for (const scope of AWKWARD_SCOPES) assert.equal(await adapter.deleteScope(scope), true);
    assert.deepEqual(await adapter.listScopes(), []);
  });

  contract("restore writes an exported entry exactly", async ({ adapter, clock, t }) => {
    const entry: Entry = {
      value: { restored: ["yes", 1] },
      version: 41,
      updatedAt: "2024-05-01T12:00:00.000Z",
      updatedBy: "claude_7",
      expiresAt: null,
      heldBy: null,
    };
    await t.step("the entry reads back as it was exported", async () => {
      assert.equal(await adapter.restore("rs", "k", entry), true);
      assert.deepEqual(await adapter.retrieve("rs", "k"), entry);
      assert.deepEqual(await adapter.listEntries("rs"), [{ key: "k", entry }]);
      assert.deepEqual(await adapter.listScopes("rs"), ["rs"]);
    });
    await t.step("restoring again is idempotent", async () => {
      assert.equal(await adapter.restore("rs", "k", entry), true);
      assert.deepEqual(await adapter.retrieve("rs", "k"), entry);
    });
    await t.step("later writes get versions above the restored ones", async () => {
      const other = await adapter.store("rs", "other", 1);
      assert.ok(other.version > 41);
      const next = await adapter.store("rs", "k", "changed", { ifVersion: 41 });
      assert.ok(next.version > other.version);
    });
    await t.step("an expiry in the future is kept", async () => {
      const expiresAt = new Date(clock.now() + 3_600_000).toISOString();
      const leased = { ...entry, version: 3, expiresAt };
      assert.equal(await adapter.restore("rs2", "lease", leased), true);
      assert.deepEqual(await adapter.retrieve("rs2", "lease"), leased);
    });
    await t.step("an entry already expired is skipped", async () => {
      const expiresAt = new Date(clock.now() - 1_000).toISOString();
      assert.equal(await adapter.restore("rs3", "gone", { ...entry, expiresAt }), false);
      assert.equal(await adapter.retrieve("rs3", "gone"), null);
      assert.deepEqual(await adapter.listScopes("rs3"), []);
    });
    await t.step("bad entries are INVALID_ARGUMENT", async () => {
      const bad: Partial<Record<keyof Entry, unknown>>[] = [
        { version: 0 },
        { version: -1 },
        { version: 1.5 },
        { version: "3" },
        { updatedAt: "yesterday" },
        { updatedAt: 5 },
        { updatedBy: 5 },
        { expiresAt: "later" },
        { value: undefined },
      ];
      for (const change of bad) {
        const broken = { ...entry, ...change } as Entry;
        await rejectsWithCode(() => adapter.restore("rs4", "k", broken), "INVALID_ARGUMENT");
      }
      await rejectsWithCode(() => adapter.restore("", "k", entry), "INVALID_ARGUMENT");
      await rejectsWithCode(() => adapter.restore("rs4", "", entry), "INVALID_ARGUMENT");
      assert.deepEqual(await adapter.listScopes("rs4"), []);
    });
  });

  contract("restore refuses values over the size limit", async ({ adapter }) => {
    const entry: Entry = {
      value: "x".repeat(63),
      version: 1,
      updatedAt: "2024-05-01T12:00:00.000Z",
      updatedBy: null,
      expiresAt: null,
      heldBy: null,
    };
    await rejectsWithCode(() => adapter.restore("big", "k", entry), "VALUE_TOO_LARGE");
    assert.equal(await adapter.restore("big", "k", { ...entry, value: "x".repeat(62) }), true);
  }, { maxValueBytes: 64 });

  contract("concurrent writers in one process do not lose writes", async ({ adapter }) => {
    const versions = await Promise.all(
      Array.from({ length: 40 }, (_, i) => adapter.store("conc", `k${i}`, i)),
    );
    assert.equal(new Set(versions.map((v) => v.version)).size, 40, "no version handed out twice");
    assert.equal((await adapter.listKeys("conc")).length, 40);

    async function increment(times: number): Promise<void> {
      for (let done = 0; done < times;) {
        const entry = await adapter.retrieve("conc", "counter");
        const value = (entry?.value as number | undefined) ?? 0;
        try {
          await adapter.store("conc", "counter", value + 1, { ifVersion: entry?.version ?? 0 });
          done++;
        } catch (err) {
          if (!isCoordinatorError(err, "VERSION_CONFLICT")) throw err;
        }
      }
    }
    await Promise.all(Array.from({ length: 8 }, () => increment(5)));
    assert.equal((await adapter.retrieve("conc", "counter"))?.value, 40);
  });

  contract("versions start from the clock and never repeat, even after a wipe", async (c) => {
    const { adapter, clock, t } = c;
    const before = clock.now();
    const first = (await adapter.store("seed", "a", 1)).version;
    assert.ok(
      first > versionSeed(before - 1_000),
      `the first version of a new scope (${first}) is seeded from the clock`,
    );
    assert.ok(first < Number.MAX_SAFE_INTEGER);
    if (c.wipe === undefined) return;
    const other = await c.other();
    const second = (await other.store("seed", "a", 2)).version;
    await other.store("seed", "b", 1);
    const held = (await adapter.retrieve("seed", "a"))!.version;
    await c.wipe();
    // A real wipe (a restart, a deleted directory) takes far longer than this.
    clock.advance(5);
    await t.step("the wiped keys are gone for every handle", async () => {
      assert.equal(await adapter.retrieve("seed", "a"), null);
      assert.equal(await other.retrieve("seed", "b"), null);
      assert.deepEqual(await other.listScopes("seed"), []);
    });
    await t.step("new versions are above every version before the wipe", async () => {
      const mine = (await adapter.store("seed", "a", 3)).version;
      const theirs = (await other.store("seed", "c", 3)).version;
      assert.ok(mine > second && theirs > second, `${mine} and ${theirs} above ${second}`);
    });
    await t.step("a version read before the wipe matches nothing after it", async () => {
      const err = await rejectsWithCode(
        () => other.store("seed", "a", "stale", { ifVersion: held }),
        "VERSION_CONFLICT",
      );
      assert.notEqual(err.details.current_version, held);
      await rejectsWithCode(
        () => other.delete("seed", "a", { ifVersion: held }),
        "VERSION_CONFLICT",
      );
      assert.equal((await adapter.retrieve("seed", "a"))?.value, 3);
    });
  });

  contract("a guard fences a write on another key, atomically", async (c) => {
    const { adapter, clock, t } = c;
    const guard: Guard = { scope: "g:leases", key: "claude_1", field: "grant", equals: "A" };
    await adapter.store("g:leases", "claude_1", { grant: "A", pid: 1 });
    await t.step("a write lands while the guard holds", async () => {
      await adapter.store("g:data", "k", 1, { guard });
      assert.equal((await adapter.retrieve("g:data", "k"))?.value, 1);
      await adapter.store("g:leases", "other", 1, { guard }); // the guard's own scope too
    });
    const refused = async (what: string, fn: () => Promise<unknown>) => {
      let err: unknown;
      try {
        await fn();
      } catch (e) {
        err = e;
      }
      assert.ok(
        isGuardFailure(err),
        `${what}: expected a guard failure, got ${describeError(err)}`,
      );
    };
    await t.step("a guard that does not hold refuses every kind of write", async () => {
      const wrong = { ...guard, equals: "B" };
      await refused("store", () => adapter.store("g:data", "k", 2, { guard: wrong }));
      await refused("store, new key", () => adapter.store("g:data", "n", 2, { guard: wrong }));
      await refused("delete", () => adapter.delete("g:data", "k", { guard: wrong }));
      await refused("deleteScope", () => adapter.deleteScope("g:data", { guard: wrong }));
      await refused(
        "writeBatch",
        () => adapter.writeBatch("g:data", [{ op: "set", key: "k", value: 3 }], { guard: wrong }),
      );
      await refused(
        "absent key",
        () => adapter.store("g:data", "k", 2, { guard: { ...guard, key: "nobody" } }),
      );
      await refused(
        "absent field",
        () => adapter.store("g:data", "k", 2, { guard: { ...guard, field: "nope" } }),
      );
      const entry = await adapter.retrieve("g:data", "k");
      assert.equal(entry?.value, 1, "nothing was written");
      assert.equal(await adapter.retrieve("g:data", "n"), null);
    });
    await t.step("only a string equal to `equals` holds", async () => {
      await adapter.store("g:leases", "typed", { grant: 7, list: ["A"] });
      await refused(
        "number",
        () => adapter.store("g:data", "k", 2, { guard: { ...guard, key: "typed", equals: "7" } }),
      );
      await adapter.store("g:leases", "scalar", "A");
      await refused(
        "not an object",
        () => adapter.store("g:data", "k", 2, { guard: { ...guard, key: "scalar" } }),
      );
    });
    await t.step("a guard that holds lets every kind of write through", async () => {
      await adapter.store("g:data", "gone", 1);
      assert.equal(await adapter.delete("g:data", "gone", { guard }), true);
      const [r] = await adapter.writeBatch("g:data", [{ op: "set", key: "b", value: 2 }], {
        guard,
      });
      assert.equal(r.op, "set");
      await adapter.store("g:scratch", "k", 1);
      assert.equal(await adapter.deleteScope("g:scratch", { guard }), true);
      assert.deepEqual(await adapter.listKeys("g:scratch"), []);
    });
    await t.step("another handle taking over the guard key fences this one", async () => {
      const other = await c.other();
      await other.store("g:leases", "claude_1", { grant: "B" });
      await refused("after a takeover", () => adapter.store("g:data", "k", 9, { guard }));
      await other.store("g:data", "k", 10, { guard: { ...guard, equals: "B" } });
      assert.equal((await adapter.retrieve("g:data", "k"))?.value, 10);
    });
    await t.step("an expired guard key holds no more", async () => {
      await adapter.store("g:leases", "claude_1", { grant: "A" }, { ttlSeconds: 0.5 });
      await adapter.store("g:data", "k", 11, { guard });
      clock.advance(1_000);
      if (await adapter.retrieve("g:leases", "claude_1") !== null) {
        await new Promise((r) => setTimeout(r, 1_000)); // an adapter on real time
      }
      await refused("expired", () => adapter.store("g:data", "k", 12, { guard }));
      assert.equal((await adapter.retrieve("g:data", "k"))?.value, 11);
    });
    await t.step("a malformed guard is INVALID_ARGUMENT", async () => {
      await rejectsWithCode(
        () => adapter.store("g:data", "k", 1, { guard: { ...guard, field: "" } }),
        "INVALID_ARGUMENT",
      );
      await rejectsWithCode(
        () => adapter.store("g:data", "k", 1, { guard: { ...guard, scope: "" } }),
        "INVALID_ARGUMENT",
      );
    });
  });

  contract("writeBatch applies every write of one scope or none", async ({ adapter, t }) => {
    await adapter.store("b", "c", "to delete");
    const results = await adapter.writeBatch("b", [
      { op: "set", key: "a", value: { n: 1 } },
      { op: "set", key: "b", value: 2, ifVersion: 0, ttlSeconds: 60, heldBy: "h" },
      { op: "delete", key: "c" },
      { op: "delete", key: "never" },
    ], { updatedBy: "claude_1" });
    await t.step("results follow the ops", async () => {
      assert.equal(results.length, 4);
      const [a, b, c, d] = results;
      assert.ok(a.op === "set" && b.op === "set");
      assert.ok(b.version > a.version, "versions grow within a batch");
      assert.equal(a.expiresAt, null);
      assert.ok(b.expiresAt !== null);
      assert.deepEqual(c, { op: "delete", deleted: true });
      assert.deepEqual(d, { op: "delete", deleted: false });
      const entry = await adapter.retrieve("b", "b");
      assert.equal(entry?.version, b.version);
      assert.equal(entry?.updatedBy, "claude_1");
      assert.equal(entry?.heldBy, "h");
      assert.deepEqual(await adapter.listKeys("b"), ["a", "b"]);
    });
    await t.step("one failed condition applies nothing", async () => {
      const before = await adapter.listEntries("b");
      const err = await rejectsWithCode(
        () =>
          adapter.writeBatch("b", [
            { op: "set", key: "a", value: "changed" },
            { op: "set", key: "new", value: 1, ifVersion: 0 },
            { op: "set", key: "b", value: "changed", ifVersion: 1 },
          ]),
        "VERSION_CONFLICT",
      );
      assert.equal(err.details.key, "b");
      assert.deepEqual(await adapter.listEntries("b"), before);
      await rejectsWithCode(
        () => adapter.writeBatch("b", [{ op: "delete", key: "a", ifVersion: 1 }]),
        "VERSION_CONFLICT",
      );
      assert.deepEqual(await adapter.listEntries("b"), before);
    });
    await t.step("a check step makes the batch conditional without writing", async () => {
      const a = (await adapter.retrieve("b", "a"))!;
      const out = await adapter.writeBatch("b", [
        { op: "check", key: "a", ifVersion: a.version },
        { op: "check", key: "nothing-here", ifVersion: 0 },
        { op: "set", key: "z", value: 1 },
      ]);
      assert.deepEqual(out.slice(0, 2), [{ op: "check" }, { op: "check" }]);
      assert.equal(
        (await adapter.retrieve("b", "a"))?.version,
        a.version,
        "a check writes nothing",
      );
      const before = await adapter.listEntries("b");
      const err = await rejectsWithCode(
        () =>
          adapter.writeBatch("b", [
            { op: "set", key: "y", value: 1 },
            { op: "check", key: "a", ifVersion: a.version + 1 },
          ]),
        "VERSION_CONFLICT",
      );
      assert.equal(err.details.key, "a");
      await rejectsWithCode(
        () => adapter.writeBatch("b", [{ op: "check", key: "z", ifVersion: 0 }]),
        "VERSION_CONFLICT",
      );
      assert.deepEqual(await adapter.listEntries("b"), before);
    });
    await t.step("bad batches are INVALID_ARGUMENT and write nothing", async () => {
      const before = await adapter.listEntries("b");
      const twice: BatchOp[] = [{ op: "set", key: "x", value: 1 }, { op: "delete", key: "x" }];
      await rejectsWithCode(() => adapter.writeBatch("b", twice), "INVALID_ARGUMENT");
      const many: BatchOp[] = Array.from(
        { length: MAX_BATCH_OPS + 1 },
        (_, i) => ({ op: "set", key: `k${i}`, value: i }),
      );
      await rejectsWithCode(() => adapter.writeBatch("b", many), "INVALID_ARGUMENT");
      await rejectsWithCode(
        () => adapter.writeBatch("b", [{ op: "set", key: "", value: 1 }]),
        "INVALID_ARGUMENT",
      );
      await rejectsWithCode(
        () => adapter.writeBatch("b", [{ op: "set", key: "x", value: 1, ttlSeconds: -1 }]),
        "INVALID_ARGUMENT",
      );
      assert.deepEqual(await adapter.listEntries("b"), before);
      assert.deepEqual(await adapter.writeBatch("b", []), []);
    });
    await t.step("a batch of the largest size lands whole", async () => {
      const ops: BatchOp[] = Array.from(
        { length: MAX_BATCH_OPS },
        (_, i) => ({ op: "set", key: `m${String(i).padStart(3, "0")}`, value: i }),
      );
      const out = await adapter.writeBatch("big", ops);
      assert.equal(out.length, MAX_BATCH_OPS);
      assert.equal((await adapter.listKeys("big")).length, MAX_BATCH_OPS);
    });
  });

  contract(
    "heldBy is kept with the entry and cleared by a write without it",
    async ({ adapter }) => {
      await adapter.store("held", "k", 1, { heldBy: "claude_1/abc" });
      assert.equal((await adapter.retrieve("held", "k"))?.heldBy, "claude_1/abc");
      assert.equal((await adapter.listEntries("held"))[0].entry.heldBy, "claude_1/abc");
      await adapter.store("held", "k", 2);
      assert.equal((await adapter.retrieve("held", "k"))?.heldBy, null);
      const entry: Entry = {
        value: 1,
        version: 5,
        updatedAt: "2024-05-01T12:00:00.000Z",
        updatedBy: null,
        expiresAt: null,
        heldBy: "x/y",
      };
      await adapter.restore("held", "r", entry);
      assert.equal((await adapter.retrieve("held", "r"))?.heldBy, "x/y");
      await rejectsWithCode(
        () => adapter.store("held", "k", 1, { heldBy: "" }),
        "INVALID_ARGUMENT",
      );
    },
  );

  contract("listKeys and listEntries take a prefix and a limit", async ({ adapter }) => {
    for (const key of ["t:3", "t:1", "t:2", "u:1", "t", "s:9"]) await adapter.store("pl", key, key);
    assert.deepEqual(await adapter.listKeys("pl", { prefix: "t:" }), ["t:1", "t:2", "t:3"]);
    assert.deepEqual(await adapter.listKeys("pl", { prefix: "t:", limit: 2 }), ["t:1", "t:2"]);
    assert.deepEqual(await adapter.listKeys("pl", { limit: 1 }), ["s:9"]);
    assert.deepEqual(await adapter.listKeys("pl", { prefix: "zz" }), []);
    assert.deepEqual(
      (await adapter.listEntries("pl", { prefix: "t:", limit: 2 })).map((e) => e.entry.value),
      ["t:1", "t:2"],
    );
    await rejectsWithCode(() => adapter.listKeys("pl", { limit: -1 }), "INVALID_ARGUMENT");
  });

  contract("now() is the clock the adapter judges expiry by", async ({ adapter, clock }) => {
    await adapter.store("clock", "k", 1);
    const now = adapter.now();
    assert.ok(Number.isFinite(now));
    assert.ok(Math.abs(now - clock.now()) < 10_000, `now() ${now} is near the clock`);
  });

  contract("handles on one backend see each other, and CAS holds across them", async (c) => {
    const { adapter } = c;
    const other = await c.other();
    const written = await other.store("share", "k", { from: "other" });
    assert.deepEqual(await adapter.retrieve("share", "k"), await other.retrieve("share", "k"));
    assert.equal((await adapter.retrieve("share", "k"))?.version, written.version);
    assert.deepEqual(await adapter.listScopes("share"), ["share"]);
    async function increment(handle: StorageAdapter, times: number): Promise<void> {
      for (let done = 0; done < times;) {
        const entry = await handle.retrieve("share", "counter");
        try {
          await handle.store("share", "counter", ((entry?.value as number) ?? 0) + 1, {
            ifVersion: entry?.version ?? 0,
          });
          done++;
        } catch (err) {
          if (!isCoordinatorError(err, "VERSION_CONFLICT")) throw err;
        }
      }
    }
    await Promise.all([increment(adapter, 20), increment(other, 20)]);
    assert.equal((await other.retrieve("share", "counter"))?.value, 40);
  });

  contract("watch reports the scopes that change, from every handle", async (c) => {
    const { adapter, t } = c;
    const seen: Change[] = [];
    const stop = adapter.watch((change) => seen.push(change));
    const reported = (scope: string) => seen.some((ch) => "all" in ch || ch.scopes.includes(scope));
    const until = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 5_000;
      while (!ok()) {
        if (Date.now() > deadline) assert.fail(`not reported within 5 s: ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    try {
      await t.step("its own writes", async () => {
        await adapter.store("w:own", "k", 1);
        await until("w:own", () => reported("w:own"));
        // Named, not just "everything may have changed" (which a feed may
        // send when it starts): a feed must say which scope changed.
        seen.length = 0;
        await adapter.store("w:own2", "k", 1);
        await until(
          "w:own2 by name",
          () => seen.some((ch) => "scopes" in ch && ch.scopes.includes("w:own2")),
        );
      });
      await t.step("another handle's writes, deletes and batches", async () => {
        const other = await c.other();
        await other.store("w:other", "k", 1);
        await until("a store", () => reported("w:other"));
        seen.length = 0;
        await other.delete("w:other", "k");
        await until("a delete", () => reported("w:other"));
        await other.writeBatch("w:batch", [{ op: "set", key: "a", value: 1 }]);
        await until("a batch", () => reported("w:batch"));
        await other.store("w:gone", "k", 1);
        seen.length = 0;
        await other.deleteScope("w:gone");
        await until("a deleteScope", () => reported("w:gone"));
      });
    } finally {
      stop();
    }
    await t.step("nothing after the watch is stopped", async () => {
      seen.length = 0;
      await adapter.store("w:after", "k", 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!seen.some((ch) => "scopes" in ch && ch.scopes.includes("w:after")));
    });
  });
}
