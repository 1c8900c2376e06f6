/** The adapter registry: register, names, create, and a clear error for unknown names. */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import { builtinRegistry } from "../src/storage/builtin.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { createRegistry } from "../src/storage/registry.ts";

Deno.test("the built-in registry knows local, memory, postgres and redis", () => {
  assert.deepEqual(builtinRegistry().names(), ["local", "memory", "postgres", "redis"]);
});

Deno.test("register adds a factory that create() calls with config and context", async () => {
  const registry = createRegistry();
  const seen: unknown[] = [];
  registry.register("memoryish", (config, context) => {
    seen.push(config, context.projectRoot);
    return Promise.resolve({ name: "memoryish" } as StorageAdapter);
  });
  assert.ok(registry.has("memoryish"));
  const adapter = await registry.create("memoryish", { a: 1 }, {
    projectRoot: "/p",
    limits: { maxValueBytes: 10 },
  });
  assert.equal(adapter.name, "memoryish");
  assert.deepEqual(seen, [{ a: 1 }, "/p"]);
  assert.throws(() => registry.register("Bad Name", () => Promise.reject()), TypeError);
});

Deno.test("an unknown adapter name is CONFIG_INVALID listing the available ones", async () => {
  const registry = builtinRegistry();
  await assert.rejects(
    registry.create("nosuch", {}, { projectRoot: "/p", limits: { maxValueBytes: 10 } }),
    (err) => {
      assert.ok(isCoordinatorError(err, "CONFIG_INVALID"));
      assert.equal(
        err.message,
        'storage.adapter: unknown adapter "nosuch" (available: local, memory, postgres, redis)',
      );
      return true;
    },
  );
});
