/**
 * The stdio binding: one process, one session. Wires the end of stdin and
 * SIGINT/SIGTERM to a shutdown that releases the instance at once, so a
 * client that quits never leaves its instance held until the lease expires.
 */
import {
  createBinding,
  release,
  type SessionContext,
  startHeartbeat,
} from "../core/session/mod.ts";
import { describeError } from "../core/errors.ts";
import { createLineTransport } from "./line_transport.ts";
import { createMcpServer } from "../mcp/server.ts";

/** Serves MCP over this process's stdin/stdout until the client leaves or a signal arrives. */
export async function serveStdio(
  ctx: SessionContext,
  options: { version: string; log: (line: string) => void; maxLineBytes?: number },
): Promise<void> {
  const binding = createBinding();
  const server = createMcpServer(ctx, binding, options);
  const stopHeartbeat = startHeartbeat(ctx, binding, (err) => {
    options.log(`lease renewal failed: ${describeError(err)}`);
  });
  const transport = createLineTransport({
    input: Deno.stdin.readable,
    output: Deno.stdout.writable,
    maxLineBytes: options.maxLineBytes,
  });

  const { promise: done, resolve } = Promise.withResolvers<string>();
  transport.onclose = () => resolve("client closed the connection");
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = (sig: Deno.Signal) => () => resolve(`received ${sig}`);
  const handlers = signals.map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);

  await server.connect(transport);
  options.log(`serving ${ctx.identity.machine}:${ctx.identity.project} over stdio`);
  const why = await done;
  options.log(`shutting down: ${why}`);
  for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
  // A renewal in flight would re-create the lease after the release below.
  await stopHeartbeat();
  const held = binding.held?.sessionId;
  try {
    await release(ctx, binding);
    if (held) options.log(`released ${held}`);
  } catch (err) {
    options.log(`could not release ${held}: ${describeError(err)}`);
  }
  await server.close().catch(() => {});
  await ctx.storage.close();
}
