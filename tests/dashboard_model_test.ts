/**
 * The dashboard's pure parts: the graph layout, the snapshot model (stuck,
 * retried, dropped; what is hidden without details; credentials redacted),
 * the project list of a shared store, and which sections a change rereads.
 */
import assert from "node:assert/strict";
import { type GraphTask, layoutGraph, pack } from "../src/dashboard/graph.ts";
import { buildSnapshot, firstLine } from "../src/dashboard/model.ts";
import { isProjectId, listProjects, projectOfScope } from "../src/dashboard/projects.ts";
import { leaseSetKey, type Sections, sectionsChangedBy } from "../src/dashboard/sections.ts";
import { readOnlyStorage } from "../src/dashboard/_read_only.ts";
import type { TaskRecord, TaskStatus } from "../src/core/board/tasks.ts";
import type { LeaseRecord } from "../src/core/session/mod.ts";
import { createMemoryBackend } from "../src/storage/memory/adapter.ts";

Deno.test("graph layout", async (t) => {
  await t.step(
    "a task sits right of its deepest dependency; edges point at the waiting task",
    () => {
      const g = layoutGraph([
        { task_id: "a", depends_on: [], status: "done" },
        { task_id: "b", depends_on: ["a"], status: "ready" },
        { task_id: "c", depends_on: ["a", "b"], status: "blocked" },
        { task_id: "lonely", depends_on: [], status: "ready" },
      ]);
      const layer = Object.fromEntries(g.nodes.map((n) => [n.id, n.layer]));
      assert.deepEqual(layer, { a: 0, b: 1, c: 2 });
      assert.deepEqual(g.edges, [["a", "b"], ["a", "c"], ["b", "c"]]);
      assert.equal(g.layers, 3);
      assert.equal(g.independent, 1, "a task without edges is counted, not drawn");
      assert.equal(g.considered, "all");
    },
  );

  await t.step("rows keep one apart within a layer and never go below 0", () => {
    const tasks: GraphTask[] = [{ task_id: "root", depends_on: [], status: "ready" }];
    for (let i = 0; i < 6; i++) {
      tasks.push({ task_id: `k${i}`, depends_on: ["root"], status: "blocked" });
    }
    const g = layoutGraph(tasks);
    const rows = g.nodes.filter((n) => n.layer === 1).map((n) => n.row).sort((a, b) => a - b);
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i] - rows[i - 1] >= 1, `rows ${rows}`);
    assert.ok(g.nodes.every((n) => n.row >= 0));
    const root = g.nodes.find((n) => n.id === "root")!;
    assert.ok(
      root.row > rows[0] && root.row < rows[rows.length - 1],
      "the root sits among its fan",
    );
  });

  await t.step("a big board draws only open tasks, capped, keeping tasks in progress first", () => {
    const tasks: GraphTask[] = [];
    for (let i = 0; i < 100; i++) {
      tasks.push({ task_id: `d${i}`, depends_on: i ? [`d${i - 1}`] : [], status: "done" });
    }
    for (let i = 0; i < 30; i++) {
      tasks.push({
        task_id: `o${i}`,
        depends_on: i ? [`o${i - 1}`] : ["d99"],
        status: i === 29 ? "in_progress" : "blocked",
      });
    }
    const g = layoutGraph(tasks, { maxNodes: 10 });
    assert.equal(g.considered, "open");
    assert.equal(g.capped, 20);
    assert.ok(g.nodes.some((n) => n.id === "o29"), "the task in progress is kept");
    assert.ok(g.nodes.every((n) => n.id.startsWith("o")));
  });

  await t.step("a long chain does not overflow the stack, and a stored cycle is cut", () => {
    const chain: GraphTask[] = [];
    for (let i = 0; i < 20_000; i++) {
      chain.push({ task_id: `c${i}`, depends_on: i ? [`c${i - 1}`] : [], status: "blocked" });
    }
    assert.equal(layoutGraph(chain, { maxNodes: 20_000, allUpTo: 0 }).layers, 20_000);
    const cycle = layoutGraph([
      { task_id: "x", depends_on: ["y"], status: "blocked" },
      { task_id: "y", depends_on: ["x"], status: "blocked" },
    ]);
    assert.equal(cycle.nodes.length, 2);
  });

  await t.step("pack: least-squares positions in order, one apart", () => {
    assert.deepEqual(pack([0, 0, 5]), [0, 1, 5]);
    assert.deepEqual(pack([3, 3]), [2.5, 3.5]);
    assert.deepEqual(pack([-4, 0]), [0, 1]);
    assert.deepEqual(pack([]), []);
  });
});

function lease(id: string, machine: string, grant = `g-${id}`): LeaseRecord {
  return {
    session_id: id,
    grant_id: grant,
    machine,
    pid: 100,
    client: "claude-code 2.1.80",
    worktree: `/src/${id}`,
    branch: "main",
    since: "2026-01-01T09:00:00.000Z",
    last_seen: "2026-01-01T10:00:00.000Z",
    lease_expires_at: "2026-01-01T10:01:00.000Z",
  };
}

