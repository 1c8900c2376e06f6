/**
 * Migration from on-disk format 1 (one JSON document per scope, `<scope>.json`)
 * to format 2 (one JSON Lines log per scope, `<scope>.jsonl`): format-1 files
 * are read as they are, and the first write to a scope converts it.
 *
 * FORMAT_1 below is a state directory exactly as the format-1 adapter wrote
 * it (generated with that code, a clock starting at 2025-01-01T10:00:00Z).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { Entry, StorageAdapter } from "../src/storage/contract.ts";
import { type Scope } from "../src/core/scope.ts";
import { LOG_FILE_SUFFIX, scopeToFileName } from "../src/storage/file/names.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };
const LONG = "L".repeat(200);
const UNICODE = "Ünïcödé/scope";

/** File name and exact content of every file of a format-1 state directory. */
const FORMAT_1: [string, string][] = [
  [
    "proj~alpha.json",
    `{
  "format": 1,
  "scope": "proj:alpha",
  "data": {
    "lease": "claude_1",
    "notes": ["a","b"],
    "short": "expired soon",
    "task": {"title":"write tests","done":true}
  },
  "metadata": {
    "seq": 6,
    "created_at": "2025-01-01T10:00:01.000Z",
    "updated_at": "2025-01-01T10:00:07.000Z",
    "keys": {
      "lease": {"version":4,"updated_at":"2025-01-01T10:00:05.000Z","updated_by":"claude_1","expires_at":"2034-12-30T10:00:05.000Z"},
      "notes": {"version":3,"updated_at":"2025-01-01T10:00:03.000Z","updated_by":"claude_2","expires_at":null},
      "short": {"version":5,"updated_at":"2025-01-01T10:00:06.000Z","updated_by":null,"expires_at":"2025-01-01T10:01:06.000Z"},
      "task": {"version":6,"updated_at":"2025-01-01T10:00:07.000Z","updated_by":"claude_2","expires_at":null}
    }
  }
}
`,
  ],
  [
    "%c3%9cn%c3%afc%c3%b6d%c3%a9+scope.json",
    `{
  "format": 1,
  "scope": "Ünïcödé/scope",
  "data": {
    "__proto__": {"x":1},
    "k": null
  },
  "metadata": {
    "seq": 2,
    "created_at": "2025-01-01T10:00:08.000Z",
    "updated_at": "2025-01-01T10:00:09.000Z",
    "keys": {
      "__proto__": {"version":1,"updated_at":"2025-01-01T10:00:08.000Z","updated_by":null,"expires_at":null},
      "k": {"version":2,"updated_at":"2025-01-01T10:00:09.000Z","updated_by":"claude_3","expires_at":null}
    }
  }
}
`,
  ],
  [
    "%h-0e80123cc739da9a2be3d77faf0890b7fa415dda49eb02d00d153b7c7e998305.json",
    `{
  "format": 1,
  "scope": "${LONG}",
  "data": {
    "deep": {"a":[1,2,{"b":"c"}]}
  },
  "metadata": {
    "seq": 1,
    "created_at": "2025-01-01T10:00:10.000Z",
    "updated_at": "2025-01-01T10:00:10.000Z",
    "keys": {
      "deep": {"version":1,"updated_at":"2025-01-01T10:00:10.000Z","updated_by":"claude_1","expires_at":null}
    }
  }
}
`,
  ],
  [
    "emptied.json",
    `{
  "format": 1,
  "scope": "emptied",
  "data": {},
  "metadata": {
    "seq": 2,
    "created_at": "2025-01-01T10:00:11.000Z",
    "updated_at": "2025-01-01T10:00:13.000Z",
    "keys": {}
  }
}
`,
  ],
];

