/** The resources: `session://context` and the `session://state/{session_id}` template. */
import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { buildContext, knownSessionIds, readSessionState } from "../core/views.ts";
import { CoordinatorError, formatError } from "../core/errors.ts";
import type { SessionBinding, SessionContext } from "../core/session/mod.ts";

/** The resource-not-found code of the 2025-11-25 spec. */
const RESOURCE_NOT_FOUND = -32002;

function json(uri: URL, data: unknown) {
  return {
    contents: [{
      uri: uri.href,
      mimeType: "application/json",
      text: JSON.stringify(data, null, 2),
    }],
  };
}

/** Domain errors become JSON-RPC errors whose message starts with the stable code. */
function asMcpError(err: unknown, notFound: boolean): McpError {
  if (err instanceof CoordinatorError) {
    const code = notFound && err.code === "INVALID_ARGUMENT" ? RESOURCE_NOT_FOUND : err.code ===
        "INVALID_ARGUMENT"
      ? ErrorCode.InvalidParams
      : ErrorCode.InternalError;
    return new McpError(code, formatError(err), err.details);
  }
  return new McpError(ErrorCode.InternalError, `INTERNAL_ERROR: ${String(err)}`);
}

/** Registers the resources for one binding. */
export function registerResources(
  server: McpServer,
  ctx: SessionContext,
  binding: SessionBinding,
): void {
  server.registerResource("context", "session://context", {
    title: "Project session context",
    description:
      "Machine, project, this session, every instance with status and last_seen, what each active session is doing (current_issue, status, todo counts from its session:<id> scope), the first free instance and next steps.",
    mimeType: "application/json",
  }, async (uri: URL) => {
    try {
      return json(uri, await buildContext(ctx, binding));
    } catch (err) {
      throw asMcpError(err, false);
    }
  });

  const template = new ResourceTemplate("session://state/{session_id}", {
    list: async () => ({
      resources: (await knownSessionIds(ctx)).map((id) => ({
        uri: `session://state/${id}`,
        name: `state of ${id}`,
        mimeType: "application/json",
      })),
    }),
    complete: {
      session_id: async (value: string) =>
        (await knownSessionIds(ctx)).filter((id) => id.startsWith(value ?? "")),
    },
  });
  server.registerResource("session-state", template, {
    title: "A session's state",
    description:
      "Every key of session:<session_id> (the session's own scope) and its lease; an unknown id is an error.",
    mimeType: "application/json",
  }, async (uri: URL, variables: Record<string, string | string[]>) => {
    const raw = variables.session_id;
    try {
      let id: string;
      try {
        id = decodeURIComponent(Array.isArray(raw) ? raw[0] : raw);
      } catch {
        throw new CoordinatorError(
          "INVALID_ARGUMENT",
          `session id in ${uri.href} is not valid percent-encoding.`,
        );
      }
      return json(uri, await readSessionState(ctx, id));
    } catch (err) {
      throw asMcpError(err, true);
    }
  });
}