function task(id: string, status: TaskStatus, extra: Partial<TaskRecord> = {}) {
  const rec: TaskRecord = {
    task_id: id,
    title: `Task ${id}`,
    description: "secret plan",
    depends_on: [],
    labels: [],
    priority: 0,
    order: `0000000:${id}`,
    state: status === "done" ? "done" : status === "failed" ? "failed" : "open",
    owner: null,
    fencing_token: null,
    attempts: 0,
    notes: [{ at: "", by: "", text: "a note" }],
    history: [],
    created_at: "2026-01-01T08:00:00.000Z",
    created_by: "claude_1",
    updated_at: "2026-01-01T08:00:00.000Z",
    ...extra,
  };
  return { rec, status, waiting_for: [] as string[] };
}

const NOW = Date.parse("2026-01-01T10:00:00.000Z");

function sections(): Sections {
  const owner = (id: string, since: string) => ({
    session_id: id,
    grant_id: `g-${id}`,
    machine: "m1",
    since,
  });
  return {
    leases: new Map([
      ["claude_2", lease("claude_2", "m2")],
      ["claude_10", lease("claude_10", "m1")],
      ["claude_1", lease("claude_1", "m1")],
    ]),
    board: {
      tasks: [
        task("old", "in_progress", { owner: owner("claude_1", "2026-01-01T09:00:00.000Z") }),
        task("fresh", "in_progress", {
          owner: owner("claude_2", "2026-01-01T09:59:00.000Z"),
          attempts: 2,
        }),
        task("left", "ready", {
          owner: owner("claude_9", "2026-01-01T08:00:00.000Z"),
          attempts: 1,
        }),
        task("dep", "blocked", {
          depends_on: ["old"],
          title: "see https://bob:hunter2@git.example/x",
        }),
        task("finished", "done"),
      ],
      counts: { ready: 1, blocked: 1, in_progress: 2, done: 1, failed: 0 },
    },
    reservations: [{
      path: "src/**",
      exclusive: true,
      reason: "rewrite\nsecond line",
      session_id: "claude_1",
      machine: "m1",
      worktree: "/src/claude_1",
      reserved_at: "2026-01-01T09:30:00.000Z",
      expires_at: null,
      until: "2026-01-01T10:01:00.000Z",
    }],
    handoffs: [{
      session_id: "claude_3",
      machine: "m1",
      summary: "did things\nand more",
      next_steps: ["a", "b"],
      signed_off_at: "2026-01-01T09:00:00.000Z",
      worktree: "/src",
      branch: "main",
      commit: "0123456789abcdef",
    }],
    messages: [{
      message_id: "m1",
      from: "claude_1",
      to: "claude_2",
      subject: "Hello",
      body: "first line with redis://u:pw@db:6379\nsecond line stays private",
      thread: null,
      sent_at: "2026-01-01T09:50:00.000Z",
    }],
    audit: [
      {
        at: "2026-01-01T09:00:00.000Z",
        kind: "store_data",
        outcome: "ok",
        session_id: "claude_1",
        machine: "m1",
        pid: 1,
        client: null,
        scope: "notes",
        key: "k",
        value: "a stored secret",
      },
      {
        at: "2026-01-01T09:10:00.000Z",
        kind: "claim_task",
        outcome: "ok",
        session_id: "claude_1",
        machine: "m1",
        pid: 1,
        client: null,
        task_id: "old",
      },
    ],
  };
}