/** What every scope of FORMAT_1 holds, as the adapter must report it. */
const EXPECTED: Record<string, Record<string, Entry>> = {
  "proj:alpha": {
    lease: {
      value: "claude_1",
      version: 4,
      updatedAt: "2025-01-01T10:00:05.000Z",
      updatedBy: "claude_1",
      expiresAt: "2034-12-30T10:00:05.000Z",
      heldBy: null,
    },
    notes: {
      value: ["a", "b"],
      version: 3,
      updatedAt: "2025-01-01T10:00:03.000Z",
      updatedBy: "claude_2",
      expiresAt: null,
      heldBy: null,
    },
    task: {
      value: { title: "write tests", done: true },
      version: 6,
      updatedAt: "2025-01-01T10:00:07.000Z",
      updatedBy: "claude_2",
      expiresAt: null,
      heldBy: null,
    },
  },
  [UNICODE]: {
    ["__proto__"]: {
      value: { x: 1 },
      version: 1,
      updatedAt: "2025-01-01T10:00:08.000Z",
      updatedBy: null,
      expiresAt: null,
      heldBy: null,
    },
    k: {
      value: null,
      version: 2,
      updatedAt: "2025-01-01T10:00:09.000Z",
      updatedBy: "claude_3",
      expiresAt: null,
      heldBy: null,
    },
  },
  [LONG]: {
    deep: {
      value: { a: [1, 2, { b: "c" }] },
      version: 1,
      updatedAt: "2025-01-01T10:00:10.000Z",
      updatedBy: "claude_1",
      expiresAt: null,
      heldBy: null,
    },
  },
  emptied: {},
};
/** Each scope's version counter (metadata.seq). */
const SEQ: Record<string, number> = { "proj:alpha": 6, [UNICODE]: 2, [LONG]: 1, emptied: 2 };
const CREATED: Record<string, string> = {
  "proj:alpha": "2025-01-01T10:00:01.000Z",
  [UNICODE]: "2025-01-01T10:00:08.000Z",
  [LONG]: "2025-01-01T10:00:10.000Z",
  emptied: "2025-01-01T10:00:11.000Z",
};
const LISTED = ["proj:alpha", UNICODE, LONG].sort();

interface Fixture {
  base: string;
  adapter: StorageAdapter;
  /** Another adapter over the same directory, as another process would be. */
  another: () => Promise<StorageAdapter>;
  legacyOf: (scope: string) => string;
  logOf: (scope: string) => string;
  /** The format-1 bytes of a scope as FORMAT_1 has them. */
  original: (scope: string) => Uint8Array;
}

function withFormat1(fn: (f: Fixture) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = await Deno.makeTempDir({ prefix: "csc_migrate_" });
    const base = join(root, "state");
    await Deno.mkdir(base);
    for (const [name, text] of FORMAT_1) await Deno.writeTextFile(join(base, name), text);
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    const others: StorageAdapter[] = [];
    const legacyOf = (scope: string) => join(base, scopeToFileName(scope as Scope));
    try {
      await fn({
        base,
        adapter,
        another: async () => {
          const other = await createFileAdapter({ basePath: base, limits: LIMITS });
          others.push(other);
          return other;
        },
        legacyOf,
        logOf: (scope) => join(base, scopeToFileName(scope as Scope, LOG_FILE_SUFFIX)),
        original: (scope) => {
          const name = scopeToFileName(scope as Scope);
          return new TextEncoder().encode(FORMAT_1.find(([n]) => n === name)![1]);
        },
      });
    } finally {
      for (const other of others) await other.close();
      await adapter.close();
      await Deno.remove(root, { recursive: true });
    }
  };
}

async function stateFiles(base: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(base)) if (entry.name !== ".locks") names.push(entry.name);
  return names.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function readLogLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"));
  return text.slice(0, -1).split("\n").map((line) => JSON.parse(line));
}

/** Asserts that `adapter` reports exactly what EXPECTED says for `scope` (plus `extra` keys). */
async function assertScope(
  adapter: StorageAdapter,
  scope: string,
  extra: string[] = [],
): Promise<void> {
  const expected = EXPECTED[scope];
  const keys = Object.keys(expected);
  const entries = await adapter.listEntries(scope);
  assert.deepEqual(entries.map((e) => e.key), [...keys, ...extra].sort(), scope);
  for (const key of keys) {
    assert.deepEqual(await adapter.retrieve(scope, key), expected[key], `${scope} / ${key}`);
    assert.deepEqual(entries.find((e) => e.key === key)?.entry, expected[key]);
  }
}

Deno.test(
  "format 1: an old state directory is read as it is, and reading changes nothing",
  withFormat1(async ({ base, adapter }) => {
    const before = await stateFiles(base);
    assert.deepEqual(before, FORMAT_1.map(([name]) => name).sort());
    assert.deepEqual(await adapter.listScopes(), LISTED, "an emptied scope is not listed");
    assert.deepEqual(await adapter.listScopes("proj:*"), ["proj:alpha"]);
    for (const scope of Object.keys(EXPECTED)) await assertScope(adapter, scope);
    assert.equal(await adapter.retrieve("proj:alpha", "short"), null, "expired keys stay expired");
    assert.deepEqual(await stateFiles(base), before);
    for (const [name, text] of FORMAT_1) {
      assert.equal(await Deno.readTextFile(join(base, name)), text, `${name} is untouched`);
    }
  }),
);

