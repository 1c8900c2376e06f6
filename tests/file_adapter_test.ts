/** The local file adapter: the shared contract plus what only a file adapter has. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter, DEFAULT_BASE_PATH, fileAdapterFactory } from "../src/storage/file.ts";
import type { AdapterLimits, Entry, StorageAdapter } from "../src/storage/contract.ts";
import type { JsonValue } from "../src/json.ts";
import { fileNameToScope, isHashedFileName, type Scope, scopeToFileName } from "../src/scope.ts";
import { AWKWARD_SCOPES, rejectsWithCode, runStorageContract } from "./storage_contract.ts";

const LIMITS: AdapterLimits = { maxValueBytes: 1024 * 1024 };

runStorageContract("local", async (limits, now) => {
  const dir = await Deno.makeTempDir({ prefix: "csc_contract_" });
  const adapter = await createFileAdapter({ basePath: join(dir, "state"), limits, now });
  return {
    adapter,
    cleanup: async () => {
      await adapter.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

interface Fixture {
  /** The temp dir; the state directory is `base` inside it. */
  root: string;
  base: string;
  adapter: StorageAdapter;
  /** Moves the adapter's clock forward. */
  advance: (ms: number) => void;
  fileOf: (scope: string) => string;
}

/** Runs `fn` over a fresh adapter in a fresh temp dir, removed afterwards. */
function withAdapter(fn: (f: Fixture) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = await Deno.makeTempDir({ prefix: "csc_file_" });
    const base = join(root, "state");
    let skew = 0;
    const adapter = await createFileAdapter({
      basePath: base,
      limits: LIMITS,
      now: () => Date.now() + skew,
    });
    try {
      await fn({
        root,
        base,
        adapter,
        advance: (ms) => {
          skew += ms;
        },
        fileOf: (scope) => join(base, scopeToFileName(scope as Scope)),
      });
    } finally {
      await adapter.close();
      await Deno.remove(root, { recursive: true });
    }
  };
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

Deno.test(
  "local: the on-disk format is readable JSON with scope, data and metadata",
  withAdapter(async ({ adapter, fileOf }) => {
    const t0 = Date.now();
    const a = await adapter.store("proj:x", "task", { title: "write tests" }, {
      updatedBy: "claude_1",
    });
    const b = await adapter.store("proj:x", "lease", "mine", { ttlSeconds: 30 });
    const text = await Deno.readTextFile(fileOf("proj:x"));
    assert.ok(text.includes("\n  "), "indented for people to read");
    const doc = JSON.parse(text);
    assert.deepEqual(Object.keys(doc).sort(), ["data", "format", "metadata", "scope"]);
    assert.equal(doc.format, 1);
    assert.equal(doc.scope, "proj:x");
    assert.deepEqual(doc.data, { lease: "mine", task: { title: "write tests" } });
    assert.equal(doc.metadata.seq, b.version);
    assert.ok(Date.parse(doc.metadata.created_at) >= t0 - 1000);
    assert.equal(doc.metadata.updated_at, b.updatedAt);
    assert.deepEqual(doc.metadata.keys.task, {
      version: a.version,
      updated_at: a.updatedAt,
      updated_by: "claude_1",
      expires_at: null,
    });
    assert.deepEqual(doc.metadata.keys.lease, {
      version: b.version,
      updated_at: b.updatedAt,
      updated_by: null,
      expires_at: b.expiresAt,
    });
  }),
);

Deno.test(
  "local: an emptied scope keeps its file and seq but is not listed; deleteScope removes it",
  withAdapter(async ({ adapter, base, fileOf }) => {
    await adapter.store("s", "a", 1);
    const { version } = await adapter.store("s", "b", 2);
    await adapter.delete("s", "a");
    await adapter.delete("s", "b");
    const doc = await readJson(fileOf("s"));
    assert.deepEqual(doc.data, {});
    assert.equal((doc.metadata as { seq: number }).seq, version);
    assert.deepEqual(await adapter.listScopes(), []);
    assert.equal(await adapter.deleteScope("s"), false);
    assert.deepEqual(await listDir(base), [".locks"], "the file is gone");
    assert.deepEqual(
      await listDir(join(base, ".locks")),
      [scopeToFileName("s" as Scope) + ".lock"],
      "lock files are never deleted",
    );
  }),
);

Deno.test(
  "local: versions survive reopening the directory",
  withAdapter(async ({ adapter, base }) => {
    const { version } = await adapter.store("s", "a", 1);
    await adapter.delete("s", "a");
    const again = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      assert.ok((await again.store("s", "a", 2)).version > version);
      assert.equal((await adapter.retrieve("s", "a"))?.value, 2, "both see one state");
    } finally {
      await again.close();
    }
  }),
);

