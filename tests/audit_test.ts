/** The audit log: what is recorded, what is not (values, secrets), retention, and failures that never fail a call. */
import assert from "node:assert/strict";
import { DEFAULT_AUDIT, readAudit } from "../src/core/audit.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { connect, makeContext, ok } from "./_inprocess.ts";

Deno.test("audit: every write through a tool is recorded with who, what and the outcome; reads are not", async () => {
  const h = await makeContext({ audit: DEFAULT_AUDIT });
  const a = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await a.call("store_data", { scope: "notes", key: "token", value: "hunter2-secret" }));
    ok(await a.call("retrieve_data", { scope: "notes", key: "token" }));
    await a.call("store_data", { scope: "notes", key: "token", value: 1, if_version: 1 });
    ok(await a.call("post_task", { task_id: "t1", title: "x" }));
    ok(await a.call("claim_task", {}));
    ok(await a.call("update_task", { task_id: "t1", status: "done" }));
    ok(await a.call("send_message", { to: "claude_2", body: "the password is hunter2-secret" }));
    ok(await a.call("reserve_paths", { paths: ["src/**"] }));
    ok(await a.call("sign_off", { summary: "done" }));
    await h.ctx.audit!.flush();
    const events = (await readAudit(h.ctx.storage, h.ctx.identity)).map((e) => e.event);
    assert.deepEqual(events.map((e) => `${e.kind} ${e.outcome}`), [
      "sign_on ok",
      "store_data ok",
      "store_data VERSION_CONFLICT",
      "post_task ok",
      "claim_task ok",
      "update_task ok",
      "send_message ok",
      "reserve_paths ok",
      "sign_off ok",
    ]);
    for (const e of events) {
      assert.equal(e.session_id, "claude_1", e.kind);
      assert.equal(e.machine, "testbox");
      assert.equal(e.client, "test-client 1.0.0");
      assert.match(e.at, /^20\d\d-/);
    }
    assert.equal(events[1].scope, "notes");
    assert.equal(events[1].key, "token");
    assert.equal(events[4].task_id, "t1", "a claim names the task it got");
    assert.equal(events[5].status, "done");
    assert.equal(events[6].to, "claude_2");
    assert.deepEqual(events[7].paths, ["src/**"]);
    assert.ok(!JSON.stringify(events).includes("hunter2"), "no value or body is copied");
    assert.deepEqual(
      (await readAudit(h.ctx.storage, h.ctx.identity, { kind: "store_*" })).length,
      2,
    );
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("audit: a refused call's oversized arguments are cut to a size an event can carry", async () => {
  const h = await makeContext({ audit: DEFAULT_AUDIT });
  const a = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    const paths = Array.from({ length: 5_000 }, (_, i) => `${"x".repeat(2_000)}/${i}`);
    const refused = await a.call("reserve_paths", { paths: [...paths, 7, { a: 1 }] });
    assert.equal(refused.isError, true);
    await a.call("store_data", { scope: "s", key: "k".repeat(100_000), value: 1 });
    await h.ctx.audit!.flush();
    assert.equal(h.ctx.audit!.failures, 0, "every event was written");
    const events = (await readAudit(h.ctx.storage, h.ctx.identity)).map((e) => e.event);
    assert.deepEqual(events.map((e) => `${e.kind} ${e.outcome}`), [
      "sign_on ok",
      "reserve_paths INVALID_ARGUMENT",
      "store_data INVALID_ARGUMENT",
    ]);
    assert.equal(events[1].paths!.length, 64);
    assert.ok(events[1].paths!.every((p) => p.length === 512));
    assert.equal(events[2].key!.length, 512);
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("audit: include_values copies values and bodies; retention and the size bound hold", async () => {
  const h = await makeContext({
    audit: { ...DEFAULT_AUDIT, include_values: true, max_events: 100, retention_days: 1 },
  });
  const a = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await a.call("store_data", { scope: "s", key: "k", value: { n: 1 } }));
    await h.ctx.audit!.flush();
    const [, stored] = (await readAudit(h.ctx.storage, h.ctx.identity)).map((e) => e.event);
    assert.deepEqual(stored.value, { n: 1 });
    const entry = (await h.ctx.storage.listEntries("@project:acme/widget:audit"))[0].entry;
    const ttl = Date.parse(entry.expiresAt!) - Date.parse(entry.updatedAt);
    assert.ok(Math.abs(ttl - 86_400_000) < 5_000, "kept retention_days");
    for (let i = 0; i < 250; i++) {
      ok(await a.call("store_data", { scope: "s", key: "k", value: i }));
    }
    await h.ctx.audit!.flush();
    const kept = await readAudit(h.ctx.storage, h.ctx.identity);
    assert.ok(kept.length <= 100 + 100, `pruned to about max_events: ${kept.length}`);
    assert.equal(kept.at(-1)?.event.value, 249, "the newest are kept");
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("audit: a failed append is logged and counted, never failing the call it records", async () => {
  const logs: string[] = [];
  const h = await makeContext({ audit: DEFAULT_AUDIT, auditLog: logs });
  const real = h.ctx.storage;
  // Every audit write fails; every other write works.
  const broken: StorageAdapter = {
    ...real,
    now: () => real.now(),
    writeBatch: (scope, ops, options) =>
      scope.endsWith(":audit")
        ? Promise.reject(new Error("disk full"))
        : real.writeBatch(scope, ops, options),
  };
  const { createAuditSink } = await import("../src/core/audit.ts");
  h.ctx.audit = createAuditSink(broken, h.ctx.identity, DEFAULT_AUDIT, (l) => logs.push(l));
  const a = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await a.call("store_data", { scope: "s", key: "k", value: 1 }));
    await h.ctx.audit.flush();
    assert.equal(h.ctx.audit.failures, 2);
    assert.ok(
      logs.some((l) => /audit: could not record .*store_data \(disk full\); 2 lost so far/.test(l)),
    );
  } finally {
    await a.close();
    await h.close();
  }
});

Deno.test("audit: a lost lease is recorded", async () => {
  const { fakeTime } = await import("./_fake_time.ts");
  const { signOn } = await import("../src/core/session/mod.ts");
  const { storeData } = await import("../src/core/data.ts");
  const time = fakeTime();
  const h = await makeContext({ time, leaseTtlSeconds: 10, audit: DEFAULT_AUDIT });
  try {
    const b = h.binding();
    await signOn(h.ctx, b);
    await time.advance(11_000);
    await assert.rejects(() => storeData(h.ctx, b, { scope: "x", key: "k", value: 1 }));
    await h.ctx.audit!.flush();
    const [event] = (await readAudit(h.ctx.storage, h.ctx.identity)).map((e) => e.event);
    assert.equal(event.kind, "lease_lost");
    assert.equal(event.session_id, "claude_1");
    assert.match(event.detail ?? "", /ran out/);
  } finally {
    await h.close();
  }
});