Deno.test(
  "format 1: the first write converts a scope; every key, version, time, writer and expiry survives",
  withFormat1(async ({ base, adapter, another, legacyOf, logOf, original }) => {
    const other = await another();
    for (const scope of Object.keys(EXPECTED)) await other.listKeys(scope); // cached as format 1
    for (const scope of Object.keys(EXPECTED)) {
      const written = await adapter.store(scope, "new", { after: "migration" }, {
        updatedBy: "claude_9",
      });
      assert.equal(written.version, SEQ[scope] + 1, `${scope}: versions go on from seq`);
      assert.equal(await exists(legacyOf(scope)), false, `${scope}: the .json file is gone`);
      const lines = await readLogLines(logOf(scope));
      const header = lines[0];
      assert.equal(header.format, 2);
      assert.equal(header.scope, scope);
      assert.equal(header.generation, 1);
      assert.equal(header.seq, SEQ[scope] + 1);
      assert.equal(header.created_at, CREATED[scope], `${scope}: keeps its creation time`);
      const digest = createHash("sha256").update(original(scope)).digest("hex");
      assert.equal(header.migrated_sha256, digest, "the log names the file it came from");
      // One set line per live key, sorted, then... the new key among them.
      const keys = lines.slice(1).map((l) => l.key);
      assert.deepEqual(keys, [...Object.keys(EXPECTED[scope]), "new"].sort());
      for (const [key, entry] of Object.entries(EXPECTED[scope])) {
        const line = lines.find((l) => l.key === key)!;
        assert.deepEqual(line, {
          op: "set",
          key,
          value: entry.value,
          version: entry.version,
          updated_at: entry.updatedAt,
          updated_by: entry.updatedBy,
          expires_at: entry.expiresAt,
        });
      }
      for (const a of [adapter, other, await another()]) await assertScope(a, scope, ["new"]);
    }
    // The expired key was dropped, not carried over.
    const alpha = await readLogLines(logOf("proj:alpha"));
    assert.ok(!alpha.some((l) => l.key === "short"));
    assert.deepEqual(
      await stateFiles(base),
      Object.keys(EXPECTED).map((s) => scopeToFileName(s as Scope, LOG_FILE_SUFFIX)).sort(),
    );
    assert.deepEqual(await adapter.listScopes(), [...LISTED, "emptied"].sort());
    // A later write is a plain append.
    const again = await other.store("proj:alpha", "task", "done", { ifVersion: 6 });
    assert.equal(again.version, 8);
    assert.equal((await readLogLines(logOf("proj:alpha"))).length, 1 + 4 + 1);
  }),
);

Deno.test(
  "format 1: writes that change nothing leave the old file as it is",
  withFormat1(async ({ adapter, legacyOf, logOf, original }) => {
    assert.equal(await adapter.delete("proj:alpha", "absent"), false);
    assert.equal(await adapter.delete("proj:alpha", "short"), false, "expired: absent");
    await rejectsWithCode(
      () => adapter.store("proj:alpha", "task", 1, { ifVersion: 5 }),
      "VERSION_CONFLICT",
    );
    const conflict = await rejectsWithCode(
      () => adapter.delete("proj:alpha", "notes", { ifVersion: 9 }),
      "VERSION_CONFLICT",
    );
    assert.equal(conflict.details.current_version, 3);
    assert.deepEqual(await Deno.readFile(legacyOf("proj:alpha")), original("proj:alpha"));
    assert.equal(await exists(logOf("proj:alpha")), false);
  }),
);

Deno.test(
  "format 1: delete, restore and deleteScope work on an old scope",
  withFormat1(async ({ adapter, another, legacyOf, logOf }) => {
    // A delete that deletes converts the scope, without the deleted key.
    assert.equal(await adapter.delete("proj:alpha", "notes", { ifVersion: 3 }), true);
    assert.equal(await exists(legacyOf("proj:alpha")), false);
    const lines = await readLogLines(logOf("proj:alpha"));
    assert.deepEqual(lines.slice(1).map((l) => l.key), ["lease", "task"]);
    assert.equal(lines[0].seq, 6, "a delete hands out no version");
    const fresh = await another();
    assert.deepEqual(await fresh.listKeys("proj:alpha"), ["lease", "task"]);
    assert.equal((await fresh.store("proj:alpha", "notes", 1)).version, 7);
    // restore converts too, and later versions go above the restored one.
    const entry: Entry = {
      value: "restored",
      version: 40,
      updatedAt: "2024-01-01T00:00:00.000Z",
      updatedBy: "claude_5",
      expiresAt: null,
      heldBy: null,
    };
    assert.equal(await adapter.restore(UNICODE, "r", entry), true);
    assert.equal(await exists(legacyOf(UNICODE)), false);
    assert.deepEqual(await fresh.retrieve(UNICODE, "r"), entry);
    assert.deepEqual(await fresh.retrieve(UNICODE, "__proto__"), EXPECTED[UNICODE]["__proto__"]);
    assert.equal((await fresh.store(UNICODE, "n", 1)).version, 41);
    // deleteScope of an old scope removes its file, and leaves a log that keeps its counter.
    assert.equal(await adapter.deleteScope(LONG), true);
    assert.equal(await exists(legacyOf(LONG)), false);
    const [header, ...records] = await readLogLines(logOf(LONG));
    assert.deepEqual(records, []);
    assert.equal(header.seq, SEQ[LONG]);
    assert.equal(header.created_at, CREATED[LONG]);
    assert.equal(await adapter.deleteScope("emptied"), false, "no live key");
    assert.equal(await exists(legacyOf("emptied")), false);
    assert.equal((await adapter.store(LONG, "deep", 1)).version, SEQ[LONG] + 1);
    assert.equal((await fresh.store("emptied", "k", 1)).version, SEQ.emptied + 1);
  }),
);

