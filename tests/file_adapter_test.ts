/** The local file adapter: the shared contract plus what only a file adapter has. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createFileAdapter,
  DEFAULT_BASE_PATH,
  fileAdapterFactory,
} from "../src/storage/file/adapter.ts";
import {
  type AdapterLimits,
  type Entry,
  type StorageAdapter,
  versionSeed,
} from "../src/storage/contract.ts";
import type { JsonValue } from "../src/core/json.ts";
import { type Scope } from "../src/core/scope.ts";
import { MAX_KEPT_FILES } from "../src/storage/file/_context.ts";
import {
  fileNameToScope,
  isHashedFileName,
  LOG_FILE_SUFFIX,
  scopeToFileName,
} from "../src/storage/file/names.ts";
import {
  AWKWARD_SCOPES,
  rejectsWithCode,
  runStorageContract,
} from "../src/storage/testing/contract_suite.ts";

const LIMITS: AdapterLimits = { maxValueBytes: 1024 * 1024 };

runStorageContract("local", async (limits, now) => {
  const dir = await Deno.makeTempDir({ prefix: "csc_contract_" });
  const basePath = join(dir, "state");
  const adapter = await createFileAdapter({ basePath, limits, now });
  return {
    adapter,
    // Another adapter on the same directory, as another process would open it.
    open: () => createFileAdapter({ basePath, limits, now }),
    // The whole state directory deleted under the running adapters.
    wipe: () => Deno.remove(basePath, { recursive: true }),
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
  /** Moves the adapter's clock forward (and that of adapters made by `another`). */
  advance: (ms: number) => void;
  /** The scope's log (format 2). */
  logOf: (scope: string) => string;
  /** The scope's format-1 file. */
  legacyOf: (scope: string) => string;
  /** Another adapter over the same directory, with its own cache: as another process would be. */
  another: () => Promise<StorageAdapter>;
}

/** Runs `fn` over a fresh adapter in a fresh temp dir, removed afterwards. */
function withAdapter(fn: (f: Fixture) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = await Deno.makeTempDir({ prefix: "csc_file_" });
    const base = join(root, "state");
    let skew = 0;
    const now = () => Date.now() + skew;
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS, now });
    const others: StorageAdapter[] = [];
    try {
      await fn({
        root,
        base,
        adapter,
        advance: (ms) => {
          skew += ms;
        },
        logOf: (scope) => join(base, scopeToFileName(scope as Scope, LOG_FILE_SUFFIX)),
        legacyOf: (scope) => join(base, scopeToFileName(scope as Scope)),
        another: async () => {
          const other = await createFileAdapter({ basePath: base, limits: LIMITS, now });
          others.push(other);
          return other;
        },
      });
    } finally {
      for (const other of others) await other.close();
      await adapter.close();
      await Deno.remove(root, { recursive: true });
    }
  };
}

/** A log read by hand: its complete lines parsed, and the bytes after the last newline. */
interface ParsedLog {
  header: Record<string, unknown>;
  records: Record<string, unknown>[];
  lines: string[];
  tail: string;
}

async function readLog(path: string): Promise<ParsedLog> {
  const text = await Deno.readTextFile(path);
  const lines = text.split("\n");
  const tail = lines.pop()!;
  const parsed = lines.map((line) => JSON.parse(line));
  return { header: parsed[0], records: parsed.slice(1), lines, tail };
}

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

async function appendText(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { append: true });
}

Deno.test(
  "local: the on-disk format is a JSON Lines log, a header and then one line per write",
  withAdapter(async ({ adapter, logOf }) => {
    const t0 = Date.now();
    const a = await adapter.store("proj:x", "task", { title: "write tests" }, {
      updatedBy: "claude_1",
    });
    const b = await adapter.store("proj:x", "lease", "mine", { ttlSeconds: 30 });
    assert.equal(await adapter.delete("proj:x", "task"), true);
    const c = await adapter.store("proj:x", "task", ["again"], { updatedBy: "claude_2" });
    const log = await readLog(logOf("proj:x"));
    assert.equal(log.tail, "", "every line ends with a newline");
    assert.deepEqual(Object.keys(log.header), [
      "format",
      "scope",
      "generation",
      "seq",
      "created_at",
      "file_id",
    ]);
    assert.equal(log.header.format, 2);
    assert.equal(log.header.scope, "proj:x");
    assert.equal(log.header.generation, 1);
    assert.equal(log.header.seq, a.version, "the header was written with the first write");
    assert.match(log.header.file_id as string, /^[0-9a-f]{16}$/);
    assert.ok(Date.parse(log.header.created_at as string) >= t0 - 1000);
    assert.equal(log.records.length, 4, "one line per write");
    assert.deepEqual(log.records[0], {
      op: "set",
      key: "task",
      value: { title: "write tests" },
      version: a.version,
      updated_at: a.updatedAt,
      updated_by: "claude_1",
      expires_at: null,
    });
    assert.deepEqual(log.records[1], {
      op: "set",
      key: "lease",
      value: "mine",
      version: b.version,
      updated_at: b.updatedAt,
      updated_by: null,
      expires_at: b.expiresAt,
    });
    assert.deepEqual(Object.keys(log.records[2]), ["op", "key", "at"]);
    assert.equal(log.records[2].op, "del");
    assert.equal(log.records[2].key, "task");
    assert.ok(!Number.isNaN(Date.parse(log.records[2].at as string)));
    assert.equal(log.records[3].version, c.version);
    assert.ok(c.version > b.version && b.version > a.version);
    // Field order is fixed, so the lines read well with cat or grep.
    assert.ok(log.lines[1].startsWith('{"op":"set","key":"task","value":{"title":"write tests"}'));
  }),
);

