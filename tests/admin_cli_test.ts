/**
 * The admin commands as a person runs them, against real servers on local
 * files and on Redis: status, sessions, tasks and log (tables, and exactly
 * one JSON document with --json), --project-id, exit codes (2 for a wrong
 * command line, 1 when the storage cannot be reached), and compact while
 * other processes write the very scope it compacts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { readLines } from "./_lines.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import {
  closeAll,
  type McpSession,
  pollUntil,
  type Project,
  structured,
} from "./_stdio_harness.ts";
import { admin, adminJson, type Backend, startSession, withAdminProject } from "./_admin.ts";

const WRITER = new URL("./fixtures/file_writer.ts", import.meta.url).pathname;

interface StatusJson {
  project: string;
  storage: { adapter: string; reachable: boolean; round_trip_ms: number };
  sessions: {
    session_id: string;
    pid: number;
    worktree: string;
    branch: string;
    tasks: { task_id: string }[];
    current_issue: unknown;
    unread_messages: number;
    renewal_late: boolean;
    lease_left_ms: number;
  }[];
  tasks: Record<string, number>;
  reservations: { path: string; session_id: string; reason: string }[];
  unread_messages: number;
  lease_health: { live: number; late: string[] };
}

interface LogJson {
  matching: number;
  events: { id: string; kind: string; session_id: string | null; outcome: string }[];
}

/** Two real sessions with a board: claude_1 holds t-1; claude_2 works on issue-42, mailed claude_1, reserved src/auth/**. */
async function busyProject(project: Project, backend: Backend): Promise<McpSession[]> {
  const sessions = [await startSession(project, backend), await startSession(project, backend)];
  const [a, b] = sessions;
  try {
    structured(await a.call("sign_on", {}));
    structured(await b.call("sign_on", {}));
    structured(await a.call("post_task", { task_id: "t-1", title: "Fix the parser", priority: 5 }));
    structured(
      await a.call("post_task", { task_id: "t-2", title: "Ship it", depends_on: ["t-1"] }),
    );
    structured(await a.call("post_task", { task_id: "t-3", title: "Write docs" }));
    structured(await a.call("claim_task", { task_id: "t-1" }));
    structured(
      await b.call("store_data", {
        scope: "session:claude_2",
        key: "current_issue",
        value: "issue-42",
      }),
    );
    structured(await b.call("send_message", { to: "claude_1", body: "parser done soon?" }));
    structured(await b.call("reserve_paths", { paths: ["src/auth/**"], reason: "auth rewrite" }));
    return sessions;
  } catch (err) {
    await closeAll(sessions);
    throw err;
  }
}

