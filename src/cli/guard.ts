/**
 * `guard`: the git pre-commit guard. Run from a pre-commit hook, it refuses
 * (exit 1, one line per file) a commit that touches a file another live
 * session of the project reserved exclusively (reserve_paths). It needs no
 * session: it reads the reservations and leases directly. A session's own
 * reservations never block its own commits: the guard knows which session
 * it runs for by the worktree (each reservation records its session's).
 *
 * `guard --install` writes the hook into the repository's hooks directory
 * (the common one, so every worktree gets it; core.hooksPath is honoured),
 * keeping an existing hook: our block goes right after its first line.
 *
 * When the storage cannot be reached the guard lets the commit through with
 * a warning: a network outage must not stop all work.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { liveReservations } from "../core/board/reservations.ts";
import { matchPath } from "../core/board/path_globs.ts";
import { isCoordinatorError } from "../core/errors.ts";
import { git } from "../setup/git.ts";
import { openContext, resolveSetup } from "../setup/runtime.ts";
import { type CliInput, EXIT, log, UsageError } from "./_shared.ts";

/** The line that opens our block in a pre-commit hook (doctor looks for it). */
export const BEGIN = "# >>> claude-session-coordinator guard >>>";
const END = "# <<< claude-session-coordinator guard <<<";

/** The files a commit would change, relative to the worktree's top (renames: both names). */
async function stagedFiles(cwd: string): Promise<string[]> {
  const out = await git(["diff", "--cached", "--name-only", "-z", "--no-renames"], cwd);
  if (out === null) throw new UsageError(`${cwd} is not inside a git worktree`);
  return out.split("\0").filter((f) => f !== "");
}

/** Runs the guard; exit 1 when a staged file is reserved by another live session. */
export async function guardCommand(input: CliInput): Promise<number> {
  if (input.flags.install) return await install(input);
  if (input.args.length > 0) throw new UsageError("guard takes no arguments (or --install)");
  const cwd = input.options.cwd;
  const [files, top] = await Promise.all([
    stagedFiles(cwd),
    git(["rev-parse", "--show-toplevel"], cwd),
  ]);
  if (files.length === 0) return EXIT.ok;
  const worktree = await Deno.realPath(top ?? cwd);
  const setup = await resolveSetup(input.options);
  const ctx = await openContext(setup, { ...input.options, log });
  let blocked: string[] = [];
  try {
    const live = await liveReservations(ctx);
    const others = live.map((l) => l.reservation)
      .filter((r) => r.exclusive && r.worktree !== worktree);
    blocked = files.flatMap((file) =>
      others.filter((r) => matchPath(r.path, file)).slice(0, 1).map((r) =>
        `${file}: reserved by ${r.session_id} (${r.machine}, ${r.worktree})${
          r.reason ? `: ${r.reason}` : ""
        }; until ${r.until ?? "released"}`
      )
    );
  } catch (err) {
    if (!isCoordinatorError(err, "STORAGE_UNAVAILABLE")) throw err;
    log(`guard: cannot read the reservations (${err.message}); letting the commit through.`);
    return EXIT.ok;
  } finally {
    await ctx.storage.close();
  }
  if (blocked.length === 0) return EXIT.ok;
  for (const line of blocked) console.error(line);
  console.error(
    `commit refused: ${blocked.length} file(s) are reserved by other sessions. Ask the holder (send_message) ` +
      "or wait for release_paths; bypass once with git commit --no-verify.",
  );
  return EXIT.failed;
}

/** The shell line that runs this very program's guard. */
function guardCommandLine(): string {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  if (Deno.build.standalone) return `${quote(Deno.execPath())} guard`;
  const main = new URL("../../main.ts", import.meta.url);
  const script = main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href;
  const flags = [
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run=git",
    "--allow-sys=hostname",
    "--allow-net",
  ];
  return `${quote(Deno.execPath())} run ${flags.join(" ")} ${quote(script)} guard`;
}

function hookBlock(): string {
  return [
    BEGIN,
    "# Refuses a commit touching files another live session reserved (reserve_paths).",
    "# Bypass once with: git commit --no-verify",
    `${guardCommandLine()} || exit 1`,
    END,
  ].join("\n");
}

async function install({ options }: CliInput): Promise<number> {
  const cwd = options.cwd;
  const hooks = await git(["rev-parse", "--git-path", "hooks"], cwd);
  if (hooks === null) throw new UsageError(`${cwd} is not inside a git repository`);
  const dir = isAbsolute(hooks) ? hooks : resolve(cwd, hooks);
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, "pre-commit");
  let existing: string | null = null;
  try {
    existing = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  let text: string;
  let what: string;
  if (existing === null) {
    text = `#!/bin/sh\n${hookBlock()}\n`;
    what = "installed";
  } else if (existing.includes(BEGIN) && existing.includes(END)) {
    const start = existing.indexOf(BEGIN);
    const end = existing.indexOf(END) + END.length;
    text = existing.slice(0, start) + hookBlock() + existing.slice(end);
    what = "updated";
  } else if (/^#!.*\b(sh|bash|dash|zsh)\b/.test(existing)) {
    // Right after the shebang: an "exit 0" further down must not skip us.
    const nl = existing.indexOf("\n");
    text = nl < 0
      ? `${existing}\n${hookBlock()}\n`
      : `${existing.slice(0, nl + 1)}${hookBlock()}\n${existing.slice(nl + 1)}`;
    what = "added to the existing hook";
  } else {
    throw new UsageError(
      `${path} exists and is not a shell script, so it was left alone; add this line to it yourself: ${guardCommandLine()}`,
    );
  }
  await Deno.writeTextFile(path, text);
  if (Deno.build.os !== "windows") await Deno.chmod(path, 0o755);
  console.log(`pre-commit guard ${what}: ${path} (every worktree of this repository uses it)`);
  return EXIT.ok;
}
