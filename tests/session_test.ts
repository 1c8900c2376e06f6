/**
 * Instances, leases, re-sign-on, switching, expiry, heartbeat, handoff and
 * ownership, in the domain. Lease tests run on the in-memory adapter and
 * fake time: nothing sleeps, and a "pause" is the clock moving while the
 * paused binding does nothing.
 */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import { git } from "../src/setup/git.ts";
import { storeData } from "../src/core/data.ts";
import {
  compareSessionIds,
  firstAvailable,
  release,
  renewLease,
  requireSession,
  signOff,
  signOn,
  startHeartbeat,
} from "../src/core/session/mod.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { fakeTime, settle } from "./_fake_time.ts";
import { makeContext, rejectsWith } from "./_inprocess.ts";

const INSTANCES = "@project:acme/widget:instances";
const HANDOFFS = "@project:acme/widget:handoffs";

/** A context on fake time with a 10 s lease. */
function onFakeTime(options: { maxInstances?: number } = {}) {
  const time = fakeTime();
  return makeContext({ time, leaseTtlSeconds: 10, ...options }).then((h) => ({ ...h, time }));
}

Deno.test("sign_on claims the lowest free instance; release frees it", async () => {
  const h = await makeContext();
  try {
    const [a, b, c] = [h.binding(), h.binding(), h.binding()];
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
    const bindings = Array.from({ length: 10 }, () => h.binding());
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
  const h = await onFakeTime();
  try {
    const a = h.binding(), b = h.binding();
    await signOn(h.ctx, a, { sessionId: "claude_3" });
    const err = await rejectsWith(signOn(h.ctx, b, { sessionId: "claude_3" }), "INSTANCE_TAKEN");
    assert.match(err.message, /last_seen 20\d\d-/);
    assert.match(err.message, /lease expires 20\d\d-/);
    assert.equal(b.held, null);
    // Custom names are instances too.
    assert.equal((await signOn(h.ctx, b, { sessionId: "reviewer" })).session_id, "reviewer");
    await rejectsWith(signOn(h.ctx, h.binding(), { sessionId: "Bad Name" }), "INVALID_ARGUMENT");
  } finally {
    await h.close();
  }
});

Deno.test("session.max_instances caps the pool, also for named auto instances of any size", async () => {
  const h = await onFakeTime({ maxInstances: 2 });
  try {
    await signOn(h.ctx, h.binding());
    await signOn(h.ctx, h.binding());
    const err = await rejectsWith(signOn(h.ctx, h.binding()), "INSTANCE_TAKEN");
    assert.match(err.message, /all 2 instances/);
    for (const id of ["claude_3", "claude_1000000", "claude_99999999999999999999"]) {
      await rejectsWith(signOn(h.ctx, h.binding(), { sessionId: id }), "INVALID_ARGUMENT");
    }
    assert.equal(firstAvailable(new Map([["claude_1", 1]]), 1), null);
  } finally {
    await h.close();
  }
});

Deno.test("sign_on twice: same or no id renews; another id switches and releases the old", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
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
    const other = h.binding();
    await signOn(h.ctx, other, { sessionId: "claude_7" });
    await rejectsWith(signOn(h.ctx, a, { sessionId: "claude_7" }), "INSTANCE_TAKEN");
    assert.equal(requireSession(a).sessionId, "claude_5");
  } finally {
    await h.close();
  }
});

Deno.test("every grant has its own id; renewals keep it", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a, { sessionId: "claude_1" });
    const grant = requireSession(a).grantId;
    assert.match(grant, /^[0-9a-f]{32}$/);
    await h.time.advance(5_000);
    await renewLease(h.ctx, a);
    assert.equal(requireSession(a).grantId, grant);
    const stored = await h.ctx.storage.retrieve(INSTANCES, "claude_1");
    assert.equal((stored?.value as { grant_id: string }).grant_id, grant);
    await release(h.ctx, a);
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: "claude_1" });
    assert.notEqual(requireSession(b).grantId, grant, "the next grant of claude_1 is another");
  } finally {
    await h.close();
  }
});

