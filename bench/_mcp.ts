/**
 * One MCP server process over real stdio, driven by the SDK client. Both our
 * server and the peer go through this, so both pay the same client costs.
 * listTools is never called: the SDK then validates no tool output on the
 * client side, for either server.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

/** How to start a server process. */
export interface ServerCommand {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

/** A tool call's outcome: the structured result, or the error code our server puts first. */
export type CallOutcome =
  | { ok: true; data: Record<string, unknown> }
  | { ok: false; code: string; text: string };

/** A connected server process. */
export interface Conn {
  /** Process id of the spawned server (the deno or node process itself). */
  pid: number;
  /** Milliseconds from spawn to the end of the initialize handshake. */
  startMs: number;
  call(name: string, args: Record<string, unknown>): Promise<CallOutcome>;
  /** Like call, but throws on a tool error. */
  ok(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>>;
  ping(): Promise<void>;
  /** The last lines the server wrote to stderr, for error messages. */
  stderrTail(): string;
  /** Ends stdin, then SIGTERM/SIGKILL if the process does not exit; idempotent. */
  close(): Promise<void>;
}

const STDERR_KEEP = 4000;

/** Spawns a server and completes the MCP initialize handshake. */
export async function connect(cmd: ServerCommand, name = "bench"): Promise<Conn> {
  const transport = new StdioClientTransport({
    command: cmd.command,
    args: cmd.args,
    cwd: cmd.cwd,
    env: cmd.env,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array | string) => {
    stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    if (stderr.length > STDERR_KEEP * 2) stderr = stderr.slice(-STDERR_KEEP);
  });
  const client = new Client({ name, version: "1.0.0" });
  const start = performance.now();
  try {
    await client.connect(transport);
  } catch (err) {
    await transport.close().catch(() => {});
    throw new Error(
      `${cmd.command} ${cmd.args.join(" ")} did not initialize: ${(err as Error).message}\n` +
        stderr.slice(-STDERR_KEEP),
    );
  }
  const startMs = performance.now() - start;
  const pid = transport.pid;
  if (pid === null) throw new Error("the server process has no pid");
  let closed: Promise<void> | null = null;

  const call = async (tool: string, args: Record<string, unknown>): Promise<CallOutcome> => {
    const res = await client.callTool({ name: tool, arguments: args });
    if (res.isError) {
      const content = res.content as Array<{ type: string; text?: string }>;
      const text = content.map((c) => c.text ?? "").join("\n");
      const code = /^([A-Z_]+):/.exec(text)?.[1] ?? "TOOL_ERROR";
      return { ok: false, code, text };
    }
    const data = (res.structuredContent ?? parseText(res.content)) as Record<string, unknown>;
    return { ok: true, data };
  };

  return {
    pid,
    startMs,
    call,
    async ok(tool, args) {
      const out = await call(tool, args);
      if (!out.ok) throw new Error(`${tool} failed: ${out.text}`);
      return out.data;
    },
    async ping() {
      await client.ping();
    },
    stderrTail: () => stderr.slice(-STDERR_KEEP),
    close() {
      closed ??= client.close().catch(() => {}).then(() => transport.close().catch(() => {}));
      return closed as Promise<void>;
    },
  };
}

function parseText(content: unknown): unknown {
  const first = (content as Array<{ text?: string }>)[0]?.text;
  try {
    return first === undefined ? {} : JSON.parse(first);
  } catch {
    return { text: first };
  }
}

/** Resident set size of a process in MiB, from /proc (Linux); null elsewhere. */
export async function rssMiB(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/** Child processes of `pid` (Linux), to check that `deno run` did not fork a worker. */
export async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`);
    return text.trim() === "" ? [] : text.trim().split(/\s+/).map(Number);
  } catch {
    return [];
  }
}
