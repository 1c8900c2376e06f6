/**
 * The work board's tasks in the domain, on the in-memory adapter and fake
 * time: posting with dependencies, race-free claims, claims that die with
 * their session, fencing tokens, and dependants that unblock by themselves.
 */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import { storeData } from "../src/core/data.ts";
import { claimTask, listTasks, postTask, readBoard, updateTask } from "../src/core/board/tasks.ts";
import { deleteScope } from "../src/core/data.ts";
import { requireSession, signOff, signOn } from "../src/core/session/mod.ts";
import { rejectsWith, signedOnSessions } from "./_inprocess.ts";

async function statusOf(ctx: Parameters<typeof listTasks>[0], id: string) {
  return (await listTasks(ctx, { taskId: id })).tasks[0].status;
}

Deno.test("post_task: ready or blocked; unknown dependencies, cycles and changed reposts are refused", async () => {
  const h = await signedOnSessions(1);
  try {
    const [a] = h.s;
    const first = await postTask(h.ctx, a, { title: "schema", taskId: "schema" });
    assert.deepEqual([first.task_id, first.status, first.created], ["schema", "ready", true]);
    assert.ok(first.version > 0);
    const api = await postTask(h.ctx, a, { title: "api", taskId: "api", dependsOn: ["schema"] });
    assert.equal(api.status, "blocked");
    const auto = await postTask(h.ctx, a, { title: "no id" });
    assert.match(auto.task_id, /^task-[0-9a-f]{8}$/);
    const unknown = await rejectsWith(
      postTask(h.ctx, a, { title: "x", dependsOn: ["schema", "nope"] }),
      "INVALID_ARGUMENT",
    );
    assert.match(unknown.message, /unknown task "nope"/);
    const cycle = await rejectsWith(
      postTask(h.ctx, a, { title: "loop", taskId: "loop", dependsOn: ["loop"] }),
      "INVALID_ARGUMENT",
    );
    assert.match(cycle.message, /cycle/);
    // The same content again is a no-op; other content is a conflict.
    const again = await postTask(h.ctx, a, { title: "api", taskId: "api", dependsOn: ["schema"] });
    assert.deepEqual([again.created, again.version, again.status], [false, api.version, "blocked"]);
    await rejectsWith(
      postTask(h.ctx, a, { title: "api v2", taskId: "api", dependsOn: ["schema"] }),
      "VERSION_CONFLICT",
    );
    const { counts } = await readBoard(h.ctx);
    assert.deepEqual(counts, { ready: 2, blocked: 1, in_progress: 0, done: 0, failed: 0 });
  } finally {
    await h.close();
  }
});

Deno.test("claim_task takes the best ready task (priority, then oldest), honours labels, and says why when none is ready", async () => {
  const h = await signedOnSessions(1);
  try {
    const [a] = h.s;
    await postTask(h.ctx, a, { title: "old low", taskId: "old-low" });
    await h.time.advance(1);
    await postTask(h.ctx, a, { title: "high", taskId: "high", priority: 5 });
    await h.time.advance(1);
    await postTask(h.ctx, a, { title: "new low", taskId: "new-low", labels: ["docs"] });
    await postTask(h.ctx, a, { title: "later", taskId: "later", dependsOn: ["high"] });
    const order = [];
    order.push((await claimTask(h.ctx, a, { labels: ["docs"] })).task!.task_id);
    for (let i = 0; i < 2; i++) order.push((await claimTask(h.ctx, a, {})).task!.task_id);
    assert.deepEqual(order, ["new-low", "high", "old-low"]);
    const none = await claimTask(h.ctx, a, {});
    assert.deepEqual(none, { task: null, fencing_token: null, blocked: 1, in_progress: 3 });
  } finally {
    await h.close();
  }
});

Deno.test("of many sessions claiming at once, each task goes to exactly one", async () => {
  const h = await signedOnSessions(8);
  try {
    for (let i = 0; i < 20; i++) await postTask(h.ctx, h.s[0], { title: `t${i}`, taskId: `t${i}` });
    const claimed: string[] = [];
    await Promise.all(h.s.map(async (b) => {
      for (;;) {
        const res = await claimTask(h.ctx, b, {});
        if (res.task === null) return;
        claimed.push(res.task.task_id);
      }
    }));
    assert.equal(claimed.length, 20);
    assert.equal(new Set(claimed).size, 20, "no task claimed twice");
    // And by name: of 8 claimers of one task, one wins, the others get TASK_TAKEN.
    await postTask(h.ctx, h.s[0], { title: "hot", taskId: "hot" });
    const results = await Promise.allSettled(
      h.s.map((b) => claimTask(h.ctx, b, { taskId: "hot" })),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.ok(isCoordinatorError(r.reason, "TASK_TAKEN"));
    }
  } finally {
    await h.close();
  }
});

