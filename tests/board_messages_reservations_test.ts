/**
 * Messages, file reservations and keys held by a session, in the domain, on
 * the in-memory adapter and fake time.
 */
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import { MAX_INBOX, readMessages, sendMessage, unreadCount } from "../src/core/board/messages.ts";
import { liveReservations, releasePaths, reservePaths } from "../src/core/board/reservations.ts";
import { listKeys, retrieveData, storeData } from "../src/core/data.ts";
import { signOff, signOn } from "../src/core/session/mod.ts";
import { rejectsWith, signedOnSessions } from "./_inprocess.ts";

Deno.test("a message to an instance waits for whoever signs on as it next, and is read once", async () => {
  const h = await signedOnSessions(1);
  try {
    const [a] = h.s;
    const sent = await sendMessage(h.ctx, a, {
      to: "claude_2",
      body: "take the API",
      subject: "hi",
    });
    assert.match(sent.message_id, /^[0-9a-z]{11}-[0-9a-f]{6}$/);
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: "claude_2" });
    assert.equal(await unreadCount(h.ctx, "claude_2"), 1);
    const first = await readMessages(h.ctx, b, {});
    assert.equal(first.messages.length, 1);
    assert.deepEqual(
      [first.messages[0].from, first.messages[0].body, first.messages[0].read, first.unread_left],
      ["claude_1", "take the API", false, 0],
    );
    assert.deepEqual((await readMessages(h.ctx, b, {})).messages, []);
    const all = await readMessages(h.ctx, b, { unreadOnly: false });
    assert.equal(all.messages[0].read, true);
    // A reply in the same thread.
    await sendMessage(h.ctx, b, { to: "claude_1", body: "on it", thread: sent.message_id });
    const reply = await readMessages(h.ctx, a, { markRead: false });
    assert.equal(reply.messages[0].thread, sent.message_id);
    assert.equal(
      (await readMessages(h.ctx, a, {})).messages.length,
      1,
      "mark_read false kept it unread",
    );
  } finally {
    await h.close();
  }
});

Deno.test("a message to all reaches every other instance once, never its sender", async () => {
  const h = await signedOnSessions(4);
  try {
    await sendMessage(h.ctx, h.s[0], { to: "all", body: "freeze main" });
    assert.deepEqual((await readMessages(h.ctx, h.s[0], {})).messages, []);
    for (const b of h.s.slice(1)) {
      assert.equal((await readMessages(h.ctx, b, {})).messages[0]?.body, "freeze main");
      assert.deepEqual((await readMessages(h.ctx, b, {})).messages, []);
    }
  } finally {
    await h.close();
  }
});

Deno.test("reads at once get every message exactly once", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    for (let i = 0; i < 30; i++) {
      await sendMessage(h.ctx, a, { to: i % 3 === 0 ? "all" : "claude_2", body: `m${i}` });
    }
    const results = await Promise.all(
      Array.from({ length: 6 }, () => readMessages(h.ctx, b, { limit: 7 })),
    );
    let got = results.flatMap((r) => r.messages.map((m) => m.body));
    for (;;) {
      const more = (await readMessages(h.ctx, b, { limit: 7 })).messages.map((m) => m.body);
      if (more.length === 0) break;
      got = got.concat(more);
    }
    assert.equal(got.length, 30);
    assert.equal(new Set(got).size, 30, "no message delivered twice");
  } finally {
    await h.close();
  }
});

Deno.test("messages: bad addressees are refused, and an inbox keeps at most MAX_INBOX", async () => {
  const h = await signedOnSessions(1);
  try {
    const [a] = h.s;
    await rejectsWith(sendMessage(h.ctx, a, { to: "Claude 2", body: "x" }), "INVALID_ARGUMENT");
    await rejectsWith(sendMessage(h.ctx, a, { to: "claude_1", body: "x" }), "INVALID_ARGUMENT");
    for (let i = 0; i < MAX_INBOX + 5; i++) {
      await sendMessage(h.ctx, a, { to: "claude_9", body: `m${i}` });
      h.time.skip(1);
    }
    const keys = await h.ctx.storage.listKeys("@project:acme/widget:messages", {
      prefix: "m:claude_9:",
    });
    assert.equal(keys.length, MAX_INBOX);
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: "claude_9" });
    const first = await readMessages(h.ctx, b, { limit: 1 });
    assert.equal(first.messages[0].body, "m5", "the oldest went first");
  } finally {
    await h.close();
  }
});