Deno.test(
  "local: writes that change nothing append nothing",
  withAdapter(async ({ adapter, logOf }) => {
    await adapter.store("s", "k", 1);
    const before = await Deno.readTextFile(logOf("s"));
    assert.equal(await adapter.delete("s", "absent"), false);
    assert.equal(await adapter.delete("s", "absent", { ifVersion: 0 }), false);
    await rejectsWithCode(() => adapter.store("s", "k", 2, { ifVersion: 0 }), "VERSION_CONFLICT");
    await rejectsWithCode(() => adapter.delete("s", "k", { ifVersion: 9 }), "VERSION_CONFLICT");
    const expired = { value: 1, version: 5, updatedAt: "2024-01-01T00:00:00.000Z" };
    assert.equal(
      await adapter.restore("s", "old", {
        ...expired,
        updatedBy: null,
        expiresAt: "2024-01-02T00:00:00.000Z",
        heldBy: null,
      }),
      false,
    );
    await adapter.retrieve("s", "k");
    await adapter.listEntries("s");
    await adapter.listScopes();
    assert.equal(await Deno.readTextFile(logOf("s")), before);
    // Nor do they create a log for a scope that has none.
    assert.equal(await adapter.delete("none", "k"), false);
    await rejectsWithCode(
      () => adapter.store("none", "k", 1, { ifVersion: 3 }),
      "VERSION_CONFLICT",
    );
    await assert.rejects(Deno.stat(logOf("none")), Deno.errors.NotFound);
  }),
);