Deno.test("an expired lease can be claimed by another; the old holder learns it lost it", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding(), b = h.binding();
    await signOn(h.ctx, a, { sessionId: "claude_1" });
    await rejectsWith(signOn(h.ctx, b, { sessionId: "claude_1" }), "INSTANCE_TAKEN");
    await h.time.advance(11_000);
    assert.equal((await signOn(h.ctx, b, { sessionId: "claude_1" })).session_id, "claude_1");
    const err = await rejectsWith(renewLease(h.ctx, a), "NOT_SIGNED_ON");
    assert.match(err.message, /taken over by another session/);
    assert.equal(a.held, null);
    const again = await rejectsWith(
      Promise.resolve().then(() => requireSession(a)),
      "NOT_SIGNED_ON",
    );
    assert.match(again.message, /taken over/);
    // The new holder is untouched.
    assert.equal(requireSession(b).sessionId, "claude_1");
  } finally {
    await h.close();
  }
});

Deno.test("an expired lease is never revived, even when nobody took the instance", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a);
    await h.time.advance(11_000);
    const err = await rejectsWith(
      storeData(h.ctx, a, { scope: "x", key: "k", value: 1 }),
      "NOT_SIGNED_ON",
    );
    assert.match(err.message, /ran out/);
    assert.equal(await h.ctx.storage.retrieve("testbox:acme/widget:x", "k"), null);
    // Signing on again (and taking the same instance back) works.
    assert.equal((await signOn(h.ctx, a, { sessionId: "claude_1" })).claim, "claimed");
    await storeData(h.ctx, a, { scope: "x", key: "k", value: 2 });
  } finally {
    await h.close();
  }
});

Deno.test("defect: a session paused past its lease cannot take its instance back after another used and released it", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a, { sessionId: "claude_1" });
    await storeData(h.ctx, a, { scope: "session:claude_1", key: "status", value: "a's" });
    // a is paused (no heartbeat runs) past its lease; b takes claude_1, writes and signs off.
    await h.time.advance(11_000);
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: "claude_1" });
    await storeData(h.ctx, b, { scope: "session:claude_1", key: "status", value: "b's" });
    await signOff(h.ctx, b, { summary: "b was here" });
    // a resumes: its renewal finds no lease, which must not read as "still mine".
    await rejectsWith(
      storeData(h.ctx, a, { scope: "session:claude_1", key: "status", value: "a again" }),
      "NOT_SIGNED_ON",
    );
    const status = await h.ctx.storage.retrieve("testbox:acme/widget:session:claude_1", "status");
    assert.equal(status?.value, "b's", "b's state is not overwritten");
    assert.deepEqual(await h.ctx.storage.listKeys(INSTANCES), [], "a did not re-create the lease");
    const handoff = await h.ctx.storage.retrieve(HANDOFFS, "claude_1");
    assert.equal((handoff?.value as { received_at?: string }).received_at, undefined, "unread");
    await rejectsWith(signOff(h.ctx, a, { summary: "stale" }), "NOT_SIGNED_ON");
    const after = await h.ctx.storage.retrieve(HANDOFFS, "claude_1");
    assert.equal((after?.value as { summary: string }).summary, "b was here");
  } finally {
    await h.close();
  }
});

/** A storage whose writes to `scope` wait at a gate the test opens: a write delayed after its lease check. */
function gatedStorage(inner: StorageAdapter, scope: string) {
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => open = r);
  let waiting: () => void = () => {};
  const reached = new Promise<void>((r) => waiting = r);
  const storage: StorageAdapter = {
    ...inner,
    now: () => inner.now(),
    async store(s, k, v, o) {
      if (s === scope) {
        waiting();
        await gate;
      }
      return inner.store(s, k, v, o);
    },
  };
  return { storage, open: () => open(), reached };
}

Deno.test("defect: a write delayed past the lease after its lease check is refused, not acknowledged", async () => {
  const h = await onFakeTime();
  try {
    const slow = gatedStorage(h.ctx.storage, "@project:acme/widget:shared");
    const ctxA = { ...h.ctx, storage: slow.storage };
    const a = h.binding();
    await signOn(ctxA, a, { sessionId: "claude_1" });
    const pending = storeData(ctxA, a, { scope: "@project:shared", key: "k", value: "from a" });
    pending.catch(() => {});
    await slow.reached; // a passed its lease check and waits (a scope lock, a pause)
    await h.time.advance(11_000);
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: "claude_1" });
    await storeData(h.ctx, b, { scope: "@project:shared", key: "k", value: "from b" });
    slow.open();
    const err = await rejectsWith(pending, "NOT_SIGNED_ON");
    assert.match(err.message, /Nothing was written/);
    const entry = await h.ctx.storage.retrieve("@project:acme/widget:shared", "k");
    assert.equal(entry?.value, "from b");
    assert.equal(a.held, null);
  } finally {
    await h.close();
  }
});