Deno.test(
  "local: every scope maps to one file directly inside basePath and back",
  withAdapter(async ({ adapter, root, base }) => {
    const scopes = [...AWKWARD_SCOPES, "Mixed:Case/Path", "a%2fb", "ends."];
    for (const scope of scopes) await adapter.store(scope, "k", scope);
    assert.deepEqual(await listDir(root), ["state"], "nothing is created beside basePath");
    const names = (await listDir(base)).filter((n) => n !== ".locks");
    assert.equal(names.length, scopes.length, "exactly one file per scope, no temp files left");
    const expected = scopes.map((s) => scopeToFileName(s as Scope)).sort();
    assert.deepEqual(names, expected);
    const lowered = new Set(names.map((n) => n.toLowerCase()));
    assert.equal(lowered.size, names.length, "names differ even on case-insensitive disks");
    for (const scope of scopes) {
      const name = scopeToFileName(scope as Scope);
      assert.ok(!/[/\\]/.test(name) && !name.startsWith("."), `${name} stays in the directory`);
      const info = await Deno.stat(join(base, name));
      assert.ok(info.isFile);
      const doc = await readJson(join(base, name));
      assert.equal(doc.scope, scope);
      if (isHashedFileName(name)) assert.equal(fileNameToScope(name), null);
      else assert.equal(fileNameToScope(name), scope);
    }
    // The lock directory holds only lock files, flat.
    for (const lock of await listDir(join(base, ".locks"))) {
      assert.ok(lock.endsWith(".json.lock"), lock);
      assert.ok((await Deno.stat(join(base, ".locks", lock))).isFile);
    }
    assert.deepEqual(await adapter.listScopes(), [...scopes].sort());
  }),
);

const CORRUPTIONS: [string, string | Uint8Array, RegExp][] = [
  ["truncated JSON", '{"format": 1, "scope": "bad", "da', /not valid JSON/],
  ["empty file", "", /not valid JSON/],
  ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /UTF-8/],
  ["an array", "[]", /not hold a JSON object/],
  ["null", "null", /not hold a JSON object/],
  ["another format", '{"format": 2, "scope": "bad"}', /format 2/],
  ["no scope", '{"format": 1}', /"scope" is not a string/],
  ["another scope", '{"format": 1, "scope": "good", "data": {}}', /holds scope "good"/],
  ["no data", '{"format": 1, "scope": "bad", "metadata": {}}', /"data" is not an object/],
  ["no metadata", '{"format": 1, "scope": "bad", "data": {}}', /"metadata" is not an object/],
  [
    "a bad seq",
    '{"format":1,"scope":"bad","data":{},"metadata":{"seq":-1,"keys":{}}}',
    /metadata.seq/,
  ],
  [
    "no times",
    '{"format":1,"scope":"bad","data":{},"metadata":{"seq":1,"keys":{}}}',
    /created_at/,
  ],
  [
    "no key table",
    '{"format":1,"scope":"bad","data":{},"metadata":{"seq":1,"created_at":"x","updated_at":"x"}}',
    /metadata.keys/,
  ],
  ["a value without metadata", meta({ k: 1 }, {}), /metadata.keys\["k"\]" is missing/],
  ["metadata without a value", meta({}, { k: key(1) }), /has metadata but no value/],
  ["a version above seq", meta({ k: 1 }, { k: key(9) }), /version is not an integer/],
  ["a fractional version", meta({ k: 1 }, { k: key(0.5) }), /version is not an integer/],
  ["no updated_at", meta({ k: 1 }, { k: { ...key(1), updated_at: 5 } }), /updated_at is not/],
  ["a bad updated_by", meta({ k: 1 }, { k: { ...key(1), updated_by: 5 } }), /updated_by/],
  ["a bad expiry", meta({ k: 1 }, { k: { ...key(1), expires_at: "soon" } }), /expires_at/],
  ["a bad scope field", '{"format": 1, "scope": "", "data": {}}', /holds scope ""/],
];

function key(version: number): Record<string, unknown> {
  return { version, updated_at: "2024-01-01T00:00:00.000Z", updated_by: null, expires_at: null };
}

function meta(data: Record<string, unknown>, keys: Record<string, unknown>): string {
  const at = "2024-01-01T00:00:00.000Z";
  return JSON.stringify({
    format: 1,
    scope: "bad",
    data,
    metadata: { seq: 2, created_at: at, updated_at: at, keys },
  });
}

