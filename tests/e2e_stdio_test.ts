/**
 * End to end over real stdio with real processes: several servers in one
 * repository, crashes (SIGKILL), graceful exits (stdin EOF, SIGTERM),
 * handoffs across restarts, framing errors, stdout hygiene and worktrees.
 */
import assert from "node:assert/strict";
import { TOOL_NAMES } from "../src/mcp/tools/mod.ts";
import {
  addWorktree,
  closeAll,
  connectMany,
  connectServer,
  git,
  type McpSession,
  PROJECT_ID,
  RawServer,
  structured,
  toolError,
  toolText,
  withProject,
  withRawServer,
} from "./_stdio_harness.ts";

interface SignOn {
  machine: string;
  project: string;
  session_id: string;
  claim: "claimed" | "renewed";
  lease_expires_at: string;
  handoff: {
    session_id: string;
    summary: string | null;
    next_steps: string[];
    branch: string | null;
    commit: string | null;
    worktree: string;
  } | null;
  active_sessions: Array<{ session_id: string; worktree: string; branch: string | null }>;
}

const LEASE_TTL_SECONDS = 5;

Deno.test("six servers started at once get six distinct instances and share data", async () => {
  await withProject(async (project) => {
    const sessions = await connectMany(project, 6);
    try {
      // Every server signs on at the same moment.
      const signOns = await Promise.all(
        sessions.map(async (s) => structured<SignOn>(await s.call("sign_on"))),
      );
      const ids = signOns.map((r) => r.session_id);
      assert.deepEqual(
        [...ids].sort(),
        ["claude_1", "claude_2", "claude_3", "claude_4", "claude_5", "claude_6"],
        `sign_on results: ${ids.join(", ")}`,
      );
      for (const r of signOns) {
        assert.equal(r.project, PROJECT_ID);
        assert.equal(r.claim, "claimed");
      }

      // Each writes to a shared scope and to its own scope…
      await Promise.all(sessions.map(async (s, i) => {
        structured(
          await s.call("store_data", {
            scope: "@project:board",
            key: `note_${ids[i]}`,
            value: { from: ids[i], n: i },
          }),
        );
        structured(
          await s.call("store_data", {
            scope: `session:${ids[i]}`,
            key: "status",
            value: `working as ${ids[i]}`,
          }),
        );
      }));
      // …and every one sees every other's writes.
      await Promise.all(sessions.map(async (s) => {
        for (const [j, id] of ids.entries()) {
          const got = structured<{ found: boolean; value: unknown; updated_by: string }>(
            await s.call("retrieve_data", { scope: "@project:board", key: `note_${id}` }),
          );
          assert.equal(got.found, true);
          assert.deepEqual(got.value, { from: id, n: j });
          assert.equal(got.updated_by, id);
          const status = structured<{ value: unknown }>(
            await s.call("retrieve_data", { scope: `session:${id}`, key: "status" }),
          );
          assert.equal(status.value, `working as ${id}`);
        }
        const keys = structured<{ keys: string[] }>(
          await s.call("list_keys", { scope: "@project:board" }),
        );
        assert.deepEqual(keys.keys, ids.map((id) => `note_${id}`).sort());
      }));

      // A second sign_on keeps the instance and lists all six.
      const again = structured<SignOn>(await sessions[0].call("sign_on"));
      assert.equal(again.claim, "renewed");
      assert.equal(again.session_id, ids[0]);
      assert.deepEqual(
        again.active_sessions.map((a) => a.session_id),
        ["claude_1", "claude_2", "claude_3", "claude_4", "claude_5", "claude_6"],
      );

      // Graceful exit: closing the client (stdin EOF) releases the instance at
      // once, so another running server claims it by name without waiting.
      const leaverIndex = ids.indexOf("claude_3");
      const claimerIndex = ids.indexOf("claude_6");
      const leaver = sessions[leaverIndex];
      await leaver.close();
      assert.match(leaver.stderr(), /shutting down: client closed the connection/);
      assert.match(leaver.stderr(), /released claude_3/);
      const claimed = structured<SignOn>(
        await sessions[claimerIndex].call("sign_on", { session_id: "claude_3" }),
      );
      assert.equal(claimed.session_id, "claude_3");
      assert.equal(claimed.claim, "claimed");
      // Switching released claude_6, the claimer's old instance.
      assert.deepEqual(
        claimed.active_sessions.map((a) => a.session_id),
        ["claude_1", "claude_2", "claude_3", "claude_4", "claude_5"],
      );
    } finally {
      await closeAll(sessions);
    }
  });
});

