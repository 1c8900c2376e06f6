/**
 * doctor's guard check: the git pre-commit guard (`guard --install`) must be
 * in effect in every worktree of the repository. One hook usually serves
 * them all (the common hooks directory), but a worktree can look elsewhere
 * (core.hooksPath in its own config), and a hook can stop working: not
 * executable, our block gone, or pointing at a program that moved.
 */
import { isAbsolute, join, resolve } from "node:path";
import { git } from "../setup/git.ts";
import { PACKAGE_NAME } from "../setup/version.ts";
import { type CheckResult, finding } from "./_check.ts";
import { BEGIN } from "./guard.ts";

/** Checks the guard in every worktree of the repository at `root` (runs git). */
export async function checkGuard(root: string): Promise<CheckResult[]> {
  const listing = await git(["worktree", "list", "--porcelain"], root);
  if (listing === null) {
    return [finding("guard", "skipped", `${root} is not a git repository (or git cannot run)`)];
  }
  const worktrees = parseWorktrees(listing);
  const results: CheckResult[] = [];
  // Worktrees usually share one hook (the common hooks directory): one finding per hook file.
  const byHook = new Map<string, string[]>();
  for (const tree of worktrees) {
    const hooks = await git(["rev-parse", "--git-path", "hooks"], tree);
    if (hooks === null) {
      results.push(finding("guard", "warning", `${tree}: git cannot tell its hooks directory`));
      continue;
    }
    const hook = join(isAbsolute(hooks) ? hooks : resolve(tree, hooks), "pre-commit");
    byHook.set(hook, [...byHook.get(hook) ?? [], tree]);
  }
  for (const [hook, trees] of byHook) {
    const problem = await guardProblem(hook, trees);
    if (problem !== null) results.push(problem);
  }
  if (results.length === 0) {
    results.push(finding(
      "guard",
      "ok",
      `installed in ${worktrees.length} worktree${worktrees.length === 1 ? "" : "s"}`,
    ));
  }
  return results;
}

/** The worktrees `git worktree list --porcelain` names that have a working directory. */
function parseWorktrees(listing: string): string[] {
  return listing.split(/\n\s*\n/).flatMap((block) => {
    const lines = block.split("\n");
    const path = lines.find((l) => l.startsWith("worktree "))?.slice("worktree ".length);
    const skip = lines.some((l) => l === "bare" || l.startsWith("prunable"));
    return path === undefined || skip ? [] : [path];
  });
}

/** What is wrong with the hook `hook`, used by the worktrees `trees`, or null. */
async function guardProblem(hook: string, trees: string[]): Promise<CheckResult | null> {
  const tree = trees.join(", ");
  const install = `run \`${PACKAGE_NAME} guard --install\` in ${trees[0]}${
    trees.length > 1 ? " (one install serves all of them)" : ""
  }`;
  let text: string;
  let info: Deno.FileInfo;
  try {
    [text, info] = await Promise.all([Deno.readTextFile(hook), Deno.stat(hook)]);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      return finding("guard", "warning", `${tree}: cannot read ${hook}: ${(err as Error).message}`);
    }
    return finding(
      "guard",
      "problem",
      `${tree}: no pre-commit hook (git looks in ${hook}), so ${
        trees.length > 1 ? "their" : "its"
      } commits are not checked against reservations`,
      install,
    );
  }
  if (!text.includes(BEGIN)) {
    return finding(
      "guard",
      "problem",
      `${tree}: the pre-commit hook ${hook} does not run the guard`,
      `${install} (the existing hook is kept)`,
    );
  }
  if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o111) === 0) {
    return finding(
      "guard",
      "problem",
      `${tree}: ${hook} is not executable, so git skips it`,
      `chmod +x ${JSON.stringify(hook)}`,
    );
  }
  const missing = await missingPrograms(text);
  if (missing.length > 0) {
    return finding(
      "guard",
      "problem",
      `${tree}: the guard in ${hook} runs ${missing.join(" and ")}, which no longer exist${
        missing.length === 1 ? "s" : ""
      }`,
      `${install} again (it rewrites the block with this program's path)`,
    );
  }
  return null;
}

/** Absolute paths quoted in our block's command line that do not exist. */
async function missingPrograms(text: string): Promise<string[]> {
  const block = text.slice(text.indexOf(BEGIN));
  const command = block.split("\n").find((l) => l.includes(" guard") && !l.startsWith("#"));
  if (command === undefined) return [];
  const quoted = [...command.matchAll(/'((?:[^']|'\\'')*)'/g)]
    .map((m) => m[1].replaceAll("'\\''", "'"))
    .filter((p) => isAbsolute(p));
  const exists = await Promise.all(quoted.map((p) => Deno.stat(p).then(() => true, () => false)));
  return quoted.filter((_, i) => !exists[i]);
}
