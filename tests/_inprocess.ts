/**
 * In-process harness: a real git repo for worktree info, a real file adapter
 * in a temp dir (or the in-memory adapter on fake time, for lease tests that
 * must not sleep), and the SDK Client over InMemoryTransport.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { join } from "node:path";
import { realScheduler } from "../src/core/context.ts";
import { type AuditSettings, createAuditSink } from "../src/core/audit.ts";
import { readWorkTree } from "../src/setup/git.ts";
import { createMcpServer } from "../src/mcp/server.ts";
import {
  createBinding,
  type SessionBinding,
  type SessionContext,
} from "../src/core/session/mod.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { createMemoryBackend, type MemoryBackend } from "../src/storage/memory/adapter.ts";
import assert from "node:assert/strict";
import { isCoordinatorError } from "../src/core/errors.ts";
import { signOn } from "../src/core/session/mod.ts";
import { type FakeTime, fakeTime } from "./_fake_time.ts";

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

/** The repository each harness context works in, so connect() reads the right worktree. */
const repos = new WeakMap<SessionContext, string>();

/** Options for a shared context. */
export interface HarnessOptions {
  leaseTtlSeconds?: number;
  maxInstances?: number;
  maxValueBytes?: number;
  machine?: string;
  /** Fake time: the in-memory adapter and the scheduler follow it. Without it: the file adapter on real time. */
  time?: FakeTime;
  /** Record an audit log with these settings (lines it logs go to `auditLog`). */
  audit?: AuditSettings;
  auditLog?: string[];
}

/** A SessionContext over a fresh store; close() removes everything. */
export async function makeContext(options: HarnessOptions = {}) {
  const repo = await makeRepo();
  const stateDir = join(repo, ".claude", "session-state");
  const limits = { maxValueBytes: options.maxValueBytes ?? 1024 * 1024 };
  let memory: MemoryBackend | null = null;
  const storage = options.time
    ? (memory = createMemoryBackend({ now: options.time.now })).open(limits)
    : await createFileAdapter({ basePath: stateDir, limits });
  const ctx: SessionContext = {
    storage,
    identity: { machine: options.machine ?? "testbox", project: "acme/widget" },
    leaseTtlSeconds: options.leaseTtlSeconds ?? 60,
    maxInstances: options.maxInstances,
    scheduler: options.time?.scheduler ?? realScheduler,
  };
  if (options.audit) {
    ctx.audit = createAuditSink(
      storage,
      ctx.identity,
      options.audit,
      (l) => options.auditLog?.push(l),
    );
  }
  repos.set(ctx, repo);
  let pids = 1000;
  return {
    ctx,
    repo,
    stateDir,
    /** The in-memory backend (fake-time harnesses only), e.g. to wipe it. */
    memory,
    /** A new binding, as a new client process would have (each its own pid). */
    binding(): SessionBinding {
      return createBinding({ pid: pids++, client: "test" }, () => readWorkTree(repo));
    },
    async close() {
      await storage.close().catch(() => {});
      await Deno.remove(repo, { recursive: true });
    },
  };
}

/** Connects an SDK Client to a new server for a new binding on `ctx`. */
export async function connect(ctx: SessionContext, logs: string[] = [], repo?: string) {
  const binding: SessionBinding = createBinding(
    { pid: Deno.pid, client: null },
    () => readWorkTree(repo ?? repos.get(ctx) ?? Deno.cwd()),
  );
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

/** Awaits `p` and asserts it rejects with a CoordinatorError of `code`; returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isCoordinatorError(err), `expected a CoordinatorError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

/** A context on fake time (10 s leases) with `n` sessions signed on as claude_1 … claude_n. */
export async function signedOnSessions(n: number) {
  const time = fakeTime();
  const h = await makeContext({ time, leaseTtlSeconds: 10 });
  const s = [];
  for (let i = 1; i <= n; i++) {
    const b = h.binding();
    await signOn(h.ctx, b, { sessionId: `claude_${i}` });
    s.push(b);
  }
  return { ...h, time, s };
}