Deno.test("snapshot model", async (t) => {
  const options = { project: "acme/widget", adapter: "local", leaseTtlSeconds: 60, now: NOW };

  await t.step("sessions per machine, in instance order, with the task each works on", () => {
    const snap = buildSnapshot(sections(), { ...options, details: true });
    assert.deepEqual(snap.machines.map((m) => m.machine), ["m1", "m2"]);
    assert.deepEqual(snap.machines[0].sessions.map((s) => s.session_id), ["claude_1", "claude_10"]);
    assert.deepEqual(snap.machines[0].sessions[0].tasks, [{ task_id: "old", title: "Task old" }]);
    assert.equal(snap.machines[0].sessions[0].reservations, 1);
    assert.equal(snap.sessions, 3);
  });

  await t.step("stuck, retried and dropped tasks are marked; cards sort by status", () => {
    const snap = buildSnapshot(sections(), { ...options, details: true });
    const byId = new Map(snap.tasks.map((c) => [c.task_id, c]));
    assert.equal(byId.get("old")!.stuck, true, "in progress for an hour");
    assert.equal(byId.get("fresh")!.stuck, false);
    assert.equal(byId.get("fresh")!.retried, true);
    assert.equal(byId.get("left")!.dropped_by, "claude_9");
    assert.equal(byId.get("left")!.owner, null, "only tasks in progress have an owner");
    assert.equal(byId.get("old")!.dependants, 1);
    assert.deepEqual(snap.tasks.map((c) => c.task_id), ["old", "fresh", "left", "dep", "finished"]);
    assert.equal(snap.graph.nodes.length, 2, "old → dep");
  });

  await t.step("no values, descriptions, notes or later lines; URLs redacted", () => {
    const snap = buildSnapshot(sections(), { ...options, details: true });
    const json = JSON.stringify(snap);
    for (
      const secret of ["a stored secret", "secret plan", "a note", "second line", "hunter2", ":pw@"]
    ) {
      assert.ok(!json.includes(secret), `the snapshot must not carry ${JSON.stringify(secret)}`);
    }
    assert.equal(snap.messages[0].preview, "first line with redis://u:***@db:6379");
    assert.equal(snap.handoffs[0].summary, "did things");
    assert.equal(snap.handoffs[0].commit, "01234567");
    assert.equal(snap.reservations[0].reason, "rewrite");
    assert.deepEqual(snap.audit.map((e) => e.kind), ["claim_task", "store_data"], "newest first");
  });

  await t.step("without details: no subjects, first lines, summaries or reasons", () => {
    const snap = buildSnapshot(sections(), { ...options, details: false });
    assert.equal(snap.messages[0].subject, null);
    assert.equal(snap.messages[0].preview, null);
    assert.equal(snap.handoffs[0].summary, null);
    assert.equal(snap.reservations[0].reason, null);
    assert.equal(snap.details, false);
  });

  await t.step("firstLine trims, cuts and redacts", () => {
    assert.equal(firstLine("\n  hello  \nworld"), "hello");
    assert.equal(firstLine(""), null);
    assert.equal(firstLine(null), null);
    assert.equal(firstLine("x".repeat(10), 5), "xxxx…");
  });
});

Deno.test("projects of a shared store", async (t) => {
  await t.step("the project segment of a scope", () => {
    assert.equal(projectOfScope("@project:acme/widget:tasks"), "acme/widget");
    assert.equal(projectOfScope("laptop:acme/widget:session:claude_1"), "acme/widget");
    assert.equal(projectOfScope("nocolon"), null);
    assert.equal(projectOfScope("a:@x:b"), null);
    assert.equal(isProjectId("acme/widget"), true);
    assert.equal(isProjectId("has space"), false);
    assert.equal(isProjectId(""), false);
  });

  await t.step("every project with a key, its own always, active when it has leases", async () => {
    const storage = createMemoryBackend().open();
    try {
      await storage.store("@project:acme/gadget:instances", "claude_1", { session_id: "claude_1" });
      await storage.store("laptop:acme/gizmo:notes", "k", 1);
      assert.deepEqual(await listProjects(storage, "acme/widget"), [
        { project: "acme/gadget", active: true },
        { project: "acme/gizmo", active: false },
        { project: "acme/widget", active: false },
      ]);
    } finally {
      await storage.close();
    }
  });
});

Deno.test("sections and the read-only storage", async (t) => {
  await t.step("a change rereads only the sections of its scopes", () => {
    const id = { machine: "m", project: "acme/widget" };
    assert.deepEqual([...sectionsChangedBy(id, ["@project:acme/widget:tasks"])], ["board"]);
    assert.deepEqual(
      [...sectionsChangedBy(id, ["@project:acme/widget:instances", "@project:acme/widget:audit"])],
      ["leases", "audit"],
    );
    assert.deepEqual([...sectionsChangedBy(id, ["@project:other:tasks"])], []);
  });

  await t.step("the lease-set key ignores renewals, not grants", () => {
    const a = new Map([["claude_1", lease("claude_1", "m")]]);
    const renewed = new Map([["claude_1", { ...lease("claude_1", "m"), last_seen: "later" }]]);
    const regranted = new Map([["claude_1", lease("claude_1", "m", "other")]]);
    assert.equal(leaseSetKey(a), leaseSetKey(renewed));
    assert.notEqual(leaseSetKey(a), leaseSetKey(regranted));
  });

  await t.step("every write through the dashboard's storage is refused", async () => {
    const storage = createMemoryBackend().open();
    try {
      const ro = readOnlyStorage(storage);
      await storage.store("s:p:x", "k", 1);
      assert.equal((await ro.retrieve("s:p:x", "k"))?.value, 1);
      assert.deepEqual(await ro.listKeys("s:p:x"), ["k"]);
      assert.deepEqual(await ro.listScopes(), ["s:p:x"]);
      assert.equal((await ro.listEntries("s:p:x")).length, 1);
      assert.equal(ro.name, storage.name);
      assert.ok(ro.now() > 0);
      ro.watch(() => {})();
      for (
        const write of [
          () => ro.store("s:p:x", "k", 2),
          () => ro.delete("s:p:x", "k"),
          () => ro.writeBatch("s:p:x", []),
          () => ro.restore("s:p:x", "k", { value: 1 } as never),
          () => ro.deleteScope("s:p:x"),
        ]
      ) {
        await assert.rejects(write, /read-only/);
      }
      await ro.close();
      assert.equal((await storage.retrieve("s:p:x", "k"))?.value, 1, "close is not forwarded");
    } finally {
      await storage.close();
    }
  });
});
