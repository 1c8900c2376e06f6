/**
 * `release` against a session held by a real server process, on local
 * files and on Redis: without --yes and without a terminal it refuses
 * (exit 2) and nothing changes; with --yes the instance is free at once,
 * the process's next call answers NOT_SIGNED_ON (naming the release and
 * its reason) and writes nothing, its task is ready again, its next holder
 * receives the handoff note, and the audit log has admin:release with the
 * reason. On a real terminal (a pty from `script`) it asks first, and "n"
 * releases nothing.
 */
import assert from "node:assert/strict";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import {
  childEnv,
  closeAll,
  type McpSession,
  pollUntil,
  serverArgs,
  structured,
  toolError,
  withTimeout,
} from "./_stdio_harness.ts";
import {
  admin,
  adminJson,
  type Backend,
  flagsFor,
  startSession,
  withAdminProject,
} from "./_admin.ts";

interface SessionsJson {
  sessions: {
    session_id: string;
    status: string;
    pid: number | null;
    handoff: { summary: string } | null;
  }[];
}

const REASON = "hung on a permission prompt since noon";

async function releaseHeldByAProcess(backend: Backend) {
  await withAdminProject(backend, async (project) => {
    const held = await startSession(project, backend);
    const sessions: McpSession[] = [held];
    try {
      structured(await held.call("sign_on", {}));
      structured(await held.call("post_task", { task_id: "t-1", title: "Fix the parser" }));
      structured(await held.call("claim_task", { task_id: "t-1" }));
      structured(await held.call("store_data", { scope: "notes", key: "before", value: 1 }));

      // No terminal to ask on, no --yes: refused, and nothing changes.
      const refused = await admin(project, backend, ["release", "claude_1", "--reason", REASON]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /pass --yes/);
      assert.equal(refused.stdout, "");
      const before = await adminJson<SessionsJson>(project, backend, ["sessions"]);
      assert.deepEqual(before.sessions.map((s) => [s.session_id, s.status, s.pid]), [
        ["claude_1", "active", held.pid],
      ]);

      const released = await adminJson<{
        released: string;
        reason: string;
        was: { pid: number; grant_id?: string };
        handoff: { summary: string; released: { reason: string; grant_id?: string } };
      }>(project, backend, ["release", "claude_1", "--reason", REASON, "--yes"]);
      assert.equal(released.released, "claude_1");
      assert.equal(released.reason, REASON);
      assert.equal(released.was.pid, held.pid);
      assert.equal(released.was.grant_id, undefined, "the grant is not printed");
      assert.equal(released.handoff.released.grant_id, undefined);
      assert.equal(released.handoff.released.reason, REASON);

      // The instance is free at once, its task ready again.
      const after = await adminJson<SessionsJson>(project, backend, ["sessions"]);
      assert.deepEqual(after.sessions.map((s) => [s.session_id, s.status]), [
        ["claude_1", "available"],
      ]);
      assert.match(after.sessions[0].handoff!.summary, new RegExp(REASON));
      const tasks = await adminJson<{ tasks: { task_id: string; status: string }[] }>(
        project,
        backend,
        ["tasks"],
      );
      assert.deepEqual(tasks.tasks.map((t) => [t.task_id, t.status]), [["t-1", "ready"]]);

      // The process learns at its next call, and writes nothing.
      const late = await held.call("store_data", { scope: "notes", key: "after", value: 2 });
      const { error } = toolError(late);
      assert.equal(error.code, "NOT_SIGNED_ON");
      assert.match(
        error.message,
        /claude_1 was released by the admin command line on \S+ \(pid \d+\)/,
      );
      assert.match(error.message, new RegExp(REASON));

      // Its next holder receives the note.
      const next = await startSession(project, backend);
      sessions.push(next);
      const signed = structured<{
        session_id: string;
        handoff: { summary: string; next_steps: string[]; released: { reason: string } };
      }>(await next.call("sign_on", { session_id: "claude_1" }));
      assert.equal(signed.session_id, "claude_1");
      assert.match(signed.handoff.summary, new RegExp(`released by .*: ${REASON}`));
      assert.match(signed.handoff.summary, new RegExp(`held by pid ${held.pid}`));
      assert.equal(signed.handoff.released.reason, REASON);
      assert.match(signed.handoff.next_steps[0], /Read session:claude_1/);
      const notes = structured<{ keys: string[] }>(
        await next.call("list_keys", { scope: "notes" }),
      );
      assert.deepEqual(notes.keys, ["before"], "nothing was written after the release");

      // The audit log says who did it and why.
      const log = await pollUntil("admin:release in the audit log", async () => {
        const doc = await adminJson<{
          events: { kind: string; session_id: string; detail: string; client: string }[];
        }>(project, backend, ["log", "--kind", "admin:*"]);
        return doc.events.length > 0 ? doc : null;
      });
      assert.deepEqual(
        log.events.map((e) => [e.kind, e.session_id, e.detail, e.client]),
        [["admin:release", "claude_1", REASON, "admin cli"]],
      );
      const lost = await pollUntil("lease_lost in the audit log", async () => {
        const doc = await adminJson<{ events: { session_id: string; outcome: string }[] }>(
          project,
          backend,
          ["log", "--kind", "lease_lost"],
        );
        return doc.events.length > 0 ? doc : null;
      });
      assert.deepEqual(lost.events.map((e) => [e.session_id, e.outcome]), [
        ["claude_1", "NOT_SIGNED_ON"],
      ]);

      // Nothing to release: exit 1, and the error says why.
      const none = await admin(project, backend, ["release", "claude_7", "--reason", "x", "--yes"]);
      assert.equal(none.code, 1, none.stderr);
      assert.match(
        none.stderr,
        /error: claude_7 holds no live lease in acme\/widget: nothing to release/,
      );
      assert.equal(none.stdout, "");
    } finally {
      await closeAll(sessions);
    }
  });
}

