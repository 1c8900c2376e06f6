/** Builds one McpServer for one binding: tools, resources, prompts, instructions. */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { SessionBinding, SessionContext } from "../core/session/mod.ts";
import { INSTRUCTIONS } from "./instructions.ts";
import { registerPrompts } from "./prompts.ts";
import { registerResources } from "./resources.ts";
import { registerTools } from "./tools.ts";

/** The server's name in the initialize result. */
export const SERVER_NAME = "claude-session-coordinator";

/** Creates an McpServer bound to one session binding. */
export function createMcpServer(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { version: string; log: (line: string) => void },
): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, title: "Claude Session Coordinator", version: options.version },
    { instructions: INSTRUCTIONS, capabilities: { logging: {} } },
  );
  registerTools(server, ctx, binding, options.log);
  registerResources(server, ctx, binding);
  registerPrompts(server, ctx, binding);
  return server;
}