Deno.test("reservations: overlapping globs conflict, all or nothing, naming holder, reason and until", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    const got = await reservePaths(h.ctx, a, {
      paths: ["./src//", "README.md"],
      reason: "auth rewrite",
    });
    assert.deepEqual(got.granted.map((g) => g.path), ["src/**", "README.md"]);
    const err = await rejectsWith(
      reservePaths(h.ctx, b, { paths: ["docs/x.md", "src/a.ts"] }),
      "PATHS_RESERVED",
    );
    assert.match(
      err.message,
      /src\/a\.ts \(reserved as src\/\*\* by claude_1: auth rewrite; until 20/,
    );
    assert.equal(
      (await liveReservations(h.ctx)).filter((r) => r.reservation.session_id === "claude_2").length,
      0,
      "nothing was reserved",
    );
    // Disjoint globs coexist; shared ones coexist with each other, not with exclusive ones.
    await reservePaths(h.ctx, b, { paths: ["docs/**", "*.ts"] });
    await reservePaths(h.ctx, a, { paths: ["lib/**"], exclusive: false });
    await reservePaths(h.ctx, b, { paths: ["lib/util.ts"], exclusive: false });
    await rejectsWith(reservePaths(h.ctx, b, { paths: ["lib/core.ts"] }), "PATHS_RESERVED");
    // Releasing frees them.
    assert.deepEqual((await releasePaths(h.ctx, a, { paths: ["src/"] })).released, ["src/**"]);
    await reservePaths(h.ctx, b, { paths: ["src/a.ts"] });
    await rejectsWith(reservePaths(h.ctx, a, { paths: ["src/*.ts"] }), "PATHS_RESERVED");
    const all = await releasePaths(h.ctx, b, {});
    assert.equal(all.released.length, 4);
    for (const bad of ["/etc/passwd", "../x", "a/../../x", "a\\b", "C:/x", "[ab"]) {
      await rejectsWith(reservePaths(h.ctx, a, { paths: [bad] }), "INVALID_ARGUMENT");
    }
  } finally {
    await h.close();
  }
});

Deno.test("reservations at once: of two overlapping requests exactly one is granted", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    for (let round = 0; round < 30; round++) {
      const results = await Promise.allSettled([
        reservePaths(h.ctx, a, { paths: [`r${round}/**`] }),
        reservePaths(h.ctx, b, { paths: [`r${round}/file.ts`] }),
      ]);
      const granted = results.filter((r) => r.status === "fulfilled");
      assert.equal(granted.length, 1, `round ${round}`);
      const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      assert.ok(isCoordinatorError(refused.reason, "PATHS_RESERVED"));
    }
  } finally {
    await h.close();
  }
});

Deno.test("a held reservation ends with its session; one with ttl_seconds outlives it until the TTL", async () => {
  const h = await signedOnSessions(3);
  try {
    const [a, b, c] = h.s;
    await reservePaths(h.ctx, a, { paths: ["held/**"] });
    await reservePaths(h.ctx, a, { paths: ["timed/**"], ttlSeconds: 60 });
    await signOff(h.ctx, a, {});
    await reservePaths(h.ctx, b, { paths: ["held/x"] });
    await rejectsWith(reservePaths(h.ctx, b, { paths: ["timed/x"] }), "PATHS_RESERVED");
    // c's process dies: its held reservation lapses with its lease.
    await reservePaths(h.ctx, c, { paths: ["crash/**"] });
    await h.time.advance(10_001);
    await signOn(h.ctx, b, { sessionId: "claude_2" });
    await reservePaths(h.ctx, b, { paths: ["crash/x"] });
    await h.time.advance(50_000);
    await signOn(h.ctx, b, { sessionId: "claude_2" });
    await reservePaths(h.ctx, b, { paths: ["timed/x"] });
  } finally {
    await h.close();
  }
});

Deno.test("a key stored with_lease lives exactly as long as its writer's session", async () => {
  const h = await signedOnSessions(2);
  try {
    const [a, b] = h.s;
    const stored = await storeData(h.ctx, a, {
      scope: "@project:claims",
      key: "issue-7",
      value: { by: "claude_1" },
      ifVersion: 0,
      withLease: true,
    });
    assert.equal(stored.with_lease, true);
    const seen = await retrieveData(h.ctx, b, { scope: "@project:claims", key: "issue-7" });
    assert.deepEqual([seen.found, seen.held_by], [true, "claude_1"]);
    await rejectsWith(
      storeData(h.ctx, b, { scope: "@project:claims", key: "issue-7", value: {}, ifVersion: 0 }),
      "VERSION_CONFLICT",
    );
    await signOff(h.ctx, a, {});
    const gone = await retrieveData(h.ctx, b, { scope: "@project:claims", key: "issue-7" });
    assert.deepEqual([gone.found, gone.version], [false, 0]);
    assert.deepEqual((await listKeys(h.ctx, b, { scope: "@project:claims" })).keys, []);
    // Absent to everyone, so if_version 0 takes it.
    const taken = await storeData(h.ctx, b, {
      scope: "@project:claims",
      key: "issue-7",
      value: { by: "claude_2" },
      ifVersion: 0,
      withLease: true,
    });
    assert.ok(taken.version > stored.version);
    // And a crashed writer's key is gone within one lease TTL.
    await h.time.advance(10_001);
    const c = h.binding();
    await signOn(h.ctx, c, { sessionId: "claude_3" });
    const lapsed = await retrieveData(h.ctx, c, { scope: "@project:claims", key: "issue-7" });
    assert.equal(lapsed.found, false);
  } finally {
    await h.close();
  }
});
