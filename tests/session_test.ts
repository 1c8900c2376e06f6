/** Instances, leases, re-sign-on, switching, expiry, heartbeat and handoff, in the domain. */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import { git } from "../src/setup/git.ts";
import {
  compareSessionIds,
  createBinding,
  firstAvailable,
  release,
  renewLease,
  requireSession,
  signOff,
  signOn,
  startHeartbeat,
} from "../src/core/session/mod.ts";
import { makeContext } from "./_inprocess.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isCoordinatorError(err), `expected a CoordinatorError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

Deno.test("sign_on claims the lowest free instance; release frees it", async () => {
  const h = await makeContext();
  try {
    const [a, b, c] = [createBinding(), createBinding(), createBinding()];
    assert.equal((await signOn(h.ctx, a)).session_id, "claude_1");
    assert.equal((await signOn(h.ctx, b)).session_id, "claude_2");
    await release(h.ctx, a);
    assert.equal(a.held, null);
    const third = await signOn(h.ctx, c);
    assert.equal(third.session_id, "claude_1");
    assert.deepEqual(third.active_sessions.map((s) => s.session_id), ["claude_1", "claude_2"]);
    assert.equal(third.active_sessions[0].branch, "main");
    assert.equal(third.active_sessions[0].worktree, h.repo);
  } finally {
    await h.close();
  }
});

Deno.test("concurrent sign_ons in one process get distinct instances; the pool grows past four", async () => {
  const h = await makeContext();
  try {
    const bindings = Array.from({ length: 10 }, () => createBinding());
    const ids = (await Promise.all(bindings.map((b) => signOn(h.ctx, b)))).map((r) => r.session_id);
    assert.equal(new Set(ids).size, 10);
    assert.deepEqual(
      [...ids].sort((x, y) => compareSessionIds({ session_id: x }, { session_id: y })),
      Array.from({ length: 10 }, (_, i) => `claude_${i + 1}`),
    );
  } finally {
    await h.close();
  }
});

Deno.test("claiming a held instance by name is INSTANCE_TAKEN with last_seen and expiry", async () => {
  const h = await makeContext();
  try {
    const a = createBinding(), b = createBinding();
    await signOn(h.ctx, a, { sessionId: "claude_3" });
    const err = await rejectsWith(signOn(h.ctx, b, { sessionId: "claude_3" }), "INSTANCE_TAKEN");
    assert.match(err.message, /last_seen 20\d\d-/);
    assert.match(err.message, /lease expires 20\d\d-/);
    assert.equal(b.held, null);
    // Custom names are instances too.
    assert.equal((await signOn(h.ctx, b, { sessionId: "reviewer" })).session_id, "reviewer");
    await rejectsWith(
      signOn(h.ctx, createBinding(), { sessionId: "Bad Name" }),
      "INVALID_ARGUMENT",
    );
  } finally {
    await h.close();
  }
});

Deno.test("session.max_instances caps the pool", async () => {
  const h = await makeContext({ maxInstances: 2 });
  try {
    await signOn(h.ctx, createBinding());
    await signOn(h.ctx, createBinding());
    const err = await rejectsWith(signOn(h.ctx, createBinding()), "INSTANCE_TAKEN");
    assert.match(err.message, /all 2 instances/);
    await rejectsWith(
      signOn(h.ctx, createBinding(), { sessionId: "claude_3" }),
      "INVALID_ARGUMENT",
    );
    assert.equal(firstAvailable(new Map([["claude_1", 1]]), 1), null);
  } finally {
    await h.close();
  }
});

Deno.test("sign_on twice: same or no id renews; another id switches and releases the old", async () => {
  const h = await makeContext();
  try {
    const a = createBinding();
    const first = await signOn(h.ctx, a);
    assert.equal(first.claim, "claimed");
    const again = await signOn(h.ctx, a);
    assert.equal(again.claim, "renewed");
    assert.equal(again.session_id, first.session_id);
    assert.equal((await signOn(h.ctx, a, { sessionId: "claude_1" })).claim, "renewed");
    const switched = await signOn(h.ctx, a, { sessionId: "claude_5" });
    assert.equal(switched.session_id, "claude_5");
    assert.deepEqual(switched.active_sessions.map((s) => s.session_id), ["claude_5"]);
    // A failed switch keeps the old instance.
    const other = createBinding();
    await signOn(h.ctx, other, { sessionId: "claude_7" });
    await rejectsWith(signOn(h.ctx, a, { sessionId: "claude_7" }), "INSTANCE_TAKEN");
    assert.equal(requireSession(a).sessionId, "claude_5");
  } finally {
    await h.close();
  }
});

