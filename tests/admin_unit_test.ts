/**
 * The admin commands' parts in process: tables and formats, flag values,
 * the log's follow filter against readAudit, the project overview (late
 * renewals on fake time), a forced release seen by the session it ends,
 * compaction of a state directory, and doctor's clock check against a real
 * Redis with this machine's clock set off by an injected offset.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type AuditEvent, DEFAULT_AUDIT, readAudit } from "../src/core/audit.ts";
import { forceRelease, readLease, readOverview } from "../src/core/admin.ts";
import { parseCount, parseProjectId, parseSince } from "../src/cli/_flags.ts";
import { ago, bytes, duration, timeLeft } from "../src/cli/_format.ts";
import { cell, table } from "../src/cli/_table.ts";
import { matchesFilter } from "../src/cli/log.ts";
import { checkClock } from "../src/cli/_doctor_storage.ts";
import { runDoctor } from "../src/cli/doctor.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { builtinRegistry } from "../src/storage/builtin.ts";
import { fakeTime } from "./_fake_time.ts";
import { connect, errorCode, makeContext, makeRepo, ok } from "./_inprocess.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };
const ADMIN = { machine: "testbox", pid: 4242 };

Deno.test("admin: tables align, cut long cells and never pass control characters through", () => {
  const text = table(
    [{ header: "TASK" }, { header: "PRI", align: "right" }, { header: "TITLE", max: 8 }],
    [["t-1", 3, "short"], ["t-22", 10, "a much longer title"], ["t-3", null, "x\n\u001b[31my"]],
  );
  assert.equal(
    text,
    [
      "TASK  PRI  TITLE",
      "t-1     3  short",
      "t-22   10  a much …",
      "t-3     -  x  [31my",
    ].join("\n"),
  );
  assert.equal(cell("\u009b2J"), " 2J", "C1 controls too");
});

Deno.test("admin: durations, ages, sizes", () => {
  assert.equal(duration(0), "0s");
  assert.equal(duration(59_999), "59s");
  assert.equal(duration(185_000), "3m05s");
  assert.equal(duration(2 * 3_600_000 + 10 * 60_000), "2h10m");
  assert.equal(duration(4 * 86_400_000 + 6 * 3_600_000), "4d06h");
  const now = Date.parse("2026-11-30T10:00:00Z");
  assert.equal(ago("2026-11-30T09:59:48Z", now), "12s ago");
  assert.equal(ago("2026-11-30T10:00:30Z", now), "in 30s");
  assert.equal(ago(null, now), "-");
  assert.equal(timeLeft("2026-11-30T10:00:42Z", now), "42s");
  assert.equal(timeLeft("2026-11-30T09:00:00Z", now), "expired");
  assert.equal(bytes(512), "512 B");
  assert.equal(bytes(3.5 * 1024), "3.5 KiB");
});

Deno.test("admin: flag values are checked before anything is opened", () => {
  const now = Date.parse("2026-11-30T10:00:00Z");
  assert.equal(parseSince("10m", now), Date.parse("2026-11-30T09:50:00Z"));
  assert.equal(parseSince("1d", now), Date.parse("2026-11-29T10:00:00Z"));
  assert.equal(parseSince("90s", now), now - 90_000);
  assert.equal(parseSince("2026-11-30T09:00:00Z", now), Date.parse("2026-11-30T09:00:00Z"));
  for (const bad of ["10", "m10", "yesterday", "10 weeks", ""]) {
    assert.throws(() => parseSince(bad, now), /--since/, bad);
  }
  assert.equal(parseCount("limit", "5"), 5);
  assert.equal(parseCount("limit", undefined), undefined);
  assert.equal(parseCount("min-free-mb", "0", 0), 0);
  for (const bad of ["0", "-1", "1.5", "ten"]) {
    assert.throws(() => parseCount("limit", bad), /--limit/);
  }
  assert.equal(parseProjectId("acme/other"), "acme/other");
  for (const bad of ["", "a:b", "@project", "a b"]) {
    assert.throws(() => parseProjectId(bad), /--project-id/, bad);
  }
});

Deno.test("admin: log --follow's filter keeps exactly what readAudit keeps", async () => {
  const h = await makeContext({ audit: DEFAULT_AUDIT });
  try {
    const at = (s: number) => new Date(Date.parse("2026-11-30T10:00:00Z") + s * 1000).toISOString();
    const events: Omit<AuditEvent, "machine">[] = [
      { at: at(0), kind: "store_data", outcome: "ok", session_id: "claude_1", pid: 1, client: "c" },
      {
        at: at(1),
        kind: "admin:release",
        outcome: "ok",
        session_id: "claude_2",
        pid: 2,
        client: "a",
      },
      { at: at(2), kind: "admin:compact", outcome: "ok", session_id: null, pid: 2, client: "a" },
      {
        at: at(3),
        kind: "lease_lost",
        outcome: "NOT_SIGNED_ON",
        session_id: "claude_2",
        pid: 3,
        client: null,
      },
      {
        at: at(4),
        kind: "store_data_x",
        outcome: "ok",
        session_id: "claude_1",
        pid: 1,
        client: "c",
      },
    ];
    for (const e of events) h.ctx.audit!.record(e);
    await h.ctx.audit!.flush();
    const all = await readAudit(h.ctx.storage, h.ctx.identity);
    assert.equal(all.length, events.length);
    const filters = [
      {},
      { kind: "store_data" },
      { kind: "store_*" },
      { kind: "admin:*" },
      { sessionId: "claude_2" },
      { sessionId: "claude_2", kind: "admin:*" },
      { sinceMs: Date.parse(at(2)) },
      { sinceMs: Date.parse(at(2)), sessionId: "claude_1" },
    ];
    for (const filter of filters) {
      const expected = (await readAudit(h.ctx.storage, h.ctx.identity, filter)).map((e) => e.key);
      const got = all.filter((e) => matchesFilter(e.event, filter)).map((e) => e.key);
      assert.deepEqual(got, expected, JSON.stringify(filter));
    }
  } finally {
    await h.close();
  }
});

Deno.test("admin: the overview shows who works where, on what, and whose renewals are late", async () => {
  const time = fakeTime();
  const h = await makeContext({ time, leaseTtlSeconds: 60 });
  const a = await connect(h.ctx), b = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await b.call("sign_on"));
    ok(await a.call("post_task", { task_id: "t-1", title: "Fix the parser" }));
    ok(await a.call("post_task", { task_id: "t-2", title: "Then this", depends_on: ["t-1"] }));
    ok(await a.call("claim_task", { task_id: "t-1" }));
    ok(
      await b.call("store_data", {
        scope: "session:claude_2",
        key: "current_issue",
        value: "issue-42",
      }),
    );
    ok(await b.call("send_message", { to: "claude_1", body: "hello" }));
    ok(await b.call("reserve_paths", { paths: ["src/auth/**"], reason: "auth rewrite" }));
    let o = await readOverview(h.ctx);
    assert.equal(o.storage.adapter, "memory");
    assert.deepEqual(o.instances.map((i) => [i.session_id, i.status]), [
      ["claude_1", "active"],
      ["claude_2", "active"],
    ]);
    const [one, two] = o.instances;
    assert.deepEqual(one.tasks, [{ task_id: "t-1", title: "Fix the parser" }]);
    assert.equal(one.unread_messages, 1);
    assert.equal(two.current_issue, "issue-42");
    assert.equal(two.unread_messages, 0);
    assert.equal(one.lease_ttl_seconds, 60);
    assert.equal(one.renewal_late, false);
    assert.deepEqual(o.tasks, { ready: 0, blocked: 1, in_progress: 1, done: 0, failed: 0 });
    assert.deepEqual(o.reservations.map((r) => [r.path, r.session_id, r.reason]), [
      ["src/auth/**", "claude_2", "auth rewrite"],
    ]);
    assert.equal(o.unread_messages, 1);
    // Two thirds of the lease pass without a heartbeat (the clock moves, no job runs).
    time.skip(41_000);
    o = await readOverview(h.ctx);
    assert.deepEqual(o.lease_health, { live: 2, late: ["claude_1", "claude_2"] });
    assert.ok(o.instances[0].lease_left_ms! < 20_000);
    // A sign_off leaves an available instance with its handoff.
    ok(await b.call("sign_off", { summary: "half done" }));
    o = await readOverview(h.ctx);
    assert.equal(o.instances[1].status, "available");
    assert.equal(o.instances[1].handoff?.summary, "half done");
    assert.equal(o.instances[1].lease_left_ms, null);
  } finally {
    await a.close();
    await b.close();
    await h.close();
  }
});

Deno.test("admin: a forced release ends the session at its next act, frees its work and leaves a handoff", async () => {
  const time = fakeTime();
  const h = await makeContext({ time, audit: DEFAULT_AUDIT });
  const a = await connect(h.ctx), b = await connect(h.ctx);
  try {
    ok(await a.call("sign_on"));
    ok(await a.call("post_task", { task_id: "t-1", title: "Fix the parser" }));
    ok(await a.call("claim_task", { task_id: "t-1" }));
    ok(await a.call("reserve_paths", { paths: ["src/**"] }));
    const lease = (await readLease(h.ctx, "claude_1"))!;
    // A grant the admin did not confirm: nothing happens.
    const wrong = await forceRelease(h.ctx, {
      sessionId: "claude_1",
      reason: "stuck",
      grantId: "0".repeat(32),
      by: ADMIN,
    });
    assert.equal(wrong.released, false);
    assert.equal(!wrong.released && wrong.why, "changed_hands");
    assert.ok(await readLease(h.ctx, "claude_1"), "still held");

    const done = await forceRelease(h.ctx, {
      sessionId: "claude_1",
      reason: "hung on a permission prompt",
      grantId: lease.grant_id,
      commit: "abc123",
      by: ADMIN,
    });
    assert.equal(done.released, true);
    assert.equal(await readLease(h.ctx, "claude_1"), null);
    // Its task is ready again and its reservation gone, with nobody cleaning up.
    const o = await readOverview(h.ctx);
    assert.deepEqual(o.tasks, { ready: 1, blocked: 0, in_progress: 0, done: 0, failed: 0 });
    assert.deepEqual(o.reservations, []);
    // The released session learns at its next act, and writes nothing.
    const refused = await a.call("store_data", { scope: "notes", key: "late", value: 1 });
    assert.equal(errorCode(refused), "NOT_SIGNED_ON");
    assert.match(
      refused.content[0].text,
      /released by the admin command line on testbox \(pid 4242\)/,
    );
    assert.match(refused.content[0].text, /hung on a permission prompt/);
    // The next holder receives the note.
    const next = ok(await b.call("sign_on", { session_id: "claude_1" })) as {
      handoff: { summary: string; next_steps: string[]; commit: string; released: unknown };
    };
    assert.match(
      next.handoff.summary,
      /released by the admin command line .*: hung on a permission prompt/,
    );
    assert.match(next.handoff.next_steps[0], /Read session:claude_1/);
    assert.equal(next.handoff.commit, "abc123");
    const kept = ok(await b.call("list_keys", { scope: "notes" })) as { keys: string[] };
    assert.deepEqual(kept.keys, [], "nothing written after the release");
    const again = await forceRelease(h.ctx, { sessionId: "claude_9", reason: "x", by: ADMIN });
    assert.deepEqual(again, { released: false, why: "not_held", lease: null });
    await h.ctx.audit!.flush();
    const events = await readAudit(h.ctx.storage, h.ctx.identity, { kind: "admin:*" });
    assert.equal(events.length, 1, "only the release that happened is recorded");
    assert.equal(events[0].event.kind, "admin:release");
    assert.equal(events[0].event.session_id, "claude_1");
    assert.equal(events[0].event.detail, "hung on a permission prompt");
    assert.equal(events[0].event.client, "admin cli");
    assert.equal(events[0].event.pid, 4242);
  } finally {
    await a.close();
    await b.close();
    await h.close();
  }
});

Deno.test("admin: compactAll rewrites grown logs (dropping expired keys), keeps versions, reports bad logs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "csc_compact_" });
  try {
    const adapter = await createFileAdapter({ basePath: dir, limits: LIMITS });
    let last = 0;
    for (let i = 0; i < 50; i++) {
      last =
        (await adapter.store("m:p:notes", "design", { rev: i, text: "x".repeat(200) })).version;
    }
    await adapter.store("m:p:notes", "gone", 1, { ttlSeconds: 1 });
    await adapter.store("m:p:small", "one", 1);
    await Deno.writeTextFile(join(dir, "m~p~bad.jsonl"), "not a header\n");
    await new Promise((r) => setTimeout(r, 1100)); // "gone" expires
    const report = await adapter.compactAll();
    assert.deepEqual(report.compacted.map((c) => c.scope), ["m:p:notes"]);
    assert.ok(report.compacted[0].bytes_after < report.compacted[0].bytes_before / 10);
    assert.equal(report.unchanged, 1);
    assert.equal(report.failed.length, 1);
    assert.equal(report.failed[0].file, "m~p~bad.jsonl");
    assert.match(report.failed[0].error, /CORRUPT_STATE/);
    const entry = await adapter.retrieve("m:p:notes", "design");
    assert.deepEqual(entry?.value, { rev: 49, text: "x".repeat(200) });
    assert.equal(entry?.version, last, "the version survives");
    const lines = (await Deno.readTextFile(join(dir, "m~p~notes.jsonl"))).trim().split("\n");
    assert.equal(lines.length, 2, "a header and the one live key");
    assert.ok((await adapter.store("m:p:notes", "design", 1)).version > last, "versions only grow");
    await adapter.close();
    // Another process's view: a fresh adapter reads the compacted log.
    const again = await createFileAdapter({ basePath: dir, limits: LIMITS });
    const second = await again.compactAll();
    assert.deepEqual(second.compacted.map((c) => c.scope), ["m:p:notes"], "the write after it");
    assert.equal((await again.retrieve("m:p:notes", "design"))?.value, 1);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "admin: doctor measures this machine's clock against Redis's (an injected offset)",
  ignore: skipRedisTests(),
  async fn() {
    const redis = await startRedisServer();
    const repo = await makeRepo();
    try {
      // In step: the adapter measured no offset worth a word.
      const inStep = await createRedisAdapter({ url: redis.url, prefix: "clk:", limits: LIMITS });
      try {
        const found = checkClock(inStep, Date.now, []);
        assert.equal(found.status, "ok", found.detail);
        assert.match(found.detail, /redis server's/);
      } finally {
        await inStep.close();
      }
      // This machine's clock 5 s behind Redis's, seen through the whole doctor run.
      const behind = () => Date.now() - 5_000;
      const registry = builtinRegistry();
      registry.register("redis", (config, context) =>
        createRedisAdapter({
          url: String(config.url),
          prefix: "clk:",
          limits: context.limits,
          localClock: behind,
        }));
      const configPath = join(repo, "redis.json");
      await Deno.writeTextFile(
        configPath,
        JSON.stringify({ storage: { adapter: "redis", config: { url: redis.url } } }),
      );
      const report = await runDoctor({
        runtime: { configPath, cwd: repo, env: () => undefined, homeDir: null, registry },
        localClock: behind,
      });
      const clock = report.checks.find((c) => c.check === "clock")!;
      assert.equal(clock.status, "problem", JSON.stringify(report.checks, null, 2));
      assert.match(clock.detail, /this machine's clock is 5\.\d s behind the redis server's/);
      assert.match(clock.fix!, /NTP/);
      const byName = Object.fromEntries(report.checks.map((c) => [c.check, c.status]));
      assert.equal(byName.storage, "ok");
      assert.equal(byName.writable, "ok");
      assert.equal(byName.disk, "skipped");
      // And ahead: the other direction is named as such.
      const ahead = () => Date.now() + 3_000;
      const skewed = await createRedisAdapter({
        url: redis.url,
        prefix: "clk:",
        limits: LIMITS,
        localClock: ahead,
      });
      try {
        const found = checkClock(skewed, ahead, []);
        assert.equal(found.status, "problem");
        assert.match(found.detail, /3\.\d s ahead of the redis server's/);
      } finally {
        await skewed.close();
      }
    } finally {
      await redis.stop();
      await Deno.remove(repo, { recursive: true });
    }
  },
});
