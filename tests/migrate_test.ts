/** export / import / migrate: every key with value, version, writer and expiry; idempotent; verified. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isCoordinatorError } from "../src/core/errors.ts";
import { exportAll, importAll, migrate, parseBackup } from "../src/storage/migrate.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { makeRepo } from "./_inprocess.ts";
import { denoCacheDir } from "./_stdio_harness.ts";

const limits = { maxValueBytes: 1024 * 1024 };

async function seed(dir: string) {
  const a = await createFileAdapter({ basePath: dir, limits });
  await a.store("m:o/r:tasks", "t1", { title: "one" }, { updatedBy: "claude_1" });
  await a.store("m:o/r:tasks", "t1", { title: "one, edited" }, { updatedBy: "claude_2" });
  await a.store("m:o/r:tasks", "t2", [1, 2, 3]);
  await a.store("@project:o/r:claims", "issue-9", "claude_1", { ttlSeconds: 3600 });
  await a.store("m:o/r:gone", "k", 1, { ttlSeconds: 0.05 });
  await new Promise((r) => setTimeout(r, 80));
  return a;
}

Deno.test("migrate copies values, versions, writers and expiry, verifies, and is idempotent", async () => {
  const root = await Deno.makeTempDir();
  const source = await seed(join(root, "a"));
  const target = await createFileAdapter({ basePath: join(root, "b"), limits });
  try {
    const first = await migrate(source, target);
    assert.deepEqual(first, {
      scopes: 2,
      keys: 3,
      skipped_expired: 0,
      verified: 3,
      unchanged: 0,
      mismatched: [],
    });
    // Again onto the same data: nothing to write, nothing refused.
    const same = await migrate(source, target);
    assert.deepEqual([same.keys, same.unchanged, same.verified], [0, 3, 0]);
    const t1 = await target.retrieve("m:o/r:tasks", "t1");
    const s1 = await source.retrieve("m:o/r:tasks", "t1");
    assert.deepEqual(t1, s1);
    assert.equal(t1?.updatedBy, "claude_2");
    const claim = await target.retrieve("@project:o/r:claims", "issue-9");
    assert.equal(
      claim?.expiresAt,
      (await source.retrieve("@project:o/r:claims", "issue-9"))?.expiresAt,
    );
    // Compare-and-set keeps working across the move: the old version still matches.
    await target.store("m:o/r:tasks", "t1", "next", { ifVersion: s1!.version });
    // A key the target changed since is not overwritten without being asked.
    await assert.rejects(
      () => migrate(source, target),
      (err: Error) =>
        isCoordinatorError(err, "VERSION_CONFLICT") && /m:o\/r:tasks \/ t1/.test(err.message) &&
        /--overwrite/.test(err.message),
    );
    assert.equal((await target.retrieve("m:o/r:tasks", "t1"))?.value, "next", "nothing written");
    const again = await migrate(source, target, { overwrite: true });
    assert.deepEqual([again.verified, again.unchanged], [1, 2]);
    assert.deepEqual(await target.retrieve("m:o/r:tasks", "t1"), s1);
    assert.deepEqual(await exportAll(target).then((b) => Object.keys(b.scopes).sort()), [
      "@project:o/r:claims",
      "m:o/r:tasks",
    ]);
  } finally {
    await source.close();
    await target.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("export and import round-trip through a backup document; bad files are refused", async () => {
  const root = await Deno.makeTempDir();
  const source = await seed(join(root, "a"));
  const target = await createFileAdapter({ basePath: join(root, "b"), limits });
  try {
    const backup = await exportAll(source);
    assert.equal(backup.format, "claude-session-coordinator-backup");
    const parsed = parseBackup(JSON.parse(JSON.stringify(backup)), "b.json");
    const report = await importAll(target, parsed);
    assert.equal(report.verified, 3);
    for (
      const bad of [null, {}, { ...backup, version: 2 }, {
        ...backup,
        scopes: { s: { k: { value: 1 } } },
      }, {
        ...backup,
        scopes: {
          s: {
            k: {
              value: 1,
              version: Number.MAX_SAFE_INTEGER,
              updated_at: "2026-01-01T00:00:00Z",
              updated_by: null,
              expires_at: null,
            },
          },
        },
      }]
    ) {
      assert.throws(
        () => parseBackup(bad, "x.json"),
        (e) => isCoordinatorError(e, "INVALID_ARGUMENT"),
      );
    }
    // A version at the edge of exact integers would make the next write unreadable.
    await assert.rejects(
      target.restore("m:o/r:x", "k", {
        value: 1,
        version: Number.MAX_SAFE_INTEGER,
        updatedAt: "2026-01-01T00:00:00Z",
        updatedBy: null,
        expiresAt: null,
        heldBy: null,
      }),
      (e) => isCoordinatorError(e, "INVALID_ARGUMENT"),
    );
  } finally {
    await source.close();
    await target.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("CLI: export, import and migrate between two configs", async () => {
  const repo = await makeRepo();
  const main = new URL("../main.ts", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, ...args],
      cwd: repo,
      env: { HOME: repo, DENO_DIR: await denoCacheDir() },
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  };
  try {
    await Deno.writeTextFile(
      join(repo, "a.json"),
      JSON.stringify({ storage: { config: { base_path: "state-a" } } }),
    );
    await Deno.writeTextFile(
      join(repo, "b.json"),
      JSON.stringify({ storage: { config: { base_path: "state-b" } } }),
    );
    const a = await createFileAdapter({ basePath: join(repo, "state-a"), limits });
    await a.store("m:o/r:tasks", "t1", { n: 1 });
    await a.store("m:o/r:tasks", "t2", { n: 2 });
    await a.close();

    const migrated = await run("migrate", "--from", "a.json", "--to", "b.json");
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /migrated: 1 scopes, 2 keys copied, 2 verified/);

    const exported = await run("export", "--to", "backup.json", "--config", "b.json");
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /exported 1 scopes, 2 keys/);

    const imported = await run("import", "backup.json");
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /imported: 1 scopes, 2 keys copied, 2 verified/);
    const def = await createFileAdapter({
      basePath: join(repo, ".claude", "session-state"),
      limits,
    });
    assert.deepEqual((await def.retrieve("m:o/r:tasks", "t2"))?.value, { n: 2 });
    await def.close();

    for (const args of [["migrate", "--from", "a.json"], ["import"], ["export"], ["frobnicate"]]) {
      const bad = await run(...args);
      assert.equal(bad.code, 2, `${args.join(" ")}: a wrong command line exits 2`);
      assert.match(bad.stderr, /INVALID_ARGUMENT/);
    }
    // Importing onto keys that changed since is refused, naming them, until --overwrite.
    const b = await createFileAdapter({ basePath: join(repo, "state-b"), limits });
    await b.store("m:o/r:tasks", "t1", { n: 100 });
    await b.close();
    const refused = await run("import", "backup.json", "--config", "b.json");
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /VERSION_CONFLICT: the target already holds 1 key\(s\) with other content: m:o\/r:tasks \/ t1/,
    );
    const forced = await run("import", "backup.json", "--config", "b.json", "--overwrite");
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /imported: 1 scopes, 1 keys copied, 1 verified, 1 already there/);
    await Deno.writeTextFile(join(repo, "junk.json"), "{}");
    assert.match((await run("import", "junk.json")).stderr, /not a backup file/);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});
