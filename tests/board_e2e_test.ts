/**
 * The work board with real server processes over stdio: 8 sessions work a
 * 40-task backlog with dependencies (claim, note, done); 2 of them are
 * SIGKILLed while holding a task and replaced. At the end every task is done
 * exactly once, no task was claimed before its dependencies were done, and
 * each crashed session's task was claimed again within one lease TTL (plus
 * a margin) of the crash. The same on Redis with two machine ids. Plus:
 * inbox reads at once across processes, and a reservation conflict across
 * two processes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import {
  closeAll,
  connectServer,
  delay,
  type McpSession,
  type Project,
  startTaskFlags,
  structured,
  toolError,
  withProject,
} from "./_stdio_harness.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import { freshSchema, lazyPostgresServer, skipPostgresTests } from "./_postgres_server.ts";

const skipPostgres = skipPostgresTests();
const postgres = lazyPostgresServer();
if (!skipPostgres) Deno.test.afterAll(() => postgres.stop());

const LEASE_S = 5;
/** How late after a crash its task may be claimed again: one lease TTL plus a margin. */
const RECLAIM_WITHIN_MS = LEASE_S * 1000 + 4_000;
const AGENTS = 8;

interface TaskView {
  task_id: string;
  status: string;
  depends_on: string[];
  history?: { at: string; by: string; event: string }[];
}

/** The backlog: 10 roots, 20 tasks on one root, 10 joining two of those. */
function backlog(): { id: string; deps: string[] }[] {
  const tasks: { id: string; deps: string[] }[] = [];
  for (let i = 0; i < 10; i++) tasks.push({ id: `root-${i}`, deps: [] });
  for (let i = 0; i < 20; i++) tasks.push({ id: `mid-${i}`, deps: [`root-${i % 10}`] });
  for (let i = 0; i < 10; i++) tasks.push({ id: `join-${i}`, deps: [`mid-${i}`, `mid-${i + 10}`] });
  return tasks;
}

function isError(res: CallToolResult): boolean {
  return res.isError === true;
}

/**
 * One agent: claims, notes, works a little, finishes; until the board is
 * done. `onHold` is told the task it holds while it works, so the test can
 * kill it then.
 */
async function agent(
  session: McpSession,
  onHold: (taskId: string) => boolean,
): Promise<void> {
  for (;;) {
    const claimed = await session.call("claim_task", {});
    if (isError(claimed)) {
      if (toolError(claimed).error.code === "NOT_SIGNED_ON") return; // killed meanwhile
      throw new Error(toolError(claimed).text);
    }
    const res = structured<
      {
        task: TaskView | null;
        fencing_token: number | null;
        blocked?: number;
        in_progress?: number;
      }
    >(claimed);
    if (res.task === null) {
      if ((res.blocked ?? 0) === 0 && (res.in_progress ?? 0) === 0) return;
      await delay(100);
      continue;
    }
    const id = res.task.task_id;
    structured(await session.call("update_task", { task_id: id, note: `working on ${id}` }));
    if (onHold(id)) return; // this agent's process was killed
    await delay(30 + Math.floor(Math.random() * 60));
    const done = await session.call("update_task", {
      task_id: id,
      status: "done",
      fencing_token: res.fencing_token,
    });
    if (isError(done)) throw new Error(`${id}: ${toolError(done).text}`);
  }
}