for (const [what, content, message] of CORRUPTIONS) {
  Deno.test(
    `local: a state file with ${what} is CORRUPT_STATE, left untouched`,
    withAdapter(async ({ adapter, fileOf }) => {
      await adapter.store("good", "k", "fine");
      const file = fileOf("bad");
      if (typeof content === "string") await Deno.writeTextFile(file, content);
      else await Deno.writeFile(file, content);
      const before = await Deno.readFile(file);
      const reads = [
        () => adapter.retrieve("bad", "k"),
        () => adapter.listKeys("bad"),
        () => adapter.listEntries("bad"),
        () => adapter.store("bad", "k", 1),
        () => adapter.store("bad", "k", 1, { ifVersion: 0 }),
        () => adapter.delete("bad", "k"),
        () => adapter.deleteScope("bad"),
      ];
      for (const call of reads) {
        const err = await rejectsWithCode(call, "CORRUPT_STATE");
        assert.equal(err.details.file, file);
        assert.ok(err.message.startsWith(file + ": "), err.message);
        assert.match(err.message, message);
      }
      assert.deepEqual(await Deno.readFile(file), before, "the file is byte-for-byte unchanged");
      assert.deepEqual(await adapter.listScopes(), ["bad", "good"], "listed, so people see it");
      assert.equal((await adapter.retrieve("good", "k"))?.value, "fine");
      await adapter.store("good", "k2", "still works");
      assert.deepEqual(await adapter.listKeys("good"), ["k", "k2"]);
    }),
  );
}

Deno.test(
  "local: temp files left by writers that died are swept when an adapter opens",
  withAdapter(async ({ adapter, base }) => {
    await adapter.store("s", "k", 1);
    const stale = [".s.json.4242.1f2e.tmp", ".%h-" + "a".repeat(64) + ".json.7.0.tmp"];
    const kept = [".s.json.tmp", ".notes", "s.json.1.a.tmp", ".x.json.12.zz.tmp", ".a.1.b.tmp"];
    for (const name of [...stale, ...kept]) await Deno.writeTextFile(join(base, name), "{");
    const again = await createFileAdapter({ basePath: base, limits: LIMITS });
    await again.close();
    const names = await listDir(base);
    for (const name of stale) assert.ok(!names.includes(name), `${name} is swept`);
    for (const name of kept) assert.ok(names.includes(name), `${name} is not ours, kept`);
    assert.equal((await adapter.retrieve("s", "k"))?.value, 1);
  }),
);

Deno.test(
  "local: a directory in place of a state file is CORRUPT_STATE",
  withAdapter(async ({ adapter, fileOf }) => {
    await Deno.mkdir(fileOf("dir"));
    const err = await rejectsWithCode(() => adapter.retrieve("dir", "k"), "CORRUPT_STATE");
    assert.match(err.message, /is a directory/);
    assert.deepEqual(await adapter.listScopes(), []);
  }),
);

Deno.test(
  "local: listScopes skips corrupt or mismatched hashed files",
  withAdapter(async ({ adapter, base }) => {
    const long = "L".repeat(200);
    await adapter.store(long, "k", 1);
    const hashed = scopeToFileName(long as Scope);
    assert.ok(isHashedFileName(hashed));
    assert.deepEqual(await adapter.listScopes(), [long]);
    // A hashed file whose scope belongs to another name (copied by hand).
    const copy = "%h-" + "0".repeat(64) + ".json";
    await Deno.copyFile(join(base, hashed), join(base, copy));
    // A hashed file that cannot be read at all, and one naming an impossible scope.
    await Deno.writeTextFile(join(base, "%h-" + "1".repeat(64) + ".json"), "{oops");
    await Deno.writeTextFile(
      join(base, "%h-" + "2".repeat(64) + ".json"),
      JSON.stringify({ format: 1, scope: "nul\u0000", data: {}, metadata: {} }),
    );
    assert.deepEqual(await adapter.listScopes(), [long]);
    assert.deepEqual(await adapter.listScopes("L*"), [long]);
    assert.deepEqual(await adapter.listScopes("M*"), []);
    // A corrupt file under the scope's own hashed name is CORRUPT_STATE on read.
    await Deno.writeTextFile(join(base, hashed), "[]");
    await rejectsWithCode(() => adapter.retrieve(long, "k"), "CORRUPT_STATE");
    assert.deepEqual(await adapter.listScopes(), []);
  }),
);

