/**
 * `doctor` finds every problem it claims to, each created for real, and
 * says what to do: an invalid config; a Redis that does not run; a state
 * directory on a read-only file system (a tmpfs remounted read-only in a
 * user and mount namespace of its own, since chmod does not stop root),
 * one this user may not write (chmod, when not root), and one that is a
 * file; a full disk (a 1 MiB tmpfs, filled) and a minimum above the free
 * space; a scope's lock held by a stopped process (SIGSTOP); the
 * pre-commit guard missing in one worktree of two (core.hooksPath in that
 * worktree's own config), not executable, or pointing at a program that is
 * gone. A healthy project passes (exit 0). The clock against Redis is in
 * tests/admin_unit_test.ts (this machine's clock cannot be moved here).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readLines } from "./_lines.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import {
  addWorktree,
  childEnv,
  git,
  type Project,
  removeProject,
  runCli,
  runCommand,
  serverArgs,
  withProject,
  withTimeout,
} from "./_stdio_harness.ts";
import { admin, type Backend, createAdminProject, flagsFor, withAdminProject } from "./_admin.ts";

interface Report {
  ok: boolean;
  problems: number;
  checks: { check: string; status: string; detail: string; fix?: string }[];
}

const LOCAL: Backend = { kind: "local" };
/** The server's permissions plus statfs, which the disk check needs. */
const DOCTOR_FLAGS = ["--allow-sys=hostname,statfs"];

/** Runs doctor --json; checks the exit code against the report. */
async function doctor(project: Project, backend: Backend, args: string[] = []): Promise<Report> {
  const res = await admin(project, backend, ["doctor", "--json", ...args], {
    extraFlags: DOCTOR_FLAGS,
  });
  const report = JSON.parse(res.stdout) as Report;
  assert.equal(res.code, report.ok ? 0 : 1, `${res.stdout}\n${res.stderr}`);
  return report;
}

/** The one finding of a check (fails when there are several). */
function only(report: Report, check: string) {
  const found = report.checks.filter((c) => c.check === check);
  assert.equal(found.length, 1, `${check}: ${JSON.stringify(report.checks, null, 2)}`);
  return found[0];
}

function statuses(report: Report): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.check, c.status]));
}

async function installGuard(project: Project, cwd = project.root): Promise<void> {
  const res = await admin(project, LOCAL, ["guard", "--install"], { cwd });
  assert.equal(res.code, 0, res.stderr);
}

const stateDirOf = (project: Project) => join(project.root, ".claude", "session-state");

Deno.test("doctor: a healthy project passes, in a table and in JSON", async () => {
  await withAdminProject(LOCAL, async (project) => {
    await installGuard(project);
    const report = await doctor(project, LOCAL);
    assert.equal(report.ok, true, JSON.stringify(report, null, 2));
    assert.deepEqual(statuses(report), {
      config: "ok",
      storage: "ok",
      writable: "ok",
      disk: "ok",
      locks: "ok",
      clock: "ok",
      guard: "ok",
    });
    const human = await admin(project, LOCAL, ["doctor"], { extraFlags: DOCTOR_FLAGS });
    assert.equal(human.code, 0, human.stdout);
    assert.match(human.stdout, /^ {2}ok {7}writable {2}wrote and deleted a probe key in/m);
    assert.match(human.stdout, /^No problems found\.$/m);
    // Without statfs the disk check is skipped with a warning, not failed.
    const plain = await admin(project, LOCAL, ["doctor", "--json"]);
    assert.equal(plain.code, 0, plain.stdout);
    const disk = only(JSON.parse(plain.stdout), "disk");
    assert.equal(disk.status, "warning");
    assert.match(disk.detail, /--allow-sys=statfs/);
  });
});

