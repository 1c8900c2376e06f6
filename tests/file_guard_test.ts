/**
 * Guards in the local adapter beyond the shared suite: the check waits for a
 * writer of the guard scope that holds its lock, and sees what it wrote;
 * writes guarded by each other's scopes never wait for each other for ever;
 * a guard key in a format-1 file counts; a corrupt guard scope is
 * CORRUPT_STATE naming its file, and nothing is written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { Guard, StorageAdapter } from "../src/storage/contract.ts";
import { isGuardFailure } from "../src/storage/values.ts";
import type { Scope } from "../src/core/scope.ts";
import { LOG_FILE_SUFFIX, scopeToFileName } from "../src/storage/file/names.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };
const GUARD: Guard = { scope: "g:leases", key: "owner", field: "grant", equals: "A" };

async function withAdapters(
  fn: (base: string, a: StorageAdapter, b: StorageAdapter) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "csc_guard_" });
  const base = join(root, "state");
  const a = await createFileAdapter({ basePath: base, limits: LIMITS });
  const b = await createFileAdapter({ basePath: base, limits: LIMITS });
  try {
    await fn(base, a, b);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(root, { recursive: true });
  }
}

async function guardFailure(p: Promise<unknown>): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(isGuardFailure(err), `a guard failure, got ${err}`);
}

Deno.test("local guard: the check waits for the guard scope's writer and sees its write", async () => {
  await withAdapters(async (base, a, b) => {
    await b.store("g:leases", "owner", { grant: "A" });
    await a.store("g:data", "k", 0, { guard: GUARD });
    // Act as another process's writer of the lease scope, in the middle of
    // its write: its lock held, its line about to be appended.
    const lockPath = join(base, ".locks", scopeToFileName("g:leases" as Scope) + ".lock");
    const writer = await Deno.open(lockPath, { read: true, write: true });
    await writer.lock(true);
    let settled = false;
    let guarded: Promise<unknown>;
    try {
      guarded = a.store("g:data", "k", 1, { guard: GUARD }).finally(() => (settled = true));
      guarded.catch(() => {}); // awaited below
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(settled, false, "the guarded write waits for the lease scope's writer");
      // The takeover that writer was making. Had the guarded write read the
      // lease log without the shared lock, it would have landed before this.
      const version = (await b.retrieve("g:leases", "owner"))!.version + 1;
      const line = JSON.stringify({
        op: "set",
        key: "owner",
        value: { grant: "B" },
        version,
        updated_at: new Date().toISOString(),
        updated_by: null,
        expires_at: null,
      });
      const log = join(base, scopeToFileName("g:leases" as Scope, LOG_FILE_SUFFIX));
      await Deno.writeTextFile(log, line + "\n", { append: true });
    } finally {
      writer.close(); // the writer is done: its lock goes
    }
    await guardFailure(guarded);
    assert.equal((await b.retrieve("g:data", "k"))?.value, 0, "nothing was written");
  });
});

Deno.test("local guard: writes guarded by each other's scopes all land, none waits for ever", async () => {
  await withAdapters(async (_base, a, b) => {
    const inX: Guard = { scope: "m:x", key: "lease", field: "grant", equals: "ok" };
    const inY: Guard = { ...inX, scope: "m:y" };
    await a.store("m:x", "lease", { grant: "ok" });
    await a.store("m:y", "lease", { grant: "ok" });
    const writes = async (h: StorageAdapter, scope: string, guard: Guard, id: string) => {
      for (let i = 0; i < 60; i++) await h.store(scope, `${id}-${i}`, i, { guard });
    };
    // The leases themselves rewritten meanwhile, so the guard scopes are busy.
    const renew = async (h: StorageAdapter) => {
      for (let i = 0; i < 60; i++) {
        await h.store("m:x", "lease", { grant: "ok", i });
        await h.store("m:y", "lease", { grant: "ok", i });
      }
    };
    const started = performance.now();
    await Promise.all([
      writes(a, "m:x", inY, "a"),
      writes(b, "m:y", inX, "b"),
      writes(b, "m:x", inY, "c"),
      writes(a, "m:y", inX, "d"),
      renew(a),
      renew(b),
    ]);
    const ms = performance.now() - started;
    assert.equal((await a.listKeys("m:x")).length, 121);
    assert.equal((await b.listKeys("m:y")).length, 121);
    console.log(`  (240 guarded writes and 240 lease writes in ${ms.toFixed(0)} ms)`);
  });
});

Deno.test("local guard: a guard key in a format-1 file counts", async () => {
  await withAdapters(async (base, a) => {
    const at = "2025-01-01T00:00:00.000Z";
    await Deno.writeTextFile(
      join(base, scopeToFileName("old:leases" as Scope)),
      JSON.stringify({
        format: 1,
        scope: "old:leases",
        data: { owner: { grant: "A" } },
        metadata: {
          seq: 1,
          created_at: at,
          updated_at: at,
          keys: { owner: { version: 1, updated_at: at, updated_by: null, expires_at: null } },
        },
      }),
    );
    const guard = { ...GUARD, scope: "old:leases" };
    await a.store("g:data", "k", 1, { guard });
    await guardFailure(a.store("g:data", "k", 2, { guard: { ...guard, equals: "B" } }));
    await guardFailure(a.store("g:data", "k", 2, { guard: { ...guard, scope: "no:such" } }));
    assert.equal((await a.retrieve("g:data", "k"))?.value, 1);
  });
});

Deno.test("local guard: a corrupt guard scope is CORRUPT_STATE naming its file", async () => {
  await withAdapters(async (base, a) => {
    await a.store("g:data", "k", 1);
    const file = join(base, scopeToFileName("g:leases" as Scope, LOG_FILE_SUFFIX));
    await Deno.writeTextFile(file, "{oops\n");
    for (
      const write of [
        () => a.store("g:data", "k", 2, { guard: GUARD }),
        () => a.delete("g:data", "k", { guard: GUARD }),
        () => a.writeBatch("g:data", [{ op: "set", key: "k", value: 2 }], { guard: GUARD }),
        () => a.deleteScope("g:data", { guard: GUARD }),
      ]
    ) {
      const err = await rejectsWithCode(write, "CORRUPT_STATE");
      assert.equal(err.details.file, file);
    }
    assert.equal((await a.retrieve("g:data", "k"))?.value, 1, "nothing was written");
  });
});

Deno.test("local guard: many writes of one adapter share the guard scope's lock at once", async () => {
  await withAdapters(async (_base, a, b) => {
    await b.store("g:leases", "owner", { grant: "A" });
    // First writes make whole files (awaited I/O) while holding the shared
    // lock, so these overlap; then the guard is lost and all are refused.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => a.store(`g:many${i}`, "k", i, { guard: GUARD })),
    );
    for (let i = 0; i < 20; i++) assert.equal((await b.retrieve(`g:many${i}`, "k"))?.value, i);
    await b.store("g:leases", "owner", { grant: "B" });
    const refused = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => a.store(`g:many${i}`, "k", -1, { guard: GUARD })),
    );
    assert.ok(refused.every((r) => r.status === "rejected" && isGuardFailure(r.reason)));
  });
});