Deno.test("an expired lease can be claimed by another; the old holder learns it lost it", async () => {
  const h = await makeContext({ leaseTtlSeconds: 0.3 });
  try {
    const a = createBinding(), b = createBinding();
    await signOn(h.ctx, a, { sessionId: "claude_1" });
    await rejectsWith(signOn(h.ctx, b, { sessionId: "claude_1" }), "INSTANCE_TAKEN");
    await sleep(450);
    assert.equal((await signOn(h.ctx, b, { sessionId: "claude_1" })).session_id, "claude_1");
    const err = await rejectsWith(renewLease(h.ctx, a), "NOT_SIGNED_ON");
    assert.match(err.message, /expired and another session/);
    assert.equal(a.held, null);
    try {
      requireSession(a);
      assert.fail("expected NOT_SIGNED_ON");
    } catch (e) {
      assert.match((e as Error).message, /lease on claude_1 expired/);
    }
  } finally {
    await h.close();
  }
});

Deno.test("an expired lease nobody took is quietly re-claimed on renewal", async () => {
  const h = await makeContext({ leaseTtlSeconds: 0.2 });
  try {
    const a = createBinding();
    await signOn(h.ctx, a);
    await sleep(350);
    const renewed = await renewLease(h.ctx, a);
    assert.equal(renewed.sessionId, "claude_1");
    await rejectsWith(signOn(h.ctx, createBinding(), { sessionId: "claude_1" }), "INSTANCE_TAKEN");
  } finally {
    await h.close();
  }
});

Deno.test("the heartbeat keeps a lease alive past its TTL and stops when asked", async () => {
  const h = await makeContext({ leaseTtlSeconds: 0.6 });
  try {
    const a = createBinding();
    await signOn(h.ctx, a);
    const errors: unknown[] = [];
    const stop = startHeartbeat(h.ctx, a, (e) => errors.push(e));
    await sleep(1500);
    await rejectsWith(signOn(h.ctx, createBinding(), { sessionId: "claude_1" }), "INSTANCE_TAKEN");
    stop();
    assert.deepEqual(errors, []);
    await sleep(900);
    assert.equal(
      (await signOn(h.ctx, createBinding(), { sessionId: "claude_1" })).session_id,
      "claude_1",
    );
  } finally {
    await h.close();
  }
});

Deno.test("the heartbeat reports failures instead of throwing", async () => {
  const h = await makeContext({ leaseTtlSeconds: 0.75 });
  try {
    const a = createBinding();
    await signOn(h.ctx, a);
    const errors: unknown[] = [];
    const stop = startHeartbeat(h.ctx, a, (e) => errors.push(e));
    await h.ctx.storage.close();
    await sleep(400);
    stop();
    assert.ok(errors.length >= 1);
    assert.ok(isCoordinatorError(errors[0], "STORAGE_UNAVAILABLE"));
  } finally {
    await h.close();
  }
});

Deno.test("sign_off leaves a handoff with branch and HEAD; the next sign_on of that instance gets it", async () => {
  const h = await makeContext();
  try {
    const a = createBinding();
    await signOn(h.ctx, a);
    const out = await signOff(h.ctx, a, { summary: "did X", nextSteps: ["do Y", "do Z"] });
    assert.equal(out.status, "signed_off");
    assert.equal(out.session_id, "claude_1");
    assert.equal(a.held, null);
    await rejectsWith(signOff(h.ctx, a), "NOT_SIGNED_ON");
    const head = await git(["rev-parse", "HEAD"], h.repo);
    const b = createBinding();
    const next = await signOn(h.ctx, b, { sessionId: "claude_1" });
    assert.equal(next.handoff?.summary, "did X");
    assert.deepEqual(next.handoff?.next_steps, ["do Y", "do Z"]);
    assert.equal(next.handoff?.branch, "main");
    assert.equal(next.handoff?.commit, head);
    assert.equal(next.handoff?.worktree, h.repo);
    // A plain sign_off records an empty handoff rather than keeping a stale one.
    await signOff(h.ctx, b);
    const third = await signOn(h.ctx, createBinding(), { sessionId: "claude_1" });
    assert.equal(third.handoff?.summary, null);
    assert.deepEqual(third.handoff?.next_steps, []);
  } finally {
    await h.close();
  }
});

