/**
 * The local adapter's change feed (watch) beyond the shared suite: writes of
 * another process, hashed scope names, a state directory deleted and made
 * again, a file system that reports nothing (the rescan), a listener that
 * throws. Deadlines are generous and polled: the feed's latency is printed,
 * never asserted tightly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { Change, StorageAdapter } from "../src/storage/contract.ts";
import { createChangeFeed } from "../src/storage/file/_watch.ts";
import type { Scope } from "../src/core/scope.ts";
import { LOG_FILE_SUFFIX, scopeToFileName } from "../src/storage/file/names.ts";
import { spawnChild } from "./fixtures/file_child.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };
const DEADLINE_MS = 10_000;

/** Collects changes; `until` polls for one that satisfies `ok`. */
function recorder() {
  const seen: { at: number; change: Change }[] = [];
  return {
    seen,
    listener: (change: Change) => void seen.push({ at: performance.now(), change }),
    /** Waits for a change matching `ok` after index `from`; returns when it came. */
    async until(what: string, ok: (change: Change) => boolean, from = 0): Promise<number> {
      const deadline = performance.now() + DEADLINE_MS;
      for (;;) {
        const found = seen.slice(from).find((s) => ok(s.change));
        if (found) return found.at;
        if (performance.now() > deadline) {
          assert.fail(
            `not reported within ${DEADLINE_MS} ms: ${what}; got ${JSON.stringify(seen)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

const names = (scope: string) => (c: Change) => "scopes" in c && c.scopes.includes(scope);
const all = (c: Change) => "all" in c;

async function withDir(fn: (base: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "csc_watch_" });
  try {
    await fn(join(root, "state"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("local watch: another process's writes are reported, hashed names too", async () => {
  await withDir(async (base) => {
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    const child = await spawnChild(base);
    const rec = recorder();
    const stop = adapter.watch(rec.listener);
    try {
      const long = "L".repeat(200); // a hashed file name: its scope is in the log's header
      const cases: [string, string, unknown[]][] = [
        ["a store", "w:a", ["w:a", "k", 1]],
        ["a store to a hashed name", long, [long, "k", 1]],
        ["a delete", "w:a", ["w:a", "k"]],
        ["a batch", "w:b", ["w:b", [{ op: "set", key: "a", value: 1 }, {
          op: "set",
          key: "b",
          value: 2,
        }]]],
        ["a deleteScope", "w:b", ["w:b"]],
      ];
      const methods = ["store", "store", "delete", "writeBatch", "deleteScope"];
      for (const [i, [what, scope, args]] of cases.entries()) {
        const from = rec.seen.length;
        const t0 = performance.now();
        const answer = await child.call(methods[i], args);
        assert.ok(answer.ok, JSON.stringify(answer));
        const at = await rec.until(what, names(scope), from);
        console.log(`  ${what}: reported ${(at - t0).toFixed(0)} ms after the call was sent`);
      }
      assert.ok(!rec.seen.some((s) => all(s.change)), "nothing was missed");
    } finally {
      stop();
      await child.close();
      await adapter.close();
    }
  });
});

Deno.test("local watch: a state directory deleted and made again is {all: true}, then followed", async () => {
  await withDir(async (base) => {
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    const other = await createFileAdapter({ basePath: base, limits: LIMITS });
    const rec = recorder();
    const stop = adapter.watch(rec.listener);
    try {
      await other.store("d:a", "k", 1);
      await rec.until("a store", names("d:a"));
      let from = rec.seen.length;
      await Deno.remove(base, { recursive: true });
      await rec.until("the directory deleted", all, from);
      // The next write makes the directory again; the feed follows it there.
      from = rec.seen.length;
      await other.store("d:b", "k", 1);
      await rec.until("the watcher restarted", all, from);
      from = rec.seen.length;
      await other.store("d:c", "k", 1);
      await rec.until("a store in the new directory", names("d:c"), from);
    } finally {
      stop();
      await other.close();
      await adapter.close();
    }
  });
});

Deno.test("local watch: the rescan reports changes a file system did not", async () => {
  await withDir(async (base) => {
    const writer = await createFileAdapter({ basePath: base, limits: LIMITS });
    await writer.store("r:old", "k", 1);
    // A watcher that never reports anything, as on some network mounts.
    const silent = (): Deno.FsWatcher => {
      let wake: () => void = () => {};
      const closed = new Promise<void>((r) => (wake = r));
      const iterator = {
        next: () => closed.then(() => ({ done: true, value: undefined })),
        [Symbol.asyncIterator]: () => iterator,
      };
      return {
        close: () => wake(),
        [Symbol.dispose]: () => wake(),
        [Symbol.asyncIterator]: () => iterator,
      } as unknown as Deno.FsWatcher;
    };
    const feed = createChangeFeed({
      basePath: base,
      scopeOfName: (name) => name.endsWith(".jsonl") ? name.slice(0, -6).replace("~", ":") : null,
      isStateFile: (name) => name.endsWith(".jsonl"),
      rescanMs: 100,
      watchFs: silent,
    });
    const rec = recorder();
    const stop = feed.watch(rec.listener);
    try {
      await new Promise((r) => setTimeout(r, 300)); // the first scan is the baseline
      assert.deepEqual(rec.seen, [], "the baseline reports nothing");
      await writer.store("r:old", "k", 2);
      await writer.store("r:new", "k", 1);
      await rec.until("an append", names("r:old"));
      await rec.until("a new log", names("r:new"));
      const from = rec.seen.length;
      await writer.deleteScope("r:new"); // replaced by a new file: a new identity
      await rec.until("a replaced log", names("r:new"), from);
    } finally {
      stop();
      await feed.close();
      await writer.close();
    }
  });
});

Deno.test("local watch: a listener that throws stops nothing; a stopped one hears nothing", async () => {
  await withDir(async (base) => {
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    const rec = recorder();
    let thrown = 0;
    const stopThrower = adapter.watch(() => {
      thrown++;
      throw new Error("a listener's bug");
    });
    const stop = adapter.watch(rec.listener);
    const late = recorder();
    const stopLate = adapter.watch(late.listener);
    stopLate();
    try {
      await adapter.store("t:a", "k", 1);
      await rec.until("the first write", names("t:a"));
      await adapter.store("t:b", "k", 1);
      await rec.until("the second write", names("t:b"));
      assert.ok(thrown >= 2, "the throwing listener was called each time");
      assert.deepEqual(late.seen, []);
    } finally {
      stopThrower();
      stop();
      await adapter.close();
    }
  });
});

Deno.test("local watch: a format-1 file rewritten by an older server is reported", async () => {
  await withDir(async (base) => {
    const adapter: StorageAdapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    const rec = recorder();
    const stop = adapter.watch(rec.listener);
    try {
      const at = "2025-01-01T00:00:00.000Z";
      const doc = {
        format: 1,
        scope: "old:scope",
        data: { k: 1 },
        metadata: {
          seq: 1,
          created_at: at,
          updated_at: at,
          keys: { k: { version: 1, updated_at: at, updated_by: null, expires_at: null } },
        },
      };
      const name = scopeToFileName("old:scope" as Scope);
      await Deno.writeTextFile(join(base, `.${name}.1.ab.tmp`), JSON.stringify(doc));
      await Deno.rename(join(base, `.${name}.1.ab.tmp`), join(base, name));
      await rec.until("the format-1 file", names("old:scope"));
      assert.ok(!name.endsWith(LOG_FILE_SUFFIX));
    } finally {
      stop();
      await adapter.close();
    }
  });
});
