/**
 * writeBatch and heldBy on disk in the local adapter: a batch is one line,
 * so a crash leaves all of it or none; a batch of one write is that write's
 * own line; held_by is written only when set; compaction folds batches into
 * plain lines and keeps holders.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import type { Scope } from "../src/core/scope.ts";
import { LOG_FILE_SUFFIX, scopeToFileName } from "../src/storage/file/names.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };

async function withAdapter(
  fn: (
    a: StorageAdapter,
    logOf: (scope: string) => string,
    open: () => Promise<StorageAdapter>,
  ) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "csc_batch_" });
  const base = join(root, "state");
  const opened: StorageAdapter[] = [];
  const open = async () => {
    const a = await createFileAdapter({ basePath: base, limits: LIMITS });
    opened.push(a);
    return a;
  };
  try {
    await fn(await open(), (s) => join(base, scopeToFileName(s as Scope, LOG_FILE_SUFFIX)), open);
  } finally {
    for (const a of opened) await a.close();
    await Deno.remove(root, { recursive: true });
  }
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").slice(0, -1).map((l) => JSON.parse(l));
}

Deno.test("local batch: one line holding every write; one write is a plain line", async () => {
  await withAdapter(async (a, logOf, open) => {
    const other = await open();
    await a.store("b", "gone", 1);
    assert.deepEqual(await other.listKeys("b"), ["gone"], "cached by the other adapter");
    const [x, , , y] = await a.writeBatch("b", [
      { op: "set", key: "x", value: { n: 1 }, heldBy: "claude_1/g1" },
      { op: "delete", key: "gone" },
      { op: "check", key: "never", ifVersion: 0 },
      { op: "set", key: "y", value: 2, ttlSeconds: 60 },
    ], { updatedBy: "claude_1" });
    assert.ok(x.op === "set" && y.op === "set");
    const [, , batch] = await lines(logOf("b"));
    assert.deepEqual(Object.keys(batch), ["op", "ops"]);
    assert.equal(batch.op, "batch");
    const ops = batch.ops as Record<string, unknown>[];
    assert.deepEqual(ops.map((o) => [o.op, o.key]), [["set", "x"], ["del", "gone"], ["set", "y"]]);
    assert.equal(ops[0].held_by, "claude_1/g1");
    assert.equal(ops[0].version, x.version);
    assert.equal(ops[0].updated_by, "claude_1");
    assert.ok(!("held_by" in ops[2]), "held_by is written only when set");
    for (const h of [a, other, await open()]) {
      assert.deepEqual(await h.listKeys("b"), ["x", "y"]);
      assert.equal((await h.retrieve("b", "x"))?.heldBy, "claude_1/g1");
      assert.equal((await h.retrieve("b", "y"))?.version, y.version);
    }
    await a.writeBatch("b", [{ op: "set", key: "z", value: 3 }]);
    const last = (await lines(logOf("b"))).at(-1)!;
    assert.equal(last.op, "set", "a batch of one write is that write's own line");
    assert.equal(last.key, "z");
  });
});

Deno.test("local batch: a batch line cut short by a crash applies none of its writes", async () => {
  await withAdapter(async (a, logOf, open) => {
    await a.store("t", "a", 0);
    const before = await Deno.readFile(logOf("t"));
    await a.writeBatch("t", [
      { op: "set", key: "a", value: 1 },
      { op: "set", key: "b", value: 2 },
    ]);
    const whole = await Deno.readFile(logOf("t"));
    // What a writer killed in the middle of its append leaves.
    await Deno.writeFile(logOf("t"), whole.subarray(0, before.length + 60));
    const fresh = await open();
    assert.equal(
      (await fresh.retrieve("t", "a"))?.value,
      0,
      "the first write of the batch is not applied",
    );
    assert.equal(await fresh.retrieve("t", "b"), null);
    // The next write cuts the torn line off and goes on.
    await fresh.store("t", "c", 3);
    const text = await Deno.readTextFile(logOf("t"));
    assert.ok(!text.includes('"batch"'));
    assert.deepEqual(await (await open()).listKeys("t"), ["a", "c"]);
  });
});

Deno.test("local batch: compaction folds batches into plain lines and keeps holders", async () => {
  await withAdapter(async (a, logOf, open) => {
    const pad = "x".repeat(2000);
    for (let round = 0; round < 20; round++) {
      await a.writeBatch(
        "c",
        Array.from({ length: 5 }, (_, i) => ({
          op: "set" as const,
          key: `k${i}`,
          value: { round, pad },
          heldBy: `h${i}`,
        })),
      );
    }
    const all = await lines(logOf("c"));
    assert.ok((all[0].generation as number) >= 2, "compacted");
    assert.ok(all.slice(1).some((l) => l.op === "set"), "snapshot lines are plain sets");
    const fresh = await open();
    for (let i = 0; i < 5; i++) {
      const entry = await fresh.retrieve("c", `k${i}`);
      assert.equal((entry?.value as { round: number }).round, 19);
      assert.equal(entry?.heldBy, `h${i}`);
    }
  });
});

Deno.test("local batch: a scope's first write may be a batch; its versions start at the clock", async () => {
  await withAdapter(async (a, logOf) => {
    const before = Date.now() * 1000;
    const [first, second] = await a.writeBatch("new", [
      { op: "set", key: "a", value: 1 },
      { op: "set", key: "b", value: 2, heldBy: "h" },
    ]);
    assert.ok(first.op === "set" && second.op === "set");
    assert.ok(first.version > before - 1_000_000);
    assert.equal(second.version, first.version + 1);
    const [header, ...records] = await lines(logOf("new"));
    assert.equal(header.seq, second.version);
    assert.deepEqual(records.map((r) => [r.key, r.held_by]), [["a", undefined], ["b", "h"]]);
  });
});