Deno.test("SIGKILL: the instance stays taken until its lease expires, then is free", async () => {
  await withProject(async (project) => {
    const other = await connectServer(project);
    try {
      await withRawServer(project, async (victim) => {
        await victim.initialize();
        const first = structured<SignOn>(await victim.callTool("sign_on"));
        assert.equal(first.session_id, "claude_1");

        victim.kill("SIGKILL");
        const status = await victim.stop();
        const killedAt = Date.now();
        assert.equal(status.signal, "SIGKILL");
        assert.doesNotMatch(victim.stderr, /released/);

        // Still held: sign_on without a name gets the next instance…
        const next = structured<SignOn>(await other.call("sign_on"));
        assert.equal(next.session_id, "claude_2");
        assert.deepEqual(next.active_sessions.map((a) => a.session_id), ["claude_1", "claude_2"]);

        // …and naming it is refused with INSTANCE_TAKEN, last_seen and expiry.
        const refused = toolError(await other.call("sign_on", { session_id: "claude_1" }));
        assert.equal(refused.error.code, "INSTANCE_TAKEN");
        assert.match(refused.text, /^INSTANCE_TAKEN: claude_1 is held by a live session/);
        const lastSeen = refused.error.details.last_seen as string;
        const expires = refused.error.details.lease_expires_at as string;
        assert.ok(refused.text.includes(`last_seen ${lastSeen}`), refused.text);
        assert.ok(refused.text.includes(`lease expires ${expires}`), refused.text);
        const expiresMs = Date.parse(expires);
        assert.ok(expiresMs > Date.now(), `lease already expired at ${expires}`);
        assert.ok(
          expiresMs - Date.parse(lastSeen) === LEASE_TTL_SECONDS * 1000,
          `expiry ${expires} is not last_seen ${lastSeen} + ${LEASE_TTL_SECONDS}s`,
        );

        // Poll by name: refused until the lease expires, claimed right after.
        let claimed: SignOn | null = null;
        while (claimed === null) {
          assert.ok(
            Date.now() < expiresMs + 5_000,
            `claude_1 was still taken 5 s after its lease expired (${expires})`,
          );
          const sentAt = Date.now();
          const res = await other.call("sign_on", { session_id: "claude_1" });
          if (res.isError) {
            assert.equal(toolError(res).error.code, "INSTANCE_TAKEN", toolText(res));
            // Asked after the expiry yet refused: the lease did not lapse on time.
            assert.ok(
              sentAt < expiresMs + 250,
              `refused at ${new Date(sentAt).toISOString()}, after the lease expired at ${expires}`,
            );
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          claimed = structured<SignOn>(res);
        }
        const claimedAt = Date.now();
        assert.equal(claimed.session_id, "claude_1");
        assert.equal(claimed.claim, "claimed");
        assert.ok(claimedAt >= expiresMs, `claimed at ${claimedAt}, before expiry ${expiresMs}`);
        assert.ok(
          claimedAt - killedAt <= LEASE_TTL_SECONDS * 1000 + 2_000,
          `took ${claimedAt - killedAt} ms after the kill`,
        );
      });
    } finally {
      await other.close();
    }
  });
});

Deno.test("SIGTERM releases the instance at once", async () => {
  await withProject(async (project) => {
    const other = await connectServer(project);
    try {
      await withRawServer(project, async (server) => {
        await server.initialize();
        assert.equal(structured<SignOn>(await server.callTool("sign_on")).session_id, "claude_1");
        server.kill("SIGTERM");
        const status = await server.stop();
        assert.equal(status.code, 0, server.stderr);
        assert.equal(status.signal, null);
        assert.match(server.stderr, /shutting down: received SIGTERM/);
        assert.match(server.stderr, /released claude_1/);
      });
      const res = structured<SignOn>(await other.call("sign_on", { session_id: "claude_1" }));
      assert.equal(res.session_id, "claude_1");
      assert.equal(res.claim, "claimed");
    } finally {
      await other.close();
    }
  });
});

Deno.test("a handoff survives a server restart with summary, next steps, branch and commit", async () => {
  await withProject(async (project) => {
    const head = await git(["rev-parse", "HEAD"], project.root);
    let first: McpSession | null = await connectServer(project);
    let handoffSessionId: string;
    try {
      const on = structured<SignOn>(await first.call("sign_on"));
      handoffSessionId = on.session_id;
      assert.equal(on.handoff, null);
      structured(
        await first.call("store_data", {
          scope: `session:${on.session_id}`,
          key: "current_issue",
          value: "#42 login race",
        }),
      );
      const off = structured<{ status: string; handoff: { commit: string } }>(
        await first.call("sign_off", {
          summary: "Fixed the login race; tests green",
          next_steps: ["Review PR #12", "Update the changelog"],
        }),
      );
      assert.equal(off.status, "signed_off");
      assert.equal(off.handoff.commit, head);
      await first.close();
      assert.match(first.stderr(), /shutting down: client closed the connection/);
      first = null;
    } finally {
      await first?.close();
    }

    // A later commit must not change what the handoff recorded.
    await Deno.writeTextFile(`${project.root}/later.txt`, "later\n");
    await git(["add", "later.txt"], project.root);
    await git(["commit", "-q", "-m", "later"], project.root);
    assert.notEqual(await git(["rev-parse", "HEAD"], project.root), head);

    const second = await connectServer(project);
    try {
      const on = structured<SignOn>(
        await second.call("sign_on", { session_id: handoffSessionId }),
      );
      assert.equal(on.session_id, handoffSessionId);
      assert.equal(on.claim, "claimed");
      assert.ok(on.handoff, "sign_on returned no handoff");
      assert.equal(on.handoff.session_id, handoffSessionId);
      assert.equal(on.handoff.summary, "Fixed the login race; tests green");
      assert.deepEqual(on.handoff.next_steps, ["Review PR #12", "Update the changelog"]);
      assert.equal(on.handoff.branch, "main");
      assert.equal(on.handoff.commit, head);
      assert.equal(on.handoff.worktree, project.root);
      const progress = structured<{ value: unknown; updated_by: string }>(
        await second.call("retrieve_data", {
          scope: `session:${handoffSessionId}`,
          key: "current_issue",
        }),
      );
      assert.equal(progress.value, "#42 login race");
      assert.equal(progress.updated_by, handoffSessionId);
    } finally {
      await second.close();
    }
  });
});

Deno.test("a malformed line gets a -32700 parse error and the server keeps answering", async () => {
  await withProject(async (project) => {
    await withRawServer(project, async (server) => {
      await server.write("not json\n");
      const parseError = await server.nextMessage();
      assert.equal(parseError.jsonrpc, "2.0");
      assert.equal(parseError.id, null);
      assert.equal(parseError.error?.code, -32700);
      assert.match(parseError.error?.message, /^Parse error/);

      const init = await server.request("initialize", {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw", version: "0" },
      });
      assert.equal(init.result?.serverInfo?.name, "claude-session-coordinator");
      assert.equal(init.result?.protocolVersion, "2025-06-18");
      await server.send({ jsonrpc: "2.0", method: "notifications/initialized" });

      // A second bad line mid-session, then regular traffic.
      await server.write('{"jsonrpc":"2.0","id":\n');
      const tools = await server.request("tools/list");
      assert.equal(tools.result?.tools?.length, TOOL_NAMES.length);
      const errors = server.lines.map((l) => JSON.parse(l)).filter((m) => m.error);
      assert.deepEqual(errors.map((m) => m.error.code), [-32700, -32700]);

      await server.closeStdin();
      const status = await server.stop();
      assert.equal(status.code, 0, server.stderr);
    });
  });
});

Deno.test("stdout carries only JSON-RPC lines; logs go to stderr", async () => {
  await withProject(async (project) => {
    await withRawServer(project, async (server) => {
      await server.initialize();
      await server.request("tools/list");
      await server.request("resources/list");
      await server.request("prompts/list");
      // An error path, which logs nothing to stdout either.
      const notSigned = await server.callTool("store_data", { scope: "x", key: "k", value: 1 });
      assert.equal(toolError(notSigned).error.code, "NOT_SIGNED_ON");
      assert.equal(structured<SignOn>(await server.callTool("sign_on")).session_id, "claude_1");
      structured(await server.callTool("store_data", { scope: "x", key: "k", value: "v\nw" }));
      structured(await server.callTool("retrieve_data", { scope: "x", key: "k" }));
      await server.request("resources/read", { uri: "session://context" });
      structured(await server.callTool("sign_off", { summary: "done" }));
      await server.closeStdin();
      const status = await server.stop();
      assert.equal(status.code, 0, server.stderr);

      assert.ok(server.lines.length >= 10, `only ${server.lines.length} stdout lines`);
      for (const line of server.lines) {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          assert.fail(`stdout line is not JSON: ${JSON.stringify(line)}`);
        }
        assert.equal(msg.jsonrpc, "2.0", line);
        assert.ok("id" in msg || "method" in msg, `not a JSON-RPC message: ${line}`);
        assert.ok("result" in msg || "error" in msg || "method" in msg, line);
      }
      assert.match(server.stderr, /\[claude-session-coordinator\] serving .+:acme\/widget/);
      assert.match(server.stderr, /shutting down: client closed the connection/);
      assert.doesNotMatch(server.lines.join("\n"), /claude-session-coordinator\] /);
    });
  });
});

