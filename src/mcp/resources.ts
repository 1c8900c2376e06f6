/** The resources: `session://context` and the `session://state/{session_id}` template. */
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { buildContext, knownSessionIds, readSessionState } from "../core/views.ts";
import { CoordinatorError, formatError } from "../core/errors.ts";
import { listTasks } from "../core/board/tasks.ts";
import { inboxOf } from "../core/board/messages.ts";
import type { ToolSession } from "./tool.ts";

/** The resource-not-found code of the 2025-11-25 spec. */
export const RESOURCE_NOT_FOUND = -32002;

const CONTEXT_URI = "session://context";
const STATE_TEMPLATE = "session://state/{session_id}";
const STATE_PREFIX = "session://state/";
const JSON_TYPE = "application/json";

/** The fixed resources, as resources/list shows them. */
const CONTEXT_RESOURCE = {
  uri: CONTEXT_URI,
  name: "context",
  title: "Project session context",
  description:
    "Machine, project, this session, every instance with status and last_seen, what each active session is doing (current_issue, status, todo counts from its session:<id> scope), the first free instance and next steps.",
  mimeType: JSON_TYPE,
};

/** The board, as resources/list shows it. */
const TASKS_RESOURCE = {
  uri: "session://tasks",
  name: "tasks",
  title: "The work board",
  description:
    "Every task with its status (ready, blocked, in_progress, done, failed), owner, dependencies and attempts, and the counts. Subscribe to hear of changes.",
  mimeType: JSON_TYPE,
};

/** This session's messages, as resources/list shows them. */
const INBOX_RESOURCE = {
  uri: "session://inbox",
  name: "inbox",
  title: "Your messages",
  description:
    "Messages to your instance or to all, oldest first, with read state; reading the resource marks nothing read (read_messages does). Subscribe to hear of new ones.",
  mimeType: JSON_TYPE,
};

/** True for a URI that resources/read can answer. */
export function isKnownResource(uri: string): boolean {
  return [CONTEXT_URI, TASKS_RESOURCE.uri, INBOX_RESOURCE.uri].includes(uri) ||
    uri.startsWith(STATE_PREFIX);
}

/** The templates, as resources/templates/list shows them. */
export const RESOURCE_TEMPLATES = [{
  uriTemplate: STATE_TEMPLATE,
  name: "session-state",
  title: "A session's state",
  description:
    "Every key of session:<session_id> (the session's own scope) and its lease; an unknown id is an error.",
  mimeType: JSON_TYPE,
}];

/**
 * A domain error as a JSON-RPC error whose message starts with the stable
 * code; INVALID_ARGUMENT about what a URI names is "resource not found".
 */
export function asMcpError(err: unknown, notFound = false): McpError {
  if (err instanceof CoordinatorError) {
    const code = err.code !== "INVALID_ARGUMENT"
      ? ErrorCode.InternalError
      : notFound
      ? RESOURCE_NOT_FOUND
      : ErrorCode.InvalidParams;
    return new McpError(code, formatError(err), err.details);
  }
  if (err instanceof McpError) return err;
  return new McpError(ErrorCode.InternalError, `INTERNAL_ERROR: ${String(err)}`);
}

/** resources/list: the context and one state resource per known session. */
export async function listResources({ ctx }: ToolSession) {
  const ids = await knownSessionIds(ctx);
  return {
    resources: [
      CONTEXT_RESOURCE,
      TASKS_RESOURCE,
      INBOX_RESOURCE,
      ...ids.map((id) => ({
        uri: `${STATE_PREFIX}${id}`,
        name: `state of ${id}`,
        mimeType: JSON_TYPE,
      })),
    ],
  };
}

/** resources/read. */
export async function readResource(session: ToolSession, uri: string) {
  const json = (data: unknown) => ({
    contents: [{ uri, mimeType: JSON_TYPE, text: JSON.stringify(data, null, 2) }],
  });
  try {
    if (uri === CONTEXT_URI) return json(await buildContext(session.ctx, session.binding));
    if (uri === TASKS_RESOURCE.uri) return json(await listTasks(session.ctx, { limit: 1000 }));
    if (uri === INBOX_RESOURCE.uri) {
      const me = session.binding.held?.sessionId ?? null;
      const messages = me === null ? [] : await inboxOf(session.ctx, me);
      return json({
        session_id: me,
        messages: messages.map(({ message, read }) => ({ ...message, read })),
      });
    }
    if (uri.startsWith(STATE_PREFIX)) {
      let id: string;
      try {
        id = decodeURIComponent(uri.slice(STATE_PREFIX.length));
      } catch {
        throw new CoordinatorError(
          "INVALID_ARGUMENT",
          `session id in ${uri} is not valid percent-encoding.`,
        );
      }
      return json(await readSessionState(session.ctx, id));
    }
  } catch (err) {
    throw asMcpError(err, true);
  }
  throw new McpError(
    RESOURCE_NOT_FOUND,
    `INVALID_ARGUMENT: unknown resource ${uri}; the resources are ${CONTEXT_URI}, ${TASKS_RESOURCE.uri}, ${INBOX_RESOURCE.uri} and ${STATE_TEMPLATE}.`,
    { uri },
  );
}

/** completion/complete for the state template's session_id. */
export async function completeResource(
  session: ToolSession,
  uriTemplate: string,
  argument: string,
  value: string,
): Promise<string[]> {
  if (uriTemplate !== STATE_TEMPLATE || argument !== "session_id") return [];
  return (await knownSessionIds(session.ctx)).filter((id) => id.startsWith(value));
}