Deno.test("defect: a sign_off delayed past the lease leaves no handoff", async () => {
  const h = await onFakeTime();
  try {
    const slow = gatedStorage(h.ctx.storage, HANDOFFS);
    const ctxA = { ...h.ctx, storage: slow.storage };
    const a = h.binding();
    await signOn(ctxA, a, { sessionId: "claude_1" });
    const pending = signOff(ctxA, a, { summary: "late" });
    pending.catch(() => {});
    await slow.reached;
    await h.time.advance(11_000);
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: "claude_1" });
    slow.open();
    await rejectsWith(pending, "NOT_SIGNED_ON");
    assert.equal(await h.ctx.storage.retrieve(HANDOFFS, "claude_1"), null);
    assert.equal(requireSession(b).sessionId, "claude_1", "b keeps the instance");
  } finally {
    await h.close();
  }
});

Deno.test("defect: after a wipe a session learns its lease vanished instead of re-creating it", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a, { sessionId: "claude_1" });
    const before = await storeData(h.ctx, a, { scope: "@project:c", key: "k", value: 1 });
    h.memory!.wipe();
    await h.time.advance(1);
    // A new holder claims the same instance in the emptied store.
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: "claude_1" });
    const theirs = await storeData(h.ctx, b, { scope: "@project:c", key: "k", value: 2 });
    assert.ok(theirs.version > before.version, "versions do not repeat after a wipe");
    await rejectsWith(
      storeData(h.ctx, a, { scope: "@project:c", key: "k", value: 3 }),
      "NOT_SIGNED_ON",
    );
    // a's heartbeat must not take the lease over either.
    const errors: unknown[] = [];
    const stop = startHeartbeat(h.ctx, a, (e) => errors.push(e));
    await h.time.advance(5_000);
    await stop();
    assert.equal(requireSession(b).sessionId, "claude_1");
    assert.equal((await h.ctx.storage.retrieve("@project:acme/widget:c", "k"))?.value, 2);
  } finally {
    await h.close();
  }
});

Deno.test("a wiped lease with nobody else is lost too, and the heartbeat reports it once", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a);
    const errors: unknown[] = [];
    const stop = startHeartbeat(h.ctx, a, (e) => errors.push(e));
    h.memory!.wipe();
    await h.time.advance(12_000);
    await stop();
    assert.equal(a.held, null);
    assert.equal(errors.length, 1);
    assert.ok(isCoordinatorError(errors[0], "NOT_SIGNED_ON"));
    assert.deepEqual(await h.ctx.storage.listKeys(INSTANCES), []);
  } finally {
    await h.close();
  }
});

Deno.test("the heartbeat keeps a lease alive past its TTL and stops when asked", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a);
    const errors: unknown[] = [];
    const stop = startHeartbeat(h.ctx, a, (e) => errors.push(e));
    await h.time.advance(35_000);
    await rejectsWith(signOn(h.ctx, h.binding(), { sessionId: "claude_1" }), "INSTANCE_TAKEN");
    await stop();
    assert.deepEqual(errors, []);
    await h.time.advance(11_000);
    assert.equal(
      (await signOn(h.ctx, h.binding(), { sessionId: "claude_1" })).session_id,
      "claude_1",
    );
  } finally {
    await h.close();
  }
});

Deno.test("the heartbeat reports failures instead of throwing", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a);
    const errors: unknown[] = [];
    const stop = startHeartbeat(h.ctx, a, (e) => errors.push(e));
    await h.ctx.storage.close();
    await h.time.advance(4_000);
    await stop();
    assert.ok(errors.length >= 1);
    assert.ok(isCoordinatorError(errors[0], "STORAGE_UNAVAILABLE"));
  } finally {
    await h.close();
  }
});

Deno.test("a renewal racing sign_off never resurrects the released lease", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a);
    const renewal = renewLease(h.ctx, a);
    const off = signOff(h.ctx, a, { summary: "bye" });
    await Promise.allSettled([renewal, off]);
    await settle();
    assert.deepEqual(await h.ctx.storage.listKeys(INSTANCES), []);
  } finally {
    await h.close();
  }
});