Deno.test("release (local): a session held by a real process is ended, and its next holder gets the note", async () => {
  await releaseHeldByAProcess({ kind: "local" });
});

Deno.test({
  name:
    "release (redis): a session held by a real process is ended, and its next holder gets the note",
  ignore: skipRedisTests(),
  async fn() {
    const redis = await startRedisServer();
    try {
      await releaseHeldByAProcess({ kind: "redis", url: redis.url, prefix: "rel:" });
    } finally {
      await redis.stop();
    }
  },
});

/** `script` gives the CLI a real terminal; null when it is not installed. */
function scriptAvailable(): boolean {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Runs release on a pty (util-linux `script`), typing `answer`; returns the exit code and what the terminal showed. */
async function releaseOnTerminal(
  project: { root: string; home: string },
  backend: Backend,
  answer: string,
): Promise<{ code: number; screen: string }> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [
    Deno.execPath(),
    ...serverArgs({ flags: flagsFor(backend), args: ["release", "claude_1", "--reason", REASON] }),
  ].map(quote).join(" ");
  const child = new Deno.Command("script", {
    args: ["-q", "-e", "-c", command, "/dev/null"],
    cwd: project.root,
    env: await childEnv(project.home),
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const output = new Response(child.stdout).text();
    const errors = new Response(child.stderr).text();
    // Typed ahead: the terminal keeps it until the prompt reads it. Stdin
    // stays open until the command ends: its end would hang up the terminal.
    await stdin.write(new TextEncoder().encode(answer + "\n"));
    const status = await withTimeout(child.status, 60_000, "release on a terminal");
    await stdin.close().catch(() => {});
    return { code: status.code, screen: (await output) + (await errors) };
  } finally {
    clearTimeout(timer);
    await stdin.close().catch(() => {});
  }
}

Deno.test({
  name: "release on a terminal asks first: n releases nothing (exit 1), y releases",
  ignore: !scriptAvailable(),
  async fn() {
    const backend: Backend = { kind: "local" };
    await withAdminProject(backend, async (project) => {
      const held = await startSession(project, backend);
      try {
        structured(await held.call("sign_on", {}));
        const no = await releaseOnTerminal(project, backend, "n");
        assert.equal(no.code, 1, no.screen);
        assert.match(
          no.screen,
          new RegExp(
            `Release claude_1 held by pid ${held.pid} on machine \\S+ since 20\\S+Z \\(last seen \\d+s ago, worktree ${project.root}\\)\\? \\[y/N\\]`,
          ),
        );
        assert.match(no.screen, /Nothing released\./);
        const still = await adminJson<SessionsJson>(project, backend, ["sessions"]);
        assert.equal(still.sessions[0].status, "active");

        const yes = await releaseOnTerminal(project, backend, "y");
        assert.equal(yes.code, 0, yes.screen);
        assert.match(
          yes.screen,
          /Released claude_1 \(was pid \d+ on \S+, worktree .*, branch main\)/,
        );
        const gone = await adminJson<SessionsJson>(project, backend, ["sessions"]);
        assert.equal(gone.sessions[0].status, "available");
      } finally {
        await held.close();
      }
    });
  },
});
