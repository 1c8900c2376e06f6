/**
 * The local adapter when its state directory is deleted under running
 * processes (a wipe): the next write re-creates the directories without an
 * error, and versions are seeded from the clock, so a version read before
 * the wipe never matches a key written after it, also in a process whose
 * cache still knew the old log.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";
import { spawnChild } from "./fixtures/file_child.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };

Deno.test("local: versions never repeat after the state directory is wiped", async () => {
  const root = await Deno.makeTempDir({ prefix: "csc_wipe_" });
  const base = join(root, "state");
  const adapters: StorageAdapter[] = [];
  const open = async () => {
    const a = await createFileAdapter({ basePath: base, limits: LIMITS });
    adapters.push(a);
    return a;
  };
  const child = await (async () => {
    await Deno.mkdir(base, { recursive: true });
    return await spawnChild(base);
  })();
  try {
    const a = await open();
    const b = await open();
    const before = await a.store("s", "k", "before");
    await a.store("s", "other", 1);
    // Both B and the child cache the scope's log as it was.
    const held = (await b.retrieve("s", "k"))!.version;
    assert.equal(held, before.version);
    const childHeld = await child.call("retrieve", ["s", "k"]);
    assert.ok(childHeld.ok);
    assert.equal((childHeld.value as { version: number }).version, held);

    await Deno.remove(base, { recursive: true });
    // A wipe takes far longer than a millisecond of the clock the seed is taken from.
    await new Promise((r) => setTimeout(r, 5));

    for (const handle of [a, b]) {
      assert.equal(await handle.retrieve("s", "k"), null);
      assert.deepEqual(await handle.listScopes(), [], "an absent directory lists no scope");
      assert.deepEqual(await handle.listKeys("s"), []);
    }
    // The child writes first, with a cache that knew the old log.
    const after = await child.call("store", ["s", "k", "after"]);
    assert.ok(after.ok, JSON.stringify(after));
    const afterVersion = (after.value as { version: number }).version;
    assert.ok(afterVersion > held, `${afterVersion} is above ${held}`);
    // A version read before the wipe matches nothing written after it.
    const err = await rejectsWithCode(
      () => b.store("s", "k", "stale", { ifVersion: held }),
      "VERSION_CONFLICT",
    );
    assert.equal(err.details.current_version, afterVersion);
    await rejectsWithCode(() => b.delete("s", "k", { ifVersion: held }), "VERSION_CONFLICT");
    const childStale = await child.call("store", ["s", "k", "stale", { ifVersion: held }]);
    assert.ok(!childStale.ok && childStale.code === "VERSION_CONFLICT");
    assert.equal((await a.retrieve("s", "k"))?.value, "after");
    assert.deepEqual(await a.listKeys("s"), ["k"], "the old keys are gone");
    const next = await a.store("s", "n", 1);
    assert.ok(next.version > afterVersion);
  } finally {
    await child.close();
    for (const a of adapters) await a.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("local: the next write after a wipe re-creates the state and lock directories", async () => {
  const root = await Deno.makeTempDir({ prefix: "csc_wipe_" });
  const base = join(root, "state");
  const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
  try {
    await adapter.store("s", "k", 1);
    await Deno.remove(base, { recursive: true });
    await adapter.store("s", "k", 2);
    await adapter.writeBatch("t", [{ op: "set", key: "a", value: 1 }]);
    assert.equal((await adapter.retrieve("s", "k"))?.value, 2);
    assert.ok((await Deno.stat(join(base, ".locks"))).isDirectory);
    await Deno.remove(base, { recursive: true });
    assert.equal(await adapter.deleteScope("s"), false);
    await Deno.remove(base, { recursive: true }).catch(() => {});
    await adapter.restore("r", "k", {
      value: 1,
      version: 5,
      updatedAt: "2024-01-01T00:00:00.000Z",
      updatedBy: null,
      expiresAt: null,
      heldBy: null,
    });
    assert.deepEqual(await adapter.listScopes(), ["r"]);
  } finally {
    await adapter.close();
    await Deno.remove(root, { recursive: true });
  }
});