async function seeEverything(backend: Backend) {
  await withAdminProject(backend, async (project) => {
    const sessions = await busyProject(project, backend);
    try {
      const [a, b] = sessions;
      // status, human.
      const human = await admin(project, backend, ["status"]);
      assert.equal(human.code, 0, human.stderr);
      const out = human.stdout;
      assert.match(out, new RegExp(`^acme/widget on \\S+ at 20`, "m"));
      assert.match(
        out,
        new RegExp(`^storage  ${backend.kind}, reachable, round trip [\\d.]+ ms`, "m"),
      );
      assert.match(out, /^leases {3}2 live; renewals on time$/m);
      assert.match(out, /^tasks {4}1 ready, 1 blocked, 1 in progress, 0 done, 0 failed$/m);
      assert.match(out, /^unread {3}1 message$/m);
      assert.match(
        out,
        /^SESSION +MACHINE +PID +WORKTREE +BRANCH +CURRENT TASK +LAST SEEN +LEASE LEFT +UNREAD$/m,
      );
      assert.match(
        out,
        new RegExp(`^claude_1 .* ${a.pid} .*${project.root} +main +t-1 Fix the parser .* +1$`, "m"),
      );
      assert.match(out, new RegExp(`^claude_2 .* ${b.pid} .* issue-42 .* +0$`, "m"));
      assert.match(out, /^src\/auth\/\*\* +claude_2 +yes +auth rewrite +in \d/m);

      // status, JSON.
      const s = await adminJson<StatusJson>(project, backend, ["status"]);
      assert.equal(s.project, "acme/widget");
      assert.equal(s.storage.adapter, backend.kind);
      assert.equal(s.storage.reachable, true);
      assert.deepEqual(s.sessions.map((x) => [x.session_id, x.pid]), [
        ["claude_1", a.pid],
        ["claude_2", b.pid],
      ]);
      assert.deepEqual(s.sessions[0].tasks.map((t) => t.task_id), ["t-1"]);
      assert.equal(s.sessions[0].unread_messages, 1);
      assert.equal(s.sessions[1].current_issue, "issue-42");
      assert.equal(s.sessions[0].worktree, project.root);
      assert.equal(s.sessions[0].branch, "main");
      assert.ok(s.sessions[0].lease_left_ms > 0);
      assert.deepEqual(s.tasks, { ready: 1, blocked: 1, in_progress: 1, done: 0, failed: 0 });
      assert.deepEqual(s.reservations.map((r) => [r.path, r.session_id, r.reason]), [
        ["src/auth/**", "claude_2", "auth rewrite"],
      ]);
      assert.equal(s.unread_messages, 1);
      assert.deepEqual(s.lease_health, { live: 2, late: [] });

      // tasks: the board in claim order, and one status alone.
      const tasks = await adminJson<
        { tasks: { task_id: string; status: string; waiting_for: string[] }[] }
      >(
        project,
        backend,
        ["tasks"],
      );
      assert.deepEqual(tasks.tasks.map((t) => [t.task_id, t.status]), [
        ["t-1", "in_progress"],
        ["t-3", "ready"],
        ["t-2", "blocked"],
      ]);
      assert.deepEqual(tasks.tasks[2].waiting_for, ["t-1"]);
      const ready = await admin(project, backend, ["tasks", "ready"]);
      assert.equal(ready.code, 0, ready.stderr);
      assert.match(ready.stdout, /^TASK +STATUS +PRI +OWNER +TRIES +UPDATED +WAITING FOR +TITLE$/m);
      assert.match(ready.stdout, /^t-3 +ready .* Write docs$/m);
      assert.doesNotMatch(ready.stdout, /t-1|t-2/);
      const limited = await adminJson<{ tasks: unknown[] }>(project, backend, [
        "tasks",
        "--limit",
        "1",
      ]);
      assert.equal(limited.tasks.length, 1);

      // log: every write through a tool, filtered every way.
      const expected = [
        "claim_task",
        "post_task",
        "post_task",
        "post_task",
        "reserve_paths",
        "send_message",
        "sign_on",
        "sign_on",
        "store_data",
      ];
      // The servers append in the background: wait until all of them landed.
      const all = await pollUntil("the audit events of every tool call", async () => {
        const log = await adminJson<LogJson>(project, backend, ["log"]);
        return log.events.length >= expected.length ? log : null;
      });
      assert.deepEqual(all.events.map((e) => e.kind).sort(), expected);
      const mail = await adminJson<LogJson>(project, backend, [
        "log",
        "--session",
        "claude_2",
        "--kind",
        "send_message",
      ]);
      assert.deepEqual(mail.events.map((e) => [e.kind, e.session_id, e.outcome]), [
        ["send_message", "claude_2", "ok"],
      ]);
      const posts = await adminJson<LogJson>(project, backend, ["log", "--kind", "post_*"]);
      assert.equal(posts.events.length, 3);
      const two = await adminJson<LogJson>(project, backend, ["log", "--limit", "2"]);
      assert.deepEqual(two.events.map((e) => e.id), all.events.slice(-2).map((e) => e.id));
      assert.equal(two.matching, all.events.length);
      const recent = await adminJson<LogJson>(project, backend, ["log", "--since", "1h"]);
      assert.equal(recent.events.length, all.events.length);
      const future = await adminJson<LogJson>(project, backend, [
        "log",
        "--since",
        "2999-01-01T00:00:00Z",
      ]);
      assert.deepEqual(future.events, []);
      const table = await admin(project, backend, ["log", "--kind", "reserve_paths"]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^AT +SESSION +KIND +OUTCOME +MACHINE +PID +CLIENT +WHAT$/m);
      assert.match(table.stdout, /^20\S+ +claude_2 +reserve_paths +ok .* paths=src\/auth\/\*\*$/m);

      // Another project in the same store: nothing of this one.
      const other = await adminJson<StatusJson>(project, backend, [
        "status",
        "--project-id",
        "acme/other",
      ]);
      assert.equal(other.project, "acme/other");
      assert.deepEqual(other.sessions, []);

      // sessions: a signed-off instance stays listed with its handoff.
      structured(await b.call("sign_off", { summary: "auth half done", next_steps: ["finish"] }));
      const list = await adminJson<{
        sessions: { session_id: string; status: string; handoff: { summary: string } | null }[];
      }>(project, backend, ["sessions"]);
      assert.deepEqual(list.sessions.map((x) => [x.session_id, x.status]), [
        ["claude_1", "active"],
        ["claude_2", "available"],
      ]);
      assert.equal(list.sessions[1].handoff?.summary, "auth half done");
      const listed = await admin(project, backend, ["sessions"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /^claude_2 +available .* waiting: auth half done$/m);
    } finally {
      await closeAll(sessions);
    }
  });
}

Deno.test("admin cli (local): status, sessions, tasks and log show a busy project", async () => {
  await seeEverything({ kind: "local" });
});

Deno.test({
  name: "admin cli (redis): status, sessions, tasks and log show a busy project",
  ignore: skipRedisTests(),
  async fn() {
    const redis = await startRedisServer();
    try {
      await seeEverything({ kind: "redis", url: redis.url, prefix: "admin:" });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test("admin cli: a wrong command line exits 2 before opening anything; stdout stays empty", async () => {
  const backend: Backend = { kind: "local" };
  await withAdminProject(backend, async (project) => {
    const cases = [
      ["tasks", "bogus"],
      ["tasks", "ready", "blocked"],
      ["status", "extra"],
      ["log", "--since", "yesterday"],
      ["log", "--limit", "0"],
      ["log", "--session", "Not An Id"],
      ["release"],
      ["release", "claude_1"],
      ["release", "claude_1", "claude_2", "--reason", "x"],
      ["release", "NOPE", "--reason", "x"],
      ["doctor", "--min-free-mb", "lots"],
      ["status", "--project-id", "a:b"],
      ["frobnicate"],
    ];
    const results = await Promise.all(cases.map((args) => admin(project, backend, args)));
    results.forEach((res, i) => {
      assert.equal(res.code, 2, `${cases[i].join(" ")}: exit ${res.code}\n${res.stderr}`);
      assert.equal(res.stdout, "", cases[i].join(" "));
      assert.match(res.stderr, /^error: /, cases[i].join(" "));
    });
    assert.match(results[0].stderr, /the statuses are in_progress, ready, blocked, failed, done/);
    assert.match(results[7].stderr, /--reason/);
    // Nothing was opened: no state directory was made.
    assert.equal(
      await Deno.stat(join(project.root, ".claude", "session-state")).then(() => true, () => false),
      false,
    );
  });
});

Deno.test({
  name: "admin cli: a Redis nobody listens on is exit 1, with the storage reported unreachable",
  ignore: skipRedisTests(),
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close(); // a port nothing listens on
    const backend: Backend = { kind: "redis", url: `redis://127.0.0.1:${port}`, prefix: "x:" };
    await withAdminProject(backend, async (project) => {
      const res = await admin(project, backend, ["status", "--json"]);
      assert.equal(res.code, 1, res.stderr);
      const doc = JSON.parse(res.stdout);
      assert.equal(doc.storage.reachable, false);
      assert.match(
        doc.storage.error,
        new RegExp(`redis at 127\\.0\\.0\\.1:${port} is unreachable`),
      );
      const human = await admin(project, backend, ["status"]);
      assert.equal(human.code, 1);
      assert.match(human.stdout, /^storage {2}redis, UNREACHABLE: /m);
      const tasks = await admin(project, backend, ["tasks"]);
      assert.equal(tasks.code, 1);
      assert.match(tasks.stderr, /error: STORAGE_UNAVAILABLE: redis at/);
      assert.equal(tasks.stdout, "");
    });
  },
});

Deno.test({
  name: "admin cli: compact refuses Redis (exit 1), which keeps no logs",
  ignore: skipRedisTests(),
  async fn() {
    const redis = await startRedisServer();
    try {
      const backend: Backend = { kind: "redis", url: redis.url, prefix: "c:" };
      await withAdminProject(backend, async (project) => {
        const res = await admin(project, backend, ["compact"]);
        assert.equal(res.code, 1, res.stderr);
        assert.match(res.stderr, /compact works on the local adapter's logs; .* redis/);
        assert.equal(res.stdout, "");
      });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test("admin cli: compact while two processes increment the scope it compacts loses nothing", async () => {
  const backend: Backend = { kind: "local" };
  await withAdminProject(backend, async (project) => {
    const stateDir = join(project.root, ".claude", "session-state");
    const scope = "@project:acme/widget:counter";
    const perChild = 300;
    const children = [1, 2].map((id) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", WRITER, "increment", stateDir, scope, `w${id}`, String(perChild)],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn()
    );
    const timer = setTimeout(() => children.forEach((c) => kill(c)), 120_000);
    try {
      const lines = children.map((c) => readLines(c.stdout));
      for (const l of lines) assert.equal((await l.next()).value, "ready");
      for (const c of children) {
        const w = c.stdin.getWriter();
        await w.write(new TextEncoder().encode("go\n"));
        await w.close();
      }
      const compactions: Record<string, unknown>[] = [];
      const finished = Promise.all(lines.map((l) => l.next()));
      let running = true;
      finished.then(() => running = false, () => running = false);
      // Compact again and again while they write, at least three times.
      while (running || compactions.length < 3) {
        compactions.push(await adminJson(project, backend, ["compact"]));
      }
      const done = await finished;
      for (const d of done) assert.match(String(d.value), /^done \d+$/);
      const statuses = await Promise.all(children.map((c) => c.status));
      assert.ok(statuses.every((s) => s.success));
      const rewrote = compactions.filter((c) =>
        (c.compacted as { scope: string }[]).some((x) => x.scope === scope)
      );
      assert.ok(rewrote.length > 0, "compact rewrote the counter's log");
      const reader = await createFileAdapter({
        basePath: stateDir,
        limits: { maxValueBytes: 1 << 20 },
      });
      try {
        const counter = await reader.retrieve(scope, "counter");
        assert.equal(counter?.value, 2 * perChild, "every increment is there");
      } finally {
        await reader.close();
      }
      const audit = await adminJson<LogJson>(project, backend, ["log", "--kind", "admin:compact"]);
      assert.equal(audit.events.length, compactions.length, "each compact is in the audit log");
      // A log that cannot be read: the others are compacted, it is named, exit 1.
      await Deno.writeTextFile(join(stateDir, "m~p~bad.jsonl"), "not a header\n");
      const human = await admin(project, backend, ["compact"]);
      assert.equal(human.code, 1, human.stderr);
      assert.match(
        human.stdout,
        /^\d+ logs? compacted \(.* → .*\), \d+ already compact, in .*session-state$/m,
      );
      assert.match(human.stderr, /compact: m~p~bad\.jsonl: CORRUPT_STATE: /);
    } finally {
      clearTimeout(timer);
      for (const c of children) kill(c);
      await Promise.all(children.map((c) => c.status));
      await Promise.all(children.map((c) => c.stderr.cancel().catch(() => {})));
    }
  });
});

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch { /* exited already */ }
}
