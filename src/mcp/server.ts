/**
 * Builds one MCP server for one session binding: tools, resources, prompts
 * and instructions, on the SDK's low-level Server. The protocol (initialize,
 * request ids, cancellation) is the SDK's; what a request means is ours:
 * tool arguments are validated by our own schemas (params.ts), so every
 * error carries our stable codes, and no SDK or zod internals are touched.
 *
 * @module
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  type CompleteRequest,
  CompleteRequestSchema,
  ErrorCode,
  type GetPromptRequest,
  GetPromptRequestSchema,
  type JSONRPCRequest,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  type ReadResourceRequest,
  ReadResourceRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { INSTRUCTIONS } from "../core/guidance.ts";
import type { SessionBinding, SessionContext } from "../core/session/mod.ts";
import { createToolTable, type ToolTable } from "./dispatch.ts";
import { getPrompt, listPrompts } from "./prompts.ts";
import { completeResource, listResources, readResource, RESOURCE_TEMPLATES } from "./resources.ts";
import type { ToolSession } from "./tool.ts";
import { TOOLS } from "./tools/mod.ts";
import { type LiveWiring, usesChannels, wireLive } from "./live.ts";
import { createEventTracker, type EventTracker } from "../core/live/events.ts";

/** The server's name in the initialize result. */
export const SERVER_NAME = "claude-session-coordinator";

/** Options of createMcpServer. */
export interface McpServerOptions {
  version: string;
  log: (line: string) => void;
  /** The tool table to serve (built once per process and shared); built here when omitted. */
  tools?: ToolTable;
  /** The session's event tracker (the transport's lifecycle owns it); made here when omitted. */
  live?: EventTracker;
}

/** Creates an MCP server bound to one session binding. */
export function createMcpServer(
  ctx: SessionContext,
  binding: SessionBinding,
  options: McpServerOptions,
): Server {
  const live = ctx.changes !== undefined;
  const server = new Server(
    { name: SERVER_NAME, title: "Claude Session Coordinator", version: options.version },
    {
      instructions: INSTRUCTIONS,
      // Only what the server really does: no logging (it sends no log
      // messages); subscriptions, list_changed and Claude Code channels only
      // with a change feed to drive them.
      capabilities: live
        ? {
          tools: {},
          resources: { subscribe: true, listChanged: true },
          prompts: {},
          completions: {},
          experimental: { "claude/channel": {} },
        }
        : { tools: {}, resources: {}, prompts: {}, completions: {} },
    },
  );
  const tracker = ctx.changes
    ? createEventTracker(ctx, binding, ctx.changes, options.log)
    : undefined;
  const session: ToolSession = { ctx, binding, live: tracker };
  const tools = options.tools ?? createToolTable(TOOLS, options.log);
  let wiring: LiveWiring | null = null;
  server.oninitialized = () => {
    const client = server.getClientVersion();
    if (client) binding.holder.client = `${client.name} ${client.version}`.slice(0, 200);
    if (tracker && ctx.changes) {
      wiring = wireLive(server, session, ctx.changes, tracker, options.log, {
        channels: usesChannels(client?.name),
      });
    }
  };
  server.onclose = () => {
    wiring?.stop();
    tracker?.close();
  };
  server.setRequestHandler(ListToolsRequestSchema, () => tools.list);
  // tools/call reaches us unparsed (the SDK's public fallback for methods
  // without a handler): its arguments are validated by our own schemas, so
  // `"arguments": []` is INVALID_ARGUMENT, not the SDK's raw -32603 dump.
  server.fallbackRequestHandler = (request: JSONRPCRequest, extra: { signal: AbortSignal }) => {
    if (request.method !== "tools/call") {
      return Promise.reject(new McpError(ErrorCode.MethodNotFound, "Method not found"));
    }
    const params = (request.params ?? {}) as { name?: unknown; arguments?: unknown };
    return tools.call(params.name, params.arguments, session, extra.signal);
  };
  server.setRequestHandler(ListResourcesRequestSchema, () => {
    wiring?.listed();
    return listResources(session);
  });
  server.setRequestHandler(
    ListResourceTemplatesRequestSchema,
    () => ({ resourceTemplates: RESOURCE_TEMPLATES }),
  );
  server.setRequestHandler(
    ReadResourceRequestSchema,
    (request: ReadResourceRequest) => readResource(session, request.params.uri),
  );
  server.setRequestHandler(ListPromptsRequestSchema, () => listPrompts());
  server.setRequestHandler(
    GetPromptRequestSchema,
    (request: GetPromptRequest) => getPrompt(session, request.params.name),
  );
  server.setRequestHandler(CompleteRequestSchema, async (request: CompleteRequest) => {
    const { ref, argument } = request.params;
    const values = ref.type === "ref/resource"
      ? await completeResource(session, ref.uri, argument.name, argument.value)
      : [];
    return {
      completion: {
        values: values.slice(0, 100),
        total: values.length,
        hasMore: values.length > 100,
      },
    };
  });
  return server;
}
