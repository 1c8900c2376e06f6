/**
 * A tiny `git` runner. Git is optional everywhere in the coordinator: when it
 * is missing, not permitted or fails, callers get null and fall back.
 */

/** Spawn errors meaning "git is not usable here" rather than a bug. */
const UNUSABLE: ReadonlyArray<new (...args: never[]) => Error> = [
  Deno.errors.NotFound, // git not installed, or cwd does not exist
  Deno.errors.NotCapable, // --allow-run does not cover git
  Deno.errors.PermissionDenied, // the OS refused to execute it
  Deno.errors.NotADirectory, // cwd is a file
];

/** Runs `git args` in `cwd`; trimmed stdout, or null when git is unusable or exits non-zero. */
export async function git(args: string[], cwd: string): Promise<string | null> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("git", {
      args,
      cwd,
      // Never wait for credentials on a terminal nobody watches, and keep
      // messages untranslated so output is predictable.
      env: { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    if (UNUSABLE.some((type) => err instanceof type)) return null;
    throw err;
  }
  if (!output.success) return null;
  return new TextDecoder().decode(output.stdout).trim();
}

/** Where a session works: its working tree, branch and commit. */
export interface WorkTree {
  /** Top of the working tree (a linked worktree's own directory), or cwd outside git. */
  path: string;
  /** Current branch; null on a detached HEAD, before the first commit or outside git. */
  branch: string | null;
  /** Full commit id of HEAD; null before the first commit or outside git. */
  head: string | null;
}

/** Reads the working tree, branch and HEAD commit around `cwd`. */
export async function readWorkTree(cwd: string): Promise<WorkTree> {
  // --verify keeps a file named "HEAD" in cwd from making the argument ambiguous.
  const [top, branch, head] = await Promise.all([
    git(["rev-parse", "--show-toplevel"], cwd),
    git(["rev-parse", "--verify", "--quiet", "--abbrev-ref", "HEAD"], cwd),
    git(["rev-parse", "--verify", "--quiet", "HEAD"], cwd),
  ]);
  return {
    path: top || cwd,
    branch: branch && branch !== "HEAD" ? branch : null,
    head: head || null,
  };
}