Deno.test("sessions in two worktrees see each other with their paths and branches", async () => {
  await withProject(async (project) => {
    const featurePath = await addWorktree(project, "widget-feature", "feature/login");
    const main = await connectServer(project);
    const feature = await connectServer(project, { cwd: featurePath });
    try {
      const a = structured<SignOn>(await main.call("sign_on"));
      const b = structured<SignOn>(await feature.call("sign_on"));
      assert.equal(a.session_id, "claude_1");
      assert.equal(b.session_id, "claude_2");
      assert.equal(a.project, PROJECT_ID);
      assert.equal(b.project, PROJECT_ID);
      const expected = [
        { session_id: "claude_1", worktree: project.root, branch: "main" },
        { session_id: "claude_2", worktree: featurePath, branch: "feature/login" },
      ];
      const pick = (list: SignOn["active_sessions"]) =>
        list.map(({ session_id, worktree, branch }) => ({ session_id, worktree, branch }));
      assert.deepEqual(pick(b.active_sessions), expected);

      structured(
        await feature.call("store_data", {
          scope: "session:claude_2",
          key: "current_issue",
          value: "#7 login page",
        }),
      );

      type Ctx = {
        project: string;
        this_session: { session_id: string } | null;
        active_sessions: Array<
          { session_id: string; worktree: string; branch: string; current_issue: unknown }
        >;
      };
      for (const [session, self] of [[main, "claude_1"], [feature, "claude_2"]] as const) {
        const ctx = await session.readJson("session://context") as Ctx;
        assert.equal(ctx.project, PROJECT_ID);
        assert.equal(ctx.this_session?.session_id, self);
        assert.deepEqual(
          ctx.active_sessions.map(({ session_id, worktree, branch }) => ({
            session_id,
            worktree,
            branch,
          })),
          expected,
        );
        assert.equal(ctx.active_sessions[1].current_issue, "#7 login page");
      }
      // Both worktrees share the main worktree's state directory.
      await Deno.stat(`${project.root}/.claude/session-state`);
      await assert.rejects(Deno.stat(`${featurePath}/.claude/session-state`));
    } finally {
      await closeAll([main, feature]);
    }
  });
});

