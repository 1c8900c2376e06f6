/** The prompts `startup` and `sign-off`, built from live state. */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { buildContext, countTodos } from "../core/views.ts";
import { isPlainObject, type JsonValue } from "../core/json.ts";
import { resolveScope } from "../core/scope_names.ts";
import { type SessionBinding, type SessionContext, sessionScope } from "../core/session/mod.ts";

function userText(text: string) {
  return { messages: [{ role: "user" as const, content: { type: "text" as const, text } }] };
}

function show(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The startup prompt's text. */
export async function startupText(ctx: SessionContext, binding: SessionBinding): Promise<string> {
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
      ].filter(Boolean).join(", ");
      lines.push(
        `- ${s.session_id} on ${s.machine}, ${s.worktree}${s.branch ? ` (${s.branch})` : ""}${
          doing ? `: ${doing}` : ""
        }; last seen ${s.last_seen}`,
      );
    }
  }
  const handedOff = view.instances.filter((i) => i.status === "available" && i.has_handoff);
  if (handedOff.length > 0) {
    lines.push(
      `Instances with a handoff waiting: ${
        handedOff.map((i) => i.session_id).join(", ")
      } (sign_on with that session_id to receive it).`,
    );
  }
  lines.push(
    "Then: read session://context, store your current_issue, status and todos in session:<your id>, claim shared work with store_data(if_version 0) in @project:claims, and sign_off with a handoff when you stop.",
  );
  return lines.join("\n");
}

/** The sign-off prompt's text. */
export async function signOffText(ctx: SessionContext, binding: SessionBinding): Promise<string> {
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
  lines.push(
    "Write a handoff for the next session of this instance: call sign_off with summary (what you did, what state the work is in, anything surprising) and next_steps (the concrete first things to do). Release any claims you hold in @project:claims first. The server records your branch and HEAD commit itself.",
  );
  return lines.join("\n");
}

/** Registers the prompts for one binding. */
export function registerPrompts(
  server: McpServer,
  ctx: SessionContext,
  binding: SessionBinding,
): void {
  server.registerPrompt("startup", {
    title: "Start a session",
    description:
      "Orients a new session: the project, the first free instance and what the other sessions are doing.",
  }, async () => userText(await startupText(ctx, binding)));
  server.registerPrompt("sign-off", {
    title: "Sign off with a handoff",
    description: "Lists your incomplete todos and asks for a handoff summary before sign_off.",
  }, async () => userText(await signOffText(ctx, binding)));
}