Deno.test("doctor: an invalid config is CONFIG_INVALID naming the field; the storage checks are skipped", async () => {
  await withProject(async (project) => {
    const report = await doctor(project, LOCAL);
    const config = only(report, "config");
    assert.equal(config.status, "problem");
    assert.match(
      config.detail,
      /CONFIG_INVALID: .*session\.lease_ttl_seconds: must be an integer >= 5/,
    );
    assert.match(config.fix!, /--validate-config/);
    for (const check of ["storage", "writable", "disk", "locks", "clock"]) {
      assert.equal(only(report, check).status, "skipped", check);
    }
    assert.equal(only(report, "guard").status, "problem", "the guard is checked anyway");
  }, { config: { session: { lease_ttl_seconds: 1 } } });
});

Deno.test({
  name: "doctor: a Redis that is not running is an unreachable storage",
  ignore: skipRedisTests(),
  async fn() {
    const redis = await startRedisServer();
    const backend: Backend = { kind: "redis", url: redis.url, prefix: "doc:" };
    const project = await createAdminProject(backend);
    try {
      await installGuard(project);
      const up = await doctor(project, backend);
      assert.equal(up.ok, true, JSON.stringify(up, null, 2));
      assert.match(only(up, "clock").detail, /redis server's/);
      assert.equal(only(up, "disk").status, "skipped");
      await redis.stop();
      const down = await doctor(project, backend);
      const storage = only(down, "storage");
      assert.equal(storage.status, "problem");
      assert.match(storage.detail, /STORAGE_UNAVAILABLE: redis at 127\.0\.0\.1:\d+ is unreachable/);
      assert.match(storage.fix!, /running and reachable/);
      assert.deepEqual(
        [only(down, "writable").status, only(down, "clock").status],
        ["skipped", "skipped"],
      );
      assert.equal(down.problems, 1);
    } finally {
      await redis.stop();
      await removeProject(project);
    }
  },
});

/** True when this process may make a user and mount namespace and mount a tmpfs in it. */
function namespacesWork(): boolean {
  try {
    return new Deno.Command("unshare", {
      args: ["--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}
const noNamespaces = !namespacesWork();
if (noNamespaces) {
  console.warn(
    "SKIPPING the doctor tests on a read-only and a full file system: this machine cannot " +
      "make a user and mount namespace (unshare --user --map-root-user --mount).",
  );
}

/**
 * Runs doctor with a fresh tmpfs mounted over the state directory, in a
 * user and mount namespace of its own (nothing outside sees it); `prepare`
 * is shell run first, with the directory as $0.
 */
async function doctorOnTmpfs(project: Project, options: string, prepare: string): Promise<Report> {
  const stateDir = stateDirOf(project);
  await Deno.mkdir(stateDir, { recursive: true });
  const script =
    `mount -t tmpfs -o ${options} tmpfs "$0" && mkdir -p "$0/.locks" && ${prepare} && exec "$@"`;
  const res = await runCommand("unshare", [
    "--user",
    "--map-root-user",
    "--mount",
    "sh",
    "-c",
    script,
    stateDir,
    Deno.execPath(),
    ...serverArgs({ flags: flagsFor(LOCAL, DOCTOR_FLAGS), args: ["doctor", "--json"] }),
  ], { cwd: project.root, env: await childEnv(project.home), clearEnv: true });
  assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
  return JSON.parse(res.stdout) as Report;
}

Deno.test({
  name: "doctor: a state directory on a read-only file system is not writable",
  ignore: noNamespaces,
  async fn() {
    await withAdminProject(LOCAL, async (project) => {
      await installGuard(project);
      const report = await doctorOnTmpfs(project, "size=512m", `mount -o remount,ro "$0"`);
      const writable = only(report, "writable");
      assert.equal(writable.status, "problem");
      assert.match(
        writable.detail,
        /refused a write: STORAGE_UNAVAILABLE: .*Read-only file system/,
      );
      assert.match(writable.fix!, /mounted read-only: remount it read-write/);
      assert.equal(only(report, "storage").status, "ok", "reads still work");
      assert.equal(report.problems, 1, JSON.stringify(report, null, 2));
    });
  },
});

Deno.test({
  name: "doctor: a full disk is found (and makes writes fail)",
  ignore: noNamespaces,
  async fn() {
    await withAdminProject(LOCAL, async (project) => {
      await installGuard(project);
      const report = await doctorOnTmpfs(
        project,
        "size=1m",
        `(head -c 2000000 /dev/zero > "$0/filler" 2>/dev/null; true)`,
      );
      const disk = only(report, "disk");
      assert.equal(disk.status, "problem");
      assert.match(
        disk.detail,
        /^only 0 B free on the file system of .*session-state \(minimum 100\.0 MiB\)/,
      );
      assert.match(disk.fix!, /--min-free-mb/);
      const writable = only(report, "writable");
      assert.equal(writable.status, "problem");
      assert.match(writable.detail, /No space left on device/);
      assert.match(writable.fix!, /file system is full/);
    });
  },
});

Deno.test("doctor: --min-free-mb above the free space is a disk problem; 0 accepts any", async () => {
  await withAdminProject(LOCAL, async (project) => {
    await installGuard(project);
    // 2^29 MiB is 512 TiB: no test machine has that much free.
    const low = await doctor(project, LOCAL, ["--min-free-mb", String(2 ** 29)]);
    assert.equal(only(low, "disk").status, "problem");
    assert.equal(low.problems, 1);
    const any = await doctor(project, LOCAL, ["--min-free-mb", "0"]);
    assert.equal(only(any, "disk").status, "ok");
  });
});

const asRoot = Deno.uid() === 0;
if (asRoot) {
  console.warn(
    "SKIPPING the doctor test on a chmod 555 state directory: root writes through any mode " +
      "bits (the read-only file system test covers an unwritable state directory as root).",
  );
}

Deno.test({
  name: "doctor: a state directory this user may not write (chmod)",
  ignore: asRoot,
  async fn() {
    await withAdminProject(LOCAL, async (project) => {
      const stateDir = stateDirOf(project);
      await Deno.mkdir(join(stateDir, ".locks"), { recursive: true });
      await Deno.chmod(join(stateDir, ".locks"), 0o555);
      await Deno.chmod(stateDir, 0o555);
      try {
        const report = await doctor(project, LOCAL);
        const writable = only(report, "writable");
        assert.equal(writable.status, "problem");
        assert.match(writable.fix!, /write access/);
      } finally {
        await Deno.chmod(stateDir, 0o755);
        await Deno.chmod(join(stateDir, ".locks"), 0o755);
      }
    });
  },
});

Deno.test("doctor: a state directory that is a file cannot be opened", async () => {
  await withAdminProject(LOCAL, async (project) => {
    const file = join(project.base, "not-a-directory");
    await Deno.writeTextFile(file, "oops\n");
    await Deno.writeTextFile(
      join(project.root, ".claude", "session-coordinator-config.json"),
      JSON.stringify({ storage: { adapter: "local", config: { base_path: file } } }),
    );
    const report = await doctor(project, LOCAL);
    const storage = only(report, "storage");
    assert.equal(storage.status, "problem");
    assert.match(storage.detail, /Not a directory/);
    assert.match(storage.fix!, /a directory this user can read and write/);
  });
});

/** Code for a child that takes a scope's lock as a writer does, says so, and waits. */
const HOLD_LOCK = `
const file = await Deno.open(Deno.args[0], { read: true, write: true, create: true });
await file.lock(true);
console.log("locked");
setInterval(() => {}, 60_000);
`;

Deno.test("doctor: a scope's lock held by a stopped process is named, with how to resume it", async () => {
  await withAdminProject(LOCAL, async (project) => {
    await installGuard(project);
    const lockDir = join(stateDirOf(project), ".locks");
    await Deno.mkdir(lockDir, { recursive: true });
    const lockFile = join(lockDir, "%40project~acme+widget~tasks.json.lock");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", HOLD_LOCK, lockFile],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).spawn();
    let stopped = false;
    try {
      const lines = readLines(child.stdout);
      const first = await withTimeout(lines.next(), 30_000, "the child to take the lock");
      assert.equal(first.value, "locked");
      child.kill("SIGSTOP");
      stopped = true;
      const report = await doctor(project, LOCAL);
      const locks = only(report, "locks");
      assert.equal(locks.status, "problem");
      assert.match(
        locks.detail,
        /%40project~acme\+widget~tasks\.json\.lock \(scope @project:acme\/widget:tasks\) has been held for over 2 s by /,
      );
      assert.match(locks.detail, /every write to that scope waits 10 s, then fails/);
      // The server's permissions do not let it read /proc: it says how to find the holder.
      assert.match(locks.detail, /held for over 2 s by another process/);
      assert.match(
        locks.fix!,
        /fuser -v ".*tasks\.json\.lock", or lsof\), then resume it \(kill -CONT PID\)/,
      );
      assert.equal(report.problems, 1, JSON.stringify(report, null, 2));
      if (Deno.build.os === "linux") {
        // With --allow-all it reads /proc/locks and names the stopped process.
        const res = await runCli(project, { flags: ["--allow-all"], args: ["doctor", "--json"] });
        const named = only(JSON.parse(res.stdout), "locks");
        assert.match(named.detail, new RegExp(`by pid ${child.pid} \\(deno\\), which is STOPPED`));
        assert.equal(
          named.fix,
          `resume it (kill -CONT ${child.pid}) or end it (kill ${child.pid})`,
        );
        // Resumed, it still holds the lock (a hung process): named, not stopped.
        child.kill("SIGCONT");
        stopped = false;
        const again = await runCli(project, { flags: ["--allow-all"], args: ["doctor", "--json"] });
        assert.match(
          only(JSON.parse(again.stdout), "locks").fix!,
          new RegExp(`end it if it hangs \\(kill ${child.pid}\\)`),
        );
      }
      child.kill("SIGKILL");
      await child.status;
      // The OS dropped the lock with the process.
      const fine = await doctor(project, LOCAL);
      assert.equal(only(fine, "locks").status, "ok");
      assert.equal(fine.ok, true);
    } finally {
      try {
        if (stopped) child.kill("SIGCONT");
        child.kill("SIGKILL");
      } catch { /* exited already */ }
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
  });
});

Deno.test("doctor: the guard missing in one worktree of two, not executable, or pointing at a program that is gone", async () => {
  await withAdminProject(LOCAL, async (project) => {
    const wt2 = await addWorktree(project, "wt2", "feature");
    await installGuard(project);
    const both = await doctor(project, LOCAL);
    assert.deepEqual(only(both, "guard"), {
      check: "guard",
      status: "ok",
      detail: "installed in 2 worktrees",
    });
    // The second worktree looks for hooks elsewhere, in its own config.
    await git(["config", "extensions.worktreeConfig", "true"], project.root);
    await git(["config", "--worktree", "core.hooksPath", ".githooks"], wt2);
    const missing = await doctor(project, LOCAL);
    const guard = only(missing, "guard");
    assert.equal(guard.status, "problem");
    assert.equal(
      guard.detail,
      `${wt2}: no pre-commit hook (git looks in ${join(wt2, ".githooks", "pre-commit")}), ` +
        "so its commits are not checked against reservations",
    );
    assert.equal(guard.fix, `run \`claude-session-coordinator guard --install\` in ${wt2}`);
    assert.equal(missing.problems, 1);
    // The fix it names works.
    await installGuard(project, wt2);
    assert.equal(only(await doctor(project, LOCAL), "guard").status, "ok");

    const hook = join(project.root, ".git", "hooks", "pre-commit");
    await Deno.chmod(hook, 0o644);
    const notExecutable = only(await doctor(project, LOCAL), "guard");
    assert.equal(notExecutable.status, "problem");
    assert.match(notExecutable.detail, /is not executable, so git skips it/);
    assert.equal(notExecutable.fix, `chmod +x "${hook}"`);
    await Deno.chmod(hook, 0o755);

    const text = await Deno.readTextFile(hook);
    const moved = text.replace(/'[^']*main\.ts'/, "'/nowhere/main.ts'");
    assert.notEqual(moved, text);
    await Deno.writeTextFile(hook, moved);
    const gone = only(await doctor(project, LOCAL), "guard");
    assert.equal(gone.status, "problem");
    assert.match(gone.detail, /runs \/nowhere\/main\.ts, which no longer exists/);
    assert.match(gone.fix!, /guard --install` in .* again/);
  });
});
