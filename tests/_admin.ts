/**
 * Helpers for the admin command tests (tests/admin_*_test.ts): projects on
 * local files or on a Redis of their own, the CLI run with the server's
 * permissions (plus the network for Redis), and its JSON read back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CommandResult,
  connectServer,
  createProject,
  type McpSession,
  type Project,
  removeProject,
  runCli,
  type SpawnOptions,
  startTaskFlags,
} from "./_stdio_harness.ts";

/** Where a test project keeps its state. */
export type Backend = { kind: "local" } | { kind: "redis"; url: string; prefix: string };

/** The permission flags of the server, plus the network when the backend is Redis. */
export function flagsFor(backend: Backend, extra: string[] = []): string[] {
  return [
    ...startTaskFlags(),
    ...(backend.kind === "redis" ? ["--allow-net=127.0.0.1"] : []),
    ...extra,
  ];
}

/**
 * A project on the backend. A project's own config may select Redis only
 * when the user trusts the project, so the user config in its HOME does.
 * The lease TTL is 60 s: renewals come every 20 s, so "renewals late"
 * (under a third left) cannot come from a loaded test machine.
 */
export async function createAdminProject(
  backend: Backend,
  config: Record<string, unknown> = {},
): Promise<Project> {
  const storage = backend.kind === "redis"
    ? { storage: { adapter: "redis", config: { url: backend.url, prefix: backend.prefix } } }
    : {};
  const project = await createProject({
    config: { session: { lease_ttl_seconds: 60 }, ...storage, ...config },
  });
  const userConfig = join(project.home, ".config", "claude-session-coordinator");
  await Deno.mkdir(userConfig, { recursive: true });
  await Deno.writeTextFile(
    join(userConfig, "config.json"),
    JSON.stringify({ trusted_projects: [project.root] }),
  );
  return project;
}

/** Runs `fn` with a project on the backend, removed afterwards. */
export async function withAdminProject<T>(
  backend: Backend,
  fn: (project: Project) => Promise<T>,
  config: Record<string, unknown> = {},
): Promise<T> {
  const project = await createAdminProject(backend, config);
  try {
    return await fn(project);
  } finally {
    await removeProject(project);
  }
}

/** Runs an admin command of the CLI in the project. */
export async function admin(
  project: Project,
  backend: Backend,
  args: string[],
  options: Omit<SpawnOptions, "args" | "flags"> & { extraFlags?: string[] } = {},
): Promise<CommandResult> {
  return await runCli(project, {
    ...options,
    args,
    flags: flagsFor(backend, options.extraFlags),
  });
}

/** Runs an admin command with --json, expecting `code`; stdout must be exactly one JSON document. */
export async function adminJson<T = Record<string, unknown>>(
  project: Project,
  backend: Backend,
  args: string[],
  code = 0,
): Promise<T> {
  const res = await admin(project, backend, [...args, "--json"]);
  assert.equal(res.code, code, `${args.join(" ")}: exit ${res.code}\n${res.stdout}\n${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}

/** Starts a real server on the backend's project and connects to it. */
export async function startSession(project: Project, backend: Backend): Promise<McpSession> {
  return await connectServer(project, { flags: flagsFor(backend) });
}