Deno.test(
  "local: foreign files in the state directory are ignored",
  withAdapter(async ({ adapter, base }) => {
    await adapter.store("real", "k", 1);
    await Deno.writeTextFile(join(base, "README.md"), "# notes");
    await Deno.writeTextFile(join(base, "Upper.json"), "{}"); // no scope maps to it
    await Deno.writeTextFile(join(base, "bad%zz.json"), "{}");
    await Deno.writeTextFile(join(base, "%ff.json"), "{}"); // not UTF-8
    await Deno.writeTextFile(join(base, ".real.json.123.abc.tmp"), "{partial");
    await Deno.writeTextFile(join(base, ".hidden.json"), "{}");
    await Deno.mkdir(join(base, "subdir.json"));
    await Deno.mkdir(join(base, "nested"));
    await Deno.writeTextFile(join(base, "nested", "x.json"), "{}");
    assert.deepEqual(await adapter.listScopes(), ["real"]);
    assert.equal((await adapter.retrieve("real", "k"))?.value, 1);
  }),
);

Deno.test(
  "local: expired keys are purged lazily on the next write",
  withAdapter(async ({ adapter, advance, fileOf }) => {
    await adapter.store("p", "gone", 1, { ttlSeconds: 10 });
    await adapter.store("p", "stays", 2);
    advance(20_000);
    assert.equal(await adapter.retrieve("p", "gone"), null);
    assert.deepEqual(Object.keys((await readJson(fileOf("p"))).data as object).sort(), [
      "gone",
      "stays",
    ], "reads never write");
    await adapter.store("p", "new", 3);
    assert.deepEqual(Object.keys((await readJson(fileOf("p"))).data as object).sort(), [
      "new",
      "stays",
    ]);

    // A delete that finds nothing still purges what expired.
    await adapter.store("q", "gone", 1, { ttlSeconds: 10 });
    await adapter.store("q", "stays", 1);
    advance(20_000);
    assert.equal(await adapter.delete("q", "absent"), false);
    assert.deepEqual(Object.keys((await readJson(fileOf("q"))).data as object), ["stays"]);
    // And a delete with nothing to do leaves the file as it is.
    const before = await Deno.readTextFile(fileOf("q"));
    assert.equal(await adapter.delete("q", "absent"), false);
    assert.equal(await Deno.readTextFile(fileOf("q")), before);
  }),
);

Deno.test(
  "local: two adapters over one directory in one process exclude each other",
  withAdapter(async ({ adapter, base }) => {
    const other = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      const bump = async (a: StorageAdapter, times: number) => {
        for (let done = 0; done < times;) {
          const entry = await a.retrieve("shared", "n");
          try {
            await a.store("shared", "n", ((entry?.value as number) ?? 0) + 1, {
              ifVersion: entry?.version ?? 0,
            });
            done++;
          } catch (err) {
            if (!(err instanceof Error && "code" in err && err.code === "VERSION_CONFLICT")) {
              throw err;
            }
          }
        }
      };
      await Promise.all([bump(adapter, 15), bump(other, 15), bump(adapter, 15), bump(other, 15)]);
      assert.equal((await other.retrieve("shared", "n"))?.value, 60);
    } finally {
      await other.close();
    }
  }),
);

Deno.test(
  "local: a closed adapter refuses every call",
  withAdapter(async ({ adapter }) => {
    await adapter.store("s", "k", 1);
    const pending = adapter.store("s", "k2", 2);
    await adapter.close();
    assert.equal((await pending).version, 2, "a write in flight finishes before close returns");
    await adapter.close(); // twice is fine
    const calls = [
      () => adapter.store("s", "k", 1),
      () => adapter.retrieve("s", "k"),
      () => adapter.delete("s", "k"),
      () => adapter.listKeys("s"),
      () => adapter.listEntries("s"),
      () => adapter.listScopes(),
      () => adapter.deleteScope("s"),
      () =>
        adapter.restore("s", "k", {
          value: 1,
          version: 1,
          updatedAt: new Date().toISOString(),
          updatedBy: null,
          expiresAt: null,
        }),
    ];
    for (const call of calls) {
      const err = await rejectsWithCode(call, "STORAGE_UNAVAILABLE");
      assert.match(err.message, /adapter is closed/);
    }
  }),
);

Deno.test(
  "local: a removed state directory or lock directory is recreated on write",
  withAdapter(async ({ adapter, base }) => {
    await adapter.store("s", "k", 1);
    await Deno.remove(join(base, ".locks"), { recursive: true });
    await adapter.store("s", "k", 2);
    assert.equal((await adapter.retrieve("s", "k"))?.value, 2);
    await Deno.remove(base, { recursive: true });
    assert.deepEqual(await adapter.listKeys("s"), []);
    await adapter.store("s", "k", 3);
    assert.equal((await adapter.retrieve("s", "k"))?.value, 3);
  }),
);