Deno.test(
  "format 1: after a conversion cut short, the log wins and the next write removes the old file",
  withFormat1(async ({ base, adapter, another, legacyOf, logOf, original }) => {
    await adapter.store("proj:alpha", "new", 1);
    // A crash between the two steps: the log is complete, the old file still there.
    await Deno.writeFile(legacyOf("proj:alpha"), original("proj:alpha"));
    const next = await another(); // as the next process to start
    assert.deepEqual(await next.listScopes(), LISTED, "one scope, not two");
    assert.deepEqual(await next.listKeys("proj:alpha"), ["lease", "new", "notes", "task"]);
    assert.ok(await exists(legacyOf("proj:alpha")), "reads remove nothing");
    await next.store("proj:alpha", "after", 2);
    assert.equal(await exists(legacyOf("proj:alpha")), false, "the old file is removed");
    assert.ok(await exists(logOf("proj:alpha")));
    await assertScope(adapter, "proj:alpha", ["after", "new"]);
    // The same for deleteScope.
    await adapter.store(UNICODE, "new", 1);
    await Deno.writeFile(legacyOf(UNICODE), original(UNICODE));
    assert.equal(await (await another()).deleteScope(UNICODE), true);
    assert.equal(await exists(legacyOf(UNICODE)), false);
    assert.deepEqual((await readLogLines(logOf(UNICODE))).length, 1, "a header alone");
    assert.ok(!(await stateFiles(base)).includes(scopeToFileName(UNICODE as Scope)));
  }),
);

Deno.test(
  "format 1: an old file written beside a log after the conversion is never removed",
  withFormat1(async ({ adapter, another, legacyOf, logOf }) => {
    await adapter.store("proj:alpha", "new", 1);
    // An older server, still running, knows nothing of the log and writes its own file.
    const old = JSON.stringify({
      format: 1,
      scope: "proj:alpha",
      data: { task: "old server" },
      metadata: {
        seq: 1,
        created_at: "2025-02-01T00:00:00.000Z",
        updated_at: "2025-02-01T00:00:00.000Z",
        keys: {
          task: {
            version: 1,
            updated_at: "2025-02-01T00:00:00.000Z",
            updated_by: null,
            expires_at: null,
          },
        },
      },
    });
    await Deno.writeTextFile(legacyOf("proj:alpha"), old);
    const next = await another();
    // Reads use the log.
    assert.deepEqual(await next.listKeys("proj:alpha"), ["lease", "new", "notes", "task"]);
    assert.deepEqual(await next.listScopes("proj:*"), ["proj:alpha"]);
    // Writes refuse, every time, until a person has chosen a file.
    for (let i = 0; i < 2; i++) {
      const err = await rejectsWithCode(() => next.store("proj:alpha", "x", 1), "CORRUPT_STATE");
      assert.equal(err.details.file, legacyOf("proj:alpha"));
      assert.match(err.message, /older version of this server may still be running/);
    }
    await rejectsWithCode(() => next.deleteScope("proj:alpha"), "CORRUPT_STATE");
    assert.equal(await Deno.readTextFile(legacyOf("proj:alpha")), old, "left as it is");
    await Deno.remove(legacyOf("proj:alpha"));
    assert.ok((await next.store("proj:alpha", "x", 1)).version > 7);
    assert.ok(await exists(logOf("proj:alpha")));
  }),
);

Deno.test(
  "format 1: old and new code lock the same lock file",
  withFormat1(async ({ base, adapter }) => {
    // The lock file is named after the format-1 file, as the old code named it.
    const lockPath = join(base, ".locks", scopeToFileName("proj:alpha" as Scope) + ".lock");
    const held = await Deno.open(lockPath, { read: true, write: true, create: true });
    await held.lock(true);
    let done = false;
    const write = adapter.store("proj:alpha", "k", 1).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(done, false, "the write waits for the lock an old server would hold");
    held.close();
    await write;
    assert.equal(done, true);
  }),
);