Deno.test("claiming a held task names the holder; a blocked one names what it waits for", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    await postTask(h.ctx, a, { title: "x", taskId: "x" });
    await postTask(h.ctx, a, { title: "y", taskId: "y", dependsOn: ["x"] });
    await claimTask(h.ctx, a, { taskId: "x" });
    const taken = await rejectsWith(claimTask(h.ctx, b, { taskId: "x" }), "TASK_TAKEN");
    assert.match(taken.message, /held by claude_1/);
    const blocked = await rejectsWith(claimTask(h.ctx, b, { taskId: "y" }), "INVALID_ARGUMENT");
    assert.match(blocked.message, /waits for "x"/);
    // Claiming your own task again returns it with the same token.
    const mine = await claimTask(h.ctx, a, { taskId: "x" });
    assert.equal(mine.task?.status, "in_progress");
  } finally {
    await h.close();
  }
});

Deno.test("done makes a dependant ready only when all its dependencies are done", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    await postTask(h.ctx, a, { title: "x", taskId: "x" });
    await postTask(h.ctx, a, { title: "y", taskId: "y" });
    await postTask(h.ctx, a, { title: "z", taskId: "z", dependsOn: ["x", "y"] });
    const x = await claimTask(h.ctx, a, { taskId: "x" });
    await claimTask(h.ctx, b, { taskId: "y" });
    await updateTask(h.ctx, a, { taskId: "x", status: "done", fencingToken: x.fencing_token! });
    assert.equal(await statusOf(h.ctx, "z"), "blocked");
    const listed = await listTasks(h.ctx, { status: "blocked" });
    assert.deepEqual(listed.tasks[0].waiting_for, ["y"]);
    await updateTask(h.ctx, b, { taskId: "y", status: "done", note: "merged" });
    assert.equal(await statusOf(h.ctx, "z"), "ready");
    assert.equal((await claimTask(h.ctx, a, {})).task?.task_id, "z");
  } finally {
    await h.close();
  }
});

Deno.test("the last two dependencies finishing at once always unblock their dependant", async () => {
  const h = await signedOnSessions(3);
  try {
    const [a, b, c] = h.s;
    for (let round = 0; round < 25; round++) {
      const ids = [`p${round}`, `q${round}`, `r${round}`];
      for (const id of ids) await postTask(h.ctx, a, { title: id, taskId: id });
      await postTask(h.ctx, a, { title: "join", taskId: `join${round}`, dependsOn: ids });
      const holders = [a, b, c];
      await Promise.all(ids.map((id, i) => claimTask(h.ctx, holders[i], { taskId: id })));
      await Promise.all(
        ids.map((id, i) => updateTask(h.ctx, holders[i], { taskId: id, status: "done" })),
      );
      assert.equal(await statusOf(h.ctx, `join${round}`), "ready", `round ${round}`);
    }
    // A dependant posted while its dependency finishes is never stranded either.
    for (let round = 0; round < 25; round++) {
      await postTask(h.ctx, a, { title: "dep", taskId: `dep${round}` });
      await claimTask(h.ctx, a, { taskId: `dep${round}` });
      await Promise.all([
        updateTask(h.ctx, a, { taskId: `dep${round}`, status: "done" }),
        postTask(h.ctx, b, { title: "after", taskId: `after${round}`, dependsOn: [`dep${round}`] }),
      ]);
      assert.equal(await statusOf(h.ctx, `after${round}`), "ready", `round ${round}`);
    }
  } finally {
    await h.close();
  }
});

Deno.test("a claim dies with its session: sign_off or a lapsed lease make the task ready again, attempts grow, notes stay", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    await postTask(h.ctx, a, { title: "x", taskId: "x" });
    const first = await claimTask(h.ctx, a, { taskId: "x" });
    await updateTask(h.ctx, a, { taskId: "x", note: "half done: see branch x" });
    await signOff(h.ctx, a, { summary: "bye" });
    assert.equal(await statusOf(h.ctx, "x"), "ready");
    const second = await claimTask(h.ctx, b, {});
    assert.equal(second.task?.task_id, "x");
    assert.equal(second.task?.attempts, 2);
    assert.ok(second.fencing_token! > first.fencing_token!, "a new grant has a larger token");
    assert.equal(second.task?.notes?.[0].text, "half done: see branch x");
    assert.ok(second.task?.history?.some((e) => e.event === "reclaimed"));
    // b's process dies (no heartbeat): within one lease TTL the task is ready again.
    await h.time.advance(10_001);
    assert.equal(await statusOf(h.ctx, "x"), "ready");
  } finally {
    await h.close();
  }
});

