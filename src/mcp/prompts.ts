/** The prompts `startup` and `sign-off`, built from live state. */
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { buildContext, countTodos } from "../core/views.ts";
import { SIGN_OFF_ASK, STARTUP_THEN } from "../core/guidance.ts";
import { isPlainObject, type JsonValue } from "../core/json.ts";
import { resolveScope } from "../core/scope_names.ts";
import { sessionScope } from "../core/session/mod.ts";
import { asMcpError } from "./resources.ts";
import type { ToolSession } from "./tool.ts";

function show(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The startup prompt's text. */
export async function startupText({ ctx, binding }: ToolSession): Promise<string> {
  const view = await buildContext(ctx, binding);
  const lines = [`You are working on ${view.project} (machine ${view.machine}).`];
  if (view.this_session) lines.push(`You are signed on as ${view.this_session.session_id}.`);
  else if (view.first_available) {
    lines.push(
      `Call sign_on first: you will get ${view.first_available} (or pass session_id to resume an instance and its handoff).`,
    );
  } else lines.push("Every instance is taken right now; wait for a lease to expire.");
  if (view.active_sessions.length === 0) lines.push("No other session is active.");
  else {
    lines.push("Active sessions:");
    for (const s of view.active_sessions) {
      const doing = [
        s.current_issue !== null ? `working on ${show(s.current_issue)}` : null,
        s.status !== null ? `status ${show(s.status)}` : null,
        s.open_todo_count !== null ? `${s.open_todo_count} open todos` : null,
        s.unreadable ? `its scope is unreadable (${s.unreadable})` : null,
      ].filter(Boolean).join(", ");
      lines.push(
        `- ${s.session_id} on ${s.machine}, ${s.worktree}${s.branch ? ` (${s.branch})` : ""}${
          doing ? `: ${doing}` : ""
        }; last seen ${s.last_seen}`,
      );
    }
  }
  const b = view.board;
  lines.push(
    `Board: ${b.counts.ready} ready, ${b.counts.in_progress} in progress, ${b.counts.blocked} blocked, ${b.counts.done} done, ${b.counts.failed} failed.`,
  );
  for (const t of b.mine) {
    lines.push(`- You hold task ${t.task_id}: ${t.title} (fencing_token ${t.fencing_token}).`);
  }
  for (const t of b.ready) {
    lines.push(`- Ready: ${t.task_id}: ${t.title} (priority ${t.priority}).`);
  }
  if (b.unread_messages > 0) {
    lines.push(`You have ${b.unread_messages} unread messages: read_messages.`);
  }
  for (const r of b.reserved_by_others) {
    lines.push(
      `- ${r.path} is reserved${r.exclusive ? "" : " (shared)"} by ${r.session_id}${
        r.reason ? ` (${r.reason})` : ""
      } until ${r.until ?? "released"}.`,
    );
  }
  const handedOff = view.instances.filter((i) => i.status === "available" && i.has_handoff);
  if (handedOff.length > 0) {
    lines.push(
      `Instances with a handoff waiting: ${
        handedOff.map((i) => i.session_id).join(", ")
      } (sign_on with that session_id to receive it).`,
    );
  }
  lines.push(STARTUP_THEN);
  return lines.join("\n");
}

/** The sign-off prompt's text. */
export async function signOffText({ ctx, binding }: ToolSession): Promise<string> {
  const held = binding.held;
  if (!held) {
    return "You are not signed on, so there is nothing to sign off. Call sign_on first if you meant to work on this project.";
  }
  const scope = resolveScope(ctx.identity, sessionScope(held.sessionId));
  const todos = (await ctx.storage.retrieve(scope, "todos"))?.value;
  const counts = countTodos(todos);
  const lines = [`You are about to sign off as ${held.sessionId}.`];
  if (counts && counts.open > 0 && Array.isArray(todos)) {
    lines.push(`Incomplete todos in session:${held.sessionId} (${counts.open}):`);
    for (const t of todos) {
      if (countTodos([t])?.open === 1) {
        lines.push(`- ${isPlainObject(t) ? show(t.content ?? t.title ?? t.text ?? t) : show(t)}`);
      }
    }
  } else lines.push(`No incomplete todos are recorded in session:${held.sessionId}.`);
  lines.push(SIGN_OFF_ASK);
  return lines.join("\n");
}

const PROMPTS = [
  {
    name: "startup",
    title: "Start a session",
    description:
      "Orients a new session: the project, the first free instance and what the other sessions are doing.",
    text: startupText,
  },
  {
    name: "sign-off",
    title: "Sign off with a handoff",
    description: "Lists your incomplete todos and asks for a handoff summary before sign_off.",
    text: signOffText,
  },
];

/** prompts/list. */
export function listPrompts() {
  return {
    prompts: PROMPTS.map(({ name, title, description }) => ({ name, title, description })),
  };
}

/** prompts/get; errors carry the stable code like resource errors do. */
export async function getPrompt(session: ToolSession, name: string) {
  const prompt = PROMPTS.find((p) => p.name === name);
  if (!prompt) {
    throw new McpError(
      ErrorCode.InvalidParams,
      `INVALID_ARGUMENT: unknown prompt ${JSON.stringify(name)}; the prompts are ${
        PROMPTS.map((p) => p.name).join(", ")
      }.`,
    );
  }
  try {
    const text = await prompt.text(session);
    return { messages: [{ role: "user" as const, content: { type: "text" as const, text } }] };
  } catch (err) {
    throw asMcpError(err);
  }
}
