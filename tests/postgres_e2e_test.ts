/**
 * PostgreSQL end to end, with real server processes over stdio: two servers
 * with different machine ids share sessions, the board and messages through
 * one database; the change feed reaches a subscription in the other process
 * within 1 s; and a migration file → postgres → redis → file round-trips
 * every key with its version.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { ExportedKey, StorageAdapter } from "../src/storage/contract.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { migrate } from "../src/storage/migrate.ts";
import { createPostgresAdapter } from "../src/storage/postgres/adapter.ts";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { freshSchema, lazyPostgresServer, skipPostgresTests } from "./_postgres_server.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import {
  connectServer,
  type McpSession,
  pollUntil,
  startTaskFlags,
  structured,
  withProject,
} from "./_stdio_harness.ts";

const ignore = skipPostgresTests();
const shared = lazyPostgresServer();
if (!ignore) Deno.test.afterAll(() => shared.stop());
const limits = { maxValueBytes: 1024 * 1024 };

Deno.test({
  name:
    "postgres e2e: two machines share sessions, the board and messages; the feed crosses processes within 1 s",
  ignore,
  fn: async () => {
    const pg = await shared.get();
    const schema = freshSchema();
    await withProject(async (project) => {
      const configs = ["laptop", "desktop"].map((machine) => {
        const file = join(project.base, `${machine}.json`);
        Deno.writeTextFileSync(
          file,
          JSON.stringify({
            storage: { adapter: "postgres", config: { url: pg.url(), schema } },
            session: { machine_id: machine },
          }),
        );
        return file;
      });
      const flags = [
        ...startTaskFlags(),
        `--allow-net=127.0.0.1:${pg.port}`,
        "--ignore-env=PGBINARY,PGREPLICATION",
      ];
      const sessions: McpSession[] = [];
      try {
        for (const config of configs) {
          sessions.push(await connectServer(project, { flags, args: ["--config", config] }));
        }
        const [laptop, desktop] = sessions;
        const a = structured<{ session_id: string; machine: string }>(
          await laptop.call("sign_on", {}),
        );
        const b = structured<
          { session_id: string; machine: string; active_sessions: { machine: string }[] }
        >(
          await desktop.call("sign_on", {}),
        );
        assert.notEqual(a.session_id, b.session_id);
        assert.deepEqual(b.active_sessions.map((s) => s.machine).sort(), ["desktop", "laptop"]);

        // The board is shared: of two claimers one wins; done unblocks the dependant.
        structured(await laptop.call("post_task", { task_id: "x", title: "x" }));
        structured(await laptop.call("post_task", { task_id: "y", title: "y", depends_on: ["x"] }));
        const [c1, c2] = await Promise.all([
          laptop.call("claim_task", { task_id: "x" }),
          desktop.call("claim_task", { task_id: "x" }),
        ]);
        assert.equal([c1, c2].filter((r) => !r.isError).length, 1, "one winner");
        const winner = c1.isError ? desktop : laptop;
        structured(await winner.call("update_task", { task_id: "x", status: "done" }));
        const y = structured<{ tasks: { status: string }[] }>(
          await laptop.call("list_tasks", { task_id: "y" }),
        );
        assert.equal(y.tasks[0].status, "ready");

        // A message across machines, read once.
        structured(await laptop.call("send_message", { to: b.session_id, body: "hi from laptop" }));
        const inbox = structured<{ messages: { body: string }[] }>(
          await desktop.call("read_messages", {}),
        );
        assert.deepEqual(inbox.messages.map((m) => m.body), ["hi from laptop"]);

        // The feed: a subscription on one machine hears of a write on the other.
        let heardAt = 0;
        laptop.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
          heardAt = performance.now();
          return Promise.resolve();
        });
        await laptop.client.subscribeResource({ uri: "session://context" });
        const t0 = performance.now();
        structured(await desktop.call("store_data", { scope: "@project:n", key: "k", value: 1 }));
        await pollUntil("the notification", () => heardAt > t0, {
          timeoutMs: 1000,
          intervalMs: 10,
        });
      } finally {
        await Promise.allSettled(sessions.map((s) => s.close()));
      }
    }, { config: null });
  },
});

/** Every live entry of every scope, without times that a copy may format differently. */
async function everything(adapter: StorageAdapter): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const scope of await adapter.listScopes()) {
    out[scope] = (await adapter.listEntries(scope)).map((e: ExportedKey) => [
      e.key,
      e.entry.value,
      e.entry.version,
      e.entry.updatedBy,
      e.entry.heldBy,
      e.entry.expiresAt === null ? null : Math.round(Date.parse(e.entry.expiresAt) / 1000),
    ]);
  }
  return out;
}

Deno.test({
  name: "migrate file → postgres → redis → file round-trips every key with its version",
  ignore: ignore || skipRedisTests(),
  fn: async () => {
    const pg = await shared.get();
    const redis = await startRedisServer();
    const root = await Deno.makeTempDir();
    const adapters: StorageAdapter[] = [];
    try {
      const source = await createFileAdapter({ basePath: join(root, "a"), limits });
      const viaPg = await createPostgresAdapter({ url: pg.url(), schema: freshSchema(), limits });
      const viaRedis = await createRedisAdapter({ url: redis.url, prefix: "rt:", limits });
      const back = await createFileAdapter({ basePath: join(root, "b"), limits });
      adapters.push(source, viaPg, viaRedis, back);
      await source.store("m:o/r:tasks", "t1", { n: 1 }, { updatedBy: "claude_1" });
      await source.store("m:o/r:tasks", "t1", { n: 2 }, { updatedBy: "claude_2" });
      await source.store("m:o/r:tasks", "t2", [null, true, 1.5, "é😀"]);
      await source.store("@project:o/r:claims", "c", "x", {
        ttlSeconds: 3600,
        heldBy: "claude_1 g",
      });
      await source.writeBatch("日本 😀", [{ op: "set", key: "\ufeffk", value: { deep: [[[]]] } }]);
      const want = await everything(source);
      for (const [from, to] of [[source, viaPg], [viaPg, viaRedis], [viaRedis, back]] as const) {
        const report = await migrate(from, to);
        assert.deepEqual(report.mismatched, []);
        assert.equal(report.verified, 4);
        assert.deepEqual(await everything(to), want, `${from.name} → ${to.name}`);
      }
      // Versions keep working at the end of the chain.
      const t1 = (await back.retrieve("m:o/r:tasks", "t1"))!;
      const next = await back.store("m:o/r:tasks", "t1", 3, { ifVersion: t1.version });
      assert.ok(next.version > t1.version);
    } finally {
      for (const a of adapters) await a.close().catch(() => {});
      await redis.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
