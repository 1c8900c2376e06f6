/**
 * Cross-machine coordination on one Redis: two real servers with different
 * machine ids (two clones of one repository) see each other's sessions, share
 * the project-wide scope, survive a Redis restart under load, and state moves
 * file → redis → file with its versions.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { migrate } from "../src/storage/migrate.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import {
  closeAll,
  connectServer,
  createProject,
  type McpSession,
  pollUntil,
  type Project,
  removeProject,
  startTaskFlags,
  structured,
  toolError,
} from "./_stdio_harness.ts";

const ignore = skipRedisTests();
const LIMITS = { maxValueBytes: 1024 * 1024 };

function redisConfig(url: string, machine: string) {
  return {
    storage: { adapter: "redis", config: { url, prefix: "e2e:" } },
    session: { machine_id: machine, lease_ttl_seconds: 5 },
  };
}

async function startMachine(url: string, machine: string): Promise<[Project, McpSession]> {
  const project = await createProject({ config: redisConfig(url, machine) });
  try {
    // A project's own config may select Redis only when the user trusts the project.
    const userConfig = join(project.home, ".config", "claude-session-coordinator");
    await Deno.mkdir(userConfig, { recursive: true });
    await Deno.writeTextFile(
      join(userConfig, "config.json"),
      JSON.stringify({ trusted_projects: [project.root] }),
    );
    // The start task's flags plus the network permission Redis needs.
    const session = await connectServer(project, {
      flags: [...startTaskFlags(), "--allow-net=127.0.0.1"],
    });
    return [project, session];
  } catch (err) {
    await removeProject(project);
    throw err;
  }
}

interface Active {
  session_id: string;
  machine: string;
  current_issue?: unknown;
}

Deno.test({
  name: "redis e2e: two machines see each other, share @project scopes, and ride out a restart",
  ignore,
  async fn() {
    const redis = await startRedisServer({ durable: true });
    const started: Array<[Project, McpSession]> = [];
    try {
      started.push(await startMachine(redis.url, "laptop"));
      started.push(await startMachine(redis.url, "desktop"));
      const [[, laptop], [, desktop]] = started;

      type Me = { session_id: string; machine: string; project: string };
      // At the same moment: the claim is atomic on Redis.
      const [ra, rb] = await Promise.all([laptop.call("sign_on"), desktop.call("sign_on")]);
      const a = structured<Me>(ra), b = structured<Me>(rb);
      assert.notEqual(a.session_id, b.session_id, "instances are unique across machines");
      assert.equal(a.project, b.project);
      assert.deepEqual([a.machine, b.machine], ["laptop", "desktop"]);

      // The project-wide claim is shared: the second machine's claim conflicts.
      structured(
        await laptop.call("store_data", {
          scope: "@project:claims",
          key: "issue-1",
          value: { by: a.session_id },
          if_version: 0,
        }),
      );
      const conflict = toolError(
        await desktop.call("store_data", {
          scope: "@project:claims",
          key: "issue-1",
          value: { by: b.session_id },
          if_version: 0,
        }),
      );
      assert.equal(conflict.error.code, "VERSION_CONFLICT");
      const seen = structured<{ value: { by: string }; updated_by: string }>(
        await desktop.call("retrieve_data", { scope: "@project:claims", key: "issue-1" }),
      );
      assert.equal(seen.value.by, a.session_id);
      assert.equal(seen.updated_by, a.session_id);

      // Each sees the other's session, with its machine and what it is doing.
      structured(
        await laptop.call("store_data", {
          scope: `session:${a.session_id}`,
          key: "current_issue",
          value: "issue-1",
        }),
      );
      const view = await desktop.readJson("session://context") as { active_sessions: Active[] };
      const other = view.active_sessions.find((s) => s.session_id === a.session_id);
      assert.equal(other?.machine, "laptop");
      assert.equal(other?.current_issue, "issue-1");
      assert.ok(view.active_sessions.some((s) => s.machine === "desktop"));
      const scopes = structured<{ scopes: string[] }>(await desktop.call("list_scopes")).scopes;
      assert.ok(scopes.includes(`@machine:laptop:session:${a.session_id}`), scopes.join(", "));
      assert.ok(scopes.includes("@project:claims"));
      const prompt = await desktop.client.getPrompt({ name: "startup" });
      assert.match(
        (prompt.messages[0].content as { text: string }).text,
        new RegExp(`${a.session_id} on laptop`),
      );

      // Redis crashes and restarts while the laptop keeps writing.
      const acked: number[] = [];
      const errors: Array<{ code: string; ms: number }> = [];
      let stop = false;
      const writer = (async () => {
        for (let n = 0; !stop && n < 5000; n++) {
          const t0 = performance.now();
          const res = await laptop.call("store_data", { scope: "load", key: `k${n}`, value: n });
          if (res.isError) {
            errors.push({ code: toolError(res).error.code, ms: performance.now() - t0 });
            await new Promise((r) => setTimeout(r, 50));
          } else acked.push(n);
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      await redis.kill("SIGKILL");
      await new Promise((r) => setTimeout(r, 700));
      await redis.restart();
      const before = acked.length;
      const deadline = Date.now() + 10_000;
      while (acked.length < before + 20 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      stop = true;
      await writer;
      assert.ok(errors.length > 0, "the outage was noticed");
      for (const e of errors) {
        assert.equal(e.code, "STORAGE_UNAVAILABLE");
        assert.ok(e.ms < 5000, `an error took ${e.ms.toFixed(0)} ms`);
      }
      assert.ok(acked.length >= before + 20, "writes succeed again after the restart");
      // The other server reconnects by itself too, within a few seconds.
      const keys = await pollUntil("the desktop server to reconnect", async () => {
        const res = await desktop.call("list_keys", { scope: "@machine:laptop:load" });
        return res.isError ? null : structured<{ keys: string[] }>(res).keys;
      }, { timeoutMs: 5000 });
      const present = new Set(keys);
      const lost = acked.filter((n) => !present.has(`k${n}`));
      assert.deepEqual(lost, [], "no acknowledged write is lost");
    } finally {
      await closeAll(started.map(([, s]) => s)).catch(() => {});
      for (const [project] of started) await removeProject(project);
      await redis.stop();
    }
  },
});

Deno.test({
  name: "redis e2e: migrate file → redis → file keeps every key with its version and expiry",
  ignore,
  async fn() {
    const redis = await startRedisServer();
    const root = await Deno.makeTempDir();
    const source = await createFileAdapter({ basePath: join(root, "a"), limits: LIMITS });
    const middle = await createRedisAdapter({ url: redis.url, prefix: "mig:", limits: LIMITS });
    const back = await createFileAdapter({ basePath: join(root, "b"), limits: LIMITS });
    try {
      await source.store("m:o/r:tasks", "t1", { n: 1 }, { updatedBy: "claude_1" });
      await source.store("m:o/r:tasks", "t1", { n: 2 }, { updatedBy: "claude_2" });
      await source.store("m:o/r:tasks", "t2", "two");
      await source.store("@project:o/r:claims", "c", "x", { ttlSeconds: 3600 });
      await source.store("m:o/r:weird/..:ü", "k", [null, true, 1.5]);
      const there = await migrate(source, middle);
      assert.deepEqual([there.keys, there.verified, there.mismatched], [4, 4, []]);
      const again = await migrate(source, middle);
      assert.deepEqual([again.keys, again.unchanged], [0, 4], "idempotent");
      const home = await migrate(middle, back);
      assert.deepEqual([home.keys, home.verified], [4, 4]);
      for (const scope of await source.listScopes()) {
        const want = await source.listEntries(scope);
        const got = await back.listEntries(scope);
        assert.deepEqual(
          got.map((g) => [g.key, g.entry.value, g.entry.version, g.entry.updatedBy]),
          want.map((w) => [w.key, w.entry.value, w.entry.version, w.entry.updatedBy]),
          scope,
        );
        for (let i = 0; i < want.length; i++) {
          assert.equal(
            Date.parse(got[i].entry.expiresAt ?? "0"),
            Date.parse(want[i].entry.expiresAt ?? "0"),
          );
        }
      }
    } finally {
      await source.close();
      await middle.close();
      await back.close();
      await Deno.remove(root, { recursive: true });
      await redis.stop();
    }
  },
});
