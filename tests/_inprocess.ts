/**
 * In-process harness: a real file adapter in a temp dir, a real git repo for
 * worktree info, and the SDK Client over InMemoryTransport.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { join } from "node:path";
import { readWorkTree } from "../src/setup/git.ts";
import { createMcpServer } from "../src/mcp/server.ts";
import {
  createBinding,
  type SessionBinding,
  type SessionContext,
} from "../src/core/session/mod.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";

/** A temp git repo with one commit on branch main. */
export async function makeRepo(): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "csc_repo_" }));
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", {
      args: ["-c", "user.name=t", "-c", "user.email=t@t", ...args],
      cwd: dir,
      stdout: "null",
      stderr: "null",
    }).output();
    if (!out.success) throw new Error(`git ${args.join(" ")} failed`);
  };
  await git("init", "-q", "-b", "main");
  await Deno.writeTextFile(join(dir, "README"), "hi\n");
  await git("add", "README");
  await git("commit", "-q", "-m", "init");
  return dir;
}

/** Options for a shared context. */
export interface HarnessOptions {
  leaseTtlSeconds?: number;
  maxInstances?: number;
  maxValueBytes?: number;
  machine?: string;
  now?: () => number;
}

/** A SessionContext over a fresh state directory; close() removes everything. */
export async function makeContext(options: HarnessOptions = {}) {
  const repo = await makeRepo();
  const stateDir = join(repo, ".claude", "session-state");
  const storage = await createFileAdapter({
    basePath: stateDir,
    limits: { maxValueBytes: options.maxValueBytes ?? 1024 * 1024 },
    now: options.now,
  });
  const ctx: SessionContext = {
    storage,
    identity: { machine: options.machine ?? "testbox", project: "acme/widget" },
    leaseTtlSeconds: options.leaseTtlSeconds ?? 60,
    maxInstances: options.maxInstances,
    workTree: () => readWorkTree(repo),
    now: options.now ?? Date.now,
    pid: Deno.pid,
  };
  return {
    ctx,
    repo,
    stateDir,
    async close() {
      await storage.close().catch(() => {});
      await Deno.remove(repo, { recursive: true });
    },
  };
}

/** Connects an SDK Client to a new server for a new binding on `ctx`. */
export async function connect(ctx: SessionContext, logs: string[] = []) {
  const binding: SessionBinding = createBinding();
  const server = createMcpServer(ctx, binding, { version: "test", log: (l) => logs.push(l) });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(clientSide);
  return {
    client,
    binding,
    /** Calls a tool and returns its result. */
    call(name: string, args: Record<string, unknown> = {}) {
      return client.callTool({ name, arguments: args }) as Promise<ToolResult>;
    },
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** The parts of a tool result the tests read. */
export interface ToolResult {
  isError?: boolean;
  content: Array<{ type: string; text: string }>;
  structuredContent?: Record<string, unknown>;
}

/** The structured result of a successful call; throws with the text otherwise. */
export function ok(result: ToolResult): Record<string, unknown> {
  if (result.isError) throw new Error(`expected success, got: ${result.content[0]?.text}`);
  return result.structuredContent!;
}

/** The error code at the start of a failed call's text; throws on success. */
export function errorCode(result: ToolResult): string {
  if (!result.isError) throw new Error(`expected an error, got: ${JSON.stringify(result)}`);
  return result.content[0].text.split(":")[0];
}
