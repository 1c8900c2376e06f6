/**
 * The stdio transport: one process, one session. The end of stdin and
 * SIGINT/SIGTERM end the session (see lifecycle.ts), so a client that quits
 * never leaves its instance held until the lease expires.
 *
 * @module
 */
import type { SessionContext, WorkTreeInfo } from "../core/session/mod.ts";
import { createMcpServer } from "../mcp/server.ts";
import { createLineTransport } from "../mcp/line_transport.ts";
import { openSession } from "./lifecycle.ts";

/** Options of serveStdio. */
export interface StdioOptions {
  version: string;
  log: (line: string) => void;
  /** Reads this process's worktree (path, branch, HEAD). */
  workTree: () => Promise<WorkTreeInfo>;
  maxLineBytes?: number;
}

/** Serves MCP over this process's stdin/stdout until the client leaves or a signal arrives. */
export async function serveStdio(ctx: SessionContext, options: StdioOptions): Promise<void> {
  const session = openSession(ctx, {
    holder: { pid: Deno.pid, client: null },
    workTree: options.workTree,
    log: options.log,
  });
  const server = createMcpServer(ctx, session.binding, { ...options, live: session.live });
  const transport = createLineTransport({
    input: Deno.stdin,
    output: Deno.stdout,
    maxLineBytes: options.maxLineBytes,
    // The client is gone: a wait in progress answers now instead of holding
    // up the shutdown until its timeout.
    onInputEnd: () => session.live?.close(),
  });

  const { promise: done, resolve } = Promise.withResolvers<string>();
  transport.onclose = () => resolve("client closed the connection");
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((sig) => [sig, () => resolve(`received ${sig}`)] as const);
  for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);

  await server.connect(transport);
  options.log(`serving ${ctx.identity.machine}:${ctx.identity.project} over stdio`);
  const why = await done;
  for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
  await session.close(why);
  await server.close().catch(() => {});
}