Deno.test("raw spawn helper: a server with stdin closed at once exits cleanly", async () => {
  await withProject(async (project) => {
    const server = await RawServer.spawn(project);
    try {
      await server.closeStdin();
      const status = await server.stop();
      assert.equal(status.code, 0, server.stderr);
      assert.deepEqual(server.lines, []);
      assert.match(server.stderr, /shutting down: client closed the connection/);
    } finally {
      await server.dispose();
    }
  });
});

Deno.test("a client connecting to a server with a broken config sees why on stderr", async () => {
  await withProject(async (project) => {
    const err = await connectServer(project).then(
      async (s) => {
        await s.close();
        return null;
      },
      (e: Error) => e,
    );
    assert.ok(err, "connected to a server whose config is invalid");
    assert.match(err.message, /CONFIG_INVALID/);
    assert.match(err.message, /session\.lease_ttl_seconds: must be an integer >= 5/);
    assert.ok(err.message.includes(`${project.root}/.claude/session-coordinator-config.json`));
  }, { config: { session: { lease_ttl_seconds: 1 } } });
});

Deno.test("defect: an integer beyond 2^53 is refused, not silently rounded", async () => {
  await withProject(async (project) => {
    await withRawServer(project, async (server) => {
      await server.initialize();
      await server.request("tools/call", { name: "sign_on", arguments: {} });
      await server.write(
        '{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"store_data",' +
          '"arguments":{"scope":"x","key":"k","value":{"id":9007199254740993}}}}\n',
      );
      let reply = await server.nextMessage();
      while (reply.id !== 77) reply = await server.nextMessage();
      assert.equal(reply.error?.code, -32602);
      assert.match(
        reply.error?.message,
        /^INVALID_ARGUMENT: the integer 9007199254740993 is beyond 2\^53/,
      );
      const read = await server.request("tools/call", {
        name: "retrieve_data",
        arguments: { scope: "x", key: "k" },
      });
      assert.equal(read.result?.structuredContent?.found, false, "nothing was stored");
      // As a string it is kept exactly.
      const kept = await server.request("tools/call", {
        name: "store_data",
        arguments: { scope: "x", key: "k", value: { id: "9007199254740993" } },
      });
      assert.equal(kept.result?.isError, undefined);
    });
  });
});
