/**
 * The git pre-commit guard in a real repository with two worktrees: a
 * session in one worktree reserves a file; a commit touching it from the
 * other worktree is refused (naming the holder and its reason), the
 * session's own worktree commits freely, and once released the other
 * worktree commits too. `guard --install` keeps an existing hook.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  addWorktree,
  childEnv,
  connectServer,
  runCli,
  runCommand,
  structured,
  withProject,
} from "./_stdio_harness.ts";

async function commit(dir: string, env: Record<string, string>, file: string, text: string) {
  await Deno.mkdir(join(dir, file, ".."), { recursive: true });
  await Deno.writeTextFile(join(dir, file), text);
  const add = await runCommand("git", ["add", file], { cwd: dir, env });
  assert.equal(add.code, 0, add.stderr);
  return await runCommand(
    "git",
    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", `edit ${file}`],
    { cwd: dir, env },
  );
}

Deno.test("guard: another worktree's commit to a reserved file is refused; the holder's own commits pass", async () => {
  await withProject(async (project) => {
    const other = await addWorktree(project, "wt2", "feature");
    const env = await childEnv(project.home);
    // An existing hook of the user's, which must keep working.
    const hooks = join(project.root, ".git", "hooks");
    await Deno.mkdir(hooks, { recursive: true });
    const marker = join(project.base, "existing-hook-ran");
    await Deno.writeTextFile(
      join(hooks, "pre-commit"),
      `#!/bin/sh\ntouch '${marker}'\nexit 0\n`,
    );
    await Deno.chmod(join(hooks, "pre-commit"), 0o755);
    const installed = await runCli(project, { args: ["guard", "--install"] });
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stdout, /pre-commit guard added to the existing hook/);
    const again = await runCli(project, { args: ["guard", "--install"], cwd: other });
    assert.match(again.stdout, /pre-commit guard updated/, "every worktree shares the one hook");
    const hook = await Deno.readTextFile(join(hooks, "pre-commit"));
    assert.equal(hook.split("claude-session-coordinator guard >>>").length, 2, "one block");

    const a = await connectServer(project);
    try {
      structured(await a.call("sign_on", {}));
      structured(
        await a.call("reserve_paths", { paths: ["src/auth/**"], reason: "auth rewrite" }),
      );
      const refused = await commit(other, env, "src/auth/login.ts", "export {};\n");
      assert.equal(refused.code, 1, `refused: ${refused.stderr}`);
      assert.match(
        refused.stderr,
        /src\/auth\/login\.ts: reserved by claude_1 .*: auth rewrite; until 20/,
      );
      assert.match(refused.stderr, /commit refused: 1 file\(s\) are reserved/);
      // Files nobody reserved, and the holder's own worktree, commit freely.
      await runCommand("git", ["reset", "-q"], { cwd: other, env });
      const free = await commit(other, env, "docs/readme.md", "hi\n");
      assert.equal(free.code, 0, free.stderr);
      const own = await commit(project.root, env, "src/auth/login.ts", "export const x = 1;\n");
      assert.equal(own.code, 0, own.stderr);
      await Deno.remove(marker).catch(() => {});
      // Released: the other worktree commits too, and the user's hook still runs.
      structured(await a.call("release_paths", {}));
      const after = await commit(other, env, "src/auth/login.ts", "export {};\n");
      assert.equal(after.code, 0, after.stderr);
      await Deno.stat(marker);
    } finally {
      await a.close();
    }
  });
});

Deno.test("guard: a hook that is not a shell script is left alone, with the line to add", async () => {
  await withProject(async (project) => {
    const hooks = join(project.root, ".git", "hooks");
    await Deno.mkdir(hooks, { recursive: true });
    await Deno.writeTextFile(join(hooks, "pre-commit"), "#!/usr/bin/env python3\nprint('hi')\n");
    const res = await runCli(project, { args: ["guard", "--install"] });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /is not a shell script, so it was left alone; add this line/);
    assert.equal(
      await Deno.readTextFile(join(hooks, "pre-commit")),
      "#!/usr/bin/env python3\nprint('hi')\n",
    );
  });
});