Deno.test(
  "local: an unusable state directory is STORAGE_UNAVAILABLE",
  withAdapter(async ({ adapter, root, base }) => {
    // basePath below a regular file can never be created.
    const blocker = join(root, "blocker");
    await Deno.writeTextFile(blocker, "");
    const err = await rejectsWithCode(
      () => createFileAdapter({ basePath: join(blocker, "state"), limits: LIMITS }),
      "STORAGE_UNAVAILABLE",
    );
    assert.match(err.message, /blocker/);
    // The directory vanishing under a running adapter: listing says so.
    await Deno.remove(base, { recursive: true });
    await Deno.writeTextFile(base, "now a file");
    const list = await rejectsWithCode(() => adapter.listScopes(), "STORAGE_UNAVAILABLE");
    assert.ok(list.message.startsWith(base), list.message);
    await rejectsWithCode(() => adapter.retrieve("s", "k"), "STORAGE_UNAVAILABLE");
    await rejectsWithCode(() => adapter.store("s", "k", 1), "STORAGE_UNAVAILABLE");
    await Deno.remove(base);
  }),
);

Deno.test(
  "local: malformed arguments a type checker would catch are INVALID_ARGUMENT",
  withAdapter(async ({ adapter }) => {
    const updatedBy = 5 as unknown as string;
    await rejectsWithCode(() => adapter.store("s", "k", 1, { updatedBy }), "INVALID_ARGUMENT");
    const entry = null as unknown as Entry;
    await rejectsWithCode(() => adapter.restore("s", "k", entry), "INVALID_ARGUMENT");
    const value = (() => {}) as unknown as JsonValue;
    await rejectsWithCode(() => adapter.store("s", "k", value), "INVALID_ARGUMENT");
    assert.deepEqual(await adapter.listScopes(), []);
  }),
);

Deno.test("local: createFileAdapter wants an absolute path", async () => {
  const err = await rejectsWithCode(
    () => createFileAdapter({ basePath: "relative/dir", limits: LIMITS }),
    "CONFIG_INVALID",
  );
  assert.match(err.message, /^storage\.config\.base_path: /);
});

Deno.test("local factory: base_path resolves against the project root", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "csc_factory_" });
  const context = { projectRoot: root, limits: LIMITS };
  try {
    await t.step("relative base_path", async () => {
      const adapter = await fileAdapterFactory({ base_path: "state/here" }, context);
      assert.equal(adapter.name, "local");
      await adapter.store("s", "k", 1);
      await adapter.close();
      assert.ok((await Deno.stat(join(root, "state", "here", "s.json"))).isFile);
    });
    await t.step("the default base_path", async () => {
      const adapter = await fileAdapterFactory({}, context);
      await adapter.store("s", "k", 1);
      await adapter.close();
      assert.ok((await Deno.stat(join(root, DEFAULT_BASE_PATH, "s.json"))).isFile);
    });
    await t.step("an absolute base_path is used as it is", async () => {
      const abs = join(root, "abs");
      const adapter = await fileAdapterFactory({ base_path: abs }, context);
      await adapter.store("s", "k", 1);
      await adapter.close();
      assert.ok((await Deno.stat(join(abs, "s.json"))).isFile);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("local factory: invalid config is CONFIG_INVALID naming the field", async (t) => {
  const context = { projectRoot: "/nonexistent-project", limits: LIMITS };
  const cases: [string, unknown, RegExp][] = [
    ["a number", { base_path: 5 }, /^storage\.config\.base_path: must be a string/],
    ["null", { base_path: null }, /^storage\.config\.base_path: must be a string/],
    ["empty", { base_path: "" }, /^storage\.config\.base_path: must not be empty/],
    ["a NUL", { base_path: "a\0b" }, /^storage\.config\.base_path: must not contain a NUL/],
    ["an unknown field", { base_path: "x", colour: "red" }, /^storage\.config\.colour: unknown/],
    ["not an object", "state", /^storage\.config: must be an object/],
  ];
  for (const [what, config, message] of cases) {
    await t.step(what, async () => {
      const err = await rejectsWithCode(
        () => fileAdapterFactory(config as Record<string, unknown>, context),
        "CONFIG_INVALID",
      );
      assert.match(err.message, message);
      assert.ok(typeof err.details.field === "string");
    });
  }
});