Deno.test("sign_off leaves a handoff with branch and HEAD; the next sign_on of that instance gets it", async () => {
  const h = await makeContext();
  try {
    const a = h.binding();
    await signOn(h.ctx, a);
    const out = await signOff(h.ctx, a, { summary: "did X", nextSteps: ["do Y", "do Z"] });
    assert.equal(out.status, "signed_off");
    assert.equal(out.session_id, "claude_1");
    assert.equal(a.held, null);
    await rejectsWith(signOff(h.ctx, a), "NOT_SIGNED_ON");
    const head = await git(["rev-parse", "HEAD"], h.repo);
    const b = h.binding();
    const next = await signOn(h.ctx, b, { sessionId: "claude_1" });
    assert.equal(next.handoff?.summary, "did X");
    assert.deepEqual(next.handoff?.next_steps, ["do Y", "do Z"]);
    assert.equal(next.handoff?.branch, "main");
    assert.equal(next.handoff?.commit, head);
    assert.equal(next.handoff?.worktree, h.repo);
    // A plain sign_off records an empty handoff rather than keeping a stale one.
    await signOff(h.ctx, b);
    const third = await signOn(h.ctx, h.binding(), { sessionId: "claude_1" });
    assert.equal(third.handoff?.summary, null);
    assert.deepEqual(third.handoff?.next_steps, []);
  } finally {
    await h.close();
  }
});

Deno.test("compareSessionIds orders claude_2 before claude_10 and names after numbers", () => {
  const ids = ["zed", "claude_10", "alpha", "claude_2", "claude_100000000000000000001"]
    .map((session_id) => ({ session_id }));
  assert.deepEqual(ids.sort(compareSessionIds).map((s) => s.session_id), [
    "claude_2",
    "claude_10",
    "claude_100000000000000000001",
    "alpha",
    "zed",
  ]);
});

Deno.test("a handoff is stamped when first received, so a later session knows it was picked up", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    await signOn(h.ctx, a);
    await signOff(h.ctx, a, { summary: "s1" });
    const b = h.binding();
    const first = await signOn(h.ctx, b, { sessionId: "claude_1" });
    assert.equal(first.handoff?.summary, "s1");
    assert.equal(first.handoff?.received_at, undefined);
    // b "crashes": its lease is released without a sign_off.
    await release(h.ctx, b);
    const c = h.binding();
    const second = await signOn(h.ctx, c, { sessionId: "claude_1" });
    assert.equal(second.handoff?.summary, "s1");
    assert.match(second.handoff?.received_at ?? "", /^20\d\d-/);
    assert.equal(second.handoff?.received_by_pid, b.holder.pid);
  } finally {
    await h.close();
  }
});

Deno.test("a foreign live key in the instances scope is skipped, not claimed for ever", async () => {
  const h = await onFakeTime();
  try {
    await h.ctx.storage.store(INSTANCES, "claude_1", "not a lease");
    assert.equal((await signOn(h.ctx, h.binding())).session_id, "claude_2");
  } finally {
    await h.close();
  }
});

Deno.test("two sign_ons at once on one binding leave exactly one instance held", async () => {
  const h = await onFakeTime();
  try {
    const a = h.binding();
    const [x, y] = await Promise.all([signOn(h.ctx, a), signOn(h.ctx, a)]);
    assert.equal(x.session_id, y.session_id);
    assert.deepEqual([x.claim, y.claim], ["claimed", "renewed"]);
    assert.deepEqual(await h.ctx.storage.listKeys(INSTANCES), [x.session_id]);
    // Switching twice at once also ends with one live lease.
    await Promise.all([
      signOn(h.ctx, a, { sessionId: "claude_4" }),
      signOn(h.ctx, a, { sessionId: "claude_5" }),
    ]);
    assert.deepEqual(await h.ctx.storage.listKeys(INSTANCES), ["claude_5"]);
  } finally {
    await h.close();
  }
});

Deno.test("the lease records its holder: process, client and the worktree read at sign_on", async () => {
  const h = await onFakeTime();
  try {
    let reads = 0;
    const a = h.binding();
    const read = a.workTree;
    a.workTree = () => (reads++, read());
    await signOn(h.ctx, a);
    const errors: unknown[] = [];
    const stop = startHeartbeat(h.ctx, a, (e) => errors.push(e));
    await h.time.advance(30_000);
    await stop();
    assert.equal(reads, 1, "renewals do not read the worktree (no git per renewal)");
    const lease = (await h.ctx.storage.retrieve(INSTANCES, "claude_1"))?.value as Record<
      string,
      unknown
    >;
    assert.equal(lease.pid, a.holder.pid);
    assert.equal(lease.client, "test");
    assert.equal(lease.worktree, h.repo);
  } finally {
    await h.close();
  }
});
