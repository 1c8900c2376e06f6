/**
 * tools/list and tools/call over the tool definitions: the listing is built
 * once, and a call is validated against our own argument schemas and run,
 * so every failure (unknown tool, bad arguments, domain errors) comes back
 * as a tool error whose text starts with its stable code.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { isPlainObject, type JsonValue } from "../core/json.ts";
import { inputSchema, validateArgs } from "./params.ts";
import { errorResult, toolError, toolResult } from "./results.ts";
import type { ToolDefinition, ToolSession } from "./tool.ts";

/** The tools of one server, ready to list and call. */
export interface ToolTable {
  /** The tools/list result (the same object every time). */
  list: { tools: Record<string, unknown>[] };
  /** Runs tools/call; never throws. */
  call(
    name: unknown,
    args: unknown,
    session: ToolSession,
    signal?: AbortSignal,
  ): Promise<CallToolResult>;
}

/** The fields of a call's arguments the audit log keeps (never values, unless asked). */
const AUDITED_ARGS = ["scope", "key", "task_id", "to", "paths", "status"] as const;
const AUDITED_TEXT_MAX = 512;
const AUDITED_ITEMS_MAX = 64;

/** Records a write tool's call in the audit log; reads are not recorded. */
function audit(
  kind: string,
  args: unknown,
  result: CallToolResult,
  actor: string | null,
  { ctx, binding }: ToolSession,
): void {
  const sink = ctx.audit;
  if (sink === undefined) return;
  const a = isPlainObject(args) ? args : {};
  const outcome = result.isError
    ? String((result.content[0] as { text?: string })?.text ?? "").split(":")[0]
    : "ok";
  const picked: Record<string, unknown> = {};
  // A refused call's arguments are whatever the client sent: cut to a size
  // an event can always carry.
  for (const name of AUDITED_ARGS) {
    const v = a[name];
    if (typeof v === "string") picked[name] = v.slice(0, AUDITED_TEXT_MAX);
    if (Array.isArray(v)) {
      picked[name] = v.slice(0, AUDITED_ITEMS_MAX).filter((x) => typeof x === "string")
        .map((x: string) => x.slice(0, AUDITED_TEXT_MAX));
    }
  }
  const structured = result.structuredContent as Record<string, unknown> | undefined;
  // A claim without task_id names its task in the result.
  const claimed = (structured?.task as { task_id?: string } | null)?.task_id;
  if (picked.task_id === undefined && typeof claimed === "string") picked.task_id = claimed;
  if (picked.task_id === undefined && typeof structured?.task_id === "string") {
    picked.task_id = structured.task_id;
  }
  const sessionId = actor ?? binding.held?.sessionId ?? null;
  sink.record({
    kind,
    outcome,
    session_id: sessionId,
    pid: binding.holder.pid,
    client: binding.holder.client,
    ...picked,
    ...(sink.includeValues && (a.value !== undefined || a.body !== undefined)
      ? { value: (a.value ?? a.body) as JsonValue }
      : {}),
  });
}

/** Builds the table for the given tools. */
export function createToolTable(
  tools: readonly ToolDefinition[],
  log: (line: string) => void,
): ToolTable {
  const byName = new Map(tools.map((t) => [t.name, t]));
  const names = tools.map((t) => t.name).join(", ");
  const list = {
    tools: tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: inputSchema(t.params),
      annotations: t.annotations,
    })),
  };
  return {
    list,
    async call(name, args, session, signal) {
      const tool = typeof name === "string" ? byName.get(name) : undefined;
      if (tool === undefined) {
        return toolError(
          "INVALID_ARGUMENT",
          `unknown tool ${JSON.stringify(name)}; the tools are ${names}.`,
        );
      }
      // Who acted, read before the call: sign_off lets go of the instance.
      const actor = session.binding.held?.sessionId ?? null;
      let result: CallToolResult;
      try {
        result = toolResult(await tool.run(validateArgs(tool.params, args), session, signal));
      } catch (err) {
        result = errorResult(err, log);
      }
      if (!tool.annotations.readOnlyHint) audit(tool.name, args, result, actor, session);
      return result;
    },
  };
}
