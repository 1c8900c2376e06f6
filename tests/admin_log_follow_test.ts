/**
 * `log --follow` streams the audit log as it is appended, on local files
 * and on Redis: the newest events first, then every new one a real session
 * (another process) makes, filtered like `log`; with --json one object per
 * line. It ends with exit 0 on SIGINT and on SIGTERM, and once its stdout
 * is closed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createAuditSink, DEFAULT_AUDIT } from "../src/core/audit.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { readLines } from "./_lines.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import {
  childEnv,
  closeAll,
  type McpSession,
  type Project,
  PROJECT_ID,
  serverArgs,
  structured,
  withTimeout,
} from "./_stdio_harness.ts";
import { type Backend, flagsFor, startSession, withAdminProject } from "./_admin.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };
/** Generous: a line or an exit normally takes well under a second. */
const WAIT_MS = 20_000;

/** A running `log --follow`. */
interface Follower {
  child: Deno.ChildProcess;
  /** Waits for the next stdout line matching `pattern`, skipping others; returns it. */
  line(pattern: RegExp): Promise<string>;
  /** Every stdout line so far. */
  lines: string[];
  stderr(): string;
  /** Kills it if still running, and waits. */
  dispose(): Promise<void>;
}

/** Starts `log --follow ARGS` and waits until it says it is following. */
async function follow(project: Project, backend: Backend, args: string[]): Promise<Follower> {
  const child = new Deno.Command(Deno.execPath(), {
    args: serverArgs({ flags: flagsFor(backend), args: ["log", "--follow", ...args] }),
    cwd: project.root,
    env: await childEnv(project.home),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const errors = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const lines: string[] = [];
  const reader = readLines(child.stdout);
  let consumed = 0;
  const follower: Follower = {
    child,
    lines,
    stderr: () => stderr,
    async line(pattern) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        while (consumed < lines.length) {
          const line = lines[consumed++];
          if (pattern.test(line)) return line;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`no line matching ${pattern}; got ${lines.join("\n")}\n${stderr}`);
        }
        const next = await withTimeout(reader.next(), left, `a line matching ${pattern}`)
          .catch((err) => {
            throw new Error(`${err.message}; got:\n${lines.join("\n")}\nstderr:\n${stderr}`);
          });
        if (next.done) {
          throw new Error(`stdout ended; got:\n${lines.join("\n")}\nstderr:\n${stderr}`);
        }
        lines.push(next.value);
      }
    },
    async dispose() {
      try {
        child.kill("SIGKILL");
      } catch { /* exited already */ }
      await child.status;
      await reader.return(undefined).catch(() => {});
      await errors.catch(() => {});
    },
  };
  try {
    const deadline = Date.now() + WAIT_MS;
    while (!stderr.includes("following the audit log")) {
      if (Date.now() > deadline) throw new Error(`not following after ${WAIT_MS} ms: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return follower;
  } catch (err) {
    await follower.dispose();
    throw err;
  }
}

/** The project's storage, opened in this process (to append events as another machine would). */
async function openStore(project: Project, backend: Backend): Promise<StorageAdapter> {
  return backend.kind === "redis"
    ? await createRedisAdapter({ url: backend.url, prefix: backend.prefix, limits: LIMITS })
    : await createFileAdapter({
      basePath: join(project.root, ".claude", "session-state"),
      limits: LIMITS,
    });
}

async function streamsWhatSessionsDo(backend: Backend) {
  await withAdminProject(backend, async (project) => {
    const sessions: McpSession[] = [];
    const followers: Follower[] = [];
    try {
      const a = await startSession(project, backend);
      sessions.push(a);
      structured(await a.call("sign_on", {}));
      // Started after the sign_on: it comes first, as the backlog.
      const table = await follow(project, backend, []);
      followers.push(table);
      const json = await follow(project, backend, ["--json", "--kind", "store_*"]);
      followers.push(json);
      assert.match(await table.line(/^AT +SESSION +KIND/), /OUTCOME +MACHINE +PID +CLIENT +WHAT$/);
      assert.match(await table.line(/sign_on/), /^20\S+ +claude_1 +sign_on +ok +\S+ +\d+ /);

      // Another process acts: the followers print it as it happens.
      structured(await a.call("store_data", { scope: "notes", key: "design", value: "v1" }));
      structured(await a.call("post_task", { task_id: "t-1", title: "Fix the parser" }));
      assert.match(
        await table.line(/store_data/),
        /claude_1 +store_data +ok .* scope=notes key=design$/,
      );
      assert.match(await table.line(/post_task/), /task=t-1/);
      const stored = JSON.parse(await json.line(/./));
      assert.equal(stored.kind, "store_data");
      assert.equal(stored.session_id, "claude_1");
      assert.equal(stored.key, "design");
      assert.match(stored.id, /^e:\d{15}:\d{12}:[0-9a-f]{8}$/);
      // A second session, a second machine's events (written here, in process): all of them.
      const b = await startSession(project, backend);
      sessions.push(b);
      structured(await b.call("sign_on", {}));
      structured(await b.call("store_data", { scope: "notes", key: "api", value: "v2" }));
      assert.match(await table.line(/claude_2 +store_data/), /key=api/);
      assert.equal(
        JSON.parse(await json.line(/./)).key,
        "api",
        "post_task and sign_on filtered out",
      );
      const store = await openStore(project, backend);
      try {
        const other = createAuditSink(
          store,
          { machine: "desktop", project: PROJECT_ID },
          DEFAULT_AUDIT,
          () => {},
        );
        other.record({
          kind: "store_data",
          outcome: "ok",
          session_id: "claude_3",
          pid: 7,
          client: "x",
          key: "far",
        });
        await other.flush();
      } finally {
        await store.close();
      }
      assert.match(await table.line(/claude_3/), /claude_3 +store_data +ok +desktop +7 /);
      assert.equal(JSON.parse(await json.line(/./)).machine, "desktop");

      // SIGINT and SIGTERM end it cleanly.
      table.child.kill("SIGINT");
      json.child.kill("SIGTERM");
      const [t, j] = await withTimeout(
        Promise.all([table.child.status, json.child.status]),
        WAIT_MS,
        "the followers to exit",
      );
      assert.deepEqual([t.code, j.code], [0, 0], table.stderr() + json.stderr());
      assert.equal(table.lines.filter((l) => /sign_on/.test(l)).length, 2, "each event once");
    } finally {
      await Promise.all(followers.map((f) => f.dispose()));
      await closeAll(sessions);
    }
  });
}

Deno.test("log --follow (local): streams what sessions do as they do it; SIGINT and SIGTERM end it", async () => {
  await streamsWhatSessionsDo({ kind: "local" });
});

Deno.test({
  name: "log --follow (redis): streams what sessions do as they do it; SIGINT and SIGTERM end it",
  ignore: skipRedisTests(),
  async fn() {
    const redis = await startRedisServer();
    try {
      await streamsWhatSessionsDo({ kind: "redis", url: redis.url, prefix: "follow:" });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test("log --follow ends once its stdout is closed (at the next event)", async () => {
  const backend: Backend = { kind: "local" };
  await withAdminProject(backend, async (project) => {
    const follower = await follow(project, backend, ["--json"]);
    try {
      // The reader goes away, as `log --follow | head -1` does after its line.
      await follower.child.stdout.cancel();
      const store = await openStore(project, backend);
      try {
        const sink = createAuditSink(
          store,
          { machine: "m", project: PROJECT_ID },
          DEFAULT_AUDIT,
          () => {},
        );
        sink.record({
          kind: "store_data",
          outcome: "ok",
          session_id: "claude_1",
          pid: 1,
          client: null,
        });
        await sink.flush();
      } finally {
        await store.close();
      }
      const status = await withTimeout(follower.child.status, WAIT_MS, "log --follow to exit");
      assert.equal(status.code, 0, follower.stderr());
    } finally {
      await follower.dispose();
    }
  });
});
