/**
 * migrate, export and import (src/storage/migrate.ts) with the postgres
 * adapter on either side: file → postgres → file keeps every entry exactly
 * (value, version, times, writer, remaining expiry, holder), compare-and-set
 * keeps working on the old versions, later versions go above them, and a
 * second run changes nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ExportedKey, StorageAdapter } from "../src/storage/contract.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { exportAll, importAll, migrate, parseBackup } from "../src/storage/migrate.ts";
import { createPostgresAdapter } from "../src/storage/postgres/adapter.ts";
import { freshSchema, lazyPostgresServer, skipPostgresTests } from "./_postgres_server.ts";

const ignore = skipPostgresTests();
const shared = lazyPostgresServer();
if (!ignore) Deno.test.afterAll(() => shared.stop());
const limits = { maxValueBytes: 1024 * 1024 };

/** Every live entry of every scope, for comparing two adapters. */
async function everything(adapter: StorageAdapter): Promise<Record<string, ExportedKey[]>> {
  const out: Record<string, ExportedKey[]> = {};
  for (const scope of await adapter.listScopes()) out[scope] = await adapter.listEntries(scope);
  return out;
}

async function seed(adapter: StorageAdapter): Promise<void> {
  await adapter.store("m:o/r:tasks", "t1", { title: "one" }, { updatedBy: "claude_1" });
  await adapter.store("m:o/r:tasks", "t1", { title: "one, edited" }, { updatedBy: "claude_2" });
  await adapter.store("m:o/r:tasks", "t2", [1, 2, { nul: "\u0000", deep: [[[]]] }]);
  await adapter.store("@project:o/r:claims", "issue-9", "claude_1", {
    ttlSeconds: 3600,
    heldBy: "claude_1/abc",
  });
  await adapter.store("日本語 😀", "\ufeffkey", { unicode: "é" });
  await adapter.store("m:o/r:gone", "k", 1, { ttlSeconds: 0.05 });
  await new Promise((r) => setTimeout(r, 80));
}

Deno.test(
  { name: "postgres migrate: file → postgres → file keeps every entry exactly", ignore },
  async () => {
    const server = await shared.get();
    const schema = freshSchema();
    const root = await Deno.makeTempDir({ prefix: "csc-pg-migrate-" });
    const source = await createFileAdapter({ basePath: join(root, "a"), limits });
    const middle = await createPostgresAdapter({ url: server.url(), schema, limits });
    const back = await createFileAdapter({ basePath: join(root, "b"), limits });
    try {
      await seed(source);
      const original = await everything(source);
      assert.deepEqual(Object.keys(original).sort(), [
        "@project:o/r:claims",
        "m:o/r:tasks",
        "日本語 😀",
      ]);

      const there = await migrate(source, middle);
      assert.equal(there.verified, 4);
      assert.deepEqual(there.mismatched, []);
      assert.deepEqual(await everything(middle), original, "postgres holds exactly the source");

      const again = await migrate(source, middle);
      assert.equal(again.unchanged, 4, "a second run writes nothing");

      const home = await migrate(middle, back);
      assert.equal(home.verified, 4);
      assert.deepEqual(await everything(back), original, "and back again, still exact");

      // Compare-and-set keeps working on the old versions, and later ones go above.
      const t1 = original["m:o/r:tasks"].find((e) => e.key === "t1")!.entry;
      const next = await middle.store("m:o/r:tasks", "t1", "next", { ifVersion: t1.version });
      assert.ok(next.version > t1.version);
      const claim = await middle.retrieve("@project:o/r:claims", "issue-9");
      assert.equal(claim?.heldBy, "claude_1/abc");
      assert.equal(
        claim?.expiresAt,
        original["@project:o/r:claims"][0].entry.expiresAt,
        "the remaining time to live is kept",
      );
    } finally {
      await source.close();
      await middle.close();
      await back.close();
      await Deno.remove(root, { recursive: true });
      await server.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  },
);

Deno.test(
  { name: "postgres migrate: export and import through a backup document", ignore },
  async () => {
    const server = await shared.get();
    const [from, to] = [freshSchema(), freshSchema()];
    const source = await createPostgresAdapter({ url: server.url(), schema: from, limits });
    const target = await createPostgresAdapter({ url: server.url(), schema: to, limits });
    try {
      await seed(source);
      const backup = parseBackup(JSON.parse(JSON.stringify(await exportAll(source))), "b.json");
      const report = await importAll(target, backup);
      assert.equal(report.verified, 4);
      assert.deepEqual(await everything(target), await everything(source));
    } finally {
      await source.close();
      await target.close();
      await server.sql(`DROP SCHEMA "${from}" CASCADE; DROP SCHEMA "${to}" CASCADE`);
    }
  },
);
