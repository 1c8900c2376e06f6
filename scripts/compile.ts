/**
 * `deno task compile`: builds one executable per target into dist/, with the
 * server's narrow permissions baked in (a stdio server cannot prompt).
 *
 * Usage: deno task compile [TARGET ...]   (default: every release target)
 */
import { join, resolve } from "node:path";
import meta from "../deno.json" with { type: "json" };

/** The release targets. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** The permission flags of the `start` task, so binary and task never drift apart. */
export function startPermissions(): string[] {
  return meta.tasks.start.split(/\s+/).filter((a) => a.startsWith("--allow-"));
}

/**
 * The permissions baked into a binary: the start task's plus the network, so
 * the redis and postgres adapters work (a binary cannot be given more flags
 * later), the dashboard's token variable, and statfs for doctor's disk check.
 */
export function binaryPermissions(): string[] {
  // The binary also serves the dashboard, which may read its token from the
  // environment, and the postgres adapter, whose client reads two variables
  // it is told to ignore.
  const flags = startPermissions().map((flag) =>
    flag.startsWith("--allow-env=")
      ? `${flag},CLAUDE_SESSION_COORDINATOR_TOKEN`
      // doctor reads the free space of the state directory's file system.
      : flag === "--allow-sys=hostname"
      ? "--allow-sys=hostname,statfs"
      : flag
  );
  return [...flags, "--allow-net", "--ignore-env=PGBINARY,PGREPLICATION"];
}

/** The output path of one target's executable. */
export function outputPath(root: string, target: string): string {
  const exe = target.includes("windows") ? ".exe" : "";
  return join(root, "dist", `claude-session-coordinator-${target}${exe}`);
}

/** Compiles main.ts for one target; resolves to the output path. */
export async function compile(root: string, target: string): Promise<string> {
  const output = outputPath(root, target);
  const args = [
    "compile",
    "--target",
    target,
    "--output",
    output,
    "--exclude-unused-npm",
    ...binaryPermissions(),
    join(root, "main.ts"),
  ];
  const res = await new Deno.Command(Deno.execPath(), { args, cwd: root }).output();
  if (!res.success) {
    throw new Error(`deno compile for ${target} failed:\n${new TextDecoder().decode(res.stderr)}`);
  }
  return output;
}

if (import.meta.main) {
  const root = resolve(import.meta.dirname ?? ".", "..");
  const targets = Deno.args.length > 0 ? Deno.args : [...TARGETS];
  for (const target of targets) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      console.error(`unknown target ${target}; the targets are ${TARGETS.join(", ")}`);
      Deno.exit(2);
    }
    console.log(`compiled ${await compile(root, target)}`);
  }
}