async function runBacklog(
  open: (index: number) => Promise<McpSession>,
): Promise<void> {
  const sessions: McpSession[] = [];
  try {
    const poster = await open(0);
    sessions.push(poster);
    structured(await poster.call("sign_on", {}));
    for (const t of backlog()) {
      structured(
        await poster.call("post_task", {
          task_id: t.id,
          title: `work on ${t.id}`,
          depends_on: t.deps,
          priority: t.deps.length === 0 ? 1 : 0,
        }),
      );
    }
    const crashes: { taskId: string; at: number }[] = [];
    let toKill = 2;
    const loops: Promise<void>[] = [];
    const start = async (index: number): Promise<void> => {
      const s = index === 0 ? poster : await open(index);
      if (index !== 0) {
        sessions.push(s);
        structured(await s.call("sign_on", {}));
      }
      await agent(s, (taskId) => {
        // The first two agents (not the poster) to hold a task die; replacements take over.
        if (toKill === 0 || index === 0) return false;
        toKill--;
        Deno.kill(s.pid, "SIGKILL");
        crashes.push({ taskId, at: Date.now() });
        loops.push(start(AGENTS + crashes.length));
        return true;
      });
    };
    for (let i = 0; i < AGENTS; i++) loops.push(start(i));
    // Wait until the board is done (the killed agents' loops never settle).
    const deadline = Date.now() + 120_000;
    for (;;) {
      const listed = structured<{ counts: Record<string, number> }>(
        await poster.call("list_tasks", { limit: 1 }),
      );
      if (listed.counts.done === 40) break;
      // An agent that failed must fail the test now, not time it out.
      await Promise.race([Promise.all(loops), delay(0)]);
      assert.ok(Date.now() < deadline, `board not done: ${JSON.stringify(listed.counts)}`);
      await delay(200);
    }
    assert.equal(crashes.length, 2, "two agents died holding a task");
    // Every task done exactly once, never claimed before its dependencies were done.
    const doneAt = new Map<string, number>();
    const histories = new Map<string, TaskView>();
    for (const t of backlog()) {
      const full = structured<{ tasks: TaskView[] }>(
        await poster.call("list_tasks", { task_id: t.id }),
      ).tasks[0];
      histories.set(t.id, full);
      const dones = full.history!.filter((e) => e.event === "done");
      assert.equal(dones.length, 1, `${t.id} done exactly once`);
      assert.equal(full.status, "done");
      doneAt.set(t.id, Date.parse(dones[0].at));
    }
    for (const t of backlog()) {
      for (const claim of histories.get(t.id)!.history!.filter((e) => e.event === "claimed")) {
        for (const dep of t.deps) {
          assert.ok(
            Date.parse(claim.at) >= doneAt.get(dep)!,
            `${t.id} was claimed at ${claim.at}, before ${dep} was done`,
          );
        }
      }
    }
    // Each crashed session's task was claimed again within one lease TTL.
    for (const crash of crashes) {
      const history = histories.get(crash.taskId)!.history!;
      const reclaimed = history.find((e) => e.event === "reclaimed");
      assert.ok(reclaimed, `${crash.taskId} was reclaimed after its holder died`);
      const again = Date.parse(reclaimed.at) - crash.at;
      assert.ok(
        again <= RECLAIM_WITHIN_MS,
        `${crash.taskId} claimed again ${again} ms after the crash (limit ${RECLAIM_WITHIN_MS})`,
      );
    }
  } finally {
    for (const s of sessions) {
      try {
        Deno.kill(s.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Promise.allSettled(sessions.map((s) => s.close()));
  }
}

Deno.test("board: 8 sessions work a 40-task backlog; 2 die holding tasks; everything is done exactly once, in order", async () => {
  await withProject(async (project) => {
    await runBacklog(() => connectServer(project));
  }, { config: { session: { lease_ttl_seconds: LEASE_S } } });
});

Deno.test({
  name: "board on Redis: the same backlog across two machine ids",
  ignore: skipRedisTests(),
  fn: async () => {
    const redis = await startRedisServer();
    try {
      await withProject(async (project) => {
        const configs = ["laptop", "desktop"].map((machine) => {
          const file = join(project.base, `${machine}.json`);
          Deno.writeTextFileSync(
            file,
            JSON.stringify({
              storage: { adapter: "redis", config: { url: redis.url } },
              session: { lease_ttl_seconds: LEASE_S, machine_id: machine },
            }),
          );
          return file;
        });
        const flags = [...startTaskFlags(), `--allow-net=127.0.0.1:${redis.port}`];
        await runBacklog((i) =>
          connectServer(project, { flags, args: ["--config", configs[i % 2]] })
        );
      }, { config: null });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "board on PostgreSQL: the same backlog across two machine ids",
  ignore: skipPostgres,
  fn: async () => {
    const pg = await postgres.get();
    const schema = freshSchema();
    await withProject(async (project) => {
      const configs = ["laptop", "desktop"].map((machine) => {
        const file = join(project.base, `${machine}.json`);
        Deno.writeTextFileSync(
          file,
          JSON.stringify({
            storage: { adapter: "postgres", config: { url: pg.url(), schema } },
            session: { lease_ttl_seconds: LEASE_S, machine_id: machine },
          }),
        );
        return file;
      });
      const flags = [
        ...startTaskFlags(),
        `--allow-net=127.0.0.1:${pg.port}`,
        "--ignore-env=PGBINARY,PGREPLICATION",
      ];
      await runBacklog((i) =>
        connectServer(project, { flags, args: ["--config", configs[i % 2]] })
      );
    }, { config: null });
  },
});

Deno.test("board: 8 processes reading their inboxes at once get every message exactly once", async () => {
  await withProject(async (project) => {
    const sessions = await Promise.all(
      Array.from({ length: 8 }, () => connectServer(project)),
    );
    try {
      const ids: string[] = [];
      for (const s of sessions) {
        ids.push(structured<{ session_id: string }>(await s.call("sign_on", {})).session_id);
      }
      const [sender] = sessions;
      for (let i = 0; i < 10; i++) {
        structured(await sender.call("send_message", { to: "all", body: `all-${i}` }));
        for (const id of ids.slice(1)) {
          structured(await sender.call("send_message", { to: id, body: `${id}-${i}` }));
        }
      }
      // Every reader reads with several calls at once, in every process at once.
      const got = await Promise.all(
        sessions.slice(1).map(async (s) => {
          const reads = await Promise.all(
            Array.from({ length: 4 }, () => s.call("read_messages", { limit: 7 })),
          );
          let bodies = reads.flatMap((r: CallToolResult) =>
            structured<{ messages: { body: string }[] }>(r).messages.map((m) => m.body)
          );
          for (;;) {
            const more = structured<{ messages: { body: string }[] }>(
              await s.call("read_messages", {}),
            );
            if (more.messages.length === 0) break;
            bodies = bodies.concat(more.messages.map((m) => m.body));
          }
          return bodies;
        }),
      );
      got.forEach((bodies: string[], i: number) => {
        const id = ids[i + 1];
        assert.equal(bodies.length, 20, `${id} got 20 messages`);
        assert.equal(new Set(bodies).size, 20, `${id} got none twice`);
        assert.ok(bodies.every((b) => b.startsWith("all-") || b.startsWith(`${id}-`)));
      });
    } finally {
      await closeAll(sessions);
    }
  });
});

Deno.test("board: a reservation conflict across two processes", async () => {
  await withProject(async (project: Project) => {
    const [a, b] = await Promise.all([connectServer(project), connectServer(project)]);
    try {
      structured(await a.call("sign_on", {}));
      structured(await b.call("sign_on", {}));
      structured(await a.call("reserve_paths", { paths: ["src/**"], reason: "refactor" }));
      const refused = await b.call("reserve_paths", { paths: ["src/main.ts", "docs/a.md"] });
      assert.equal(toolError(refused).error.code, "PATHS_RESERVED");
      assert.match(
        toolError(refused).text,
        /src\/main\.ts \(reserved as src\/\*\* by claude_1: refactor/,
      );
      structured(await a.call("sign_off", {}));
      structured(await b.call("reserve_paths", { paths: ["src/main.ts", "docs/a.md"] }));
    } finally {
      await closeAll([a, b]);
    }
  });
});