Deno.test("fencing: a holder that lost its claim is refused with STALE_CLAIM, and cannot finish it", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    await postTask(h.ctx, a, { title: "x", taskId: "x" });
    await postTask(h.ctx, a, { title: "after", taskId: "after", dependsOn: ["x"] });
    const stale = await claimTask(h.ctx, a, { taskId: "x" });
    // a is paused past its lease; b takes the task over.
    await h.time.advance(11_000);
    await signOn(h.ctx, b, { sessionId: "claude_2" }); // b renews on its own
    const fresh = await claimTask(h.ctx, b, { taskId: "x" });
    assert.ok(fresh.fencing_token! > stale.fencing_token!);
    // a resumes: its own lease is gone, so it is not signed on.
    await rejectsWith(
      updateTask(h.ctx, a, { taskId: "x", status: "done", fencingToken: stale.fencing_token! }),
      "NOT_SIGNED_ON",
    );
    // Signed on again (a new grant), its old token is stale.
    await signOn(h.ctx, a, { sessionId: "claude_1" });
    const err = await rejectsWith(
      updateTask(h.ctx, a, { taskId: "x", status: "done", fencingToken: stale.fencing_token! }),
      "STALE_CLAIM",
    );
    assert.match(err.message, /claude_2/);
    await rejectsWith(updateTask(h.ctx, a, { taskId: "x", status: "done" }), "TASK_TAKEN");
    assert.equal(await statusOf(h.ctx, "x"), "in_progress");
    assert.equal(await statusOf(h.ctx, "after"), "blocked");
    await updateTask(h.ctx, b, { taskId: "x", status: "done", fencingToken: fresh.fencing_token! });
    assert.equal(await statusOf(h.ctx, "after"), "ready");
  } finally {
    await h.close();
  }
});

Deno.test("giving a task back, failing it, and reopening a failed one", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    await postTask(h.ctx, a, { title: "x", taskId: "x" });
    await postTask(h.ctx, a, { title: "y", taskId: "y", dependsOn: ["x"] });
    await rejectsWith(updateTask(h.ctx, a, { taskId: "x", status: "done" }), "INVALID_ARGUMENT");
    await claimTask(h.ctx, a, { taskId: "x" });
    const back = await updateTask(h.ctx, a, { taskId: "x", status: "ready", note: "not mine" });
    assert.equal(back.status, "ready");
    await claimTask(h.ctx, b, { taskId: "x" });
    const failed = await updateTask(h.ctx, b, { taskId: "x", status: "failed", note: "cannot" });
    assert.equal(failed.status, "failed");
    assert.equal(await statusOf(h.ctx, "y"), "blocked", "a failed dependency blocks");
    await rejectsWith(claimTask(h.ctx, a, { taskId: "x" }), "INVALID_ARGUMENT");
    const reopened = await updateTask(h.ctx, a, { taskId: "x", status: "ready" });
    assert.equal(reopened.status, "ready");
    const full = (await listTasks(h.ctx, { taskId: "x" })).tasks[0];
    assert.deepEqual(full.history?.map((e) => e.event), [
      "posted",
      "claimed",
      "note",
      "ready",
      "claimed",
      "note",
      "failed",
      "ready",
    ]);
    await rejectsWith(updateTask(h.ctx, a, { taskId: "x" }), "INVALID_ARGUMENT");
  } finally {
    await h.close();
  }
});

Deno.test("list_tasks filters by status, owner and label, and the board's scope cannot be written raw", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    await postTask(h.ctx, a, { title: "a1", taskId: "a1", labels: ["api"] });
    await postTask(h.ctx, a, { title: "a2", taskId: "a2", labels: ["ui"] });
    await claimTask(h.ctx, b, { taskId: "a1" });
    assert.deepEqual((await listTasks(h.ctx, { owner: "claude_2" })).tasks.map((t) => t.task_id), [
      "a1",
    ]);
    assert.deepEqual((await listTasks(h.ctx, { label: "ui" })).tasks.map((t) => t.task_id), ["a2"]);
    assert.deepEqual((await listTasks(h.ctx, { status: "ready" })).tasks.map((t) => t.task_id), [
      "a2",
    ]);
    const page = await listTasks(h.ctx, { limit: 1 });
    assert.deepEqual([page.tasks.length, page.more], [1, true]);
    assert.equal(page.tasks[0].task_id, "a1", "in progress first");
    await rejectsWith(
      storeData(h.ctx, a, { scope: "@project:tasks", key: "t:a1", value: {} }),
      "INVALID_ARGUMENT",
    );
    await rejectsWith(deleteScope(h.ctx, a, { scope: "@project:tasks" }), "INVALID_ARGUMENT");
    assert.equal(requireSession(b).sessionId, "claude_2");
  } finally {
    await h.close();
  }
});