Deno.test("compareSessionIds orders claude_2 before claude_10 and names after numbers", () => {
  const ids = ["zed", "claude_10", "alpha", "claude_2"].map((session_id) => ({ session_id }));
  assert.deepEqual(ids.sort(compareSessionIds).map((s) => s.session_id), [
    "claude_2",
    "claude_10",
    "alpha",
    "zed",
  ]);
});

Deno.test("a handoff is stamped when first received, so a later session knows it was picked up", async () => {
  const h = await makeContext();
  try {
    const a = createBinding();
    await signOn(h.ctx, a);
    await signOff(h.ctx, a, { summary: "s1" });
    const b = createBinding();
    const first = await signOn(h.ctx, b, { sessionId: "claude_1" });
    assert.equal(first.handoff?.summary, "s1");
    assert.equal(first.handoff?.received_at, undefined);
    // b "crashes": its lease is released without a sign_off.
    await release(h.ctx, b);
    const c = createBinding();
    const second = await signOn(h.ctx, c, { sessionId: "claude_1" });
    assert.equal(second.handoff?.summary, "s1");
    assert.match(second.handoff?.received_at ?? "", /^20\d\d-/);
    assert.equal(second.handoff?.received_by_pid, Deno.pid);
  } finally {
    await h.close();
  }
});

Deno.test("a session paused past its lease learns of the loss on its next call", async () => {
  const h = await makeContext({ leaseTtlSeconds: 0.3 });
  try {
    const { storeData } = await import("../src/core/data.ts");
    const a = createBinding();
    await signOn(h.ctx, a);
    await sleep(450);
    // Nobody took it: the call quietly renews and succeeds.
    await storeData(h.ctx, a, { scope: "x", key: "k", value: 1 });
    await sleep(450);
    await signOn(h.ctx, createBinding(), { sessionId: "claude_1" });
    await rejectsWith(storeData(h.ctx, a, { scope: "x", key: "k", value: 2 }), "NOT_SIGNED_ON");
  } finally {
    await h.close();
  }
});

Deno.test("a renewal finds its own lease at a newer version (a write that timed out but landed) and keeps it", async () => {
  const h = await makeContext();
  try {
    const a = createBinding();
    await signOn(h.ctx, a);
    const held = requireSession(a);
    // The lease write landed although the caller never learned it did.
    await h.ctx.storage.store(
      "@project:acme/widget:instances",
      "claude_1",
      held.lease as unknown as Record<string, never>,
      { ifVersion: held.version, ttlSeconds: 60 },
    );
    const renewed = await renewLease(h.ctx, a);
    assert.equal(renewed.sessionId, "claude_1");
    assert.equal(requireSession(a).version, renewed.version);
  } finally {
    await h.close();
  }
});

Deno.test("sign_off from a session that lost its instance while paused writes no handoff", async () => {
  const h = await makeContext({ leaseTtlSeconds: 0.3 });
  try {
    const a = createBinding();
    await signOn(h.ctx, a);
    await sleep(450);
    const b = createBinding();
    await signOn(h.ctx, b, { sessionId: "claude_1" });
    await rejectsWith(signOff(h.ctx, a, { summary: "stale" }), "NOT_SIGNED_ON");
    assert.equal(await h.ctx.storage.retrieve("@project:acme/widget:handoffs", "claude_1"), null);
    assert.equal(requireSession(b).sessionId, "claude_1");
  } finally {
    await h.close();
  }
});

Deno.test("a foreign live key in the instances scope is skipped, not claimed for ever", async () => {
  const h = await makeContext();
  try {
    await h.ctx.storage.store("@project:acme/widget:instances", "claude_1", "not a lease");
    assert.equal((await signOn(h.ctx, createBinding())).session_id, "claude_2");
  } finally {
    await h.close();
  }
});

Deno.test("two sign_ons at once on one binding leave exactly one instance held", async () => {
  const h = await makeContext();
  try {
    const a = createBinding();
    const [x, y] = await Promise.all([signOn(h.ctx, a), signOn(h.ctx, a)]);
    assert.equal(x.session_id, y.session_id);
    assert.deepEqual([x.claim, y.claim], ["claimed", "renewed"]);
    const live = await h.ctx.storage.listKeys("@project:acme/widget:instances");
    assert.deepEqual(live, [x.session_id]);
    // Switching twice at once also ends with one live lease.
    await Promise.all([
      signOn(h.ctx, a, { sessionId: "claude_4" }),
      signOn(h.ctx, a, { sessionId: "claude_5" }),
    ]);
    assert.deepEqual(await h.ctx.storage.listKeys("@project:acme/widget:instances"), ["claude_5"]);
  } finally {
    await h.close();
  }
});
