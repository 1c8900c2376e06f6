/** Helpers for tests that need real git repositories in temp directories. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Identity and settings so commits work on a fresh machine with no global git config. */
const GIT_SETTINGS = [
  "-c",
  "user.name=Coordinator Tests",
  "-c",
  "user.email=tests@example.invalid",
  "-c",
  "commit.gpgsign=false",
  "-c",
  "init.defaultBranch=main",
  // Submodule tests clone from local paths, which newer git refuses by default.
  "-c",
  "protocol.file.allow=always",
];

/** Output of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and returns its exit code and decoded output. */
export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout).trim(),
    stderr: decoder.decode(out.stderr).trim(),
  };
}

/** Runs git in `cwd` with test identity; throws with git's stderr when it fails. */
export async function gitOk(args: string[], cwd: string): Promise<string> {
  const result = await run("git", [...GIT_SETTINGS, ...args], { cwd, env: { LC_ALL: "C" } });
  if (result.code !== 0) {
    throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${result.stderr}`);
  }
  return result.stdout;
}

/** Creates `dir` (and parents) as a git repo on branch main, with one commit unless told not to. */
export async function makeRepo(
  dir: string,
  options: { origin?: string; commit?: boolean } = {},
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await gitOk(["init", "-q", "-b", "main"], dir);
  if (options.commit ?? true) {
    await Deno.writeTextFile(join(dir, "README.md"), "test\n");
    await gitOk(["add", "README.md"], dir);
    await gitOk(["commit", "-q", "-m", "first"], dir);
  }
  if (options.origin !== undefined) await gitOk(["remote", "add", "origin", options.origin], dir);
  return dir;
}

/** Runs `fn` with a fresh, symlink-free temp directory that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "csc-test-" }));
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The repository's deno.json, for child processes that must resolve "zod". */
export const DENO_CONFIG = new URL("../deno.json", import.meta.url);

/**
 * Runs this file as a child Deno process (`probe detect <cwd>` or
 * `probe load-config <projectRoot> <homeDir>`) with the given permission
 * flags and environment; returns its parsed JSON output. The probe lives in
 * this file, not in a temp file, so coverage from children maps to sources.
 */
export async function runProbe(
  flags: string[],
  args: string[],
  env: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const result = await run(
    Deno.execPath(),
    [
      "run",
      "--quiet",
      `--config=${fileURLToPath(DENO_CONFIG)}`,
      ...flags,
      import.meta.filename!,
      ...args,
    ],
    { env },
  );
  if (result.code !== 0) throw new Error(`probe ${args.join(" ")} failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** The child side of runProbe: prints one JSON object. */
async function probe([command, ...args]: string[]): Promise<Record<string, unknown>> {
  if (command === "detect") {
    const { detectMachineId, detectProject } = await import("../src/setup/detect.ts");
    const { git, readWorkTree } = await import("../src/setup/git.ts");
    const cwd = args[0];
    return {
      project: await detectProject({ cwd, mode: "git" }),
      version: await git(["--version"], cwd),
      tree: await readWorkTree(cwd),
      machine: await detectMachineId("auto"),
    };
  }
  if (command === "load-config") {
    const { loadConfig } = await import("../src/setup/config.ts");
    const { isCoordinatorError } = await import("../src/core/errors.ts");
    const [projectRoot, homeDir] = args;
    try {
      const sources = { env: () => undefined, projectRoot, homeDir, cwd: projectRoot };
      return { loaded: await loadConfig(sources, ["local"]) };
    } catch (err) {
      if (!isCoordinatorError(err)) throw err;
      return { code: err.code, message: err.message };
    }
  }
  throw new Error(`unknown probe command ${JSON.stringify(command)}`);
}

if (import.meta.main) console.log(JSON.stringify(await probe(Deno.args)));