Deno.test(
  "local: an emptied scope keeps its log and seq but is not listed; so does a deleted one",
  withAdapter(async ({ adapter, base, logOf, another }) => {
    await adapter.store("s", "a", 1);
    const { version } = await adapter.store("s", "b", 2);
    await adapter.delete("s", "a");
    await adapter.delete("s", "b");
    const log = await readLog(logOf("s"));
    assert.deepEqual(log.records.map((r) => r.op), ["set", "set", "del", "del"]);
    assert.deepEqual(await adapter.listScopes(), []);
    const c = await adapter.store("s", "c", 3);
    assert.ok(c.version > version, "seq is kept");
    assert.equal(await adapter.deleteScope("s"), true);
    // deleteScope leaves the header alone, with the counter, one generation on.
    const deleted = await readLog(logOf("s"));
    assert.deepEqual(deleted.records, []);
    assert.equal(deleted.header.seq, c.version);
    assert.equal(deleted.header.generation, 2);
    assert.equal(deleted.header.created_at, log.header.created_at);
    assert.deepEqual(await adapter.listScopes(), []);
    assert.equal(await adapter.deleteScope("s"), false, "nothing to delete: nothing written");
    assert.equal((await readLog(logOf("s"))).header.file_id, deleted.header.file_id);
    assert.ok((await (await another()).store("s", "a", 4)).version > c.version);
    assert.deepEqual(await listDir(base), [".locks", "s.jsonl"]);
    assert.deepEqual(
      await listDir(join(base, ".locks")),
      [scopeToFileName("s" as Scope) + ".lock"],
      "lock files are never deleted, and keep their format-1 names",
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
  "local: every scope maps to one log directly inside basePath and back",
  withAdapter(async ({ adapter, root, base }) => {
    const scopes = [...AWKWARD_SCOPES, "Mixed:Case/Path", "a%2fb", "ends.", "y.jsonl"];
    for (const scope of scopes) await adapter.store(scope, "k", scope);
    assert.deepEqual(await listDir(root), ["state"], "nothing is created beside basePath");
    const names = (await listDir(base)).filter((n) => n !== ".locks");
    assert.equal(names.length, scopes.length, "exactly one file per scope, no temp files left");
    const expected = scopes.map((s) => scopeToFileName(s as Scope, LOG_FILE_SUFFIX)).sort();
    assert.deepEqual(names, expected);
    const lowered = new Set(names.map((n) => n.toLowerCase()));
    assert.equal(lowered.size, names.length, "names differ even on case-insensitive disks");
    for (const scope of scopes) {
      const name = scopeToFileName(scope as Scope, LOG_FILE_SUFFIX);
      assert.ok(!/[/\\]/.test(name) && !name.startsWith("."), `${name} stays in the directory`);
      assert.ok(name.endsWith(".jsonl"));
      const info = await Deno.stat(join(base, name));
      assert.ok(info.isFile);
      const { header } = await readLog(join(base, name));
      assert.equal(header.scope, scope);
      if (isHashedFileName(name, LOG_FILE_SUFFIX)) {
        assert.equal(fileNameToScope(name, LOG_FILE_SUFFIX), null);
      } else assert.equal(fileNameToScope(name, LOG_FILE_SUFFIX), scope);
    }
    // The lock directory holds only lock files, flat, named as before.
    for (const lock of await listDir(join(base, ".locks"))) {
      assert.ok(lock.endsWith(".json.lock"), lock);
      assert.ok((await Deno.stat(join(base, ".locks", lock))).isFile);
    }
    assert.deepEqual(await adapter.listScopes(), [...scopes].sort());
  }),
);

/** A whole log: a header for scope "bad", then `lines`. */
function logText(lines: string[], header: Record<string, unknown> = {}): string {
  const head = {
    format: 2,
    scope: "bad",
    generation: 1,
    seq: 0,
    created_at: "2024-01-01T00:00:00.000Z",
    file_id: "00112233aabbccdd",
    ...header,
  };
  return [JSON.stringify(head), ...lines].map((l) => l + "\n").join("");
}

/** A good `set` line, with `change` applied. */
function setLine(version: number, change: Record<string, unknown> = {}): string {
  return JSON.stringify({
    op: "set",
    key: "k",
    value: { v: version },
    version,
    updated_at: "2024-01-01T00:00:00.000Z",
    updated_by: null,
    expires_at: null,
    ...change,
  });
}

const LOG_CORRUPTIONS: [string, string | Uint8Array, number, RegExp][] = [
  ["an empty file", "", 1, /no header line/],
  ["a header cut short", '{"format":2,"scope":"bad"', 1, /no header line/],
  ["a record first", setLine(1) + "\n", 1, /is not a header/],
  ["another format", logText([], { format: 3 }), 1, /has a "format" other than 2/],
  ["a header with a bad scope", logText([], { scope: "a\nb" }), 1, /"scope" is not a valid/],
  ["a header without scope", logText([], { scope: 5 }), 1, /"scope" is not a string/],
  ["another scope's header", logText([], { scope: "good" }), 1, /holds another scope than "bad"/],
  ["a bad generation", logText([], { generation: 0 }), 1, /"generation"/],
  ["a bad seq", logText([], { seq: -1 }), 1, /"seq"/],
  ["no created_at", logText([], { created_at: null }), 1, /"created_at"/],
  ["no file_id", logText([], { file_id: 7 }), 1, /"file_id"/],
  ["a bad migrated_sha256", logText([], { migrated_sha256: 1 }), 1, /"migrated_sha256"/],
  ["a line that is not JSON", logText([setLine(1), "{oops"]), 3, /is not valid JSON/],
  ["a blank line", logText([setLine(1), ""]), 3, /is not valid JSON/],
  ["a line that is not an object", logText([setLine(1), "[1]"]), 3, /not a JSON object/],
  ["an unknown op", logText([setLine(1, { op: "put" })]), 2, /has an unknown "op"/],
  ["no op", logText([JSON.stringify({ key: "k" })]), 2, /has no "op"/],
  ["a bad held_by", logText([setLine(1, { held_by: 5 })]), 2, /"held_by" is not a string/],
  ["a batch without ops", logText(['{"op":"batch","ops":[]}']), 2, /"ops" of a batch/],
  [
    "a bad write in a batch",
    logText([`{"op":"batch","ops":[${setLine(1)},{"op":"del","key":"k"}]}`]),
    2,
    /write 2 of the batch "at" is not a string/,
  ],
  [
    "a batch in a batch",
    logText([`{"op":"batch","ops":[{"op":"batch","ops":[${setLine(1)}]}]}`]),
    2,
    /write 1 of the batch has an unknown "op"/,
  ],
  ["a key that is not a string", logText([setLine(1, { key: 1 })]), 2, /"key" is not a string/],
  ["an invalid key", logText([setLine(1, { key: "" })]), 2, /"key" is not a valid key/],
  ["a set without value", logText([setLine(1, { value: undefined })]), 2, /no "value"/],
  ["a version of 0", logText([setLine(0)]), 2, /"version" is not an integer/],
  ["a fractional version", logText([setLine(1.5)]), 2, /"version" is not an integer/],
  ["a bad updated_at", logText([setLine(1, { updated_at: 1 })]), 2, /"updated_at"/],
  ["a bad updated_by", logText([setLine(1, { updated_by: 1 })]), 2, /"updated_by"/],
  ["a bad expires_at", logText([setLine(1, { expires_at: "soon" })]), 2, /"expires_at"/],
  ["a del without time", logText([setLine(1), '{"op":"del","key":"k"}']), 3, /"at"/],
  [
    "invalid UTF-8",
    new Uint8Array([
      ...new TextEncoder().encode(logText([setLine(1)])),
      0x7b,
      0xff,
      0x7d,
      0x0a,
    ]),
    3,
    /not valid UTF-8/,
  ],
];

for (const [what, content, line, message] of LOG_CORRUPTIONS) {
  Deno.test(
    `local: a log with ${what} is CORRUPT_STATE naming file and line, left untouched`,
    withAdapter(async ({ adapter, logOf, another }) => {
      await adapter.store("good", "k", "fine");
      const file = logOf("bad");
      if (typeof content === "string") await Deno.writeTextFile(file, content);
      else await Deno.writeFile(file, content);
      const before = await Deno.readFile(file);
      const other = await another();
      for (const a of [adapter, other]) {
        const calls = [
          () => a.retrieve("bad", "k"),
          () => a.listKeys("bad"),
          () => a.listEntries("bad"),
          () => a.store("bad", "k", 1),
          () => a.store("bad", "k", 1, { ifVersion: 0 }),
          () => a.delete("bad", "k"),
          () =>
            a.restore("bad", "k", {
              value: 1,
              version: 1,
              updatedAt: "2024-01-01T00:00:00.000Z",
              updatedBy: null,
              expiresAt: null,
              heldBy: null,
            }),
          () => a.writeBatch("bad", [{ op: "set", key: "k", value: 1 }]),
        ];
        for (const call of calls) {
          const err = await rejectsWithCode(call, "CORRUPT_STATE");
          assert.equal(err.details.file, file);
          assert.equal(err.details.line, line);
          assert.ok(err.message.startsWith(`${file}: line ${line}: `), err.message);
          assert.match(err.message, message);
        }
      }
      assert.deepEqual(await Deno.readFile(file), before, "the file is byte-for-byte unchanged");
      assert.deepEqual(await adapter.listScopes(), ["bad", "good"], "listed, so people see it");
      assert.equal((await adapter.retrieve("good", "k"))?.value, "fine");
      await adapter.store("good", "k2", "still works");
      assert.deepEqual(await other.listKeys("good"), ["k", "k2"]);
    }),
  );
}

for (const [what, content] of LOG_CORRUPTIONS) {
  Deno.test(
    `local: deleteScope deletes a log with ${what}, and versions go on`,
    withAdapter(async ({ adapter, logOf, another }) => {
      const file = logOf("bad");
      if (typeof content === "string") await Deno.writeTextFile(file, content);
      else await Deno.writeFile(file, content);
      const other = await another();
      await rejectsWithCode(() => other.retrieve("bad", "k"), "CORRUPT_STATE"); // cached so
      const before = Date.now();
      assert.equal(typeof await adapter.deleteScope("bad"), "boolean");
      const log = await readLog(file);
      assert.equal(log.header.scope, "bad");
      assert.deepEqual(log.records, [], "a header alone");
      assert.ok((log.header.seq as number) >= versionSeed(before), "seeded from the clock");
      for (const a of [adapter, other]) {
        assert.equal(await a.retrieve("bad", "k"), null);
        assert.deepEqual(await a.listKeys("bad"), []);
      }
      const next = await other.store("bad", "k", 1);
      assert.ok(next.version > (log.header.seq as number));
      assert.deepEqual(await adapter.listScopes(), ["bad"]);
    }),
  );
}

Deno.test(
  "local: deleteScope of a corrupt log keeps a counter its header has, also above the clock",
  withAdapter(async ({ adapter, logOf }) => {
    const high = versionSeed(Date.now()) + 1_000_000_000;
    await Deno.writeTextFile(logOf("bad"), logText([setLine(high + 5), "{oops"], { seq: high }));
    assert.equal(await adapter.deleteScope("bad"), true, "it held a live key before the bad line");
    const log = await readLog(logOf("bad"));
    assert.equal(log.header.seq, high + 5, "the versions before the bad line count too");
    assert.equal(log.header.generation, 2);
    assert.equal((await adapter.store("bad", "k", 1)).version, high + 6);
  }),
);

Deno.test(
  "local: a corrupt line appended after a reader cached the scope is met on its next read",
  withAdapter(async ({ adapter, logOf, another }) => {
    const other = await another();
    await adapter.store("s", "a", 1);
    const b = await adapter.store("s", "b", 2);
    assert.deepEqual(await other.listKeys("s"), ["a", "b"], "cached by the other adapter");
    const file = logOf("s");
    const c = b.version + 7;
    await appendText(file, setLine(c, { key: "c" }) + "\nnot json\n");
    const before = await Deno.readFile(file);
    for (const a of [adapter, other]) {
      const err = await rejectsWithCode(() => a.retrieve("s", "a"), "CORRUPT_STATE");
      assert.equal(err.details.line, 5);
      const write = await rejectsWithCode(() => a.store("s", "d", 4), "CORRUPT_STATE");
      assert.equal(write.details.line, 5, "a write fails too, at the same line");
      // Asked again, it fails again: the cache never gets past a bad line.
      await rejectsWithCode(() => a.listKeys("s"), "CORRUPT_STATE");
    }
    assert.deepEqual(await Deno.readFile(file), before, "unchanged");
    // A person repairs the file by removing the bad line: everything works again.
    await Deno.writeFile(file, before.subarray(0, before.length - "not json\n".length));
    for (const a of [adapter, other]) assert.deepEqual(await a.listKeys("s"), ["a", "b", "c"]);
    const next = await other.store("s", "d", 4);
    assert.equal(next.version, c + 1, "versions continue above every version in the log");
    assert.equal((await adapter.retrieve("s", "d"))?.version, c + 1);
  }),
);

/** Format-1 files (read for migration) that cannot be read. */
const CORRUPTIONS: [string, string | Uint8Array, RegExp][] = [
  ["truncated JSON", '{"format": 1, "scope": "bad", "da', /not valid JSON/],
  ["empty file", "", /not valid JSON/],
  ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /UTF-8/],
  ["an array", "[]", /not hold a JSON object/],
  ["null", "null", /not hold a JSON object/],
  ["another format", '{"format": 2, "scope": "bad"}', /has a "format" other than 1/],
  ["no scope", '{"format": 1}', /"scope" is not a string/],
  ["another scope", '{"format": 1, "scope": "good", "data": {}}', /holds another scope than "bad"/],
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
  ["a value without metadata", meta({ k: 1 }, {}), /metadata of key 1 of "data" is missing/],
  ["metadata without a value", meta({}, { k: key(1) }), /has no value in "data"/],
  ["a version above seq", meta({ k: 1 }, { k: key(9) }), /"version" is not an integer/],
  ["a fractional version", meta({ k: 1 }, { k: key(0.5) }), /"version" is not an integer/],
  ["no updated_at", meta({ k: 1 }, { k: { ...key(1), updated_at: 5 } }), /"updated_at" is not/],
  ["a bad updated_by", meta({ k: 1 }, { k: { ...key(1), updated_by: 5 } }), /updated_by/],
  ["a bad expiry", meta({ k: 1 }, { k: { ...key(1), expires_at: "soon" } }), /expires_at/],
  ["a bad scope field", '{"format": 1, "scope": "", "data": {}}', /holds another scope/],
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
    `local: a format-1 file with ${what} is CORRUPT_STATE, left untouched`,
    withAdapter(async ({ adapter, legacyOf }) => {
      await adapter.store("good", "k", "fine");
      const file = legacyOf("bad");
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

for (const [what, content] of CORRUPTIONS) {
  Deno.test(
    `local: deleteScope deletes a format-1 file with ${what}`,
    withAdapter(async ({ adapter, logOf, legacyOf }) => {
      const file = legacyOf("bad");
      if (typeof content === "string") await Deno.writeTextFile(file, content);
      else await Deno.writeFile(file, content);
      const before = Date.now();
      assert.equal(await adapter.deleteScope("bad"), false);
      await assert.rejects(Deno.lstat(file), Deno.errors.NotFound);
      const log = await readLog(logOf("bad"));
      assert.deepEqual(log.records, []);
      assert.ok((log.header.seq as number) >= versionSeed(before));
      assert.ok((await adapter.store("bad", "k", 1)).version > (log.header.seq as number));
    }),
  );
}

Deno.test(
  "local: a torn last line is ignored by reads and cut off by the next write",
  withAdapter(async ({ adapter, logOf, another }) => {
    const other = await another();
    await adapter.store("s", "a", 1);
    const b = await adapter.store("s", "b", 2);
    assert.deepEqual(await other.listKeys("s"), ["a", "b"]);
    const file = logOf("s");
    // What a writer killed in the middle of its append leaves: half a line, no newline.
    const torn = setLine(b.version + 1, { key: "torn" });
    await appendText(file, torn.slice(0, 40));
    const withTail = await Deno.readTextFile(file);
    for (const a of [adapter, other]) {
      assert.deepEqual(await a.listKeys("s"), ["a", "b"]);
      assert.equal(await a.retrieve("s", "torn"), null);
    }
    const fresh = await another();
    assert.deepEqual(await fresh.listKeys("s"), ["a", "b"], "also when read whole");
    assert.equal(await Deno.readTextFile(file), withTail, "reads never write");
    // The rest of the line arriving later (as from a writer still running) completes it.
    await appendText(file, torn.slice(40) + "\n");
    assert.deepEqual(await other.listKeys("s"), ["a", "b", "torn"]);
    // Torn again; this time the next write repairs the file.
    await appendText(file, '{"op":"set","key":"half');
    const c = await other.store("s", "c", 3);
    assert.equal(c.version, b.version + 2, "the completed line counted, the torn one did not");
    const log = await readLog(file);
    assert.equal(log.tail, "", "the torn bytes are gone");
    assert.deepEqual(log.records.map((r) => r.key), ["a", "b", "torn", "c"]);
    for (const a of [adapter, other, fresh]) {
      assert.deepEqual(await a.listKeys("s"), ["a", "b", "c", "torn"]);
    }
    // The writer that repairs it may be one whose cache never saw the torn bytes.
    await appendText(file, '{"op":"del"');
    await adapter.delete("s", "torn");
    assert.equal((await readLog(file)).tail, "");
    assert.deepEqual(await fresh.listKeys("s"), ["a", "b", "c"]);
  }),
);

Deno.test(
  "local: a log cut back by hand is read again whole",
  withAdapter(async ({ adapter, logOf, another }) => {
    const other = await another();
    await adapter.store("s", "a", 1);
    await adapter.store("s", "b", 2);
    const c = await adapter.store("s", "c", 3);
    assert.deepEqual(await other.listKeys("s"), ["a", "b", "c"]);
    const file = logOf("s");
    const lines = (await Deno.readTextFile(file)).split("\n");
    // Drop the last line: the file is now shorter than the cached offset.
    await Deno.writeTextFile(file, lines.slice(0, -2).join("\n") + "\n");
    for (const a of [adapter, other]) assert.deepEqual(await a.listKeys("s"), ["a", "b"]);
    const next = await other.store("s", "d", 4);
    assert.equal(next.version, c.version, "the version counter is what the log says");
  }),
);

/** Stores `rounds` x `keys` values of about `bytes` bytes into `scope`. */
async function fill(
  adapter: StorageAdapter,
  scope: string,
  keys: number,
  rounds: number,
  bytes = 1000,
): Promise<number> {
  let last = 0;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < keys; k++) {
      last = (await adapter.store(scope, `k${k}`, { r, k, pad: "x".repeat(bytes) })).version;
    }
  }
  return last;
}

Deno.test(
  "local: a grown log is compacted to a snapshot that other adapters follow",
  withAdapter(async ({ adapter, logOf, another, advance }) => {
    const other = await another();
    const file = logOf("s");
    await adapter.store("s", "lease", "gone soon", { ttlSeconds: 5, updatedBy: "claude_9" });
    const doomed = await adapter.store("s", "doomed", 1);
    assert.deepEqual(await other.listKeys("s"), ["doomed", "lease"], "cached at generation 1");
    const first = (await readLog(file)).header;
    // The highest version so far goes away with its key: seq must still remember it.
    await adapter.delete("s", "doomed");
    advance(10_000); // the lease expires
    // 10 keys of about 1 KB rewritten again and again: the log outgrows 64 KiB.
    const last = await fill(adapter, "s", 10, 8);
    const log = await readLog(file);
    assert.ok((log.header.generation as number) >= 2, "compacted at least once");
    assert.notEqual(log.header.file_id, first.file_id);
    assert.equal(log.header.created_at, first.created_at, "the scope keeps its creation time");
    assert.equal(log.header.scope, "s");
    assert.ok(log.records.length < 80, "fewer lines than writes");
    assert.ok((await Deno.stat(file)).size < 64 * 1024 + 2000);
    const keys = log.records.map((r) => r.key);
    assert.ok(!keys.includes("lease"), "an expired key is dropped at compaction");
    assert.ok(!keys.includes("doomed"), "as is a deleted one");
    // The snapshot starts with one line per key, sorted.
    const snapshotKeys = keys.slice(0, 10);
    assert.deepEqual(snapshotKeys, [...snapshotKeys].sort());
    // The other adapter's cache (of the first file) follows to the new one.
    const entries = await other.listEntries("s");
    assert.deepEqual(
      entries.map((e) => e.key),
      Array.from({ length: 10 }, (_, k) => `k${k}`).sort(),
    );
    for (const e of entries) assert.equal((e.entry.value as { r: number }).r, 7);
    assert.equal((await other.retrieve("s", "k9"))?.version, last);
    assert.deepEqual(await other.retrieve("s", "k3"), await adapter.retrieve("s", "k3"));
    // Versions go on from seq, above the deleted key's too.
    const next = await other.store("s", "doomed", 2);
    assert.equal(next.version, last + 1);
    assert.ok(next.version > doomed.version);
    assert.equal((await adapter.retrieve("s", "doomed"))?.version, next.version);
    // Compaction by the other adapter is followed by the first one as well.
    const before = (await readLog(file)).header.generation as number;
    await fill(other, "s", 10, 8);
    assert.ok(((await readLog(file)).header.generation as number) > before);
    const seen = await adapter.listEntries("s");
    assert.equal(seen.length, 11);
    assert.deepEqual(seen, await other.listEntries("s"));
  }),
);

Deno.test(
  "local: compaction keeps every key's version, times, writer and expiry",
  withAdapter(async ({ adapter, logOf, another }) => {
    const keep = await adapter.store("s", "keep", { deep: [1, { two: 2 }] }, {
      updatedBy: "claude_1",
      ttlSeconds: 3600,
      heldBy: "claude_1/abc",
    });
    const restored: Entry = {
      value: "old",
      version: 3,
      updatedAt: "2024-05-01T12:00:00.000Z",
      updatedBy: "claude_7",
      expiresAt: null,
      heldBy: "claude_7/x",
    };
    await adapter.restore("s", "restored", restored);
    await fill(adapter, "s", 4, 20);
    assert.ok(((await readLog(logOf("s"))).header.generation as number) >= 2);
    const fresh = await another();
    for (const a of [adapter, fresh]) {
      const entry = await a.retrieve("s", "keep");
      assert.deepEqual(entry, {
        value: { deep: [1, { two: 2 }] },
        version: keep.version,
        updatedAt: keep.updatedAt,
        updatedBy: "claude_1",
        expiresAt: keep.expiresAt,
        heldBy: "claude_1/abc",
      });
      assert.deepEqual(await a.retrieve("s", "restored"), restored);
    }
  }),
);

Deno.test(
  "local: a scope deleted and made again is never taken for the old file by a cached reader",
  withAdapter(async ({ adapter, another }) => {
    const other = await another();
    await fill(adapter, "s", 5, 2, 100);
    assert.equal((await other.listKeys("s")).length, 5);
    assert.equal(await adapter.deleteScope("s"), true);
    assert.deepEqual(await other.listKeys("s"), []);
    // Made again and grown past the size the other adapter had cached.
    await fill(adapter, "s", 3, 6, 100);
    const entries = await other.listEntries("s");
    assert.deepEqual(entries.map((e) => e.key), ["k0", "k1", "k2"]);
    assert.equal((entries[0].entry.value as { r: number }).r, 5);
    // The same without a pinned handle: the other adapter uses more scopes than
    // it keeps open, so it has to tell the files apart by their header line.
    await adapter.deleteScope("s");
    await adapter.store("s", "a", 1);
    assert.deepEqual(await other.listKeys("s"), ["a"]);
    for (let i = 0; i < 70; i++) {
      await adapter.store(`t${i}`, "k", i);
      await other.retrieve(`t${i}`, "k");
    }
    const before = (await adapter.retrieve("s", "a"))!.version;
    await adapter.deleteScope("s");
    const last = await fill(adapter, "s", 2, 3, 100);
    assert.deepEqual(await other.listKeys("s"), ["k0", "k1"]);
    assert.equal((await other.retrieve("s", "k1"))?.version, last);
    assert.equal(last, before + 6, "versions go on from the deleted scope's counter");
    assert.equal((await other.listScopes("t*")).length, 70);
  }),
);

Deno.test(
  "local: many scopes keep a bounded number of files open",
  withAdapter(async ({ adapter, another }) => {
    const fds = async () => (await listDir("/proc/self/fd")).length;
    if (Deno.build.os !== "linux") return;
    const other = await another();
    const before = await fds();
    for (let i = 0; i < 150; i++) await adapter.store(`m${i}`, "k", i);
    for (let i = 0; i < 150; i++) assert.equal((await other.retrieve(`m${i}`, "k"))?.value, i);
    assert.equal((await other.listScopes("m*")).length, 150);
    const during = await fds();
    assert.ok(during - before <= 2 * MAX_KEPT_FILES + 4, `${during - before} more open files`);
    await other.close();
    await adapter.close();
    assert.ok((await fds()) <= before + 1, "close releases them");
  }),
);

Deno.test(
  "local: expired keys stay in the log, invisible, until compaction",
  withAdapter(async ({ adapter, advance, logOf }) => {
    await adapter.store("p", "gone", 1, { ttlSeconds: 10 });
    await adapter.store("p", "stays", 2);
    advance(20_000);
    assert.equal(await adapter.retrieve("p", "gone"), null);
    assert.deepEqual(await adapter.listKeys("p"), ["stays"]);
    await adapter.store("p", "new", 3);
    const keys = (await readLog(logOf("p"))).records.map((r) => r.key);
    assert.deepEqual(keys, ["gone", "stays", "new"], "reads and writes never rewrite the log");
    // Deleting an expired key writes nothing: it is already absent.
    assert.equal(await adapter.delete("p", "gone"), false);
    assert.equal((await readLog(logOf("p"))).records.length, 3);
  }),
);

Deno.test(
  "local: temp files left by writers that died are swept when an adapter opens",
  withAdapter(async ({ adapter, base }) => {
    await adapter.store("s", "k", 1);
    const stale = [
      ".s.json.4242.1f2e.tmp",
      ".s.jsonl.4242.1f2f.tmp",
      ".%h-" + "a".repeat(64) + ".json.7.0.tmp",
      ".%h-" + "a".repeat(64) + ".jsonl.7.0.tmp",
    ];
    const kept = [
      ".s.json.tmp",
      ".notes",
      "s.json.1.a.tmp",
      ".x.json.12.zz.tmp",
      ".a.1.b.tmp",
      ".s.jsonx.1.a.tmp",
    ];
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
  withAdapter(async ({ adapter, logOf, legacyOf }) => {
    await Deno.mkdir(logOf("dir"));
    await Deno.mkdir(legacyOf("old"));
    for (const scope of ["dir", "old"]) {
      const err = await rejectsWithCode(() => adapter.retrieve(scope, "k"), "CORRUPT_STATE");
      assert.match(err.message, /is a directory/);
      await rejectsWithCode(() => adapter.store(scope, "k", 1), "CORRUPT_STATE");
      // Never removed, not even by deleteScope: a directory may hold anything.
      const del = await rejectsWithCode(() => adapter.deleteScope(scope), "CORRUPT_STATE");
      assert.match(del.message, /is a directory/);
    }
    assert.deepEqual(await adapter.listScopes(), []);
  }),
);

Deno.test(
  "local: listScopes skips corrupt or mismatched hashed files",
  withAdapter(async ({ adapter, base, another }) => {
    const long = "L".repeat(200);
    await adapter.store(long, "k", 1);
    const hashed = scopeToFileName(long as Scope, LOG_FILE_SUFFIX);
    assert.ok(isHashedFileName(hashed, LOG_FILE_SUFFIX));
    assert.deepEqual(await adapter.listScopes(), [long]);
    // A hashed log whose scope belongs to another name (copied by hand).
    const copy = "%h-" + "0".repeat(64) + ".jsonl";
    await Deno.copyFile(join(base, hashed), join(base, copy));
    // Hashed logs that cannot be read at all, or name an impossible scope.
    await Deno.writeTextFile(join(base, "%h-" + "1".repeat(64) + ".jsonl"), "{oops\n");
    await Deno.writeTextFile(join(base, "%h-" + "2".repeat(64) + ".jsonl"), logText([]));
    // The same for format-1 files.
    await Deno.writeTextFile(join(base, "%h-" + "3".repeat(64) + ".json"), "{oops");
    await Deno.writeTextFile(
      join(base, "%h-" + "4".repeat(64) + ".json"),
      JSON.stringify({ format: 1, scope: "nul\u0000", data: {}, metadata: {} }),
    );
    for (const a of [adapter, await another()]) {
      assert.deepEqual(await a.listScopes(), [long]);
      assert.deepEqual(await a.listScopes("L*"), [long]);
      assert.deepEqual(await a.listScopes("M*"), []);
    }
    // A corrupt log under the scope's own hashed name is CORRUPT_STATE on read.
    await Deno.writeTextFile(join(base, hashed), "[]\n");
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
    await Deno.writeTextFile(join(base, "Upper.jsonl"), "{}\n");
    await Deno.writeTextFile(join(base, "bad%zz.json"), "{}");
    await Deno.writeTextFile(join(base, "bad%zz.jsonl"), "{}\n");
    await Deno.writeTextFile(join(base, "%ff.json"), "{}"); // not UTF-8
    await Deno.writeTextFile(join(base, ".real.json.123.abc.tmp"), "{partial");
    await Deno.writeTextFile(join(base, ".real.jsonl.123.abc.tmp"), "{partial");
    await Deno.writeTextFile(join(base, ".hidden.json"), "{}");
    await Deno.mkdir(join(base, "subdir.json"));
    await Deno.mkdir(join(base, "subdir.jsonl"));
    await Deno.mkdir(join(base, "nested"));
    await Deno.writeTextFile(join(base, "nested", "x.json"), "{}");
    assert.deepEqual(await adapter.listScopes(), ["real"]);
    assert.equal((await adapter.retrieve("real", "k"))?.value, 1);
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
  "local: a loop of nothing but reads still lets timers and I/O run",
  withAdapter(async ({ adapter }) => {
    await adapter.store("s", "k", 1);
    let fired = false;
    setTimeout(() => {
      fired = true;
    }, 0);
    const deadline = performance.now() + 5_000;
    let reads = 0;
    while (!fired && performance.now() < deadline) {
      // Answered from the cache: no I/O of its own to wait for.
      await adapter.retrieve("s", "k");
      await adapter.listKeys("s");
      await adapter.listEntries("s");
      reads++;
    }
    assert.ok(fired, `the timer ran (after ${reads} rounds of reads)`);
  }),
);

Deno.test(
  "local: a read that gave the event loop a turn sees a close that came meanwhile",
  withAdapter(async ({ adapter }) => {
    await adapter.store("s", "k", 1);
    await new Promise((r) => setTimeout(r, 5)); // the loop has turned
    await adapter.retrieve("s", "k"); // notes the time, then runs on without a turn
    const until = performance.now() + 30;
    while (performance.now() < until) { /* no turn of the event loop for 30 ms */ }
    const pending = adapter.retrieve("s", "k"); // so this one waits for a turn...
    await adapter.close(); // ...in which the adapter closes
    const err = await rejectsWithCode(() => pending, "STORAGE_UNAVAILABLE");
    assert.match(err.message, /adapter is closed/);
  }),
);

Deno.test(
  "local: a closed adapter refuses every call",
  withAdapter(async ({ adapter }) => {
    const first = await adapter.store("s", "k", 1);
    const pending = adapter.store("s", "k2", 2);
    await adapter.close();
    assert.equal(
      (await pending).version,
      first.version + 1,
      "a write in flight finishes before close returns",
    );
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
          heldBy: null,
        }),
      () => adapter.writeBatch("s", [{ op: "delete", key: "k" }]),
    ];
    adapter.watch(() => {})(); // a watch on a closed adapter reports nothing, and throws nothing
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
      assert.ok((await Deno.stat(join(root, "state", "here", "s.jsonl"))).isFile);
    });
    await t.step("the default base_path", async () => {
      const adapter = await fileAdapterFactory({}, context);
      await adapter.store("s", "k", 1);
      await adapter.close();
      assert.ok((await Deno.stat(join(root, DEFAULT_BASE_PATH, "s.jsonl"))).isFile);
    });
    await t.step("an absolute base_path is used as it is", async () => {
      const abs = join(root, "abs");
      const adapter = await fileAdapterFactory({ base_path: abs }, context);
      await adapter.store("s", "k", 1);
      await adapter.close();
      assert.ok((await Deno.stat(join(abs, "s.jsonl"))).isFile);
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

Deno.test("a log of expired short-lived keys compacts instead of growing for ever", async () => {
  const dir = await Deno.makeTempDir();
  let now = Date.UTC(2026, 0, 1);
  const adapter = await createFileAdapter({
    basePath: dir,
    limits: { maxValueBytes: 1 << 20 },
    now: () => now,
  });
  try {
    for (let i = 0; i < 2000; i++) {
      await adapter.store("m:o/r:claims", `claim-${i}`, { by: "claude_1", pad: "x".repeat(60) }, {
        ttlSeconds: 1,
      });
    }
    const file = join(dir, "m~o+r~claims.jsonl");
    const before = (await Deno.stat(file)).size;
    now += 5_000;
    await adapter.store("m:o/r:claims", "fresh", 1);
    const text = await Deno.readTextFile(file);
    assert.ok(before > 100_000, `the log grew to ${before} bytes`);
    assert.ok(text.length < 1_000, `compacted to ${text.length} bytes`);
    assert.equal(JSON.parse(text.split("\n")[0]).generation, 2);
    assert.deepEqual(await adapter.listKeys("m:o/r:claims"), ["fresh"]);
  } finally {
    await adapter.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock held too long (a stopped process) gives STORAGE_UNAVAILABLE instead of hanging", async () => {
  const { withFileLock } = await import("../src/storage/file/_io.ts");
  const dir = await Deno.makeTempDir();
  const lockPath = join(dir, "scope.json.lock");
  // A second open file description blocks on flock just like another process.
  const holder = await Deno.open(lockPath, { read: true, write: true, create: true });
  await holder.lock(true);
  try {
    const started = Date.now();
    await rejectsWithCode(
      () => withFileLock(lockPath, () => Promise.resolve(1), 300),
      "STORAGE_UNAVAILABLE",
    );
    assert.ok(Date.now() - started < 2000);
    holder.close();
    // The abandoned wait lets go once it gets the lock: the next writer is not blocked.
    assert.equal(await withFileLock(lockPath, () => Promise.resolve(2), 2000), 2);
  } finally {
    try {
      holder.close();
    } catch { /* closed above */ }
    await Deno.remove(dir, { recursive: true });
  }
});
