/**
 * The server under exactly the permission flags of deno.json's `start` task
 * (read from the task, so this test follows it), and without --allow-run=git,
 * where it must still start and fall back to the directory name.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import {
  connectServer,
  DENO_JSON,
  git,
  PROJECT_ID,
  runCli,
  startTaskFlags,
  structured,
  withProject,
} from "./_stdio_harness.ts";

interface SignOn {
  session_id: string;
  project: string;
  machine: string;
  active_sessions: Array<{ worktree: string; branch: string | null }>;
}
interface SignOff {
  status: string;
  handoff: { branch: string | null; commit: string | null; worktree: string };
}

/** Signs that a permission was missing at run time. */
const PERMISSION_TROUBLE = /NotCapable|PermissionDenied|Requires \w+ access|--allow-/;

Deno.test("the start task's flags are narrow and read from deno.json", async () => {
  const meta = JSON.parse(await Deno.readTextFile(DENO_JSON)) as { tasks: { start: string } };
  const flags = startTaskFlags();
  assert.ok(meta.tasks.start.includes("main.ts"), meta.tasks.start);
  assert.deepEqual(
    flags,
    meta.tasks.start.split(/\s+/).filter((w) => w.startsWith("--allow-")),
  );
  assert.ok(!/(^|\s)(-A|--allow-all)(\s|$)/.test(meta.tasks.start), meta.tasks.start);
  for (const flag of flags) {
    // Process spawning must stay limited to named programs.
    if (flag.startsWith("--allow-run")) assert.match(flag, /^--allow-run=./, flag);
  }
});

Deno.test("with exactly the start task's flags: initialize, sign_on, store, retrieve, sign_off", async () => {
  const flags = startTaskFlags();
  await withProject(async (project) => {
    const head = await git(["rev-parse", "HEAD"], project.root);
    const session = await connectServer(project, { flags });
    try {
      const info = session.client.getServerVersion();
      assert.equal(info?.name, "claude-session-coordinator");
      const on = structured<SignOn>(await session.call("sign_on"));
      assert.equal(on.session_id, "claude_1");
      // --allow-run=git is enough for git: the project comes from the remote.
      assert.equal(on.project, PROJECT_ID);
      assert.equal(on.active_sessions[0].branch, "main");
      const stored = structured<{ version: number }>(
        await session.call("store_data", {
          scope: "@project:claims",
          key: "issue-1",
          value: { by: "claude_1" },
          if_version: 0,
          ttl_seconds: 60,
        }),
      );
      assert.ok(stored.version > 0);
      const got = structured<{ found: boolean; value: unknown; version: number }>(
        await session.call("retrieve_data", { scope: "@project:claims", key: "issue-1" }),
      );
      assert.equal(got.found, true);
      assert.deepEqual(got.value, { by: "claude_1" });
      assert.equal(got.version, stored.version);
      const ctx = await session.readJson("session://context") as { project: string };
      assert.equal(ctx.project, PROJECT_ID);
      const off = structured<SignOff>(
        await session.call("sign_off", { summary: "done", next_steps: ["more"] }),
      );
      assert.equal(off.status, "signed_off");
      assert.equal(off.handoff.commit, head);
      assert.equal(off.handoff.branch, "main");
      await session.close();
      assert.doesNotMatch(session.stderr(), PERMISSION_TROUBLE);
    } finally {
      await session.close();
    }
  });
});

Deno.test("without --allow-run=git it still starts and falls back to the directory name", async () => {
  const flags = startTaskFlags().filter((f) => !f.startsWith("--allow-run"));
  assert.equal(flags.length, startTaskFlags().length - 1, "the start task has no --allow-run");
  await withProject(async (project) => {
    const dirProject = basename(project.root); // "widget"
    const validated = await runCli(project, { flags, args: ["--validate-config"] });
    assert.equal(validated.code, 0, validated.stderr);
    const out = JSON.parse(validated.stdout) as {
      project: string;
      project_source: string;
      project_root: string;
    };
    assert.equal(out.project, dirProject);
    assert.equal(out.project_source, "directory");
    assert.equal(out.project_root, project.root);

    const session = await connectServer(project, { flags });
    try {
      const on = structured<SignOn>(await session.call("sign_on"));
      assert.equal(on.session_id, "claude_1");
      assert.equal(on.project, dirProject);
      assert.equal(on.active_sessions[0].branch, null);
      assert.equal(on.active_sessions[0].worktree, project.root);
      structured(await session.call("store_data", { scope: "notes", key: "k", value: [1, 2] }));
      const got = structured<{ value: unknown }>(
        await session.call("retrieve_data", { scope: "notes", key: "k" }),
      );
      assert.deepEqual(got.value, [1, 2]);
      const off = structured<SignOff>(await session.call("sign_off", { summary: "no git" }));
      // Without git the handoff cannot know branch or commit.
      assert.equal(off.handoff.branch, null);
      assert.equal(off.handoff.commit, null);
      await session.close();
      assert.match(session.stderr(), /serving .+:widget over stdio/);
    } finally {
      await session.close();
    }
  });
});
